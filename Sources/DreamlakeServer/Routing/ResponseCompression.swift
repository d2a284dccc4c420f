import CompressNIO
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix

/// Gzip for the answers a client says it takes it for (`Accept-Encoding: gzip`): JSON, the page's
/// files and other text, between 1 KiB and 64 MiB. A chart's envelope is text of many digits, which
/// gzip shrinks several times; stored files go as they are (they are often compressed already, and
/// their `Content-Length` is the recorded size a client checks).
///
/// It is the servers' outermost middleware, so that the viewer's answers, the remote API's and their
/// errors are compressed in one place. The compression runs on NIO's thread pool, as the store's work does.
struct ResponseCompressionMiddleware<Context: RequestContext>: RouterMiddleware {

    /// Answers smaller than this are sent as they are: a gzip header and trailer would be most of them.
    static var smallest: Int { 1024 }
    /// Answers larger than this are sent as they are (they are collected whole before compressing).
    static var largest: Int { 64 << 20 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        guard Self.accepts(request), Self.compressible(response) else { return response }
        // Collected from the body as written (a JSON answer is one buffer), then compressed whole.
        let collector = Collector()
        try await response.body.write(collector.writer())
        let bytes = collector.take()
        let compressed = try await NIOThreadPool.singleton.runIfActive {
            var input = bytes
            return try input.compress(with: .gzip())
        }
        var headers = response.headers
        headers[.contentEncoding] = "gzip"
        headers[.vary] = "Accept-Encoding"
        headers[.contentLength] = nil
        return Response(status: response.status, headers: headers, body: ResponseBody(byteBuffer: compressed))
    }

    /// Whether the request's `Accept-Encoding` names gzip without refusing it (`q=0`).
    static func accepts(_ request: Request) -> Bool {
        guard let header = request.headers[.acceptEncoding] else { return false }
        return header.split(separator: ",").contains { item in
            let parts = item.split(separator: ";").map { $0.filter { $0 != " " && $0 != "\t" }.lowercased() }
            guard parts.first == "gzip" || parts.first == "x-gzip" else { return false }
            // `q=0`, `q=0.0`, `q=0.000`: refused. Any other weight: taken.
            return !parts.dropFirst().contains { $0.hasPrefix("q=") && Double($0.dropFirst(2)) == 0 }
        }
    }

    /// Whether `response` is text of a size worth compressing, not compressed already, and no stored file
    /// (a download, `Content-Disposition`: sent as recorded, checked as it goes).
    static func compressible(_ response: Response) -> Bool {
        guard response.headers[.contentEncoding] == nil, response.headers[.contentDisposition] == nil, let length = response.body.contentLength,
              length >= smallest, length <= largest, let type = response.headers[.contentType]?.lowercased() else { return false }
        return type.hasPrefix("application/json") || type.hasPrefix("text/") || type.hasPrefix("application/javascript")
    }

    /// A body writer that keeps what it is given.
    private struct Collector {
        private let kept = Kept()

        final class Kept: @unchecked Sendable {
            var buffer = ByteBuffer()  // written by one task at a time, read once it is done
        }

        struct Writer: ResponseBodyWriter {
            let kept: Kept
            mutating func write(_ buffer: ByteBuffer) async throws {
                var buffer = buffer
                kept.buffer.writeBuffer(&buffer)
            }
            consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
        }

        func writer() -> any ResponseBodyWriter { Writer(kept: kept) }
        func take() -> ByteBuffer { kept.buffer }
    }
}
