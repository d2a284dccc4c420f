import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake

/// Both directions against the real Python dreamlake 0.2.4, run from the
/// virtual environment `scripts/python-env` makes (`scripts/test` makes it
/// and passes its interpreter in DREAMLAKE_INTEROP_PYTHON).
@Suite struct InteropTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The interpreter with dreamlake 0.2.4 installed; the tests fail (never skip) without it.
    static func python() throws -> String {
        let path = ProcessInfo.processInfo.environment["DREAMLAKE_INTEROP_PYTHON"] ?? repository + "/.venv-interop/bin/python"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw PythonFailed(status: -1, stderr: "no Python with dreamlake 0.2.4 at \(path): run scripts/python-env (scripts/test does)")
        }
        return path
    }

    static func script(_ name: String) -> String { repository + "/Tests/Interop/" + name }

    static func run(_ arguments: [String]) throws -> [UInt8] {
        let source = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
        return try runProcess(try python(), ["-c", source] + arguments)
    }

    /// Python's empty lock files (`.session.lock`, `.track.lock`, ...) are
    /// how it serializes its own writers, not data; an export does not make them.
    static func data(_ t: [String: [UInt8]]) -> [String: [UInt8]] { t.filter { !$0.key.hasSuffix(".lock") } }

    @Test func sessionsPythonWroteComeBackByteForByte() throws {
        let root = TempRoot()
        defer { root.remove() }
        let python = root.path + "/python"
        _ = try Self.run([Self.script("write_sessions.py"), python, root.path + "/scratch"])

        let reports = try JSONLLayout.importAll(from: python, into: root.path + "/store")
        #expect(reports.map { "\($0.workspace)/\($0.name)" } == ["interop/edge", "other/plain"])
        for r in reports {
            #expect(r.isExact, "\(r.workspace)/\(r.name): \(r.inexact)")
            #expect(r.warnings.isEmpty, "\(r.warnings)")
        }
        let edge = try #require(reports.first)
        #expect(edge.points == 1501 + 2500 + 7)
        #expect(edge.files == 3)  // the deleted file's bytes are kept, as Python keeps them

        let exported = try JSONLLayout.exportAll(localPath: root.path + "/store", to: root.path + "/again")
        #expect(exported.allSatisfy { $0.warnings.isEmpty })
        for session in ["interop/edge", "other/plain"] {
            let original = Self.data(try tree(python + "/" + session))
            let again = try tree(root.path + "/again/" + session)
            #expect(original.keys.sorted() == again.keys.sorted(), "\(session)")
            for (path, bytes) in original {
                let same = again[path] == bytes
                #expect(same, "\(session)/\(path) differs")
            }
        }

        // What the session API reads from the imported store is what Python wrote.
        try Session.with(name: "edge", workspace: "interop", localPath: root.path + "/store") { s in
            #expect(s.description == "resumed")
            let params = try s.parameters.get()
            #expect(params["model.layers"] == [64, 32])
            #expect(params["extra"] == .null)
            #expect(params["resumed"] == true)
            let mixed = try s.track("mixed").read(limit: 10).points
            #expect(mixed[0].data["imin"] == .int(.min))
            #expect(mixed[0].data["above53"] == .int(9_007_199_254_740_993))
            #expect(mixed[0].data["one"] == 1.0)
            #expect(mixed[0].data["intone"] == 1)
            #expect(mixed[0].data["negzero"].map { $0 == .double(-0.0) } == true)
            #expect(try s.track("loss").stats().count == 1501)
            #expect(try s.logs().map(\.level).prefix(5) == LogLevel.allCases[...])
            #expect(try s.files.list().count == 2)
        }
    }

    @Test func sessionsWeExportArePythonReadable() throws {
        let root = TempRoot()
        defer { root.remove() }
        try writeRichSession(root: root.path + "/store", points: 1200)
        try JSONLLayout.exportSession(at: root.path + "/store/ws/rich", to: root.path + "/out")
        let out = try Self.run([Self.script("read_session.py"), root.path + "/out", "ws", "rich", "loss,eval/mixed",
                                root.path + "/downloads"])
        let got = try #require(try PythonJSONReader.parse(out).objectValue)

        try Session.with(name: "rich", workspace: "ws", localPath: root.path + "/store") { s in
            #expect(got["params"] == .object(try s.parameters.get()))
            #expect(got["paramsNested"] == .object(try s.parameters.get(flatten: false)))
            #expect(got["listed"] == ["loss"])  // Python lists only top-level track folders

            for name in ["loss", "eval/mixed"] {
                let ours = try s.track(name).read(limit: 100_000).points
                let theirs = got["tracks"]?.objectValue?[name]?.objectValue
                let points = theirs?["points"]?.arrayValue ?? []
                #expect(points.count == ours.count, "\(name)")
                for (p, q) in zip(points, ours) {
                    let o = p.objectValue
                    #expect(o?["index"] == .int(Int64(q.index)))
                    #expect(o?["data"] == .object(q.data), "\(name) #\(q.index)")
                    #expect(o?["createdAt"] == .string(Timestamps.iso(micros: q.timestamp)))
                }
                let stats = theirs?["stats"]?.objectValue
                let ourStats = try s.track(name).stats()
                #expect(stats?["totalDataPoints"] == .string(String(ourStats.count)))
                #expect(stats?["name"] == .string(name))
                #expect(stats?["description"] == (ourStats.description.map(Value.string) ?? .null))
                #expect(stats?["tags"] == .array(ourStats.tags.map(Value.string)))
            }

            let files = try s.files.list()
            let listed = got["files"]?.arrayValue ?? []
            #expect(listed.count == files.count)
            #expect(Set(listed.compactMap { $0.objectValue?["id"]?.stringValue }) == Set(files.map(\.id)))
            for f in files {
                #expect(got["downloads"]?.objectValue?[f.id] == .string(f.checksum))
            }

            let logs = try s.logs()
            let pyLogs = got["logs"]?.arrayValue ?? []
            #expect(pyLogs.count == logs.count)
            for (p, q) in zip(pyLogs, logs) {
                let o = p.objectValue
                #expect(o?["message"] == .string(q.message))
                #expect(o?["level"] == .string(q.level.name))
                #expect(o?["metadata"] == q.metadata.map(Value.object))
            }
        }
    }
}
