import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake
@_spi(Reference) import DreamlakeStore

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

    /// Three processes write one track of one session at once, each as its
    /// own rank: `tail --follow` prints every point while they write, as `cat`
    /// prints them after; `cat --rank` prints each one's in its order; `show`
    /// counts them all; two `bench logs` at once write one log; and the
    /// export reads back in Python dreamlake as the session reads here.
    @Test func aSessionSeveralProcessesWroteReadsWholeInTheCommandsAndInPython() throws {
        let root = TempRoot()
        defer { root.remove() }
        let made = try Session(name: "ingest", workspace: "bench", localPath: root.path)
        try made.open()
        try made.close()
        func start(_ arguments: [String]) throws -> (Process, LineCollector) { try startCommand(arguments + ["--root", root.path]) }
        let (tail, followed) = try start(["tail", "bench/ingest", "--track", "loss", "--follow", "-n", "1000000", "--interval", "10"])
        defer { if tail.isRunning { kill(tail.processIdentifier, SIGKILL) } }
        let each = 30_000
        let writers = try (0..<3).map { k in
            try start(["bench", "ingest", "--rank", String(k), "--points", String(each), "--shared-track", "--durability", "interval:5"])
        }
        let loggers = try (0..<2).map { _ in try start(["bench", "logs", "--count", "20000"]) }
        for (p, _) in writers + loggers {
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        #expect(followed.waitForLines(3 * each, unlessExited: tail), "tail --follow printed \(followed.lines.count) of \(3 * each) points")
        kill(tail.processIdentifier, SIGTERM)
        tail.waitUntilExit()

        let cat = try runCommand(["cat", "bench/ingest", "--track", "loss", "--root", root.path])
        let all = cat.out.split(separator: "\n").map(String.init)
        #expect(cat.status == 0 && all.count == 3 * each)
        #expect(followed.lines == all, "what tail --follow printed while they wrote is what cat prints after")
        var rankOf = [Int](repeating: -1, count: all.count)
        for k in 0..<3 {
            let mine = try runCommand(["cat", "bench/ingest", "--track", "loss", "--rank", String(k), "--root", root.path])
            let lines = mine.out.split(separator: "\n")
            let points = try lines.map { try #require(try PythonJSONReader.parse(Array($0.utf8)).objectValue) }
            #expect(mine.status == 0 && points.count == each, "rank \(k): \(points.count) points")
            // Each process's own points, in its order: steps 0, 1, 2, ... with the workload's values.
            #expect(points.enumerated().allSatisfy { i, p in
                p["data"]?.objectValue?["step"] == .int(Int64(i))
                    && p["data"]?.objectValue?["value"]?.doubleValue?.bitPattern == ReferenceWorkload.value(i).bitPattern
            }, "rank \(k)")
            for (p, line) in zip(points, lines) {
                guard let index = p["index"]?.intValue, index >= 0, index < all.count else { continue }
                #expect(rankOf[Int(index)] == -1 && all[Int(index)] == line)
                rankOf[Int(index)] = k
            }
        }
        #expect(!rankOf.contains(-1), "the ranks' points make up the whole track")

        let show = try runCommand(["show", "bench/ingest", "--json", "--root", root.path])
        let doc = try #require(try PythonJSONReader.parse(Array(show.out.utf8)).objectValue)
        #expect(doc["tracks"]?.arrayValue?.first?.objectValue?["count"] == .int(Int64(3 * each)))
        let logs = try runCommand(["cat", "bench/logs", "--logs", "--root", root.path])
        #expect(logs.out.split(separator: "\n").count == 40_000)
        for k in 0..<2 {
            let mine = try runCommand(["cat", "bench/logs", "--logs", "--rank", String(k), "--root", root.path])
            #expect(mine.out.split(separator: "\n").count == 20_000, "log entries of rank \(k)")
        }
        #expect(try runCommand(["verify", "--root", root.path]).status == 0)

        let exported = try runCommand(["export", "--root", root.path, "--out", root.path + "/out", "bench/ingest"])
        #expect(exported.status == 0, "\(exported.err)")
        let got = try #require(try PythonJSONReader.parse(try Self.run([Self.script("read_session.py"), root.path + "/out", "bench", "ingest",
                                                                           "loss", root.path + "/downloads"])).objectValue)
        let theirs = got["tracks"]?.objectValue?["loss"]?.objectValue?["points"]?.arrayValue ?? []
        let reader = try Session(name: "ingest", workspace: "bench", localPath: root.path)
        try reader.openForReading()
        defer { try? reader.close() }
        let ours = try reader.track("loss").read(limit: 1_000_000).points
        #expect(theirs.count == 3 * each && ours.count == 3 * each)
        #expect(zip(theirs, ours).allSatisfy { p, q in
            p.objectValue?["index"] == .int(Int64(q.index)) && p.objectValue?["data"] == .object(q.data)
                && p.objectValue?["createdAt"] == .string(Timestamps.iso(micros: q.timestamp))
        }, "Python reads the export as the session reads here")
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
