// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every
// block header, payload and index file. Written by hand because no package on
// this machine's list provides it: the processor's instruction where there is
// one (Sources/CCRC32C), else slicing-by-8, near 2 GB/s per core.

import CCRC32C

/// CRC-32C checksums.
public enum CRC32C {
    static let table: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            tables[0][n] = c
        }
        for n in 0..<256 {
            var c = tables[0][n]
            for k in 1..<8 {
                c = tables[0][Int(c & 0xFF)] ^ (c >> 8)
                tables[k][n] = c
            }
        }
        return tables
    }()
    // One flat copy so the inner loop indexes a single buffer.
    static let flatTable: [UInt32] = table.flatMap { $0 }

    /// Whether the processor's CRC-32C instruction is used (SSE 4.2 on x86-64, the CRC extension on ARM).
    static let hardware = dreamlake_crc32c_hardware() != 0

    /// The CRC-32C of `bytes`, continuing from `crc` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        if hardware { return ~dreamlake_crc32c_update(~crc, base, bytes.count) }
        return softwareChecksum(bytes, continuing: crc)
    }

    /// ``checksum(_:continuing:)`` by tables, eight bytes a step: for processors without the instruction.
    static func softwareChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        var p = base
        var n = bytes.count
        flatTable.withUnsafeBufferPointer { tp in
            let t = tp.baseAddress!
            while n >= 8 {
                let word = p.loadUnaligned(as: UInt64.self).littleEndian
                let lo = UInt32(truncatingIfNeeded: word) ^ c
                let hi = UInt32(truncatingIfNeeded: word >> 32)
                c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                p += 8
                n -= 8
            }
            while n > 0 {
                c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
                p += 1
                n -= 1
            }
        }
        return ~c
    }

    /// The CRC-32C of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// The CRC-32C of `bytes[range]`; the range must lie inside the array.
    static func checksum(_ bytes: [UInt8], _ range: Range<Int>) -> UInt32 {
        bytes.withUnsafeBytes { checksum(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    // MARK: Ranges from prefixes
    //
    // A CRC is linear over GF(2), so the checksum of bytes[a..<b] follows from
    // the checksums of the two prefixes bytes[..<a] and bytes[..<b]:
    //     crc(bytes[a..<b]) = crc(bytes[..<b]) ^ shift(crc(bytes[..<a]), b - a)
    // where shift(c, n) is what feeding n zero bytes does to the register:
    // multiplying by x^(8n) modulo the polynomial. Recovery uses this to check
    // any claimed block against a table of prefix checksums in time that does
    // not depend on the block's length (SegmentScanner's ChecksumTable).

    /// `a * b` modulo the polynomial, both in the reflected bit order (bit 31 is x^0).
    static func multiplyModP(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var product: UInt32 = 0
        var b = b
        for i in 0..<32 {
            if a & (0x8000_0000 >> UInt32(i)) != 0 { product ^= b }
            b = b & 1 != 0 ? (b >> 1) ^ 0x82F6_3B78 : b >> 1  // b * x
        }
        return product
    }

    /// x^(2^k) modulo the polynomial, for k in 0..<64.
    static let powersOfX: [UInt32] = {
        var table = [UInt32(0x4000_0000)]  // x^1
        for _ in 1..<64 { table.append(multiplyModP(table[table.count - 1], table[table.count - 1])) }
        return table
    }()

    /// `crc` as it would be after `count` more zero bytes were fed to the register.
    static func shift(_ crc: UInt32, byZeroBytes count: UInt64) -> UInt32 {
        var power: UInt32 = 0x8000_0000  // x^0
        var bits = count
        var k = 3  // x^(8 * count): the bits of count, three places up
        while bits != 0 && k < 64 {
            if bits & 1 != 0 { power = multiplyModP(power, powersOfX[k]) }
            bits >>= 1
            k += 1
        }
        return multiplyModP(power, crc)
    }

    /// The CRC-32C of the `length` bytes that follow a prefix whose CRC is
    /// `prefixCRC`, given the CRC `wholeCRC` of the prefix and those bytes together.
    static func checksum(ofSuffixOf length: UInt64, prefixCRC: UInt32, wholeCRC: UInt32) -> UInt32 {
        wholeCRC ^ shift(prefixCRC, byZeroBytes: length)
    }
}
