import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake
@testable import DreamlakeServer
import DreamlakeStore

// Issue 19: the server's request bodies decode through Codable (RequestBody,
// over ValueDecoding). A body of the wrong shape is a 400 that names the key
// and what was found there, and nothing of it is written; objects keep their key order.

@Suite struct RequestBodyTests {
    /// The refusal `body` gets, or nil when it is accepted.
    private func refusal(_ body: () throws -> Any) -> RemoteError? {
        do { _ = try body() } catch let e as RemoteError { return e } catch { return RemoteError(-1, "\(error)") }
        return nil
    }

    @Test func aBodyOfTheWrongShapeIsA400NamingTheKey() throws {
        let root = TempRoot()
        defer { root.remove() }
        let service = try RemoteService(root: root.path)
        defer { _ = service.close() }
        let id = try createdSession(in: service)

        let cases: [(String, () throws -> Any, String)] = [
            ("name of the wrong type", { try service.createOrUpdateSession(workspace: "w", body: ["name": 3]) }, "name"),
            ("no name", { try service.createOrUpdateSession(workspace: "w", body: ["tags": ["a"]]) }, "\"name\" is missing"),
            ("a tag that is no string", { try service.createOrUpdateSession(workspace: "w", body: ["name": "s", "tags": ["a", 1]]) }, "tags"),
            ("metadata that is no object", { try service.createOrUpdateSession(workspace: "w", body: ["name": "s", "metadata": [1]]) }, "metadata"),
            ("a body that is no object", { try service.setParameters(id, body: [1, 2]) }, "the request body"),
            ("parameters without data", { try service.setParameters(id, body: ["lr": 0.1]) }, "\"data\" is missing"),
            ("a log entry without a message", { try service.appendLogs(id, body: ["logs": [["level": "info"]]]) }, "message"),
            ("a log level nobody has", { try service.appendLogs(id, body: ["logs": [["message": "m", "level": "loud"]]]) }, "logs[0].level"),
            ("a point that is no object", { try service.appendBatch(id, track: "t", body: ["dataPoints": [["v": 1], 2]]) }, "dataPoints"),
            ("times that are not integers", {
                try service.appendBatch(id, track: "t", body: ["dataPoints": [["v": 1]], "timestampsMicros": ["now"]])
            }, "timestampsMicros"),
            ("one time for two points", {
                try service.appendBatch(id, track: "t", body: ["dataPoints": [["v": 1], ["v": 2]], "timestampsMicros": [1]])
            }, "timestampsMicros"),
            ("a track description that is no string", {
                try service.appendPoint(id, track: "t", body: ["data": ["v": 1], "description": ["x"]])
            }, "description"),
        ]
        for (what, call, key) in cases {
            let e = refusal(call)
            #expect(e?.status == 400, "\(what): \(String(describing: e))")
            #expect(e?.message.contains(key) == true, "\(what): \(e?.message ?? "accepted")")
        }
        // Nothing of a refused body was written.
        #expect(try service.listTracks(id).objectValue?["tracks"]?.arrayValue?.isEmpty == true)
        #expect(refusal { try service.parameters(id) }?.status == 404)
    }

    /// A log request holding one entry over the store's record limit writes none of its entries.
    @Test func aLogRequestWithOneEntryTooLargeWritesNone() throws {
        let root = TempRoot()
        defer { root.remove() }
        let service = try RemoteService(root: root.path)
        let id = try createdSession(in: service)
        let huge = Value.string(String(repeating: "x", count: 5 << 20))
        let e = refusal { try service.appendLogs(id, body: ["logs": [["message": "first"], ["message": "big", "metadata": ["blob": huge]], ["message": "last"]]]) }
        #expect(e?.status == 400 && e?.message.contains("logs[1]") == true, "\(String(describing: e))")
        _ = try service.appendLogs(id, body: ["logs": [["message": "after"]]])
        _ = service.close()
        let store = try Store(directory: root.path + "/w/s", access: .read)
        defer { try? store.close() }
        #expect(try store.logs().map(\.message) == ["after"])
    }

