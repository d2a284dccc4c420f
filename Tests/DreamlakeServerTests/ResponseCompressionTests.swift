import CompressNIO
import DreamlakeTestSupport
import Foundation
import NIOCore
import Testing
@testable import Dreamlake
@testable import DreamlakeServer

/// Issue 31 (fast over the wire): the viewer's and the API's answers are gzipped for a client that
/// takes gzip, and only for it; what arrives decompresses to the answer sent without it, byte for byte.
@Suite struct ResponseCompressionTests {
    @Test func answersAreGzippedForAClientThatTakesGzip() async throws {
        let root = TempRoot()
        defer { root.remove() }
        let session = try Session(name: "s", workspace: "ws", localPath: root.path)
        try session.open()
        for step in 0..<50_000 { try session.track("loss").append(value: sin(Double(step) / 100), step: step) }
        try session.close()
        func head(_ path: String, _ port: Int, _ more: [String]) -> [String] { ["GET \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)"] + more }
        try await withViewer(root.path) { port in
            for path in ["/app.js", "/api/envelope?workspace=ws&session=s&track=loss&buckets=2000", "/api/runs"] {
                let plain = try await exchange(port, head(path, port, []))
                let gzipped = try await exchange(port, head(path, port, ["Accept-Encoding: gzip, deflate, br"]))
                let refused = try await exchange(port, head(path, port, ["Accept-Encoding: gzip;q=0, identity"]))
                #expect(plain.status == 200 && gzipped.status == 200 && refused.status == 200, "\(path)")
                #expect(!plain.head.lowercased().contains("content-encoding") && !refused.head.lowercased().contains("content-encoding"), "\(path)")
                #expect(refused.body == plain.body)
                let small = plain.body.count < ResponseCompressionMiddleware<ServerContext>.smallest
                #expect(gzipped.head.lowercased().contains("content-encoding: gzip") != small, "\(path): \(gzipped.head)")
                guard !small else { continue }
                #expect(gzipped.head.lowercased().contains("vary: accept-encoding"))
                var compressed = ByteBuffer(bytes: gzipped.body)
                var inflated = try compressed.decompress(with: .gzip())
                #expect(inflated.readBytes(length: inflated.readableBytes) == plain.body, "\(path)")
                #expect(gzipped.body.count * 2 < plain.body.count, "\(path): \(gzipped.body.count) of \(plain.body.count) bytes")
            }
        }
    }
}
