import DreamlakeTestSupport
import Foundation
import Glibc
import Testing
@testable import DreamlakeStore

// Issue 15's classes at the engine: numbers that would trap, links and
// special files inside a store, work that a file's claims could make
// unbounded, and wrong answers that passed as sound. Each store here is
// crafted byte by byte, with right checksums, the way an attacker would.

/// A segment file of blocks, each given as its stream, first sequence and
/// records; checksums right, payloads stored uncompressed.
private func craftSegment(number: UInt64 = 1, _ blocks: [(StreamKey, UInt64, Batch)]) -> [UInt8] {
    var bytes = SegmentHeader(writer: 0, segment: number).encoded()
    for (stream, first, batch) in blocks {
        let payload = BlockPayload.encode(batch)
        let header = BlockHeader(storedLength: UInt32(payload.count), payloadChecksum: CRC32C.checksum(payload), codec: .none,
                                 stream: stream, uncompressedLength: UInt32(payload.count), recordCount: UInt32(batch.count),
                                 firstSequence: first, lastSequence: first &+ UInt64(batch.count) &- 1)
        bytes += header.encoded() + payload
    }
    return bytes
}

/// A store folder holding `segments` (file name to bytes).
private func craftStore(_ segments: [String: [UInt8]]) throws -> TempDirectory {
    let dir = TempDirectory()
    try FileManager.default.createDirectory(atPath: dir.segments, withIntermediateDirectories: true)
    for (name, bytes) in segments { try Data(bytes).write(to: URL(fileURLWithPath: dir.segments + "/" + name)) }
    return dir
}

private func definition(_ id: UInt32, _ name: String, sequence: UInt64 = 0) -> TrackMetadata {
    TrackMetadata(sequence: sequence, timestamp: 1, track: TrackID(rawValue: id), name: name, fields: [:])
}

private func pointBlock(_ id: UInt32, count: Int, from first: Int = 0) -> Batch {
    .points(PointBlock(track: TrackID(rawValue: id), firstIndex: UInt64(first), timestamps: (0..<count).map { Int64($0) },
                       layout: .rows((0..<count).map { ["step": .int(Int64(first + $0))] })))
}

private let seg1 = "w0000-00000001.dls"

@Suite struct HostileStoreTests {
    // MARK: Numbers

    @Test func whenTrackIDsRunOutDefiningATrackIsAnError() throws {
        let dir = try craftStore([seg1: craftSegment([(.trackMetadata, 0, .trackMetadata([definition(.max, "last")]))])])
        defer { dir.remove() }
        #expect(try Store.verify(directory: dir.path).isSound)
        let store = try Store(directory: dir.path)
        #expect(throws: StoreError.self) { try store.track(named: "one-more") }
        #expect(store.trackInfo(named: "last")?.id == TrackID(rawValue: .max))
        try store.close()
    }

    @Test func aLastSequenceOf2To64Minus1IsDamageNotATrap() throws {
        // A log block at 2^64-1 followed by one at 0: one past the first block's end is not a number.
        let entry = LogEntry(sequence: 0, timestamp: 0, level: .info, message: "x", metadata: nil)
        let bytes = craftSegment([(.logs, .max, .logs([entry])), (.logs, 0, .logs([entry]))])
        let dir = try craftStore([seg1: bytes])
        defer { dir.remove() }
        let report = try Store.verify(directory: dir.path)
        #expect(!report.isSound)
        #expect(report.damage.first?.offset == UInt64(FormatConstants.segmentHeaderSize), "\(report)")
        #expect(report.damage.first?.reason.contains("sequence range") == true, "\(report)")
    }

    // MARK: Wrong answers that passed as sound

    @Test func twoDefinitionsOfOneNameKeepEveryPointAndAreReportedAsDamage() throws {
        let bytes = craftSegment([
            (.trackMetadata, 0, .trackMetadata([definition(0, "loss"), definition(1, "loss", sequence: 1)])),
            (.track(TrackID(rawValue: 0)), 0, pointBlock(0, count: 3)),
            (.track(TrackID(rawValue: 1)), 0, pointBlock(1, count: 1)),
        ])
        let dir = try craftStore([seg1: bytes])
        defer { dir.remove() }
        let report = try Store.verify(directory: dir.path)
        #expect(report.damage.count == 1 && report.damage[0].reason.contains("loss#1"), "\(report)")
        #expect(report.damage.first?.offset == UInt64(FormatConstants.segmentHeaderSize))
        let store = try Store(directory: dir.path, access: .read)
        defer { try? store.close() }
        let tracks = store.tracks().map { "\($0.name):\($0.count)" }.sorted()
        #expect(tracks == ["loss#1:1", "loss:3"])
        #expect(try store.points(of: TrackID(rawValue: 1), from: 0, limit: 10).count == 1)
    }

