import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeStore

/// Several writers on one store (FORMAT.md, "Commit log"): each writes its
/// own segments, and the commit log puts their blocks in one order.
@Suite struct ManyWritersTests {
    /// Small blocks, so that a few thousand points make many commits.
    static let configuration: StoreConfiguration = {
        var c = StoreConfiguration(durability: .buffered)
        c.maxRecordsPerBlock = 50
        c.segmentSize = 16 << 10
        return c
    }()

    /// Track `t` with points 0..<n, `{"value": i, "step": i}`, by one writer that then closes.
    static func writeSteps(_ n: Int, to dir: TempDirectory) throws {
        let s = try Store(directory: dir.path, configuration: configuration)
        let t = try s.track(named: "t")
        for i in 0..<n { try t.append(value: Double(i), step: Int64(i)) }
        try s.close()
    }

    @Test func severalWritersWriteOneStoreThatReadsAsOne() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let writers = try (0..<4).map { _ in try Store(directory: dir.path, configuration: Self.configuration) }
        #expect(Set(writers.compactMap(\.writerID)) == [0, 1, 2, 3])
        let reader = try Store(directory: dir.path, access: .read, configuration: Self.configuration)
        defer { try? reader.close() }
        let perWriter = 2000
        let done = Locked(0)
        let failures = Locked<[String]>([])
        // A reader looks again and again while they write: once it has seen a point at an index, it sees the same point there.
        let watcher = Thread {
            var seen: [TrackPoint] = []
            while done.withLock({ $0 }) < writers.count {
                do {
                    try reader.refresh()
                    guard let id = reader.trackInfo(named: "shared")?.id else { continue }
                    let now = try reader.points(of: id, from: 0, limit: .max)
                    if now.count < seen.count || Array(now.prefix(seen.count)) != seen {
                        failures.withLock { $0.append("a point seen before moved or went: \(seen.count) then \(now.count)") }
                    }
                    seen = now
                } catch {
                    failures.withLock { $0.append("the reader failed: \(error)") }
                }
            }
        }
        watcher.start()
        DispatchQueue.concurrentPerform(iterations: writers.count) { k in
            let store = writers[k]
            do {
                let w = Int(store.writerID!)
                let shared = try store.track(named: "shared")
                let own = try store.track(named: "own-\(w)")
                for i in 0..<perWriter {
                    // The index an append returns is the point's place among this writer's points.
                    let index = try shared.append(["value": .double(Double(w * 1_000_000 + i)), "step": .int(Int64(i))])
                    if index != UInt64(i) { failures.withLock { $0.append("writer \(w)'s point \(i) got index \(index)") } }
                    if i % 4 == 0 { try own.append(value: Double(i), step: Int64(i)) }
                    if i % 10 == 0 { try store.appendLog("writer \(w) line \(i / 10)") }
                }
                try store.appendParameters(["writer-\(w)": .int(Int64(w)), "common": .int(Int64(w))])
                try store.close()
            } catch {
                failures.withLock { $0.append("writer \(k) failed: \(error)") }
            }
            done.withLock { $0 += 1 }
        }
        while !watcher.isFinished { usleep(1000) }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")

