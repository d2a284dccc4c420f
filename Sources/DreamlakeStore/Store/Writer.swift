import Synchronization

// The writing side of a store: the open blocks of every stream, the queue of
// sealed blocks, and the background thread that encodes, compresses, writes
// and fsyncs them. Appends only touch their stream's buffer; the background
// thread owns the segment file.

final class Writer: @unchecked Sendable {
    struct Pending {
        var ticket: UInt64
        var stream: StreamKey
        var batch: Batch
        var rawBytes: Int
    }

    /// What every append reads, kept outside the object so that a
    /// ``TrackHandle`` reaches it through a plain pointer (no reference counting).
    struct Flags: ~Copyable {
        /// 0: open; 1: closed; 2: failed.
        let state = Atomic<UInt8>(0)
        /// Bytes a track's open block may hold: maxBlockBytes, shrunk as tracks multiply.
        let trackBlockBytes: Atomic<Int>
    }

    let flags: UnsafeMutablePointer<Flags>

    let configuration: StoreConfiguration
    let shared: SharedState
    let directory: String
    let segmentDirectory: String
    /// This writer's slot: its segments' names and its blocks' writer in the commit log.
    let writerID: UInt32
    let commitLog: CommitLog
    private let lockFile: File

    // Queue state, guarded by `queueLock`.
    private let queueLock = Lock()
    private let cond: Condition
    private var queue: [Pending] = []
    private var pendingBytes = 0
    /// The raw bytes of every block handed to the writer since the store opened (under `queueLock`).
    private var handedBytes: UInt64 = 0
    private var lastTicket: UInt64 = 0
    private var writtenTicket: UInt64 = 0
    private var durableTicket: UInt64 = 0
    private var syncRequested = false
    /// Segment roll-overs asked for (``sealSegment()``), and done, by the background thread.
    private var rollsRequested: UInt64 = 0
    private var rollsDone: UInt64 = 0
    private var closing = false
    /// The background thread has ended (closed): nothing queued after this is done.
    private var ended = false
    private var failure: StoreError?
    private var durableRecords: UInt64
    /// Per stream, one past the last record known durable (guarded by `queueLock`).
    private var durableEnds: [StreamKey: UInt64] = [:]
    private var thread: OSThread?
    /// When reads last looked at the commit log (``lookAtLog()``), in monotonic nanoseconds.
    private let lastLook = Atomic<UInt64>(0)
    /// How often reads look at the commit log at most: 1 ms.
    static let lookInterval: UInt64 = 1_000_000

    // Segment state, owned by the background thread once it runs.
    private var segmentFile: File
    private var segmentNumber: UInt64
    private var segmentEnd: UInt64
    private var segmentBlocks: [BlockRef]
    /// Summaries of the blocks of points this writer put in the active segment, for its summary file.
    private var segmentSummaries: [(offset: UInt64, track: UInt32, summary: BlockSummary)] = []
    private var writtenRecords: UInt64
    /// Per stream, one past the last record written (owned by the background thread).
    private var writtenEnds: [StreamKey: UInt64] = [:]
    private var encoderStates: [StreamKey: BlockPayload.EncoderState] = [:]
    /// Buffers of the background thread, kept from batch to batch.
    private var encodedScratch: [Encoded] = []
    private var refsScratch: [BlockRef] = []
    private var writeScratch = ByteWriter()

    // Buffers.
    private let registryLock = Lock()
    private var trackBuffers: [TrackID: TrackBuffer] = [:]
    let logs: LogBuffer
    let parameters: RecordBuffer<ObjectRecord>
    let sessionMetadata: RecordBuffer<ObjectRecord>
    let trackMetadata: RecordBuffer<TrackMetadata>
    let files: RecordBuffer<FileRecord>

