import Dreamlake
import Foundation
import HTTPTypes
import Hummingbird

// The servers' middleware, outermost first: ``ResponseCompressionMiddleware``, ``ErrorBodyMiddleware``,
// ``HostCheck``; then, on the routes that need them, the token checks, the size limit and the access checks.

/// Answers every failure of the routes inside it as a client can read it: the remote API's JSON error body
/// (`{"error", "message", "statusCode"}`, as Python dreamlake 0.2.4's server answers), or the viewer's
/// (`{"error": message}`, never cached). A route that does not exist is a 404 naming the method and path.
struct ErrorBodyMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    /// Whether every path is the viewer's (`dreamlake ui`); else only those ``ViewerRoutes/serves(_:)`` says.
    let viewerOnly: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let viewer = viewerOnly || ViewerRoutes.serves(request.uri.path)
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {  // the router's: no route
            let e = RemoteError(404, viewer && !request.uri.path.hasPrefix("/api/") ? "no such page: \(request.uri.path)"
                                    : "no such endpoint: \(request.method) \(request.uri.path)")
            return viewer ? ViewerRoutes.json(["error": .string(e.message)], status: e.status) : RemoteRoutes.json(e.body, status: e.status)
        } catch {
            // The session API's and the store's errors, and anything else (a connection that broke mid-body).
            let e = RemoteError(any: error)
            if viewer { return ViewerRoutes.json(["error": .string(e.message)], status: e.status) }
            if e.status >= 500 {
                // The server's own failures are the operator's to see; a client's mistakes are not.
                FileHandle.standardError.write(Data("dreamlake serve: \(request.method) \(request.uri.path): \(e.message)\n".utf8))
            }
            return RemoteRoutes.json(e.body, status: e.status)
        }
    }
}

extension HostCheck: RouterMiddleware {
    typealias Context = ServerContext

    /// Refuses what ``refusal(_:)`` refuses, before any route sees it.
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refusal = refusal(request) { throw refusal }
        return try await next(request, context)
    }
}

/// The remote API's tokens: each request carries `Authorization: Bearer <token>`, an HS256 token signed with
/// the server's secret (`dreamlake token --user NAME`, or Python dreamlake's own on loopback); its
/// `userName` becomes ``ServerContext/user``.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let secret: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw RemoteError(401, "no Authorization header; send \"Authorization: Bearer <token>\" (dreamlake token --user NAME)")
        }
        var context = context
        context.user = try Self.verify(try Self.bearerToken(header), secret: secret)
        return try await next(request, context)
    }

    /// The token of an `Authorization: Bearer <token>` header.
    static func bearerToken(_ header: String) throws(RemoteError) -> String {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw RemoteError(401, "the Authorization header is not \"Bearer <token>\"")
        }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }

    /// The user `token` names, when `secret` signed it and it has not expired.
    static func verify(_ token: String, secret: String) throws(RemoteError) -> String {
        do { return try RemoteToken.verify(token, secret: secret).userName } catch {
            throw RemoteError(401, "the token was refused: \(error.message)")
        }
    }
}

/// The viewer's tokens, where it has a secret: an `Authorization: Bearer` header (curl, scripts) or the
/// HttpOnly cookie `POST /api/login` sets (the page). Without a secret (loopback) it asks for none.
struct ViewerTokenMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    /// Nil: no token is asked for.
    let secret: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let secret else { return try await next(request, context) }
        var token: String?
        if let header = request.headers[.authorization] {
            token = try BearerTokenMiddleware.bearerToken(header)
        } else if let cookies = request.headers[.cookie] {
            for pair in cookies.split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if kv.count == 2, kv[0] == ViewerRoutes.cookieName { token = kv[1] }
            }
        }
        guard let token else { throw RemoteError(401, "sign in: paste a token from `dreamlake token --user NAME`") }
        var context = context
        context.user = try BearerTokenMiddleware.verify(token, secret: secret)
        return try await next(request, context)
    }
}

/// Refuses a body whose `Content-Length` says it is over `limit` before a byte of it is read (413); a body
/// without one is held to the limit as it arrives, by the route that reads it.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let limit: Int64
    /// What the refusal tells the client to do.
    let advice: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap({ Int64($0) }), length > limit {
            throw RemoteError(413, "the body is \(length) bytes; at most \(limit) are accepted (\(advice))")
        }
        return try await next(request, context)
    }
}

/// A session's routes (`/sessions/:id/...`): 404 for a session that is not there, and 403 unless the token's
/// user may read (GET, HEAD) or write (any other method) its workspace: decided on the thread pool, since
/// it opens the session and reads the workspace's owner record (a file, or an S3 object).
struct SessionAccessMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let service: RemoteService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = try RemoteRoutes.parameter("id", context)
        let user = context.user ?? ""
        let write = request.method != .get && request.method != .head
        let service = service
        try await offload { try service.authorize(user, session: id, write: write) }
        return try await next(request, context)
    }
}

/// The viewer's reads of one workspace (`?workspace=`), under `dreamlake serve`: 403 unless the token's user
/// may read it, decided on the thread pool (the owner record is a file, or an S3 object).
struct WorkspaceAccessMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    /// Whether a user may read a workspace; nil: every user, every workspace.
    let mayRead: (@Sendable (_ user: String, _ workspace: String) -> Bool)?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let mayRead, let user = context.user, let workspace = request.uri.queryParameters["workspace"].map(String.init),
           !(try await offload { mayRead(user, workspace) }) {
            throw RemoteError(403, "user \(Names.quoted(user)) may not read workspace \(Names.quoted(workspace)); its owner or the server's --share and --grants decide")
        }
        return try await next(request, context)
    }
}
