import Foundation

/// A fresh folder under the system's temporary folder, for one test; `remove()` deletes it.
public struct TempRoot: Sendable {
    /// The folder's path.
    public let path: String

    /// Makes the folder, named `dreamlake-<kind>-<uuid>`.
    public init(_ kind: String = "tests") {
        path = NSTemporaryDirectory() + "dreamlake-\(kind)-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Deletes the folder and everything in it.
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A small deterministic random generator (SplitMix64), so that a failure reproduces from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's state; the seed to begin with.
    public var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