    struct ActiveSegment {
        var file: File
        var number: UInt64
        var end: UInt64
        var blocks: [BlockRef]
        /// The summaries of its blocks of points that are known (from the summary file its last writer
        /// left, when that file fits the segment's kept length), by block offset.
        var summaries: [(offset: UInt64, track: UInt32, summary: BlockSummary)] = []
        /// Its header is an older format version's: the store seals it before its first append.
        var olderVersion = false
    }

    /// - Parameter ownCounts: How many records of each stream this writer id committed before:
    ///   where the sequences it hands out (its own order) continue.
    init(directory: String, configuration: StoreConfiguration, shared: SharedState, writerID: UInt32, lockFile: File,
         commitLog: CommitLog, active: ActiveSegment, recordsOnDisk: UInt64, ownCounts: [StreamKey: UInt64]) {
        self.directory = directory
        self.writerID = writerID
        self.commitLog = commitLog
        self.segmentDirectory = directory + "/" + StoreFiles.segmentDirectory
        self.configuration = configuration
        self.shared = shared
        self.lockFile = lockFile
        self.cond = Condition(lock: queueLock)
        self.segmentFile = active.file
        self.segmentNumber = active.number
        self.segmentEnd = active.end
        self.segmentBlocks = active.blocks
        self.segmentSummaries = active.summaries
        self.durableRecords = recordsOnDisk
        self.writtenRecords = recordsOnDisk
        // What recovery found on disk is durable: the active segment is fsync'd on opening.
        self.durableEnds = Dictionary(uniqueKeysWithValues: shared.refs.keys.map { ($0, shared.writtenEnd($0)) })
        let end = { (s: StreamKey) in ownCounts[s] ?? 0 }
        logs = LogBuffer(nextSequence: end(.logs))
        parameters = RecordBuffer(stream: .parameters, nextSequence: end(.parameters)) { .objects(.parameters, $0) }
        sessionMetadata = RecordBuffer(stream: .sessionMetadata, nextSequence: end(.sessionMetadata)) { .objects(.sessionMetadata, $0) }
        trackMetadata = RecordBuffer(stream: .trackMetadata, nextSequence: end(.trackMetadata)) { .trackMetadata($0) }
        files = RecordBuffer(stream: .files, nextSequence: end(.files)) { .files($0) }
        flags = .allocate(capacity: 1)
        flags.initialize(to: Flags(trackBlockBytes: Atomic(configuration.maxBlockBytes)))
    }

    deinit {
        flags.deinitialize(count: 1)
        flags.deallocate()
    }

    func start() throws(StoreError) {
        guard let t = OSThread.start({ [self] in self.run() }) else {
            throw StoreError(.io, "could not start the background writer thread; the process may be out of threads or memory")
        }
        thread = t
    }

    // MARK: Buffers

    func trackBuffer(_ id: TrackID) -> TrackBuffer {
        registryLock.withLock {
            if let b = trackBuffers[id] { return b }
            // Indexes this writer hands out are its own order: they go on from what this writer id committed.
            let b = TrackBuffer(track: id, nextIndex: commitLog.lock.withLock { commitLog.count(writer: writerID, stream: .track(id)) },
                                capacity: configuration.maxRecordsPerBlock)
            trackBuffers[id] = b
            let perTrack = configuration.maxOpenBytes / max(1, trackBuffers.count)
            flags.pointee.trackBlockBytes.store(max(4096, min(configuration.maxBlockBytes, perTrack)), ordering: .relaxed)
            return b
        }
    }

    /// The open block of a track that has been appended to in this process,
    /// or nil: reads look, and never make one (making one re-divides the
    /// memory budget over the tracks, which would change the blocks written).
    func existingTrackBuffer(_ id: TrackID) -> TrackBuffer? {
        registryLock.withLock { trackBuffers[id] }
    }

    private func allBuffers() -> [TrackBuffer] { registryLock.withLock { Array(trackBuffers.values) } }

    // MARK: State checks

    @inline(__always) func checkWritable() throws(StoreError) {
        let s = flags.pointee.state.load(ordering: .relaxed)
        if s != 0 { throw stateError(s) }
    }

