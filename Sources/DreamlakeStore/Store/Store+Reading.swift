import Dispatch

// Reading records back from committed blocks, through the index. In a
// writer's process a read sees every append that returned before it, at the
// place every other reader will see it: from memory, where no other writer
// has committed to the stream (this writer's order is the stream's, so its
// records have their place already: Prometheus's head block, LevelDB's
// memtable); elsewhere a read commits what this process appended to the
// stream first, since only the commit log gives those records their place.
// Whether another writer has committed is what the log said at most a
// millisecond before (a writer that starts writing the same stream within
// that millisecond may still take places a read showed for this one's).

extension Store {
    /// Reads one committed block and checks its header against `ref` and its
    /// payload checksum; returns the block's bytes and header.
    static func readChecked(_ ref: BlockRef, shared: SharedState) throws(StoreError) -> (bytes: [UInt8], header: BlockHeader, file: any SegmentBytes) {
        let file = try shared.file(ref.segment)
        let bytes: [UInt8]
        do { bytes = try file.read(at: ref.offset, count: Int(ref.length)) } catch { throw StoreError(error) }
        guard bytes.count == Int(ref.length) else {
            throw corruptError(file.path, ref.offset, "block ends past the end of the file")
        }
        let header: BlockHeader
        switch BlockHeader.decode(bytes[0..<FormatConstants.blockHeaderSize]) {
        case .success(let h): header = h
        case .failure: throw corruptError(file.path, ref.offset, "bad block header where the index points")
        }
        guard header.stream == ref.stream, header.firstSequence == ref.firstSequence, header.recordCount == ref.count,
              header.totalLength == Int(ref.length) else {
            throw corruptError(file.path, ref.offset, "block header does not match its index entry")
        }
        let crc = bytes[FormatConstants.blockHeaderSize...].withUnsafeBytes { CRC32C.checksum($0) }
        guard crc == header.payloadChecksum else { throw corruptError(file.path, ref.offset, "payload checksum mismatch") }
        return (bytes, header, file)
    }

    /// Reads, checks and decodes one committed block.
    /// With `fields`, a block of points keeps only those columns (``BlockPayload/decode(_:offset:stream:count:firstSequence:fields:)``).
    static func readBatch(_ ref: BlockRef, shared: SharedState, fields: Set<String>? = nil) throws(StoreError) -> Batch {
        let (bytes, header, file) = try readChecked(ref, shared: shared)
        let stored = bytes[FormatConstants.blockHeaderSize...]
        do throws(DecodeError) {
            let batch: Batch
            switch header.codec {
            case .none:
                batch = try BlockPayload.decode(bytes, offset: FormatConstants.blockHeaderSize, stream: header.stream,
                                                count: Int(header.recordCount), firstSequence: header.firstSequence, fields: fields)
            case .lz4:
                let payload = try LZ4.decompress(stored, uncompressedSize: Int(header.uncompressedLength))
                batch = try BlockPayload.decode(payload, stream: header.stream, count: Int(header.recordCount),
                                                firstSequence: header.firstSequence, fields: fields)
            }
            if case .points(let b) = batch, !b.isConsistent {
                throw DecodeError("columns of unequal length")
            }
            return batch.written(by: ref.segment.writer)
        } catch {
            throw corruptError(file.path, ref.offset, "block does not decode (\(error.reason))")
        }
    }

    /// Reads and decodes blocks, several at once on a machine with several
    /// cores (decoding, not I/O, is what a scan spends its time on).
    static func readBatches(_ refs: [BlockRef], shared: SharedState, fields: Set<String>? = nil) throws(StoreError) -> [Batch] {
        try concurrentMap(count: refs.count) { (i) throws(StoreError) in try readBatch(refs[i], shared: shared, fields: fields) }
    }

    /// The batches of `stream` that hold records in `from ..< to`, in order:
    /// committed blocks read from disk, and in a writer, what this process
    /// appended and has not committed, from memory.
    func batches(_ stream: StreamKey, from: UInt64, to: UInt64) throws(StoreError) -> [Batch] {
        guard from < to else { return [] }
        guard let writer, let (refs, head) = writer.uncommitted(stream) else {
            return try Store.readBatches(blockSources(stream, from: from, to: to), shared: shared)
        }
        var out = try Store.readBatches(Store.overlapping(refs, from: from, to: to), shared: shared)
        var next = refs.last?.endSequence ?? 0
        for batch in head {
            let end = next &+ UInt64(batch.count)  // a stream committed up to 2^64 - 1 (a crafted log) must not trap here
            if end > from && next < to { out.append(try Store.readable(batch.written(by: writer.writerID))) }
            next = end
        }
        return out
    }

