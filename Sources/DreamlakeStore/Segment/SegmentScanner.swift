// Walks a segment file block by block, checking each header and payload
// checksum, the way LevelDB's log reader does: damage is reported with its
// offset and the walk goes on at the next sound block; a bad region that no
// sound block follows is the end of what the writer finished.

/// The result of walking one segment.
struct SegmentScan {
    struct Bad {
        var offset: UInt64
        var length: UInt64
        var reason: String
        var header: BlockHeader?
    }

    var header: SegmentHeader
    /// Sound blocks, in file order.
    var blocks: [BlockRef] = []
    /// Damaged regions followed by a sound block.
    var bad: [Bad] = []
    /// Where the sound data ends. Bytes from here to the end of the file are
    /// zeros (`tailIsZeros`) or a region no sound block follows (`tailReason`).
    var end: UInt64 = 0
    var fileSize: UInt64 = 0
    var tailReason: String?
    var tailHeader: BlockHeader?

    var hasUnfinishedTail: Bool { tailReason != nil }
}

enum SegmentScanner {
    enum Failure: Error {
        case io(IOFailure)
        /// The segment header is missing or unreadable.
        case header(SegmentHeader.Problem)
    }

    /// Walks `file` from `start` (by default the end of the segment header;
    /// a reader following a writer passes the end it already walked to).
    static func scan(_ file: File, segment: UInt64, from start: UInt64? = nil) throws(Failure) -> SegmentScan {
        let size: UInt64
        do { size = try file.size() } catch { throw .io(error) }
        let header: SegmentHeader
        let bytes: [UInt8]
        do { bytes = try file.read(at: 0, count: FormatConstants.segmentHeaderSize) } catch { throw .io(error) }
        switch SegmentHeader.decode(bytes) {
        case .success(let h): header = h
        case .failure(let p): throw .header(p)
        }
        var scan = SegmentScan(header: header)
        scan.fileSize = size
        var off = start ?? UInt64(FormatConstants.segmentHeaderSize)
        do {
            while off < size {
                switch try readBlock(file, at: off, fileSize: size, segment: segment) {
                case .sound(let ref):
                    scan.blocks.append(ref)
                    off += UInt64(ref.length)
                case .zeros:
                    if try allZero(file, from: off, to: size) {
                        scan.end = off
                        return scan
                    }
                    try skipDamage(file, at: off, size: size, segment: segment, reason: "bad block header", header: nil, into: &scan, next: &off)
                    if scan.hasUnfinishedTail { return scan }
                case let .bad(reason, h):
                    try skipDamage(file, at: off, size: size, segment: segment, reason: reason, header: h, into: &scan, next: &off)
                    if scan.hasUnfinishedTail { return scan }
                }
            }
        } catch {
            throw .io(error)
        }
        scan.end = off
        return scan
    }

    private static func skipDamage(_ file: File, at off: UInt64, size: UInt64, segment: UInt64, reason: String,
                                   header: BlockHeader?, into scan: inout SegmentScan, next: inout UInt64) throws(IOFailure) {
        if let resume = try findNextSoundBlock(file, after: off, fileSize: size, segment: segment) {
            scan.bad.append(.init(offset: off, length: resume - off, reason: reason, header: header))
            next = resume
        } else {
            scan.end = off
            scan.tailReason = reason
            scan.tailHeader = header
        }
    }

    enum BlockRead {
        case sound(BlockRef)
        case zeros
        case bad(String, BlockHeader?)
    }

    /// Reads and checks the block at `off`: header, extent and payload checksum.
    static func readBlock(_ file: File, at off: UInt64, fileSize: UInt64, segment: UInt64) throws(IOFailure) -> BlockRead {
        let headerSize = UInt64(FormatConstants.blockHeaderSize)
        guard fileSize - off >= headerSize else {
            let rest = try file.read(at: off, count: Int(fileSize - off))
            return rest.allSatisfy { $0 == 0 } ? .zeros : .bad("short block header", nil)
        }
        let hb = try file.read(at: off, count: Int(headerSize))
        let header: BlockHeader
        switch BlockHeader.decode(hb[...]) {
        case .success(let h): header = h
        case .failure(.zeros): return .zeros
        case .failure(.notAHeader): return .bad("bad block header", nil)
        case .failure(.invalid(let why)): return .bad("invalid block header: \(why)", nil)
        }
        guard UInt64(header.totalLength) <= fileSize - off else {
            return .bad("block runs past the end of the file", header)
        }
        let payload = try file.read(at: off + headerSize, count: Int(header.storedLength))
        guard payload.count == Int(header.storedLength), CRC32C.checksum(payload) == header.payloadChecksum else {
            return .bad("payload checksum mismatch", header)
        }
        return .sound(BlockRef(segment: segment, offset: off, length: UInt32(header.totalLength), stream: header.stream,
                               count: header.recordCount, firstSequence: header.firstSequence))
    }

    /// The offset of the first sound block after `off`, found by looking for
    /// the block marker at every byte.
    private static func findNextSoundBlock(_ file: File, after off: UInt64, fileSize: UInt64, segment: UInt64) throws(IOFailure) -> UInt64? {
        let chunk = 1 << 20
        var pos = off + 1
        let m = FormatConstants.blockMarker
        let marker: [UInt8] = [UInt8(m & 0xFF), UInt8((m >> 8) & 0xFF), UInt8((m >> 16) & 0xFF), UInt8(m >> 24)]
        while pos + UInt64(FormatConstants.blockHeaderSize) <= fileSize {
            let bytes = try file.read(at: pos, count: min(chunk + 3, Int(fileSize - pos)))
            guard bytes.count >= 4 else { return nil }
            var i = 0
            while i + 4 <= bytes.count {
                if bytes[i] == marker[0] && bytes[i + 1] == marker[1] && bytes[i + 2] == marker[2] && bytes[i + 3] == marker[3] {
                    let candidate = pos + UInt64(i)
                    if case .sound = try readBlock(file, at: candidate, fileSize: fileSize, segment: segment) { return candidate }
                }
                i += 1
            }
            pos += UInt64(max(1, bytes.count - 3))
        }
        return nil
    }

    private static func allZero(_ file: File, from: UInt64, to: UInt64) throws(IOFailure) -> Bool {
        var pos = from
        while pos < to {
            let bytes = try file.read(at: pos, count: Int(min(to - pos, 1 << 20)))
            if bytes.isEmpty { return true }
            if !bytes.allSatisfy({ $0 == 0 }) { return false }
            pos += UInt64(bytes.count)
        }
        return true
    }
}
