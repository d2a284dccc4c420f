// The generic binary encoding of a Value: one tag byte, then the payload.
// Tags are persistent (FORMAT.md, "Generic values").

enum ValueTag: UInt8 {
    case null = 0
    case `false` = 1
    case `true` = 2
    case int = 3      // zig-zag varint
    case double = 4   // 8 bytes, IEEE 754 bits, little-endian
    case string = 5   // varint length, UTF-8 bytes
    case array = 6    // varint count, values
    case object = 7   // varint count, (string key, value) pairs
}

enum ValueCodec {
    /// Deepest nesting a decoder follows; deeper input is rejected, not recursed into.
    static let maxDepth = 64

    static func encode(_ value: Value, into w: inout ByteWriter) {
        switch value {
        case .null: w.u8(ValueTag.null.rawValue)
        case .bool(let b): w.u8(b ? ValueTag.true.rawValue : ValueTag.false.rawValue)
        case .int(let i): w.u8(ValueTag.int.rawValue); w.signedVarint(i)
        case .double(let d): w.u8(ValueTag.double.rawValue); w.u64(d.bitPattern)
        case .string(let s): w.u8(ValueTag.string.rawValue); w.string(s)
        case .array(let a):
            w.u8(ValueTag.array.rawValue)
            w.varint(UInt64(a.count))
            for v in a { encode(v, into: &w) }
        case .object(let o):
            w.u8(ValueTag.object.rawValue)
            encodeObject(o, into: &w)
        }
    }

    /// An object without its tag: count, then key/value pairs.
    static func encodeObject(_ o: ValueObject, into w: inout ByteWriter) {
        w.varint(UInt64(o.count))
        for (k, v) in o {
            w.string(k)
            encode(v, into: &w)
        }
    }

    static func decode(from r: inout ByteReader, depth: Int = 0) throws(DecodeError) -> Value {
        guard depth < maxDepth else { throw DecodeError("value nested deeper than \(maxDepth) levels") }
        let tagByte = try r.u8()
        guard let tag = ValueTag(rawValue: tagByte) else {
            throw DecodeError("unknown value tag \(tagByte) at offset \(r.offset - 1)")
        }
        switch tag {
        case .null: return .null
        case .false: return .bool(false)
        case .true: return .bool(true)
        case .int: return .int(try r.signedVarint())
        case .double: return .double(Double(bitPattern: try r.u64()))
        case .string: return .string(try r.string())
        case .array:
            let n = try r.count(minimumSize: 1)
            var a: [Value] = []
            a.reserveCapacity(min(n, 1024))  // grows only as elements really decode
            for _ in 0..<n { a.append(try decode(from: &r, depth: depth + 1)) }
            return .array(a)
        case .object:
            return .object(try decodeObject(from: &r, depth: depth + 1))
        }
    }

    static func decodeObject(from r: inout ByteReader, depth: Int = 0) throws(DecodeError) -> ValueObject {
        guard depth < maxDepth else { throw DecodeError("value nested deeper than \(maxDepth) levels") }
        let n = try r.count(minimumSize: 2)
        var o = ValueObject(minimumCapacity: min(n, 1024))
        for _ in 0..<n {
            let k = try r.string()
            let v = try decode(from: &r, depth: depth + 1)
            guard o.updateValue(v, forKey: k) == nil else {
                throw DecodeError("object repeats the key \"\(k)\"")
            }
        }
        return o
    }
}