    @Test func segmentNamesParseExactlyAsFormatSays() throws {
        #expect(StoreFiles.parseSegmentName("w0000-00000001.dls")! == (0, 1))
        for bad in ["w0000-+0000001.dls", "w+000-00000001.dls", "w0000-0000001.dls", "w0000-000000001.dls", "w0000-0000000a.dls",
                    "w0000-00000001.dlsx", "x0000-00000001.dls", "w0000_00000001.dls", "w0000-0000 001.dls", "w٠٠٠٠-00000001.dls"] {
            #expect(StoreFiles.parseSegmentName(bad) == nil, "\(bad)")
        }
        // Such a file beside a sound store is not one of its segments.
        let dir = try craftStore([seg1: craftSegment([(.logs, 0, .logs([LogEntry(sequence: 0, timestamp: 0, level: .info, message: "x", metadata: nil)]))]),
                                  "w0000-+0000001.dls": []])
        defer { dir.remove() }
        let report = try Store.verify(directory: dir.path)
        #expect(report.isSound && report.segments == 1, "\(report)")
    }

    @Test func aSegmentWhoseHeaderNamesAnotherNumberIsDamage() throws {
        let entry = LogEntry(sequence: 0, timestamp: 0, level: .info, message: "x", metadata: nil)
        let one = craftSegment([(.logs, 0, .logs([entry]))])
        // Segment 1's bytes saved again as segment 2: its records must not be read as segment 2's.
        let dir = try craftStore([seg1: one, "w0000-00000002.dls": one])
        defer { dir.remove() }
        let report = try Store.verify(directory: dir.path)
        #expect(!report.isSound)
        #expect(report.damage.contains { $0.path.hasSuffix("w0000-00000002.dls") && $0.offset == 0 && $0.reason.contains("segment 1") }, "\(report)")
        #expect(throws: StoreError.self) { try Store(directory: dir.path, access: .read) }
    }

    @Test func invalidUTF8InAStoredStringIsDamage() throws {
        let entry = LogEntry(sequence: 0, timestamp: 0, level: .info, message: "abc", metadata: nil)
        var bytes = craftSegment([(.logs, 0, .logs([entry]))])
        // Turn "abc" into "a\xFFc" and set the payload checksum right again.
        let at = try #require(bytes.lastIndex(of: UInt8(ascii: "b")))
        bytes[at] = 0xFF
        let payload = Array(bytes[(FormatConstants.segmentHeaderSize + FormatConstants.blockHeaderSize)...])
        guard case .success(var h) = BlockHeader.decode(bytes[FormatConstants.segmentHeaderSize...].prefix(48)) else {
            Issue.record("header does not decode")
            return
        }
        h.payloadChecksum = CRC32C.checksum(payload)
        bytes.replaceSubrange(FormatConstants.segmentHeaderSize..<(FormatConstants.segmentHeaderSize + 48), with: h.encoded())
        let dir = try craftStore([seg1: bytes])
        defer { dir.remove() }
        let report = try Store.verify(directory: dir.path)
        #expect(report.damage.contains { $0.reason.contains("UTF-8") }, "\(report)")
        let store = try Store(directory: dir.path, access: .read)
        defer { try? store.close() }
        #expect(throws: StoreError.self) { try store.logs() }
    }

    // MARK: Bounded work

    @Test func headersClaimingHugePayloadsCostLinearWork() throws {
        // 200 sound-looking headers, each claiming a 16 MiB payload whose checksum is wrong, then one sound block.
        let entry = LogEntry(sequence: 0, timestamp: 0, level: .info, message: "x", metadata: nil)
        var bytes = craftSegment([(.logs, 0, .logs([entry]))])
        let liar = BlockHeader(storedLength: UInt32(FormatConstants.maxBlockPayload), payloadChecksum: 1, codec: .none,
                               stream: .logs, uncompressedLength: UInt32(FormatConstants.maxBlockPayload), recordCount: 1,
                               firstSequence: 1, lastSequence: 1).encoded()
        for _ in 0..<200 { bytes += liar + [UInt8](repeating: 0x55, count: 16) }
        bytes += [UInt8](repeating: 0x55, count: FormatConstants.maxBlockPayload)
        let tail = craftSegment([(.logs, 1, .logs([entry]))]).dropFirst(FormatConstants.segmentHeaderSize)
        bytes += tail
        let dir = try craftStore([seg1: bytes])
        defer { dir.remove() }
        let file = try File.open(dir.segments + "/" + seg1, .readOnly)
        defer { try? file.close() }
        let scan = try SegmentScanner.scan(file, segment: SegmentID(writer: 0, number: 1))
        #expect(scan.blocks.count == 2 && scan.bad.count == 1, "\(scan.blocks) \(scan.bad)")
        // Each byte checksummed about once: not 200 times 16 MiB.
        #expect(scan.bytesRead < 3 * UInt64(bytes.count), "read \(scan.bytesRead) bytes of a \(bytes.count)-byte file")
        #expect(try Store.verify(directory: dir.path).damage.count == 1)
    }

