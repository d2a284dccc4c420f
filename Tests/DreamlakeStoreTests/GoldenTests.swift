import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeStore

/// The store FORMAT.md's annotated example shows, written by format version 1
/// and committed. This version must write the same bytes and read them back;
/// later versions must keep reading them.
@Suite struct GoldenTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden/example-v1.dls").path

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

    @Test func thisVersionWritesTheDocumentedBytes() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try Self.writeExample(dir.path)
        let written = try Data(contentsOf: URL(fileURLWithPath: try #require(dir.segmentFiles().first)))
        #expect(written == (try Data(contentsOf: URL(fileURLWithPath: Self.golden))),
                "the bytes changed: update FORMAT.md's example, the golden file and, if readers must tell, the format version")
    }

    @Test func theVersion1GoldenStoreReadsBack() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.segments, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.golden, toPath: dir.segments + "/w0000-00000001.dls")
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
        #expect(dumped == golden, "FORMAT.md's dump differs from Golden/example-v1.dls")
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
