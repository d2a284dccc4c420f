import Glibc

// Entry points for the fuzzers (the `Fuzz/` package, scripts/fuzz) and their
// regression tests: each hands arbitrary bytes to the decoders of one part of
// the format. Whatever the bytes, a call returns (a typed error inside is the
// expected outcome); a trap, a hang or an unbounded allocation is a bug.
// Behind an SPI so that they are no part of the library's API.

/// Feeds arbitrary bytes to the format's decoders, for fuzzing.
@_spi(Fuzzing)
public enum FuzzEntry {
    /// The parts of the format a fuzzer can aim at.
    public enum Target: String, CaseIterable, Sendable {
        /// A block: header, then payload (decompressed and decoded whatever its checksum says).
        case block
        /// A segment file: the walk recovery does, then every sound block read and decoded.
        case segment
        /// An index file, with the segment identity and length taken from the
        /// bytes themselves; the same bytes also as a summary file (whose header has the same shape).
        case index
        /// A block payload: the first byte picks the record kind, the next two the record count.
        case records
    }

    /// Runs `target`'s decoders on `data`. The checksums in it are set right
    /// first (a fuzzer could not forge them, and would never get past them to
    /// the checks behind); the regression tests also run the bytes as they are.
    public static func run(_ target: Target, _ data: [UInt8], fixingChecksums: Bool = true) {
        var data = data
        switch target {
        case .block:
            if fixingChecksums { fixBlockChecksums(&data, at: 0) }
            block(data)
        case .segment:
            if fixingChecksums { fixSegmentChecksums(&data) }
            segment(data)
        case .index:
            if fixingChecksums, data.count >= 4 { patch(&data, CRC32C.checksum(data, 0..<(data.count - 4)), at: data.count - 4) }
            index(data)
        case .records:
            records(data)
        }
    }

    private static func patch(_ data: inout [UInt8], _ value: UInt32, at offset: Int) {
        guard offset >= 0, offset + 4 <= data.count else { return }
        for i in 0..<4 { data[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }

    /// Sets the header checksum of the block at `offset`, and its payload checksum when the payload fits.
    private static func fixBlockChecksums(_ data: inout [UInt8], at offset: Int) {
        let hs = FormatConstants.blockHeaderSize
        guard offset >= 0, offset + hs <= data.count else { return }
        let stored = Int(data[offset + 8]) | Int(data[offset + 9]) << 8 | Int(data[offset + 10]) << 16 | Int(data[offset + 11]) << 24
        if stored <= data.count - offset - hs {
            patch(&data, CRC32C.checksum(data, (offset + hs)..<(offset + hs + stored)), at: offset + 12)
        }
        patch(&data, CRC32C.checksum(data, (offset + 8)..<(offset + hs)), at: offset + 4)
    }

    /// The 32-byte header of writer 0's segment `number`, as the writer makes it.
    public static func segmentHeader(number: UInt64) -> [UInt8] {
        SegmentHeader(writer: 0, segment: number).encoded()
    }

    /// Sets the segment header's checksum, and those of every block whose marker appears.
    public static func fixSegmentChecksums(_ data: inout [UInt8]) {
        let hs = FormatConstants.segmentHeaderSize
        guard data.count >= hs else { return }
        patch(&data, CRC32C.checksum(data, 0..<(hs - 4)), at: hs - 4)
        let m = FormatConstants.blockMarker
        var i = hs
        while i + 4 <= data.count {
            let word = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
            if word == m { fixBlockChecksums(&data, at: i) }
            i += 1
        }
    }

    private static func block(_ data: [UInt8]) {
        guard data.count >= FormatConstants.blockHeaderSize,
              case .success(let h) = BlockHeader.decode(data[0..<FormatConstants.blockHeaderSize]) else { return }
        let stored = data[FormatConstants.blockHeaderSize...].prefix(Int(h.storedLength))
        _ = CRC32C.checksum(Array(stored))
        let payload: [UInt8]
        switch h.codec {
        case .none: payload = Array(stored)
        case .lz4:
            guard let p = try? LZ4.decompress(stored, uncompressedSize: Int(h.uncompressedLength)) else { return }
            payload = p
        }
        _ = try? BlockPayload.decode(payload, stream: h.stream, count: Int(h.recordCount), firstSequence: h.firstSequence)
    }

    /// The folder and file the segment target writes each input to (one per
    /// process, removed when the process exits).
    nonisolated(unsafe) private static var segmentFolder: String?
    nonisolated(unsafe) private static var segmentPath: String?

    private static func segment(_ data: [UInt8]) {
        if segmentPath == nil {
            var template = Array("/tmp/dreamlake-fuzz-XXXXXX".utf8CString)
            guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return }
            segmentFolder = String(validatingCString: dir)
            segmentPath = segmentFolder.map { $0 + "/w0000-00000001.dls" }
            atexit {
                if let path = FuzzEntry.segmentPath { unlink(path) }
                if let folder = FuzzEntry.segmentFolder { rmdir(folder) }
            }
        }
        guard let path = segmentPath, let file = try? File.open(path, .createOrOpen) else { return }
        defer { try? file.close() }
        guard (try? file.truncate(to: 0)) != nil, (try? file.write(data, at: 0)) != nil,
              let scan = try? SegmentScanner.scan(file, segment: SegmentID(writer: 0, number: 1)) else { return }
        let shared = SharedState()
        shared.files[SegmentID(writer: 0, number: 1)] = file
        for ref in scan.blocks { _ = try? Store.readBatch(ref, shared: shared) }
    }

    private static func index(_ data: [UInt8]) {
        // Take the identity and length from where an index keeps them, so that inputs get past those checks.
        var r = ByteReader(data, offset: 12)
        let writer = (try? r.u32()) ?? 0
        let segment = (try? r.u64()) ?? 0
        let length = (try? r.u64()) ?? 0
        _ = SegmentIndex.decode(data, writer: writer, segment: segment, segmentLength: length)
        _ = SegmentSummary.decode(data, writer: writer, segment: segment, segmentLength: length)
    }

    private static func records(_ data: [UInt8]) {
        guard data.count >= 3, let kind = RecordKind(rawValue: data[0] % 8) else { return }
        let count = Int(data[1]) | Int(data[2]) << 8
        let stream = StreamKey(kind: kind, id: kind == .trackPoint ? 1 : 0)
        _ = try? BlockPayload.decode(Array(data[3...]), stream: stream, count: count, firstSequence: 0)
        var r = ByteReader(data, offset: 3)
        _ = try? ValueCodec.decode(from: &r)
    }
}
