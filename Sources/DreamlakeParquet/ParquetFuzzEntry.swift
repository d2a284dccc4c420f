// The fuzz target of the writer's arithmetic (scripts/fuzz parquet): arbitrary Int64s through
// DELTA_BINARY_PACKED (every difference wraps), arbitrary levels and indexes through the RLE/bit-packed hybrid
// at every width, arbitrary doubles through BYTE_STREAM_SPLIT, each decoded back here and compared; then a
// whole file of columns and nulls the input chooses, checked for its frame. A trap, a mismatch or a file
// that is not one stops the fuzzer with the input that did it.

/// Reads the fuzzer's bytes as the values it asks for; zeros once they run out.
private struct Recipe {
    let bytes: [UInt8]
    var at = 0

    mutating func byte() -> UInt8 {
        defer { at += 1 }
        return at < bytes.count ? bytes[at] : 0
    }

    mutating func u64() -> UInt64 { (0..<8).reduce(UInt64(0)) { v, k in v | UInt64(byte()) << UInt64(8 * k) } }

    /// An Int64 the input picks: its eight bytes, an extreme, or a small step from `previous`.
    mutating func int(after previous: Int64) -> Int64 {
        switch byte() % 4 {
        case 0: Int64(bitPattern: u64())
        case 1: [Int64.min, .max, 0, -1, 1][Int(byte() % 5)]
        default: previous &+ Int64(Int8(bitPattern: byte()))
        }
    }
}

@_spi(Fuzzing) public enum ParquetFuzzEntry {
    /// One input: encodes what it describes, decodes it back, and stops the process on any difference.
    public static func run(_ bytes: [UInt8]) {
        var r = Recipe(bytes: bytes)
        // DELTA_BINARY_PACKED.
        let n = Int(r.byte()) * 8 + Int(r.byte() % 8)
        var ints: [Int64] = []
        var previous: Int64 = 0
        for _ in 0..<n {
            previous = r.int(after: previous)
            ints.append(previous)
        }
        var delta: [UInt8] = []
        Encode.deltaBinaryPacked(ints[...], to: &delta)
        guard Decode.deltaBinaryPacked(delta) == ints else { fatalError("DELTA_BINARY_PACKED did not decode to its \(n) values") }
        // The RLE/bit-packed hybrid at a width the input picks (levels: 1; dictionary indexes: up to 32).
        let width = Int(r.byte() % 33)
        let mask: UInt64 = width == 0 ? 0 : (1 << UInt64(width)) - 1
        var levels: [UInt32] = []
        for _ in 0..<(Int(r.byte()) * 4) {
            let v = UInt32(truncatingIfNeeded: r.u64() & mask)
            levels.append(contentsOf: repeatElement(v, count: 1 + Int(r.byte() % 20)))
        }
        var hybrid: [UInt8] = []
        Encode.hybrid(levels[...], width: width, to: &hybrid)
        guard Decode.hybrid(hybrid, width: width, count: levels.count) == levels else {
            fatalError("the RLE/bit-packed hybrid at width \(width) did not decode to its \(levels.count) values")
        }
        // BYTE_STREAM_SPLIT.
        let doubles = (0..<Int(r.byte())).map { _ in Double(bitPattern: r.u64()) }
        var split: [UInt8] = []
        Encode.byteStreamSplit(doubles[...], to: &split)
        let back = (0..<doubles.count).map { i in
            Double(bitPattern: (0..<8).reduce(UInt64(0)) { v, k in v | UInt64(split[k * doubles.count + i]) << UInt64(8 * k) })
        }
        guard back.map(\.bitPattern) == doubles.map(\.bitPattern) else { fatalError("BYTE_STREAM_SPLIT did not decode") }
        // A whole file: the columns above, with nulls where the input says, in two row groups.
        file(ints: ints, doubles: doubles, &r)
    }

