import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake

/// Every regular file under `root`, by path relative to it, with its bytes.
func tree(_ root: String) throws -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    guard let walker = FileManager.default.enumerator(atPath: root) else { return out }
    while let rel = walker.nextObject() as? String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root + "/" + rel, isDirectory: &isDir), !isDir.boolValue else { continue }
        out[rel] = Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + rel)))
    }
    return out
}

/// Writes a session with every kind of record and the edge values, through the session API.
func writeRichSession(root: String, name: String = "rich", workspace: String = "ws", points: Int = 3000) throws {
    let session = try Session(name: name, workspace: workspace, localPath: root, description: "every kind of record",
                              tags: ["a", "ü"], folder: "/experiments/2026", metadata: ["owner": "me", "gpu": 1])
    try session.open()
    for level in LogLevel.allCases { try session.log("level \(level)", level: level, metadata: ["k": level.rawValue]) }
    try session.log("no metadata")
    try session.log("edge \"quotes\" \\ \n\t 学習 🚀 \u{01}", metadata: ["v": -0.0, "n": Double.nan, "i": Double.infinity])
    try session.parameters.set(["model": ["lr": 0.001, "layers": 4] as [String: any ValueConvertible], "batch": 32])
    try session.parameters.set(["model.lr": 0.0005, "name": "run 🚀"])
    let loss = session.track("loss", description: "training loss", tags: ["train"])
    for step in 0..<points { try loss.append(value: 1.0 / Double(step + 1), step: step) }
    let mixed = session.track("eval/mixed")
    try mixed.append(["value": 0.5, "step": 1, "phase": "eval"])
    try mixed.append(object: ["value": .double(.nan), "flag": true, "none": nil, "big": 1e16, "small": 1e-05,
                             "ninf": .double(-.infinity), "negzero": -0.0, "ctl": "\u{7F}\u{1F}\"q\""])
    try mixed.append(["i": Int64.max, "j": Int64.min, "k": 9_007_199_254_740_993 as Int64, "text": String(repeating: "é", count: 5000)])
    try mixed.append([:])
    let file = root + "/upload.txt"
    try Data("hello files\n".utf8).write(to: URL(fileURLWithPath: file))
    let stored = try session.files.upload(file, path: "/models/best", description: "a file", tags: ["t"])
    let other = try session.files.upload(file, path: "/")
    try session.files.update(stored.id, description: "changed")
    try session.files.delete(other.id)
    try session.close()
}

@Suite struct JSONLLayoutTests {
    @Test func exportThenImportThenExportGivesTheSameBytes() throws {
        let root = TempRoot()
        defer { root.remove() }
        try writeRichSession(root: root.path + "/store")
        let first = try JSONLLayout.exportSession(at: root.path + "/store/ws/rich", to: root.path + "/out1")
        #expect(first.warnings.isEmpty)
        #expect(first.points == 3004)
        #expect(first.logs == 7)
        #expect(first.files == 2)

        let imported = try JSONLLayout.importSession(from: root.path + "/out1/ws/rich", into: root.path + "/store2")
        #expect(imported.isExact, "\(imported.inexact)")
        #expect(imported.warnings.isEmpty)
        #expect(imported.points == 3004)
        try JSONLLayout.exportSession(at: root.path + "/store2/ws/rich", to: root.path + "/out2")

        let a = try tree(root.path + "/out1/ws/rich"), b = try tree(root.path + "/out2/ws/rich")
        #expect(a.keys.sorted() == b.keys.sorted())
        for (path, bytes) in a {
            let same = b[path] == bytes
            #expect(same, "\(path) differs")
        }
        #expect(a.keys.contains("logs/.log_sequence"))
        #expect(a.keys.contains("tracks/eval/mixed/data.jsonl"))
        #expect(a.keys.contains { $0.hasPrefix("files/models/best/") && $0.hasSuffix("/upload.txt") })
    }

