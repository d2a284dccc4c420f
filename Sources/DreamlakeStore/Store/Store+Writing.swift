import Glibc
import OrderedCollections

// Appending records. Each stream appends into its own open block under its
// own lock; full blocks go to the background writer.

extension Store {
    @inline(__always)
    func requireWriter() throws(StoreError) -> Writer {
        guard let writer else { throw StoreError(.notWritable, "the store at \(directory) is open for reading only; open it with access: .write to append") }
        try writer.checkWritable()
        return writer
    }

    /// Records larger than this are refused: a block must stay well under the format's payload limit.
    static let maxRecordBytes = 4 << 20

    static func checkSize(_ bytes: Int, _ what: String) throws(StoreError) {
        guard bytes <= maxRecordBytes else {
            throw StoreError(.invalidArgument, "\(what) is about \(bytes) bytes, over the \(maxRecordBytes)-byte limit for one record; store large data as a file")
        }
    }

    /// Throws what ``appendLog(_:level:metadata:timestamp:)`` throws for an
    /// entry over the record limit, writing nothing: for a caller that checks
    /// a whole batch before it writes any of it (the server's log requests).
    package static func checkLogEntry(_ message: String, metadata: ValueObject?) throws(StoreError) {
        try checkSize(message.utf8.count, "the log message")
        var w = ByteWriter()
        w.u8(0)
        w.string(message)
        if let metadata {
            w.u8(ValueTag.object.rawValue)
            ValueCodec.encodeObject(metadata, into: &w)
        } else {
            w.u8(ValueTag.null.rawValue)
        }
        try checkSize(w.count, "the log entry")
    }

    /// Appends a record to one of the non-track streams and returns its sequence number.
    private func appendRecord<R>(_ buffer: RecordBuffer<R>, size: Int, _ make: (UInt64) -> R) throws(StoreError) -> UInt64 {
        let writer = try requireWriter()
        buffer.lock.lock()
        let sequence = buffer.nextSequence
        buffer.records.append(make(sequence))
        buffer.nextSequence += 1
        buffer.rawBytes += size
        try finishAppend(buffer, rawBytes: buffer.rawBytes, writer)
        return sequence
    }

    /// Seals `buffer`'s block (which the caller has locked) when it is full or
    /// the durability policy says so, unlocks it, and waits for an fsync where
    /// the policy says so.
    @inline(__always)
    private func finishAppend(_ buffer: some OpenRecords, rawBytes: Int, _ writer: Writer) throws(StoreError) {
        var ticket: UInt64 = 0
        if buffer.count >= configuration.maxRecordsPerBlock || rawBytes >= configuration.maxBlockBytes
            || configuration.durability == .always {
            do { ticket = try writer.sealLocked(buffer) } catch {
                buffer.lock.unlock()
                throw error
            }
        }
        buffer.lock.unlock()
        try writer.afterAppend(ticket, always: configuration.durability == .always)
    }

    /// Appends a log entry.
    ///
    /// - Parameters:
    ///   - message: The text.
    ///   - level: Its level. The default is `.info`.
    ///   - metadata: Fields to keep with it; nil (the default) for none.
    ///   - timestamp: Microseconds since the Unix epoch; nil (the default) for now.
    /// - Returns: The entry's sequence number.
    @discardableResult
    public func appendLog(_ message: String, level: LogLevel = .info, metadata: ValueObject? = nil,
                          timestamp: Int64? = nil) throws(StoreError) -> UInt64 {
        try appendLog(message, level: level, timestamp: timestamp) { w in
            if let metadata {
                w.u8(ValueTag.object.rawValue)
                ValueCodec.encodeObject(metadata, into: &w)
            } else {
                w.u8(ValueTag.null.rawValue)
            }
        }
    }

