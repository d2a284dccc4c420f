import Synchronization

/// A column of a Parquet file: its name, what it holds, and whether a row may lack a value.
public struct ParquetColumn: Sendable, Equatable {
    /// What a column holds, and how it is stored.
    public enum Kind: Sendable, Equatable {
        /// INT64, DELTA_BINARY_PACKED.
        case int64
        /// DOUBLE, BYTE_STREAM_SPLIT (every bit kept: NaN payloads, -0.0, infinities).
        case double
        /// BOOLEAN, PLAIN.
        case boolean
        /// BYTE_ARRAY annotated STRING (UTF-8), dictionary-encoded when its values repeat, else PLAIN.
        case string
        /// INT64 annotated TIMESTAMP(isAdjustedToUTC, MICROS), DELTA_BINARY_PACKED.
        case timestampMicros
    }

    /// The column's name (a flat schema: no nesting).
    public var name: String
    /// What it holds.
    public var kind: Kind
    /// Whether a row may have no value (a null).
    public var optional: Bool

    /// A column named `name` holding `kind`, nullable when `optional`.
    public init(_ name: String, _ kind: Kind, optional: Bool) {
        self.name = name
        self.kind = kind
        self.optional = optional
    }
}

/// One row group's values of one column: the values of the rows that have one, in row order, and, for an
/// optional column, which rows have one.
public struct ParquetColumnValues: Sendable {
    /// The values themselves, of the column's type.
    public enum Values: Sendable {
        /// INT64 and timestamp columns' values.
        case int64([Int64])
        /// DOUBLE columns' values.
        case double([Double])
        /// BOOLEAN columns' values.
        case boolean([Bool])
        /// Byte strings one after another in `bytes`; value k ends at `ends[k]`.
        case bytes(bytes: [UInt8], ends: [Int])
        /// One byte string `count` times (a session's name in each row of its track): a dictionary of one.
        case repeatedBytes([UInt8], count: Int)

        var count: Int {
            switch self {
            case .int64(let v): v.count
            case .double(let v): v.count
            case .boolean(let v): v.count
            case .bytes(_, let ends): ends.count
            case .repeatedBytes(_, let count): count
            }
        }
    }

    /// The rows' values, nulls left out.
    public var values: Values
    /// One flag a row; nil when every row has a value.
    public var present: [Bool]?

    /// `values` of the rows `present` marks (every row when nil).
    public init(_ values: Values, present: [Bool]? = nil) {
        self.values = values
        self.present = present
    }
}

/// What went wrong writing a Parquet file: a misuse of the writer (rows of two lengths, a value of another
/// type than its column's, a null in a required column), or the sink's own failure, passed on as it is.
public struct ParquetError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    init(_ d: String) { description = d }
}

/// Writes a Parquet file (parquet-format 2.x; one row group at a time) into a sink, front to back.
///
/// Columns may be added as row groups are written: a column first seen in a later row group is optional,
/// and the row groups written before it get a chunk of nulls for it when the file is finished (a column
/// chunk may be anywhere in the file: the footer says where). So a track whose points gain a field on the
/// way is written in one pass.
///
/// Pages are version 1 data pages of at most 65,536 rows (or about 1 MiB of byte strings), compressed with
/// LZ4_RAW; each column chunk carries its smallest and largest value and its null count, which readers
/// use to skip row groups a filter rules out.
public final class ParquetWriter {
    /// The rows of a data page, at most.
    public static let rowsPerPage = 65_536

    /// The file's columns so far, in order.
    public private(set) var columns: [ParquetColumn] = []
    private var byName: [String: Int] = [:]
    private let sink: ([UInt8]) throws -> Void
    private let createdBy: String
    private var offset: Int64 = 0
    private struct RowGroup {
        var rows: Int
        var chunks: [Int: ChunkMeta]
        var start: Int64
    }
    private var rowGroups: [RowGroup] = []
    private var finished = false

