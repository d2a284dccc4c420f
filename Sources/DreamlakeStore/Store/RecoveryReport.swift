/// What opening (or verifying) a store found and did about damage.
public struct RecoveryReport: Sendable, Equatable, CustomStringConvertible {
    /// An incomplete last block cut off the end of the active segment: the
    /// writer was interrupted while writing it; nothing acknowledged is in it.
    public struct TornTail: Sendable, Equatable {
        /// The segment file.
        public var path: String
        /// Where the cut was made; the segment now ends here.
        public var offset: UInt64
        /// How many bytes were cut.
        public var bytesDropped: UInt64
    }

    /// A damaged region that was skipped (salvage mode) or found (verification).
    public struct Damage: Sendable, Equatable {
        /// The segment file.
        public var path: String
        /// Where the damaged region starts.
        public var offset: UInt64
        /// How many bytes were skipped.
        public var length: UInt64
        /// What was wrong: "payload checksum mismatch", "bad block header", ...
        public var reason: String
        /// The stream and sequence range of the damaged block, when its header could be read.
        public var stream: StreamKey?
        /// The records of ``stream`` the damaged block held.
        public var sequences: ClosedRange<UInt64>?
    }

    /// Torn tails cut off.
    public var tornTails: [TornTail] = []
    /// Damage skipped.
    public var damage: [Damage] = []
    /// Index files that were missing or unusable and were rebuilt from their segment.
    public var rebuiltIndexes: [String] = []

    /// An empty report.
    public init() {}

    /// Whether nothing at all was found.
    public var isClean: Bool { tornTails.isEmpty && damage.isEmpty && rebuiltIndexes.isEmpty }

    public var description: String {
        var lines: [String] = []
        for t in tornTails { lines.append("torn tail: \(t.bytesDropped) bytes cut at byte \(t.offset) of \(t.path)") }
        for d in damage {
            var s = "damage: \(d.reason), \(d.length) bytes at byte \(d.offset) of \(d.path)"
            if let stream = d.stream { s += " (\(stream)" + (d.sequences.map { " records \($0.lowerBound)...\($0.upperBound)" } ?? "") + ")" }
            lines.append(s)
        }
        for p in rebuiltIndexes { lines.append("rebuilt index: \(p)") }
        return lines.isEmpty ? "clean" : lines.joined(separator: "\n")
    }
}
