// The constants every on-disk structure shares. FORMAT.md documents each one;
// a value written to disk never changes meaning: new encodings get new ids.

/// Numbers that describe the on-disk format. See FORMAT.md.
public enum FormatConstants {
    /// The format version written in every segment header: 2 since double
    /// columns may use encoding 5 (a linear predictor summed oldest term first),
    /// which a version 1 reader must refuse by name rather than take for damage.
    /// Readers read every version from ``oldestReadableVersion`` to this one and
    /// reject others with ``StoreError/Code/unsupportedVersion``.
    public static let formatVersion: UInt16 = 2
    /// The oldest segment format version this library reads.
    public static let oldestReadableVersion: UInt16 = 1
    /// What a reader says of a segment of format version `v`, which it does not read.
    static func unsupportedSegmentVersion(_ v: UInt16) -> String {
        "segment written by format version \(v); this library reads versions \(oldestReadableVersion) to \(formatVersion)"
            + (v > formatVersion ? ": use a newer dreamlake" : "")
    }

    /// The version written in every index file's header (its layout has not changed since version 1).
    static let indexVersion: UInt16 = 1

    /// First 8 bytes of a segment file: "DLKSEG01" in ASCII.
    static let segmentMagic: [UInt8] = Array("DLKSEG01".utf8)
    /// First 8 bytes of an index file: "DLKIDX01" in ASCII.
    static let indexMagic: [UInt8] = Array("DLKIDX01".utf8)
    /// First 4 bytes of every block header: "DLBK" read as a little-endian UInt32.
    static let blockMarker: UInt32 = 0x4B42_4C44

    /// Size of a segment header in bytes.
    static let segmentHeaderSize = 32
    /// Size of a block header in bytes.
    static let blockHeaderSize = 48
    /// Size of an index file header in bytes.
    static let indexHeaderSize = 40
    /// Size of one index entry in bytes.
    static let indexEntrySize = 40

    /// Largest payload (stored or uncompressed) a block may declare. Anything
    /// larger read from disk is damage, never an allocation request.
    static let maxBlockPayload = 16 << 20
    /// Largest number of records a block may declare.
    static let maxBlockRecords = 1 << 20
    /// Largest number of decoded numbers (records times columns) one block may
    /// hold, which caps what decoding a hostile block can allocate (32 MiB).
    static let maxBlockCells = 1 << 22
}

/// How a block's payload is stored. Persistent: values never change meaning.
public enum BlockCodec: UInt8, Sendable {
    /// The payload is the encoded records as they are.
    case none = 0
    /// The payload is one LZ4 block (liblz4's `LZ4_compress_default` format).
    case lz4 = 1
}

/// What kind of records a block holds. Persistent: values never change meaning.
public enum RecordKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Log entries (``LogEntry``); one stream per store, stream id 0.
    case log = 1
    /// Points of one track (``TrackPoint``); the stream id is the track id.
    case trackPoint = 2
    /// Parameter updates (``ObjectRecord``); stream id 0.
    case parameters = 3
    /// Session metadata updates (``ObjectRecord``); stream id 0.
    case sessionMetadata = 4
    /// Track definitions and their updates (``TrackMetadata``); stream id 0.
    case trackMetadata = 5
    /// File records (``FileRecord``); stream id 0.
    case file = 6

    public var description: String {
        switch self {
        case .log: "log"
        case .trackPoint: "track"
        case .parameters: "parameters"
        case .sessionMetadata: "session metadata"
        case .trackMetadata: "track metadata"
        case .file: "files"
        }
    }
}

/// Encodings of a track block's payload. Persistent.
enum TrackBlockLayout: UInt8 {
    /// Every point has the same keys with int64 or double values: stored column by column.
    case columnar = 1
    /// Points of any shape, each stored with the generic value encoding.
    case generic = 2
}

/// Encodings of one numeric column. Persistent.
enum ColumnEncoding: UInt8 {
    /// int64: residual = value - previous value (previous of the first is 0).
    case intDelta = 1
    /// int64: residual = delta - previous delta.
    case intDeltaOfDelta = 2
    /// double: residual = bits(value) - bits(prediction) with a fixed
    /// polynomial predictor of order 0...3 (order byte follows).
    case doubleFixedPredictor = 3
    /// double: residual against a linear predictor whose coefficients
    /// are stored in the column (order byte and coefficients follow), its
    /// products summed newest value first. Written by format version 1 only.
    case doubleLinearPredictor = 4
    /// double: as `doubleLinearPredictor`, its products summed oldest value
    /// first, so that the newest value (the one just decoded) enters the
    /// prediction last. Written from format version 2 on.
    case doubleLinearPredictorOldestFirst = 5
}

/// Value types a columnar track block can hold. Persistent.
enum ColumnType: UInt8 {
    case int = 1
    case double = 2
}
