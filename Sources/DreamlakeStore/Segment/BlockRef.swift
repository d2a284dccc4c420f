/// One segment file: the writer that wrote it and its number among that writer's segments.
struct SegmentID: Hashable, Comparable, Sendable, CustomStringConvertible {
    var writer: UInt32
    var number: UInt64

    static func < (a: SegmentID, b: SegmentID) -> Bool { (a.writer, a.number) < (b.writer, b.number) }

    var description: String { "segment \(number) of writer \(writer)" }
}

/// Where one block lives and what it holds: an index entry.
struct BlockRef: Equatable, Sendable {
    var segment: SegmentID
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

    static func segmentName(_ id: SegmentID) -> String { segmentName(writer: id.writer, segment: id.number) }
    static func indexName(_ id: SegmentID) -> String { indexName(writer: id.writer, segment: id.number) }
    static func summaryName(_ id: SegmentID) -> String { summaryName(writer: id.writer, segment: id.number) }

    static func segmentName(writer: UInt32, segment: UInt64) -> String {
        "w\(pad(UInt64(writer), 4))-\(pad(segment, 8)).dls"
    }

    static func indexName(writer: UInt32, segment: UInt64) -> String {
        "w\(pad(UInt64(writer), 4))-\(pad(segment, 8)).dli"
    }

    static func summaryName(writer: UInt32, segment: UInt64) -> String {
        "w\(pad(UInt64(writer), 4))-\(pad(segment, 8)).dlm"
    }

    static func lockName(writer: UInt32) -> String { "writer-\(pad(UInt64(writer), 4)).lock" }

    /// Parses "wWWWW-SSSSSSSS.dls" (exactly: "w", 4 ASCII digits, "-", 8
    /// ASCII digits, ".dls") into (writer, segment); any other name is not a segment.
    static func parseSegmentName(_ name: String) -> (writer: UInt32, segment: UInt64)? {
        let b = Array(name.utf8)
        guard b.count == 18, b[0] == UInt8(ascii: "w"), b[5] == UInt8(ascii: "-"),
              b[14...] == Array(".dls".utf8)[...] else { return nil }
        func digits(_ r: Range<Int>) -> UInt64? {
            var v: UInt64 = 0
            for c in b[r] {
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
                v = v * 10 + UInt64(c - UInt8(ascii: "0"))  // at most 8 digits: no overflow
            }
            return v
        }
        guard let w = digits(1..<5), let s = digits(6..<14) else { return nil }
        return (UInt32(w), s)
    }

    private static func pad(_ v: UInt64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
