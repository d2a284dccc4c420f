import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake
@testable import DreamlakeServer

/// Issue 31: a run written through `serve` shows as live while its client writes, and as finished once
/// the client has gone quiet for the server's `--idle-seconds` (Python dreamlake's client never says it
/// is done); the next write opens it again, and nothing written is lost.
@Suite struct IdleSessionTests {
    @Test func aSessionNoClientUsesIsClosedAndShowsFinished() async throws {
        let root = TempRoot()
        defer { root.remove() }
        let token = RemoteToken.mint(userName: "ana", secret: RemoteToken.pythonClientSecret)
        // Two seconds: long enough that the look right after a write comes before the close on a loaded machine
        // (a sanitized build in CI), short enough for a test.
        try await withServer(root.path, configure: { $0.idleSeconds = 2 }) { port in
            func call(_ method: String, _ path: String, _ body: String? = nil) async throws -> (status: Int, body: String) {
                let answer = try await exchange(port, ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Authorization: Bearer \(token)"]
                                                + (body == nil ? [] : ["Content-Type: application/json"]), body: Array((body ?? "").utf8))
                return (answer.status, String(decoding: answer.body, as: UTF8.self))
            }
            func live() async throws -> Bool? {
                let runs = try PythonJSONReader.parse(Array(try await call("GET", "/api/runs").body.utf8))
                guard case .array(let rows)? = runs.objectValue?["runs"] else { return nil }
                return rows.first?.objectValue?["live"]?.boolValue
            }
            let created = try await call("POST", "/workspaces/w/sessions", #"{"name": "run"}"#)
            #expect(created.status == 200 || created.status == 201, "\(created)")
            let id = RemoteService.sessionID(workspace: "w", name: "run")
            let logged = try await call("POST", "/sessions/\(id)/logs", #"{"logs": [{"timestamp": "2026-12-07T07:00:00Z", "level": "info", "message": "one"}]}"#)
            #expect(logged.status == 200, "\(logged)")
            #expect(try await live() == true, "written through serve a moment ago")
            var finished = false
            for _ in 0..<200 where !finished {
                try await Task.sleep(for: .milliseconds(100))
                finished = try await live() == false
            }
            #expect(finished, "closed after two seconds without a request")
            // The next write opens it again, and both entries are there.
            let again = try await call("POST", "/sessions/\(id)/logs", #"{"logs": [{"timestamp": "2026-12-07T07:00:01Z", "level": "info", "message": "two"}]}"#)
            #expect(again.status == 200, "\(again)")
            #expect(try await live() == true)
            // Closed again once quiet: what it holds is flushed and read elsewhere.
            finished = false
            for _ in 0..<200 where !finished {
                try await Task.sleep(for: .milliseconds(100))
                finished = try await live() == false
            }
            #expect(finished)
        }
        let session = try Session(name: "run", workspace: "w", localPath: root.path)
        try session.openForReading()
        defer { try? session.close() }
        let messages = try session.logs().map(\.message)
        #expect(messages == ["one", "two"], "\(messages)")
    }

    /// A closed service is freed: its housekeeping thread, which holds it, is let go (`scripts/fuzz store`, which
    /// makes a service an input, found them holding each other).
    @Test func aClosedServiceIsFreed() throws {
        let root = TempRoot()
        defer { root.remove() }
        weak var gone: RemoteService?
        do {
            let service = try RemoteService(root: root.path, idleSeconds: 0.5)
            gone = service
            #expect(service.close().isEmpty)
        }
        #expect(gone == nil, "the closed service is still held")
    }
}
