import DreamlakeTestSupport
import Foundation
import Glibc
import Testing
@testable import Dreamlake
@testable import DreamlakeServer
import DreamlakeS3
import DreamlakeStore

// Issue 30, classes 3 to 6: what the viewer and `dreamlake serve` answer to requests a browser
// page of another site, a careless client or a damaged store sends them. Sent over a plain
// socket, so that every header is the test's own (URLSession sets Host itself).

@Suite struct HostileRequestTests {
    /// A root with one session of a 300-point track and a stored file of 4,096 bytes; returns the file's id and path.
    private func sessionWithFile(_ root: TempRoot) throws -> (id: String, path: String) {
        let session = try Session(name: "s", workspace: "ws", localPath: root.path)
        try session.open()
        for step in 0..<300 { try session.track("loss").append(value: Double(step), step: step) }
        let source = root.path + "/weights.bin"
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: source))
        let file = try session.files.upload(source, path: "/models")
        try session.close()
        return (file.id, root.path + "/ws/s/files/models/\(file.id)/weights.bin")
    }

    /// Class 3: a page of another site reaching the loopback viewer through DNS rebinding sends its
    /// own name as Host: refused, with nothing of the runs or the root; addresses and localhost are answered.
    @Test func theViewerAnswersOnlyForItsOwnHostNames() async throws {
        let root = TempRoot()
        defer { root.remove() }
        _ = try sessionWithFile(root)
        try await withViewer(root.path, allowedHosts: ["viewer.lab"]) { port in
            let rebound = try await exchange(port, ["GET /api/runs HTTP/1.1", "Host: attacker.example:\(port)"])
            #expect(rebound.status == 403)
            #expect(!String(decoding: rebound.body, as: UTF8.self).contains(root.path))
            #expect(String(decoding: rebound.body, as: UTF8.self).contains("--allow-host"))
            for host in ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)", "viewer.lab", "VIEWER.lab:\(port)"] {
                let answered = try await exchange(port, ["GET /api/runs HTTP/1.1", "Host: \(host)"])
                #expect(answered.status == 200, "\(host)")
            }
            #expect(try await exchange(port, ["GET /api/runs HTTP/1.0"]).status == 400, "no Host at all")
        }
    }

    /// Class 3 for `dreamlake serve`: on loopback its API takes tokens signed with Python's public
    /// secret, so a rebinding page could write; it is refused as the viewer is, and a write a browser
    /// says comes from another site is refused even under the server's own name.
    @Test func serveRefusesOtherHostsAndCrossSiteWrites() async throws {
        let root = TempRoot()
        defer { root.remove() }
        let token = RemoteToken.mint(userName: "eve", secret: RemoteToken.pythonClientSecret)
        let create = #"{"name": "planted"}"#
        try await withServer(root.path) { port in
            let rebound = try await exchange(port, ["POST /workspaces/w/sessions HTTP/1.1", "Host: attacker.example:\(port)",
                                              "Authorization: Bearer \(token)", "Content-Type: application/json"], body: Array(create.utf8))
            #expect(rebound.status == 403)
            let crossSite = try await exchange(port, ["POST /workspaces/w/sessions HTTP/1.1", "Host: 127.0.0.1:\(port)",
                                                "Origin: http://attacker.example", "Authorization: Bearer \(token)",
                                                "Content-Type: application/json"], body: Array(create.utf8))
            #expect(crossSite.status == 403)
            // A sandboxed frame of another site, or a page it redirected, sends `Origin: null`.
            let opaque = try await exchange(port, ["POST /workspaces/w/sessions HTTP/1.1", "Host: 127.0.0.1:\(port)",
                                             "Origin: null", "Authorization: Bearer \(token)",
                                             "Content-Type: application/json"], body: Array(create.utf8))
            #expect(opaque.status == 403)
            let fetchSite = try await exchange(port, ["POST /api/login HTTP/1.1", "Host: 127.0.0.1:\(port)", "Sec-Fetch-Site: cross-site",
                                                "Content-Type: text/plain"], body: Array(#"{"user": "eve"}"#.utf8))
            #expect(fetchSite.status == 403)
            #expect(!FileManager.default.fileExists(atPath: root.path + "/w"), "nothing was made")
            // The same call from the server's own page (same origin), or from a client that sends no Origin, is answered.
            let sameSite = try await exchange(port, ["POST /workspaces/w/sessions HTTP/1.1", "Host: 127.0.0.1:\(port)",
                                               "Origin: http://127.0.0.1:\(port)", "Authorization: Bearer \(token)",
                                               "Content-Type: application/json"], body: Array(create.utf8))
            #expect(sameSite.status == 200 || sameSite.status == 201, "\(sameSite.head)")
        }
    }

    /// Class 4: a stored file cut to half its recorded size, or one byte of it changed, is not served
    /// as the recorded file: the viewer and the remote API answer an error naming the file before
    /// any byte; a client never gets a short or changed file under the recorded checksum.
    @Test(arguments: ["cut", "changed"])
    func aDamagedStoredFileIsNotServedAsTheRecordedOne(_ damage: String) async throws {
        let root = TempRoot()
        defer { root.remove() }
        let (id, path) = try sessionWithFile(root)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        if damage == "cut" { bytes = Array(bytes[0..<2048]) } else { bytes[1000] ^= 0xFF }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try await withViewer(root.path) { port in
            let served = try await exchange(port, ["GET /api/file?workspace=ws&session=s&id=\(id) HTTP/1.1", "Host: 127.0.0.1:\(port)"])
            #expect(served.status == 500, "\(served.head)")
            #expect(String(decoding: served.body, as: UTF8.self).contains("damaged"))
            #expect(String(decoding: served.body, as: UTF8.self).contains(path))
        }
        try await withServer(root.path) { port in
            let token = RemoteToken.mint(userName: "ana", secret: RemoteToken.pythonClientSecret)
            let sessionID = RemoteService.sessionID(workspace: "ws", name: "s")
            let served = try await exchange(port, ["GET /sessions/\(sessionID)/files/\(id)/download HTTP/1.1", "Host: 127.0.0.1:\(port)",
                                             "Authorization: Bearer \(token)"])
            #expect(served.status == 500, "\(served.head)")
        }
    }

    /// Class 4, a file too large to hash before serving: the response carries the recorded length
    /// and fails before its end when the bytes are not those recorded, so the client sees a cut
    /// response, not the recorded file.
    @Test func aLargeFileWhoseBytesChangedFailsItsResponseBeforeTheEnd() async throws {
        let root = TempRoot()
        defer { root.remove() }
        let session = try Session(name: "s", workspace: "ws", localPath: root.path)
        try session.open()
        let size = Int(Files.checkedBeforeServing) + (3 << 20)
        let source = root.path + "/big.bin"
        try Data(count: size).write(to: URL(fileURLWithPath: source))
        let file = try session.files.upload(source)
        try session.close()
        let path = root.path + "/ws/s/files/\(file.id)/big.bin"
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(size - 10))
        handle.write(Data([1]))
        try handle.close()
        try await withViewer(root.path) { port in
            let served = try await exchange(port, ["GET /api/file?workspace=ws&session=s&id=\(file.id) HTTP/1.1", "Host: 127.0.0.1:\(port)"])
            #expect(served.status == 200)
            #expect(served.head.lowercased().contains("content-length: \(size)"))
            #expect(served.body.count < size, "the response was cut before its end")
        }
    }

    /// Class 5: an envelope of more buckets than a chart can use is a 400, not a gigabyte.
    @Test func anEnvelopeOfMoreBucketsThanAChartUsesIsRefused() async throws {
        let root = TempRoot()
        defer { root.remove() }
        _ = try sessionWithFile(root)
        try await withViewer(root.path) { port in
            let huge = try await exchange(port, ["GET /api/envelope?workspace=ws&session=s&track=loss&buckets=1000000 HTTP/1.1", "Host: 127.0.0.1:\(port)"])
            #expect(huge.status == 400)
            #expect(String(decoding: huge.body, as: UTF8.self).contains("16384"))
            let chart = try await exchange(port, ["GET /api/envelope?workspace=ws&session=s&track=loss&buckets=2000 HTTP/1.1", "Host: 127.0.0.1:\(port)"])
            #expect(chart.status == 200)
        }
    }

    /// Class 7 through serve: an object of an S3 root replaced in the bucket is the server's damage (500),
    /// while a checksum a client got wrong is its own mistake (400).
    @Test func aReplacedObjectIsTheServersDamageAndABadChecksumTheClients() {
        let replaced = S3Error(.badAnswer, "s3://b/k is not the object its session's manifest names", code: S3Error.replacedCode)
        #expect(RemoteError(DreamlakeError(replaced)).status == 500)
        #expect(DreamlakeError(replaced).code == .checksumMismatch)
        #expect(RemoteError(DreamlakeError(.checksumMismatch, "the upload's SHA-256 is not the one sent")).status == 400)
    }

    /// Class 6: a sign-in body over its 16 KiB is a 413 naming the limit, not a 500.
    @Test func anOversizedSignInIsAClientError() async throws {
        let root = TempRoot()
        defer { root.remove() }
        try await withServer(root.path) { port in
            let answer = try await exchange(port, ["POST /api/login HTTP/1.1", "Host: 127.0.0.1:\(port)", "Content-Type: application/json"],
                                      body: Array(repeating: UInt8(ascii: "{"), count: 20_000))
            #expect(answer.status == 413, "\(answer.head)")
            #expect(String(decoding: answer.body, as: UTF8.self).contains("16384"))
        }
    }
}
