import Dreamlake
import DreamlakeStore
import Foundation
import Hummingbird
import NIOCore
import NIOPosix

/// The viewer's routes: its page (``ViewerAssets``) and the JSON API the page
/// reads (README.md, "The viewer's JSON API"). Every request is a GET but the
/// login; store and file work runs on NIO's thread pool.
///
/// With a token secret, every API request needs a token (``ViewerTokenMiddleware``): an
/// `Authorization: Bearer` header (for curl and scripts) or the HttpOnly
/// cookie `POST /api/login` sets from one (for the page). Under `dreamlake
/// serve` it answers `/`, its assets and `/api/`, with the server's secret,
/// and shows each user the workspaces they may read (``WorkspaceAccessMiddleware``).
struct ViewerRoutes: Sendable {
    let service: ViewerService
    /// Nil: no token is asked for (a loopback address without a secret).
    let secret: String?
    /// Whether `POST /api/login` takes a bare user name and signs its token
    /// itself: only where the secret is Python dreamlake's public one, on loopback.
    var acceptsUserNames = false
    /// Whether a user may read a workspace; nil: every user, every workspace.
    var mayRead: (@Sendable (_ user: String, _ workspace: String) -> Bool)?

    static let cookieName = "dreamlake_token"
    /// The most buckets an envelope request may ask for: two a pixel column of an 8K screen.
    static let maxBuckets = 16_384

    /// Whether the viewer answers `path` (the rest is the remote API's).
    static func serves(_ path: String) -> Bool {
        path == "/" || path == "/index.html" || path == "/app.js" || path == "/app.css" || path.hasPrefix("/api/")
    }

    /// Adds the page and the JSON API to `router`.
    func add(to router: Router<ServerContext>) {
        for path in ["/", "/index.html"] {
            router.get(RouterPath(path)) { _, _ in ViewerRoutes.asset(ViewerAssets.indexHTML, "text/html; charset=utf-8") }
        }
        router.get("app.js") { _, _ in ViewerRoutes.asset(ViewerAssets.appJS, "text/javascript; charset=utf-8") }
        router.get("app.css") { _, _ in ViewerRoutes.asset(ViewerAssets.appCSS, "text/css; charset=utf-8") }
        router.post("api/login") { request, _ in try await self.login(request) }

        let service = service
        let signedIn = router.group("api").add(middleware: ViewerTokenMiddleware(secret: secret))
        let mayRead = mayRead
        signedIn.get("runs") { _, context in
            let user = context.user
            // Each workspace's owner record is read here, on the thread pool.
            return try await ViewerRoutes.json(offload { try service.runs { ws in user.map { mayRead?($0, ws) ?? true } ?? true } })
        }
        let api = signedIn.group().add(middleware: WorkspaceAccessMiddleware(mayRead: mayRead))
        api.get("run") { request, _ in
            let q = Query(request.uri.queryParameters)
            let (ws, s) = try q.session()
            return try await ViewerRoutes.json(offload { try service.run(ws, s) })
        }
        api.get("envelope") { request, _ in
            let q = Query(request.uri.queryParameters)
            let (ws, s) = try q.session()
            let track = try q.required("track")
            let field = q["field"] ?? "value"
            let x = q["x"].flatMap { $0.isEmpty || $0 == "index" || $0 == "time" ? nil : $0 }
            let buckets = try q.int("buckets") ?? 1000
            // A chart draws a few columns a pixel at most: the bound keeps one request's memory small.
            guard (1...ViewerRoutes.maxBuckets).contains(buckets) else {
                throw RemoteError(400, "buckets is \(buckets); it is from 1 to \(ViewerRoutes.maxBuckets) (a bucket a pixel column of a chart)")
            }
            let range = try q.range()
            let columns: Bool
            switch q["form"] ?? "rows" {
            case "rows": columns = false
            case "columns": columns = true
            case let other: throw RemoteError(400, "form is \(Names.quoted(other)); use rows or columns")
            }
            let forChart: Bool
            switch q["precision"] ?? "exact" {
            case "exact": forChart = false
            case "chart": forChart = true
            case let other: throw RemoteError(400, "precision is \(Names.quoted(other)); use exact or chart")
            }
            return try await ViewerRoutes.json(offload {
                try service.envelope(ws, s, track: track, field: field, x: x, range: range, buckets: buckets, columns: columns, forChart: forChart)
            })
        }
        api.get("nearest") { request, _ in
            let q = Query(request.uri.queryParameters)
            let (ws, s) = try q.session()
            let track = try q.required("track")
            let axis: ViewerService.XAxis = switch q["x"] ?? "index" {
            case "index": .index
            case "time": .time
            case let field: .field(field)
            }
            guard let at = Double(try q.required("at")), !at.isNaN else {
                throw RemoteError(400, "at is a number: the x value to look up")
            }
            let range = try q.range()
            return try await ViewerRoutes.json(offload { try service.nearest(ws, s, track: track, x: axis, at: at, range: range) })
        }
        api.get("points") { request, _ in
            let q = Query(request.uri.queryParameters)
            let (ws, s) = try q.session()
            let track = try q.required("track")
            let from = try q.uint("from") ?? 0
            let limit = min(try q.int("limit") ?? 1000, 100_000)
            return try await ViewerRoutes.json(offload { try service.points(ws, s, track: track, from: from, limit: max(0, limit)) })
        }
        api.get("logs") { request, _ in
            let q = Query(request.uri.queryParameters)
            let (ws, s) = try q.session()
            let from = try q.uint("from") ?? 0
            let limit = min(try q.int("limit") ?? 200, 10_000)
            let level = try q["level"].map { (name) throws(RemoteError) in
                guard let l = LogLevel(name: name) else { throw RemoteError(400, "level is \(name); use debug, info, warn, error or fatal") }
                return l
            }
            let text = q["q"]
            return try await ViewerRoutes.json(offload { try service.logs(ws, s, from: from, limit: max(0, limit), level: level, text: text) })
        }
        api.get("file") { request, _ in
            let q = Query(request.uri.queryParameters)
            let (ws, s) = try q.session()
            let id = try q.required("id")
            let (handle, file) = try await offload { try service.file(ws, s, id: id) }
            return RemoteRoutes.fileResponse(handle, file)
        }
    }

