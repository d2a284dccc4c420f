import Glibc

/// An embedded, append-only store of one session's records: logs, track
/// points, parameters, metadata and file records, in segment files of
/// checksummed, compressed blocks.
///
/// Open it for writing (any number of processes at once, each as its own
/// writer, held by a `flock` on `writer-NNNN.lock`; their blocks are put in
/// one order by the commit log, FORMAT.md) or for reading (any number, even
/// while writers run; ``refresh()`` picks up what they have committed since).
///
/// ```swift
/// let store = try Store(directory: "runs/exp1")
/// let loss = try store.track(named: "loss")
/// for step in 0..<1000 { try loss.append(value: 1.0 / Double(step + 1), step: Int64(step)) }
/// try store.flush()
/// let points = try store.points(of: loss.id, from: 0, limit: 10)
/// try store.close()
/// ```
public final class Store: Sendable {
    /// Whether a store is opened to write or only to read.
    public enum Access: Sendable {
        /// Take the writer lock, recover the tail, and accept appends.
        case write
        /// Read what is on disk without locking; never changes a file.
        case read
    }

    /// The store's directory.
    public let directory: String
    /// The settings it was opened with.
    public let configuration: StoreConfiguration
    /// What opening found and did: torn tails cut, damage skipped, indexes rebuilt.
    public let recoveryReport: RecoveryReport

    let shared: SharedState
    let writer: Writer?
    let reader: ReaderState?

    /// The state a read-only store keeps to pick up new data.
    final class ReaderState: @unchecked Sendable {
        let lock = Lock()
        var activeSegment: UInt64?
        var activeEnd: UInt64 = 0
    }

    /// Whether this store accepts appends.
    public var isWritable: Bool { writer != nil }

    /// The writer slot this store writes as (0 to 9999; the rank of a
    /// distributed job, or the lowest slot that was free), or nil when it is open for reading.
    public var writerID: UInt32? { writer?.writerID }

    /// Opens the store in `directory`, creating it when it is opened for
    /// writing and does not exist.
    ///
    /// - Parameters:
    ///   - directory: The store's directory.
    ///   - access: `.write` (the default) or `.read`.
    ///   - configuration: Durability, sizes and recovery mode. The default is ``StoreConfiguration/init()``.
    ///   - requestedWriter: For `.write`, the writer id (0 to 9999) to write as: the rank of
    ///     a distributed job. Nil (the default) takes the lowest id no process holds.
    /// - Throws: ``StoreError`` with code `.locked` when another process
    ///   holds the writer id asked for (or a writer that keeps no commit log
    ///   writes the store), `.corrupt` when strict recovery finds damage,
    ///   `.unsupportedVersion`, `.notAStore`, `.invalidArgument` or `.io`.
    public convenience init(directory: String, access: Access = .write, configuration: StoreConfiguration = .init(),
                            writer requestedWriter: UInt32? = nil) throws(StoreError) {
        try self.init(directory: directory, access: access, configuration: configuration, writer: requestedWriter, remoteSegments: nil)
    }

