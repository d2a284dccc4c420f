import Dreamlake
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix

/// `dreamlake ui`: a web page over a root of sessions that shows every run,
/// plots every track exactly at every zoom from the store's envelopes, and
/// follows runs being written. It only reads: sessions are opened with
/// ``Session/openForReading()``, so it runs beside training.
///
/// ```swift
/// let viewer = try ViewerServer(root: "./.dreamlake")
/// try await viewer.run { port in print("http://127.0.0.1:\(port)") }
/// ```
///
/// On a loopback address it asks for nothing. On any other address it
/// needs a token secret, and then every request of its JSON API needs a
/// token signed with it (`dreamlake token --user NAME`), as a Bearer header
/// or as the cookie the page's sign-in sets.
public struct ViewerServer: Sendable {
    /// The folder or S3 root (`s3://bucket/prefix`) sessions are stored under.
    public let root: String
    /// The address it listens on.
    public let host: String
    /// The port it listens on (0: any free one, which ``run(onReady:)`` says).
    public let port: Int
    let secret: String?
    let service: ViewerService
    let hosts: HostCheck

    /// Checks the address and the secret.
    ///
    /// - Parameters:
    ///   - root: The folder or S3 root sessions are stored under.
    ///   - host: The address to listen on; loopback by default.
    ///   - port: The port; 0 for any free one.
    ///   - secret: The token secret; needed on an address that is not loopback.
    ///   - allowedHosts: Host names answered besides IP addresses, `localhost` and `host`; a request
    ///     whose `Host` header names any other is refused (a page reaching it through DNS rebinding).
    ///   - keepsRows: Whether the runs table's rows are kept between starts, in the user's cache folder
    ///     (`$XDG_CACHE_HOME/dreamlake/viewer`, else `~/.cache/dreamlake/viewer`, a file a root), so that the
    ///     first answer after a start opens only the sessions written since.
    ///   - environment: Where an S3 root's endpoint and credentials come from, and the cache folder.
    /// - Throws: ``DreamlakeError`` with `.invalidInput` for a port out of
    ///   range, or a non-loopback address without a secret of its own;
    ///   `.invalidArgument` for an S3 root that cannot be used.
    public init(root: String, host: String = "127.0.0.1", port: Int = 3001, secret: String? = nil, allowedHosts: [String] = [],
                keepsRows: Bool = false, environment: [String: String] = ProcessInfo.processInfo.environment) throws(DreamlakeError) {
        guard (0...65535).contains(port) else { throw DreamlakeError(.invalidInput, "port \(port) is not a TCP port (0...65535)") }
        let secret = secret.flatMap { $0.isEmpty ? nil : $0 }
        if !DreamlakeServer.isLoopback(host) {
            guard let secret, secret != RemoteToken.pythonClientSecret else {
                throw DreamlakeError(.invalidInput, """
                    refusing to show \(root) on \(host) without a token secret of its own: anyone who can reach it \
                    could read every run. Set DREAMLAKE_JWT_SECRET or give --secret, and sign in with a token from \
                    `dreamlake token --user NAME`
                    """)
            }
        }
        self.root = root
        self.host = host
        self.port = port
        self.secret = secret
        hosts = HostCheck(listening: host, allowed: allowedHosts)
        service = try ViewerService(root: root, rowFile: keepsRows ? RowFile.defaultPath(root: root, environment: environment) : nil,
                                    environment: environment)
    }

    /// Serves until SIGINT or SIGTERM.
    ///
    /// - Parameter onReady: Called with the port once the server listens.
    /// - Throws: When it cannot listen.
    public func run(onReady: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "dreamlake.ui")
        logger.logLevel = .warning
        let port = port
        let router = Router.server(hosts: hosts, viewerOnly: true)
        ViewerRoutes(service: service, secret: secret).add(to: router)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "dreamlake"),
            onServerRunning: { channel in onReady(channel.localAddress?.port ?? port) },
            logger: logger
        )
        let service = service
        do { try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint]) } catch {
            _ = try? await offload { service.close() }
            throw error
        }
        // Closing the sessions it holds is store work: on the thread pool, as the requests' is.
        try await offload { service.close() }
    }
}
