import Testing
@testable import DreamlakeStore
import DreamlakeTestSupport

@Suite struct CRC32CTests {
    // Published test vectors of CRC-32C (RFC 3720, appendix B.4, and the usual check value).
    @Test func checkValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func rfc3720Vectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
    }

    /// The instruction (where the processor has it) and the tables agree at every length and alignment.
    @Test func theInstructionAndTheTablesAgree() {
        var rng = SplitMix64(seed: 11)
        let bytes = (0..<4200).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        bytes.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in [0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 4096] where start + length <= all.count {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    for seed: UInt32 in [0, 0xDEAD_BEEF] {
                        #expect(CRC32C.checksum(slice, continuing: seed) == CRC32C.softwareChecksum(slice, continuing: seed),
                                "start \(start), length \(length)")
                    }
                }
            }
        }
    }

    @Test func continuingEqualsWhole() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let a = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<split])) }
            let b = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[split...]), continuing: a) }
            #expect(b == CRC32C.checksum(bytes))
        }
    }

    // What linear-time recovery rests on: any range's CRC from two prefix CRCs.
    @Test func rangeFromPrefixes() {
        var rng = SplitMix64(seed: 7)
        let bytes = (0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for _ in 0..<300 {
            let a = Int(rng.next() % 5001), b = Int(rng.next() % 5001)
            let (lo, hi) = (min(a, b), max(a, b))
            let derived = CRC32C.checksum(ofSuffixOf: UInt64(hi - lo), prefixCRC: CRC32C.checksum(bytes, 0..<lo),
                                          wholeCRC: CRC32C.checksum(bytes, 0..<hi))
            #expect(derived == CRC32C.checksum(bytes, lo..<hi), "range \(lo)..<\(hi)")
        }
        // Shifting by zero bytes agrees with feeding them, across the table's powers.
        for n in [0, 1, 3, 255, 256, 4097, 1 << 20] {
            let c = CRC32C.checksum(Array("abc".utf8))
            #expect(CRC32C.shift(c, byZeroBytes: UInt64(n)) ^ CRC32C.checksum([UInt8](repeating: 0, count: n))
                    == CRC32C.checksum(Array("abc".utf8) + [UInt8](repeating: 0, count: n)), "n = \(n)")
        }
    }
}
