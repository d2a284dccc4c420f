import ArgumentParser
import Dreamlake
import DreamlakeServer
import Foundation
import Synchronization

/// `dreamlake serve`: the remote API of Python dreamlake 0.2.4 over a store.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a store to remote sessions (Python dreamlake's remote=).",
        discussion: """
        Speaks the API of Python dreamlake 0.2.4's remote client: point `remote=` at http://HOST:PORT. Tokens are \
        HS256, checked with --secret or $DREAMLAKE_JWT_SECRET (mint them with `dreamlake token --user NAME`). \
        Without a secret, the Python client's built-in one is accepted (user_name=), on a loopback address only. \
        Stops on SIGINT or SIGTERM, closing every session cleanly.
        """)

    @Option(help: "The store folder sessions are kept under, or an S3 root s3://BUCKET/PREFIX, which several servers may serve at once (default: $DREAMLAKE_PATH, else ./.dreamlake).")
    var root: String?

    @Option(help: "With an S3 root: the URL other servers name when a client reaches them for a session this one writes (default: http://HOST:PORT).")
    var advertise: String?

    @Option(help: "With an S3 root: how long this server keeps a session's lease unless renewed, in seconds; a server that stops holds its sessions this long.")
    var leaseSeconds: Double = 15

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 for any free one).")
    var port = 3000

    @Option(help: "The token secret (default: $DREAMLAKE_JWT_SECRET).")
    var secret: String?

    @Option(name: .customLong("allow-host"), help: "A host name to answer besides IP addresses, localhost and --host (repeat it for more): a request naming any other in its Host header is refused, as a page reaching the server through DNS rebinding would name its own.")
    var allowHost: [String] = []

    @Option(help: "The largest file upload accepted, in MiB.")
    var maxUpload: Int64 = 4096

    @Option(help: "The largest JSON request body accepted, in MiB.")
    var maxBody = 64

    @Option(help: "How many sessions stay open at once (each holds a writer and a thread).")
    var maxOpenSessions = 64

    @Option(help: "How long a session no request uses stays open, in seconds; closed, it shows as finished in the viewer (Python dreamlake's client never says it is done).")
    var idleSeconds: Double = 60

    @Option(help: "What users may do with workspaces they do not own: none, read or write. A workspace's owner is the user who first reached it through this server.")
    var share = "none"

    @Option(help: "A JSON file of grants: {\"<workspace or *>\": {\"<user>\": \"read\" or \"write\"}}.")
    var grants: String?

    func validate() throws {
        guard maxUpload > 0, maxUpload <= 1 << 30 else { throw ValidationError("--max-upload must be 1...\(1 << 30) MiB") }
        guard maxBody > 0, maxBody <= 1024 else { throw ValidationError("--max-body must be 1...1024 MiB") }
        guard maxOpenSessions > 0 else { throw ValidationError("--max-open-sessions must be positive") }
        guard idleSeconds.isFinite, idleSeconds >= 0.1, idleSeconds <= 86_400 else { throw ValidationError("--idle-seconds must be 0.1...86400") }
    }

    func run() async throws {
        try await reportingErrors {
            let env = ProcessInfo.processInfo.environment
            var config = ServerConfiguration(
                root: root ?? env["DREAMLAKE_PATH"] ?? "./.dreamlake", host: host, port: port,
                secret: secret ?? env["DREAMLAKE_JWT_SECRET"], maxBodyBytes: maxBody << 20,
                maxUploadBytes: maxUpload << 20, maxOpenSessions: maxOpenSessions, share: share, grantsFile: grants)
            config.advertise = advertise
            config.leaseSeconds = leaseSeconds
            config.idleSeconds = idleSeconds
            config.allowedHosts = allowHost
            let storeRoot = config.root
            let server = try DreamlakeServer(config)
            let host = host
            let listening = Atomic<Bool>(false)
            do {
                try await server.run { port in
                    listening.store(true, ordering: .relaxed)
                    // Unbuffered: a script waiting for this line sees it at once.
                    FileHandle.standardOutput.write(Data("""
                        dreamlake serve: listening on http://\(host):\(port), store \(storeRoot)
                        dreamlake serve: \(server.notice)\n
                        """.utf8))
                }
            } catch {
                guard listening.load(ordering: .relaxed) else {
                    throw DreamlakeError(.io, "could not listen on \(host):\(port): \(error); is another server there? Choose another --port")
                }
                throw DreamlakeError(.io, "the server stopped: \(error)")
            }
        }
    }
}
