import DreamlakeTestSupport
import Foundation
import Glibc
import Testing
@testable import Dreamlake

// Issue 15 above the engine: links and special files in a session's files/
// folder or in an import source are refused by name and never written or
// read through; timestamps of any value print without trapping.

@Suite struct HostileInputTests {
    /// A session with one uploaded file, closed; returns its folder and the stored file's path inside it.
    private func sessionWithFile(_ root: TempRoot) throws -> (folder: String, stored: String, id: String) {
        let session = try Session(name: "s", workspace: "ws", localPath: root.path)
        try session.open()
        let source = root.path + "/upload.txt"
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: source))
        let file = try session.files.upload(source, path: "/models")
        try session.close()
        let folder = root.path + "/ws/s"
        return (folder, folder + "/files/models/\(file.id)/upload.txt", file.id)
    }

    @Test func aStoredFileReplacedByALinkIsNeitherServedNorExported() throws {
        let root = TempRoot()
        defer { root.remove() }
        let outside = TempRoot("outside")
        defer { outside.remove() }
        let secret = outside.path + "/secret"
        try Data("host secret\n".utf8).write(to: URL(fileURLWithPath: secret))
        let (folder, stored, id) = try sessionWithFile(root)
        try FileManager.default.removeItem(atPath: stored)
        try FileManager.default.createSymbolicLink(atPath: stored, withDestinationPath: secret)

        let session = try Session(name: "s", workspace: "ws", localPath: root.path)
        try session.open()
        #expect { try session.files.download(id, to: root.path + "/out.txt") } throws: {
            ($0 as? DreamlakeError)?.message.contains("symbolic link") == true
        }
        #expect((try? String(contentsOfFile: root.path + "/out.txt", encoding: .utf8))?.contains("secret") != true)
        try session.close()
        #expect { try JSONLLayout.exportSession(at: folder, to: root.path + "/export") } throws: {
            ($0 as? DreamlakeError)?.message.contains(stored) == true
        }
        #expect(try tree(root.path + "/export").values.allSatisfy { !String(decoding: $0, as: UTF8.self).contains("host secret") })
    }

    @Test func aLinkedFilesFolderTakesNoUpload() throws {
        let root = TempRoot()
        defer { root.remove() }
        let outside = TempRoot("outside")
        defer { outside.remove() }
        let (folder, _, _) = try sessionWithFile(root)
        try FileManager.default.removeItem(atPath: folder + "/files")
        try FileManager.default.createSymbolicLink(atPath: folder + "/files", withDestinationPath: outside.path)
        let session = try Session(name: "s", workspace: "ws", localPath: root.path)
        try session.open()
        defer { try? session.close() }
        #expect { try session.files.upload(root.path + "/upload.txt") } throws: {
            ($0 as? DreamlakeError)?.message.contains(folder + "/files") == true
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path).isEmpty)
    }

    @Test func importRefusesLinksAndSpecialFilesByName() throws {
        let root = TempRoot()
        defer { root.remove() }
        let outside = TempRoot("outside")
        defer { outside.remove() }
        try writeRichSession(root: root.path)
        let exported = root.path + "/export"
        try JSONLLayout.exportSession(at: root.path + "/ws/rich", to: exported)
        let source = exported + "/ws/rich"
        let fm = FileManager.default

        // A link among the files: its target's bytes must not come in.
        let filesCopy = root.path + "/files-link"
        try fm.copyItem(atPath: source, toPath: filesCopy)
        let someFile = try #require(tree(filesCopy + "/files").keys.first { !$0.hasSuffix(".json") })
        try Data("outside bytes".utf8).write(to: URL(fileURLWithPath: outside.path + "/f"))
        try fm.removeItem(atPath: filesCopy + "/files/" + someFile)
        try fm.createSymbolicLink(atPath: filesCopy + "/files/" + someFile, withDestinationPath: outside.path + "/f")
        #expect { try JSONLLayout.importSession(from: filesCopy, into: root.path + "/in", name: "a") } throws: {
            ($0 as? DreamlakeError)?.path == filesCopy + "/files/" + someFile
        }

        // tracks/ as a link: an error, not "0 points".
        let tracksCopy = root.path + "/tracks-link"
        try fm.copyItem(atPath: source, toPath: tracksCopy)
        try fm.moveItem(atPath: tracksCopy + "/tracks", toPath: outside.path + "/tracks")
        try fm.createSymbolicLink(atPath: tracksCopy + "/tracks", withDestinationPath: outside.path + "/tracks")
        #expect { try JSONLLayout.importSession(from: tracksCopy, into: root.path + "/in", name: "b") } throws: {
            ($0 as? DreamlakeError)?.path == tracksCopy + "/tracks"
        }

        // A FIFO as a track's data: refused at once, not waited on.
        let fifoCopy = root.path + "/fifo"
        try fm.copyItem(atPath: source, toPath: fifoCopy)
        try fm.removeItem(atPath: fifoCopy + "/tracks/loss/data.jsonl")
        #expect(mkfifo(fifoCopy + "/tracks/loss/data.jsonl", 0o644) == 0)
        #expect { try JSONLLayout.importSession(from: fifoCopy, into: root.path + "/in", name: "c") } throws: {
            ($0 as? DreamlakeError)?.message.contains("FIFO") == true
        }
        #expect(!fm.fileExists(atPath: root.path + "/in/ws"), "a refused import leaves nothing")
    }

    @Test func timestampsOfAnyValuePrintWithoutTrapping() {
        #expect(Timestamps.iso(micros: 0) == "1970-01-01T00:00:00Z")
        #expect(Timestamps.iso(micros: -1) == "1969-12-31T23:59:59.999999Z")
        for micros in [Int64.min, .min + 1, -9_223_372_036_854_775_000, .max, .max - 1] {
            let text = Timestamps.iso(micros: micros)
            #expect(text.hasSuffix("Z") && text.count > 20, "\(micros): \(text)")
        }
        #expect(Timestamps.iso(micros: .min) == "-290308-12-21T19:59:05.224192Z")  // by Python's calendar, shifted by 400-year cycles
    }

    @Test func pointsAtTheExtremeTimestampsExportAndShow() throws {
        let root = TempRoot()
        defer { root.remove() }
        let store = try Store(directory: root.path + "/ws/s")
        let t = try store.track(named: "t")
        try t.append(["v": .int(1)], timestamp: .min)
        try t.append(["v": .int(2)], timestamp: .max)
        try store.close()
        try JSONLLayout.exportSession(at: root.path + "/ws/s", to: root.path + "/out")
        let data = try String(contentsOfFile: root.path + "/out/ws/s/tracks/t/data.jsonl", encoding: .utf8)
        #expect(data.contains("-290308-12-21T19:59:05.224192Z"), "\(data)")
    }

    @Test func aRemoteCursorThatIsALinkIsNeitherReadNorWrittenThrough() throws {
        let root = TempRoot()
        defer { root.remove() }
        let outside = TempRoot("outside")
        defer { outside.remove() }
        let target = outside.path + "/cursor"
        let doc = #"{"server": "http://s", "sessionId": "1", "parameters": 0, "logs": 7, "tracks": {}, "fileRecords": 0, "fileIds": {}}"#
        try Data(doc.utf8).write(to: URL(fileURLWithPath: target))
        #expect(RemoteReplica.loadCursor(target, server: "http://s")?.logs == 7, "the file itself reads")
        try FileManager.default.createSymbolicLink(atPath: root.path + "/remote.json", withDestinationPath: target)
        #expect(RemoteReplica.loadCursor(root.path + "/remote.json", server: "http://s") == nil)
        // Replacing it replaces the link, not what it points to.
        try FileManager.default.createSymbolicLink(atPath: root.path + "/remote.json.tmp", withDestinationPath: target)
        try FileSystem.replaceAtomically(root.path + "/remote.json", with: Array("{}".utf8), durable: false)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == doc)
        #expect(FileSystem.kind(root.path + "/remote.json") == .regular)
    }

    // MARK: Import (class 6)

    /// A minimal session folder in Python dreamlake's layout.
    private func pythonSession(_ folder: String, sessionJSON: String? = nil, logLine: String? = nil) throws {
        try FileManager.default.createDirectory(atPath: folder + "/logs", withIntermediateDirectories: true)
        if let sessionJSON { try Data(sessionJSON.utf8).write(to: URL(fileURLWithPath: folder + "/session.json")) }
        if let logLine { try Data((logLine + "\n").utf8).write(to: URL(fileURLWithPath: folder + "/logs/logs.jsonl")) }
    }

    @Test func aKilledImportsStagingFolderIsRemovedByTheNextImport() throws {
        let root = TempRoot()
        defer { root.remove() }
        // A process that has ended: its pid names the staging folder a kill -9 would have left.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let store = root.path + "/store"
        let abandoned = store + "/ws/.ingest.import-\(gone.processIdentifier)"
        let running = store + "/ws/.other.import-\(getppid())"  // a live process's import is left alone
        for dir in [abandoned, running] {
            try FileManager.default.createDirectory(atPath: dir + "/segments", withIntermediateDirectories: true)
        }
        try pythonSession(root.path + "/src/ws/next", logLine: #"{"sequenceNumber": 0, "timestamp": "2026-11-25T11:17:49.610107Z", "level": "info", "message": "m"}"#)
        try JSONLLayout.importSession(from: root.path + "/src/ws/next", into: store)
        #expect(!FileManager.default.fileExists(atPath: abandoned))
        #expect(FileManager.default.fileExists(atPath: running))
        #expect(try Session.all(localPath: store).map { "\($0.workspace)/\($0.name)" } == ["ws/next"])
    }

    @Test func namesTheStoreReservesAreRefused() throws {
        let root = TempRoot()
        defer { root.remove() }
        for (ws, name) in [(".uploads", "s"), ("ws", ".hidden")] {
            let src = root.path + "/src-\(ws)-\(name)"
            try pythonSession(src, sessionJSON: #"{"name": "\#(name)", "workspace": "\#(ws)"}"#)
            #expect { try JSONLLayout.importSession(from: src, into: root.path + "/store") } throws: {
                ($0 as? DreamlakeError)?.code == .invalidName
            }
            #expect(throws: DreamlakeError.self) { try Session(name: name, workspace: ws, localPath: root.path + "/store") }
        }
        #expect(!FileManager.default.fileExists(atPath: root.path + "/store/.uploads"))
    }

    @Test func aLogLineOverTheRecordLimitIsRefusedNamingTheLimitFileAndLine() throws {
        let root = TempRoot()
        defer { root.remove() }
        let message = String(repeating: "x", count: 5 << 20)
        try pythonSession(root.path + "/src/ws/big", logLine: #"{"sequenceNumber": 0, "timestamp": "2026-11-25T11:17:49.610107Z", "level": "info", "message": "\#(message)"}"#)
        do {
            try JSONLLayout.importSession(from: root.path + "/src/ws/big", into: root.path + "/store")
            Issue.record("a 5 MiB log line was imported")
        } catch {
            #expect(error.message.contains("4194304") && error.path?.hasSuffix("logs/logs.jsonl") == true && error.line == 1,
                    "\(error.message) \(error.path ?? "") \(error.line ?? 0)")
        }
        #expect(try Session.all(localPath: root.path + "/store").isEmpty)
    }

    /// A file the store writes that is a hard link to a file outside it (which `O_NOFOLLOW` does not
    /// see): the writer-slot lock, the segment a resumed writer appends to. Opening refuses it by
    /// name, and the outside file is not written.
    @Test(arguments: ["writer-0000.lock", "segments/w0000-00000001.dls"])
    func aHardLinkInAStoreIsNotWrittenThrough(_ linked: String) throws {
        let root = TempRoot()
        defer { root.remove() }
        let outside = TempRoot("outside")
        defer { outside.remove() }
        try Session.with(name: "s", workspace: "ws", localPath: root.path) { s throws in
            try s.track("loss").append(value: 0.5, step: 1)
        }
        let inside = root.path + "/ws/s/" + linked
        let victim = outside.path + "/victim"
        // The segment as it was (so that the store reads it and would append to it); any bytes for the lock.
        let original = linked.hasSuffix(".lock") ? Data("precious\n".utf8) : try Data(contentsOf: URL(fileURLWithPath: inside))
        try original.write(to: URL(fileURLWithPath: victim))
        try FileManager.default.removeItem(atPath: inside)
        #expect(Glibc.link(victim, inside) == 0)
        let session = try Session(name: "s", workspace: "ws", localPath: root.path)
        #expect { try session.open() } throws: {
            let message = ($0 as? DreamlakeError)?.message ?? "\($0)"
            return message.contains(inside) && message.contains("hard link")
        }
        if session.isOpen {
            try session.track("loss").append(value: 0.25, step: 2)
            try session.close()
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == original, "the file outside the store is as it was")
    }

    /// The files an export writes (into a staging folder it makes afresh, so this is the second
    /// guard): a hard link, a symbolic link or a FIFO at the place is refused by name before a byte
    /// is written, and the file it names elsewhere is left as it was.
    @Test func anExportFileNeverWritesThroughALink() throws {
        let root = TempRoot()
        defer { root.remove() }
        let victim = root.path + "/victim"
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
        #expect(Glibc.link(victim, root.path + "/hard.jsonl") == 0)
        try FileManager.default.createSymbolicLink(atPath: root.path + "/soft.jsonl", withDestinationPath: victim)
        #expect(mkfifo(root.path + "/fifo.jsonl", 0o644) == 0)
        for name in ["hard.jsonl", "soft.jsonl", "fifo.jsonl"] {
            #expect(throws: DreamlakeError.self, "\(name)") { _ = try OutputFile(path: root.path + "/" + name) }
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        let plain = try OutputFile(path: root.path + "/plain.jsonl")
        plain.buffer.append(contentsOf: Array("line\n".utf8))
        try plain.close()
        #expect(try String(contentsOfFile: root.path + "/plain.jsonl", encoding: .utf8) == "line\n")
    }

    /// Files other tools wrote: a valid ISO 8601 time in another form than Python dreamlake's is
    /// imported as the instant it names (an offset taken away, a fraction kept to the microsecond),
    /// and said once a file, since an export writes Python's form; a time with no zone is refused.
    @Test func timesInOtherISO8601FormsAreImportedAndSaidOnce() throws {
        let root = TempRoot()
        defer { root.remove() }
        let src = root.path + "/src/ws/other"
        try pythonSession(src)
        let times = ["2026-01-01T00:00:00.000000Z", "2026-01-01T01:00:00.5+01:00", "2026-01-01 00:00:01z",
                     "2026-01-01T00:00:02.1234567Z", "2025-12-31T19:00:03-0500", "2026-11-25T11:17:49.610107Z"]
        let lines = times.enumerated().map { k, t in #"{"sequenceNumber": \#(k), "timestamp": "\#(t)", "level": "info", "message": "m\#(k)"}"# }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: src + "/logs/logs.jsonl"))
        let report = try JSONLLayout.importSession(from: src, into: root.path + "/store")
        #expect(report.inexact.filter { $0.contains("another form") }.count == 1 && report.inexact.contains { $0.contains("logs.jsonl:1") }, "\(report.inexact)")
        try Session.with(name: "other", workspace: "ws", localPath: root.path + "/store") { s throws in
            #expect(try s.logs().map { Timestamps.iso(micros: $0.timestamp) } == [
                "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.500000Z", "2026-01-01T00:00:01Z",
                "2026-01-01T00:00:02.123456Z", "2026-01-01T00:00:03Z", "2026-11-25T11:17:49.610107Z"])
        }
        let bad = root.path + "/src/ws/zoneless"
        try pythonSession(bad, logLine: #"{"sequenceNumber": 0, "timestamp": "2026-01-01T00:00:00", "level": "info", "message": "m"}"#)
        #expect { try JSONLLayout.importSession(from: bad, into: root.path + "/store") } throws: {
            ($0 as? DreamlakeError)?.message.contains("with its zone") == true && ($0 as? DreamlakeError)?.line == 1
        }
    }
}
