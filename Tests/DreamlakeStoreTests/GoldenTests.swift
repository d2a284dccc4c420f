import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeStore

/// The store FORMAT.md's annotated example shows, written by this format
/// version and committed, and stores earlier versions wrote. This version must
/// write the same bytes and read them back; later versions must keep reading
/// every one of them.
@Suite struct GoldenTests {
    static func goldenPath(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/" + name).path
    }
    /// The example's segment as this version writes it (format version 2).
    static let golden = goldenPath("example-v2.dls")
    /// The example's segment as format version 1 wrote it (the same but the header's version and CRC).
    static let goldenV1 = goldenPath("example-v1.dls")

    /// The bytes of an `xxd` dump in FORMAT.md: on each "00000020: 444c 424b ...  DLBK..." line,
    /// the hex between the colon and the two spaces before the text.
    static func bytes(ofDump dump: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for line in dump.split(separator: "\n") where line.contains(": ") {
            let hex = line.split(separator: ":", maxSplits: 1)[1].components(separatedBy: "  ")[0].replacingOccurrences(of: " ", with: "")
            var i = hex.startIndex
            while i < hex.endIndex {
                let j = hex.index(i, offsetBy: 2)
                bytes.append(try #require(UInt8(hex[i..<j], radix: 16)))
                i = j
            }
        }
        return bytes
    }

    static func writeExample(_ path: String) throws {
        let store = try Store(directory: path, configuration: StoreConfiguration(durability: .buffered))
        try store.appendLog("hi", level: .warn, metadata: ["epoch": 3], timestamp: 1_764_000_000_000_000)
        let t = try store.track(named: "loss", timestamp: 1_764_000_000_000_000)
        for i in 0..<3 { try t.append(value: 0.5 / Double(i + 1), step: Int64(i), timestamp: 1_764_000_000_000_000 + Int64(i)) }
        try store.close()
    }

    /// 600 values the writer predicts with its linear predictor: a damped
    /// oscillation with a small saw-tooth, computed with `+` and `*` alone (the
    /// same bits on every machine).
    static func linearExampleValues() -> [Double] {
        var xs: [Double] = [1.0, 0.95]
        while xs.count < 600 {
            let i = xs.count
            xs.append(1.8 * xs[i - 1] - 0.9 * xs[i - 2] + 0.001 * Double(i % 7))
        }
        return xs
    }

    /// A track "wave" of ``linearExampleValues()`` with steps 0..<600 in one block.
    static func writeLinearExample(_ path: String) throws {
        let store = try Store(directory: path, configuration: StoreConfiguration(durability: .buffered))
        let t = try store.track(named: "wave", timestamp: 1_764_000_000_000_000)
        for (i, x) in linearExampleValues().enumerated() {
            try t.append(value: x, step: Int64(i), timestamp: 1_764_000_000_000_000 + Int64(i))
        }
        try store.close()
    }

    /// A store of ``writeLinearExample(_:)`` as format version 1 wrote it: its value column
    /// is encoding 4 (the linear predictor summed newest term first).
    static let goldenLinearV1 = goldenPath("linear-v1.dls")

    /// The encoding byte of the "value" column of every block of points in a segment (FORMAT.md:
    /// a columnar block's fields follow its timestamps; each is a name, a type, then the column).
    static func valueColumnEncodings(_ segment: String) throws -> [UInt8] {
        let file = try File.open(segment, .readOnly)
        defer { try? file.close() }
        let name = try #require(StoreFiles.parseSegmentName(URL(fileURLWithPath: segment).lastPathComponent))
        return try SegmentScanner.scan(file, segment: SegmentID(writer: name.writer, number: name.segment)).blocks
            .filter { $0.stream.kind == .trackPoint }
            .map { ref in
                let bytes = try file.read(at: ref.offset, count: Int(ref.length))
                guard case .success(let header) = BlockHeader.decode(bytes[...]) else { throw DecodeError("block header") }
                let stored = bytes[FormatConstants.blockHeaderSize...]
                let payload = header.codec == .lz4 ? try LZ4.decompress(stored, uncompressedSize: Int(header.uncompressedLength)) : Array(stored)
                let field: [UInt8] = [5] + Array("value".utf8) + [ColumnType.double.rawValue]
                let at = try #require((0...(payload.count - field.count - 1)).first { Array(payload[$0..<$0 + field.count]) == field })
                return payload[at + field.count]
            }
    }

    /// Format version 1's linear predictor (encoding 4) reads back bit for bit, and this version
    /// writes the same track with encoding 5 and reads it back the same.
    @Test func theVersion1LinearPredictorReadsBackAndThisVersionWritesEncoding5() throws {
        let values = Self.linearExampleValues().map(\.bitPattern)
        func readBack(_ path: String) throws -> [UInt64] {
            let store = try Store(directory: path, access: .read)
            defer { try? store.close() }
            let info = try #require(store.trackInfo(named: "wave"))
            return try store.points(of: info.id, from: 0, limit: 1_000).map { point -> UInt64 in
                guard case .double(let x)? = point.data["value"] else { return 0 }
                return x.bitPattern
            }
        }
        let old = TempDirectory()
        defer { old.remove() }
        try FileManager.default.createDirectory(atPath: old.segments, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.goldenLinearV1, toPath: old.segments + "/w0000-00000001.dls")
        #expect(try Self.valueColumnEncodings(old.segments + "/w0000-00000001.dls") == [ColumnEncoding.doubleLinearPredictor.rawValue])
        #expect(try readBack(old.path) == values)

        let now = TempDirectory()
        defer { now.remove() }
        try Self.writeLinearExample(now.path)
        #expect(try Self.valueColumnEncodings(#require(now.segmentFiles().first)) == [ColumnEncoding.doubleLinearPredictorOldestFirst.rawValue])
        #expect(try readBack(now.path) == values)
    }

    /// A writer that opens a store whose last segment format version 1 wrote appends nothing to it
    /// (version 1 readers would take encoding 5 for damage): it seals it as it is and goes on in a
    /// segment of this version; an empty one it takes over.
    @Test func aWriterLeavesAVersion1SegmentAsItIsAndGoesOnInANewOne() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.segments, withIntermediateDirectories: true)
        let first = dir.segments + "/w0000-00000001.dls"
        try FileManager.default.copyItem(atPath: Self.goldenV1, toPath: first)
        try FileManager.default.copyItem(atPath: Self.goldenCommitLog, toPath: dir.path + "/" + CommitLog.fileName)
        let before = try Data(contentsOf: URL(fileURLWithPath: first))
        do {
            let store = try Store(directory: dir.path, configuration: StoreConfiguration(durability: .buffered))
            let t = try store.track(named: "loss")
            for i in 3..<6 { try t.append(value: 0.5 / Double(i + 1), step: Int64(i), timestamp: 1_764_000_000_000_000 + Int64(i)) }
            try store.close()
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: first)) == before, "the version 1 segment was written to")
        let files = dir.segmentFiles()
        #expect(files.count == 2)
        let second = try #require(files.last)
        guard case .success(let header) = SegmentHeader.decode(Array(try Data(contentsOf: URL(fileURLWithPath: second)).prefix(32))) else {
            Issue.record("the new segment's header does not decode")
            return
        }
        #expect(header.version == FormatConstants.formatVersion && header.segment == 2)
        let store = try Store(directory: dir.path, access: .read)
        defer { try? store.close() }
        let info = try #require(store.trackInfo(named: "loss"))
        #expect(try store.points(of: info.id, from: 0, limit: 10).map(\.data["step"]) == (0..<6).map { Value.int(Int64($0)) })

        // A version 1 segment holding no block becomes this version's.
        let empty = TempDirectory()
        defer { empty.remove() }
        try FileManager.default.createDirectory(atPath: empty.segments, withIntermediateDirectories: true)
        var v1 = SegmentHeader(writer: 0, segment: 1)
        v1.version = 1
        try Data(v1.encoded()).write(to: URL(fileURLWithPath: empty.segments + "/w0000-00000001.dls"))
        let writer = try Store(directory: empty.path, configuration: StoreConfiguration(durability: .buffered))
        try writer.appendLog("hi")
        try writer.close()
        #expect(empty.segmentFiles().count == 1)
        guard case .success(let taken) = SegmentHeader.decode(Array(try Data(contentsOf: URL(fileURLWithPath: empty.segments + "/w0000-00000001.dls")).prefix(32))) else {
            Issue.record("the taken segment's header does not decode")
            return
        }
        #expect(taken.version == FormatConstants.formatVersion)
    }

    @Test func thisVersionWritesTheDocumentedBytes() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try Self.writeExample(dir.path)
        let written = try Data(contentsOf: URL(fileURLWithPath: try #require(dir.segmentFiles().first)))
        #expect(written == (try Data(contentsOf: URL(fileURLWithPath: Self.golden))),
                "the bytes changed: update FORMAT.md's example, the golden file and, if readers must tell, the format version")
    }

    @Test(arguments: [GoldenTests.goldenV1, GoldenTests.golden])
    func theGoldenStoresReadBack(segment: String) throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.segments, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: segment, toPath: dir.segments + "/w0000-00000001.dls")
        let store = try Store(directory: dir.path, access: .read)
        defer { try? store.close() }
        #expect(store.recoveryReport.isClean)
        let info = try #require(store.trackInfo(named: "loss"))
        #expect(info.count == 3 && info.createdAt == 1_764_000_000_000_000)
        let points = try store.points(of: info.id, from: 0, limit: 10)
        #expect(points.map(\.data) == [["value": 0.5, "step": 0], ["value": 0.25, "step": 1], ["value": .double(0.5 / 3), "step": 2]])
        #expect(points.map(\.timestamp) == [1_764_000_000_000_000, 1_764_000_000_000_001, 1_764_000_000_000_002])
        let logs = try store.logs()
        #expect(logs == [LogEntry(sequence: 0, timestamp: 1_764_000_000_000_000, level: .warn, message: "hi", metadata: ["epoch": 3])])
    }

    /// FORMAT.md's annotated dump is the golden file, byte for byte, and the
    /// offsets its notes give are where those blocks and payloads start: a
    /// reader written from the document alone reads what the code writes.
    @Test func formatMDsAnnotatedExampleIsTheGoldenFile() throws {
        let format = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("FORMAT.md")
        let text = try String(contentsOf: format, encoding: .utf8)
        let example = try #require(text.components(separatedBy: "## An annotated example").last)
        let dumped = try Self.bytes(ofDump: example.components(separatedBy: "```")[1])
        let golden = Array(try Data(contentsOf: URL(fileURLWithPath: Self.golden)))
        #expect(dumped == golden, "FORMAT.md's dump differs from Golden/example-v2.dls")
        // "`0x5f` block 2": a block header starts there; "Payload at `0xfd`": 48 bytes after one.
        func offsets(after marker: String, before suffix: String) -> [Int] {
            example.components(separatedBy: marker).dropFirst().compactMap { part in
                guard let end = part.range(of: suffix) else { return nil }
                return Int(part[..<end.lowerBound], radix: 16)
            }
        }
        let blocks = offsets(after: "- `0x", before: "` block")
        let payloads = offsets(after: "Payload at `0x", before: "`")
        #expect(blocks.count == 3 && payloads.count == 2, "\(blocks) \(payloads)")
        for b in blocks { #expect(Array(golden[b..<b + 4]) == Array("DLBK".utf8), "block at \(b)") }
        for p in payloads { #expect(Array(golden[(p - 48)..<(p - 44)]) == Array("DLBK".utf8), "payload at \(p)") }
    }

    static let goldenCommitLog = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden/example-v1.dlc").path

    /// The example's commit log is the golden file, and FORMAT.md shows the same bytes.
    @Test func thisVersionWritesTheDocumentedCommitLog() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try Self.writeExample(dir.path)
        let written = Array(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/" + CommitLog.fileName)))
        #expect(written == Array(try Data(contentsOf: URL(fileURLWithPath: Self.goldenCommitLog))),
                "the bytes changed: update FORMAT.md's commit log section and the golden file")
        let format = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("FORMAT.md")
        let section = try #require(try String(contentsOf: format, encoding: .utf8).components(separatedBy: "## Commit log (`commits.dlc`)").last)
        let dumped = try Self.bytes(ofDump: section.components(separatedBy: "```")[3])  // the diagrams, then the dump
        #expect(dumped == written, "FORMAT.md's commit log dump differs from Golden/example-v1.dlc")
        // The golden segment and log read back as the example.
        try FileManager.default.removeItem(atPath: dir.path)
        try FileManager.default.createDirectory(atPath: dir.segments, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.golden, toPath: dir.segments + "/w0000-00000001.dls")
        try FileManager.default.copyItem(atPath: Self.goldenCommitLog, toPath: dir.path + "/" + CommitLog.fileName)
        let store = try Store(directory: dir.path, access: .read)
        defer { try? store.close() }
        #expect(store.recoveryReport.isClean && store.trackInfo(named: "loss")?.count == 3)
        #expect(try store.logs().count == 1)
    }

    static let goldenSummary = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden/example-v1.dlm").path

    /// The example's track and three points, then a log entry too large for
    /// the rest of the segment, which seals it: its summary file is committed.
    @Test func thisVersionWritesTheDocumentedSummaryFile() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var config = StoreConfiguration(durability: .buffered)
        config.segmentSize = 4096
        let store = try Store(directory: dir.path, configuration: config)
        let t = try store.track(named: "loss", timestamp: 1_764_000_000_000_000)
        for i in 0..<3 { try t.append(value: 0.5 / Double(i + 1), step: Int64(i), timestamp: 1_764_000_000_000_000 + Int64(i)) }
        try store.flush()
        // Letters LZ4 cannot shorten: the block does not fit in segment 1's 4,096 bytes.
        var rng = SplitMix64(seed: 1)
        let filler = String((0..<5_000).map { _ in Character(Unicode.Scalar(UInt8(97 + rng.next() % 26))) })
        try store.appendLog(filler, timestamp: 1_764_000_000_000_003)
        try store.close()
        let summaries = try FileManager.default.contentsOfDirectory(atPath: dir.segments).filter { $0.hasSuffix(".dlm") }.sorted()
        #expect(summaries == ["w0000-00000001.dlm"])
        let written = try Data(contentsOf: URL(fileURLWithPath: dir.segments + "/w0000-00000001.dlm"))
        #expect(written == (try Data(contentsOf: URL(fileURLWithPath: Self.goldenSummary))),
                "the bytes changed: update FORMAT.md's summary file section and the golden file")
        // FORMAT.md shows the same bytes.
        let format = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("FORMAT.md")
        let section = try #require(try String(contentsOf: format, encoding: .utf8).components(separatedBy: "## Summary file (`.dlm`)").last)
        let dumped = try Self.bytes(ofDump: section.components(separatedBy: "```")[3])  // the diagram, then the dump
        #expect(dumped == Array(written), "FORMAT.md's summary file dump differs from Golden/example-v1.dlm")
        // What the bytes say, as FORMAT.md reads them.
        let bytes = Array(written)
        let length = UInt64(try FileManager.default.attributesOfItem(atPath: dir.segments + "/w0000-00000001.dls")[.size] as! Int)
        guard case .success(let entries) = SegmentSummary.decode(bytes, writer: 0, segment: 1, segmentLength: length),
              entries.count == 1, let entry = entries.values.first else { throw DecodeError("the golden summary file does not decode") }
        #expect(entry.track == 0 && entry.summary.range == 0..<3 && entry.summary.fields.map(\.name) == ["value", "step"])
        let value = entry.summary.bucket("value")
        #expect(value.first == EnvelopePoint(index: 0, value: 0.5) && value.last == EnvelopePoint(index: 2, value: 0.5 / 3))
        #expect(value.min == EnvelopePoint(index: 2, value: 0.5 / 3) && value.max == EnvelopePoint(index: 0, value: 0.5))
        #expect(entry.summary.bucket("step").max == EnvelopePoint(index: 2, value: 2) && value.count == 3 && value.missingCount == 0)
    }
}
