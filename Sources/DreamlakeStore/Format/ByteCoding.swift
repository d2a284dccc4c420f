// Fixed-width little-endian integers and LEB128 varints, written to a growing
// buffer and read back with every length checked against what is there.

/// Appends encoded values to a byte buffer.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    var count: Int { bytes.count }

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func signedVarint(_ v: Int64) { varint(ZigZag.encode(v)) }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func raw(_ other: [UInt8]) { bytes.append(contentsOf: other) }

    /// Overwrites 4 bytes at `offset` (which the writer already holds).
    mutating func patchU32(_ v: UInt32, at offset: Int) {
        let le = v.littleEndian
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: le >> (8 * UInt32(i))) }
    }
}

/// Zig-zag maps signed integers to unsigned ones so that small magnitudes stay small.
enum ZigZag {
    @inline(__always) static func encode(_ v: Int64) -> UInt64 {
        UInt64(bitPattern: (v << 1) ^ (v >> 63))
    }
    @inline(__always) static func decode(_ v: UInt64) -> Int64 {
        Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }
}

/// Why bytes could not be decoded. Carried up into a ``StoreError`` with the place it happened.
struct DecodeError: Error, Equatable {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Reads encoded values from a byte array, checking every length first.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int

    init(_ bytes: [UInt8], offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = min(end ?? bytes.count, bytes.count)
    }

    var remaining: Int { max(0, end - offset) }
    var isAtEnd: Bool { offset >= end }

    @inline(__always) private mutating func need(_ n: Int) throws(DecodeError) {
        guard n >= 0, n <= end - offset else {
            throw DecodeError("needs \(n) bytes at offset \(offset) but only \(remaining) remain")
        }
    }

    mutating func u8() throws(DecodeError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(DecodeError) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    mutating func u32() throws(DecodeError) -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
        offset += 4
        return v
    }

    mutating func u64() throws(DecodeError) -> UInt64 {
        try need(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }

    mutating func varint() throws(DecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw DecodeError("varint runs past the end at offset \(offset)") }
            let b = bytes[offset]
            offset += 1
            if shift == 63 && b > 1 { throw DecodeError("varint overflows 64 bits at offset \(offset - 1)") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw DecodeError("varint longer than 10 bytes at offset \(offset)") }
        }
    }

    mutating func signedVarint() throws(DecodeError) -> Int64 { ZigZag.decode(try varint()) }

    /// A varint that is used as a count or length: it must fit what remains,
    /// given that each counted item takes at least `minimumSize` bytes.
    mutating func count(minimumSize: Int = 1) throws(DecodeError) -> Int {
        let v = try varint()
        let limit = minimumSize > 0 ? remaining / minimumSize : Int(Int32.max)
        guard v <= UInt64(limit) else {
            throw DecodeError("count \(v) at offset \(offset) does not fit the \(remaining) bytes that remain")
        }
        return Int(v)
    }

    /// A length-prefixed string, which must be valid UTF-8: stored text is
    /// read back exactly or refused, never patched with U+FFFD.
    mutating func string() throws(DecodeError) -> String {
        let n = try count()
        let start = offset
        let s = bytes[start..<start + n].withUnsafeBufferPointer { buf in
            String(validating: buf, as: UTF8.self)
        }
        guard let s else { throw DecodeError("string of \(n) bytes at offset \(start) is not valid UTF-8") }
        offset += n
        return s
    }

    mutating func rawBytes(_ n: Int) throws(DecodeError) -> ArraySlice<UInt8> {
        try need(n)
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    /// Steps over `n` bytes, which must be there.
    mutating func skip(_ n: Int) throws(DecodeError) {
        try need(n)
        offset += n
    }
}