    @Test func aSparseZeroTailIsSkippedNotRead() throws {
        let entry = LogEntry(sequence: 0, timestamp: 0, level: .info, message: "x", metadata: nil)
        let bytes = craftSegment([(.logs, 0, .logs([entry]))])
        let dir = try craftStore([seg1: bytes])
        defer { dir.remove() }
        let path = dir.segments + "/" + seg1
        try truncateFile(path, to: 8 << 30)  // 8 GiB, a hole after the block
        let file = try File.open(path, .readOnly)
        let scan = try SegmentScanner.scan(file, segment: SegmentID(writer: 0, number: 1))
        try file.close()
        #expect(scan.blocks.count == 1 && !scan.hasUnfinishedTail)
        #expect(scan.bytesRead < 1 << 20, "read \(scan.bytesRead) bytes of an 8 GiB hole")
        #expect(try Store.verify(directory: dir.path).isSound)
        let writer = try Store(directory: dir.path)  // recovery cuts the zeros
        try writer.close()
        #expect(fileSize(path) == UInt64(bytes.count))
    }

    // MARK: Links and special files

    @Test func linksInsideAStoreAreNeverFollowedOrWrittenThrough() throws {
        let outside = TempRoot("outside")
        defer { outside.remove() }
        let victim = outside.path + "/victim"
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
        func victimIntact() -> Bool { (try? String(contentsOfFile: victim, encoding: .utf8)) == "precious\n" }

        // The writer lock as a link.
        let a = try craftStore([:])
        defer { a.remove() }
        try FileManager.default.createSymbolicLink(atPath: a.path + "/writer-0000.lock", withDestinationPath: victim)
        #expect { try Store(directory: a.path) } throws: { ($0 as? StoreError)?.message.contains("symbolic link") == true }
        #expect(victimIntact())

        // A segment as a link.
        let b = try craftStore([:])
        defer { b.remove() }
        try FileManager.default.createSymbolicLink(atPath: b.segments + "/" + seg1, withDestinationPath: victim)
        #expect { try Store(directory: b.path) } throws: { ($0 as? StoreError)?.path == b.segments + "/" + seg1 }
        #expect(victimIntact())
        #expect(throws: StoreError.self) { try Store.verify(directory: b.path) }

        // segments/ as a link: nothing is made there.
        let c = TempDirectory()
        defer { c.remove() }
        try FileManager.default.createDirectory(atPath: c.path, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: c.segments, withDestinationPath: outside.path)
        #expect { try Store(directory: c.path) } throws: { ($0 as? StoreError)?.message.contains("symbolic link") == true }
        #expect { try Store(directory: c.path, access: .read) } throws: { ($0 as? StoreError)?.path == c.segments }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path) == ["victim"])
    }