    /// Appends a log entry whose metadata is given as literal pairs, without
    /// building a dictionary first (the common form: `["epoch": 3, "loss": 0.25]`).
    /// A key given twice keeps its first place and its last value, as a dictionary would.
    ///
    /// - Parameters:
    ///   - message: The text.
    ///   - level: Its level.
    ///   - metadata: Fields to keep with it, in order (an empty list is kept as empty metadata, not none).
    ///   - timestamp: Microseconds since the Unix epoch; nil (the default) for now.
    /// - Returns: The entry's sequence number.
    @discardableResult
    public func appendLog(_ message: String, level: LogLevel, metadata: KeyValuePairs<String, any ValueConvertible>,
                          timestamp: Int64? = nil) throws(StoreError) -> UInt64 {
        guard metadata.count <= 8, ValueObject.keysAreUnique(metadata.lazy.map(\.key)) else {
            // Rare: let a dictionary settle repeated keys.
            return try appendLog(message, level: level, metadata: ValueObject(pairs: metadata), timestamp: timestamp)
        }
        return try appendLog(message, level: level, timestamp: timestamp) { w in
            w.u8(ValueTag.object.rawValue)
            w.varint(UInt64(metadata.count))
            for (k, v) in metadata {
                w.string(k)
                ValueCodec.encode(v.dreamlakeValue, into: &w)
            }
        }
    }

    /// Encodes a log entry straight into the open log block (see `LogBuffer`).
    @inline(__always)
    private func appendLog(_ message: String, level: LogLevel, timestamp: Int64?,
                           metadata encode: (inout ByteWriter) -> Void) throws(StoreError) -> UInt64 {
        let writer = try requireWriter()
        try Store.checkSize(message.utf8.count, "the log message")
        let ts = timestamp ?? WallClock.nowMicros()
        let buffer = writer.logs
        buffer.lock.lock()
        let start = buffer.body.count
        buffer.body.u8(level.rawValue)
        buffer.body.string(message)
        encode(&buffer.body)
        let size = buffer.body.count - start
        if size > Store.maxRecordBytes {
            // Refused: nothing of it stays in the block.
            buffer.body.bytes.removeSubrange(start...)
            buffer.lock.unlock()
            try Store.checkSize(size, "the log entry")
        }
        let sequence = buffer.nextSequence
        buffer.timestamps.append(ts)
        buffer.nextSequence += 1
        try finishAppend(buffer, rawBytes: buffer.rawBytes, writer)
        return sequence
    }

    /// Appends a parameter update (the layer above decides how updates combine).
    @discardableResult
    public func appendParameters(_ fields: ValueObject, timestamp: Int64? = nil) throws(StoreError) -> UInt64 {
        let size = RowSize.estimate(fields) + 8
        try Store.checkSize(size, "the parameter update")
        let ts = timestamp ?? WallClock.nowMicros()
        return try appendRecord(try requireWriter().parameters, size: size) { ObjectRecord(sequence: $0, timestamp: ts, fields: fields) }
    }

    /// Appends a session metadata update.
    @discardableResult
    public func appendSessionMetadata(_ fields: ValueObject, timestamp: Int64? = nil) throws(StoreError) -> UInt64 {
        let size = RowSize.estimate(fields) + 8
        try Store.checkSize(size, "the session metadata")
        let ts = timestamp ?? WallClock.nowMicros()
        return try appendRecord(try requireWriter().sessionMetadata, size: size) { ObjectRecord(sequence: $0, timestamp: ts, fields: fields) }
    }

    /// Appends a file record: a file stored or updated (`deleted: false`) or deleted.
    @discardableResult
    public func appendFileRecord(fileID: String, deleted: Bool = false, fields: ValueObject,
                                 timestamp: Int64? = nil) throws(StoreError) -> UInt64 {
        let size = RowSize.estimate(fields) + fileID.utf8.count + 8
        try Store.checkSize(size, "the file record")
        let ts = timestamp ?? WallClock.nowMicros()
        return try appendRecord(try requireWriter().files, size: size) {
            FileRecord(sequence: $0, timestamp: ts, fileID: fileID, deleted: deleted, fields: fields)
        }
    }

    // MARK: Tracks