    /// Starts a file: writes its magic number to `sink`, which is given the file's bytes in order.
    public init(createdBy: String, sink: @escaping ([UInt8]) throws -> Void) throws {
        self.sink = sink
        self.createdBy = createdBy
        try write(Array("PAR1".utf8))
    }

    private func write(_ bytes: [UInt8]) throws {
        try sink(bytes)
        offset += Int64(bytes.count)
    }

    /// The index of the column named as `column` is, added when there is none yet. A column added after a
    /// row group was written must be optional (those rows have no value in it).
    public func column(_ column: ParquetColumn) throws -> Int {
        if let i = byName[column.name] {
            guard columns[i].kind == column.kind else {
                throw ParquetError("column \(column.name) is \(columns[i].kind), not \(column.kind)")
            }
            return i
        }
        guard rowGroups.isEmpty || column.optional else {
            throw ParquetError("column \(column.name) comes after a row group was written, so it must be optional")
        }
        columns.append(column)
        byName[column.name] = columns.count - 1
        return columns.count - 1
    }

    /// Writes a row group of `rows` rows: `values[i]` is column i's (a column left out has no value in any
    /// of these rows, and must be optional). The chunks are encoded on `encode`'s threads, then written in
    /// column order.
    public func writeRowGroup(rows: Int, _ values: [Int: ParquetColumnValues],
                              encode: (Int, @Sendable (Int) -> Void) -> Void = { n, body in for i in 0..<n { body(i) } }) throws {
        guard !finished else { throw ParquetError("the file is finished") }
        guard rows > 0 else { return }
        for (i, v) in values {
            guard columns.indices.contains(i) else { throw ParquetError("no column \(i)") }
            try check(columns[i], v, rows: rows)
        }
        for i in columns.indices where values[i] == nil && !columns[i].optional {
            throw ParquetError("the required column \(columns[i].name) has no values in a row group")
        }
        let order = values.keys.sorted()
        let jobs = order.map { (columns[$0], values[$0]!) }
        let encoded = Results(count: order.count)
        encode(order.count) { k in encoded.set(k, ColumnChunkEncoder.encode(jobs[k].0, jobs[k].1, rows: rows)) }
        let start = offset
        var chunks: [Int: ChunkMeta] = [:]
        for (k, i) in order.enumerated() {
            guard let (bytes, meta) = encoded.get(k) else { throw ParquetError("column \(columns[i].name) was not encoded") }
            chunks[i] = meta.placed(at: offset)
            try write(bytes)
        }
        rowGroups.append(RowGroup(rows: rows, chunks: chunks, start: start))
    }

    private func check(_ column: ParquetColumn, _ v: ParquetColumnValues, rows: Int) throws {
        let present = v.present.map { $0.reduce(0) { $0 + ($1 ? 1 : 0) } } ?? rows
        if let p = v.present, p.count != rows {
            throw ParquetError("column \(column.name) has \(p.count) presence flags for \(rows) rows")
        }
        guard column.optional || present == rows else { throw ParquetError("the required column \(column.name) has a null") }
        guard v.values.count == present else {
            throw ParquetError("column \(column.name) has \(v.values.count) values for \(present) rows that have one")
        }
        let fits = switch (column.kind, v.values) {
        case (.int64, .int64), (.timestampMicros, .int64), (.double, .double), (.boolean, .boolean), (.string, .bytes),
             (.string, .repeatedBytes): true
        default: false
        }
        guard fits else { throw ParquetError("column \(column.name) is \(column.kind) and was given other values") }
        if case .bytes(let bytes, let ends) = v.values {
            var last = 0
            for e in ends {
                guard e >= last, e <= bytes.count else { throw ParquetError("column \(column.name): byte string ends out of order") }
                last = e
            }
        }
    }

