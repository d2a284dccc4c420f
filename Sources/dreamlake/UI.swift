import ArgumentParser
import Dreamlake
import DreamlakeS3
import DreamlakeServer
import Foundation
import Synchronization

/// `dreamlake ui`: the viewer, read-only, over a root of sessions.
struct UI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "Show every run in a web page: runs table, charts of every track, logs, files, comparisons.",
        discussion: """
        Reads the root only (sessions are opened for reading, no lock is taken), so it runs beside training; \
        a run being written updates by itself. Prints the URL to open. On an address that is not loopback it \
        needs a token secret (--secret or $DREAMLAKE_JWT_SECRET) and asks for a token (dreamlake token --user NAME). \
        The JSON API the page reads is in README.md ("The viewer's JSON API").
        """)

    @Option(help: "The store folder or S3 root (s3://bucket/prefix) sessions are kept under (default: $DREAMLAKE_PATH, else ./.dreamlake).")
    var root: String?

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 for any free one).")
    var port = 3001

    @Option(help: "The token secret (default: $DREAMLAKE_JWT_SECRET); needed on an address that is not loopback.")
    var secret: String?

    @Option(name: .customLong("allow-host"), help: "A host name to answer besides IP addresses, localhost and --host (repeat it for more): a request naming any other in its Host header is refused, as a page reaching the server through DNS rebinding would name its own.")
    var allowHost: [String] = []

    @Flag(name: .customLong("no-row-cache"), help: "Do not keep the runs table's rows between starts (by default they are kept in $XDG_CACHE_HOME/dreamlake/viewer, else ~/.cache/dreamlake/viewer, so that the first answer after a start opens only the sessions written since).")
    var noRowCache = false

    func run() async throws {
        try await reportingErrors {
            let env = ProcessInfo.processInfo.environment
            let root = root ?? env["DREAMLAKE_PATH"] ?? "./.dreamlake"
            guard try sessionRoot(root).isShared || FileManager.default.fileExists(atPath: root) else {
                throw DreamlakeError(.notFound, "there is no folder \(root); give the root your sessions are under with --root")
            }
            let viewer = try ViewerServer(root: root, host: host, port: port, secret: secret ?? env["DREAMLAKE_JWT_SECRET"],
                                          allowedHosts: allowHost, keepsRows: !noRowCache)
            let host = host
            let listening = Atomic<Bool>(false)
            do {
                try await viewer.run { port in
                    listening.store(true, ordering: .relaxed)
                    let shown = host.contains(":") ? "[\(host)]" : host
                    FileHandle.standardOutput.write(Data("dreamlake ui: http://\(shown):\(port)/ (sessions under \(root))\n".utf8))
                }
            } catch {
                guard listening.load(ordering: .relaxed) else {
                    throw DreamlakeError(.io, "could not listen on \(host):\(port): \(error); is another server there? Choose another --port")
                }
                throw DreamlakeError(.io, "the viewer stopped: \(error)")
            }
        }
    }
}
