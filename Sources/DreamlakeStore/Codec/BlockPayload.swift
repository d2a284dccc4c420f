// The records of one block, and their encoding before compression
// (FORMAT.md, "Block payloads"). Each kind of record has its own layout;
// every layout starts with the records' timestamps as an int column.

/// Which stream a block belongs to: a kind of record and, for tracks, the track.
public struct StreamKey: Hashable, Sendable, CustomStringConvertible {
    /// The kind of records in the stream.
    public var kind: RecordKind
    /// The track id for track streams, 0 for the others.
    public var id: UInt32

    /// The stream of `kind` with this id.
    public init(kind: RecordKind, id: UInt32 = 0) {
        self.kind = kind
        self.id = id
    }

    /// The points of a track.
    public static func track(_ t: TrackID) -> StreamKey { StreamKey(kind: .trackPoint, id: t.rawValue) }
    /// The log.
    public static let logs = StreamKey(kind: .log)
    /// The parameter updates.
    public static let parameters = StreamKey(kind: .parameters)
    /// The session metadata updates.
    public static let sessionMetadata = StreamKey(kind: .sessionMetadata)
    /// The track definitions and their updates.
    public static let trackMetadata = StreamKey(kind: .trackMetadata)
    /// The file records.
    public static let files = StreamKey(kind: .file)

    public var description: String { kind == .trackPoint ? "track \(id)" : kind.description }
}

/// The records of one block, decoded.
enum Batch: Sendable {
    case points(PointBlock)
    case logs([LogEntry])
    /// Log entries as the writer's open block holds them (see `LogBuffer`).
    case encodedLogs(EncodedLogs)
    case objects(RecordKind, [ObjectRecord])
    case trackMetadata([TrackMetadata])
    case files([FileRecord])

    /// The batch with its points or log entries marked as written by
    /// `writer` (the block's writer slot, which the block itself does not hold).
    func written(by writer: UInt32) -> Batch {
        guard writer != 0 else { return self }
        switch self {
        case .points(var b):
            b.writer = writer
            return .points(b)
        case .logs(var entries):
            for i in entries.indices { entries[i].writer = writer }
            return .logs(entries)
        default:
            return self
        }
    }

    var count: Int {
        switch self {
        case .points(let b): b.count
        case .logs(let r): r.count
        case .encodedLogs(let e): e.timestamps.count
        case .objects(_, let r): r.count
        case .trackMetadata(let r): r.count
        case .files(let r): r.count
        }
    }
}

/// Log entries encoded as a log payload without its timestamp column.
struct EncodedLogs: Sendable {
    var firstSequence: UInt64
    var timestamps: [Int64]
    var body: [UInt8]
}

enum BlockPayload {
    // MARK: Encoding

    /// What the encoder of one stream carries from block to block.
    final class EncoderState {
        /// Per column key, the predictor of its last block.
        var predictors: [String: NumericColumns.PredictorHint] = [:]
    }

