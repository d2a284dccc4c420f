import Dispatch

// Reading records back: from written blocks through the index, and, in the
// writer's process, from blocks sealed but not yet written and from the open
// blocks, so that a read sees every append that returned before it.

extension Store {
    /// Reads, checks and decodes one written block.
    static func readBatch(_ ref: BlockRef, shared: SharedState) throws(StoreError) -> Batch {
        guard let file = shared.lock.withLock({ shared.files[ref.segment] }) else {
            throw StoreError(.notWritable, "segment \(ref.segment) is not open; the store may have been closed")
        }
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
        let stored = bytes[FormatConstants.blockHeaderSize...]
        let crc = stored.withUnsafeBytes { CRC32C.checksum($0) }
        guard crc == header.payloadChecksum else { throw corruptError(file.path, ref.offset, "payload checksum mismatch") }
        do throws(DecodeError) {
            let batch: Batch
            switch header.codec {
            case .none:
                batch = try BlockPayload.decode(bytes, offset: FormatConstants.blockHeaderSize, stream: header.stream,
                                                count: Int(header.recordCount), firstSequence: header.firstSequence)
            case .lz4:
                let payload = try LZ4.decompress(stored, uncompressedSize: Int(header.uncompressedLength))
                batch = try BlockPayload.decode(payload, stream: header.stream, count: Int(header.recordCount),
                                                firstSequence: header.firstSequence)
            }
            if case .points(let b) = batch, !b.isConsistent {
                throw DecodeError("columns of unequal length")
            }
            return batch
        } catch {
            throw corruptError(file.path, ref.offset, "block does not decode (\(error.reason))")
        }
    }

    /// Reads and decodes blocks, several at once on a machine with several
    /// cores (decoding, not I/O, is what a scan spends its time on).
    static func readBatches(_ refs: [BlockRef], shared: SharedState) throws(StoreError) -> [Batch] {
        if refs.count < 2 {
            return try refs.map { (ref) throws(StoreError) in try readBatch(ref, shared: shared) }
        }
        let results = ResultSlots(count: refs.count)
        DispatchQueue.concurrentPerform(iterations: refs.count) { i in
            results.set(i, Result { () throws(StoreError) in try readBatch(refs[i], shared: shared) })
        }
        return try results.values()
    }

    /// The batches of `stream` that hold records in `from ..< to`, in order:
    /// written blocks, then (in the writer) sealed and open ones.
    func batches(_ stream: StreamKey, from: UInt64, to: UInt64) throws(StoreError) -> [Batch] {
        let (written, inMemory) = try blockSources(stream, from: from, to: to)
        return try Store.readBatches(written, shared: shared) + inMemory
    }

    /// Where the records of `stream` in `from ..< to` are: the written blocks
    /// that hold some (not read yet), then (in the writer) the blocks sealed
    /// but not written and the open block, in order.
    func blockSources(_ stream: StreamKey, from: UInt64, to: UInt64) throws(StoreError) -> (written: [BlockRef], inMemory: [Batch]) {
        guard from < to else { return ([], []) }
        var refs: [BlockRef] = []
        var memory: [Batch] = []
        let collect = { [shared] in
            if shared.closed { return false }
            let all = shared.refs[stream] ?? []
            // First block whose end is past `from`.
            var lo = 0, hi = all.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if all[mid].endSequence <= from { lo = mid + 1 } else { hi = mid }
            }
            var i = lo
            while i < all.count && all[i].firstSequence < to { refs.append(all[i]); i += 1 }
            for u in shared.unwritten[stream] ?? [] where u.firstSequence < to && u.firstSequence + UInt64(u.batch.count) > from {
                memory.append(u.batch)
            }
            return true
        }
        var open: Batch?
        var isOpen = true
        if let writer {
            // Buffer lock, then the shared lock: the order enqueue takes them in.
            switch stream.kind {
            case .trackPoint:
                if let b = writer.existingTrackBuffer(TrackID(rawValue: stream.id)) {
                    b.lock.withLock {
                        isOpen = shared.lock.withLock(collect)
                        if b.count > 0 && b.firstIndex < to { open = .points(b.snapshot()) }
                    }
                } else {
                    isOpen = shared.lock.withLock(collect)  // nothing appended here: nothing open
                }
            case .log: open = snapshot(writer.logs, to: to, collect, &isOpen)
            case .parameters: open = snapshot(writer.parameters, to: to, collect, &isOpen)
            case .sessionMetadata: open = snapshot(writer.sessionMetadata, to: to, collect, &isOpen)
            case .trackMetadata: open = snapshot(writer.trackMetadata, to: to, collect, &isOpen)
            case .file: open = snapshot(writer.files, to: to, collect, &isOpen)
            }
        } else {
            isOpen = shared.lock.withLock(collect)
        }
        guard isOpen else { throw StoreError(.notWritable, "the store at \(directory) is closed") }
        if let open { memory.append(open) }
        return (refs, memory)
    }

    private func snapshot(_ b: some OpenRecords, to: UInt64, _ collect: () -> Bool, _ isOpen: inout Bool) -> Batch? {
        b.lock.withLock {
            isOpen = shared.lock.withLock(collect)
            return b.count > 0 && b.firstSequence < to ? b.snapshot() : nil
        }
    }

    /// How many records `stream` holds (one past the last sequence), counting
    /// unwritten appends in the writer's process.
    public func count(of stream: StreamKey) -> UInt64 {
        if let writer {
            switch stream.kind {
            case .trackPoint:
                guard let b = writer.existingTrackBuffer(TrackID(rawValue: stream.id)) else {
                    return shared.lock.withLock { shared.writtenEnd(stream) }
                }
                return b.lock.withLock { b.nextIndex }
            case .log: return writer.logs.lock.withLock { writer.logs.nextSequence }
            case .parameters: return writer.parameters.lock.withLock { writer.parameters.nextSequence }
            case .sessionMetadata: return writer.sessionMetadata.lock.withLock { writer.sessionMetadata.nextSequence }
            case .trackMetadata: return writer.trackMetadata.lock.withLock { writer.trackMetadata.nextSequence }
            case .file: return writer.files.lock.withLock { writer.files.nextSequence }
            }
        }
        return shared.lock.withLock { shared.writtenEnd(stream) }
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
            case .encodedLogs(let e):
                // The writer encoded these itself; failing to decode them is a bug, reported as such.
                do throws(DecodeError) { return try e.decode() } catch {
                    throw StoreError(.writerFailed, "the writer's unwritten log entries from \(e.firstSequence) do not decode (\(error.reason)): a bug in Dreamlake, please report it")
                }
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

/// One result per index, filled from several threads (each index by one thread only).
private final class ResultSlots: @unchecked Sendable {
    private var slots: [Result<Batch, StoreError>?]
    private let lock = Lock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ r: Result<Batch, StoreError>) { lock.withLock { slots[i] = r } }

    func values() throws(StoreError) -> [Batch] {
        var out: [Batch] = []
        out.reserveCapacity(slots.count)
        for slot in lock.withLock({ slots }) {
            switch slot {
            case .success(let b)?: out.append(b)
            case .failure(let e)?: throw e
            case nil: throw StoreError(.io, "a block read did not finish")
            }
        }
        return out
    }
}
