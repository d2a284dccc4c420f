import DreamlakeS3
import DreamlakeStore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Why a call to a dreamlake server failed.
enum RemoteCallError: Error, Sendable {
    /// The server answered with an error status; retrying the same request will not help (4xx).
    case refused(status: Int, message: String)
    /// The server could not be reached, or failed (5xx); the call may be retried.
    case unavailable(String)

    var message: String {
        switch self {
        case .refused(let status, let message): "the server refused it (\(status)): \(message)"
        case .unavailable(let message): message
        }
    }

    var isRetryable: Bool { if case .unavailable = self { true } else { false } }
}

/// The calls of the remote API, made one at a time and waited for: the
/// client side of ``RemoteService``, over Foundation's `URLSession` (libcurl
/// on Linux), so that remote sessions bring no HTTP library of their own.
final class RemoteHTTP: Sendable {
    /// The server's base URL, without a trailing "/".
    let base: String
    private let token: String
    private let urlSession: URLSession

    init(base: String, token: String, timeout: TimeInterval = 30) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.token = token
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.httpMaximumConnectionsPerHost = 2
        urlSession = URLSession(configuration: config)
    }

    deinit { urlSession.finishTasksAndInvalidate() }

    /// The path of `segments`, each percent-encoded (a track name's "/" stays a separator).
    static func path(_ segments: [String]) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%")
        return segments.map { s in
            s.split(separator: "/", omittingEmptySubsequences: false)
                .map { String($0).addingPercentEncoding(withAllowedCharacters: allowed) ?? String($0) }
                .joined(separator: "/")
        }.map { "/" + $0 }.joined()
    }

    /// Sends a JSON request and returns the JSON answer.
    func call(_ method: String, _ segments: [String], query: [(String, String)] = [], json: Value? = nil) throws(RemoteCallError) -> Value {
        var request = try request(method, segments, query: query)
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(RemoteWire.encode(json))
        }
        let (data, _) = try send(request)
        do { return try PythonJSONReader.parse(Array(data)) } catch {
            throw .unavailable("the server's answer to \(method) \(request.url?.path ?? "") is not JSON: \(error)")
        }
    }

    /// Uploads the file at `localFile` as the client does: multipart/form-data
    /// with the text `fields` and the file in the part named "file".
    func upload(_ segments: [String], fields: [(String, String)], localFile: String, filename: String,
                contentType: String) throws(RemoteCallError) -> Value {
        let boundary = "dreamlake-" + UUID().uuidString
        // The body is built in a temporary file, so that a large file is never held in memory.
        let bodyPath = NSTemporaryDirectory() + "dreamlake-upload-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: bodyPath) }
        do {
            guard FileManager.default.createFile(atPath: bodyPath, contents: nil),
                  let out = FileHandle(forWritingAtPath: bodyPath), let input = FileHandle(forReadingAtPath: localFile) else {
                throw RemoteCallError.unavailable("cannot stage the upload of \(localFile)")
            }
            defer {
                try? out.close()
                try? input.close()
            }
            var head = ""
            for (k, v) in fields {
                head += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(k)\"\r\n\r\n\(v)\r\n"
            }
            let quoted = filename.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            head += "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(quoted)\"\r\n"
            head += "Content-Type: \(contentType)\r\n\r\n"
            try out.write(contentsOf: Data(head.utf8))
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { try out.write(contentsOf: chunk) }
            try out.write(contentsOf: Data("\r\n--\(boundary)--\r\n".utf8))
        } catch let e as RemoteCallError {
            throw e
        } catch {
            throw .unavailable("cannot stage the upload of \(localFile): \(error.localizedDescription)")
        }
        var request = try request("POST", segments)
        request.setValue("multipart/form-data; boundary=\(boundary)", forHTTPHeaderField: "Content-Type")
        let (data, _) = try send(request, bodyFile: URL(fileURLWithPath: bodyPath))
        do { return try PythonJSONReader.parse(Array(data)) } catch {
            throw .unavailable("the server's answer to the upload is not JSON: \(error)")
        }
    }

    /// Downloads to `destination` (replaced), through a temporary file, so
    /// that a large file is never held in memory.
    func download(_ segments: [String], to destination: String) throws(RemoteCallError) {
        let request = try request("GET", segments)
        let moveFailure = Failure()
        let (data, response, error) = HTTPOutcome.run { done in urlSession.downloadTask(with: request) { file, response, error in
            let status = (response as? HTTPURLResponse)?.statusCode
            var body: Data?
            if let file {
                if let status, (200..<300).contains(status) {
                    // The temporary file is removed when this returns: move it now.
                    do {
                        try? FileManager.default.removeItem(atPath: destination)
                        try FileManager.default.moveItem(at: file, to: URL(fileURLWithPath: destination))
                    } catch { moveFailure.set("cannot write \(destination): \(error.localizedDescription)") }
                } else {
                    body = try? Data(contentsOf: file)  // an error's JSON body
                }
            }
            done(body, response, error)
        } }
        _ = try check(request, data, response?.statusCode, error)
        if let failure = moveFailure.message { throw .unavailable(failure) }
    }

    private func request(_ method: String, _ segments: [String], query: [(String, String)] = []) throws(RemoteCallError) -> URLRequest {
        guard var components = URLComponents(string: base + RemoteHTTP.path(segments)) else {
            throw .refused(status: 0, message: "\(base) with \(segments) is not a URL")
        }
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        guard let url = components.url else { throw .refused(status: 0, message: "\(base) with \(segments) is not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        return request
    }

    /// Sends and waits; 2xx gives the body, 4xx `.refused`, the rest `.unavailable`.
    private func send(_ request: URLRequest, bodyFile: URL? = nil) throws(RemoteCallError) -> (Data, Int) {
        let (data, response, error) = HTTPOutcome.run { done in
            bodyFile.map { urlSession.uploadTask(with: request, fromFile: $0, completionHandler: done) }
                ?? urlSession.dataTask(with: request, completionHandler: done)
        }
        return try check(request, data, response?.statusCode, error)
    }

    /// The body of a finished request: 2xx gives it, 4xx `.refused`, the rest `.unavailable`.
    private func check(_ request: URLRequest, _ data: Data?, _ status: Int?, _ error: (any Error)?) throws(RemoteCallError) -> (Data, Int) {
        let what = "\(request.httpMethod ?? "") \(request.url?.absoluteString ?? base)"
        if let error { throw .unavailable("\(what) failed: \(error.localizedDescription)") }
        guard let status else { throw .unavailable("\(what) got no HTTP answer") }
        let body = data ?? Data()
        if (200..<300).contains(status) { return (body, status) }
        let message = (try? PythonJSONReader.parse(Array(body)))?.objectValue?["message"]?.stringValue
            ?? String(decoding: body.prefix(300), as: UTF8.self)
        if (400..<500).contains(status) && status != 408 && status != 429 {
            throw .refused(status: status, message: "\(what): \(message)")
        }
        throw .unavailable("\(what) answered \(status): \(message)")
    }

    /// A failure met on URLSession's thread, read after the task is done.
    private final class Failure: Sendable {
        private let value = Locked<String?>(nil)
        var message: String? { value.withLock { $0 } }
        func set(_ m: String) { value.withLock { $0 = m } }
    }
}