    /// ``init(directory:access:configuration:writer:)`` for a reader whose
    /// sealed segments may be elsewhere: a segment file missing from the
    /// folder is read through `remoteSegments` (only with `.read`).
    package init(directory: String, access: Access = .write, configuration: StoreConfiguration = .init(),
                 writer requestedWriter: UInt32? = nil, remoteSegments: (any RemoteSegments)?) throws(StoreError) {
        self.directory = directory
        self.configuration = configuration
        let shared = SharedState()
        self.shared = shared
        guard configuration.segmentSize >= 4096, configuration.maxRecordsPerBlock >= 1,
              configuration.maxRecordsPerBlock <= FormatConstants.maxBlockRecords,
              configuration.maxBlockBytes >= 1, configuration.maxBlockBytes <= FormatConstants.maxBlockPayload / 4 else {
            throw StoreError(.invalidArgument, "the configuration's sizes are out of range (segmentSize >= 4096, 1 <= maxRecordsPerBlock <= \(FormatConstants.maxBlockRecords), 1 <= maxBlockBytes <= \(FormatConstants.maxBlockPayload / 4))")
        }
        if case .interval(let ms) = configuration.durability, ms < 1 {
            throw StoreError(.invalidArgument, "the durability interval must be at least 1 ms, not \(ms)")
        }
        if remoteSegments != nil && access == .write {
            throw StoreError(.invalidArgument, "segments from elsewhere are for reading; a writer's segments are in its folder")
        }
        shared.remote = remoteSegments
        if let requestedWriter, requestedWriter > CommitLog.maxWriter {
            throw StoreError(.invalidArgument, "writer \(requestedWriter) is out of range: a store has writers 0 to \(CommitLog.maxWriter)")
        }
        let segDir = directory + "/" + StoreFiles.segmentDirectory
        shared.segmentDirectory = segDir
        switch access {
        case .write:
            do {
                try FileSystem.createDirectories(directory)  // the caller's path: links on the way are the caller's
                try FileSystem.makeDirectory(segDir)        // inside the store: never a link
            } catch { throw StoreError(error) }
            var report = RecoveryReport()
            try Store.ensureCommitLog(directory: directory, configuration: configuration, report: &report)
            let (slot, lockFile) = try Store.takeSlot(directory: directory, requested: requestedWriter)
            shared.writerID = slot
            let log: CommitLog
            let active: Writer.ActiveSegment
            do {
                log = try CommitLog.open(directory + "/" + CommitLog.fileName, writing: true)
                try Store.openCommitted(log, shared: shared, configuration: configuration, writing: true, report: &report)
                active = try Store.recoverSlot(slot, log: log, shared: shared, report: &report)
            } catch {
                try? Store.releaseSlot(lockFile)
                throw error
            }
            self.recoveryReport = report
            let total = shared.refs.values.reduce(UInt64(0)) { $0 + $1.reduce(0) { $0 + UInt64($1.count) } }
            let own = log.lock.withLock { log.counts(writer: slot) }
            let writer = Writer(directory: directory, configuration: configuration, shared: shared, writerID: slot, lockFile: lockFile,
                                commitLog: log, active: active, recordsOnDisk: total, ownCounts: own)
            self.writer = writer
            self.reader = nil
            try writer.start()
            // Blocks of this version go to a segment of this version: an older writer's is sealed as it is.
            if active.olderVersion { try writer.sealSegment() }
        case .read:
            switch FileSystem.kind(segDir) {
            case .directory: break
            case .missing:
                throw StoreError(.notAStore, "\(directory) is not a dreamlake store (it has no \(StoreFiles.segmentDirectory)/ directory); check the path", path: directory)
            case let found:
                throw StoreError(IOFailure.notFollowed("open", segDir, found: found, expected: .directory))
            }
            var report = RecoveryReport()
            let r = ReaderState()
            let logPath = directory + "/" + CommitLog.fileName
            if FileSystem.kind(logPath) != .missing {
                try Store.openCommitted(try CommitLog.open(logPath, writing: false), shared: shared, configuration: configuration,
                                        writing: false, report: &report)
            } else if let active = try Store.recover(segmentDirectory: segDir, shared: shared, configuration: configuration,
                                                     writing: false, report: &report) {
                // A store without a commit log: writer 0's blocks in their order (format version 1).
                r.activeSegment = active.number
                r.activeEnd = active.end
            }
            self.recoveryReport = report
            self.writer = nil
            self.reader = r
        }
    }

    deinit {
        if let writer, writer.flags.pointee.state.load(ordering: .relaxed) == 0 { try? writer.close() }
    }

    /// Whether `directory` holds a store: a `segments/` folder of its own
    /// (not a link). What every "is this a session?" question asks.
    public static func exists(at directory: String) -> Bool {
        FileSystem.isDirectory(segmentsDirectory(of: directory))
    }

    /// The folder holding a store's segment and index files.
    public static func segmentsDirectory(of directory: String) -> String {
        directory + "/" + StoreFiles.segmentDirectory
    }

    // MARK: Writer slots

    /// Takes writer slot `requested`, or the lowest free one: an exclusive
    /// flock on `writer-NNNN.lock`, held while the store is open for writing.
    static func takeSlot(directory: String, requested: UInt32?) throws(StoreError) -> (UInt32, File) {
        if let requested {
            if let file = try lockSlot(requested, directory: directory, patient: true) { return (requested, file) }
            let pid = lockHolder(directory: directory, slot: requested)
            throw StoreError(.locked,
                             "writer \(requested) of the store is taken by another process" + (pid.map { " (pid \($0))" } ?? "")
                                 + "; give each process its own writer (rank), or none to take a free one, or read the store beside it (Store(directory:access: .read), Session.openForReading())",
                             path: directory + "/" + StoreFiles.lockName(writer: requested), holderPID: pid)
        }
        for slot in 0...CommitLog.maxWriter {
            if let file = try lockSlot(slot, directory: directory, patient: false) { return (slot, file) }
        }
        throw StoreError(.locked, "all \(CommitLog.maxWriter + 1) writers of the store are taken", path: directory)
    }