    func stateError(_ s: UInt8) -> StoreError {
        if s == 2, let f = queueLock.withLock({ failure }) { return f }
        return StoreError(.notWritable, "the store at \(directory) is closed; open it again to write")
    }

    // MARK: Sealing and the queue

    /// Seals a track's open block. The caller holds `buffer.lock`.
    func sealLocked(_ buffer: TrackBuffer, waitForRoom: Bool = true) throws(StoreError) -> UInt64 {
        guard buffer.count > 0 else { return 0 }
        let (block, bytes) = buffer.seal(reserve: min(configuration.maxRecordsPerBlock, 1024))
        return try enqueue(.track(buffer.track), batch: .points(block), rawBytes: bytes, waitForRoom: waitForRoom)
    }

    /// Seals another stream's open block. The caller holds `buffer.lock`.
    func sealLocked(_ buffer: some OpenRecords, waitForRoom: Bool = true) throws(StoreError) -> UInt64 {
        guard buffer.count > 0 else { return 0 }
        let (batch, bytes) = buffer.seal()
        return try enqueue(buffer.stream, batch: batch, rawBytes: bytes, waitForRoom: waitForRoom)
    }

    /// Hands a sealed block to the background thread, waiting while too much
    /// is pending (except when the background thread itself seals: it would
    /// wait for itself). Called with the stream's buffer lock held, which
    /// keeps each stream's blocks in order.
    private func enqueue(_ stream: StreamKey, batch: Batch, rawBytes: Int, waitForRoom: Bool) throws(StoreError) -> UInt64 {
        // Readers in this process see it from here until it is committed (the stream's buffer lock, held, keeps the order).
        shared.lock.withLock { shared.sealed[stream, default: []].append(batch) }
        queueLock.lock()
        defer { queueLock.unlock() }
        while waitForRoom && pendingBytes > configuration.maxPendingBytes && failure == nil && !closing {
            cond.wait()
        }
        if let failure { throw failure }
        lastTicket += 1
        queue.append(Pending(ticket: lastTicket, stream: stream, batch: batch, rawBytes: rawBytes))
        pendingBytes += rawBytes
        handedBytes &+= UInt64(rawBytes)
        cond.broadcast()
        return lastTicket
    }

    /// Seals every open block. The background thread passes `waiting: false`:
    /// an appender may hold a buffer's lock while it waits for the background
    /// thread to make room, so that thread skips busy buffers instead of
    /// waiting for them (they are sealed at the next tick, or fill up first).
    func sealAll(waiting: Bool = true) throws(StoreError) {
        for b in allBuffers() {
            if waiting { b.lock.lock() } else if !b.lock.tryLock() { continue }
            defer { b.lock.unlock() }
            _ = try sealLocked(b, waitForRoom: waiting)
        }
        try sealRecords(logs, waiting)
        try sealRecords(parameters, waiting)
        try sealRecords(sessionMetadata, waiting)
        try sealRecords(trackMetadata, waiting)
        try sealRecords(files, waiting)
    }

    private func sealRecords(_ b: some OpenRecords, _ waiting: Bool) throws(StoreError) {
        if waiting { b.lock.lock() } else if !b.lock.tryLock() { return }
        defer { b.lock.unlock() }
        _ = try sealLocked(b, waitForRoom: waiting)
    }

    /// What an append does once it released its buffer's lock: when it sealed a block (`ticket` above
    /// 0), the configuration's `afterAppendSealed` may hold it there (no lock is held, so the writer's
    /// thread, flushes and reads go on); with durability `always`, it waits for the fsync.
    @inline(__always) func afterAppend(_ ticket: UInt64, always: Bool) throws(StoreError) {
        if ticket > 0, let hook = configuration.afterAppendSealed { hook(queueLock.withLock { handedBytes }) }
        if always { try waitDurable(ticket) }
    }