    /// The track named `name`, defined (with `fields` as its metadata) when it does not exist yet.
    ///
    /// - Parameters:
    ///   - name: The track's name; any non-empty string (the layer above checks names).
    ///   - fields: Metadata for a new track. An existing track's metadata is not changed; use ``updateTrack(_:fields:timestamp:)``.
    /// - Returns: A handle to append through.
    public func track(named name: String, fields: ValueObject = [:], timestamp: Int64? = nil) throws(StoreError) -> TrackHandle {
        let writer = try requireWriter()
        guard !name.isEmpty else { throw StoreError(.invalidArgument, "a track name cannot be empty") }
        let definitionSize = name.utf8.count + RowSize.estimate(fields)
        try Store.checkSize(definitionSize, "the track definition")
        // The trackMetadata buffer's lock orders definitions in this process, the commit log's flock
        // across processes: one id per name.
        let buffer = writer.trackMetadata
        buffer.lock.lock()
        if let id = shared.lock.withLock({ shared.catalog.byName[name] }) {
            buffer.lock.unlock()
            return TrackHandle(id: id, name: name, store: self, writer: writer, buffer: writer.trackBuffer(id))
        }
        let ts = timestamp ?? WallClock.nowMicros()
        let log = writer.commitLog
        let named: Result<(id: TrackID, isNew: Bool, metadata: [BlockRef]), StoreError> = Result { () throws(StoreError) in
            try log.withFlock { () throws(StoreError) -> (id: TrackID, isNew: Bool, metadata: [BlockRef]) in
                // Another writer may have named it since this one last looked.
                let metadata = Store.absorb(try log.catchUp(cut: true, salvage: false), into: shared)
                if let id = shared.lock.withLock({ shared.catalog.byName[name] }) { return (id, false, metadata) }
                guard let next = shared.lock.withLock({ shared.nextTrackID }) else {
                    throw StoreError(.invalidArgument, "the store has used every track id (the highest, \(UInt32.max), is taken); record further tracks in another session",
                                     path: directory)
                }
                let t = TrackName(id: TrackID(rawValue: next), timestamp: ts, name: name)
                do throws(IOFailure) { try log.append(t) } catch {
                    // As for a failed block write: no more appends, and the next writer cuts what was left of the record.
                    throw writer.fail(StoreError(error, "the commit log was not written; free space or fix the disk, then open the store again"))
                }
                shared.lock.withLock { shared.catalog.define(t) }
                return (t.id, true, metadata)
            }
        }
        let id: TrackID
        switch named {
        case .success(let n):
            Store.applyTrackMetadata(n.metadata, shared: shared)
            guard n.isNew else {
                buffer.lock.unlock()
                return TrackHandle(id: n.id, name: name, store: self, writer: writer, buffer: writer.trackBuffer(n.id))
            }
            id = n.id
        case .failure(let e):
            buffer.lock.unlock()
            throw e
        }
        let record = TrackMetadata(sequence: buffer.nextSequence, timestamp: ts, track: id, name: name, fields: fields)
        buffer.records.append(record)
        buffer.nextSequence += 1
        buffer.rawBytes += definitionSize + 8
        shared.lock.withLock { shared.catalog.apply(record) }
        // Sealed at once, so the definition reaches the disk before any of the
        // track's points: recovery never finds points of a track it does not know.
        let ticket: UInt64
        do { ticket = try writer.sealLocked(buffer) } catch {
            buffer.lock.unlock()
            throw error
        }
        buffer.lock.unlock()
        if configuration.durability == .always { try writer.waitDurable(ticket) }
        return TrackHandle(id: id, name: name, store: self, writer: writer, buffer: writer.trackBuffer(id))
    }

    /// The handle of an existing track, or nil.
    public func track(_ id: TrackID) throws(StoreError) -> TrackHandle? {
        let writer = try requireWriter()
        guard let info = shared.lock.withLock({ shared.catalog.byID[id] }) else { return nil }
        return TrackHandle(id: id, name: info.name, store: self, writer: writer, buffer: writer.trackBuffer(id))
    }

    /// Replaces a track's metadata fields.
    public func updateTrack(_ id: TrackID, fields: ValueObject, timestamp: Int64? = nil) throws(StoreError) {
        let writer = try requireWriter()
        guard let info = shared.lock.withLock({ shared.catalog.byID[id] }) else {
            throw StoreError(.notFound, "there is no \(id) in the store at \(directory)")
        }
        let size = RowSize.estimate(fields) + info.name.utf8.count + 8
        try Store.checkSize(size, "the track metadata")
        let ts = timestamp ?? WallClock.nowMicros()
        _ = try appendRecord(writer.trackMetadata, size: size) { seq in
            let r = TrackMetadata(sequence: seq, timestamp: ts, track: id, name: info.name, fields: fields)
            shared.lock.withLock { shared.catalog.apply(r) }
            return r
        }
    }
}