    /// Locks one slot's file, or returns nil when another open file holds it.
    /// `patient`: a lock its holder closed without unlocking (a process that
    /// died while another thread was spawning a child, which shares the lock's
    /// open file description until its exec closes it, O_CLOEXEC) can look held
    /// for a moment, so a refusal is tried again for up to 50 ms before it is believed.
    static func lockSlot(_ slot: UInt32, directory: String, patient: Bool) throws(StoreError) -> File? {
        let path = directory + "/" + StoreFiles.lockName(writer: slot)
        let file: File
        do { file = try File.open(path, .createOrOpen) } catch { throw StoreError(error) }
        var locked = false
        for attempt in 0..<(patient ? 50 : 1) {
            do { locked = try file.tryLockExclusive() } catch { throw StoreError(error) }
            if locked { break }
            if patient && attempt < 49 { usleep(1000) }
        }
        guard locked else {
            try? file.close()
            return nil
        }
        // The pid is for people and error messages; the flock is the lock.
        do {
            try file.truncate(to: 0)
            try file.write(Array("\(FileSystem.currentProcessID())\n".utf8), at: 0)
        } catch { throw StoreError(error) }
        return file
    }

    /// Gives a slot back: unlocks, then closes. Closing alone is not enough:
    /// the flock belongs to the open file description, which a child being
    /// spawned by another thread shares until its exec (and a forked child
    /// that never execs, for its life); the slot would stay taken, and this
    /// process's next opening would become another writer.
    static func releaseSlot(_ file: File) throws(IOFailure) {
        file.unlock()
        try file.close()
    }

    /// The pid written in a slot's lock file (for messages only).
    static func lockHolder(directory: String, slot: UInt32) -> Int32? {
        guard let f = try? File.open(directory + "/" + StoreFiles.lockName(writer: slot), .readOnly) else { return nil }
        defer { try? f.close() }
        let text = (try? f.read(at: 0, count: 32)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return Int32(text.trimmingWhitespace())
    }

    static func createSegment(directory: String, writer: UInt32, segment: UInt64) throws(IOFailure) -> File {
        let path = directory + "/" + StoreFiles.segmentName(writer: writer, segment: segment)
        let file = try File.open(path, .createNew)
        try file.write(SegmentHeader(writer: writer, segment: segment).encoded(), at: 0)
        try file.sync()
        try FileSystem.syncDirectory(directory)
        return file
    }

    // MARK: Closing

    /// Makes everything appended so far durable (written and fsync'd).
    ///
    /// - Returns: How many records the store durably holds, all streams together.
    /// - Throws: ``StoreError`` when the store is read-only or closed, or when
    ///   a write or fsync failed (the store then takes no more appends).
    @discardableResult
    public func flush() throws(StoreError) -> UInt64 {
        guard let writer else { throw StoreError(.notWritable, "the store at \(directory) is open for reading only") }
        return try writer.flush()
    }

    /// Makes everything appended so far durable in a sealed segment, which
    /// never changes again (the unit an object store root uploads), and
    /// starts the next segment. An active segment without blocks stays.
    ///
    /// - Throws: ``StoreError`` when the store is read-only or closed, or when
    ///   a write or fsync failed (the store then takes no more appends).
    public func sealSegment() throws(StoreError) {
        guard let writer else { throw StoreError(.notWritable, "the store at \(directory) is open for reading only") }
        try writer.sealSegment()
    }

    /// Writes and fsyncs everything appended, then releases the writer lock
    /// and the files. Closing twice is harmless.
    ///
    /// - Throws: ``StoreError`` when the last writes or fsync failed; what
    ///   was flushed before is still durable.
    public func close() throws(StoreError) {
        var firstError: StoreError?
        if let writer {
            do { try writer.close() } catch { firstError = error }
        }
        let (files, log) = shared.lock.withLock {
            shared.closed = true
            let f = Array(shared.files.values)
            shared.files = [:]
            return (f, shared.commitLog)
        }
        log?.close()
        for f in files {
            do { try f.close() } catch { if firstError == nil { firstError = StoreError(error) } }
        }
        if let firstError { throw firstError }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
