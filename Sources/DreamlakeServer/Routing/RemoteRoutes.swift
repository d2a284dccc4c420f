import Dreamlake
import DreamlakeS3
import DreamlakeStore
import Foundation
import Hummingbird
import NIOCore
import NIOPosix

/// The routes of Python dreamlake 0.2.4's remote client's API, each handled by ``RemoteService``.
///
/// The client does not encode "/" in track names, so `train/loss` arrives as
/// `/sessions/ID/tracks/train/loss/append`: the track routes take the rest of the path (`**`), whose
/// last segment is the action and everything before it the name.
struct RemoteRoutes: Sendable {
    let service: RemoteService
    let limits: Limits

    /// Adds the API's routes to `router`: `/health` for anyone, the rest behind tokens signed with `secret`,
    /// a session's behind the check that its user may read (GET) or write (any other method) its workspace.
    func add(to router: Router<ServerContext>, secret: String) {
        let service = service
        router.get("health") { _, _ in
            RemoteRoutes.json(["status": "ok", "openSessions": .int(Int64(service.openSessions))], status: 200)  // no store work
        }
        let api = router.group().add(middleware: BearerTokenMiddleware(secret: secret))
        let jsonLimit = BodyLimitMiddleware(limit: Int64(limits.body), advice: "send fewer points a request")
        api.group().add(middleware: jsonLimit).post("workspaces/:workspace/sessions") { request, context in
            let workspace = try RemoteRoutes.parameter("workspace", context)
            // A body that will be refused claims no workspace: it is checked before the workspace is authorized.
            let b = try RemoteService.checkedCreate(try await self.body(request))
            let user = context.user ?? ""
            try await offload { try service.authorize(user, workspace: workspace, write: true) }
            return try await self.json(offload { try service.createOrUpdateSession(workspace: workspace, b) })
        }

        let session = api.group("sessions/:id").add(middleware: SessionAccessMiddleware(service: service))
        let bodies = session.group().add(middleware: jsonLimit)
        bodies.post("logs", use: withBody { id, _, _ in { b in try service.appendLogs(id, body: b) } })
        bodies.post("parameters", use: withBody { id, _, _ in { b in try service.setParameters(id, body: b) } })
        session.get("parameters", use: answer { id, _, _ in { try service.parameters(id) } })
        session.get("tracks", use: answer { id, _, _ in { try service.listTracks(id) } })
        bodies.post("tracks/**", use: withBody { id, request, _ in
            let (name, action) = try RemoteRoutes.trackAndAction(request)
            switch action {
            case "append": return { b in try service.appendPoint(id, track: name, body: b) }
            case "append-batch": return { b in try service.appendBatch(id, track: name, body: b) }
            default: throw RemoteError(404, "no such endpoint: POST \(request.uri.path)")
            }
        })
        session.get("tracks/**", use: answer { id, request, _ in
            let (name, action) = try RemoteRoutes.trackAndAction(request)
            switch action {
            case "data":
                let q = request.uri.queryParameters
                let start = try RemoteRoutes.integer(q["startIndex"], "startIndex") ?? 0
                let limit = try RemoteRoutes.integer(q["limit"], "limit") ?? 1000
                return { try service.readTrack(id, track: name, startIndex: start, limit: limit) }
            case "stats": return { try service.trackStats(id, track: name) }
            default: throw RemoteError(404, "no such endpoint: GET \(request.uri.path)")
            }
        })
        session.group().add(middleware: BodyLimitMiddleware(limit: limits.upload + (1 << 20), advice: "upload a smaller file"))
            .post("files") { request, context in try await self.upload(try RemoteRoutes.parameter("id", context), request) }
        session.get("files", use: answer { id, request, _ in
            let q = request.uri.queryParameters
            let prefix = q["prefix"].map(String.init), tags = q["tags"].map(String.init)
            return { try service.listFiles(id, prefix: prefix, tags: tags) }
        })
        session.get("files/:file", use: answer { id, _, context in
            let file = try RemoteRoutes.parameter("file", context)
            return { try service.file(id, fileID: file) }
        })
        bodies.patch("files/:file", use: withBody { id, _, context in
            let file = try RemoteRoutes.parameter("file", context)
            return { b in try service.updateFile(id, fileID: file, body: b) }
        })
        session.delete("files/:file", use: answer { id, _, context in
            let file = try RemoteRoutes.parameter("file", context)
            return { try service.deleteFile(id, fileID: file) }
        })
        session.get("files/:file/download") { _, context in
            let id = try RemoteRoutes.parameter("id", context), file = try RemoteRoutes.parameter("file", context)
            let (handle, stored) = try await offload { try service.download(id, fileID: file) }
            return RemoteRoutes.fileResponse(handle, stored)
        }
    }

    // MARK: Handlers

    typealias Handler = @Sendable (Request, ServerContext) async throws -> Response

    /// A handler of session `:id`: `prepare` checks the request where it arrives and gives the store work,
    /// which runs on the thread pool; what it returns is the answer.
    private func answer(_ prepare: @escaping @Sendable (String, Request, ServerContext) throws -> @Sendable () throws -> Value) -> Handler {
        { request, context in
            let work = try prepare(try RemoteRoutes.parameter("id", context), request, context)
            return try await self.json(offload(work))
        }
    }