    /// Waits until the block with `ticket` (and all before it) is fsync'd.
    func waitDurable(_ ticket: UInt64) throws(StoreError) {
        queueLock.lock()
        defer { queueLock.unlock() }
        if durableTicket >= ticket { return }
        syncRequested = true
        cond.broadcast()
        while durableTicket < ticket && failure == nil { cond.wait() }
        if durableTicket < ticket, let failure { throw failure }
    }

    /// Stops the writer after a failed write outside the background thread:
    /// it takes no more appends and reports `error`. Returns the error to throw.
    func fail(_ error: StoreError) -> StoreError {
        queueLock.withLock {
            if failure == nil {
                failure = error
                flags.pointee.state.store(2, ordering: .releasing)
            }
            cond.broadcast()
        }
        return error
    }

    /// Commits what this process appended to `stream` (without waiting for
    /// an fsync), so that a read of the stream sees it, at the place every
    /// other reader sees it. A closed or failed writer commits nothing more.
    func settle(_ stream: StreamKey) throws(StoreError) {
        guard flags.pointee.state.load(ordering: .relaxed) == 0 else { return }
        switch stream.kind {
        case .trackPoint:
            if let b = existingTrackBuffer(TrackID(rawValue: stream.id)) {
                b.lock.lock()
                defer { b.lock.unlock() }
                _ = try sealLocked(b)
            }
        case .log: try sealRecords(logs, true)
        case .parameters: try sealRecords(parameters, true)
        case .sessionMetadata: try sealRecords(sessionMetadata, true)
        case .trackMetadata: try sealRecords(trackMetadata, true)
        case .file: try sealRecords(files, true)
        }
        queueLock.lock()
        defer { queueLock.unlock() }
        let target = lastTicket
        while writtenTicket < target && failure == nil { cond.wait() }
        if writtenTicket < target, let failure { throw failure }
    }

    // MARK: What this process appended and has not committed

    /// Reads what other writers committed since this writer last looked,
    /// when the log has grown (one `fstat` when it has not), so that a read
    /// knows whether another writer has committed to its stream. It looks at
    /// most once a millisecond: the `fstat` was half of a `stats()` call,
    /// which a training loop may make every step. Damage found here is left
    /// for the next commit to report (it fails the writer).
    private func lookAtLog() {
        let now = WallClock.monotonicNanos()
        guard now &- lastLook.load(ordering: .relaxed) >= Writer.lookInterval else { return }
        lastLook.store(now, ordering: .relaxed)
        let log = commitLog
        let news = try? log.lock.withLock { () throws(StoreError) -> CommitLog.News? in
            guard log.hasNews() else { return nil }
            return try log.catchUp(cut: false, salvage: false)
        }
        guard let news else { return }
        let metadata = Store.absorb(news, into: shared).filter { $0.segment.writer != writerID }
        Store.applyTrackMetadata(metadata, shared: shared)
    }

    /// Calls `body` holding the lock of `stream`'s open block, with the sequence its next record gets
    /// and a snapshot of its records (nil when it has none); for a track not appended to in this
    /// process, with 0 and none.
    private func withOpenBlock<T>(_ stream: StreamKey, _ body: (_ next: UInt64, _ snapshot: () -> Batch?) -> T) -> T {
        func open(_ b: some OpenRecords) -> T {
            b.lock.withLock { body(b.nextSequence, { b.count > 0 ? b.snapshot() : nil }) }
        }
        switch stream.kind {
        case .trackPoint:
            guard let b = existingTrackBuffer(TrackID(rawValue: stream.id)) else { return body(0, { nil }) }
            return b.lock.withLock { body(b.nextIndex, { b.count > 0 ? .points(b.snapshot()) : nil }) }
        case .log: return open(logs)
        case .parameters: return open(parameters)
        case .sessionMetadata: return open(sessionMetadata)
        case .trackMetadata: return open(trackMetadata)
        case .file: return open(files)
        }
    }

