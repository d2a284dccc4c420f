import Dreamlake
import DreamlakeS3
import DreamlakeStore
import Foundation
import Hummingbird
import NIOCore
import NIOPosix

/// Routes each request of the 0.2.4 client's API to ``RemoteService``.
///
/// Routing is a match on path segments rather than Hummingbird's router: the
/// client does not encode "/" in track names, so `train/loss` arrives as
/// `/tracks/train/loss/append` and the action is the last segment, with the
/// name everything between.
struct APIResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let service: RemoteService
    let secret: String
    let limits: Limits
    /// The viewer's page and JSON API, at `/` and `/api/`.
    let viewer: ViewerResponder

    func respond(to request: Request, context: Context) async throws -> Response {
        if ViewerResponder.serves(request.uri.path) {
            return try await viewer.respond(to: request, context: context)
        }
        do {
            if let refusal = viewer.hosts.refusal(request) { throw refusal }
            return try await route(request)
        } catch {
            // The session API's and the store's errors, and anything else (a
            // connection that broke mid-body): answered with a JSON body too.
            let r = RemoteError(any: error)
            if r.status >= 500 {
                // The server's own failures are the operator's to see; a client's mistakes are not.
                FileHandle.standardError.write(Data("dreamlake serve: \(request.method) \(request.uri.path): \(r.message)\n".utf8))
            }
            return APIResponder.json(r.body, status: r.status)
        }
    }

    private func route(_ request: Request) async throws -> Response {
        guard let path = APIResponder.segments(request.uri.path) else {
            throw RemoteError(400, "the path \(request.uri.path) is not percent-encoded UTF-8")
        }
        let method = request.method
        if path == ["health"], method == .get || method == .head {
            return APIResponder.json(["status": "ok", "openSessions": .int(Int64(service.openSessions))], status: 200)  // no store work
        }
        let user = try authenticate(request).userName
        switch (method, path.first, path.count) {
        case (.post, "workspaces", 3) where path[2] == "sessions":
            // A body that will be refused claims no workspace: it is checked before the workspace is authorized.
            let b = try RemoteService.checkedCreate(try await body(request))
            try await offload { try service.authorize(user, workspace: path[1], write: true) }
            return try await json(offload { try service.createOrUpdateSession(workspace: path[1], b) })
        case (_, "sessions", 2...):
            let write = method != .get && method != .head
            try await offload { try service.authorize(user, session: path[1], write: write) }
            return try await session(path[1], Array(path.dropFirst(2)), request)
        default:
            throw RemoteError(404, "no such endpoint: \(method) \(request.uri.path)")
        }
    }

    private func session(_ id: String, _ rest: [String], _ request: Request) async throws -> Response {
        let method = request.method
        switch (method, rest.first, rest.count) {
        case (.post, "logs", 1):
            let b = try await body(request)
            return try await json(offload { try service.appendLogs(id, body: b) })
        case (.post, "parameters", 1):
            let b = try await body(request)
            return try await json(offload { try service.setParameters(id, body: b) })
        case (.get, "parameters", 1):
            return try await json(offload { try service.parameters(id) })
        case (.get, "tracks", 1):
            return try await json(offload { try service.listTracks(id) })
        case (_, "tracks", 3...):
            return try await track(id, rest, request)
        case (.post, "files", 1):
            return try await upload(id, request)
        case (.get, "files", 1):
            let q = request.uri.queryParameters
            let prefix = q["prefix"].map(String.init), tags = q["tags"].map(String.init)
            return try await json(offload { try service.listFiles(id, prefix: prefix, tags: tags) })
        case (.get, "files", 2):
            return try await json(offload { try service.file(id, fileID: rest[1]) })
        case (.patch, "files", 2):
            let b = try await body(request)
            return try await json(offload { try service.updateFile(id, fileID: rest[1], body: b) })
        case (.delete, "files", 2):
            return try await json(offload { try service.deleteFile(id, fileID: rest[1]) })
        case (.get, "files", 3) where rest[2] == "download":
            return try await download(id, rest[1])
        default:
            throw RemoteError(404, "no such endpoint: \(method) \(request.uri.path)")
        }
    }

    private func track(_ id: String, _ rest: [String], _ request: Request) async throws -> Response {
        guard let action = rest.last else { throw RemoteError(404, "no track action in \(request.uri.path)") }
        let name = rest.dropFirst().dropLast().joined(separator: "/")
        switch (request.method, action) {
        case (.post, "append"):
            let b = try await body(request)
            return try await json(offload { try service.appendPoint(id, track: name, body: b) })
        case (.post, "append-batch"):
            let b = try await body(request)
            return try await json(offload { try service.appendBatch(id, track: name, body: b) })
        case (.get, "data"):
            let q = request.uri.queryParameters
            let start = try APIResponder.integer(q["startIndex"], "startIndex") ?? 0
            let limit = try APIResponder.integer(q["limit"], "limit") ?? 1000
            return try await json(offload { try service.readTrack(id, track: name, startIndex: start, limit: limit) })
        case (.get, "stats"):
            return try await json(offload { try service.trackStats(id, track: name) })
        default:
            throw RemoteError(404, "no such endpoint: \(request.method) \(request.uri.path)")
        }
    }

    // MARK: Authentication

    private func authenticate(_ request: Request) throws -> RemoteToken.Claims {
        guard let header = request.headers[.authorization] else {
            throw RemoteError(401, "no Authorization header; send \"Authorization: Bearer <token>\" (dreamlake token --user NAME)")
        }
        let token = try APIResponder.bearerToken(header)
        do { return try RemoteToken.verify(token, secret: secret) } catch {
            throw RemoteError(401, "the token was refused: \(error.message)")
        }
    }

    /// The token of an `Authorization: Bearer <token>` header.
    static func bearerToken(_ header: String) throws(RemoteError) -> String {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw RemoteError(401, "the Authorization header is not \"Bearer <token>\"")
        }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }

    // MARK: Bodies

    /// The request's JSON body, refused past the size limit.
    private func body(_ request: Request) async throws -> Value {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limits.body {
            throw RemoteError(413, "the body is \(length) bytes; at most \(limits.body) are accepted (send fewer points a request)")
        }
        var bytes: [UInt8] = []
        for try await chunk in request.body {
            guard bytes.count + chunk.readableBytes <= limits.body else {
                throw RemoteError(413, "the body is over \(limits.body) bytes; send fewer points a request")
            }
            bytes.append(contentsOf: chunk.readableBytesView)
        }
        return try RemoteService.parse(bytes)
    }

    private func upload(_ id: String, _ request: Request) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap({ Int64($0) }), length > limits.upload + (1 << 20) {
            throw RemoteError(413, "the upload is \(length) bytes; at most \(limits.upload) are accepted")
        }
        guard let type = request.headers[.contentType], let boundary = MultipartUpload.boundary(type) else {
            throw RemoteError(400, "a file upload must be multipart/form-data with a boundary")
        }
        try await offload { try service.check(id) }  // 404 before reading a large body for nothing
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

    private func download(_ id: String, _ fileID: String) async throws -> Response {
        let (handle, file) = try await offload { try service.download(id, fileID: fileID) }
        return APIResponder.fileResponse(handle, file)
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

    /// Runs store and file work (opening, appending, reading, closing
    /// sessions) on NIO's thread pool: an event loop never waits on a disk or
    /// on another session's lock.
    private func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }

    private func json(_ value: Value) -> Response { APIResponder.json(value, status: 200) }

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
