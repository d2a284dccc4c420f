import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake
@_spi(Reference) import DreamlakeStore

/// The built `dreamlake` command, beside the test bundle in the build folder.
func dreamlakeCommand() throws -> String {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    let path = dir + "/dreamlake"
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw PythonFailed(status: -1, stderr: "the dreamlake command is not built at \(path): run swift build first")
    }
    return path
}

/// Starts the command (stderr discarded) and collects its stdout's lines as they come.
func startCommand(_ arguments: [String], environment: [String: String]? = nil) throws -> (Process, LineCollector) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try dreamlakeCommand())
    p.arguments = arguments
    if let environment { p.environment = environment }
    let stdout = Pipe()
    p.standardOutput = stdout
    p.standardError = FileHandle.nullDevice
    try p.run()
    return (p, LineCollector(stdout.fileHandleForReading))
}

/// Runs the command; returns its exit status, stdout and stderr.
func runCommand(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try dreamlakeCommand())
    p.arguments = arguments
    if let environment { p.environment = environment }
    let stdout = Pipe(), stderr = Pipe()
    p.standardOutput = stdout
    p.standardError = stderr
    try p.run()
    let errBox = Box()
    let drainer = Thread { errBox.set(stderr.fileHandleForReading.readDataToEndOfFile()) }
    drainer.start()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: errBox.wait(), as: UTF8.self))
}

@Suite struct CommandTests {
    @Test func exportAndImportCommandsRoundTripAndReportErrorsInOneLine() throws {
        let root = TempRoot()
        defer { root.remove() }
        try writeRichSession(root: root.path + "/store", points: 500)

        let export = try runCommand(["export", "--root", root.path + "/store", "--out", root.path + "/out"])
        #expect(export.status == 0, "\(export.err)")
        #expect(export.out.contains("exported \(root.path)/out/ws/rich: 504 points, 7 log entries, 2 files"))
        #expect(export.err.isEmpty)  // no progress bar when stderr is not a terminal

        let imported = try runCommand(["import", root.path + "/out", "--root", root.path + "/store2"])
        #expect(imported.status == 0, "\(imported.err)")
        #expect(imported.out == "imported ws/rich: 504 points, 7 log entries, 2 files\n")

        let again = try runCommand(["import", root.path + "/out/ws/rich", "--root", root.path + "/store2"])
        #expect(again.status == 1)
        #expect(again.err.hasPrefix("dreamlake: session ws/rich already exists"))
        #expect(again.err.split(separator: "\n").count == 1)

        let renamed = try runCommand(["import", root.path + "/out/ws/rich", "--root", root.path + "/store2", "--name", "copy"])
        #expect(renamed.status == 0, "\(renamed.err)")

        let second = try runCommand(["export", "--root", root.path + "/store2", "--out", root.path + "/out2", "ws/rich"])
        #expect(second.status == 0, "\(second.err)")
        let a = try tree(root.path + "/out/ws/rich"), b = try tree(root.path + "/out2/ws/rich")
        let same = a == b
        #expect(same)

        let missing = try runCommand(["export", "--root", root.path + "/store", "--out", root.path + "/o", "ws/nope"])
        #expect(missing.status == 1)
        let binary = URL(fileURLWithPath: try dreamlakeCommand()).standardizedFileURL.path
        #expect(missing.err == "dreamlake: there is no session ws/nope under \(root.path)/store; `\(binary) ls --root \(root.path)/store` lists them\n")

        let nothing = try runCommand(["import", root.path + "/store/ws/rich/segments", "--root", root.path + "/store3"])
        #expect(nothing.status == 1)
        #expect(nothing.err.contains("holds no dreamlake session"))
    }
}

