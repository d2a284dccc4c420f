import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeStore

/// Blocks of 100 points, written whole on close.
let tenBlockConfiguration: StoreConfiguration = {
    var config = StoreConfiguration(durability: .buffered)
    config.maxRecordsPerBlock = 100
    return config
}()

/// One track "t" of 1,000 points {"value": i, "step": i}: ten blocks of 100.
func writeTenBlocks(_ dir: TempDirectory) throws {
    let store = try Store(directory: dir.path, configuration: tenBlockConfiguration)
    let t = try store.track(named: "t")
    for i in 0..<1000 { try t.append(value: Double(i), step: Int64(i)) }
    try store.close()
}

/// 100,000 points of the reference workload in 32 KiB segments, each sealed
/// one with its index; returns the configuration it was written with.
func writeSegmentsWithIndexes(_ dir: TempDirectory) throws -> StoreConfiguration {
    var config = StoreConfiguration(durability: .buffered)
    config.segmentSize = 32 << 10
    config.maxRecordsPerBlock = 500
    let store = try Store(directory: dir.path, configuration: config)
    let t = try store.track(named: "t")
    for i in 0..<100_000 { try t.append(value: referenceLoss(i), step: Int64(i)) }
    try store.close()
    return config
}

@Suite struct StoreTests {
    /// A batch of values and steps (the C API's, from NumPy arrays) makes what the same points appended one
    /// by one make (the same points, indexes and times): across blocks, after a point of another shape, and
    /// with one of another shape between two batches. (Not the same bytes: the writer thread also seals an
    /// open block when its interval comes, so blocks' boundaries depend on timing.)
    @Test func aBatchOfValuesAndStepsWritesWhatAppendsOneByOneWrite() throws {
        let (one, batch) = (TempDirectory(), TempDirectory())
        defer { one.remove(); batch.remove() }
        let ts: Int64 = 1_765_000_000_000_000
        let chunks = [1, 7, 250, 10_000, 3, 42_000]
        let values = (0..<chunks.reduce(0, +)).map { referenceLoss($0) }
        let steps = (0..<values.count).map { Int64($0) * 3 }
        for (dir, batched) in [(one, false), (batch, true)] {
            let store = try Store(directory: dir.path, configuration: tenBlockConfiguration)
            let t = try store.track(named: "t")
            try t.append(["value": 0.5, "step": 0, "note": "another shape first"], timestamp: ts)
            var start = 0
            for (k, n) in chunks.enumerated() {
                if k == 3 { try t.append(["value": .int(1), "step": 1], timestamp: ts) }  // an int value: another shape between
                if batched {
                    let range = try values.withUnsafeBufferPointer { v in
                        try steps.withUnsafeBufferPointer { s in
                            try t.append(values: UnsafeBufferPointer(rebasing: v[start..<start + n]),
                                         steps: UnsafeBufferPointer(rebasing: s[start..<start + n]), timestamp: ts)
                        }
                    }
                    #expect(range.count == n)
                } else {
                    for i in start..<start + n { try t.append(value: values[i], step: steps[i], timestamp: ts) }
                }
                start += n
            }
            try store.close()
        }
        var read: [[TrackPoint]] = []
        for dir in [one, batch] {
            let reader = try Store(directory: dir.path, access: .read)
            defer { try? reader.close() }
            let info = try #require(reader.trackInfo(named: "t"))
            #expect(info.count == UInt64(values.count + 2))
            read.append(try reader.points(of: info.id, from: 0, limit: Int(info.count)))
        }
        #expect(read[0].map(\.data) == read[1].map(\.data) && read[0].map(\.timestamp) == read[1].map(\.timestamp))
        #expect(read[1].last?.data == ["value": .double(values.last!), "step": .int(steps.last!)])
    }

