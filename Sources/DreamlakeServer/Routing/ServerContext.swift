import Hummingbird
import NIOPosix

/// What a request carries through the servers' middleware to its route: Hummingbird's own context, and the
/// user its token names once ``BearerTokenMiddleware`` or ``ViewerTokenMiddleware`` has checked it.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The token's `userName`; nil before the token check, and where the viewer asks for no token.
    var user: String?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// Runs store and file work (opening, appending, reading, closing sessions, an owner record) on NIO's
/// thread pool: an event loop never waits on a disk, an S3 request or another session's lock.
func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(work)
}

extension Router where Context == ServerContext {
    /// A server's router before its routes: every answer compressed when the client takes gzip
    /// (``ResponseCompressionMiddleware``), every failure answered as a JSON body (``ErrorBodyMiddleware``;
    /// `viewerOnly`: the viewer's form everywhere), every request checked for its `Host` and `Origin` first
    /// (``HostCheck``). HEAD is answered wherever GET is.
    static func server(hosts: HostCheck, viewerOnly: Bool) -> Router<ServerContext> {
        let router = Router(context: ServerContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: ResponseCompressionMiddleware<ServerContext>())
        router.add(middleware: ErrorBodyMiddleware(viewerOnly: viewerOnly))
        router.add(middleware: hosts)
        return router
    }
}