    /// Writes what no row group has yet (chunks of nulls for columns added after them) and the footer.
    public func finish(keyValues: [(key: String, value: String)] = []) throws {
        guard !finished else { return }
        finished = true
        for g in rowGroups.indices {
            for i in columns.indices where rowGroups[g].chunks[i] == nil {
                let nulls = ParquetColumnValues(Self.empty(columns[i].kind), present: [Bool](repeating: false, count: rowGroups[g].rows))
                let (bytes, meta) = ColumnChunkEncoder.encode(columns[i], nulls, rows: rowGroups[g].rows)
                rowGroups[g].chunks[i] = meta.placed(at: offset)
                try write(bytes)
            }
        }
        var t = ThriftCompactWriter()
        t.structBody { t in
            t.i32(1, 2)  // version
            t.listOfStructs(2, [nil] + columns.map { Optional($0) }) { t, column in
                guard let column else {
                    t.string(4, "schema")
                    t.i32(5, Int32(self.columns.count))
                    return
                }
                t.i32(1, column.kind.physicalType)
                t.i32(3, column.optional ? 1 : 0)
                t.string(4, column.name)
                switch column.kind {
                case .string:
                    t.i32(6, 0)  // UTF8
                    t.structure(10) { t in t.structure(1) { _ in } }  // STRING
                case .timestampMicros:
                    t.i32(6, 10)  // TIMESTAMP_MICROS
                    t.structure(10) { t in
                        t.structure(8) { t in
                            t.bool(1, true)
                            t.structure(2) { t in t.structure(2) { _ in } }  // MICROS
                        }
                    }
                default: break
                }
            }
            t.i64(3, Int64(rowGroups.reduce(0) { $0 + $1.rows }))
            t.listOfStructs(4, rowGroups) { t, g in
                let chunks = self.columns.indices.map { g.chunks[$0]! }
                t.listOfStructs(1, Array(zip(self.columns, chunks))) { t, pair in
                    let (column, meta) = pair
                    t.i64(2, meta.firstPageOffset)
                    t.structure(3) { t in meta.write(column, into: &t) }
                }
                t.i64(2, chunks.reduce(0) { $0 + $1.uncompressedSize })
                t.i64(3, Int64(g.rows))
                t.i64(5, chunks.map(\.firstPageOffset).min() ?? g.start)
                t.i64(6, chunks.reduce(0) { $0 + $1.compressedSize })
            }
            if !keyValues.isEmpty {
                t.listOfStructs(5, keyValues) { t, kv in
                    t.string(1, kv.key)
                    t.string(2, kv.value)
                }
            }
            t.string(6, createdBy)
            t.listOfStructs(7, columns) { t, _ in t.structure(1) { _ in } }  // TYPE_ORDER for every column
        }
        let footer = t.bytes
        try write(footer)
        var tail: [UInt8] = []
        withUnsafeBytes(of: UInt32(footer.count).littleEndian) { tail.append(contentsOf: $0) }
        tail.append(contentsOf: Array("PAR1".utf8))
        try write(tail)
    }

    static func empty(_ kind: ParquetColumn.Kind) -> ParquetColumnValues.Values {
        switch kind {
        case .int64, .timestampMicros: .int64([])
        case .double: .double([])
        case .boolean: .boolean([])
        case .string: .bytes(bytes: [], ends: [])
        }
    }

    /// Each column's encoded chunk, set by the thread that encoded it.
    private final class Results: Sendable {
        private let slots: Mutex<[([UInt8], ChunkMeta)?]>
        init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }
        func set(_ k: Int, _ r: ([UInt8], ChunkMeta)) { slots.withLock { $0[k] = r } }
        func get(_ k: Int) -> ([UInt8], ChunkMeta)? { slots.withLock { $0[k] } }
    }
}

extension ParquetColumn.Kind {
    /// Parquet's physical type: BOOLEAN 0, INT64 2, DOUBLE 5, BYTE_ARRAY 6.
    var physicalType: Int32 {
        switch self {
        case .boolean: 0
        case .int64, .timestampMicros: 2
        case .double: 5
        case .string: 6
        }
    }
}
