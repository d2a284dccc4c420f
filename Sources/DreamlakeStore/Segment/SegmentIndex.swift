// The index file written beside a segment when it is sealed (FORMAT.md,
// "Index file"): one entry per block, so that opening a store and finding a
// track's blocks needs no walk through the data.

enum SegmentIndex {
    static func encode(writer: UInt32, segment: UInt64, segmentLength: UInt64, blocks: [BlockRef]) -> [UInt8] {
        var w = ByteWriter(capacity: FormatConstants.indexHeaderSize + blocks.count * FormatConstants.indexEntrySize + 4)
        SegmentSidecar.writeHeader(&w, magic: FormatConstants.indexMagic, version: FormatConstants.indexVersion,
                                   writer: writer, segment: segment, segmentLength: segmentLength, count: blocks.count)
        for b in blocks {
            w.u64(b.offset)
            w.u32(b.length)
            w.u8(b.stream.kind.rawValue)
            w.u8(0); w.u16(0)
            w.u32(b.stream.id)
            w.u32(b.count)
            w.u64(b.firstSequence)
            w.u64(b.firstSequence + UInt64(b.count) - 1)
        }
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Decodes an index and checks it against the segment it claims to
    /// describe; any mismatch makes it unusable (and the caller rebuilds it).
    static func decode(_ bytes: [UInt8], writer: UInt32, segment: UInt64, segmentLength: UInt64) -> Result<[BlockRef], DecodeError> {
        let hs = FormatConstants.indexHeaderSize, es = FormatConstants.indexEntrySize
        var r: ByteReader
        switch SegmentSidecar.checkedBody(bytes, magic: FormatConstants.indexMagic, headerSize: hs, what: "index") {
        case .success(let reader): r = reader
        case .failure(let e): return .failure(e)
        }
        do {
            let version = try r.u16()
            guard version == FormatConstants.indexVersion else { return .failure(DecodeError("index format version \(version)")) }
            _ = try r.u16()
            guard try r.u32() == writer, try r.u64() == segment else { return .failure(DecodeError("index names another segment")) }
            guard try r.u64() == segmentLength else { return .failure(DecodeError("index covers another length of its segment")) }
            let count = Int(try r.u32())
            _ = try r.u32()
            guard count * es == r.remaining else { return .failure(DecodeError("index declares \(count) entries for \(r.remaining) bytes")) }
            var refs: [BlockRef] = []
            refs.reserveCapacity(count)
            var expected = UInt64(FormatConstants.segmentHeaderSize)
            for _ in 0..<count {
                let offset = try r.u64()
                let length = try r.u32()
                let kindByte = try r.u8()
                _ = try r.u8(); _ = try r.u16()
                let id = try r.u32()
                let n = try r.u32()
                let first = try r.u64()
                let last = try r.u64()
                guard let kind = RecordKind(rawValue: kindByte) else { return .failure(DecodeError("index entry of unknown kind \(kindByte)")) }
                // Blocks lie end to end unless damage was skipped; never overlapping, never past the end.
                guard offset >= expected, length >= UInt32(FormatConstants.blockHeaderSize),
                      offset <= segmentLength, UInt64(length) <= segmentLength - offset,
                      n >= 1, last >= first, last - first == UInt64(n) - 1, last < UInt64.max else {
                    return .failure(DecodeError("index entry at offset \(offset) does not fit its segment"))
                }
                expected = offset + UInt64(length)
                refs.append(BlockRef(segment: SegmentID(writer: writer, number: segment), offset: offset, length: length, stream: StreamKey(kind: kind, id: id),
                                     count: n, firstSequence: first))
            }
            return .success(refs)
        } catch {
            return .failure(error)
        }
    }
}

/// What an index and a summary file share (FORMAT.md): a 40-byte header
/// naming the segment they describe, and a CRC-32C trailer over every byte before it.
enum SegmentSidecar {
    /// Magic, version, flags 0, writer, segment, segment length, entry count, reserved 0.
    static func writeHeader(_ w: inout ByteWriter, magic: [UInt8], version: UInt16, writer: UInt32, segment: UInt64,
                            segmentLength: UInt64, count: Int) {
        w.raw(magic)
        w.u16(version)
        w.u16(0)
        w.u32(writer)
        w.u64(segment)
        w.u64(segmentLength)
        w.u32(UInt32(count))
        w.u32(0)
    }

    /// A reader of the bytes after the magic and before the trailer, when the
    /// file is long enough, has the magic, and its trailer's CRC matches.
    static func checkedBody(_ bytes: [UInt8], magic: [UInt8], headerSize: Int, what: String) -> Result<ByteReader, DecodeError> {
        guard bytes.count >= headerSize + 4 else { return .failure(DecodeError("\(what) is \(bytes.count) bytes, shorter than its header")) }
        guard Array(bytes[0..<8]) == magic else { return .failure(DecodeError("\(what) has a wrong magic")) }
        let stored = UInt32(bytes[bytes.count - 4]) | UInt32(bytes[bytes.count - 3]) << 8
            | UInt32(bytes[bytes.count - 2]) << 16 | UInt32(bytes[bytes.count - 1]) << 24
        guard stored == CRC32C.checksum(bytes, 0..<(bytes.count - 4)) else {
            return .failure(DecodeError("\(what) checksum mismatch"))
        }
        return .success(ByteReader(bytes, offset: 8, end: bytes.count - 4))
    }
}
