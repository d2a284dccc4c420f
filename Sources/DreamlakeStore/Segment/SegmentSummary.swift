// Per-block summaries of a sealed segment (FORMAT.md, "Summary file"): for
// every block of track points, each numeric field's first, last, smallest and
// largest finite value with their positions, and how many values are NaN or
// infinite. An envelope over a long range merges these instead of decoding
// the blocks. The file is optional: a store without it reads the same, and a
// reader computes a missing summary from its block.

/// What one block of points holds in each numeric field.
struct BlockSummary: Sendable, Equatable {
    /// The block's indexes.
    var range: Range<UInt64>
    /// One entry per field that holds a number in at least one point, in the
    /// order the block first shows them; each summarizes the whole block.
    var fields: [(name: String, bucket: EnvelopeBucket)]
    /// The timestamps of the block's first and last point.
    var firstTimestamp: Int64
    var lastTimestamp: Int64

    static func == (a: BlockSummary, b: BlockSummary) -> Bool {
        a.range == b.range && a.firstTimestamp == b.firstTimestamp && a.lastTimestamp == b.lastTimestamp
            && a.fields.count == b.fields.count
            && zip(a.fields, b.fields).allSatisfy { $0.name.utf8.elementsEqual($1.name.utf8) && $0.bucket == $1.bucket }
    }

    /// The field's summary over the whole block; a field the block has no
    /// number in is all missing.
    func bucket(_ field: String) -> EnvelopeBucket {
        var b: EnvelopeBucket
        if let f = fields.first(where: { $0.name == field }) {
            b = f.bucket
        } else {
            b = EnvelopeBucket(range: range)
            b.missingCount = UInt64(range.count)
        }
        (b.firstTimestamp, b.lastTimestamp) = (firstTimestamp, lastTimestamp)
        return b
    }

    /// Summarizes a decoded block.
    init(_ block: PointBlock) {
        range = block.firstIndex..<block.endIndex
        (firstTimestamp, lastTimestamp) = (block.timestamps.first ?? 0, block.timestamps.last ?? 0)
        let first = block.firstIndex
        switch block.layout {
        case let .columns(keys, columns):
            fields = zip(keys, columns).map { key, column in
                var b = EnvelopeBucket(range: first..<block.endIndex)
                switch column {
                case .double(let v): for i in v.indices { b.add(first + UInt64(i), v[i]) }
                case .int(let v): for i in v.indices { b.add(first + UInt64(i), Double(v[i])) }
                }
                return (key, b)
            }
        case .rows(let rows):
            var order: [String] = []
            var byName: [String: EnvelopeBucket] = [:]
            for (i, row) in rows.enumerated() {
                for (key, value) in row {
                    guard let d = EnvelopeBuilder.number(value) else { continue }
                    if byName[key] == nil {
                        order.append(key)
                        byName[key] = EnvelopeBucket(range: first..<block.endIndex)
                    }
                    byName[key]!.add(first + UInt64(i), d)
                }
            }
            fields = order.map { ($0, byName[$0]!) }
        }
        for i in fields.indices { fields[i].bucket.fillMissing() }
    }

    init(range: Range<UInt64>, firstTimestamp: Int64, lastTimestamp: Int64, fields: [(name: String, bucket: EnvelopeBucket)]) {
        self.range = range
        self.firstTimestamp = firstTimestamp
        self.lastTimestamp = lastTimestamp
        self.fields = fields
    }
}

extension EnvelopeBucket {
    /// Counts as missing every point of the range not counted otherwise.
    mutating func fillMissing() {
        missingCount = UInt64(range.count) - count - nanCount - positiveInfinityCount - negativeInfinityCount
    }

    /// Takes in the summary of points that all follow this bucket's points.
    mutating func absorb(_ later: EnvelopeBucket) {
        if firstTimestamp == nil { firstTimestamp = later.firstTimestamp }
        if let t = later.lastTimestamp { lastTimestamp = t }
        if first == nil { first = later.first }
        if let l = later.last { last = l }
        if let m = later.min, min.map({ m.value < $0.value }) ?? true { min = m }
        if let m = later.max, max.map({ m.value > $0.value }) ?? true { max = m }
        count += later.count
        nanCount += later.nanCount
        positiveInfinityCount += later.positiveInfinityCount
        negativeInfinityCount += later.negativeInfinityCount
        missingCount += later.missingCount
    }
}

enum SegmentSummary {
    static let magic: [UInt8] = Array("DLKSUM01".utf8)
    static let version: UInt16 = 2
    static let headerSize = 40

