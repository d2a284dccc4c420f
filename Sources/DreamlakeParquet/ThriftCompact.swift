/// Thrift's compact protocol, as far as Parquet's metadata needs it: structs of i16, i32, i64, binary,
/// bool, list and struct fields (the Thrift specification's `doc/specs/thrift-compact-protocol.md`).
///
/// Parquet writes its footer (`FileMetaData`) and each page's header (`PageHeader`) this way. Only the
/// writing side is here: a reader of our files is DuckDB, pyarrow, polars or anything else that reads
/// Parquet; our own tests decode with ``ThriftCompactReader``.
struct ThriftCompactWriter {
    private(set) var bytes: [UInt8] = []
    /// The last field id of each struct being written (the compact protocol writes fields as deltas).
    private var lastField: [Int16] = [0]

    /// The compact protocol's field and element types.
    enum FieldType: UInt8 {
        case boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7, binary = 8
        case list = 9, set = 10, map = 11, structure = 12
    }

    private mutating func fieldHeader(_ id: Int16, _ type: FieldType) {
        let last = lastField[lastField.count - 1]
        let delta = Int(id) - Int(last)
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            varint(DreamlakeParquet.zigzag(Int64(id)))
        }
        lastField[lastField.count - 1] = id
    }

    /// The compact protocol's varints and zigzag are the encodings' own (Encodings.swift).
    mutating func varint(_ value: UInt64) { appendVarint(value, to: &bytes) }

    mutating func i32(_ id: Int16, _ v: Int32) {
        fieldHeader(id, .i32)
        varint(DreamlakeParquet.zigzag(Int64(v)))
    }

    mutating func i64(_ id: Int16, _ v: Int64) {
        fieldHeader(id, .i64)
        varint(DreamlakeParquet.zigzag(v))
    }

    mutating func bool(_ id: Int16, _ v: Bool) { fieldHeader(id, v ? .boolTrue : .boolFalse) }

    mutating func binary(_ id: Int16, _ v: [UInt8]) {
        fieldHeader(id, .binary)
        varint(UInt64(v.count))
        bytes.append(contentsOf: v)
    }

    mutating func string(_ id: Int16, _ v: String) { binary(id, Array(v.utf8)) }

    /// A struct field: `body` writes its fields.
    mutating func structure(_ id: Int16, _ body: (inout ThriftCompactWriter) -> Void) {
        fieldHeader(id, .structure)
        structBody(body)
    }

    /// A struct's fields and its stop byte (a struct field's value, a list's element, or the top-level struct).
    mutating func structBody(_ body: (inout ThriftCompactWriter) -> Void) {
        lastField.append(0)
        body(&self)
        bytes.append(0)  // stop
        lastField.removeLast()
    }

    private mutating func listHeader(_ id: Int16, count: Int, of element: FieldType) {
        fieldHeader(id, .list)
        if count < 15 {
            bytes.append(UInt8(count) << 4 | element.rawValue)
        } else {
            bytes.append(0xF0 | element.rawValue)
            varint(UInt64(count))
        }
    }

    mutating func listOfI32(_ id: Int16, _ values: [Int32]) {
        listHeader(id, count: values.count, of: .i32)
        for v in values { varint(DreamlakeParquet.zigzag(Int64(v))) }
    }

    mutating func listOfStrings(_ id: Int16, _ values: [String]) {
        listHeader(id, count: values.count, of: .binary)
        for v in values {
            varint(UInt64(v.utf8.count))
            bytes.append(contentsOf: v.utf8)
        }
    }

    mutating func listOfStructs<T>(_ id: Int16, _ items: [T], _ body: (inout ThriftCompactWriter, T) -> Void) {
        listHeader(id, count: items.count, of: .structure)
        for item in items { structBody { body(&$0, item) } }
    }
}