    /// ``answer(_:)`` for a request with a JSON body: read (within the size limit) once `prepare` has taken
    /// the request, then given to the store work.
    private func withBody(_ prepare: @escaping @Sendable (String, Request, ServerContext) throws -> @Sendable (Value) throws -> Value) -> Handler {
        { request, context in
            let work = try prepare(try RemoteRoutes.parameter("id", context), request, context)
            let b = try await self.body(request)
            return try await self.json(offload { try work(b) })
        }
    }

    /// Path parameter `name`, percent-decoded (400 when it is not percent-encoded UTF-8).
    static func parameter(_ name: String, _ context: ServerContext) throws(RemoteError) -> String {
        guard let raw = context.parameters.get(name) else { throw RemoteError(404, "the path has no \(name)") }
        guard let s = raw.removingPercentEncoding else { throw RemoteError(400, "the path's \(name) \(raw) is not percent-encoded UTF-8") }
        return s
    }

    /// The track's name (every segment after `tracks/` but the last, joined by "/") and the action (the last).
    static func trackAndAction(_ request: Request) throws(RemoteError) -> (name: String, action: String) {
        guard let path = segments(request.uri.path) else {
            throw RemoteError(400, "the path \(request.uri.path) is not percent-encoded UTF-8")
        }
        // sessions, ID, tracks, the name's segments, the action.
        guard path.count >= 5, let action = path.last else { throw RemoteError(404, "no track and action in \(request.uri.path)") }
        return (path.dropFirst(3).dropLast().joined(separator: "/"), action)
    }

    // MARK: Bodies

    /// The request's JSON body, refused past the size limit.
    private func body(_ request: Request) async throws -> Value {
        var bytes: [UInt8] = []
        for try await chunk in request.body {
            guard bytes.count + chunk.readableBytes <= limits.body else {
                throw RemoteError(413, "the body is over \(limits.body) bytes; send fewer points a request")
            }
            bytes.append(contentsOf: chunk.readableBytesView)
        }
        return try RemoteService.parse(bytes)
    }

    /// A file upload (multipart), staged on disk as it arrives; the session was found, and its workspace
    /// checked, before a byte of it was read (``SessionAccessMiddleware``).
    private func upload(_ id: String, _ request: Request) async throws -> Response {
        guard let type = request.headers[.contentType], let boundary = MultipartUpload.boundary(type) else {
            throw RemoteError(400, "a file upload must be multipart/form-data with a boundary")
        }
        let upload = try MultipartUpload(boundary: boundary, directory: service.uploadsDirectory, limit: limits.upload)
        do {
            // Each chunk is parsed and written to the staging file on the thread pool.
            for try await chunk in request.body { try await offload { try upload.feed(chunk) } }
            let staged = try upload.finish()
            let answer = try await offload {
                try service.uploadFile(id, form: upload.fields, staged: staged.path, size: staged.size, checksum: staged.checksum)
            }
            try await offload { upload.discard() }
            return json(answer)
        } catch {
            try? await offload { upload.discard() }
            throw error
        }
    }

    /// A stored file's bytes, read a MiB at a time on the thread pool as the
    /// client takes them; the handle is closed when the body ends. Its SHA-256
    /// goes in `X-Checksum-SHA256` and its size in `Content-Length` (as recorded
    /// at upload). The session checked the size, and a small file's hash, before
    /// (``Session/Files/open(_:)``); a large file's hash is checked as it goes, and
    /// when the bytes turn out not to be those recorded the response fails before
    /// its end, so that a client never holds a short or changed file under its
    /// recorded size and checksum.
    static func fileResponse(_ handle: File, _ file: StoredFile) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = file.contentType
        headers[.contentDisposition] = "attachment; filename=\"\(file.filename.filter { $0 != "\"" && $0 != "\\" })\""
        headers[.init("X-Checksum-SHA256")!] = file.checksum  // a constant, valid header name
        let size = UInt64(max(0, file.sizeBytes))
        let body = ResponseBody(contentLength: Int(exactly: size)) { writer in
            defer { try? handle.close() }
            let hasher = SHA256Hasher()
            var offset: UInt64 = 0
            while offset < size {
                let at = offset, count = Int(min(1 << 20, size - offset))
                let chunk = try await NIOThreadPool.singleton.runIfActive { try handle.read(at: at, count: count) }
                if chunk.isEmpty { break }
                hasher.update(chunk)
                let last = offset + UInt64(chunk.count) == size
                if last, SHA256Hasher.hex(hasher.finalize()) != file.checksum {
                    throw RemoteError(500, "file \(file.id) changed on disk while it was sent: its bytes are not those recorded")
                }
                try await writer.write(ByteBuffer(bytes: chunk))
                offset += UInt64(chunk.count)
            }
            guard offset == size else {
                throw RemoteError(500, "file \(file.id) ended at byte \(offset) of its recorded \(size) while it was sent")
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    // MARK: Helpers

    private func json(_ value: Value) -> Response { RemoteRoutes.json(value, status: 200) }

    static func json(_ value: Value, status: Int) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .init(code: status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: RemoteWire.encode(value))))
    }

    /// The path's segments, percent-decoded; nil when one does not decode.
    static func segments(_ path: String) -> [String]? {
        var out: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard let s = String(part).removingPercentEncoding else { return nil }
            out.append(s)
        }
        return out
    }

    static func integer(_ s: Substring?, _ name: String) throws -> Int64? {
        guard let s else { return nil }
        guard let v = Int64(s) else { throw RemoteError(400, "\(name) is \"\(s)\", not an integer") }
        return v
    }
}