    @Test func anExportKilledPartWayIsTidiedByTheNextAndARunningOneIsLeftAlone() throws {
        let root = TempRoot()
        defer { root.remove() }
        try writeRichSession(root: root.path + "/store", points: 10)
        let ws = root.path + "/out/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        // A process that has ended, and one still running.
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let running = Process()
        running.executableURL = URL(fileURLWithPath: "/bin/sleep")
        running.arguments = ["60"]
        try running.run()
        defer { running.terminate() }
        let dead = ended.processIdentifier, alive = running.processIdentifier
        // The dead export was killed between moving the previous export aside and moving its own in.
        try FileManager.default.createDirectory(atPath: ws + "/.rich.export-\(dead).old", withIntermediateDirectories: true)
        try Data("previous".utf8).write(to: URL(fileURLWithPath: ws + "/.rich.export-\(dead).old/session.json"))
        try FileManager.default.createDirectory(atPath: ws + "/.rich.export-\(dead)", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: ws + "/.rich.export-\(alive)", withIntermediateDirectories: true)

        // Put back when nothing took its place...
        JSONLLayout.recoverAbandonedExports(of: "rich", in: ws)
        #expect(FileManager.default.contents(atPath: ws + "/rich/session.json") == Data("previous".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws).sorted() == [".rich.export-\(alive)", "rich"])
        // ... and an export replaces it, leaving the running one's folder alone.
        try JSONLLayout.exportSession(at: root.path + "/store/ws/rich", to: root.path + "/out")
        #expect(FileManager.default.contents(atPath: ws + "/rich/session.json") != Data("previous".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws).sorted() == [".rich.export-\(alive)", "rich"])
        // An old copy beside a whole export is removed.
        try FileManager.default.createDirectory(atPath: ws + "/.rich.export-\(dead).old", withIntermediateDirectories: true)
        try JSONLLayout.exportSession(at: root.path + "/store/ws/rich", to: root.path + "/out")
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws).sorted() == [".rich.export-\(alive)", "rich"])
    }

    @Test func exportedFilesHaveTheFieldsAndFormPythonWrites() throws {
        let root = TempRoot()
        defer { root.remove() }
        try writeRichSession(root: root.path + "/store", points: 3)
        try JSONLLayout.exportSession(at: root.path + "/store/ws/rich", to: root.path + "/out")
        let dir = root.path + "/out/ws/rich"
        let text = { (p: String) in String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/" + p)), as: UTF8.self) }

        let session = try text("session.json")
        #expect(session.hasPrefix("{\n  \"name\": \"rich\",\n  \"workspace\": \"ws\",\n  \"description\": \"every kind of record\",\n  \"tags\": [\n    \"a\",\n    \"\\u00fc\"\n  ],"))
        #expect(!session.contains("$"))

        let params = try PythonJSONReader.parse(Array(try text("parameters.json").utf8))
        #expect(params.objectValue?.keys.elements == ["version", "data", "updatedAt"])
        #expect(params.objectValue?["version"] == 2)
        #expect(params.objectValue?["data"] == ["model.layers": 4, "model.lr": 0.0005, "batch": 32, "name": "run 🚀"])  // a Swift dictionary's keys sorted

        let logs = try text("logs/logs.jsonl").split(separator: "\n")
        #expect(logs.count == 7)
        #expect(logs[5].hasPrefix("{\"sequenceNumber\": 5, \"timestamp\": \"20"))
        #expect(logs[5].hasSuffix("\"level\": \"info\", \"message\": \"no metadata\"}"))
        #expect(logs[6].contains(#""message": "edge \"quotes\" \\ \n\t \u5b66\u7fd2 \ud83d\ude80 \u0001", "metadata": {"v": -0.0, "n": NaN, "i": Infinity}}"#))
        #expect(try text("logs/.log_sequence") == "7")

        let points = try text("tracks/loss/data.jsonl").split(separator: "\n")
        #expect(points.count == 3)
        #expect(points[1].hasPrefix(#"{"index": 1, "data": {"value": 0.5, "step": 1}, "createdAt": ""#))
        let mixed = try text("tracks/eval/mixed/data.jsonl").split(separator: "\n")
        #expect(mixed[1].contains(#""data": {"value": NaN, "flag": true, "none": null, "big": 1e+16, "small": 1e-05, "ninf": -Infinity, "negzero": -0.0, "ctl": "\u007f\u001f\"q\""}"#))
        #expect(mixed[2].contains(#""data": {"i": 9223372036854775807, "j": -9223372036854775808, "k": 9007199254740993, "text": "\u00e9"#))
        #expect(mixed[3].contains(#""data": {}"#))

        let meta = try PythonJSONReader.parse(Array(try text("tracks/loss/metadata.json").utf8)).objectValue
        #expect(meta?.keys.elements == ["trackId", "name", "description", "tags", "metadata", "totalDataPoints", "nextIndex", "createdAt", "updatedAt"])
        #expect(meta?["trackId"] == "local-track-loss")
        #expect(meta?["totalDataPoints"] == 3)

        let files = try PythonJSONReader.parse(Array(try text("files/.files_metadata.json").utf8)).objectValue?["files"]?.arrayValue
        #expect(files?.count == 2)
        let first = files?.first?.objectValue
        #expect(first?.keys.elements == ["id", "sessionId", "path", "filename", "description", "tags", "contentType", "sizeBytes",
                                         "checksum", "metadata", "uploadedAt", "updatedAt", "deletedAt"])
        #expect(first?["sessionId"] == "ws/rich")
        #expect(first?["description"] == "changed")
        #expect(first?["deletedAt"] == .null)
        let second = files?.last?.objectValue
        #expect(second?["deletedAt"]?.stringValue != nil)
        #expect(second?["deletedAt"] == second?["updatedAt"])
    }

    @Test func anImportedSessionCanBeContinuedThroughTheSessionAPI() throws {
        let root = TempRoot()
        defer { root.remove() }
        try writeRichSession(root: root.path + "/store", points: 10)
        try JSONLLayout.exportSession(at: root.path + "/store/ws/rich", to: root.path + "/out")
        try JSONLLayout.importSession(from: root.path + "/out/ws/rich", into: root.path + "/store2", name: "copy")
        try Session.with(name: "copy", workspace: "ws", localPath: root.path + "/store2") { s in
            #expect(s.storedFields["name"] == "copy")
            #expect(s.storedFields.keys.allSatisfy { !$0.hasPrefix("$") })
            #expect(try s.parameters.get()["batch"] == 32)
            #expect(try s.track("loss").append(value: 0.01, step: 10) == 10)
            try s.parameters.set(["extra": true])
            #expect(try s.logs().count == 7)
            #expect(try s.files.list().count == 1)
        }
        try JSONLLayout.exportSession(at: root.path + "/store2/ws/copy", to: root.path + "/out2")
        let params = try PythonJSONReader.parse(Array(try Data(contentsOf: URL(fileURLWithPath: root.path + "/out2/ws/copy/parameters.json"))))
        #expect(params.objectValue?["version"] == 3)
        let meta = try PythonJSONReader.parse(Array(try Data(contentsOf: URL(fileURLWithPath: root.path + "/out2/ws/copy/tracks/loss/metadata.json"))))
        #expect(meta.objectValue?["totalDataPoints"] == 11)
    }

    @Test func badInputIsRefusedWithFileAndLineAndLeavesTheStoreAsItWas() throws {
        let root = TempRoot()
        defer { root.remove() }
        try writeRichSession(root: root.path + "/store", points: 5)
        try JSONLLayout.exportSession(at: root.path + "/store/ws/rich", to: root.path + "/out")
        let good = root.path + "/out/ws/rich"
        let before = try tree(root.path + "/store")

        func broken(_ edit: (String) throws -> Void) throws -> DreamlakeError? {
            let copy = root.path + "/broken-" + UUID().uuidString + "/ws/rich"
            try FileManager.default.createDirectory(atPath: FileSystem.directoryName(copy), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: good, toPath: copy)
            try edit(copy)
            do {
                try JSONLLayout.importSession(from: copy, into: root.path + "/store", name: "again")
                return nil
            } catch { return error }
        }
        func replaceLine(_ path: String, _ n: Int, _ text: String) throws {
            var lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
            lines[n - 1] = text
            try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }

        let malformed = try broken { try replaceLine($0 + "/tracks/loss/data.jsonl", 3, #"{"index": 2, "data": {"value": 1.0,, "createdAt": "x"}"#) }
        #expect(malformed?.code == .invalidInput)
        #expect(malformed?.line == 3)
        #expect(malformed?.path?.hasSuffix("tracks/loss/data.jsonl") == true)
        #expect(malformed?.message.contains("malformed JSON") == true)

        let missing = try broken { try replaceLine($0 + "/logs/logs.jsonl", 2, #"{"sequenceNumber": 1, "timestamp": "2026-11-25T11:17:49Z", "level": "info"}"#) }
        #expect(missing?.code == .invalidInput)
        #expect(missing?.line == 2)
        #expect(missing?.message.contains("\"message\" is missing") == true)

        let badLevel = try broken { try replaceLine($0 + "/logs/logs.jsonl", 1, #"{"sequenceNumber": 0, "timestamp": "2026-11-25T11:17:49Z", "level": "loud", "message": "x"}"#) }
        #expect(badLevel?.message.contains("not one of debug") == true)

        let gap = try broken { try replaceLine($0 + "/tracks/loss/data.jsonl", 2, #"{"index": 7, "data": {}, "createdAt": "2026-11-25T11:17:49Z"}"#) }
        #expect(gap?.message.contains("where 1 was expected") == true)

        let badTime = try broken { try replaceLine($0 + "/tracks/loss/data.jsonl", 1, #"{"index": 0, "data": {}, "createdAt": "yesterday"}"#) }
        #expect(badTime?.message.contains("not an ISO 8601 date and time") == true)

        let escape = try broken { dir in
            let path = dir + "/files/.files_metadata.json"
            let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "\"/models/best\"", with: "\"/../../../../etc\"")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        #expect(escape?.code == .invalidName)
        #expect(escape?.message.contains("would leave the session's folder") == true)

        let notObject = try broken { try "[1, 2]".write(toFile: $0 + "/parameters.json", atomically: true, encoding: .utf8) }
        #expect(notObject?.code == .invalidInput)
        #expect(notObject?.message.contains("not the JSON object") == true)

        // A blank line is skipped, as Python's reader skips it, and noted: the export will not have it.
        let blank = root.path + "/blank/ws/rich"
        try FileManager.default.createDirectory(atPath: FileSystem.directoryName(blank), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: good, toPath: blank)
        try replaceLine(blank + "/tracks/loss/data.jsonl", 6, "  ")
        let skipped = try JSONLLayout.importSession(from: blank, into: root.path + "/elsewhere")
        #expect(skipped.points == 5 + 4)
        #expect(skipped.inexactCount == 1)
        #expect(skipped.inexact.first?.contains("data.jsonl:6: a blank line") == true)

        // Nothing was left behind, and the session already there is as it was.
        #expect(try tree(root.path + "/store") == before)
        let exists = try broken { _ in }
        #expect(exists == nil)
        let twice = try broken { _ in }
        #expect(twice?.code == .exists)
    }

    /// A track's lines are parsed in batches on every core and appended in order (issue 33): across
    /// batches, the points, the notes and the first error are where they are in the file.
    @Test func aLongTrackImportsInOrderAndItsFirstBadLineIsNamed() throws {
        let root = TempRoot()
        defer { root.remove() }
        let n = 30_000  // several batches of 8,192 lines
        try writeRichSession(root: root.path + "/store", points: n)
        try JSONLLayout.exportSession(at: root.path + "/store/ws/rich", to: root.path + "/out")
        let good = root.path + "/out/ws/rich"
        let data = good + "/tracks/loss/data.jsonl"
        let again = try JSONLLayout.importSession(from: good, into: root.path + "/again")
        #expect(again.points == n + 4 && again.inexactCount == 0)
        try JSONLLayout.exportSession(at: root.path + "/again/ws/rich", to: root.path + "/out2")
        #expect(try Data(contentsOf: URL(fileURLWithPath: root.path + "/out2/ws/rich/tracks/loss/data.jsonl"))
                == Data(contentsOf: URL(fileURLWithPath: data)))

        var lines = try String(contentsOfFile: data, encoding: .utf8).components(separatedBy: "\n")
        func copy(_ name: String, _ edit: (inout [String]) -> Void) throws -> String {
            let dir = root.path + "/" + name + "/ws/rich"
            try FileManager.default.createDirectory(atPath: FileSystem.directoryName(dir), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: good, toPath: dir)
            var edited = lines
            edit(&edited)
            try edited.joined(separator: "\n").write(toFile: dir + "/tracks/loss/data.jsonl", atomically: true, encoding: .utf8)
            return dir
        }
        // Notes in file order: a blank line in the second batch, a time in another form in the third.
        let noted = try copy("noted") { l in
            l[20_000] = l[20_000].replacingOccurrences(of: "Z\"}", with: "+00:00\"}")
            l.insert("", at: 9_000)  // line 9001; the line above is 20002 now
        }
        let report = try JSONLLayout.importSession(from: noted, into: root.path + "/noted-store")
        #expect(report.points == n + 4)
        #expect(report.inexact.count == 3, "\(report.inexact)")
        #expect(report.inexact.first?.contains("data.jsonl:9001: a blank line") == true)
        #expect(report.inexact.dropFirst().first?.contains("data.jsonl:20002: \"createdAt\"") == true)
        #expect(report.inexact.last?.contains("data.jsonl:20002: an export would differ") == true)
        // The first bad line is named, in a later batch than good lines after which nothing may be kept.
        lines[25_000] = lines[25_000].replacingOccurrences(of: "\"index\": 25000", with: "\"index\": 7")
        lines[27_000] = "{not json"
        let bad = try copy("bad") { _ in }
        do {
            try JSONLLayout.importSession(from: bad, into: root.path + "/bad-store")
            Issue.record("the import took a line with a wrong index")
        } catch {
            let e = error
            #expect(e.line == 25_001 && e.message.contains("the index is 7 where 25000 was expected"), "\(e)")
        }
        #expect(try Session.all(localPath: root.path + "/bad-store").isEmpty)

        // A log of several batches: its entries in order, its first bad line named.
        let logged = root.path + "/logged"
        let s = try Session(name: "logs", workspace: "ws", localPath: logged)
        try s.open()
        for i in 0..<20_000 { try s.log("entry \(i)", level: i % 7 == 0 ? .warn : .info, metadata: i % 3 == 0 ? ["i": i] : nil) }
        try s.close()
        try JSONLLayout.exportSession(at: logged + "/ws/logs", to: root.path + "/logged-out")
        let logsPath = root.path + "/logged-out/ws/logs/logs/logs.jsonl"
        let logsBefore = try Data(contentsOf: URL(fileURLWithPath: logsPath))
        let imported = try JSONLLayout.importSession(from: root.path + "/logged-out/ws/logs", into: root.path + "/logged-again")
        #expect(imported.logs == 20_000 && imported.inexactCount == 0)
        try JSONLLayout.exportSession(at: root.path + "/logged-again/ws/logs", to: root.path + "/logged-out2")
        #expect(try Data(contentsOf: URL(fileURLWithPath: root.path + "/logged-out2/ws/logs/logs/logs.jsonl")) == logsBefore)
        var logLines = String(decoding: logsBefore, as: UTF8.self).components(separatedBy: "\n")
        logLines[17_000] = logLines[17_000].replacingOccurrences(of: "\"level\": \"info\"", with: "\"level\": \"loud\"")
        try logLines.joined(separator: "\n").write(toFile: logsPath, atomically: true, encoding: .utf8)
        do {
            try JSONLLayout.importSession(from: root.path + "/logged-out/ws/logs", into: root.path + "/logged-bad")
            Issue.record("the import took a log entry of an unknown level")
        } catch {
            #expect(error.line == 17_001 && error.message.contains("not one of debug"), "\(error)")
        }
    }

    /// Lines of a `{"value": v, "step": s}` point are read without a JSON tree only when they are byte for byte
    /// what an export writes; any other form of such a point is read by the general parser, as it always was:
    /// every point keeps its value's kind and bits, and every line an export would not give back is noted.
    @Test func aValueAndStepLineIsTakenAsItIsOnlyInTheExactFormAnExportWrites() throws {
        let root = TempRoot()
        defer { root.remove() }
        let dir = root.path + "/in/ws/run/tracks/loss"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let t = "\"createdAt\": \"2026-11-25T11:17:49.610107Z\"}"
        let lines: [(text: String, data: ValueObject, exact: Bool)] = [
            (#"{"index": 0, "data": {"value": 0.31, "step": 1200}, "#, ["value": 0.31, "step": 1200], true),
            (#"{"index": 1, "data": {"value": -2.5e-308, "step": -7}, "#, ["value": -2.5e-308, "step": -7], true),
            (#"{"index": 2, "data": {"value": NaN, "step": 0}, "#, ["value": .double(.nan), "step": 0], true),
            (#"{"index": 3, "data": {"value": -Infinity, "step": 9223372036854775807}, "#, ["value": .double(-.infinity), "step": .int(.max)], true),
            (#"{"index": 4, "data": {"value": -0.0, "step": -9223372036854775808}, "#, ["value": -0.0, "step": .int(.min)], true),
            (#"{"index": 5, "data": {"value": 2, "step": 1}, "#, ["value": 2, "step": 1], true),  // an integer value
            (#"{"index": 6, "data": {"value": 1e5, "step": 1}, "#, ["value": 100_000.0, "step": 1], false),  // written 100000.0
            (#"{"index": 7, "data": {"value": 0.5, "step": 1.0}, "#, ["value": 0.5, "step": 1.0], true),  // a double step
            (#"{"index": 8, "data": {"step": 3, "value": 0.5}, "#, ["step": 3, "value": 0.5], true),  // the other order
            (#"{"index": 9, "data": {"value": 0.50, "step": 3}, "#, ["value": 0.5, "step": 3], false),
            (#"{"index": 10, "data": {"value": 0.5,"step": 3}, "#, ["value": 0.5, "step": 3], false),
            (#"{"index": 11, "data": {"value": 0.25, "step": 4, "epoch": 1}, "#, ["value": 0.25, "step": 4, "epoch": 1], true),
            (#"{"index": 12, "data": {"value": 0x1p3, "step": 4}, "#, [:], false),  // not JSON: refused below
        ]
        func write(_ count: Int) throws {
            try lines.prefix(count).map { $0.text + t + "\n" }.joined().write(toFile: dir + "/data.jsonl", atomically: true, encoding: .utf8)
        }
        try write(lines.count - 1)
        let report = try JSONLLayout.importSession(from: root.path + "/in/ws/run", into: root.path + "/store")
        #expect(report.points == UInt64(lines.count - 1))
        #expect(report.inexact.map { $0.components(separatedBy: ": ")[0].components(separatedBy: ":").last ?? "" }
                == lines.indices.dropLast().filter { !lines[$0].exact }.map { String($0 + 1) }, "\(report.inexact)")
        try Session.with(name: "run", workspace: "ws", localPath: root.path + "/store") { s in
            let points = try s.track("loss").read(limit: 100).points
            #expect(points.count == lines.count - 1)
            for (p, line) in zip(points, lines) {
                // Bit for bit: NaN and -0.0 compare by their bits, and a value's kind (integer or double) is kept.
                #expect(Array(p.data.keys) == Array(line.data.keys) && p.data.keys.allSatisfy { key in
                    switch (p.data[key], line.data[key]) {
                    case (.double(let a)?, .double(let b)?): a.bitPattern == b.bitPattern
                    case (let a, let b): a == b
                    }
                }, "\(p.index): \(p.data) is not \(line.data)")
                #expect(p.timestamp == Timestamps.parse("2026-11-25T11:17:49.610107Z"))
            }
        }
        try write(lines.count)
        #expect(throws: DreamlakeError.self, "0x1p3 is no JSON number, whatever strtod reads") {
            try JSONLLayout.importSession(from: root.path + "/in/ws/run", into: root.path + "/store2")
        }
    }

    @Test func theFlatLayoutOfTheSeedDocumentImports() throws {
        let root = TempRoot()
        defer { root.remove() }
        let dir = root.path + "/old/mnist/baseline"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
        {"sequenceNumber": 0, "timestamp": "2026-11-25T11:17:49.610107Z", "level": "info", "message": "Training started"}
        {"sequenceNumber": 1, "timestamp": "2026-11-25T11:17:50Z", "level": "warn", "message": "slow", "metadata": {"s": 1.5}}

        """.write(toFile: dir + "/logs.jsonl", atomically: true, encoding: .utf8)
        try #"{"version": 1, "data": {"lr": 0.001}, "createdAt": "2026-11-25T11:17:49Z", "updatedAt": "2026-11-25T11:17:49Z"}"#
            .write(toFile: dir + "/parameters.json", atomically: true, encoding: .utf8)
        let report = try JSONLLayout.importSession(from: dir, into: root.path + "/store")
        #expect(report.workspace == "mnist")
        #expect(report.name == "baseline")
        #expect(report.logs == 2)
        try Session.with(name: "baseline", workspace: "mnist", localPath: root.path + "/store") { s in
            let logs = try s.logs()
            #expect(logs.map(\.message) == ["Training started", "slow"])
            #expect(logs[1].level == .warn)
            #expect(logs[1].metadata == ["s": 1.5])
            #expect(try s.parameters.get() == ["lr": 0.001])
        }
    }

    /// The importer alone decides what a folder holds (the command asks it); a trailing "/" does not matter.
    @Test func aFolderIsImportedAsTheSessionWorkspaceOrRootItHolds() throws {
        let root = TempRoot()
        defer { root.remove() }
        let params = #"{"version": 1, "data": {"lr": 0.1}, "createdAt": "2026-11-25T11:17:49Z", "updatedAt": "2026-11-25T11:17:49Z"}"#
        for s in ["a", "b"] {
            let dir = root.path + "/src/mnist/" + s
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try params.write(toFile: dir + "/parameters.json", atomically: true, encoding: .utf8)
        }
        // A folder beside the sessions that is none: not a session to import.
        try FileManager.default.createDirectory(atPath: root.path + "/src/mnist/notes", withIntermediateDirectories: true)
        #expect(JSONLLayout.kind(of: root.path + "/src/mnist/a") == .session)
        #expect(JSONLLayout.kind(of: root.path + "/src/mnist/") == .workspace)
        #expect(JSONLLayout.kind(of: root.path + "/src") == .root)
        #expect(JSONLLayout.kind(of: root.path + "/src/mnist/notes") == .none)

        let workspace = try JSONLLayout.importFolder(from: root.path + "/src/mnist/", into: root.path + "/one", workspace: "digits")
        #expect(workspace.map { "\($0.workspace)/\($0.name)" }.sorted() == ["digits/a", "digits/b"])
        #expect(try Session.all(localPath: root.path + "/one").map { "\($0.workspace)/\($0.name)" } == ["digits/a", "digits/b"])
        let all = try JSONLLayout.importFolder(from: root.path + "/src", into: root.path + "/two")
        #expect(all.map { "\($0.workspace)/\($0.name)" }.sorted() == ["mnist/a", "mnist/b"])
        let one = try JSONLLayout.importFolder(from: root.path + "/src/mnist/a/", into: root.path + "/three", name: "copy")
        #expect(one.map { "\($0.workspace)/\($0.name)" } == ["mnist/copy"])

        #expect { try JSONLLayout.importFolder(from: root.path + "/src/mnist", into: root.path + "/four", name: "x") } throws: {
            ($0 as? DreamlakeError)?.code == .invalidName
        }
        #expect { try JSONLLayout.importFolder(from: root.path + "/src", into: root.path + "/four", workspace: "x") } throws: {
            ($0 as? DreamlakeError)?.code == .invalidName
        }
        #expect { try JSONLLayout.importFolder(from: root.path + "/src/mnist/notes", into: root.path + "/four") } throws: {
            ($0 as? DreamlakeError)?.code == .notFound
        }
        #expect(!FileManager.default.fileExists(atPath: root.path + "/four/x"))
    }

    @Test func aSessionBeingWrittenExportsWhatItHasFlushed() throws {
        let root = TempRoot()
        defer { root.remove() }
        let session = try Session(name: "live", workspace: "ws", localPath: root.path + "/store")
        try session.open()
        let loss = session.track("loss")
        for i in 0..<100 { try loss.append(value: Double(i), step: i) }
        try session.flush()
        // Another reader of the store (as another process would be) sees what was flushed.
        let report = try JSONLLayout.exportSession(at: session.directory, to: root.path + "/out")
        #expect(report.points == 100)
        // The session's own export also sees what is not flushed yet.
        for i in 100..<150 { try loss.append(value: Double(i), step: i) }
        #expect(try session.export(to: root.path + "/out2").points == 150)
        try session.close()
        let lines = try String(contentsOfFile: root.path + "/out/ws/live/tracks/loss/data.jsonl", encoding: .utf8)
        #expect(lines.split(separator: "\n").count == 100)
    }

    @Test func exportOnCloseWritesTheLayout() throws {
        let root = TempRoot()
        defer { root.remove() }
        let session = try Session(name: "watched", workspace: "ws", localPath: root.path + "/store", exportOnClose: root.path + "/watch")
        try session.open()
        try session.track("loss").append(value: 0.25, step: 1)
        try session.close()
        let line = try String(contentsOfFile: root.path + "/watch/ws/watched/tracks/loss/data.jsonl", encoding: .utf8)
        #expect(line.hasPrefix(#"{"index": 0, "data": {"value": 0.25, "step": 1}"#))
        // A second run replaces the export with the longer session.
        try session.open()
        try session.track("loss").append(value: 0.125, step: 2)
        try session.close()
        let lines = try String(contentsOfFile: root.path + "/watch/ws/watched/tracks/loss/data.jsonl", encoding: .utf8)
        #expect(lines.split(separator: "\n").count == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path + "/watch/ws") == ["watched"])
    }
}
