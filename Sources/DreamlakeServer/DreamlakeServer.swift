import Dreamlake
import Foundation
import Hummingbird
import Logging
import NIOCore

/// How `dreamlake serve` runs: where the store is, where it listens, how it
/// checks tokens, and how much a request may carry.
public struct ServerConfiguration: Sendable {
    /// The folder sessions are stored under (`<root>/<workspace>/<session>`).
    public var root: String
    /// The address to listen on. The default is loopback only.
    public var host: String
    /// The port to listen on; 0 for any free one (``DreamlakeServer/run(onReady:)`` says which).
    public var port: Int
    /// The HS256 secret tokens are verified with. Nil accepts the Python
    /// client's built-in secret, which is allowed only on a loopback address.
    public var secret: String?
    /// The largest JSON request body accepted (413 beyond it).
    public var maxBodyBytes: Int
    /// The largest file upload accepted (413 beyond it).
    public var maxUploadBytes: Int64
    /// How many sessions stay open at once (each holds its store's writer
    /// and a thread); beyond it the least recently used idle one is closed.
    public var maxOpenSessions: Int

    /// A configuration; see each property for what it means.
    public init(root: String, host: String = "127.0.0.1", port: Int = 3000, secret: String? = nil,
                maxBodyBytes: Int = 64 << 20, maxUploadBytes: Int64 = 4 << 30, maxOpenSessions: Int = 64) {
        self.root = root
        self.host = host
        self.port = port
        self.secret = secret
        self.maxBodyBytes = maxBodyBytes
        self.maxUploadBytes = maxUploadBytes
        self.maxOpenSessions = maxOpenSessions
    }
}

/// An HTTP server that speaks the API of Python dreamlake 0.2.4's remote
/// client over a dreamlake store, so that `Session(remote="http://host:3000",
/// user_name=...)` in an existing training script logs into the store.
///
/// ```swift
/// let server = try DreamlakeServer(ServerConfiguration(root: "./store"))
/// try await server.run { port in print("listening on \(port)") }
/// ```
///
/// A session the server is sent to stays open in it, with the store's one
/// writer, until more than ``ServerConfiguration/maxOpenSessions`` are open
/// (then the least recently used idle one is closed) or the server stops
/// (SIGINT or SIGTERM), when each is flushed and closed. An acknowledged write is in the session's store and
/// reaches the disk as a local session's would (within the durability
/// interval, 1 s by default).
public struct DreamlakeServer: Sendable {
    /// The configuration it runs with.
    public let configuration: ServerConfiguration
    /// Whether tokens are checked against the Python client's built-in
    /// secret (no secret was given; loopback only).
    public let acceptsClientSecret: Bool
    let service: RemoteService
    let secret: String

    /// Checks the configuration and prepares the store folder.
    ///
    /// - Throws: ``DreamlakeError`` with `.invalidInput` when no secret is
    ///   given and the address is not loopback (anyone on the network could
    ///   sign tokens with the client's published secret), `.io` when the
    ///   store folder cannot be made.
    public init(_ configuration: ServerConfiguration) throws(DreamlakeError) {
        guard configuration.port >= 0, configuration.port <= 65535 else {
            throw DreamlakeError(.invalidInput, "port \(configuration.port) is not a TCP port (0...65535)")
        }
        if let s = configuration.secret, !s.isEmpty {
            secret = s
            acceptsClientSecret = false
        } else {
            guard DreamlakeServer.isLoopback(configuration.host) else {
                throw DreamlakeError(.invalidInput, """
                    refusing to listen on \(configuration.host) without a secret of its own: Python dreamlake's \
                    built-in token secret is public, so anyone could write. Set DREAMLAKE_JWT_SECRET or give \
                    --secret, and give clients tokens from `dreamlake token --user NAME`
                    """)
            }
            secret = RemoteToken.pythonClientSecret
            acceptsClientSecret = true
        }
        self.configuration = configuration
        service = try RemoteService(root: configuration.root, maxOpenSessions: configuration.maxOpenSessions)
    }

    /// What to tell the person starting the server about its tokens.
    public var notice: String {
        acceptsClientSecret
            ? "accepting tokens signed with Python dreamlake's built-in secret (user_name=), on loopback only; set DREAMLAKE_JWT_SECRET to use your own"
            : "accepting tokens signed with the configured secret (dreamlake token --user NAME)"
    }

    /// Whether `host` names this machine only.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// Serves until SIGINT or SIGTERM, then closes every session it opened.
    ///
    /// - Parameter onReady: Called with the port once the server listens.
    /// - Throws: When it cannot listen, or sessions could not be closed cleanly.
    public func run(onReady: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "dreamlake.serve")
        logger.logLevel = .warning
        let responder = APIResponder(service: service, secret: secret, limits: Limits(configuration))
        let app = Application(
            responder: responder,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "dreamlake"),
            onServerRunning: { channel in onReady(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            _ = service.close()
            throw error
        }
        let errors = service.close()
        if let first = errors.first { throw first }
    }
}

/// The size limits of requests.
struct Limits: Sendable {
    var body: Int
    var upload: Int64

    init(_ c: ServerConfiguration) {
        body = c.maxBodyBytes
        upload = c.maxUploadBytes
    }
}