    /// `POST /api/login` with `{"token": "..."}` (or, where the server takes
    /// Python dreamlake's public secret, `{"user": "NAME"}`): checks the token
    /// and sets it as an HttpOnly, SameSite=Strict cookie, which the page's
    /// requests then carry.
    private func login(_ request: Request) async throws -> Response {
        var body: ByteBuffer
        do { body = try await request.body.collect(upTo: 16 << 10) } catch is NIOTooManyBytesError {
            throw RemoteError(413, "a sign-in body is at most 16384 bytes: send {\"token\": \"...\"}")
        }
        let bytes = body.readBytes(length: body.readableBytes) ?? []
        guard case .object(let o)? = try? PythonJSONReader.parse(bytes) else {
            throw RemoteError(400, "send {\"token\": \"...\"}")
        }
        guard let secret else { return ViewerRoutes.json(["user": .null], status: 200) }
        let token: String
        if case .string(let t)? = o["token"] {
            token = t
        } else if acceptsUserNames, case .string(let name)? = o["user"] {
            guard !name.isEmpty, name.count <= 256 else { throw RemoteError(400, "a user name is 1 to 256 characters") }
            token = RemoteToken.mint(userName: name, secret: secret)
        } else {
            throw RemoteError(400, acceptsUserNames ? "send {\"token\": \"...\"} or {\"user\": \"NAME\"}" : "send {\"token\": \"...\"}")
        }
        let claims: RemoteToken.Claims
        do { claims = try RemoteToken.verify(token, secret: secret) } catch {
            throw RemoteError(401, "the token was refused: \(error.message)")
        }
        guard token.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw RemoteError(400, "the token holds characters a cookie cannot carry")
        }
        var response = ViewerRoutes.json(["user": .string(claims.userName)], status: 200)
        response.headers[.setCookie] = "\(ViewerRoutes.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict"
        return response
    }

    // MARK: Helpers


    /// A JSON answer (200), never cached.
    static func json(_ value: Value) -> Response { json(value, status: 200) }

    /// The server's JSON response, never cached: a run being written changes under it.
    static func json(_ value: Value, status: Int) -> Response {
        var response = RemoteRoutes.json(value, status: status)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    static func asset(_ text: String, _ type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data:; style-src 'self'"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// A request's query, with checked conversions.
    struct Query {
        let values: [String: String]

        init(_ parameters: Hummingbird.Parameters) {
            var v: [String: String] = [:]
            for (k, value) in parameters { v[String(k)] = String(value) }
            values = v
        }

        subscript(_ key: String) -> String? { values[key] }

        func required(_ key: String) throws(RemoteError) -> String {
            guard let v = values[key], !v.isEmpty else { throw RemoteError(400, "the query needs \(key)=") }
            return v
        }

        func session() throws(RemoteError) -> (String, String) { (try required("workspace"), try required("session")) }

        func int(_ key: String) throws(RemoteError) -> Int? {
            guard let v = values[key] else { return nil }
            guard let i = Int(v) else { throw RemoteError(400, "\(key) is \(v), not a whole number") }
            return i
        }

        /// The indexes `from..<to` a request asks about, either end open; nil when it names neither.
        func range() throws(RemoteError) -> Range<UInt64>? {
            let from = try uint("from"), to = try uint("to")
            return from == nil && to == nil ? nil : (from ?? 0)..<max(from ?? 0, to ?? .max)
        }

        func uint(_ key: String) throws(RemoteError) -> UInt64? {
            guard let v = values[key] else { return nil }
            guard let i = UInt64(v) else { throw RemoteError(400, "\(key) is \(v), not a whole number of at least 0") }
            return i
        }
    }
}
