/// Where one block lives and what it holds: an index entry.
struct BlockRef: Equatable, Sendable {
    var segment: UInt64
    var offset: UInt64
    /// Header plus stored payload, in bytes.
    var length: UInt32
    var stream: StreamKey
    var count: UInt32
    var firstSequence: UInt64

    var endSequence: UInt64 { firstSequence + UInt64(count) }
}

/// The names of a store's files (FORMAT.md, "Files of a store").
enum StoreFiles {
    static let segmentDirectory = "segments"

    static func segmentName(writer: UInt32, segment: UInt64) -> String {
        "w\(pad(UInt64(writer), 4))-\(pad(segment, 8)).dls"
    }

    static func indexName(writer: UInt32, segment: UInt64) -> String {
        "w\(pad(UInt64(writer), 4))-\(pad(segment, 8)).dli"
    }

    static func lockName(writer: UInt32) -> String { "writer-\(pad(UInt64(writer), 4)).lock" }

    /// Parses "wWWWW-SSSSSSSS.dls" into (writer, segment).
    static func parseSegmentName(_ name: String) -> (writer: UInt32, segment: UInt64)? {
        guard name.hasSuffix(".dls"), name.hasPrefix("w") else { return nil }
        let body = name.dropFirst().dropLast(4)
        let parts = body.split(separator: "-")
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 8,
              let w = UInt32(parts[0]), let s = UInt64(parts[1]) else { return nil }
        return (w, s)
    }

    private static func pad(_ v: UInt64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