    @Test func objectsArriveWithTheirKeysInOrder() throws {
        let root = TempRoot()
        defer { root.remove() }
        let service = try RemoteService(root: root.path)
        defer { _ = service.close() }
        let id = try #require(service.createOrUpdateSession(workspace: "w", body: ["name": "s", "metadata": ["z": 1, "a": 2]])
            .objectValue?["session"]?.objectValue?["id"]?.stringValue)
        _ = try service.appendBatch(id, track: "t", body: ["dataPoints": [["step": 1, "value": 0.5, "epoch": 0]],
                                                           "metadata": ["unit": "nats", "by": "test"]])
        _ = try service.setParameters(id, body: ["data": ["lr": 0.1, "batch": 32, "arch": "resnet"]])
        let page = try service.readTrack(id, track: "t", startIndex: 0, limit: 10)
        let point = try #require(page.objectValue?["data"]?.arrayValue?.first?.objectValue?["data"]?.objectValue)
        #expect(Array(point.keys) == ["step", "value", "epoch"])
        let params = try #require(service.parameters(id).objectValue?["data"]?.objectValue)
        #expect(Array(params.keys) == ["lr", "batch", "arch"])
        let session = try #require(service.createOrUpdateSession(workspace: "w", body: ["name": "s"]).objectValue?["session"]?.objectValue)
        #expect(session["metadata"]?.objectValue.map { Array($0.keys) } == ["z", "a"])
    }
}

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Through HTTP: the order in which `dreamlake serve` looks at a request.
@Suite struct RequestOrderTests {
    /// A create request whose body will be refused claims no workspace (no
    /// `<root>/<workspace>/.owner` is written), so that nobody takes a
    /// workspace's name with a request that creates nothing.
    @Test func aRefusedCreateClaimsNoWorkspace() async throws {
        let root = TempRoot()
        defer { root.remove() }
        let server = try DreamlakeServer(ServerConfiguration(root: root.path, port: 0, secret: "the-secret"))
        let (ports, ready) = AsyncStream.makeStream(of: Int.self)
        let serving = Task { try await server.run(onReady: { ready.yield($0) }) }
        defer { serving.cancel() }
        var next = ports.makeAsyncIterator()
        let port = try #require(await next.next())
        let token = RemoteToken.mint(userName: "mallory", secret: "the-secret")

        func create(_ workspace: String, _ body: String) async throws -> Int {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/workspaces/\(workspace)/sessions")!)
            request.httpMethod = "POST"
            request.setValue("Bearer " + token, forHTTPHeaderField: "Authorization")
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.utf8)
            let (_, response) = try await URLSession.shared.data(for: request)
            return (response as? HTTPURLResponse)?.statusCode ?? -1
        }
        for body in [#"{"name": 3}"#, #"{"tags": ["a"]}"#, #"{"name": ".hidden"}"#, "not json"] {
            #expect(try await create("claimed", body) == 400, "\(body)")
        }
        #expect(!FileManager.default.fileExists(atPath: root.path + "/claimed/.owner"))
        #expect(try await create("claimed", #"{"name": "s"}"#) == 200)
        #expect(FileManager.default.fileExists(atPath: root.path + "/claimed/.owner"))
    }
}

@Suite struct LogTimeTests {
    /// A Swift remote session's log entries keep their exact time, also where
    /// ISO 8601's four-digit years cannot say it.
    @Test func logEntriesKeepTheirExactTime() throws {
        let root = TempRoot()
        defer { root.remove() }
        let service = try RemoteService(root: root.path)
        let id = try createdSession(in: service)
        let times: [Int64] = [.min, -1, 1_764_000_000_123_456, .max]
        let entries: [Value] = times.map { t in
            ["timestamp": .string(Timestamps.iso(micros: t)), "timestampMicros": .int(t), "message": "m"]
        }
        _ = try service.appendLogs(id, body: ["logs": .array(entries)])
        // Python's client sends the ISO form alone.
        _ = try service.appendLogs(id, body: ["logs": [["timestamp": "2026-11-25T11:17:49.610107Z", "message": "py"]]])
        _ = service.close()
        let store = try Store(directory: root.path + "/w/s", access: .read)
        defer { try? store.close() }
        #expect(try store.logs().map(\.timestamp) == times + [Timestamps.parse("2026-11-25T11:17:49.610107Z")!])
    }
}