    /// The summary file of a segment: `blocks` are (offset, track, summary)
    /// of its blocks of points, in file order.
    static func encode(writer: UInt32, segment: UInt64, segmentLength: UInt64,
                       blocks: [(offset: UInt64, track: UInt32, summary: BlockSummary)]) -> [UInt8] {
        var w = ByteWriter(capacity: headerSize + blocks.count * 128)
        SegmentSidecar.writeHeader(&w, magic: magic, version: version, writer: writer, segment: segment,
                                   segmentLength: segmentLength, count: blocks.count)
        for b in blocks {
            let first = b.summary.range.lowerBound
            w.u64(b.offset)
            w.u32(b.track)
            w.u32(UInt32(b.summary.range.count))
            w.u64(UInt64(bitPattern: b.summary.firstTimestamp))
            w.u64(UInt64(bitPattern: b.summary.lastTimestamp))
            w.u32(UInt32(b.summary.fields.count))
            for (name, s) in b.summary.fields {
                w.string(name)
                w.u32(UInt32(s.count))
                w.u32(UInt32(s.nanCount))
                w.u32(UInt32(s.positiveInfinityCount))
                w.u32(UInt32(s.negativeInfinityCount))
                for p in [s.first, s.last, s.min, s.max] {
                    guard let p else { continue }  // all four are there exactly when count > 0
                    w.u32(UInt32(p.index - first))
                    w.u64(p.value.bitPattern)
                }
            }
        }
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Decodes a summary file and checks it against the segment it claims to
    /// describe and against itself; any flaw makes the whole file unusable
    /// (the caller then computes summaries from the blocks). Returns the
    /// summaries by block offset, with the track each names.
    static func decode(_ bytes: [UInt8], writer: UInt32, segment: UInt64,
                       segmentLength: UInt64) -> Result<[UInt64: (track: UInt32, summary: BlockSummary)], DecodeError> {
        var r: ByteReader
        switch SegmentSidecar.checkedBody(bytes, magic: magic, headerSize: headerSize, what: "summary file") {
        case .success(let reader): r = reader
        case .failure(let e): return .failure(e)
        }
        do throws(DecodeError) {
            let v = try r.u16()
            guard v == version else { throw DecodeError("summary file version \(v)") }
            _ = try r.u16()
            guard try r.u32() == writer, try r.u64() == segment else { throw DecodeError("summary file names another segment") }
            guard try r.u64() == segmentLength else { throw DecodeError("summary file covers another length of its segment") }
            let count = Int(try r.u32())
            _ = try r.u32()
            guard count <= r.remaining / 36 else { throw DecodeError("summary file declares \(count) entries for \(r.remaining) bytes") }
            var out: [UInt64: (track: UInt32, summary: BlockSummary)] = [:]
            var previous: UInt64?
            for _ in 0..<count {
                let at = r.offset
                let offset = try r.u64()
                let track = try r.u32()
                let n = try r.u32()
                let firstTimestamp = Int64(bitPattern: try r.u64())
                let lastTimestamp = Int64(bitPattern: try r.u64())
                let fieldCount = try r.u32()
                guard previous.map({ offset > $0 }) ?? true, offset >= UInt64(FormatConstants.segmentHeaderSize),
                      offset < segmentLength, n >= 1, Int(fieldCount) <= r.remaining / 17 else {
                    throw DecodeError("summary entry at byte \(at) does not fit its segment")
                }
                previous = offset
                // Positions are relative to the block; any base gives the same checks.
                let range = UInt64(0)..<UInt64(n)
                var fields: [(name: String, bucket: EnvelopeBucket)] = []
                for _ in 0..<fieldCount {
                    let name = try r.string()
                    guard !fields.contains(where: { $0.name.utf8.elementsEqual(name.utf8) }) else {
                        throw DecodeError("summary entry at byte \(at) names field \(name) twice")
                    }
                    var b = EnvelopeBucket(range: range)
                    b.count = UInt64(try r.u32())
                    b.nanCount = UInt64(try r.u32())
                    b.positiveInfinityCount = UInt64(try r.u32())
                    b.negativeInfinityCount = UInt64(try r.u32())
                    guard b.count + b.nanCount + b.positiveInfinityCount + b.negativeInfinityCount <= UInt64(n) else {
                        throw DecodeError("summary entry at byte \(at) counts more values than its block holds")
                    }
                    if b.count > 0 {
                        var p: [EnvelopePoint] = []
                        for _ in 0..<4 {
                            let position = UInt64(try r.u32())
                            let value = Double(bitPattern: try r.u64())
                            guard position < UInt64(n), value.isFinite else {
                                throw DecodeError("summary entry at byte \(at) holds a point outside its block or not finite")
                            }
                            p.append(EnvelopePoint(index: position, value: value))
                        }
                        let (first, last, lo, hi) = (p[0], p[1], p[2], p[3])
                        guard first.index <= last.index, UInt64(last.index - first.index) + 1 >= b.count,
                              (first.index...last.index).contains(lo.index), (first.index...last.index).contains(hi.index),
                              lo.value <= first.value, lo.value <= last.value, hi.value >= first.value, hi.value >= last.value,
                              b.count > 1 || (first == last && lo == first && hi == first) else {
                            throw DecodeError("summary entry at byte \(at) is not a summary of any values")
                        }
                        (b.first, b.last, b.min, b.max) = (first, last, lo, hi)
                    }
                    b.fillMissing()
                    fields.append((name, b))
                }
                out[offset] = (track, BlockSummary(range: range, firstTimestamp: firstTimestamp, lastTimestamp: lastTimestamp, fields: fields))
            }
            guard r.remaining == 0 else { throw DecodeError("summary file has \(r.remaining) bytes past its last entry") }
            return .success(out)
        } catch {
            return .failure(error)
        }
    }
}

extension BlockSummary {
    /// The same summary with its indexes moved to start at `first` (a
    /// summary file's are relative to their block).
    func moved(to first: UInt64) -> BlockSummary {
        let base = range.lowerBound
        func shift(_ p: EnvelopePoint?) -> EnvelopePoint? { p.map { EnvelopePoint(index: first + ($0.index - base), value: $0.value) } }
        let r = first..<first + UInt64(range.count)
        return BlockSummary(range: r, firstTimestamp: firstTimestamp, lastTimestamp: lastTimestamp, fields: fields.map { name, b in
            var m = b
            m.range = r
            (m.first, m.last, m.min, m.max) = (shift(b.first), shift(b.last), shift(b.min), shift(b.max))
            return (name, m)
        })
    }
}