    /// How many records `stream` holds counting what this process appended
    /// and has not committed; nil when that has no place yet (see ``uncommitted(_:)``).
    func appendedEnd(_ stream: StreamKey) -> UInt64? {
        guard flags.pointee.state.load(ordering: .relaxed) != 2 else { return nil }
        lookAtLog()
        return withOpenBlock(stream) { next, _ in
            shared.lock.withLock {
                guard !shared.closed, !shared.sharedStreams.contains(stream) else { return nil }
                return max(next, shared.writtenEnd(stream))
            }
        }
    }

    /// The committed blocks of `stream` and, after them, what this process
    /// appended to it and has not committed (blocks sealed for the background
    /// thread, then the open block), taken at one instant, so that a read in
    /// this process sees its appends without sealing a block for them.
    ///
    /// Nil when the stream holds blocks another writer committed (there this
    /// writer's records get their place when they are committed: a read
    /// commits them first), when the writer failed (what it had not
    /// committed never will be), and when the store is closed.
    func uncommitted(_ stream: StreamKey) -> (refs: [BlockRef], head: [Batch])? {
        guard flags.pointee.state.load(ordering: .relaxed) != 2 else { return nil }
        lookAtLog()
        return withOpenBlock(stream) { _, snapshot in
            let open = snapshot()
            // The stream's buffer lock is held: nothing of it is sealed meanwhile, and what the background
            // thread commits leaves `sealed` for `refs` under the lock taken here.
            return shared.lock.withLock {
                guard !shared.closed, !shared.sharedStreams.contains(stream) else { return nil }
                var head = shared.sealed[stream] ?? []
                if let open { head.append(open) }
                return (shared.refs[stream] ?? [], head)
            }
        }
    }

    /// For a track, as ``uncommitted(_:)``: its committed blocks, and the
    /// timestamps of the first and the last point this process appended and
    /// has not committed (nil when there is none), without copying the open block.
    func uncommittedTimestamps(_ track: TrackID) -> (refs: [BlockRef], first: Int64?, last: Int64?)? {
        let stream = StreamKey.track(track)
        func take(_ openFirst: Int64?, _ openLast: Int64?) -> (refs: [BlockRef], first: Int64?, last: Int64?)? {
            shared.lock.withLock {
                guard !shared.closed, !shared.sharedStreams.contains(stream) else { return nil }
                let sealed = shared.sealed[stream] ?? []
                func timestamps(_ batch: Batch?) -> [Int64]? { if case .points(let p)? = batch { p.timestamps } else { nil } }
                return (shared.refs[stream] ?? [], timestamps(sealed.first)?.first ?? openFirst, openLast ?? timestamps(sealed.last)?.last)
            }
        }
        guard flags.pointee.state.load(ordering: .relaxed) != 2 else { return nil }
        lookAtLog()
        guard let b = existingTrackBuffer(track) else { return take(nil, nil) }
        return b.lock.withLock { take(b.firstTimestamp, b.lastTimestamp) }
    }

    /// One past the last record of `stream` known to be on disk and fsync'd in
    /// this opening; nil when none was made durable yet in it.
    func durableEnd(_ stream: StreamKey) -> UInt64? {
        queueLock.withLock { durableEnds[stream] }
    }

    /// Makes everything appended so far durable; returns how many records the store durably holds.
    func flush() throws(StoreError) -> UInt64 {
        try checkWritable()
        try sealAll()
        let target = queueLock.withLock { lastTicket }
        try waitDurable(target)
        return queueLock.withLock { durableRecords }
    }