        let after = try Store(directory: dir.path, access: .read)
        defer { try? after.close() }
        let tracks = after.tracks()
        #expect(tracks.map(\.name).sorted() == ["own-0", "own-1", "own-2", "own-3", "shared"])
        let shared = try #require(after.trackInfo(named: "shared"))
        #expect(shared.count == UInt64(perWriter * writers.count))
        let points = try after.points(of: shared.id, from: 0, limit: .max)
        #expect(points.count == perWriter * writers.count)
        // Each writer's points are all there, in its order.
        for w in 0..<writers.count {
            let mine = points.compactMap { $0.data["value"]?.doubleValue }.filter { Int($0) / 1_000_000 == w }
            #expect(mine == (0..<perWriter).map { Double(w * 1_000_000 + $0) }, "writer \(w)")
        }
        for w in 0..<writers.count {
            #expect(after.trackInfo(named: "own-\(w)")?.count == UInt64(perWriter / 4))
        }
        let logs = try after.logs()
        #expect(logs.map(\.sequence) == (0..<UInt64(logs.count)).map { $0 })
        #expect(logs.count == writers.count * perWriter / 10)
        for w in 0..<writers.count {
            let mine = logs.map(\.message).filter { $0.hasPrefix("writer \(w) ") }
            #expect(mine == (0..<(perWriter / 10)).map { "writer \(w) line \($0)" })
        }
        #expect(try after.parameterUpdates().count == writers.count)
        #expect(try Store.verify(directory: dir.path).isSound)
    }

    @Test func aTrackDefinedByTwoWritersIsOneTrack() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let a = try Store(directory: dir.path, configuration: Self.configuration)
        let b = try Store(directory: dir.path, configuration: Self.configuration)
        let ta = try a.track(named: "loss", fields: ["unit": "nats"])
        let tb = try b.track(named: "loss")
        #expect(ta.id == tb.id)
        try ta.append(value: 1, step: 0)
        try tb.append(value: 2, step: 0)
        try tb.append(value: 3, step: 1)
        // Each writer counts its own appends before they are committed, and reads the other's once they are.
        #expect(a.count(of: .track(ta.id)) == 1)
        try a.flush()
        try b.flush()
        try a.refresh()
        #expect(a.count(of: .track(ta.id)) == 3)
        try a.close()
        try b.close()
        let r = try Store(directory: dir.path, access: .read)
        defer { try? r.close() }
        #expect(r.tracks().count == 1)
        #expect(r.tracks().first?.name == "loss" && r.tracks().first?.fields["unit"] == "nats")
        #expect(try r.points(of: ta.id, from: 0, limit: 10).compactMap { $0.data["value"]?.doubleValue } == [1, 2, 3])
    }

    @Test func aBlockWrittenButNotCommittedIsNeitherReadNorKept() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try Self.writeSteps(100, to: dir)
        // A writer killed between writing a block and committing it leaves a sound block no record names.
        let seg = try #require(dir.segmentFiles().last)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: seg)))
        let sound = bytes.count
        let last = try #require(try SegmentScanner.scan(File.open(seg, .readOnly), segment: SegmentID(writer: 0, number: 1)).blocks.last)
        bytes += bytes[Int(last.offset)..<Int(last.offset + UInt64(last.length))]
        try Data(bytes).write(to: URL(fileURLWithPath: seg))
        let r = try Store(directory: dir.path, access: .read)
        #expect(r.count(of: .track(TrackID(rawValue: 0))) == 100)
        try r.close()
        let verify = try Store.verify(directory: dir.path)
        #expect(verify.isSound && verify.tornTails.map(\.offset) == [UInt64(sound)], "\(verify)")
        let w = try Store(directory: dir.path, configuration: Self.configuration, writer: 0)
        #expect(w.recoveryReport.tornTails == [.init(path: seg, offset: UInt64(sound), bytesDropped: UInt64(last.length))])
        #expect(try w.track(named: "t").append(value: 100, step: 100) == 100)
        try w.close()
        let again = try Store(directory: dir.path, access: .read)
        defer { try? again.close() }
        #expect(try again.points(of: TrackID(rawValue: 0), from: 0, limit: 1000).map { $0.data["step"]?.intValue } == (0...100).map { Int64($0) })
    }

    @Test func aTornCommitRecordIsNotReadAndTheNextWriterCutsIt() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try Self.writeSteps(100, to: dir)
        let logPath = dir.path + "/" + CommitLog.fileName
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: logPath)))
        // The first 20 bytes of the last record again: a record whose writing did not finish.
        let recordSize = CommitLog.recordPrefix + CommitLog.blockRecordLength
        try Data(whole + whole[(whole.count - recordSize)..<(whole.count - recordSize + 20)]).write(to: URL(fileURLWithPath: logPath))
        let r = try Store(directory: dir.path, access: .read)
        #expect(r.count(of: .track(TrackID(rawValue: 0))) == 100)
        try r.close()
        let w = try Store(directory: dir.path, configuration: Self.configuration)
        #expect(w.recoveryReport.tornTails == [.init(path: logPath, offset: UInt64(whole.count), bytesDropped: 20)])
        try w.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: logPath)).count == whole.count)

        // A record damaged before others is damage: named, with its offset.
        var damaged = whole
        damaged[CommitLog.headerSize + 10] ^= 0x20
        try Data(damaged).write(to: URL(fileURLWithPath: logPath))
        #expect {
            try Store(directory: dir.path, access: .read)
        } throws: { error in
            guard let e = error as? StoreError else { return false }
            return e.code == .corrupt && e.path == logPath && e.offset == UInt64(CommitLog.headerSize)
        }
        var salvage = StoreConfiguration()
        salvage.recovery = .salvage
        let s = try Store(directory: dir.path, access: .read, configuration: salvage)
        #expect(s.recoveryReport.damage.first?.path == logPath)
        try s.close()
    }

    /// The records of a commit log, as (offset, length with its prefix).
    static func records(_ log: [UInt8]) -> [(offset: Int, size: Int)] {
        var out: [(Int, Int)] = []
        var at = CommitLog.headerSize
        while at + CommitLog.recordPrefix <= log.count {
            let length = Int(log[at]) | Int(log[at + 1]) << 8 | Int(log[at + 2]) << 16 | Int(log[at + 3]) << 24
            out.append((at, CommitLog.recordPrefix + length))
            at += CommitLog.recordPrefix + length
        }
        return out
    }

    /// A last record whose checksum fails is a torn write only when a power loss can explain it: a
    /// disk writes a 512-byte sector whole, so a record inside one sector was written whole and has
    /// changed since. It may have committed blocks: damage, named, and nothing is cut; a record that
    /// spans two sectors may have been left half written, and is cut as a torn tail.
    @Test func aLastRecordThatFailsItsChecksumIsTornOnlyWhereAPowerLossCouldTearIt() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try Self.writeSteps(1000, to: dir)  // blocks of 50 points: 20 block records and more, past byte 512
        let logPath = dir.path + "/" + CommitLog.fileName
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: logPath)))
        let records = Self.records(whole)
        func oneSector(_ r: (offset: Int, size: Int)) -> Bool { r.offset / 512 == (r.offset + r.size - 1) / 512 }
        let inside = try #require(records.last(where: oneSector))
        let spanning = try #require(records.first(where: { !oneSector($0) }))
        let seg = try #require(dir.segmentFiles().last)
        let segmentBefore = try Data(contentsOf: URL(fileURLWithPath: seg))

        // Inside one sector: damage for every reader and writer, the log and the segment left as they were.
        var rotted = Array(whole[0..<(inside.offset + inside.size)])
        rotted[inside.offset + inside.size - 3] ^= 0x01
        try Data(rotted).write(to: URL(fileURLWithPath: logPath))
        for access in [Store.Access.read, .write] {
            #expect {
                try Store(directory: dir.path, access: access, configuration: Self.configuration)
            } throws: { error in
                let e = error as? StoreError
                return e?.code == .corrupt && e?.path == logPath && e?.offset == UInt64(inside.offset)
            }
        }
        let report = try Store.verify(directory: dir.path)
        #expect(!report.isSound && report.damage.first?.path == logPath && report.tornTails.allSatisfy { $0.path != seg }, "\(report)")
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: logPath))) == rotted, "nothing of the log was cut")
        #expect(try Data(contentsOf: URL(fileURLWithPath: seg)) == segmentBefore, "nothing of the segment was cut")

        // Across two sectors: a torn write, which the next writer cuts.
        var torn = Array(whole[0..<(spanning.offset + spanning.size)])
        torn[spanning.offset + spanning.size - 3] ^= 0x01
        try Data(torn).write(to: URL(fileURLWithPath: logPath))
        let w = try Store(directory: dir.path, configuration: Self.configuration)
        #expect(w.recoveryReport.tornTails.contains(.init(path: logPath, offset: UInt64(spanning.offset), bytesDropped: UInt64(spanning.size))))
        try w.close()
    }

    /// A reader holds no flock, so it may read a record as a writer's write copies it in: a whole last
    /// record inside one sector that fails its checksum is then looked at again under the flock (which a
    /// writer appending holds), and read once the write is whole, not called damage. Here a "writer" holds
    /// the flock over a record whose bytes are not all there yet; the reader waits for it, then reads every point.
    @Test func aReaderLooksAgainUnderTheFlockBeforeItCallsALastRecordDamage() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try Self.writeSteps(1000, to: dir)
        let logPath = dir.path + "/" + CommitLog.fileName
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: logPath)))
        let last = try #require(Self.records(whole).last)
        #expect(last.offset / 512 == (last.offset + last.size - 1) / 512, "the last record lies inside one sector")
        var copying = whole
        copying[last.offset + last.size - 3] ^= 0x01  // a byte the copy has not reached yet
        try Data(copying).write(to: URL(fileURLWithPath: logPath))

        let writer = open(logPath, O_RDWR)
        #expect(writer >= 0 && flock(writer, LOCK_EX) == 0)
        // What the reader got: the points it read, or its error.
        let opened = Locked<String?>(nil)
        let reading = Thread {
            let result: String
            do {
                let reader = try Store(directory: dir.path, access: .read, configuration: Self.configuration)
                defer { try? reader.close() }
                result = "\(try reader.points(of: reader.trackInfo(named: "t")?.id ?? TrackID(rawValue: 99), from: 0, limit: .max).count) points"
            } catch { result = "\(error)" }
            opened.withLock { $0 = result }
        }
        reading.start()
        Thread.sleep(forTimeInterval: 0.5)
        #expect(opened.withLock { $0 } == nil, "the reader waits for the writer's flock rather than call the record damage")
        // The write completes, and the writer lets go.
        #expect(pwrite(writer, [whole[last.offset + last.size - 3]], 1, off_t(last.offset + last.size - 3)) == 1)
        flock(writer, LOCK_UN)
        close(writer)
        var result: String?
        for _ in 0..<200 where result == nil {
            Thread.sleep(forTimeInterval: 0.05)
            result = opened.withLock { $0 }
        }
        #expect(result == "1000 points", "every point, the last record's block included")
    }

    /// Points of a track id that nothing in the store names can be read by no name: verify says so,
    /// as damage at their first block, rather than calling the store sound.
    @Test func pointsOfATrackNothingNamesAreDamage() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try Self.writeSteps(200, to: dir)
        let logPath = dir.path + "/" + CommitLog.fileName
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: logPath)))
        // The log without the track's name record (type 2) and without its definition's block record (kind 5).
        var kept = Array(whole[0..<CommitLog.headerSize])
        for r in Self.records(whole) {
            let type = whole[r.offset + CommitLog.recordPrefix]
            let definition = type == 1 && whole[r.offset + CommitLog.recordPrefix + 25] == RecordKind.trackMetadata.rawValue
            if type != 2 && !definition { kept += whole[r.offset..<(r.offset + r.size)] }
        }
        #expect(kept.count < whole.count)
        try Data(kept).write(to: URL(fileURLWithPath: logPath))
        let report = try Store.verify(directory: dir.path)
        #expect(!report.isSound, "\(report)")
        #expect(report.damage.contains { $0.reason.contains("200 points of track 0") }, "\(report)")
    }

    /// A writer makes its blocks durable before it appends the records naming them, so a record
    /// whose block is not there is damage even at the log's end: never cut as a torn tail.
    @Test func recordsAtTheEndOfTheLogWhoseBlocksAreNotThereAreDamage() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try Self.writeSteps(500, to: dir)
        let seg = try #require(dir.segmentFiles().last)
        let blocks = try SegmentScanner.scan(File.open(seg, .readOnly), segment: SegmentID(writer: 0, number: 1)).blocks
        // The last two blocks of points are gone.
        let cut = blocks[blocks.count - 2].offset
        let fh = try FileHandle(forUpdating: URL(fileURLWithPath: seg))
        try fh.truncate(atOffset: cut)
        try fh.close()
        let logPath = dir.path + "/" + CommitLog.fileName
        let logBefore = try Data(contentsOf: URL(fileURLWithPath: logPath))
        func isTheCut(_ error: any Error) -> Bool {
            let e = error as? StoreError
            return e?.code == .corrupt && e?.path == seg && e?.offset == cut
        }
        // A writer would go on after the missing blocks: it refuses to open. A reader opens (it checks
        // blocks as it reads them) and its read of the missing ones fails, naming them; one asked to check
        // every block at open refuses as the writer does.
        #expect(performing: { try Store(directory: dir.path, access: .write, configuration: Self.configuration) }, throws: isTheCut)
        let reader = try Store(directory: dir.path, access: .read, configuration: Self.configuration)
        #expect(try reader.points(of: TrackID(rawValue: 0), from: 0, limit: 10).count == 10)
        #expect(performing: { try reader.points(of: TrackID(rawValue: 0), from: 0, limit: 500) }, throws: isTheCut)
        try reader.close()
        var verifying = Self.configuration
        verifying.verifySealedSegments = true
        #expect(performing: { try Store(directory: dir.path, access: .read, configuration: verifying) }, throws: isTheCut)
        var salvage = Self.configuration
        salvage.recovery = .salvage
        let r = try Store(directory: dir.path, access: .read, configuration: salvage)
        #expect(r.recoveryReport.damage.map(\.offset) == [cut, blocks[blocks.count - 1].offset], "\(r.recoveryReport)")
        try r.close()
        let report = try Store.verify(directory: dir.path)
        #expect(!report.isSound && report.damage.count == 2, "\(report)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: logPath)) == logBefore, "opening cut committed records")
    }

    @Test func aStoreWithoutACommitLogGetsOneFromItsFirstWriter() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        do {
            let s = try Store(directory: dir.path, configuration: Self.configuration)
            let t = try s.track(named: "t")
            for i in 0..<300 { try t.append(value: Double(i), step: Int64(i)) }
            try s.appendLog("before")
            try s.close()
        }
        dir.dropCommitLog()  // as a writer of format version 1 left it
        let old = try Store(directory: dir.path, access: .read)
        #expect(old.count(of: .track(TrackID(rawValue: 0))) == 300)
        // A writer beside the reader makes the log; the reader follows it from there.
        let second = try Store(directory: dir.path, configuration: Self.configuration, writer: 1)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/" + CommitLog.fileName))
        try second.track(named: "t").append(value: 300, step: 300)
        try second.appendLog("after")
        try second.close()
        try old.refresh()
        #expect(old.count(of: .track(TrackID(rawValue: 0))) == 301)
        #expect(try old.logs().map(\.message) == ["before", "after"])
        try old.close()
    }
}