/// Appends points to one track. Safe to use from many threads at once; get
/// one from ``Store/track(named:fields:timestamp:)``.
///
/// (`@unchecked`: its pointers lead to state guarded by the buffer's mutex
/// and to atomics; everything else is immutable.)
public final class TrackHandle: @unchecked Sendable {
    /// The track's id.
    public let id: TrackID
    /// The track's name.
    public let name: String
    let store: Store
    // The store (held above) holds the writer, and the writer holds every
    // track buffer for its whole life: unowned(unsafe) saves the append path
    // a retain and a release of each.
    unowned(unsafe) let writer: Writer
    unowned(unsafe) let buffer: TrackBuffer
    // The fast path's whole world, as plain pointers into memory the writer
    // and the buffer own (alive as long as `store`).
    private let flags: UnsafeMutablePointer<Writer.Flags>
    private let hot: UnsafeMutablePointer<TrackBuffer.Hot>
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let maxRecordsPerBlock: Int
    private let isAlways: Bool

    init(id: TrackID, name: String, store: Store, writer: Writer, buffer: TrackBuffer) {
        self.id = id
        self.name = name
        self.store = store
        self.writer = writer
        self.buffer = buffer
        flags = writer.flags
        hot = buffer.hot
        mutex = buffer.lock.mutex
        maxRecordsPerBlock = store.configuration.maxRecordsPerBlock
        isAlways = store.configuration.durability == .always
    }

    /// The fast path: appends the point `{"value": value, "step": step}`.
    ///
    /// - Parameters:
    ///   - timestamp: Microseconds since the Unix epoch; nil (the default) for now.
    /// - Returns: The point's index.
    @discardableResult
    public func append(value: Double, step: Int64, timestamp: Int64? = nil) throws(StoreError) -> UInt64 {
        if flags.pointee.state.load(ordering: .relaxed) != 0 { try writer.checkWritable() }
        let ts = timestamp ?? WallClock.nowMicros()
        pthread_mutex_lock(mutex)
        guard hot.pointee.appendValueStep(value, step, ts) else {
            // Not (yet) in that shape: the general path decides.
            pthread_mutex_unlock(mutex)
            return try append(["value": .double(value), "step": .int(step)], timestamp: ts)
        }
        let index = hot.pointee.nextIndex &- 1
        if hot.pointee.fastCount >= maxRecordsPerBlock
            || hot.pointee.rawBytes >= flags.pointee.trackBlockBytes.load(ordering: .relaxed) || isAlways {
            return try sealAfterAppend(index)  // unlocks
        }
        pthread_mutex_unlock(mutex)
        return index
    }

    /// The fast path's rare branch: the block is full (or durability is
    /// `always`). Called with the buffer's lock held; releases it.
    @inline(never)
    private func sealAfterAppend(_ index: UInt64) throws(StoreError) -> UInt64 {
        let ticket: UInt64
        do { ticket = try writer.sealLocked(buffer) } catch {
            pthread_mutex_unlock(mutex)
            throw error
        }
        pthread_mutex_unlock(mutex)
        try writer.afterAppend(ticket, always: isAlways)
        return index
    }

    /// Appends a point of any shape; its keys keep their order.
    ///
    /// - Returns: The point's index.
    @discardableResult
    public func append(_ point: ValueObject, timestamp: Int64? = nil) throws(StoreError) -> UInt64 {
        let writer = try store.requireWriter()
        let size = RowSize.estimate(point)
        try Store.checkSize(size, "the point")
        let ts = timestamp ?? WallClock.nowMicros()
        var ticket: UInt64 = 0
        buffer.lock.lock()
        let index = buffer.nextIndex
        do { try insertLocked(point, size, ts, writer, &ticket) } catch {
            buffer.lock.unlock()
            throw error
        }
        buffer.lock.unlock()
        try writer.afterAppend(ticket, always: isAlways)
        return index
    }

    /// Appends points in order, all with the same timestamp.
    ///
    /// - Returns: The range of indexes they got.
    @discardableResult
    public func append(contentsOf points: [ValueObject], timestamp: Int64? = nil) throws(StoreError) -> Range<UInt64> {
        let ts = timestamp ?? WallClock.nowMicros()
        return try append(contentsOf: points) { _ in ts }
    }

