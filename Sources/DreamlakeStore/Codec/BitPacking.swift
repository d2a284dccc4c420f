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

    /// Reads `count` values into an array. Rejects widths and shifts that
    /// cannot be, and groups that declare more bytes than remain. (The column
    /// decoders use ``forEachGroup(count:from:_:)`` directly; this whole-array
    /// form is what the tests check the packing against.)
    static func unpack(count: Int, from r: inout ByteReader) throws(DecodeError) -> [UInt64] {
        var out = [UInt64]()
        var failure: DecodeError?
        out = [UInt64](unsafeUninitializedCapacity: max(0, count)) { buf, initialized in
            do throws(DecodeError) {
                try forEachGroup(count: count, from: &r) { values, start in
                    for j in values.indices { buf[start + j] = values[j] }
                }
            } catch { failure = error }
            initialized = max(0, count)  // UInt64 is trivial: on failure the array is dropped unread
        }
        if let failure { throw failure }
        return out
    }

    /// A group's width and shift, checked.
    @inline(__always)
    private static func groupHeader(_ r: inout ByteReader) throws(DecodeError) -> (width: Int, shift: Int) {
        let width = Int(try r.u8())
        let shift = Int(try r.u8())
        guard width <= 64, shift < 64, width + shift <= 64 else {
            throw DecodeError("packed group with width \(width) and shift \(shift) at offset \(r.offset - 2)")
        }
        return (width, shift)
    }

    /// Every group takes at least its 2-byte header, so `count` is bounded by what remains.
    @inline(__always)
    private static func checkCount(_ count: Int, _ r: ByteReader) throws(DecodeError) {
        guard count >= 0, (count + groupSize - 1) / groupSize <= r.remaining / 2 else {
            throw DecodeError("\(count) packed values cannot fit in \(r.remaining) bytes")
        }
    }

    /// Steps over `count` packed values: each group's header is checked as
    /// ``forEachGroup(count:from:_:)`` checks it, and its bits are not read.
    static func skip(count: Int, from r: inout ByteReader) throws(DecodeError) {
        try checkCount(count, r)
        var start = 0
        while start < count {
            let n = min(groupSize, count - start)
            let (width, _) = try groupHeader(&r)
            try r.skip((n * width + 7) / 8)
            start += n
        }
    }

    /// Decodes `count` values group by group, calling `body` with each
    /// group's values and the index of its first value. The one place that
    /// reads packed bits: every consumer fuses its own transform into `body`.
    @inline(__always)
    static func forEachGroup(count: Int, from r: inout ByteReader,
                             _ body: (UnsafeMutableBufferPointer<UInt64>, Int) -> Void) throws(DecodeError) {
        try checkCount(count, r)
        // The group's bits are copied into a scratch with 16 bytes of slack, so
        // every value is read with one unaligned 8-byte load and no bounds test.
        let scratchBytes = groupSize * 8 + 16
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 8)
        // Bytes past a group's own are masked off when read; zeroed once so they are never uninitialized.
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: scratchBytes)
        let values = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: groupSize)
        defer {
            scratch.deallocate()
            values.deallocate()
        }
        var start = 0
        while start < count {
            let n = min(groupSize, count - start)
            let (width, shift) = try groupHeader(&r)
            let byteCount = (n * width + 7) / 8
            let bytes = try r.rawBytes(byteCount)
            let group = UnsafeMutableBufferPointer(rebasing: values[0..<n])
            if width == 0 {
                group.update(repeating: 0)
            } else {
                bytes.withUnsafeBytes { src in
                    if let base = src.baseAddress { scratch.copyMemory(from: base, byteCount: src.count) }
                }
                unpackGroup(scratch, count: n, width: width, shift: shift, into: group)
            }
            body(group, start)
            start += n
        }
    }

    // `raw` holds the group's ceil(count * width / 8) bytes followed by at least 9 bytes of slack.
    @inline(__always)
    private static func unpackGroup(_ raw: UnsafeMutableRawPointer, count: Int, width: Int, shift: Int,
                                    into out: UnsafeMutableBufferPointer<UInt64>) {
        let mask: UInt64 = width == 64 ? ~0 : (1 << UInt64(width)) - 1
        var bit = 0
        if width <= 56 {
            // A value starts within a byte and spans at most 57 bits: one load holds it.
            for i in 0..<count {
                let word = raw.loadUnaligned(fromByteOffset: bit >> 3, as: UInt64.self).littleEndian
                out[i] = ((word >> UInt64(bit & 7)) & mask) << UInt64(shift)
                bit += width
            }
        } else {
            for i in 0..<count {
                let byte = bit >> 3
                let off = UInt64(bit & 7)
                var v = raw.loadUnaligned(fromByteOffset: byte, as: UInt64.self).littleEndian >> off
                if off > 0 { v |= UInt64(raw.load(fromByteOffset: byte + 8, as: UInt8.self)) << (64 - off) }
                out[i] = (v & mask) << UInt64(shift)
                bit += width
            }
        }
    }
}
