// The segment header and the block header (FORMAT.md, "Segment header" and
// "Block header"): how they are laid out, and the checks a decoded one passes.

/// The 32 bytes at the start of every segment file.
struct SegmentHeader: Equatable {
    var version: UInt16 = FormatConstants.formatVersion
    var writer: UInt32
    var segment: UInt64

    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: FormatConstants.segmentHeaderSize)
        w.raw(FormatConstants.segmentMagic)
        w.u16(version)
        w.u16(0)  // flags
        w.u32(writer)
        w.u64(segment)
        w.u32(0)  // reserved
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    enum Problem: Error, Equatable, CustomStringConvertible {
        case short
        case badMagic
        case badChecksum
        case unsupportedVersion(UInt16)
        /// The header is sound but names another file than the one it is in.
        case namesAnotherFile(writer: UInt32, segment: UInt64)

        var description: String {
            switch self {
            case .short: "shorter than \(FormatConstants.segmentHeaderSize) bytes"
            case .badMagic: "wrong magic"
            case .badChecksum: "checksum mismatch"
            case .unsupportedVersion(let v): "format version \(v)"
            case let .namesAnotherFile(w, s): "it says writer \(w), segment \(s), which is not this file's name"
            }
        }
    }

    static func decode(_ bytes: [UInt8]) -> Result<SegmentHeader, Problem> {
        guard bytes.count >= FormatConstants.segmentHeaderSize else { return .failure(.short) }
        guard Array(bytes[0..<8]) == FormatConstants.segmentMagic else { return .failure(.badMagic) }
        var r = ByteReader(bytes, offset: 8, end: FormatConstants.segmentHeaderSize)
        do {
            let version = try r.u16()
            _ = try r.u16()
            let writer = try r.u32()
            let segment = try r.u64()
            _ = try r.u32()
            let crc = try r.u32()
            guard crc == CRC32C.checksum(bytes, 0..<28) else { return .failure(.badChecksum) }
            guard (FormatConstants.oldestReadableVersion...FormatConstants.formatVersion).contains(version) else {
                return .failure(.unsupportedVersion(version))
            }
            return .success(SegmentHeader(version: version, writer: writer, segment: segment))
        } catch {
            return .failure(.short)
        }
    }
}

/// The 48 bytes in front of every block's payload.
struct BlockHeader: Equatable {
    var storedLength: UInt32
    var payloadChecksum: UInt32
    var codec: BlockCodec
    var stream: StreamKey
    var uncompressedLength: UInt32
    var recordCount: UInt32
    var firstSequence: UInt64
    var lastSequence: UInt64

    var totalLength: Int { FormatConstants.blockHeaderSize + Int(storedLength) }

    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: FormatConstants.blockHeaderSize)
        encode(into: &w)
        return w.bytes
    }

    /// Appends the header's 48 bytes to `w`.
    func encode(into w: inout ByteWriter) {
        let start = w.count
        w.u32(FormatConstants.blockMarker)
        w.u32(0)  // header checksum, patched below
        w.u32(storedLength)
        w.u32(payloadChecksum)
        w.u8(codec.rawValue)
        w.u8(stream.kind.rawValue)
        w.u16(0)  // reserved
        w.u32(stream.id)
        w.u32(uncompressedLength)
        w.u32(recordCount)
        w.u64(firstSequence)
        w.u64(lastSequence)
        w.patchU32(CRC32C.checksum(w.bytes, (start + 8)..<(start + FormatConstants.blockHeaderSize)), at: start + 4)
    }

    /// Why 48 bytes are not a block header.
    enum Problem: Error, Equatable {
        /// The bytes are all zero: the end of what was written (preallocated or never written space).
        case zeros
        /// Not a header: wrong marker or checksum.
        case notAHeader
        /// The checksum matches but a field is impossible.
        case invalid(String)
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> Result<BlockHeader, Problem> {
        let a = Array(bytes)
        guard a.count >= FormatConstants.blockHeaderSize else { return .failure(.notAHeader) }
        if a.allSatisfy({ $0 == 0 }) { return .failure(.zeros) }
        var r = ByteReader(a, offset: 0, end: FormatConstants.blockHeaderSize)
        do {
            guard try r.u32() == FormatConstants.blockMarker else { return .failure(.notAHeader) }
            let crc = try r.u32()
            guard crc == CRC32C.checksum(a, 8..<FormatConstants.blockHeaderSize) else { return .failure(.notAHeader) }
            let stored = try r.u32()
            let payloadCRC = try r.u32()
            let codecByte = try r.u8()
            let kindByte = try r.u8()
            let reserved = try r.u16()
            let streamID = try r.u32()
            let uncompressed = try r.u32()
            let count = try r.u32()
            let first = try r.u64()
            let last = try r.u64()
            guard let codec = BlockCodec(rawValue: codecByte) else { return .failure(.invalid("unknown codec \(codecByte)")) }
            guard let kind = RecordKind(rawValue: kindByte) else { return .failure(.invalid("unknown record kind \(kindByte)")) }
            guard reserved == 0 else { return .failure(.invalid("reserved field is \(reserved)")) }
            guard kind == .trackPoint || streamID == 0 else { return .failure(.invalid("\(kind) block with stream id \(streamID)")) }
            guard Int(stored) <= FormatConstants.maxBlockPayload, Int(uncompressed) <= FormatConstants.maxBlockPayload else {
                return .failure(.invalid("payload of \(stored) bytes (\(uncompressed) uncompressed) exceeds the limit"))
            }
            guard count >= 1, Int(count) <= FormatConstants.maxBlockRecords else {
                return .failure(.invalid("record count \(count)"))
            }
            // The last sequence stays below 2^64 - 1, so that one past it (where the next block starts) is a number.
            guard last >= first, last - first == UInt64(count) - 1, last < UInt64.max else {
                return .failure(.invalid("sequence range \(first)...\(last) does not hold \(count) records"))
            }
            guard codec != .none || stored == uncompressed else {
                return .failure(.invalid("uncompressed block whose lengths differ"))
            }
            return .success(BlockHeader(storedLength: stored, payloadChecksum: payloadCRC, codec: codec,
                                        stream: StreamKey(kind: kind, id: streamID), uncompressedLength: uncompressed,
                                        recordCount: count, firstSequence: first, lastSequence: last))
        } catch {
            return .failure(.notAHeader)
        }
    }
}