    @Test func aBatchWhoseCountsDifferIsRefused() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let store = try Store(directory: dir.path)
        defer { try? store.close() }
        let t = try store.track(named: "t")
        let values: [Double] = [1, 2], steps: [Int64] = [1]
        let error = try #require(throws: StoreError.self) {
            try values.withUnsafeBufferPointer { v in try steps.withUnsafeBufferPointer { s in try t.append(values: v, steps: s) } }
        }
        #expect(error.code == .invalidArgument)
        #expect(reader(store) == 0)
        func reader(_ s: Store) -> UInt64 { s.trackInfo(named: "t")?.count ?? 0 }
    }

    /// A reader on another machine opens a session from the commit log and the bytes each sealed segment's
    /// `inline` ranges name (an S3 manifest carries them): a copy of the store holding only those bytes of
    /// its segments reads the session's fields, parameters and tracks, and nothing of the points.
    @Test func theSealedPartNamesTheBytesAnOpeningReads() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let store = try Store(directory: dir.path + "/store")
        let t = try store.track(named: "loss")
        for i in 0..<20_000 { try t.append(value: Double(i).squareRoot(), step: Int64(i)) }
        // Metadata after blocks of points; then a file record too large to carry (a reader reads it from the bucket).
        _ = try store.appendSessionMetadata(["name": "run", "tags": ["a"]])
        _ = try store.appendParameters(["lr": 0.001])
        _ = try store.track(named: "acc", fields: ["description": "accuracy"])
        try store.sealSegment()
        var seed: UInt64 = 1
        let noise = String((0..<30_000).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Character(UnicodeScalar(UInt8(33 + (seed >> 33) % 90)))
        })  // does not compress to under the limit
        _ = try store.appendFileRecord(fileID: "f", deleted: false, fields: ["note": .string(noise)], timestamp: nil)
        for i in 20_000..<20_010 { try t.append(value: Double(i), step: Int64(i)) }
        try store.sealSegment()
        let part = try Store.sealedPart(directory: dir.path + "/store")
        try store.close()
        #expect(part.segments.count == 2)
        for s in part.segments {
            #expect(s.inline.isEmpty || s.inline[0].lowerBound == 0 && s.inline.reduce(0) { $0 + $1.count } <= SealedPart.maxInline, "\(s.inline)")
            #expect(zip(s.inline, s.inline.dropFirst()).allSatisfy { $0.upperBound < $1.lowerBound }, "in order, apart")
        }
        #expect(part.segments[1].inline.isEmpty, "its only metadata block is over the limit")

        // The copy: the commit log, the indexes, and of each segment only its inline bytes (zeros elsewhere).
        let copy = dir.path + "/copy"
        try FileManager.default.createDirectory(atPath: copy + "/segments", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir.path + "/store/commits.dlc", toPath: copy + "/commits.dlc")
        for s in part.segments {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/store/segments/" + s.name))
            var kept = Data(count: bytes.count)
            for r in s.inline { kept.replaceSubrange(Int(r.lowerBound)..<Int(r.upperBound), with: bytes[Int(r.lowerBound)..<Int(r.upperBound)]) }
            try kept.write(to: URL(fileURLWithPath: copy + "/segments/" + s.name))
            try FileManager.default.copyItem(atPath: dir.path + "/store/segments/" + s.indexName, toPath: copy + "/segments/" + s.indexName)
        }
        var config = StoreConfiguration()
        config.verifySealedSegments = false
        let reader = try Store(directory: copy, access: .read, configuration: config)
        defer { try? reader.close() }
        #expect(try reader.sessionMetadataUpdates().map(\.fields) == [["name": "run", "tags": ["a"]]])
        #expect(reader.trackInfo(named: "acc")?.fields == ["description": "accuracy"] && reader.trackInfo(named: "loss")?.count == 20_010)
        #expect(try reader.parameterUpdates().map(\.fields) == [["lr": 0.001]])
        #expect(throws: StoreError.self, "the file record over the limit is not carried") { try reader.fileRecords() }
        #expect(throws: StoreError.self, "points are not carried") { try reader.points(of: #require(reader.trackInfo(named: "loss")).id, from: 0, limit: 10) }
    }

    @Test func sealSegmentSealsWhatWasAppendedAndAReopenedWriterLeavesItSealed() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path + "/segments").sorted() }
        let store = try Store(directory: dir.path)
        let t = try store.track(named: "t")
        for i in 0..<1000 { try t.append(value: Double(i), step: Int64(i)) }
        try store.sealSegment()
        #expect(try files() == ["w0000-00000001.dli", "w0000-00000001.dlm", "w0000-00000001.dls", "w0000-00000002.dls"])
        try store.sealSegment()
        #expect(try files().count == 4, "an active segment without blocks is not sealed")
        #expect(try Store.sealedPart(directory: dir.path).segments.map(\.name) == ["w0000-00000001.dls"])
        try store.close()
        #expect(throws: StoreError.self) { try store.sealSegment() }

        // A copy holding only the sealed segment and the log (as one made from an object store): its
        // writer starts segment 2 and leaves segment 1 whole, index and all.
        try FileManager.default.removeItem(atPath: dir.path + "/segments/w0000-00000002.dls")
        let before = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/segments/w0000-00000001.dls"))
        let again = try Store(directory: dir.path)
        try again.track(named: "t").append(value: 1000, step: 1000)
        try again.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/segments/w0000-00000001.dls")) == before)
        #expect(try files().contains("w0000-00000001.dli"))
        let reader = try Store(directory: dir.path, access: .read)
        #expect(try reader.points(of: TrackID(rawValue: 0), from: 0, limit: 2000).map(\.index) == Array(0...1000))
        try reader.close()
    }

    @Test func everyKindOfRecordRoundTripsThroughReopen() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var rng = SplitMix64(seed: 1)
        var points: [ValueObject] = []
        for i in 0..<500 {
            // Mixed shapes: numeric runs, strings, nested values, booleans and nulls.
            switch i % 5 {
            case 0, 1: points.append(["value": .double(referenceLoss(i)), "step": .int(Int64(i))])
            case 2: points.append(["value": .double(edgeDoubles[i % edgeDoubles.count]), "epoch": .int(edgeInts[i % edgeInts.count])])
            case 3: points.append(["flag": .bool(i % 2 == 0), "none": .null, "name": .string(randomString(&rng))])
            default: points.append(randomObject(&rng))
            }
        }
        let logs: [(LogLevel, String, ValueObject?)] = LogLevel.allCases.map { ($0, "message \($0) é 🚀", ["epoch": .int(3)]) }
            + [(.info, "", nil), (.error, "no metadata", [:])]
        let written: (track: TrackID, ts: Int64)
        do {
            let store = try Store(directory: dir.path)
            let t = try store.track(named: "train/loss", fields: ["description": "training loss", "tags": ["a", "b"]])
            for (i, p) in points.enumerated() { try t.append(p, timestamp: 1_700_000_000_000_000 + Int64(i)) }
            for (l, m, md) in logs { try store.appendLog(m, level: l, metadata: md, timestamp: 42) }
            try store.appendParameters(["lr": 0.001, "model.layers": 4], timestamp: 1)
            try store.appendParameters(["lr": 0.01], timestamp: 2)
            try store.appendSessionMetadata(["name": "exp", "tags": ["x"]], timestamp: 3)
            try store.appendFileRecord(fileID: "f1", fields: ["path": "/models", "sizeBytes": 10], timestamp: 4)
            try store.appendFileRecord(fileID: "f1", deleted: true, fields: [:], timestamp: 5)
            try store.updateTrack(t.id, fields: ["description": "updated"], timestamp: 6)
            // Read-your-writes before anything is flushed.
            #expect(try store.points(of: t.id, from: 0, limit: 1000).map(\.data) == points)
            try store.close()
            written = (t.id, 0)
        }
        let store = try Store(directory: dir.path, access: .read)
        defer { try? store.close() }
        #expect(store.recoveryReport.isClean)
        let read = try store.points(of: written.track, from: 0, limit: 10_000)
        #expect(read.count == points.count)
        for (i, p) in read.enumerated() {
            #expect(p.index == UInt64(i))
            #expect(p.timestamp == 1_700_000_000_000_000 + Int64(i))
            #expect(Value.object(p.data) == Value.object(points[i]))
        }
        let readLogs = try store.logs()
        #expect(readLogs.count == logs.count)
        for (i, e) in readLogs.enumerated() {
            #expect(e.sequence == UInt64(i))
            #expect(e.level == logs[i].0 && e.message == logs[i].1 && e.timestamp == 42)
            #expect(e.metadata.map(Value.object) == logs[i].2.map(Value.object))
        }
        #expect(try store.parameterUpdates().map(\.fields) == [["lr": 0.001, "model.layers": 4], ["lr": 0.01]])
        #expect(try store.sessionMetadataUpdates().first?.fields == ["name": "exp", "tags": ["x"]])
        let files = try store.fileRecords()
        #expect(files.map(\.deleted) == [false, true] && files.map(\.fileID) == ["f1", "f1"])
        let info = try #require(store.trackInfo(named: "train/loss"))
        #expect(info.count == 500 && info.fields == ["description": "updated"] && info.createdAt != info.updatedAt)
    }

    @Test func reopeningForWritingContinuesEveryStream() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        for round in 0..<3 {
            let store = try Store(directory: dir.path)
            let t = try store.track(named: "loss")
            for i in 0..<1000 { #expect(try t.append(value: referenceLoss(round * 1000 + i), step: Int64(round * 1000 + i)) == UInt64(round * 1000 + i)) }
            #expect(try store.appendLog("round \(round)") == UInt64(round))
            try store.close()
        }
        let store = try Store(directory: dir.path, access: .read)
        defer { try? store.close() }
        #expect(store.tracks().map(\.count) == [3000])
        let all = try store.points(of: TrackID(rawValue: 0), from: 0, limit: 5000)
        #expect(all.map { $0.data["step"] } == (0..<3000).map { Value.int(Int64($0)) })
        #expect(all.map { $0.data["value"] } == (0..<3000).map { Value.double(referenceLoss($0)) })
        #expect(try store.logs().map(\.message) == ["round 0", "round 1", "round 2"])
    }

    @Test func segmentsRollOverAndIndexesMatchAFullScan() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var config = StoreConfiguration(durability: .buffered)
        config.segmentSize = 64 << 10
        config.maxRecordsPerBlock = 1000
        let n = 200_000
        do {
            let store = try Store(directory: dir.path, configuration: config)
            let a = try store.track(named: "a")
            let b = try store.track(named: "b")
            for i in 0..<n {
                try a.append(value: referenceLoss(i), step: Int64(i))
                if i % 3 == 0 { try b.append(["x": .int(Int64(i)), "s": .string("p\(i)")]) }
            }
            try store.close()
        }
        #expect(dir.segmentFiles().count > 3, "a small segment size makes several segments")
        #expect(dir.indexFiles().count == dir.segmentFiles().count - 1, "every sealed segment has an index")
        let store = try Store(directory: dir.path, access: .read)
        defer { try? store.close() }
        // The full scan, block by block, is the reference for every range read.
        var scanned: [Double] = []
        try store.forEachPointBlock(of: TrackID(rawValue: 0)) { block in
            guard case .double(let v)? = block.column(named: "value") else { Issue.record("not columnar"); return false }
            scanned += v
            return true
        }
        #expect(scanned.count == n)
        #expect(scanned.map(\.bitPattern) == (0..<n).map { referenceLoss($0).bitPattern })
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200 {
            let start = Int(rng.next() % UInt64(n + 10))
            let limit = Int(rng.next() % 3000)
            let got = try store.points(of: TrackID(rawValue: 0), from: UInt64(start), limit: limit)
            let expectedEnd = min(n, start + limit)
            #expect(got.count == max(0, expectedEnd - start))
            #expect(got.map(\.index) == (start..<max(start, expectedEnd)).map(UInt64.init))
            #expect(got.map { $0.data["value"]!.doubleValue!.bitPattern } == scanned[min(start, n)..<max(min(start, n), expectedEnd)].map(\.bitPattern))
        }
        let b = try store.points(of: TrackID(rawValue: 1), from: 100, limit: 2)
        #expect(b.map(\.data) == [["x": 300, "s": "p300"], ["x": 303, "s": "p303"]])
    }

    @Test func aMissingOrDamagedIndexIsRebuilt() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var config = try writeSegmentsWithIndexes(dir)
        let indexes = dir.indexFiles()
        #expect(indexes.count >= 3)
        try FileManager.default.removeItem(atPath: indexes[0])
        try flipByte(indexes[1], at: 50)
        try truncateFile(indexes[2], to: 20)
        config.verifySealedSegments = false  // make open trust indexes it can read
        dir.dropCommitLog()  // a store without a commit log is read through its indexes; the writer that makes its log rebuilds them
        let store = try Store(directory: dir.path, configuration: config)
        #expect(Set(store.recoveryReport.rebuiltIndexes) == Set(indexes.prefix(3)))
        let pts = try store.points(of: TrackID(rawValue: 0), from: 0, limit: 100_000)
        #expect(pts.map { $0.data["step"]! } == (0..<100_000).map { Value.int(Int64($0)) })
        try store.close()
        // Rebuilt on disk: the next open finds nothing to do.
        let again = try Store(directory: dir.path, access: .read, configuration: config)
        #expect(again.recoveryReport.isClean)
        try again.close()
    }

    @Test func aTornTailIsCutAndEverythingBeforeItKept() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let config = tenBlockConfiguration
        try writeTenBlocks(dir)
        let seg = try #require(dir.segmentFiles().last)
        let full = fileSize(seg)
        // Cut a few bytes into the last block: 10 blocks of 100 points, the last one torn,
        // as a writer without a commit log left it.
        try truncateFile(seg, to: full - 7)
        dir.dropCommitLog()
        let store = try Store(directory: dir.path, configuration: config)
        #expect(store.recoveryReport.tornTails.count == 1)
        #expect(store.recoveryReport.damage.isEmpty)
        let pts = try store.points(of: TrackID(rawValue: 0), from: 0, limit: 2000)
        #expect(pts.count == 900)
        #expect(pts.last?.data["step"] == .int(899))
        // Appends continue after the cut, from the next index.
        #expect(try store.track(named: "t").append(value: 1, step: 900) == 900)
        try store.close()
        let reopened = try Store(directory: dir.path, access: .read)
        #expect(reopened.recoveryReport.isClean)
        #expect(reopened.tracks().first?.count == 901)
        try reopened.close()
    }

    @Test func aFlippedBitIsFoundAndNamedAndSalvageReadsAroundIt() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var config = tenBlockConfiguration
        try writeTenBlocks(dir)
        let seg = try #require(dir.segmentFiles().last)
        // Damage the payload of a block in the middle of the file.
        let target = fileSize(seg) / 2
        try flipByte(seg, at: target)
        dir.dropCommitLog()
        #expect {
            try Store(directory: dir.path, configuration: config)
        } throws: { error in
            guard let e = error as? StoreError else { return false }
            return e.code == .corrupt && e.path == seg && e.offset != nil && e.offset! <= target
        }
        config.recovery = .salvage
        let store = try Store(directory: dir.path, access: .read, configuration: config)
        defer { try? store.close() }
        let damage = try #require(store.recoveryReport.damage.first)
        #expect(damage.path == seg && damage.offset <= target && damage.offset + damage.length > target)
        let pts = try store.points(of: TrackID(rawValue: 0), from: 0, limit: 2000)
        // Exactly one block of 100 points is lost; none of its points are returned, every other one is.
        #expect(pts.count == 900)
        let steps = Set(pts.map { $0.data["step"]!.intValue! })
        let lost = Set(0..<1000).subtracting(steps.map(Int.init))
        #expect(lost.count == 100)
        #expect(pts.allSatisfy { $0.data["value"]!.doubleValue! == Double($0.data["step"]!.intValue!) })
    }

    @Test func aFutureFormatVersionIsATypedError() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        do {
            let store = try Store(directory: dir.path)
            try store.appendLog("x")
            try store.close()
        }
        let seg = try #require(dir.segmentFiles().first)
        // Version 99 with a correct header checksum: a newer writer, not damage.
        var header = SegmentHeader(writer: 0, segment: 1)
        header.version = 99
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: seg))
        try h.write(contentsOf: Data(header.encoded()))
        try h.close()
        // A writer reads the header of the segment it continues at open; a reader, when it first reads the segment.
        #expect {
            try Store(directory: dir.path)
        } throws: { ($0 as? StoreError)?.code == .unsupportedVersion }
        let reader = try Store(directory: dir.path, access: .read)
        #expect {
            try reader.logs()
        } throws: { ($0 as? StoreError)?.code == .unsupportedVersion && ($0 as? StoreError)?.path == seg }
        try reader.close()
    }

    @Test func aSecondWriterOfATakenSlotIsRefusedWithTheHoldersPid() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let first = try Store(directory: dir.path)
        #expect(first.writerID == 0)
        #expect {
            try Store(directory: dir.path, writer: 0)
        } throws: { error in
            guard let e = error as? StoreError else { return false }
            return e.code == .locked && e.holderPID == getpid() && e.path?.hasSuffix("writer-0000.lock") == true
        }
        // Readers are welcome while the writer runs.
        let reader = try Store(directory: dir.path, access: .read)
        try reader.close()
        try first.close()
        let second = try Store(directory: dir.path)
        try second.close()
    }

    @Test func aLockHeldByAnotherProcessIsRefusedAndReleasedWhenItIsKilled() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try Store(directory: dir.path).close()
        let lockPath = dir.path + "/writer-0000.lock"
        // Another process takes the same flock and writes its pid, as a writer would.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", """
            import fcntl, os, sys, time
            f = open(sys.argv[1], 'r+')
            fcntl.flock(f, fcntl.LOCK_EX)
            f.truncate(0); f.write(str(os.getpid()) + '\\n'); f.flush()
            print('locked', flush=True)
            time.sleep(60)
            """, lockPath]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        _ = out.fileHandleForReading.availableData  // waits for "locked"
        #expect {
            try Store(directory: dir.path, writer: 0)
        } throws: { ($0 as? StoreError)?.code == .locked && ($0 as? StoreError)?.holderPID == holder.processIdentifier }
        // Without a slot asked for, the next free one is taken.
        let beside = try Store(directory: dir.path)
        #expect(beside.writerID == 1)
        try beside.close()
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        // The kernel released the lock with the process: no stale-lock step.
        let store = try Store(directory: dir.path)
        try store.close()
    }

    @Test func concurrentAppendsLoseAndDuplicateNothing() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var config = StoreConfiguration()
        config.maxRecordsPerBlock = 512
        config.maxPendingBytes = 64 << 10  // small, so appenders also wait for the writer
        let store = try Store(directory: dir.path, configuration: config)
        let shared = try store.track(named: "shared")
        let threads = 4, perThread = 25_000
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let own = try! store.track(named: "own-\(t)")
            for i in 0..<perThread {
                _ = try! shared.append(value: Double(t), step: Int64(i))
                _ = try! own.append(value: Double(i), step: Int64(i))
                if i % 1000 == 0 { _ = try! store.appendLog("t\(t) i\(i)") }
            }
        }
        try store.close()
        let reader = try Store(directory: dir.path, access: .read)
        defer { try? reader.close() }
        let pts = try reader.points(of: shared.id, from: 0, limit: threads * perThread + 10)
        #expect(pts.count == threads * perThread)
        #expect(pts.map(\.index) == (0..<UInt64(threads * perThread)).map { $0 })
        // Each thread's own appends stay in its order.
        for t in 0..<threads {
            let steps = pts.filter { $0.data["value"] == .double(Double(t)) }.map { $0.data["step"]!.intValue! }
            #expect(steps == (0..<Int64(perThread)).map { $0 })
            let info = try #require(reader.trackInfo(named: "own-\(t)"))
            #expect(info.count == UInt64(perThread))
        }
        #expect(try reader.logs().count == threads * perThread / 1000)
    }

    @Test func aReaderSeesFlushedDataAndTreatsAnIncompleteBlockAsNotYet() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let writer = try Store(directory: dir.path, configuration: StoreConfiguration(durability: .buffered))
        let t = try writer.track(named: "t")
        for i in 0..<100 { try t.append(value: Double(i), step: Int64(i)) }
        try writer.flush()
        let reader = try Store(directory: dir.path, access: .read)
        defer { try? reader.close() }
        #expect(reader.tracks().first?.count == 100)
        for i in 100..<250 { try t.append(value: Double(i), step: Int64(i)) }
        try writer.flush()
        // Half a block at the end, as a writer caught mid-write leaves it.
        let seg = try #require(dir.segmentFiles().last)
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: seg))
        try h.seekToEnd()
        let header = BlockHeader(storedLength: 1000, payloadChecksum: 0, codec: .none, stream: .logs, uncompressedLength: 1000,
                                 recordCount: 1, firstSequence: 0, lastSequence: 0).encoded()
        try h.write(contentsOf: Data(header + [1, 2, 3]))
        try h.close()
        #expect(try reader.refresh())
        #expect(reader.tracks().first?.count == 250)
        #expect(try reader.points(of: t.id, from: 240, limit: 100).count == 10)
        #expect(reader.recoveryReport.isClean)
        try writer.close()  // the writer's own close is unaffected by what the test appended after its end
    }

    @Test func flushReportsWhatIsDurable() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let store = try Store(directory: dir.path, configuration: StoreConfiguration(durability: .interval(milliseconds: 50)))
        let t = try store.track(named: "t")
        for i in 0..<10 { try t.append(value: Double(i), step: Int64(i)) }
        let durable = try store.flush()
        #expect(durable == 11, "10 points and the track's definition")
        try store.close()
        #expect { try store.flush() } throws: { ($0 as? StoreError)?.code == .notWritable }
        try store.close()  // closing twice is harmless
    }

    @Test func alwaysDurabilityWritesBeforeReturning() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let store = try Store(directory: dir.path, configuration: StoreConfiguration(durability: .always))
        let t = try store.track(named: "t")
        for i in 0..<20 { try t.append(value: Double(i), step: Int64(i)) }
        // Without flush or close, another reader already sees every point.
        let reader = try Store(directory: dir.path, access: .read)
        #expect(reader.tracks().first?.count == 20)
        try reader.close()
        try store.close()
    }

    @Test func intervalDurabilityWritesPartialBlocksInTime() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let store = try Store(directory: dir.path, configuration: StoreConfiguration(durability: .interval(milliseconds: 20)))
        let t = try store.track(named: "t")
        try t.append(value: 1, step: 1)
        let reader = try Store(directory: dir.path, access: .read)
        defer { try? reader.close() }
        // Poll (no timing assertion): the timer must eventually write the one-point block.
        var seen = false
        for _ in 0..<500 where !seen {
            try reader.refresh()
            seen = reader.tracks().first?.count == 1
            if !seen { usleep(10_000) }
        }
        #expect(seen)
        try store.close()
    }

    @Test func readOnlyStoresRefuseWritesAndMissingStoresAreNamed() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        #expect { try Store(directory: dir.path, access: .read) } throws: { ($0 as? StoreError)?.code == .notAStore }
        try Store(directory: dir.path).close()
        let reader = try Store(directory: dir.path, access: .read)
        #expect { try reader.appendLog("x") } throws: { ($0 as? StoreError)?.code == .notWritable }
        try reader.close()
    }

    @Test func logEntriesReadTheSameFromTheOpenBlockAndFromDisk() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let store = try Store(directory: dir.path)
        let nested: Value = .object(["a": .array([.int(1), .null, .bool(true)]), "s": "é\u{1F600}"])
        try store.appendLog("none", level: .debug, timestamp: 1)
        try store.appendLog("dictionary", level: .info, metadata: ["x": 1.5, "nested": nested], timestamp: 2)
        try store.appendLog("pairs", level: .warn, metadata: ["epoch": 3, "loss": 0.25, "ok": true, "nested": nested], timestamp: 3)
        try store.appendLog("repeated key", level: .error, metadata: ["k": 1, "other": "o", "k": 2], timestamp: 4)
        try store.appendLog("empty pairs", level: .fatal, metadata: [:], timestamp: 5)
        try store.appendLog("nine keys", level: .info,
                            metadata: ["a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9], timestamp: 6)
        let expected = [
            LogEntry(sequence: 0, timestamp: 1, level: .debug, message: "none", metadata: nil),
            LogEntry(sequence: 1, timestamp: 2, level: .info, message: "dictionary", metadata: ["x": 1.5, "nested": nested]),
            LogEntry(sequence: 2, timestamp: 3, level: .warn, message: "pairs",
                     metadata: ["epoch": 3, "loss": 0.25, "ok": true, "nested": nested]),
            // A dictionary's rule: the key keeps its first place and takes its last value.
            LogEntry(sequence: 3, timestamp: 4, level: .error, message: "repeated key", metadata: ["k": 2, "other": "o"]),
            LogEntry(sequence: 4, timestamp: 5, level: .fatal, message: "empty pairs", metadata: [:]),
            LogEntry(sequence: 5, timestamp: 6, level: .info, message: "nine keys",
                     metadata: ["a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9]),
        ]
        #expect(try store.logs() == expected)  // from the writer's open block
        #expect(try store.logs(from: 2, limit: 2) == Array(expected[2..<4]))
        // Over the record limit in its metadata alone: refused, and the open block is as it was.
        let big = String(repeating: "m", count: 5 << 20)
        #expect { try store.appendLog("big", level: .info, metadata: ["blob": big]) } throws: { ($0 as? StoreError)?.code == .invalidArgument }
        #expect { try store.appendLog("big", level: .info, metadata: ["blob": .string(big)] as ValueObject) } throws: {
            ($0 as? StoreError)?.code == .invalidArgument
        }
        #expect(try store.logs() == expected)
        try store.close()
        let reader = try Store(directory: dir.path, access: .read)
        #expect(try reader.logs() == expected)
        try reader.close()
    }

    @Test func oversizeRecordsAreRefusedAndNothingIsDamaged() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let store = try Store(directory: dir.path)
        try store.appendLog("before")
        #expect { try store.appendLog(String(repeating: "x", count: 5 << 20)) } throws: { ($0 as? StoreError)?.code == .invalidArgument }
        try store.appendLog("after")
        try store.close()
        let reader = try Store(directory: dir.path, access: .read)
        #expect(try reader.logs().map(\.message) == ["before", "after"])
        try reader.close()
    }
}
