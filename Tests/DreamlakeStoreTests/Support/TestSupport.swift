import DreamlakeTestSupport
import Foundation
@_spi(Reference) @testable import DreamlakeStore

/// A store's directory (not yet made) in a fresh ``TempRoot``; `remove()` deletes the root.
struct TempDirectory {
    let root: TempRoot
    let path: String

    init(_ name: String = "store") {
        root = TempRoot()
        path = root.path + "/" + name
    }

    func remove() { root.remove() }

    var segments: String { path + "/segments" }

    /// Removes the store's commit log, leaving the store as a writer of
    /// format version 1 (one writer, no log) left it: what the tests of
    /// walking writer 0's segments (readers of such stores, and the writer
    /// that makes their log) look at.
    func dropCommitLog() {
        try? FileManager.default.removeItem(atPath: path + "/commits.dlc")
    }

    func segmentFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: segments)) ?? []).filter { $0.hasSuffix(".dls") }.sorted()
            .map { segments + "/" + $0 }
    }

    func indexFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: segments)) ?? []).filter { $0.hasSuffix(".dli") }.sorted()
            .map { segments + "/" + $0 }
    }
}

/// The reference workload's value at point i.
func referenceLoss(_ i: Int) -> Double { ReferenceWorkload.value(i) }

/// Doubles every encoder must carry through exactly.
let edgeDoubles: [Double] = [
    0.0, -0.0, 1.0, -1.0, .nan, -.nan, Double(bitPattern: 0x7FF0_0000_0000_0001), Double(bitPattern: 0xFFF8_DEAD_BEEF_0001),
    .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
    -.greatestFiniteMagnitude, 1e16, 1e-5, 0.1 + 0.2, 9007199254740993.0, .pi,
]

let edgeInts: [Int64] = [0, 1, -1, .max, .min, .max - 1, .min + 1, 1 << 53 + 1, -(1 << 53) - 1, 255, 256, -129]

func randomString(_ rng: inout SplitMix64) -> String {
    let pool: [String] = ["a", "Z", "é", "漢", "字", "🚀", "👩‍👩‍👧", "\"", "\\", "\n", "\u{0}", "\u{1F}", " ", "x", "ß"]
    let n = Int(rng.next() % 12)
    return (0..<n).map { _ in pool[Int(rng.next() % UInt64(pool.count))] }.joined()
}

func randomValue(_ rng: inout SplitMix64, depth: Int = 0) -> Value {
    let choice = rng.next() % (depth > 3 ? 5 : 7)
    switch choice {
    case 0: return .null
    case 1: return .bool(rng.next() % 2 == 0)
    case 2: return rng.next() % 3 == 0 ? .int(edgeInts[Int(rng.next() % UInt64(edgeInts.count))]) : .int(Int64(bitPattern: rng.next()))
    case 3: return rng.next() % 3 == 0 ? .double(edgeDoubles[Int(rng.next() % UInt64(edgeDoubles.count))]) : .double(Double(bitPattern: rng.next()))
    case 4: return .string(randomString(&rng))
    case 5: return .array((0..<Int(rng.next() % 5)).map { _ in randomValue(&rng, depth: depth + 1) })
    default: return .object(randomObject(&rng, depth: depth + 1))
    }
}

func randomObject(_ rng: inout SplitMix64, depth: Int = 0) -> ValueObject {
    var o = ValueObject()
    for _ in 0..<Int(rng.next() % 6) { o[randomString(&rng) + String(o.count)] = randomValue(&rng, depth: depth) }
    return o
}

/// Flips the bits of one byte of a file.
func flipByte(_ path: String, at offset: UInt64) throws {
    let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? h.close() }
    try h.seek(toOffset: offset)
    let b = try h.read(upToCount: 1) ?? Data([0])
    try h.seek(toOffset: offset)
    try h.write(contentsOf: Data([b[0] ^ 0xFF]))
}

func fileSize(_ path: String) -> UInt64 {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
}

func truncateFile(_ path: String, to size: UInt64) throws {
    let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? h.close() }
    try h.truncate(atOffset: size)
}
