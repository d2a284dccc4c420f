import CLZ4

/// LZ4 block compression through the system's liblz4.
enum LZ4 {
    /// Compresses `input`; nil when the result would not be smaller.
    static func compress(_ input: [UInt8]) -> [UInt8]? {
        guard !input.isEmpty, input.count <= Int(LZ4_MAX_INPUT_SIZE) else { return nil }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let written = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                LZ4_compress_default(
                    src.baseAddress!.assumingMemoryBound(to: CChar.self),
                    dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                    Int32(input.count), Int32(bound))
            }
        }
        guard written > 0, Int(written) < input.count else { return nil }
        out.removeSubrange(Int(written)...)
        return out
    }

    /// Whether compressing `input` is likely to pay: payloads of bit-packed
    /// columns are often incompressible, and trying costs as much as the
    /// rest of encoding. A sample of the first 4 KiB must shrink by 3%.
    static func isWorthTrying(_ input: [UInt8]) -> Bool {
        let sampleSize = 4096
        guard input.count > 2 * sampleSize else { return true }
        guard let sample = compress(Array(input[0..<sampleSize])) else { return false }
        return sample.count * 100 <= sampleSize * 97
    }

    /// Decompresses exactly `uncompressedSize` bytes. `LZ4_decompress_safe`
    /// never reads or writes outside the buffers it is given, whatever the input.
    static func decompress(_ input: ArraySlice<UInt8>, uncompressedSize: Int) throws(DecodeError) -> [UInt8] {
        guard uncompressedSize >= 0, uncompressedSize <= FormatConstants.maxBlockPayload,
              input.count <= Int(Int32.max) else {
            throw DecodeError("declared uncompressed size \(uncompressedSize) is out of range")
        }
        // LZ4 expands at most 255 times; a larger claim is damage, not a reason to allocate.
        guard uncompressedSize <= input.count * 255 + 16 else {
            throw DecodeError("declared uncompressed size \(uncompressedSize) cannot come from \(input.count) bytes")
        }
        if uncompressedSize == 0 {
            guard input.isEmpty else { throw DecodeError("LZ4 data for an empty payload") }
            return []
        }
        var out = [UInt8](repeating: 0, count: uncompressedSize)
        let n = input.withUnsafeBytes { src -> Int32 in
            out.withUnsafeMutableBytes { dst -> Int32 in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return -1 }
                return LZ4_decompress_safe(
                    s.assumingMemoryBound(to: CChar.self), d.assumingMemoryBound(to: CChar.self),
                    Int32(input.count), Int32(uncompressedSize))
            }
        }
        guard n == Int32(uncompressedSize) else {
            throw DecodeError(n < 0 ? "LZ4 data is malformed" : "LZ4 data decompresses to \(n) bytes, not \(uncompressedSize)")
        }
        return out
    }
}
