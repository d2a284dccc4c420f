// Parquet's value and level encodings (parquet-format's Encodings.md), the writing side. Every length,
// count and bit width here comes from our own values, never from input; the arithmetic on values wraps
// (deltas of any two Int64s) rather than trapping, and a fuzz target drives it with arbitrary values.

/// Bits needed for `v` (0 for 0).
@inline(__always) func bitWidth(_ v: UInt64) -> Int { 64 - v.leadingZeroBitCount }

/// Appends `values` bit-packed at `width` bits each, least significant bit first (Parquet's bit packing
/// for the RLE/bit-packed hybrid and DELTA_BINARY_PACKED's miniblocks).
func appendBitPacked(_ values: UnsafeBufferPointer<UInt64>, width: Int, to out: inout [UInt8]) {
    guard width > 0 else { return }
    var buffer: UInt64 = 0  // bits not yet written, lowest first
    var filled = 0
    let mask: UInt64 = width == 64 ? .max : (1 << UInt64(width)) - 1
    for value in values {
        let v = value & mask
        buffer |= v << UInt64(filled)
        let room = 64 - filled
        if width >= room {
            // The buffer is full: write it, keep the bits of v that did not fit.
            for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: buffer >> UInt64(8 * k))) }
            buffer = room == 64 ? 0 : v >> UInt64(room)
            filled = width - room
        } else {
            filled += width
        }
    }
    var k = 0
    while filled > 0 {
        out.append(UInt8(truncatingIfNeeded: buffer >> UInt64(8 * k)))
        k += 1
        filled -= 8
    }
}

/// The unsigned LEB128 varint Parquet's encodings use for headers.
@inline(__always) func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
        out.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}

@inline(__always) func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

enum Encode {
    /// PLAIN Int64s: eight bytes each, little-endian.
    static func plain(_ values: ArraySlice<Int64>, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + values.count * 8)
        for v in values { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    }

    /// PLAIN booleans: a bit each, least significant first.
    static func plain(_ values: ArraySlice<Bool>, to out: inout [UInt8]) {
        var byte: UInt8 = 0
        var n = 0
        for v in values {
            if v { byte |= 1 << UInt8(n) }
            n += 1
            if n == 8 {
                out.append(byte)
                byte = 0
                n = 0
            }
        }
        if n > 0 { out.append(byte) }
    }

    /// PLAIN byte arrays `range`: each as a four-byte little-endian length and its bytes. `bytes` holds them
    /// one after another, `ends` where each ends.
    static func plain(bytes: [UInt8], ends: [Int], range: Range<Int>, to out: inout [UInt8]) {
        var start = range.lowerBound == 0 ? 0 : ends[range.lowerBound - 1]
        for end in ends[range] {
            withUnsafeBytes(of: UInt32(end - start).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: bytes[start..<end])
            start = end
        }
    }

    /// BYTE_STREAM_SPLIT doubles: the first byte of every value, then every second byte, and so on. The bytes
    /// that change slowly (sign, exponent, leading mantissa) end up side by side, where compression finds them.
    static func byteStreamSplit(_ values: ArraySlice<Double>, to out: inout [UInt8]) {
        let n = values.count
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: n * 8))
        out.withUnsafeMutableBufferPointer { dst in
            values.withUnsafeBufferPointer { src in
                for (i, v) in src.enumerated() {
                    let bits = v.bitPattern
                    for k in 0..<8 { dst[start + k * n + i] = UInt8(truncatingIfNeeded: bits >> UInt64(8 * k)) }
                }
            }
        }
    }

    /// DELTA_BINARY_PACKED Int64s: blocks of 128 differences in four miniblocks of 32, each bit-packed at its
    /// own width above the block's smallest difference. Differences wrap (two's complement), as the
    /// specification allows, so any two values have one.
    static func deltaBinaryPacked(_ values: ArraySlice<Int64>, to out: inout [UInt8]) {
        let blockSize = 128, miniblocks = 4, perMiniblock = 32
        appendVarint(UInt64(blockSize), to: &out)
        appendVarint(UInt64(miniblocks), to: &out)
        appendVarint(UInt64(values.count), to: &out)
        guard let first = values.first else {
            appendVarint(0, to: &out)
            return
        }
        appendVarint(zigzag(first), to: &out)
        out.reserveCapacity(out.count + values.count * 2)
        values.withUnsafeBufferPointer { values in
            var previous = first
            var deltas = [Int64](repeating: 0, count: blockSize)
            var adjusted = [UInt64](repeating: 0, count: perMiniblock)
            var widths = [Int](repeating: 0, count: miniblocks)
            var i = 1
            while i < values.count {
                let count = min(blockSize, values.count - i)
                var minDelta = Int64.max
                for k in 0..<count {
                    let v = values[i + k]
                    let d = v &- previous
                    deltas[k] = d
                    previous = v
                    minDelta = min(minDelta, d)
                }
                appendVarint(zigzag(minDelta), to: &out)
                let used = (count + perMiniblock - 1) / perMiniblock
                for m in 0..<miniblocks {
                    var widest: UInt64 = 0
                    if m < used {
                        for k in (m * perMiniblock)..<min(count, (m + 1) * perMiniblock) {
                            widest |= UInt64(bitPattern: deltas[k] &- minDelta)
                        }
                    }
                    widths[m] = bitWidth(widest)
                    out.append(UInt8(widths[m]))
                }
                for m in 0..<used where widths[m] > 0 {
                    // A miniblock holds 32 values; the last one used is padded with zeros.
                    for k in 0..<perMiniblock {
                        let at = m * perMiniblock + k
                        adjusted[k] = at < count ? UInt64(bitPattern: deltas[at] &- minDelta) : 0
                    }
                    adjusted.withUnsafeBufferPointer { appendBitPacked($0, width: widths[m], to: &out) }
                }
                i += count
            }
        }
    }

    /// The RLE/bit-packed hybrid of `values` at `width` bits (definition levels, dictionary indexes): runs of
    /// eight or more equal values as one run, the rest bit-packed in groups of eight (the last padded).
    static func hybrid(_ values: ArraySlice<UInt32>, width: Int, to out: inout [UInt8]) {
        var pending: [UInt64] = []
        func flush(_ out: inout [UInt8]) {
            guard !pending.isEmpty else { return }
            let groups = (pending.count + 7) / 8
            pending.append(contentsOf: repeatElement(0, count: groups * 8 - pending.count))
            appendVarint(UInt64(groups) << 1 | 1, to: &out)
            pending.withUnsafeBufferPointer { appendBitPacked($0, width: width, to: &out) }
            pending.removeAll(keepingCapacity: true)
        }
        let valueBytes = (width + 7) / 8
        var i = values.startIndex
        while i < values.endIndex {
            let v = values[i]
            var run = 1
            while i + run < values.endIndex && values[i + run] == v { run += 1 }
            if run >= 8 {
                // Bit-packed groups hold eight values: fill the pending group from the run first.
                let fill = (8 - pending.count % 8) % 8
                for _ in 0..<fill { pending.append(UInt64(v)) }
                flush(&out)
                let rest = run - fill
                if rest >= 8 {
                    appendVarint(UInt64(rest) << 1, to: &out)
                    for k in 0..<valueBytes { out.append(UInt8(truncatingIfNeeded: v >> UInt32(8 * k))) }
                } else {
                    for _ in 0..<rest { pending.append(UInt64(v)) }
                }
            } else {
                for _ in 0..<run { pending.append(UInt64(v)) }
            }
            i += run
        }
        flush(&out)
    }
}