    /// A batch of the writer's as a decoded block reads: log entries encoded on append are decoded.
    static func readable(_ batch: Batch) throws(StoreError) -> Batch {
        guard case .encodedLogs(let e) = batch else { return batch }
        var r = ByteReader(e.body)
        do {
            return .logs(try BlockPayload.decodeLogEntries(&r, timestamps: e.timestamps, firstSequence: e.firstSequence))
        } catch {
            throw StoreError(.io, "log entries held in memory do not decode (\(error.reason)); this is a bug in dreamlake")
        }
    }

    /// The blocks of `all` (one stream's, in order) that hold records in `from ..< to`.
    static func overlapping(_ all: [BlockRef], from: UInt64, to: UInt64) -> [BlockRef] {
        // First block whose end is past `from`.
        var lo = 0, hi = all.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if all[mid].endSequence <= from { lo = mid + 1 } else { hi = mid }
        }
        var refs: [BlockRef] = []
        var i = lo
        while i < all.count && all[i].firstSequence < to { refs.append(all[i]); i += 1 }
        return refs
    }

    /// The records of `stream` that `writer` wrote, from sequence `from` on,
    /// at most `limit` of them, in order; and whether that writer wrote more
    /// after them. Only that writer's blocks are read (a block has one writer).
    private func records<R>(_ stream: StreamKey, writtenBy writer: UInt32, from: UInt64, limit: Int,
                            position: (R) -> UInt64,
                            _ extract: (Batch) -> [R]) throws(StoreError) -> (records: [R], more: Bool) {
        guard limit > 0 else { return ([], false) }
        let refs = try blockSources(stream, from: from, to: .max).filter { $0.segment.writer == writer }
        var out: [R] = []
        var i = 0
        while i < refs.count && out.count < limit {
            // A few blocks at a time: enough to fill the page, read at once.
            var j = i, planned = 0
            while j < refs.count && planned < limit - out.count && j - i < 64 {
                planned += Int(refs[j].count)
                j += 1
            }
            for batch in try Store.readBatches(Array(refs[i..<j]), shared: shared) {
                for r in extract(batch) where position(r) >= from {
                    if out.count == limit { return (out, true) }
                    out.append(r)
                }
            }
            i = j
        }
        return (out, i < refs.count)
    }

    /// Points of `track` that `writer` (a session's rank) wrote, from index
    /// `from` on, at most `limit` of them, in index order; and whether that
    /// writer wrote points after them. Reads only that writer's blocks.
    public func points(of track: TrackID, writtenBy writer: UInt32, from: UInt64, limit: Int) throws(StoreError) -> (points: [TrackPoint], more: Bool) {
        let (points, more) = try records(.track(track), writtenBy: writer, from: from, limit: limit,
                                         position: { (p: TrackPoint) in p.index }) { batch in
            guard case .points(let block) = batch else { return [] }
            return (0..<block.count).map(block.point(at:))
        }
        return (points, more)
    }

    /// Log entries that `writer` (a session's rank) wrote, from sequence
    /// `from` on, at most `limit` of them, in order; and whether that writer
    /// wrote entries after them. Reads only that writer's blocks.
    public func logs(writtenBy writer: UInt32, from: UInt64 = 0, limit: Int = .max) throws(StoreError) -> (entries: [LogEntry], more: Bool) {
        let (entries, more) = try records(.logs, writtenBy: writer, from: from, limit: limit,
                                          position: { (e: LogEntry) in e.sequence }) { batch in
            if case .logs(let entries) = batch { entries } else { [] }
        }
        return (entries, more)
    }

    /// The committed blocks of `stream` that hold records in `from ..< to`,
    /// in order (not read yet). In a writer, what it appended to the stream
    /// is committed first when the range reaches past what is committed.
    func blockSources(_ stream: StreamKey, from: UInt64, to: UInt64) throws(StoreError) -> [BlockRef] {
        guard from < to else { return [] }
        if let writer, to > shared.lock.withLock({ shared.writtenEnd(stream) }) { try writer.settle(stream) }
        return try shared.lock.withLock { () throws(StoreError) -> [BlockRef] in
            guard !shared.closed else { throw StoreError(.notWritable, "the store at \(directory) is closed") }
            return Store.overlapping(shared.refs[stream] ?? [], from: from, to: to)
        }
    }

    /// How many records `stream` holds (one past the last sequence). In a
    /// writer, its own appends to the stream count: without committing them
    /// where no other writer has committed to the stream, after committing
    /// them (and waiting for the background thread) where one has.
    public func count(of stream: StreamKey) -> UInt64 {
        if let writer {
            if let end = writer.appendedEnd(stream) { return end }
            try? writer.settle(stream)
        }
        return shared.lock.withLock { shared.writtenEnd(stream) }
    }

    /// The timestamps of the first and the last point of `track`, nil when it
    /// has none. In a writer, what this process appended counts, as in
    /// ``count(of:)``. It reads at most one block from disk (the first point's
    /// timestamp is read once, the last block's once per block), so a training
    /// loop may ask after every append.
    public func timestampBounds(of track: TrackID) throws(StoreError) -> (first: Int64, last: Int64)? {
        let stream = StreamKey.track(track)
        var refs: [BlockRef]
        var headFirst: Int64?, headLast: Int64?
        if let writer, let u = writer.uncommittedTimestamps(track) {
            (refs, headFirst, headLast) = u
        } else {
            if let writer { try writer.settle(stream) }
            refs = try shared.lock.withLock { () throws(StoreError) -> [BlockRef] in
                guard !shared.closed else { throw StoreError(.notWritable, "the store at \(directory) is closed") }
                return shared.refs[stream] ?? []
            }
        }
        let segments = directory + "/" + StoreFiles.segmentDirectory
        let readFile = { [shared] (segment: SegmentID) in Store.summaryFile(segments, segment: segment, shared: shared) }
        /// The timestamp of the first or the last point of a committed block: from its summary when
        /// there is one (a finished run's blocks all have one), else from the block.
        func timestamp(of ref: BlockRef, last: Bool) throws(StoreError) -> Int64? {
            if let summary = shared.summaries.summary(ref, readFile: readFile) {
                return last ? summary.lastTimestamp : summary.firstTimestamp
            }
            guard case .points(let block) = try Store.readBatch(ref, shared: shared) else { return nil }
            return last ? block.timestamps.last : block.timestamps.first
        }
        var first = headFirst
        if let firstRef = refs.first {
            if let known = shared.lock.withLock({ shared.firstTimestamps[stream] }) {
                first = known
            } else if let t = try timestamp(of: firstRef, last: false) {
                shared.lock.withLock { shared.firstTimestamps[stream] = t }
                first = t
            }
        }
        var last = headLast
        if last == nil, let lastRef = refs.last {
            if let known = shared.lock.withLock({ shared.lastBlockTimestamps[stream] }), known.ref == lastRef {
                last = known.timestamp
            } else if let t = try timestamp(of: lastRef, last: true) {
                shared.lock.withLock { shared.lastBlockTimestamps[stream] = (lastRef, t) }
                last = t
            }
        }
        guard let first, let last else { return nil }
        return (first, last)
    }

    /// How many records of `stream` are durable: written and fsync'd, so that
    /// they survive a crash or a power loss (records 0 ..< the result). For a
    /// store open for reading, every record it sees is on disk.
    /// Watching it is how a caller learns what the background writer has made
    /// durable without waiting for it (``flush()`` waits).
    public func durableCount(of stream: StreamKey) -> UInt64 {
        let onDisk = shared.lock.withLock { shared.writtenEnd(stream) }
        guard let writer else { return onDisk }
        return writer.durableEnd(stream) ?? 0
    }

    // MARK: Tracks

    /// Every track with its metadata and point count, by id. Needs no scan of the data.
    public func tracks() -> [TrackInfo] {
        let infos = shared.lock.withLock { Array(shared.catalog.byID.values) }
        return infos.sorted { $0.id < $1.id }.map { info in
            var i = info
            i.count = count(of: .track(info.id))
            return i
        }
    }

    /// The track with this name, or nil.
    public func trackInfo(named name: String) -> TrackInfo? {
        guard let id = shared.lock.withLock({ shared.catalog.byName[name] }) else { return nil }
        return trackInfo(id)
    }

    /// The track with this id, or nil.
    public func trackInfo(_ id: TrackID) -> TrackInfo? {
        guard var info = shared.lock.withLock({ shared.catalog.byID[id] }) else { return nil }
        info.count = count(of: .track(id))
        return info
    }

    /// Calls `body` with the blocks of points of `track` that overlap
    /// `from ..< to` (to the end when `to` is nil), in order, until it returns false.
    /// Blocks are whole: the first and last may hold points outside the range.
    /// The fast way through many points: read their columns.
    public func forEachPointBlock(of track: TrackID, from: UInt64 = 0, to: UInt64? = nil,
                                  _ body: (PointBlock) throws -> Bool) throws {
        let end = to ?? count(of: .track(track))
        guard from < end else { return }
        // Read in slices of blocks so memory stays bounded on long tracks.
        var next = from
        while next < end {
            let sliceEnd = min(end, next &+ 1 << 20)
            var progressed = false
            for batch in try batches(.track(track), from: next, to: sliceEnd) {
                guard case .points(let block) = batch, block.endIndex > next else { continue }
                if try !body(block) { return }
                next = max(next, block.endIndex)
                progressed = true
            }
            if !progressed { break }
        }
    }

    /// Points `from ..< from + limit` of `track` (fewer at the end).
    public func points(of track: TrackID, from: UInt64, limit: Int) throws(StoreError) -> [TrackPoint] {
        guard limit > 0 else { return [] }
        let to = from &+ UInt64(limit) < from ? UInt64.max : from + UInt64(limit)
        var out: [TrackPoint] = []
        out.reserveCapacity(min(limit, 1 << 16))
        for batch in try batches(.track(track), from: from, to: to) {
            guard case .points(let block) = batch else { continue }
            let lo = max(from, block.firstIndex), hi = min(to, block.endIndex)
            guard lo < hi else { continue }
            for i in Int(lo - block.firstIndex)..<Int(hi - block.firstIndex) { out.append(block.point(at: i)) }
        }
        return out
    }

    // MARK: Other streams

    /// Log entries `from ..< from + limit`.
    public func logs(from: UInt64 = 0, limit: Int = .max) throws(StoreError) -> [LogEntry] {
        try records(.logs, from: from, limit: limit) { (batch) throws(StoreError) in
            switch batch {
            case .logs(let r): return r
            default: return []
            }
        }
    }

    /// Every parameter update, in order.
    public func parameterUpdates() throws(StoreError) -> [ObjectRecord] {
        try records(.parameters, from: 0, limit: .max) { if case .objects(_, let r) = $0 { r } else { [] } }
    }

    /// Every session metadata update, in order.
    public func sessionMetadataUpdates() throws(StoreError) -> [ObjectRecord] {
        try records(.sessionMetadata, from: 0, limit: .max) { if case .objects(_, let r) = $0 { r } else { [] } }
    }

    /// Every track metadata record, in order.
    public func trackMetadataRecords() throws(StoreError) -> [TrackMetadata] {
        try records(.trackMetadata, from: 0, limit: .max) { if case .trackMetadata(let r) = $0 { r } else { [] } }
    }

    /// Every file record, in order.
    public func fileRecords() throws(StoreError) -> [FileRecord] {
        try records(.files, from: 0, limit: .max) { if case .files(let r) = $0 { r } else { [] } }
    }

    private func records<R>(_ stream: StreamKey, from: UInt64, limit: Int, _ extract: (Batch) throws(StoreError) -> [R]) throws(StoreError) -> [R]
    where R: Sequenced {
        guard limit > 0 else { return [] }
        let to = from &+ UInt64(limit) < from ? UInt64.max : from + UInt64(limit)
        var out: [R] = []
        for batch in try batches(stream, from: from, to: to) {
            for r in try extract(batch) where r.sequence >= from && r.sequence < to { out.append(r) }
        }
        return out
    }
}

/// Records numbered within their stream.
protocol Sequenced { var sequence: UInt64 { get } }
extension LogEntry: Sequenced {}
extension ObjectRecord: Sequenced {}
extension TrackMetadata: Sequenced {}
extension FileRecord: Sequenced {}