@Suite struct InspectCommandTests {
    /// The demo's "Look further" lines run as printed, and the folder size it
    /// gives is the one `ls` shows.
    @Test func theDemosCommandsRunAsPrintedAndItsSizeIsTheOneLsShows() throws {
        let root = TempRoot()
        defer { root.remove() }
        let demo = try runCommand(["demo", "--root", root.path, "--points", "3000"])
        #expect(demo.status == 0, "\(demo.err)")
        let command = try dreamlakeCommand()
        let hints = demo.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix(URL(fileURLWithPath: command).standardizedFileURL.path + " ") }
        #expect(hints.count == 5, "\(demo.out)")
        for hint in hints where !hint.contains(" ui ") {  // ui serves until stopped
            let words = (hint.components(separatedBy: "#").first ?? "").split(separator: " ").map(String.init)
                .map { $0 == "DIR" ? root.path + "/exported" : $0 }
            let ran = try runCommand(Array(words.dropFirst()))
            #expect(ran.status == 0, "\(hint): \(ran.err)")
        }
        let ls = try runCommand(["ls", "--root", root.path, "--json"])
        let bytes = try PythonJSONReader.parse(Array(ls.out.utf8)).objectValue?["sessions"]?.arrayValue?.first?.objectValue?["bytes"]?.intValue
        #expect(bytes != nil && demo.out.contains("the session's folder holds \(bytes ?? -1) "), "\(demo.out)")
    }

    /// `show` leaves out fields never given, and draws a loss that falls over
    /// decades on a log scale, where a linear one would be one block and a flat line.
    @Test func showLeavesOutWhatWasNeverGivenAndDrawsDecadesOnALogScale() throws {
        let root = TempRoot()
        defer { root.remove() }
        try Session.with(name: "plain", workspace: "ws", localPath: root.path) { s in
            try s.track("loss").appendBatch(objects: (0..<10_000).map { ["value": .double(1 / Double($0 + 1)), "step": .int(Int64($0))] })
            try s.track("acc").appendBatch(objects: (0..<100).map { ["value": .double(Double($0) / 100)] })
        }
        let show = try runCommand(["show", "ws/plain", "--root", root.path])
        #expect(show.status == 0, "\(show.err)")
        #expect(!show.out.contains("null") && !show.out.contains("tags:"), "\(show.out)")
        let rows = show.out.split(separator: "\n")
        let loss = try #require(rows.first { $0.hasPrefix("  loss ") })
        let acc = try #require(rows.first { $0.hasPrefix("  acc ") })
        #expect(loss.contains(" (log)") && !acc.contains("(log)"), "\(show.out)")
        let blocks = Set(loss.filter { "▁▂▃▄▅▆▇█".contains($0) })
        #expect(blocks.count >= 5, "a 1/x loss on a log scale uses the whole height: \(loss)")
    }

    @Test func lsShowAndCatPrintWhatIsStored() throws {
        let root = TempRoot()
        defer { root.remove() }
        let store = root.path + "/store"
        try writeRichSession(root: store, points: 50)

        let ls = try runCommand(["ls", "--root", store])
        #expect(ls.status == 0, "\(ls.err)")
        let lines = ls.out.split(separator: "\n")
        #expect(lines.first?.hasPrefix("SESSION  TRACKS  POINTS  LOGS") == true)
        #expect(lines.count == 2)
        #expect(lines.last?.hasPrefix("ws/rich  2       54      7") == true)
        #expect(lines.last?.hasSuffix("every kind of record") == true)

        let lsJSON = try runCommand(["ls", "--root", store, "--json"])
        let sessions = try PythonJSONReader.parse(Array(lsJSON.out.utf8)).objectValue?["sessions"]?.arrayValue
        let entry = sessions?.first?.objectValue
        #expect(entry?["workspace"] == "ws")
        #expect(entry?["points"] == 54)
        #expect(entry?["logs"] == 7)
        #expect(entry?["tags"] == ["a", "ü"])

        let show = try runCommand(["show", "ws/rich", "--root", store, "--json"])
        #expect(show.status == 0, "\(show.err)")
        let doc = try PythonJSONReader.parse(Array(show.out.utf8)).objectValue
        #expect(doc?["parameters"]?.objectValue?["batch"] == 32)
        let tracks = doc?["tracks"]?.arrayValue?.compactMap(\.objectValue)
        #expect(tracks?.map { $0["name"] } == ["loss", "eval/mixed"])
        #expect(tracks?.first?["last"] == ["value": .double(1.0 / 50), "step": 49])
        #expect(doc?["log_count"] == 7)
        #expect(doc?["files"]?.arrayValue?.count == 1)
        let showText = try runCommand(["show", "ws/rich", "--root", store])
        #expect(showText.out.contains("  loss        50      0...49"))
        #expect(showText.out.contains("logs: 7, the last 5:"))

        // jsonl is exactly the exported data.jsonl; csv has the union of fields.
        try JSONLLayout.exportSession(at: store + "/ws/rich", to: root.path + "/out")
        let cat = try runCommand(["cat", "ws/rich", "--root", store, "--track", "eval/mixed"])
        #expect(cat.out == (try String(contentsOfFile: root.path + "/out/ws/rich/tracks/eval/mixed/data.jsonl", encoding: .utf8)))
        let csv = try runCommand(["cat", "ws/rich", "--root", store, "--track", "eval/mixed", "--format", "csv", "--limit", "2"])
        let csvLines = csv.out.split(separator: "\n")
        #expect(csvLines.first == "index,createdAt,value,step,phase,flag,none,big,small,ninf,negzero,ctl")
        #expect(csvLines.count == 3)
        #expect(csvLines[1].hasSuffix(",0.5,1,eval,,,,,,,"))
        let logs = try runCommand(["cat", "ws/rich", "--root", store, "--logs", "--level", "error", "--format", "table"])
        #expect(logs.out.split(separator: "\n").count == 3)  // header, error, fatal
        #expect(logs.out.contains("error  level error {\"k\": 3}"))
        let page = try runCommand(["cat", "ws/rich", "--root", store, "--track", "loss", "--start", "10", "--limit", "2"])
        #expect(page.out.split(separator: "\n").map { $0.prefix(14) } == [#"{"index": 10, "#, #"{"index": 11, "#])

        // --buckets: the envelope, a line a bucket (1/(i+1) falls, so each bucket's max is its first point).
        let envelope = try runCommand(["cat", "ws/rich", "--root", store, "--track", "loss", "--buckets", "5"])
        #expect(envelope.status == 0, "\(envelope.err)")
        let buckets = try envelope.out.split(separator: "\n").map { try PythonJSONReader.parse(Array($0.utf8)).objectValue ?? [:] }
        #expect(buckets.count == 5 && buckets.allSatisfy { $0["count"] == 10 })
        #expect(buckets.first?["first"] == ["index": 0, "value": 1.0] && buckets.first?["min"] == ["index": 9, "value": .double(1.0 / 10)])
        #expect(buckets.last?["end"] == 50 && buckets.last?["max"] == ["index": 40, "value": .double(1.0 / 41)])
        let envelopeCSV = try runCommand(["cat", "ws/rich", "--root", store, "--track", "loss", "--buckets", "2", "--start", "40", "--format", "csv"])
        #expect(envelopeCSV.out.split(separator: "\n").map(String.init) == [
            "start,end,count,first_index,first,last_index,last,min_index,min,max_index,max,nan,inf,-inf,missing",
            "40,45,5,40,\(PythonFormat.json(.double(1.0 / 41))),44,0.022222222222222223,44,0.022222222222222223,40,\(PythonFormat.json(.double(1.0 / 41))),0,0,0,0",
            "45,50,5,45,\(PythonFormat.json(.double(1.0 / 46))),49,0.02,49,0.02,45,\(PythonFormat.json(.double(1.0 / 46))),0,0,0,0",
        ])
        let noTrack = try runCommand(["cat", "ws/rich", "--root", store, "--logs", "--buckets", "5"])
        #expect(noTrack.status != 0 && noTrack.err.contains("--buckets goes with --track"))

        for (args, message) in [
            (["show", "ws/nope", "--root", store], "dreamlake: there is no session ws/nope under \(store)"),
            (["cat", "ws/rich", "--root", store, "--track", "nope"], "dreamlake: session ws/rich has no track nope"),
            (["show", "ws", "--root", store], "dreamlake: ws names a workspace; name a session as WORKSPACE/SESSION"),
            // A mistyped root is an error, not an empty list that passes a script's check.
            (["verify", "--root", store + "/typo"], "dreamlake: there is no folder \(store)/typo (--root)"),
            (["ls", "--root", store + "/typo"], "dreamlake: there is no folder \(store)/typo (--root)"),
        ] {
            let r = try runCommand(args)
            #expect(r.status == 1)
            #expect(r.err.hasPrefix(message), "\(r.err)")
            #expect(r.err.split(separator: "\n").count == 1)
        }
        // The hint a missing track gets runs as printed, with the root the user gave.
        let missing = try runCommand(["cat", "ws/rich", "--root", store, "--track", "nope"])
        let hint = try #require(missing.err.split(separator: "`").dropFirst().first).split(separator: " ").map(String.init)
        #expect(hint.first == URL(fileURLWithPath: try dreamlakeCommand()).standardizedFileURL.path, "the binary that ran, by its full path")
        let shown = try runCommand(Array(hint.dropFirst()))
        #expect(shown.status == 0 && shown.out.contains("loss"), "\(hint): \(shown.err)")
        let both = try runCommand(["cat", "ws/rich", "--root", store, "--track", "loss", "--logs"])
        #expect(both.status != 0)
        #expect(both.err.contains("give either --track NAME or --logs"))
    }

    @Test func tailFollowsPointsAWriterFlushesAfterItStarted() throws {
        let root = TempRoot()
        defer { root.remove() }
        let session = try Session(name: "live", workspace: "ws", localPath: root.path)
        try session.open()
        let loss = session.track("loss")
        for i in 0..<5 { try loss.append(value: Double(i), step: i) }
        try session.flush()

        let (p, reader) = try startCommand(["tail", "ws/live", "--root", root.path, "--track", "loss", "-n", "2", "--follow", "--interval", "20"])
        defer { if p.isRunning { p.terminate() } }
        #expect(reader.waitForLines(2), "the last two points first")
        for i in 5..<8 { try loss.append(value: Double(i), step: i) }
        try session.flush()
        #expect(reader.waitForLines(5), "then the three flushed after tail started: \(reader.lines)")
        let indexes = reader.lines.map { $0.prefix(12) }
        #expect(indexes == [#"{"index": 3,"#, #"{"index": 4,"#, #"{"index": 5,"#, #"{"index": 6,"#, #"{"index": 7,"#])
        p.terminate()
        p.waitUntilExit()
        try session.close()
    }

    /// `tail` prints in `cat`'s formats: the same CSV rows and table, and a
    /// CSV header before the first row when it follows a track not written yet.
    @Test func tailPrintsInCatsFormats() throws {
        let root = TempRoot()
        defer { root.remove() }
        let store = root.path + "/store"
        try writeRichSession(root: store, points: 50)
        let cat = try runCommand(["cat", "ws/rich", "--root", store, "--track", "loss", "--format", "csv"]).out.split(separator: "\n")
        let tail = try runCommand(["tail", "ws/rich", "--root", store, "--track", "loss", "--format", "csv", "-n", "3"])
        #expect(tail.status == 0 && tail.out.split(separator: "\n") == [cat[0]] + cat.suffix(3), "\(tail.out)")
        let catTable = try runCommand(["cat", "ws/rich", "--root", store, "--track", "loss", "--format", "table", "--start", "47"])
        let tailTable = try runCommand(["tail", "ws/rich", "--root", store, "--track", "loss", "--format", "table", "-n", "3"])
        #expect(tailTable.out == catTable.out && tailTable.out.hasPrefix("INDEX  CREATED AT"))
        let logs = try runCommand(["tail", "ws/rich", "--root", store, "--logs", "--format", "csv", "-n", "2"]).out
        let catLogs = try runCommand(["cat", "ws/rich", "--root", store, "--logs", "--format", "csv", "--start", "5"]).out
        #expect(logs.hasPrefix("sequenceNumber,timestamp,level,message,metadata\n") && logs == catLogs)
        let refused = try runCommand(["tail", "ws/rich", "--root", store, "--logs", "--format", "table", "--follow"])
        #expect(refused.status != 0 && refused.err.contains("cannot --follow"))

        let session = try Session(name: "live", workspace: "ws", localPath: root.path)
        try session.open()
        defer { try? session.close() }
        try session.log("no track yet")
        try session.flush()
        let (p, reader) = try startCommand(["tail", "ws/live", "--root", root.path, "--track", "acc", "--format", "csv", "--follow", "--interval", "20"])
        defer { if p.isRunning { p.terminate() } }
        // The points come once tail has the session open, so that it finds the track while following.
        let deadline = Date().addingTimeInterval(20)
        func opened() -> Bool {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(p.processIdentifier)/fd")) ?? []
            return fds.contains { fd in
                ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p.processIdentifier)/fd/\(fd)")) ?? "")
                    .hasPrefix(root.path + "/ws/live/")
            }
        }
        while !opened() && p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(opened(), "tail opened the session")
        for i in 0..<3 { try session.track("acc").append(["acc": 0.5 + Double(i) / 10, "step": i]) }
        try session.flush()
        #expect(reader.waitForLines(4, unlessExited: p), "\(reader.lines)")
        #expect(reader.lines.first == "index,createdAt,acc,step" && reader.lines.dropFirst().map { $0.split(separator: ",").first } == ["0", "1", "2"])
    }

    @Test func verifyFindsAFlippedByteAndNamesTheFileAndOffset() throws {
        let root = TempRoot()
        defer { root.remove() }
        try writeRichSession(root: root.path, points: 2000)
        let sound = try runCommand(["verify", "--root", root.path])
        #expect(sound.status == 0, "\(sound.err)")
        #expect(sound.out.hasPrefix("ws/rich: 1 segment, "))
        #expect(sound.out.contains("records") && sound.out.contains("sound"))

        // Flip one byte in the middle of the segment: inside some block's payload or header.
        let segments = root.path + "/ws/rich/segments"
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: segments).first { $0.hasSuffix(".dls") })
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: segments + "/" + name)))
        let at = bytes.count / 2
        // The block that holds it, by FORMAT.md: blocks lie end to end from offset 32, each 48 bytes of
        // header and the stored length (a u32 at header byte 8) of payload.
        var holder = 32
        while true {
            let stored = (8..<12).reduce(0) { $0 | Int(bytes[holder + $1]) << (8 * ($1 - 8)) }
            if at < holder + 48 + stored { break }
            holder += 48 + stored
        }
        bytes[at] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: segments + "/" + name))

        let damaged = try runCommand(["verify", "--root", root.path, "ws/rich"])
        #expect(damaged.status == 1)
        #expect(damaged.out.contains("DAMAGED"))
        #expect(damaged.out.contains("damage: "))
        #expect(damaged.out.contains(segments + "/" + name))
        #expect(damaged.err == "dreamlake: 1 of 1 session is damaged; see above for the files and byte offsets\n")
        // The offset named is that of the block holding the flipped byte.
        let offset = damaged.out.split(separator: "\n").first { $0.contains("damage:") }
            .flatMap { line in line.components(separatedBy: " at byte ").last?.split(separator: " ").first.flatMap { Int($0) } }
        #expect(offset == holder, "the damage named is at byte \(offset ?? -1); the flipped byte \(at) is in the block at \(holder)")
        // ls still lists the damaged session: its figures need no read of the damaged block (opening checks
        // no block it does not read; verify is what reads them all).
        let ls = try runCommand(["ls", "--root", root.path])
        #expect(ls.status == 0)
        #expect(ls.out.contains("ws/rich"), "\(ls.out)")
        // A session that does not open (its commit log's header damaged) is listed as one that cannot be read.
        let log = root.path + "/ws/rich/commits.dlc"
        let logBytes = try Data(contentsOf: URL(fileURLWithPath: log))
        var damagedLog = logBytes
        damagedLog[0] ^= 0xFF
        try damagedLog.write(to: URL(fileURLWithPath: log))
        let unreadable = try runCommand(["ls", "--root", root.path])
        #expect(unreadable.status == 0)
        #expect(unreadable.out.contains("ws/rich") && unreadable.out.contains("cannot be read: "), "\(unreadable.out)")
        try logBytes.write(to: URL(fileURLWithPath: log))

        // A torn tail (an unfinished write at the end) is reported, and the store is still sound.
        bytes[at] ^= 0x40
        bytes += [0x44, 0x4C, 0x42, 0x4B, 1, 2, 3]
        try Data(bytes).write(to: URL(fileURLWithPath: segments + "/" + name))
        let torn = try runCommand(["verify", "--root", root.path])
        #expect(torn.status == 0, "\(torn.out)")
        #expect(torn.out.contains("torn tail: 7 bytes"))

        let missing = try runCommand(["verify", "--root", root.path, "ws/nope"])
        #expect(missing.status == 1)
        #expect(missing.err.hasPrefix("dreamlake: there is no session ws/nope"))

        // A stored file's bytes changed (the same length): named, with what it holds and what was stored.
        #expect(torn.out.contains("stored files: 1 checked, all as stored"), "\(torn.out)")
        let stored = try #require(FileManager.default.enumerator(atPath: root.path + "/ws/rich/files")?.allObjects
            .compactMap { $0 as? String }.first { $0.hasPrefix("models/best/") && $0.hasSuffix("/upload.txt") })
        try Data("hello FILES\n".utf8).write(to: URL(fileURLWithPath: root.path + "/ws/rich/files/" + stored))
        let changed = try runCommand(["verify", "--root", root.path])
        #expect(changed.status == 1)
        #expect(changed.out.contains("stored files: 1 checked, 1 damaged:\n    \(root.path)/ws/rich/files/\(stored): 12 bytes with SHA-256 "), "\(changed.out)")
        #expect(changed.err.contains("1 of 1 session is damaged"))
    }
}

