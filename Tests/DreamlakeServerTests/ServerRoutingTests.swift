import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake
@testable import DreamlakeServer

/// Issue 31: `dreamlake serve` on Hummingbird's router and middleware, with one pool of sessions open
/// for reading shared by the viewer and the remote API.
@Suite struct ServerRoutingTests {
    /// The viewer under `serve` reads through the server's own pool: reading more runs than the server keeps
    /// open holds no more than its bound open, and the remote API's pool is the one that holds them.
    @Test func theViewerReadsThroughTheServersOwnPoolWithinItsBound() async throws {
        let root = TempRoot()
        defer { root.remove() }
        for name in ["a", "b", "c"] {
            let s = try Session(name: name, workspace: "w", localPath: root.path)
            try s.open()
            _ = try s.track("loss").append(value: 1, step: 0)
            try s.close()
        }
        var configuration = ServerConfiguration(root: root.path, port: 0, maxOpenSessions: 2)
        configuration.idleSeconds = 600
        let server = try DreamlakeServer(configuration)
        let (ports, ready) = AsyncStream.makeStream(of: Int.self)
        let serving = Task { try await server.run(onReady: { ready.yield($0) }) }
        defer { serving.cancel() }
        var next = ports.makeAsyncIterator()
        let port = try #require(await next.next())
        let token = RemoteToken.mint(userName: "ana", secret: RemoteToken.pythonClientSecret)
        for name in ["a", "b", "c"] {
            let answer = try await exchange(port, ["GET /api/envelope?workspace=w&session=\(name)&track=loss&buckets=10 HTTP/1.1",
                                                   "Host: 127.0.0.1:\(port)", "Authorization: Bearer \(token)"])
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
        }
        #expect(server.service.readers.openCount == 2, "the server's pool holds the viewer's sessions, two at most")
        #expect(server.viewerService.openSessionCount == server.service.readers.openCount)
    }

    /// What no route answers is a 404 naming the method and path, in the body each client reads: the remote
    /// API's `{"error", "message", "statusCode"}`, the viewer's `{"error"}`; a track action that is not one too.
    @Test func whatNoRouteAnswersIsA404InTheClientsOwnForm() async throws {
        let root = TempRoot()
        defer { root.remove() }
        let token = RemoteToken.mint(userName: "ana", secret: RemoteToken.pythonClientSecret)
        try await withServer(root.path) { port in
            func call(_ method: String, _ path: String, _ body: String? = nil) async throws -> (status: Int, body: ValueObject?) {
                let answer = try await exchange(port, ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Authorization: Bearer \(token)"]
                                                + (body == nil ? [] : ["Content-Type: application/json"]), body: Array((body ?? "").utf8))
                return (answer.status, try? PythonJSONReader.parse(answer.body).objectValue)
            }
            let created = try await call("POST", "/workspaces/w/sessions", #"{"name": "run"}"#)
            #expect(created.status == 200, "\(created)")
            let id = RemoteService.sessionID(workspace: "w", name: "run")
            let appended = try await call("POST", "/sessions/\(id)/tracks/train/loss/append", #"{"data": {"value": 1.5, "step": 3}}"#)
            #expect(appended.status == 200, "\(appended)")
            let stats = try await call("GET", "/sessions/\(id)/tracks/train/loss/stats")
            #expect(stats.status == 200 && stats.body?["name"]?.stringValue == "train/loss" && stats.body?["totalDataPoints"]?.stringValue == "1", "\(stats)")

            let nothing = try await call("GET", "/nothing/here")
            #expect(nothing.status == 404 && nothing.body?["statusCode"]?.intValue == 404, "\(nothing)")
            #expect(nothing.body?["message"]?.stringValue?.contains("GET /nothing/here") == true, "\(nothing)")
            let action = try await call("POST", "/sessions/\(id)/tracks/train/loss/delete-everything", "{}")
            #expect(action.status == 404 && action.body?["message"]?.stringValue?.contains("delete-everything") == true, "\(action)")
            let viewer = try await call("GET", "/api/nothing")
            #expect(viewer.status == 404 && viewer.body?["error"]?.stringValue?.contains("/api/nothing") == true && viewer.body?["statusCode"] == nil,
                    "\(viewer)")
            let health = try await exchange(port, ["HEAD /health HTTP/1.1", "Host: 127.0.0.1:\(port)"])
            #expect(health.status == 200 && health.body.isEmpty, "\(health)")
        }
    }
}