    @Test func fifosInsideAStoreAreRefusedWithoutBlocking() throws {
        // A store with a sealed segment (so an index is read) and a FIFO for its index and its lock.
        let dir = TempDirectory()
        defer { dir.remove() }
        var config = StoreConfiguration(durability: .buffered)
        config.segmentSize = 4096
        config.maxRecordsPerBlock = 100
        let store = try Store(directory: dir.path, configuration: config)
        let t = try store.track(named: "t")
        for i in 0..<5000 { try t.append(["x": .string("point \(i) of a track long enough to fill several segments")]) }
        try store.close()
        let index = try #require(dir.indexFiles().first)
        try FileManager.default.removeItem(atPath: index)
        #expect(mkfifo(index, 0o644) == 0)
        #expect(mkfifo(dir.path + "/writer-0000.lock.fifo", 0o644) == 0)
        // Reading ignores an index it cannot use (and does not wait on it).
        let reader = try Store(directory: dir.path, access: .read, configuration: config)
        #expect(reader.count(of: .track(t.id)) == 5000)
        try reader.close()
        #expect(try Store.verify(directory: dir.path).isSound)
        // The lock as a FIFO: the writer refuses it by name, at once.
        try FileManager.default.removeItem(atPath: dir.path + "/writer-0000.lock")
        try FileManager.default.moveItem(atPath: dir.path + "/writer-0000.lock.fifo", toPath: dir.path + "/writer-0000.lock")
        #expect { try Store(directory: dir.path, configuration: config) } throws: {
            ($0 as? StoreError)?.message.contains("FIFO") == true
        }
    }

    @Test func theKernelsLockTableIsReadLineByLineAndAnyOtherTextHoldsNoLock() {
        func held(_ table: String, _ major: UInt64 = 0xfe, _ minor: UInt64 = 0, _ inode: UInt64 = 5349549) -> Bool {
            HeldFlocks(table: Array(table.utf8)).files.contains(HeldFlocks.File(major: major, minor: minor, inode: inode))
        }
        let table = "1: OFDLCK ADVISORY  WRITE -1 fe:00:5335251 0 EOF\n2: POSIX  ADVISORY  WRITE 4573 fe:00:5349549 0 EOF\n"
            + "3: FLOCK  ADVISORY  WRITE 3720 fe:00:5349531 0 EOF\n4: -> FLOCK  ADVISORY  WRITE 3721 fe:00:5349549 0 EOF"
        #expect(held(table, 0xfe, 0, 5349531), "a flock, the spaces between fields in runs")
        #expect(!held(table), "a POSIX lock and a waiter (->) on the file are not a held flock")
        #expect(!held(table, 0xfe, 1, 5349531) && !held(table, 0xfd, 0, 5349531) && !held(table, 0xfe, 0, 534953))
        #expect(held("9: FLOCK ADVISORY WRITE 1 FE:00:5349549 0 EOF"), "hex digits of either case")
        #expect(held("\n\n  9:   FLOCK ADVISORY WRITE 1 fe:00:5349549"), "blank lines and leading spaces")
        // Hostile text: numbers past UInt64, digits of the wrong radix, fields missing, no end of line.
        #expect(!held("9: FLOCK ADVISORY WRITE 1 fe:00:99999999999999999999999 0 EOF", 0xfe, 0, .max))
        #expect(!held("9: FLOCK ADVISORY WRITE 1 fe:00:53495a9 0 EOF") && !held("9: FLOCK ADVISORY WRITE 1 fe:00"))
        #expect(!held("9: FLOCK ADVISORY WRITE 1") && !held("") && !held(":::::") && !held("9: FLOCK a b c ::"))
        #expect(!held("9: FLOCK ADVISORY WRITE 1 fe::5349549 0 EOF", 0xfe, 0), "an empty number is none")
    }
}

@Suite struct ReadsDoNotChangeWritesTests {
    /// Reading tracks in the writer's process (which once made an open block
    /// for each, and so re-divided the memory budget and shrank every block
    /// written after) leaves the bytes written exactly as they are without the reads.
    @Test func readingOtherTracksLeavesTheBlocksWrittenAsTheyWere() throws {
        var blocks: [[String]] = []
        for reading in [false, true] {
            let dir = TempDirectory()
            defer { dir.remove() }
            var config = StoreConfiguration(durability: .buffered)
            config.maxOpenBytes = 64 << 10
            do {
                let store = try Store(directory: dir.path, configuration: config)
                for k in 0..<40 { _ = try store.track(named: "t\(k)", timestamp: 1).append(value: 1, step: 0, timestamp: 1) }
                try store.close()
            }
            let store = try Store(directory: dir.path, configuration: config)
            if reading {
                for info in store.tracks() {
                    _ = store.count(of: .track(info.id))
                    _ = try store.points(of: info.id, from: 0, limit: 10)
                }
            }
            let t = try #require(try store.track(TrackID(rawValue: 0)))
            for i in 0..<200_000 { try t.append(value: Double(i) * 0.001, step: Int64(i), timestamp: 2 + Int64(i)) }
            try store.close()
            // Track 0's blocks as written: where each starts in the track, its points and its bytes. (Not the
            // whole files: the 40 one-point blocks of the first opening are written in no set order.)
            let reader = try Store(directory: dir.path, access: .read)
            blocks.append(reader.shared.lock.withLock { reader.shared.refs[.track(TrackID(rawValue: 0))] ?? [] }
                .map { "\($0.firstSequence)+\($0.count):\($0.length)" })
            try reader.close()
        }
        #expect(blocks[0].count > 10, "the workload writes many blocks of track 0")
        let same = blocks[0] == blocks[1]  // compared first, so that a failure does not print them all
        #expect(same, "reads changed the blocks written: \(blocks[0].prefix(3)) vs \(blocks[1].prefix(3))")
    }
}