extension ManyWritersTests {
    /// A child another thread spawns shares the writer's lock until its exec
    /// closes it (O_CLOEXEC); one that never execs (a fork) keeps it. Closing
    /// the store must free the slot anyway: the same process opening the
    /// store again is writer 0 again, its own points continue from where they
    /// were, and it does not look like a second writer.
    @Test func closingFreesTheWriterSlotEvenWhileAChildSharesTheLock() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let first = try Store(directory: dir.path, configuration: Self.configuration)
        let t = try first.track(named: "t")
        for i in 0..<120 { try t.append(value: Double(i), step: Int64(i)) }
        // A child holding the lock's open file description, as a spawn's child does before its exec.
        let lockPath = dir.path + "/" + StoreFiles.lockName(writer: 0)
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
        let lockFD = try #require(fds.compactMap(Int32.init).first {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == lockPath
        })
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, lockFD, 3)  // dup2 clears O_CLOEXEC: the child keeps it
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
        defer { for a in argv { free(a) } }
        #expect(posix_spawn(&pid, "/bin/sleep", &actions, nil, argv, environ) == 0)
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        try first.close()

        let again = try Store(directory: dir.path, configuration: Self.configuration)
        #expect(again.writerID == 0)
        #expect(try again.track(named: "t").append(value: 120, step: 120) == 120)
        try again.close()
    }
}