    static func encode(_ batch: Batch, state: EncoderState? = nil) -> [UInt8] {
        var w = ByteWriter(capacity: 4096)
        switch batch {
        case .points(let b):
            switch b.layout {
            case let .columns(keys, columns):
                w.u8(TrackBlockLayout.columnar.rawValue)
                NumericColumns.encodeInts(b.timestamps, into: &w)
                w.varint(UInt64(keys.count))
                for (k, c) in zip(keys, columns) {
                    w.string(k)
                    switch c {
                    case .int(let v):
                        w.u8(ColumnType.int.rawValue)
                        NumericColumns.encodeInts(v, into: &w)
                    case .double(let v):
                        w.u8(ColumnType.double.rawValue)
                        var hint = state?.predictors[k]
                        NumericColumns.encodeDoubles(v, into: &w, hint: &hint)
                        state?.predictors[k] = hint
                    }
                }
            case .rows(let rows):
                w.u8(TrackBlockLayout.generic.rawValue)
                NumericColumns.encodeInts(b.timestamps, into: &w)
                for r in rows { ValueCodec.encodeObject(r, into: &w) }
            }
        case .logs(let entries):
            NumericColumns.encodeInts(entries.map(\.timestamp), into: &w)
            for e in entries { encodeLogEntry(level: e.level, message: e.message, metadata: e.metadata, into: &w) }
        case .encodedLogs(let e):
            NumericColumns.encodeInts(e.timestamps, into: &w)
            w.raw(e.body)
        case .objects(_, let records):
            NumericColumns.encodeInts(records.map(\.timestamp), into: &w)
            for r in records { ValueCodec.encodeObject(r.fields, into: &w) }
        case .trackMetadata(let records):
            NumericColumns.encodeInts(records.map(\.timestamp), into: &w)
            for r in records {
                w.varint(UInt64(r.track.rawValue))
                w.string(r.name)
                ValueCodec.encodeObject(r.fields, into: &w)
            }
        case .files(let records):
            NumericColumns.encodeInts(records.map(\.timestamp), into: &w)
            for r in records {
                w.string(r.fileID)
                w.u8(r.deleted ? 1 : 0)
                ValueCodec.encodeObject(r.fields, into: &w)
            }
        }
        return w.bytes
    }

    /// One log entry after the timestamp column: level, message, metadata or null.
    static func encodeLogEntry(level: LogLevel, message: String, metadata: ValueObject?, into w: inout ByteWriter) {
        w.u8(level.rawValue)
        w.string(message)
        if let m = metadata {
            w.u8(ValueTag.object.rawValue)
            ValueCodec.encodeObject(m, into: &w)
        } else {
            w.u8(ValueTag.null.rawValue)
        }
    }

    // MARK: Decoding

    /// Decodes a payload of `count` records of `stream`, the first numbered `firstSequence`.
    /// `bytes[offset...]` is the payload (a stored block is decoded where it was read, without a copy).
    /// With `fields`, a columnar block of points keeps only those columns: the others are stepped
    /// over, their encodings and group headers checked, their values not rebuilt.
    static func decode(_ bytes: [UInt8], offset: Int = 0, stream: StreamKey, count: Int, firstSequence: UInt64,
                       fields: Set<String>? = nil) throws(DecodeError) -> Batch {
        guard count >= 0, count <= FormatConstants.maxBlockRecords else {
            throw DecodeError("record count \(count) is out of range")
        }
        var r = ByteReader(bytes, offset: offset)
        let batch: Batch
        switch stream.kind {
        case .trackPoint:
            batch = .points(try decodePoints(&r, track: TrackID(rawValue: stream.id), count: count, firstIndex: firstSequence,
                                             fields: fields))
        case .log:
            let ts = try NumericColumns.decodeInts(count: count, from: &r)
            batch = .logs(try decodeLogEntries(&r, timestamps: ts, firstSequence: firstSequence))
        case .parameters, .sessionMetadata:
            let ts = try NumericColumns.decodeInts(count: count, from: &r)
            var out: [ObjectRecord] = []
            out.reserveCapacity(min(count, 4096))
            for i in 0..<count {
                out.append(ObjectRecord(sequence: firstSequence + UInt64(i), timestamp: ts[i], fields: try ValueCodec.decodeObject(from: &r)))
            }
            batch = .objects(stream.kind, out)
        case .trackMetadata:
            let ts = try NumericColumns.decodeInts(count: count, from: &r)
            var out: [TrackMetadata] = []
            out.reserveCapacity(min(count, 4096))
            for i in 0..<count {
                let id = try r.varint()
                guard id <= UInt64(UInt32.max) else { throw DecodeError("track id \(id) is out of range") }
                let name = try r.string()
                let fields = try ValueCodec.decodeObject(from: &r)
                out.append(TrackMetadata(sequence: firstSequence + UInt64(i), timestamp: ts[i], track: TrackID(rawValue: UInt32(id)), name: name, fields: fields))
            }
            batch = .trackMetadata(out)
        case .file:
            let ts = try NumericColumns.decodeInts(count: count, from: &r)
            var out: [FileRecord] = []
            out.reserveCapacity(min(count, 4096))
            for i in 0..<count {
                let id = try r.string()
                let flags = try r.u8()
                guard flags <= 1 else { throw DecodeError("file record flags \(flags)") }
                let fields = try ValueCodec.decodeObject(from: &r)
                out.append(FileRecord(sequence: firstSequence + UInt64(i), timestamp: ts[i], fileID: id, deleted: flags == 1, fields: fields))
            }
            batch = .files(out)
        }
        guard r.isAtEnd else { throw DecodeError("\(r.remaining) bytes left after the last record") }
        return batch
    }

