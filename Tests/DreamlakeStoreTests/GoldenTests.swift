import Foundation
import Testing
@testable import DreamlakeStore

/// The store FORMAT.md's annotated example shows, written by format version 1
/// and committed. This version must write the same bytes and read them back;
/// later versions must keep reading them.
@Suite struct GoldenTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden/example-v1.dls").path

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
}
