import DreamlakeTestSupport
import Foundation
import Testing
@_spi(Fuzzing) @testable import DreamlakeServer
import Dreamlake
import DreamlakeStore

// Issue 15: what `dreamlake serve` answers about stores no writer would
// make, and the whole read path (to the server's answers) on the fuzzers' kept inputs.

@Suite struct ServerHostileInputTests {
    @Test func theServerAnswersForPointsAtTheExtremeTimestamps() throws {
        let root = TempRoot()
        defer { root.remove() }
        let store = try Store(directory: root.path + "/ws/s")
        let t = try store.track(named: "t")
        try t.append(["v": .int(1)], timestamp: .min)
        try store.appendLog("at the start of time", level: .info, metadata: nil, timestamp: .min)
        try store.close()
        let service = try RemoteService(root: root.path)
        defer { _ = service.close() }
        let id = RemoteService.sessionID(workspace: "ws", name: "s")
        let page = try service.readTrack(id, track: "t", startIndex: 0, limit: 10)
        #expect("\(page)".contains("-290308-12-21T19:59:05.224192Z"), "\(page)")
        #expect(throws: Never.self) { try service.trackStats(id, track: "t") }
    }

    /// The whole-read-path fuzz target's kept inputs (and the segment target's), with and without checksums set right.
    @Test func theWholeReadPathReturnsOnKeptInputs() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DreamlakeStoreTests/FuzzRegressions")
        var count = 0
        for target in ["store", "segment"] {
            let dir = folder.appendingPathComponent(target)
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() {
                let bytes = Array(try Data(contentsOf: dir.appendingPathComponent(name)))
                StoreFuzzEntry.run(bytes, fixingChecksums: true)
                StoreFuzzEntry.run(bytes, fixingChecksums: false)
                count += 1
            }
        }
        #expect(count > 1)
    }
}