    /// The entries that follow a log payload's timestamp column, one per timestamp.
    static func decodeLogEntries(_ r: inout ByteReader, timestamps ts: [Int64], firstSequence: UInt64) throws(DecodeError) -> [LogEntry] {
        var out: [LogEntry] = []
        out.reserveCapacity(min(ts.count, 4096))
        for i in ts.indices {
            let levelByte = try r.u8()
            guard let level = LogLevel(rawValue: levelByte) else { throw DecodeError("unknown log level \(levelByte)") }
            let message = try r.string()
            let metadata: ValueObject?
            switch try ValueCodec.decode(from: &r) {
            case .null: metadata = nil
            case .object(let o): metadata = o
            default: throw DecodeError("log metadata is neither an object nor null")
            }
            out.append(LogEntry(sequence: firstSequence + UInt64(i), timestamp: ts[i], level: level, message: message, metadata: metadata))
        }
        return out
    }

    private static func decodePoints(_ r: inout ByteReader, track: TrackID, count: Int, firstIndex: UInt64,
                                     fields: Set<String>?) throws(DecodeError) -> PointBlock {
        let layoutByte = try r.u8()
        let ts = try NumericColumns.decodeInts(count: count, from: &r)
        switch TrackBlockLayout(rawValue: layoutByte) {
        case .columnar:
            let fieldCount = try r.count(minimumSize: 4)
            guard (fieldCount + 1) * max(count, 1) <= FormatConstants.maxBlockCells else {
                throw DecodeError("\(fieldCount) columns of \(count) points exceed the block limit")
            }
            var keys: [String] = []
            var skipped: [String] = []
            var columns: [PointBlock.Column] = []
            for _ in 0..<fieldCount {
                let key = try r.string()
                guard !keys.contains(key), !skipped.contains(key) else { throw DecodeError("column \"\(key)\" appears twice") }
                let typeByte = try r.u8()
                let wanted = fields?.contains(key) ?? true
                switch ColumnType(rawValue: typeByte) {
                case .int where wanted: columns.append(.int(try NumericColumns.decodeInts(count: count, from: &r)))
                case .double where wanted: columns.append(.double(try NumericColumns.decodeDoubles(count: count, from: &r)))
                case .int: try NumericColumns.skipInts(count: count, from: &r)
                case .double: try NumericColumns.skipDoubles(count: count, from: &r)
                case nil: throw DecodeError("column \"\(key)\" has unknown type \(typeByte)")
                }
                if wanted { keys.append(key) } else { skipped.append(key) }
            }
            return PointBlock(track: track, firstIndex: firstIndex, timestamps: ts, layout: .columns(keys: keys, columns: columns))
        case .generic:
            var rows: [ValueObject] = []
            rows.reserveCapacity(min(count, 4096))
            for _ in 0..<count { rows.append(try ValueCodec.decodeObject(from: &r)) }
            return PointBlock(track: track, firstIndex: firstIndex, timestamps: ts, layout: .rows(rows))
        case nil:
            throw DecodeError("unknown track block layout \(layoutByte)")
        }
    }
}