    private static func file(ints: [Int64], doubles: [Double], _ r: inout Recipe) {
        var bytes: [UInt8] = []
        do {
            let w = try ParquetWriter(createdBy: "fuzz") { bytes.append(contentsOf: $0) }
            let a = try w.column(ParquetColumn("a", .int64, optional: false))
            let b = try w.column(ParquetColumn("b", .double, optional: true))
            let c = try w.column(ParquetColumn("c", .string, optional: true))
            for _ in 0..<2 where !ints.isEmpty {
                var present: [Bool] = [], values: [Double] = [], strings: [UInt8] = [], ends: [Int] = [], has: [Bool] = []
                for i in ints.indices {
                    let p = r.byte() % 3 != 0
                    present.append(p)
                    if p { values.append(doubles.isEmpty ? Double(i) : doubles[i % doubles.count]) }
                    let s = r.byte() % 4
                    has.append(s != 0)
                    if s != 0 {
                        strings.append(contentsOf: (0..<Int(s)).map { _ in r.byte() })
                        ends.append(strings.count)
                    }
                }
                try w.writeRowGroup(rows: ints.count, [a: .init(.int64(ints)), b: .init(.double(values), present: present),
                                                       c: .init(.bytes(bytes: strings, ends: ends), present: has)])
            }
            try w.finish()
        } catch {
            fatalError("the writer refused what it was given: \(error)")
        }
        let magic = Array("PAR1".utf8)
        guard bytes.count >= 12, Array(bytes.prefix(4)) == magic, Array(bytes.suffix(4)) == magic else { fatalError("not a Parquet frame") }
        let n = bytes.count
        let footer = Int(bytes[n - 8]) | Int(bytes[n - 7]) << 8 | Int(bytes[n - 6]) << 16 | Int(bytes[n - 5]) << 24
        guard footer > 0, footer <= n - 12 else { fatalError("the footer's length \(footer) does not fit the file's \(n) bytes") }
    }
}

/// Decoders of what ``Encode`` writes, for the fuzz target and the tests: readers of the input they are
/// given, which is always our own output (a malformed one stops them with a message, not a trap).
enum Decode {
    private struct Bytes {
        let bytes: [UInt8]
        var at = 0

        mutating func byte() -> UInt8 {
            guard at < bytes.count else { fatalError("ran out of bytes at \(at)") }
            defer { at += 1 }
            return bytes[at]
        }

        mutating func varint() -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = byte()
                guard shift < 64 else { fatalError("a varint of more than ten bytes") }
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }

        /// `count` values of `width` bits, least significant bit first.
        mutating func unpack(_ count: Int, width: Int) -> [UInt64] {
            guard width > 0 else { return [UInt64](repeating: 0, count: count) }
            let raw = (0..<(count * width + 7) / 8).map { _ in byte() }
            var out: [UInt64] = []
            for i in 0..<count {
                var v: UInt64 = 0
                for bit in 0..<width {
                    let at = i * width + bit
                    if raw[at / 8] >> UInt8(at % 8) & 1 == 1 { v |= 1 << UInt64(bit) }
                }
                out.append(v)
            }
            return out
        }
    }

    static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

    static func deltaBinaryPacked(_ bytes: [UInt8]) -> [Int64] {
        var r = Bytes(bytes: bytes)
        let blockSize = Int(r.varint()), miniblocks = Int(r.varint()), total = Int(r.varint())
        var previous = unzigzag(r.varint())
        guard total > 0 else { return [] }
        var out = [previous]
        let perMiniblock = blockSize / miniblocks
        while out.count < total {
            let minDelta = unzigzag(r.varint())
            let widths = (0..<miniblocks).map { _ in Int(r.byte()) }
            for w in widths where out.count < total {
                for d in r.unpack(perMiniblock, width: w) where out.count < total {
                    previous = previous &+ minDelta &+ Int64(bitPattern: d)
                    out.append(previous)
                }
            }
        }
        return out
    }

    static func hybrid(_ bytes: [UInt8], width: Int, count: Int) -> [UInt32] {
        var r = Bytes(bytes: bytes)
        var out: [UInt32] = []
        while out.count < count {
            let header = r.varint()
            if header & 1 == 1 {
                for v in r.unpack(Int(header >> 1) * 8, width: width) where out.count < count { out.append(UInt32(truncatingIfNeeded: v)) }
            } else {
                var v: UInt32 = 0
                for k in 0..<(width + 7) / 8 { v |= UInt32(r.byte()) << UInt32(8 * k) }
                out.append(contentsOf: repeatElement(v, count: Int(header >> 1)))
            }
        }
        return Array(out.prefix(count))
    }
}