    /// Makes everything appended so far durable in a sealed segment (with its
    /// index and summaries), so that it is in files that never change again,
    /// and starts the next segment. Does nothing to an active segment without blocks.
    func sealSegment() throws(StoreError) {
        try checkWritable()
        try sealAll()
        queueLock.lock()
        defer { queueLock.unlock() }
        rollsRequested += 1
        let wanted = rollsRequested
        syncRequested = true
        cond.broadcast()
        // Everything sealed above is in the queue now: the background thread's next turn writes it, then rolls.
        while rollsDone < wanted && failure == nil && !ended { cond.wait() }
        if rollsDone < wanted {
            throw failure ?? StoreError(.notWritable, "the store at \(directory) was closed while its segment was being sealed")
        }
    }

    /// Seals, writes and fsyncs everything, stops the thread and releases the lock.
    func close() throws(StoreError) {
        let old = flags.pointee.state.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing)
        var firstError: StoreError?
        if old.exchanged || old.original == 2 {
            if old.exchanged {
                do { try sealAll() } catch { firstError = error }
            }
            queueLock.withLock {
                closing = true
                syncRequested = true
                cond.broadcast()
            }
            thread?.join()
            thread = nil
            if firstError == nil, let f = queueLock.withLock({ failure }) { firstError = f }
            if firstError == nil {
                // The active segment's summaries too, so that a finished run's charts need no decoding; the
                // segment's length in the file makes it stale (ignored, and deleted by the next writer) once it grows.
                do { try writeSummaryFile() } catch { firstError = StoreError(error, "the summary file was not written; the data is safe") }
            }
            do { try Store.releaseSlot(lockFile) } catch { if firstError == nil { firstError = StoreError(error) } }
        }
        if let firstError { throw firstError }
    }

    // MARK: The background thread

    private func run() {
        var lastSync = WallClock.monotonicNanos()
        let intervalNanos: UInt64? = {
            if case .interval(let ms) = configuration.durability { return UInt64(max(1, ms)) * 1_000_000 }
            return nil
        }()
        var dirty = false  // written since the last fsync
        var rolled: UInt64 = 0  // the roll-over requests done
        queueLock.lock()
        while true {
            while queue.isEmpty && !syncRequested && !closing && rollsRequested == rolled {
                if let intervalNanos {
                    let deadline = lastSync + intervalNanos
                    if WallClock.monotonicNanos() >= deadline { break }
                    cond.wait(untilMonotonicNanos: deadline)
                } else {
                    cond.wait()
                }
            }
            var timerDue = false
            if let intervalNanos, WallClock.monotonicNanos() >= lastSync + intervalNanos {
                timerDue = true
                // Seal partial blocks so the interval's promise holds for slow streams too.
                if !closing && failure == nil {
                    queueLock.unlock()
                    try? sealAll(waiting: false)
                    queueLock.lock()
                }
            }
            let items = queue
            queue = []
            let wantSync = syncRequested || closing || timerDue || configuration.durability == .always
            syncRequested = false
            let wantRoll = rollsRequested
            let failed = failure != nil
            queueLock.unlock()

            var error: StoreError?
            var written: UInt64 = 0
            if !failed {
                do {
                    if !items.isEmpty {
                        dirty = true
                        try writeAll(items, written: &written)
                    }
                    if wantSync && dirty {
                        try sync()
                        dirty = false
                    }
                    if wantRoll > rolled {
                        if segmentEnd > UInt64(FormatConstants.segmentHeaderSize) { try rollOver() }
                        rolled = wantRoll
                    }
                } catch let e {
                    error = e
                }
            }
            if wantSync { lastSync = WallClock.monotonicNanos() }

            queueLock.lock()
            if written > 0 { writtenTicket = written }
            if error == nil { rollsDone = rolled }
            if let error, failure == nil {
                failure = error
                flags.pointee.state.store(2, ordering: .releasing)
            }
            if failure == nil && !dirty {
                durableTicket = writtenTicket
                durableRecords = writtenRecords
                for (stream, end) in writtenEnds { durableEnds[stream] = end }
                writtenEnds.removeAll(keepingCapacity: true)
            }
            for item in items { pendingBytes -= item.rawBytes }
            cond.broadcast()
            if closing && queue.isEmpty { break }
        }
        ended = true
        cond.broadcast()
        queueLock.unlock()
    }

    /// A block encoded and compressed, waiting for its place in the commit log.
    private struct Encoded {
        var item: Pending
        var codec: BlockCodec
        var stored: [UInt8]
        var uncompressedLength: Int
        var size: UInt64 { UInt64(FormatConstants.blockHeaderSize + stored.count) }
    }

    /// Writes queued blocks and commits them: encoding and compression first,
    /// outside every lock; then, for each run of blocks that fits the active
    /// segment, one flock on the commit log, in which the blocks get their
    /// first sequences, are written in one write, and are committed in one.
    private func writeAll(_ items: [Pending], written: inout UInt64) throws(StoreError) {
        var encoded = encodedScratch
        encodedScratch = []
        defer {
            encoded.removeAll(keepingCapacity: true)
            encodedScratch = encoded
        }
        for item in items {
            let state: BlockPayload.EncoderState
            if let s = encoderStates[item.stream] {
                state = s
            } else {
                state = BlockPayload.EncoderState()
                encoderStates[item.stream] = state
            }
            let payload = BlockPayload.encode(item.batch, state: state)
            guard payload.count <= FormatConstants.maxBlockPayload else {
                throw StoreError(.invalidArgument, "a block of \(item.stream) encodes to \(payload.count) bytes, over the \(FormatConstants.maxBlockPayload)-byte limit")
            }
            if LZ4.isWorthTrying(payload), let compressed = LZ4.compress(payload) {
                encoded.append(Encoded(item: item, codec: .lz4, stored: compressed, uncompressedLength: payload.count))
            } else {
                encoded.append(Encoded(item: item, codec: .none, stored: payload, uncompressedLength: payload.count))
            }
        }
        var i = 0
        while i < encoded.count {
            let limit = UInt64(configuration.segmentSize)
            if segmentEnd + encoded[i].size > limit && segmentEnd > UInt64(FormatConstants.segmentHeaderSize) {
                try rollOver()
            }
            var j = i + 1
            var end = segmentEnd + encoded[i].size
            while j < encoded.count && end + encoded[j].size <= limit {
                end += encoded[j].size
                j += 1
            }
            try commit(encoded[i..<j])
            written = encoded[j - 1].item.ticket
            i = j
        }
    }

    /// Places, writes and commits blocks that fit the active segment. Its
    /// buffers are kept from commit to commit: the background thread's
    /// allocations stay off the per-block bill.
    private func commit(_ run: ArraySlice<Encoded>) throws(StoreError) {
        let log = commitLog
        var refs = refsScratch
        var w = writeScratch
        refsScratch = []
        writeScratch = ByteWriter()
        defer {
            refs.removeAll(keepingCapacity: true)
            refsScratch = refs
            w.bytes.removeAll(keepingCapacity: true)
            writeScratch = w
        }
        let others = try log.withFlock { () throws(StoreError) -> [BlockRef] in
            // What other writers committed since the last look comes first.
            let news = try log.catchUp(cut: true, salvage: false)
            let others = Store.absorb(news, into: shared)
            var offset = segmentEnd
            for e in run {
                let stream = e.item.stream
                // The stream's end: after this run's last block of it, else what the log says.
                let first = refs.last(where: { $0.stream == stream })?.endSequence ?? log.end(of: stream)
                let count = e.item.batch.count
                BlockHeader(storedLength: UInt32(e.stored.count), payloadChecksum: CRC32C.checksum(e.stored), codec: e.codec,
                            stream: stream, uncompressedLength: UInt32(e.uncompressedLength), recordCount: UInt32(count),
                            firstSequence: first, lastSequence: first + UInt64(count) - 1).encode(into: &w)
                w.raw(e.stored)
                refs.append(BlockRef(segment: SegmentID(writer: writerID, number: segmentNumber), offset: offset, length: UInt32(e.size),
                                     stream: stream, count: UInt32(count), firstSequence: first))
                offset += e.size
            }
            do throws(IOFailure) { try segmentFile.write(w.bytes, at: segmentEnd) } catch {
                throw StoreError(error, "the block was not written; free space or fix the disk, then open the store again")
            }
            // The blocks are durable before any record names them: another writer's fsync of the log may make
            // these records durable at any moment, and the kernel may write the log's pages back before the
            // segment's. So after a power loss every record in the log names a block that is there, and one
            // that does not is damage, never a torn tail (FORMAT.md, "Commit log").
            do throws(IOFailure) { try segmentFile.syncData() } catch {
                throw StoreError(error, "the block was not made durable, so it was not committed; fix the disk, then open the store again")
            }
            // The blocks count from here: a crash before this leaves them uncommitted, cut by the next writer of this slot.
            do throws(IOFailure) { try log.append(refs) } catch {
                throw StoreError(error, "the commit log was not written; free space or fix the disk, then open the store again")
            }
            shared.lock.withLock { shared.publish(refs) }
            return others
        }
        for (e, ref) in zip(run, refs) {
            segmentBlocks.append(ref)
            if case .points(let block) = e.item.batch {
                // Summarized here, off the append path, while the block is at hand.
                let summary = BlockSummary(block).moved(to: ref.firstSequence)
                segmentSummaries.append((ref.offset, ref.stream.id, summary))
                shared.summaries.insert(ref, summary)
            }
            writtenRecords += UInt64(ref.count)
            writtenEnds[ref.stream] = ref.endSequence
        }
        segmentEnd = refs.last.map { $0.offset + UInt64($0.length) } ?? segmentEnd
        // Other writers' track metadata: names came with the log, fields come from their blocks.
        Store.applyTrackMetadata(others, shared: shared)
    }

    private func sync() throws(StoreError) {
        // The blocks first, then the records that commit them.
        do {
            try segmentFile.sync()
            try commitLog.sync()
        } catch {
            throw StoreError(error, "fsync failed, so nothing since the last flush is known to be durable; the writer takes no more appends")
        }
    }

    /// Writes the summary file of the active segment as it is now, when it has blocks of points.
    private func writeSummaryFile() throws(IOFailure) {
        guard !segmentSummaries.isEmpty else { return }
        let bytes = SegmentSummary.encode(writer: writerID, segment: segmentNumber, segmentLength: segmentEnd,
                                          blocks: segmentSummaries.map { ($0.offset, $0.track, $0.summary.moved(to: 0)) })
        try FileSystem.replaceAtomically(segmentDirectory + "/" + StoreFiles.summaryName(writer: writerID, segment: segmentNumber),
                                         with: bytes)
    }

    /// Seals the active segment (fsync, index, summaries) and starts the next one.
    private func rollOver() throws(StoreError) {
        do {
            // A sealed segment is durable whole, its blocks and the records that commit them.
            try segmentFile.sync()
            try commitLog.sync()
            let index = SegmentIndex.encode(writer: writerID, segment: segmentNumber, segmentLength: segmentEnd, blocks: segmentBlocks)
            try FileSystem.replaceAtomically(segmentDirectory + "/" + StoreFiles.indexName(writer: writerID, segment: segmentNumber), with: index)
            try writeSummaryFile()
            shared.summaries.forget(segment: SegmentID(writer: writerID, number: segmentNumber))  // read back from the file when an envelope needs them
            let next = segmentNumber + 1
            let file = try Store.createSegment(directory: segmentDirectory, writer: writerID, segment: next)
            shared.lock.withLock { shared.files[SegmentID(writer: writerID, number: next)] = file }
            segmentFile = file
            segmentNumber = next
            segmentEnd = UInt64(FormatConstants.segmentHeaderSize)
            segmentBlocks = []
            segmentSummaries = []
        } catch {
            throw StoreError(error, "starting a new segment failed; free space or fix the disk, then open the store again")
        }
    }
}
