import Glibc

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
    /// Bytes the walk read from the file (what bounds its work).
    var bytesRead: UInt64 = 0

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
    ///
    /// The work is linear in the file's size whatever its bytes say: every
    /// byte is checksummed once, into a ``ChecksumTable``, and each block a
    /// header claims (in order or while looking for the next sound block after
    /// damage) is checked from that table, without reading its payload again.
    /// Holes are skipped, not read.
    static func scan(_ file: File, segment: SegmentID, from start: UInt64? = nil) throws(Failure) -> SegmentScan {
        let size: UInt64
        do { size = try file.size() } catch { throw .io(error) }
        let header: SegmentHeader
        let bytes: [UInt8]
        do { bytes = try file.read(at: 0, count: FormatConstants.segmentHeaderSize) } catch { throw .io(error) }
        switch SegmentHeader.decode(bytes) {
        case .success(let h): header = h
        case .failure(let p): throw .header(p)
        }
        // A segment copied or renamed from another number (or another writer's)
        // is not this one: its records would be read in the wrong place.
        guard header.writer == segment.writer, header.segment == segment.number else {
            throw .header(.namesAnotherFile(writer: header.writer, segment: header.segment))
        }
        var scan = SegmentScan(header: header)
        scan.fileSize = size
        var off = max(start ?? 0, UInt64(FormatConstants.segmentHeaderSize))
        var table = ChecksumTable(file: file, base: off, size: size)
        do {
            walk: while off < size {
                switch try readBlock(at: off, segment: segment, table: &table) {
                case .sound(let ref):
                    scan.blocks.append(ref)
                    off += UInt64(ref.length)
                case .zeros:
                    if try allZero(from: off, to: size, table: &table) {
                        scan.end = off
                        scan.bytesRead = table.bytesRead
                        return scan
                    }
                    try skipDamage(at: off, segment: segment, reason: "bad block header", header: nil, table: &table, into: &scan, next: &off)
                    if scan.hasUnfinishedTail { break walk }
                case let .bad(reason, h):
                    try skipDamage(at: off, segment: segment, reason: reason, header: h, table: &table, into: &scan, next: &off)
                    if scan.hasUnfinishedTail { break walk }
                }
            }
            scan.end = off
        } catch {
            throw .io(error)
        }
        scan.bytesRead = table.bytesRead
        return scan
    }

    private static func skipDamage(at off: UInt64, segment: SegmentID, reason: String, header: BlockHeader?,
                                   table: inout ChecksumTable, into scan: inout SegmentScan, next: inout UInt64) throws(IOFailure) {
        if let resume = try findNextSoundBlock(after: off, segment: segment, table: &table) {
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

    /// Reads and checks the block at `off`: header, extent, and the payload's checksum through `table`.
    private static func readBlock(at off: UInt64, segment: SegmentID, table: inout ChecksumTable) throws(IOFailure) -> BlockRead {
        let fileSize = table.size
        let headerSize = UInt64(FormatConstants.blockHeaderSize)
        guard fileSize - off >= headerSize else {
            let rest = try table.read(at: off, count: Int(fileSize - off))
            return rest.allSatisfy { $0 == 0 } ? .zeros : .bad("short block header", nil)
        }
        let hb = try table.read(at: off, count: Int(headerSize))
        guard hb.count == Int(headerSize) else { return .bad("short block header", nil) }  // the file shrank meanwhile
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
        let payload = off + headerSize
        guard try table.checksum(of: payload..<(payload + UInt64(header.storedLength))) == header.payloadChecksum else {
            return .bad("payload checksum mismatch", header)
        }
        return .sound(BlockRef(segment: segment, offset: off, length: UInt32(header.totalLength), stream: header.stream,
                               count: header.recordCount, firstSequence: header.firstSequence))
    }

    /// The offset of the first sound block after `off`, found by looking for
    /// the block marker at every byte (and skipping holes, which hold none).
    private static func findNextSoundBlock(after off: UInt64, segment: SegmentID, table: inout ChecksumTable) throws(IOFailure) -> UInt64? {
        let file = table.file, fileSize = table.size
        let chunk = 1 << 20
        var pos = off + 1
        let m = FormatConstants.blockMarker
        let marker: [UInt8] = [UInt8(m & 0xFF), UInt8((m >> 8) & 0xFF), UInt8((m >> 16) & 0xFF), UInt8(m >> 24)]
        while pos + UInt64(FormatConstants.blockHeaderSize) <= fileSize {
            guard let data = file.nextData(from: pos) else { return nil }  // only a hole remains
            pos = data
            guard pos + UInt64(FormatConstants.blockHeaderSize) <= fileSize else { return nil }
            let dataEnd = min(fileSize, file.dataEnd(from: pos) ?? fileSize)  // a marker never lies in a hole
            let wanted = min(chunk + 3, Int(dataEnd - pos))
            let bytes = try table.read(at: pos, count: wanted)
            guard !bytes.isEmpty else { return nil }  // the file shrank meanwhile
            guard bytes.count >= 4 else {
                pos += UInt64(bytes.count)
                continue
            }
            var i = 0
            while i + 4 <= bytes.count {
                if bytes[i] == marker[0] && bytes[i + 1] == marker[1] && bytes[i + 2] == marker[2] && bytes[i + 3] == marker[3] {
                    let candidate = pos + UInt64(i)
                    if case .sound = try readBlock(at: candidate, segment: segment, table: &table) { return candidate }
                }
                i += 1
            }
            // The last three bytes start the next read, unless data ends here (a marker holds no zeros).
            pos += UInt64(bytes.count == Int(dataEnd - pos) ? bytes.count : bytes.count - 3)
        }
        return nil
    }

    /// Whether `from..<to` holds only zeros; holes are skipped, not read.
    private static func allZero(from: UInt64, to: UInt64, table: inout ChecksumTable) throws(IOFailure) -> Bool {
        var pos = from
        while pos < to {
            guard let data = table.file.nextData(from: pos) else { return true }
            pos = data
            guard pos < to else { return true }
            let end = max(pos + 1, min(to, table.file.dataEnd(from: pos) ?? to))
            let bytes = try table.read(at: pos, count: Int(min(end - pos, 1 << 20)))
            if bytes.isEmpty { return true }
            if !bytes.allSatisfy({ $0 == 0 }) { return false }
            pos += UInt64(bytes.count)
        }
        return true
    }
}

/// The CRC-32C of every prefix of a file region at 256-byte steps, filled in
/// as far as it is asked, so that the checksum of any range inside it costs
/// two short reads and a few multiplications (``CRC32C/checksum(ofSuffixOf:prefixCRC:wholeCRC:)``),
/// however long the range and however many ranges overlap. Each byte of the
/// region is read and checksummed once; the table takes 1/64 of what it covers.
struct ChecksumTable {
    let file: File
    /// Where the region starts: prefix checksums are of `base..<position`.
    let base: UInt64
    /// The file's size when the walk began.
    let size: UInt64
    static let step: UInt64 = 256
    /// `crcs[k]` is the CRC-32C of `base..<base + k * step`.
    private var crcs: [UInt32] = [0]
    /// Bytes read through this table.
    private(set) var bytesRead: UInt64 = 0

    init(file: File, base: UInt64, size: UInt64) {
        self.file = file
        self.base = base
        self.size = size
    }

    /// Reads from the file, counting what it read.
    mutating func read(at offset: UInt64, count: Int) throws(IOFailure) -> [UInt8] {
        let bytes = try file.read(at: offset, count: count)
        bytesRead += UInt64(bytes.count)
        return bytes
    }

    /// The CRC-32C of `range`, which lies inside `base..<size`.
    mutating func checksum(of range: Range<UInt64>) throws(IOFailure) -> UInt32 {
        let first = try prefix(range.lowerBound)
        let whole = try prefix(range.upperBound)
        return CRC32C.checksum(ofSuffixOf: range.upperBound - range.lowerBound, prefixCRC: first, wholeCRC: whole)
    }

    /// The CRC-32C of `base..<position`.
    private mutating func prefix(_ position: UInt64) throws(IOFailure) -> UInt32 {
        let k = (position - base) / Self.step
        try extend(through: k)
        let at = base + k * Self.step
        guard position > at else { return crcs[Int(k)] }
        let rest = try read(at: at, count: Int(position - at))
        guard rest.count == Int(position - at) else { throw IOFailure(operation: "read", path: file.path, errno: EIO, refusal: "the file shrank while it was read") }
        return rest.withUnsafeBytes { CRC32C.checksum($0, continuing: crcs[Int(k)]) }
    }

    /// Fills the table up to and including step `k`, a megabyte a read.
    private mutating func extend(through k: UInt64) throws(IOFailure) {
        while UInt64(crcs.count) <= k {
            let at = base + UInt64(crcs.count - 1) * Self.step
            let steps = min(k + 1 - UInt64(crcs.count), 4096)  // 1 MiB
            let bytes = try read(at: at, count: Int(steps * Self.step))
            guard bytes.count == Int(steps * Self.step) else {
                throw IOFailure(operation: "read", path: file.path, errno: EIO, refusal: "the file shrank while it was read")
            }
            var crc = crcs[crcs.count - 1]
            bytes.withUnsafeBytes { raw in
                var i = 0
                while i < raw.count {
                    crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[i..<i + Int(Self.step)]), continuing: crc)
                    crcs.append(crc)
                    i += Int(Self.step)
                }
            }
        }
    }
}
