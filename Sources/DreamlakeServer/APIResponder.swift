import Dreamlake
import DreamlakeStore
import Foundation
import Hummingbird
import NIOCore

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

    func respond(to request: Request, context: Context) async throws -> Response {
        do {
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
            return APIResponder.json(["status": "ok", "openSessions": .int(Int64(service.openSessions))], status: 200)
        }
        let user = try authenticate(request).userName
        switch (method, path.first, path.count) {
        case (.post, "workspaces", 3) where path[2] == "sessions":
            try service.authorize(user, workspace: path[1], write: true)
            return try await json(service.createOrUpdateSession(workspace: path[1], body: body(request)))
        case (_, "sessions", 2...):
            try service.authorize(user, session: path[1], write: method != .get && method != .head)
            return try await session(path[1], Array(path.dropFirst(2)), request)
        default:
            throw RemoteError(404, "no such endpoint: \(method) \(request.uri.path)")
        }
    }

    private func session(_ id: String, _ rest: [String], _ request: Request) async throws -> Response {
        let method = request.method
        switch (method, rest.first, rest.count) {
        case (.post, "logs", 1):
            return try await json(service.appendLogs(id, body: body(request)))
        case (.post, "parameters", 1):
            return try await json(service.setParameters(id, body: body(request)))
        case (.get, "parameters", 1):
            return try json(service.parameters(id))
        case (.get, "tracks", 1):
            return try json(service.listTracks(id))
        case (_, "tracks", 3...):
            return try await track(id, rest, request)
        case (.post, "files", 1):
            return try await upload(id, request)
        case (.get, "files", 1):
            let q = request.uri.queryParameters
            return try json(service.listFiles(id, prefix: q["prefix"].map(String.init), tags: q["tags"].map(String.init)))
        case (.get, "files", 2):
            return try json(service.file(id, fileID: rest[1]))
        case (.patch, "files", 2):
            return try await json(service.updateFile(id, fileID: rest[1], body: body(request)))
        case (.delete, "files", 2):
            return try json(service.deleteFile(id, fileID: rest[1]))
        case (.get, "files", 3) where rest[2] == "download":
            return try download(id, rest[1])
        default:
            throw RemoteError(404, "no such endpoint: \(method) \(request.uri.path)")
        }
    }

    private func track(_ id: String, _ rest: [String], _ request: Request) async throws -> Response {
        guard let action = rest.last else { throw RemoteError(404, "no track action in \(request.uri.path)") }
        let name = rest.dropFirst().dropLast().joined(separator: "/")
        switch (request.method, action) {
        case (.post, "append"):
            return try await json(service.appendPoint(id, track: name, body: body(request)))
        case (.post, "append-batch"):
            return try await json(service.appendBatch(id, track: name, body: body(request)))
        case (.get, "data"):
            let q = request.uri.queryParameters
            let start = try APIResponder.integer(q["startIndex"], "startIndex") ?? 0
            let limit = try APIResponder.integer(q["limit"], "limit") ?? 1000
            return try json(service.readTrack(id, track: name, startIndex: start, limit: limit))
        case (.get, "stats"):
            return try json(service.trackStats(id, track: name))
        default:
            throw RemoteError(404, "no such endpoint: \(request.method) \(request.uri.path)")
        }
    }

    // MARK: Authentication

    private func authenticate(_ request: Request) throws -> RemoteToken.Claims {
        guard let header = request.headers[.authorization] else {
            throw RemoteError(401, "no Authorization header; send \"Authorization: Bearer <token>\" (dreamlake token --user NAME)")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw RemoteError(401, "the Authorization header is not \"Bearer <token>\"")
        }
        do { return try RemoteToken.verify(String(parts[1]).trimmingCharacters(in: .whitespaces), secret: secret) } catch {
            throw RemoteError(401, "the token was refused: \(error.message)")
        }
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
        try service.check(id)  // 404 before reading a large body for nothing
        let upload = try MultipartUpload(boundary: boundary, directory: service.uploadsDirectory, limit: limits.upload)
        defer { upload.discard() }
        for try await chunk in request.body { try upload.feed(chunk) }
        let staged = try upload.finish()
        return try json(service.uploadFile(id, form: upload.fields, staged: staged.path, size: staged.size,
                                           checksum: staged.checksum))
    }

    private func download(_ id: String, _ fileID: String) throws -> Response {
        let (handle, file) = try service.download(id, fileID: fileID)
        var headers = HTTPFields()
        headers[.contentType] = file.contentType
        headers[.contentDisposition] = "attachment; filename=\"\(file.filename.filter { $0 != "\"" && $0 != "\\" })\""
        let body = ResponseBody { writer in
            defer { try? handle.close() }
            var offset: UInt64 = 0
            while case let chunk = try handle.read(at: offset, count: 1 << 20), !chunk.isEmpty {
                try await writer.write(ByteBuffer(bytes: chunk))
                offset += UInt64(chunk.count)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    // MARK: Helpers

    private func json(_ value: Value) -> Response { APIResponder.json(value, status: 200) }

    static func json(_ value: Value, status: Int) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .init(code: status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: RemoteService.encode(value))))
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
