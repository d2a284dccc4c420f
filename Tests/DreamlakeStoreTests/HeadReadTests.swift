import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeStore

// Reads in the writing process (issue 33): a training loop that asks for a
// track's count, its last timestamp or its last points after every append
// is served from the committed blocks plus what the process holds in memory,
// without a block sealed (and a commit waited for) per read.

@Suite struct HeadReadTests {
    /// The blocks of track points in the store's segments, by scanning them.
    static func pointBlocks(_ dir: TempDirectory) throws -> [BlockRef] {
        try dir.segmentFiles().flatMap { path -> [BlockRef] in
            let file = try File.open(path, .readOnly)
            defer { try? file.close() }
            let name = try #require(StoreFiles.parseSegmentName(URL(fileURLWithPath: path).lastPathComponent))
            return try SegmentScanner.scan(file, segment: SegmentID(writer: name.writer, number: name.segment)).blocks
        }.filter { $0.stream.kind == .trackPoint }
    }

    @Test func readsAfterEveryAppendSeeEveryPointAndSealNoBlock() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let store = try Store(directory: dir.path, configuration: StoreConfiguration(durability: .buffered))
        let t = try store.track(named: "loss")
        let t0: Int64 = 1_764_000_000_000_000
        for i in 0..<1000 {
            try t.append(value: Double(i) / 2, step: Int64(i), timestamp: t0 + Int64(i))
            #expect(store.count(of: .track(t.id)) == UInt64(i + 1))
            #expect(try store.timestampBounds(of: t.id).map { [$0.first, $0.last] } == [t0, t0 + Int64(i)])
            if i % 97 == 0 {
                let last = try store.points(of: t.id, from: UInt64(i), limit: 10)
                #expect(last.map(\.index) == [UInt64(i)] && last.first?.data["value"]?.doubleValue == Double(i) / 2)
                #expect(store.tracks().first?.count == UInt64(i + 1))
            }
        }
        #expect(try store.points(of: t.id, from: 0, limit: 2000).map { $0.data["step"]?.intValue } == (0..<1000).map { Int64($0) })
        try store.close()
        // A read that sealed would have left a block a point: 1,000 points fit one block.
        #expect(try Self.pointBlocks(dir).count == 1)
        let reader = try Store(directory: dir.path, access: .read)
        #expect(reader.count(of: .track(TrackID(rawValue: 0))) == 1000)
        #expect(try reader.timestampBounds(of: TrackID(rawValue: 0)).map { [$0.first, $0.last] } == [t0, t0 + 999])
        try reader.close()
    }

    /// Blocks sealed for the background thread and not written yet, the open
    /// block, and committed blocks read as one stream, at their places.
    @Test func committedSealedAndOpenBlocksReadAsOneStream() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var config = StoreConfiguration(durability: .buffered)
        config.maxRecordsPerBlock = 64
        let store = try Store(directory: dir.path, configuration: config)
        let t = try store.track(named: "t")
        try store.appendLog("first", level: .info, timestamp: 1)
        for i in 0..<1000 {
            try t.append(["value": .double(Double(i)), "step": .int(Int64(i)), "phase": i % 3 == 0 ? "eval" : "train"], timestamp: Int64(i))
            if i == 500 { try store.flush() }
        }
        try store.appendLog("second", level: .warn, metadata: ["k": 1], timestamp: 2)
        let points = try store.points(of: t.id, from: 0, limit: 5000)
        #expect(points.map(\.index) == (0..<1000).map { UInt64($0) })
        #expect(points.map { $0.data["phase"]?.stringValue } == (0..<1000).map { $0 % 3 == 0 ? "eval" : "train" })
        #expect(try store.points(of: t.id, from: 990, limit: 20).map(\.index) == (990..<1000).map { UInt64($0) })
        #expect(try store.timestampBounds(of: t.id).map { [$0.first, $0.last] } == [0, 999])
        #expect(try store.logs().map(\.message) == ["first", "second"] && store.count(of: .logs) == 2)
        try store.close()
        let reader = try Store(directory: dir.path, access: .read)
        #expect(try reader.points(of: TrackID(rawValue: 0), from: 0, limit: 5000) == points)
        try reader.close()
    }

    /// Where another writer has committed to the stream, this writer's
    /// appends get their place only in the commit log: its reads commit them
    /// first, and read them where every reader will.
    @Test func aStreamAnotherWriterCommittedToIsReadAfterCommitting() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let config = StoreConfiguration(durability: .buffered)
        let a = try Store(directory: dir.path, configuration: config)
        let b = try Store(directory: dir.path, configuration: config)
        let ta = try a.track(named: "shared"), tb = try b.track(named: "shared")
        for i in 0..<5 { try ta.append(value: 1, step: Int64(i)) }
        #expect(a.count(of: .track(ta.id)) == 5)  // nobody else has committed to it: served from memory
        for i in 0..<5 { try tb.append(value: 2, step: Int64(i)) }
        try b.flush()  // b's points are committed first: indexes 0..<5
        Thread.sleep(forTimeInterval: 0.01)  // reads look at the log at most once a millisecond (Writer.lookInterval)
        // a looks at the log, sees b's blocks, and commits its own before reading: they land at 5..<10.
        #expect(a.count(of: .track(ta.id)) == 10)
        #expect(try a.points(of: ta.id, from: 0, limit: 20).map { $0.data["value"]?.doubleValue } == [2, 2, 2, 2, 2, 1, 1, 1, 1, 1])
        try a.close()
        try b.close()
    }

    /// A writer that failed shows what it committed, and nothing it held in memory.
    @Test func aFailedWritersReadsShowOnlyWhatItCommitted() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let store = try Store(directory: dir.path, configuration: StoreConfiguration(durability: .buffered))
        let t = try store.track(named: "t")
        for i in 0..<10 { try t.append(value: 0, step: Int64(i)) }
        try store.flush()
        let injector = FaultInjector.install(root: dir.path, plan: .fail(n: 1, kinds: [.write], errno: EIO))
        defer { injector.uninstall() }
        for i in 10..<20 { try t.append(value: 0, step: Int64(i)) }
        #expect(throws: StoreError.self) { try store.flush() }
        #expect(injector.triggered)
        #expect(store.count(of: .track(t.id)) == 10)
        #expect(try store.points(of: t.id, from: 0, limit: 100).count == 10)
        #expect(try store.timestampBounds(of: t.id) != nil)
        try? store.close()
    }
}
