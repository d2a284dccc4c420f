import Foundation
import Testing
@_spi(Fuzzing) @testable import DreamlakeStore

/// Replays every input kept in FuzzRegressions/<target>/ (inputs the fuzzers
/// found interesting or that once failed) through the fuzz entry points, with
/// and without their checksums set right, and the golden store's segment and
/// blocks: each call must return. A trap fails the whole run, which is the point.
@Suite struct FuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FuzzRegressions")

    @Test(arguments: FuzzEntry.Target.allCases)
    func keptInputsReturn(target: FuzzEntry.Target) throws {
        let dir = FuzzRegressionTests.folder.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(!names.isEmpty, "FuzzRegressions/\(target.rawValue) holds no inputs")
        for name in names {
            let bytes = Array(try Data(contentsOf: dir.appendingPathComponent(name)))
            FuzzEntry.run(target, bytes, fixingChecksums: true)
            FuzzEntry.run(target, bytes, fixingChecksums: false)
        }
    }

    @Test func everyPrefixOfTheGoldenSegmentReturns() throws {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/example-v1.dls")
        let bytes = Array(try Data(contentsOf: golden))
        for cut in stride(from: 0, through: bytes.count, by: 7) {
            let prefix = Array(bytes[..<cut])
            FuzzEntry.run(.segment, prefix, fixingChecksums: false)
            FuzzEntry.run(.block, Array(bytes[min(32, cut)...]), fixingChecksums: true)
        }
    }
}
