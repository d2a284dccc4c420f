// Bit-packing of unsigned residuals in groups of 128 (FORMAT.md, "Packed
// residuals"). Each group stores a width and a shift (trailing zero bits
// every value in the group shares, as doubles that came from floats have),
// then each value's `width` bits, least significant bit first.

enum BitPacking {
    static let groupSize = 128

    @inline(__always)
    static func groupShape(_ values: UnsafeBufferPointer<UInt64>) -> (width: Int, shift: Int) {
        var or: UInt64 = 0
        for v in values { or |= v }
        guard or != 0 else { return (0, 0) }
        let shift = or.trailingZeroBitCount
        return (64 - or.leadingZeroBitCount - shift, shift)
    }

    /// The packed size in bytes, without writing anything.
    static func packedSize(_ values: [UInt64]) -> Int {
        values.withUnsafeBufferPointer { all in
            var total = 0
            var start = 0
            while start < all.count {
                let end = min(start + groupSize, all.count)
                let (width, _) = groupShape(UnsafeBufferPointer(rebasing: all[start..<end]))
                total += 2 + ((end - start) * width + 7) / 8
                start = end
            }
            return total
        }
    }

    static func pack(_ values: [UInt64], into w: inout ByteWriter) {
        values.withUnsafeBufferPointer { all in
            var start = 0
            while start < all.count {
                let end = min(start + groupSize, all.count)
                let group = UnsafeBufferPointer(rebasing: all[start..<end])
                let (width, shift) = groupShape(group)
                w.u8(UInt8(width))
                w.u8(UInt8(shift))
                if width > 0 { packGroup(group, width: width, shift: shift, into: &w) }
                start = end
            }
        }
    }

    private static func packGroup(_ group: UnsafeBufferPointer<UInt64>, width: Int, shift: Int, into w: inout ByteWriter) {
        let byteCount = (group.count * width + 7) / 8
        let start = w.bytes.count
        // Room for the group plus 8 bytes of slack, so every word store fits; the slack is cut after.
        w.bytes.append(contentsOf: repeatElement(0, count: byteCount + 8))
        w.bytes.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress! + start
            var acc: UInt64 = 0
            var used = 0  // bits of acc in use
            var out = 0   // bytes stored
            for v in group {
                let x = v >> UInt64(shift)
                acc |= x << UInt64(used)
                if used + width >= 64 {
                    (base + out).storeBytes(of: acc.littleEndian, as: UInt64.self)
                    out += 8
                    // The bits of x that did not fit in acc.
                    acc = used == 0 ? 0 : x >> UInt64(64 - used)
                    used = used + width - 64
                } else {
                    used += width
                }
            }
            if used > 0 { (base + out).storeBytes(of: acc.littleEndian, as: UInt64.self) }
        }
        w.bytes.removeLast(8)
    }

    /// Reads `count` values. Rejects widths and shifts that cannot be, and
    /// groups that declare more bytes than remain.
    static func unpack(count: Int, from r: inout ByteReader) throws(DecodeError) -> [UInt64] {
        // Every group takes at least its 2-byte header, so count is bounded by what remains.
        guard count >= 0, (count + groupSize - 1) / groupSize <= r.remaining / 2 else {
            throw DecodeError("\(count) packed values cannot fit in \(r.remaining) bytes")
        }
        var out = [UInt64](repeating: 0, count: count)
        var start = 0
        while start < count {
            let n = min(groupSize, count - start)
            let width = Int(try r.u8())
            let shift = Int(try r.u8())
            guard width <= 64, shift < 64, width + shift <= 64 else {
                throw DecodeError("packed group with width \(width) and shift \(shift) at offset \(r.offset - 2)")
            }
            let byteCount = (n * width + 7) / 8
            let bytes = try r.rawBytes(byteCount)
            if width > 0 {
                bytes.withUnsafeBytes { raw in
                    out.withUnsafeMutableBufferPointer { o in
                        unpackGroup(raw, count: n, width: width, shift: shift, into: o, at: start)
                    }
                }
            }
            start += n
        }
        return out
    }

    // `raw` holds exactly ceil(count * width / 8) bytes, checked by the caller.
    private static func unpackGroup(_ raw: UnsafeRawBufferPointer, count: Int, width: Int, shift: Int,
                                    into out: UnsafeMutableBufferPointer<UInt64>, at start: Int) {
        let mask: UInt64 = width == 64 ? ~0 : (1 << UInt64(width)) - 1
        let byteCount = raw.count
        var bit = 0
        for i in 0..<count {
            let byte = bit >> 3
            let off = UInt64(bit & 7)
            var word: UInt64
            if byte + 8 <= byteCount {
                word = raw.loadUnaligned(fromByteOffset: byte, as: UInt64.self).littleEndian
            } else {
                word = 0
                var k = 0
                while byte + k < byteCount && k < 8 {
                    word |= UInt64(raw[byte + k]) << UInt64(8 * k)
                    k += 1
                }
            }
            var v = word >> off
            if off > 0 && Int(off) + width > 64 && byte + 8 < byteCount {
                v |= UInt64(raw[byte + 8]) << (64 - off)
            }
            out[start + i] = (v & mask) << UInt64(shift)
            bit += width
        }
    }
}