/// Collects a pipe's lines on a thread of its own, for a test to wait on.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []

    init(_ handle: FileHandle) {
        let fd = handle.fileDescriptor
        Thread { [self] in
            var pending: [UInt8] = []
            var raw = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = raw.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                pending += raw[0..<n]
                while let nl = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<nl], as: UTF8.self)
                    pending.removeSubrange(...nl)
                    lock.withLock { collected.append(line) }
                }
            }
        }.start()
    }

    var lines: [String] { lock.withLock { collected } }

    /// Waits until `n` lines have come, looking every 10 ms; gives up after
    /// 20 s (a bound for a stuck test, not a timing assertion).
    /// Stops waiting early, with false, when `process` has exited.
    func waitForLines(_ n: Int, unlessExited process: Process? = nil) -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while lines.count < n {
            if Date() > deadline { return false }
            if let process, !process.isRunning { return lines.count >= n }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return true
    }
}

@Suite struct BenchCommandTests {
    @Test func ingestReportsAndVerifyChecksEveryPoint() throws {
        let root = TempRoot()
        defer { root.remove() }
        let ingest = try runCommand(["bench", "ingest", "--points", "50000", "--root", root.path, "--json", "--print-durable",
                                     "--durability", "interval:5", "--latency"])
        #expect(ingest.status == 0, "\(ingest.err)")
        let lines = ingest.out.split(separator: "\n")
        let durable = lines.filter { $0.hasPrefix("durable ") }.compactMap { UInt64($0.dropFirst(8)) }
        #expect(durable.last == 50000)
        #expect(durable == durable.sorted() && Set(durable).count == durable.count, "durable counts only grow")
        let doc = try #require(try PythonJSONReader.parse(Array((lines.last ?? "").utf8)).objectValue)
        #expect(doc.keys.elements == ["points", "seconds", "points_per_second", "bytes_on_disk", "bytes_per_point",
                                      "p50_ns", "p99_ns", "p999_ns", "max_ns"])
        #expect(doc["points"] == 50000)
        let p50 = try #require(doc["p50_ns"]?.intValue), p99 = try #require(doc["p99_ns"]?.intValue)
        let max = try #require(doc["max_ns"]?.intValue)
        #expect(p50 <= p99 && p99 <= max)
        let bytes = try #require(doc["bytes_on_disk"]?.intValue)
        #expect(bytes > 0 && doc["bytes_per_point"]?.doubleValue == Double(bytes) / 50000)

        let verify = try runCommand(["bench", "verify", "--root", root.path])
        #expect(verify.status == 0, "\(verify.err)")
        #expect(verify.out == "50000\n")

        let text = try runCommand(["bench", "ingest", "--points", "1000", "--root", root.path])
        #expect(text.out.hasPrefix("bench/ingest: 1000 points in "))
        #expect(!text.out.contains("latency"), "without --latency no append is timed")
        #expect(try runCommand(["bench", "verify", "--root", root.path]).out == "1000\n")
        let untimed = try runCommand(["bench", "ingest", "--points", "1000", "--root", root.path, "--json"])
        let plain = try #require(try PythonJSONReader.parse(Array(untimed.out.utf8)).objectValue)
        #expect(plain.keys.elements == ["points", "seconds", "points_per_second", "bytes_on_disk", "bytes_per_point"])
        let timedText = try runCommand(["bench", "ingest", "--points", "1000", "--root", root.path, "--latency"])
        #expect(timedText.out.contains(", each append timed\nappend latency: p50 "))
    }

    @Test func verifyRefusesAWrongPointAndIngestRefusesALockedSession() throws {
        let root = TempRoot()
        defer { root.remove() }
        let missing = try runCommand(["bench", "verify", "--root", root.path])
        #expect(missing.status == 1)
        #expect(missing.err.hasPrefix("dreamlake: there is no bench/ingest session"))

        let session = try Session(name: "ingest", workspace: "bench", localPath: root.path)
        try session.open()
        let loss = session.track("loss")
        try loss.append(value: 2.0, step: 0)  // the reference value of point 0
        try loss.append(value: 0.5, step: 1)  // not the reference value of point 1
        try session.flush()
        // A second process writes the same session beside this one (as writer 1), into the same track.
        let beside = try runCommand(["bench", "ingest", "--resume", "--points", "10", "--root", root.path])
        #expect(beside.status == 0, "\(beside.err)")

        let wrong = try runCommand(["bench", "verify", "--root", root.path])
        #expect(wrong.status == 1)
        #expect(wrong.err.hasPrefix("dreamlake: point 1 is {\"value\": 0.5, \"step\": 1}, not {\"value\": "), "\(wrong.err)")
        try session.close()
    }

    /// The kill -9 loop: a child appends through the public API and reports
    /// each durable count over a pipe; it is killed at a random moment; the
    /// next round reopens (recovering what the kill left) and appends more.
    /// After every kill the session holds every point it said was durable,
    /// in order, without duplicates (`bench verify` checks points 0..<n
    /// exactly). `DREAMLAKE_KILL_ROUNDS` sets the rounds (20 by default;
    /// `scripts/kill-loop` runs 1,000 on a release build). The random choices
    /// (reports before the kill, delay) come from a seed every failure names;
    /// `DREAMLAKE_KILL_SEED` replays them (the child's own pace still varies).
    @Test func whatIngestSaidWasDurableSurvivesKill9() throws {
        let root = TempRoot()
        defer { root.remove() }
        let rounds = Int(ProcessInfo.processInfo.environment["DREAMLAKE_KILL_ROUNDS"] ?? "") ?? 20
        let seed = UInt64(ProcessInfo.processInfo.environment["DREAMLAKE_KILL_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        var survivedBefore: UInt64 = 0
        for r in 0..<rounds {
            let round = "\(r) (DREAMLAKE_KILL_SEED=\(seed))"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try dreamlakeCommand())
            // At most 50,000 points a round (a round may end before its kill): the debug build checks them at ~100,000 a second.
            p.arguments = ["bench", "ingest", "--points", "50000", "--root", root.path, "--print-durable",
                           "--durability", "interval:5"] + (r == 0 ? [] : ["--resume"])
            let stdout = Pipe()
            p.standardOutput = stdout
            p.standardError = FileHandle.nullDevice
            try p.run()
            let reader = LineCollector(stdout.fileHandleForReading)
            // Killed after 1 to 4 reports, and up to 20 ms more: in a write, an fsync, or between them.
            // (A round may finish its points first: then the kill finds it gone, and its last report is its total.)
            let reported = reader.waitForLines(Int.random(in: 1...4, using: &rng), unlessExited: p)
            #expect(reported || !p.isRunning, "round \(round): no report within 20 s")
            usleep(UInt32.random(in: 0...20_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let promised = reader.lines.compactMap { UInt64($0.dropFirst("durable ".count)) }.max() ?? 0
            #expect(promised >= survivedBefore, "round \(round): a resumed run starts from what survived")
            // The points before this round were checked in the rounds before; the last check reads them all again.
            let verify = try runCommand(["bench", "verify", "--root", root.path, "--from", String(survivedBefore)])
            #expect(verify.status == 0, "round \(round): \(verify.err)")
            let survived = try #require(UInt64(verify.out.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(survived >= promised, "round \(round): \(promised) points were said to be durable, \(survived) survived")
            survivedBefore = survived
        }
        let all = try runCommand(["bench", "verify", "--root", root.path])
        #expect(all.status == 0 && all.out == "\(survivedBefore)\n", "\(all.err)")
        let check = try runCommand(["verify", "--root", root.path])
        #expect(check.status == 0, "\(check.out)")
    }
}

/// Several processes writing one session (issue 17): real processes of the
/// `dreamlake` command, each its own writer.
@Suite struct ManyProcessesTests {
    /// Each track's points, read back through the engine as a reader beside the writers would.
    private func points(_ store: DreamlakeStore.Store, _ name: String) throws -> [(value: Double, step: Int64)] {
        guard let id = store.trackInfo(named: name)?.id else { return [] }
        return try store.points(of: id, from: 0, limit: .max).map { ($0.data["value"]?.doubleValue ?? .nan, $0.data["step"]?.intValue ?? -1) }
    }

    private func isTheWorkload(_ p: [(value: Double, step: Int64)], from: Int = 0) -> Bool {
        p.enumerated().allSatisfy { i, point in
            point.step == Int64(from + i) && point.value.bitPattern == ReferenceWorkload.value(from + i).bitPattern
        }
    }

    @Test func processesWriteOneSessionIntoTheirOwnTracksOrOneTrack() throws {
        let root = TempRoot()
        defer { root.remove() }
        let own = try runCommand(["bench", "ingest", "--root", root.path, "--points", "20000", "--processes", "4"])
        #expect(own.status == 0, "\(own.err)")
        let dir = root.path + "/bench/ingest"
        do {
            let store = try DreamlakeStore.Store(directory: dir, access: .read)
            defer { try? store.close() }
            #expect(store.tracks().map(\.name).sorted() == ["loss-0", "loss-1", "loss-2", "loss-3"])
            for k in 0..<4 {
                let p = try points(store, "loss-\(k)")
                #expect(p.count == 20000 && isTheWorkload(p), "loss-\(k): \(p.count) points")
            }
        }
        let shared = try runCommand(["bench", "ingest", "--root", root.path, "--points", "20000", "--processes", "4", "--shared-track"])
        #expect(shared.status == 0, "\(shared.err)")
        let store = try DreamlakeStore.Store(directory: dir, access: .read)
        defer { try? store.close() }
        let p = try points(store, "loss")
        // One track of every process's points: each step four times, with its value.
        #expect(p.count == 80000)
        var seen = [Int](repeating: 0, count: 20000)
        for point in p where point.step >= 0 && point.step < 20000 && point.value.bitPattern == ReferenceWorkload.value(Int(point.step)).bitPattern {
            seen[Int(point.step)] += 1
        }
        #expect(seen.allSatisfy { $0 == 4 })
        #expect(try runCommand(["verify", "--root", root.path]).status == 0)
    }

    @Test func aWriterKilledWithSignal9CostsTheOthersAndItsDurablePointsNothing() throws {
        let root = TempRoot()
        defer { root.remove() }
        let dir = root.path + "/bench/ingest"
        let made = try runCommand(["bench", "ingest", "--root", root.path, "--points", "1"])
        #expect(made.status == 0)
        var children: [(Process, LineCollector)] = []
        for k in 0..<4 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try dreamlakeCommand())
            p.arguments = ["bench", "ingest", "--root", root.path, "--rank", String(k), "--points", "400000", "--print-durable",
                           "--durability", "interval:5"]
            let stdout = Pipe()
            p.standardOutput = stdout
            p.standardError = FileHandle.nullDevice
            try p.run()
            children.append((p, LineCollector(stdout.fileHandleForReading)))
        }
        // A reader follows them: what it has seen at an index stays there, and more comes.
        let reader = try DreamlakeStore.Store(directory: dir, access: .read)
        defer { try? reader.close() }
        var seen = [Int](repeating: 0, count: 4)
        var checks = 0
        func check() throws {
            try reader.refresh()
            for k in 0..<4 {
                guard let id = reader.trackInfo(named: "loss-\(k)")?.id else { continue }
                let from = max(0, seen[k] - 1)
                let p = try reader.points(of: id, from: UInt64(from), limit: .max)
                    .map { ($0.data["value"]?.doubleValue ?? .nan, $0.data["step"]?.intValue ?? -1) }
                #expect(from + p.count >= seen[k] && isTheWorkload(p, from: from), "loss-\(k) while written")
                seen[k] = from + p.count
            }
            checks += 1
        }
        let (victim, lines) = children[1]
        while lines.lines.count < 2 && victim.isRunning { try check() }
        #expect(lines.lines.count >= 2, "rank 1 reported nothing durable")
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        while children.contains(where: { $0.0.isRunning }) { try check() }
        for (p, _) in children { p.waitUntilExit() }
        #expect(checks > 0)
        let promised = lines.lines.compactMap { Int($0.dropFirst("durable ".count)) }.max() ?? 0
        try reader.refresh()
        for k in 0..<4 {
            let p = try points(reader, "loss-\(k)")
            #expect(isTheWorkload(p), "loss-\(k)")
            if k == 1 {
                #expect(p.count >= promised, "rank 1 said \(promised) points were durable; \(p.count) are there")
            } else {
                #expect(p.count == 400000, "loss-\(k) has \(p.count) points")
            }
        }
        // The killed rank comes back, takes its slot over, and goes on where its track ends.
        let before = try points(reader, "loss-1").count
        let again = try runCommand(["bench", "ingest", "--root", root.path, "--rank", "1", "--resume", "--points", "1000"])
        #expect(again.status == 0, "\(again.err)")
        try reader.refresh()
        let after = try points(reader, "loss-1")
        #expect(after.count == before + 1000)
        #expect(try runCommand(["verify", "--root", root.path]).status == 0)
    }
}