    /// Appends points in order, each with its own timestamp (microseconds
    /// since the Unix epoch): a copy of points made elsewhere keeps their times.
    ///
    /// - Returns: The range of indexes they got.
    /// - Throws: ``StoreError`` with `.invalidArgument` when the counts differ.
    @discardableResult
    public func append(contentsOf points: [ValueObject], timestamps: [Int64]) throws(StoreError) -> Range<UInt64> {
        guard timestamps.count == points.count else {
            throw StoreError(.invalidArgument, "\(points.count) points were given \(timestamps.count) timestamps")
        }
        return try append(contentsOf: points) { timestamps[$0] }
    }

    /// The fast path for a batch: appends the points `{"value": values[k], "step": steps[k]}` in order,
    /// all with one timestamp, taking the track's lock once (a NumPy array of each, given by the C API).
    /// What the points are is what as many ``append(value:step:timestamp:)`` calls would make.
    ///
    /// - Returns: The range of indexes they got (no other thread's point comes between them).
    /// - Throws: ``StoreError`` with `.invalidArgument` when the counts differ.
    @discardableResult
    public func append(values: UnsafeBufferPointer<Double>, steps: UnsafeBufferPointer<Int64>,
                       timestamp: Int64? = nil) throws(StoreError) -> Range<UInt64> {
        guard values.count == steps.count else {
            throw StoreError(.invalidArgument, "\(values.count) values were given \(steps.count) steps")
        }
        let writer = try store.requireWriter()
        let ts = timestamp ?? WallClock.nowMicros()
        var ticket: UInt64 = 0
        buffer.lock.lock()
        let first = buffer.nextIndex
        for k in 0..<values.count {
            if hot.pointee.appendValueStep(values[k], steps[k], ts) {
                if hot.pointee.fastCount >= maxRecordsPerBlock || hot.pointee.rawBytes >= flags.pointee.trackBlockBytes.load(ordering: .relaxed) {
                    do { ticket = try writer.sealLocked(buffer) } catch {
                        buffer.lock.unlock()
                        throw error
                    }
                }
                continue
            }
            // Not (yet) in that shape: the general path decides, as for one point.
            let point: ValueObject = ["value": .double(values[k]), "step": .int(steps[k])]
            do { try insertLocked(point, RowSize.estimate(point), ts, writer, &ticket) } catch {
                buffer.lock.unlock()
                throw error
            }
        }
        if isAlways {
            do { ticket = max(ticket, try writer.sealLocked(buffer)) } catch {
                buffer.lock.unlock()
                throw error
            }
        }
        buffer.lock.unlock()
        try writer.afterAppend(ticket, always: isAlways)
        return first..<(first + UInt64(values.count))
    }

    private func append(contentsOf points: [ValueObject], timestampOf: (Int) -> Int64) throws(StoreError) -> Range<UInt64> {
        let writer = try store.requireWriter()
        let sizes = points.map(RowSize.estimate)
        for size in sizes { try Store.checkSize(size, "the point") }
        var ticket: UInt64 = 0
        buffer.lock.lock()
        let first = buffer.nextIndex
        for (i, (p, size)) in zip(points, sizes).enumerated() {
            do { try insertLocked(p, size, timestampOf(i), writer, &ticket) } catch {
                buffer.lock.unlock()
                throw error
            }
        }
        let end = buffer.nextIndex
        buffer.lock.unlock()
        try writer.afterAppend(ticket, always: isAlways)
        return first..<end
    }

    /// Adds one point to the open block, sealing it when it is full, when the
    /// point does not fit its columns, or (durability `always`) after the point;
    /// `ticket` is then the sealed block's. The caller holds the buffer's lock.
    private func insertLocked(_ p: ValueObject, _ size: Int, _ ts: Int64, _ writer: Writer, _ ticket: inout UInt64) throws(StoreError) {
        let b = buffer
        if !b.append(p, ts, size: size, minimumColumnarCount: 64) {
            ticket = max(ticket, try writer.sealLocked(b))
            _ = b.append(p, ts, size: size, minimumColumnarCount: 64)
        }
        if b.count >= maxRecordsPerBlock || b.rawBytes >= flags.pointee.trackBlockBytes.load(ordering: .relaxed) || isAlways {
            ticket = try writer.sealLocked(b)
        }
    }
}
