import Dreamlake
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix

/// How `dreamlake serve` runs: where the store is, where it listens, how it
/// checks tokens, and how much a request may carry.
public struct ServerConfiguration: Sendable {
    /// The folder sessions are stored under (`<root>/<workspace>/<session>`), or an S3 root
    /// (`s3://bucket/prefix`), which several servers may serve at once (see ``advertise``).
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
    /// What users may do with workspaces they do not own: `"none"` (the
    /// default), `"read"` or `"write"`. A workspace's owner is the user who
    /// first reached it through the server.
    public var share: String
    /// A JSON file of grants, `{"<workspace or *>": {"<user>": "read" | "write"}}`, or nil.
    public var grantsFile: String?
    /// For an S3 root: the URL other servers over the bucket name when they send a client to this one
    /// (a session is written through one server at a time, the holder of its lease); nil: `http://host:port`.
    public var advertise: String?
    /// For an S3 root: how long a session's lease lasts unless renewed (every third of it), in seconds.
    /// A server that stops (killed, lost) holds its sessions this long before another may take them.
    public var leaseSeconds: Double = 15
    /// How long a session no request uses stays open, in seconds (`--idle-seconds`): then it is flushed and
    /// closed, and reads as finished (Python dreamlake's client never says it is done). Opened again when asked for.
    public var idleSeconds: Double = 60
    /// Host names the server answers besides IP addresses, `localhost` and `host` (`--allow-host`):
    /// a request whose `Host` header names any other is refused (DNS rebinding; README, "The viewer").
    public var allowedHosts: [String] = []

    /// A configuration; see each property for what it means.
    public init(root: String, host: String = "127.0.0.1", port: Int = 3000, secret: String? = nil,
                maxBodyBytes: Int = 64 << 20, maxUploadBytes: Int64 = 4 << 30, maxOpenSessions: Int = 64,
                share: String = "none", grantsFile: String? = nil) {
        self.root = root
        self.host = host
        self.port = port
        self.secret = secret
        self.maxBodyBytes = maxBodyBytes
        self.maxUploadBytes = maxUploadBytes
        self.maxOpenSessions = maxOpenSessions
        self.share = share
        self.grantsFile = grantsFile
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
/// It also serves the viewer (`dreamlake ui`'s page and JSON API) at `/` and
/// `/api/`, behind the same tokens, showing each user the workspaces they may read.
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
    /// The viewer's read-only view of the same root, served at `/`.
    let viewerService: ViewerService
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
        let loopback = DreamlakeServer.isLoopback(configuration.host)
        if let s = configuration.secret, !s.isEmpty {
            guard s != RemoteToken.pythonClientSecret || loopback else {
                throw DreamlakeError(.invalidInput, """
                    refusing to listen on \(configuration.host) with Python dreamlake's built-in token secret: it is \
                    public, so anyone could write. Choose a secret of your own
                    """)
            }
            secret = s
            acceptsClientSecret = s == RemoteToken.pythonClientSecret
        } else {
            guard loopback else {
                throw DreamlakeError(.invalidInput, """
                    refusing to listen on \(configuration.host) without a secret of its own: Python dreamlake's \
                    built-in token secret is public, so anyone could write. Set DREAMLAKE_JWT_SECRET or give \
                    --secret, and give clients tokens from `dreamlake token --user NAME`
                    """)
            }
            secret = RemoteToken.pythonClientSecret
            acceptsClientSecret = true
        }
        guard let share = AccessPolicy.Level(name: configuration.share) else {
            throw DreamlakeError(.invalidInput, "--share is \"\(configuration.share)\"; use none, read or write")
        }
        let grants = try configuration.grantsFile.map { (path) throws(DreamlakeError) in try AccessPolicy.grants(fromFile: path) } ?? [:]
        self.configuration = configuration
        guard configuration.leaseSeconds.isFinite, configuration.leaseSeconds >= 0.3, configuration.leaseSeconds <= 3600 else {
            throw DreamlakeError(.invalidInput, "the lease is 0.3 to 3600 seconds, not \(configuration.leaseSeconds)")
        }
        service = try RemoteService(root: configuration.root, maxOpenSessions: configuration.maxOpenSessions,
                                    policy: AccessPolicy(share: share, grants: grants),
                                    node: .init(address: configuration.advertise ?? "",
                                                leaseMilliseconds: UInt64(configuration.leaseSeconds * 1000)),
                                    idleSeconds: configuration.idleSeconds)
        viewerService = ViewerService(sharing: service)
    }

    /// What to tell the person starting the server about its tokens.
    public var notice: String {
        acceptsClientSecret
            ? "accepting tokens signed with Python dreamlake's built-in secret (user_name=), on loopback only; set DREAMLAKE_JWT_SECRET to use your own"
            : "accepting tokens signed with the configured secret (dreamlake token --user NAME)"
    }

    /// Whether every address `host` resolves to is a loopback address
    /// (127.0.0.0/8 or ::1): decided on the addresses the server would bind,
    /// not on how the name is spelled (`127.0.0.1.nip.io` is not loopback).
    /// A name that does not resolve is not loopback.
    static func isLoopback(_ host: String) -> Bool {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            guard let sa = n.pointee.ai_addr else { return false }
            switch Int32(n.pointee.ai_family) {
            case AF_INET:
                let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                guard a >> 24 == 127 else { return false }
            case AF_INET6:
                let loop = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    withUnsafeBytes(of: p.pointee.sin6_addr) { b in b.prefix(15).allSatisfy { $0 == 0 } && b[15] == 1 }
                }
                guard loop else { return false }
            default: return false
            }
            node = n.pointee.ai_next
        }
        return true
    }

    /// Serves until SIGINT or SIGTERM, then closes every session it opened.
    ///
    /// - Parameter onReady: Called with the port once the server listens.
    /// - Throws: When it cannot listen, or sessions could not be closed cleanly.
    public func run(onReady: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "dreamlake.serve")
        logger.logLevel = .warning
        let service = service
        // The name other servers send clients to (an S3 root's --advertise) is this server's too.
        let advertised = configuration.advertise.flatMap { URL(string: $0)?.host }.map { [$0] } ?? []
        let router = Router.server(hosts: HostCheck(listening: configuration.host, allowed: configuration.allowedHosts + advertised),
                                   viewerOnly: false)
        ViewerRoutes(service: viewerService, secret: secret, acceptsUserNames: acceptsClientSecret,
                     mayRead: { user, workspace in service.mayRead(user, workspace: workspace) }).add(to: router)
        RemoteRoutes(service: service, limits: Limits(configuration)).add(to: router, secret: secret)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "dreamlake"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                if configuration.advertise == nil {
                    let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
                    service.listening(at: "http://\(host):\(port)")
                }
                onReady(port)
            },
            logger: logger
        )
        // Closing flushes every open session and closes the viewer's (one pool): store work, on the thread
        // pool as the requests' is.
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            _ = try? await NIOThreadPool.singleton.runIfActive { service.close() }
            throw error
        }
        let errors = try await NIOThreadPool.singleton.runIfActive { service.close() }
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
