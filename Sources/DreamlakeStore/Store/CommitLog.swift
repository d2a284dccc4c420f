import Glibc

// The commit log (FORMAT.md, "Commit log"): the one order of a store that
// several processes write. Each writer appends blocks to its own segments;
// a block counts only once a record naming it is appended here, under an
// exclusive flock on this file, and that record gives the block its place
// (its first sequence). Track names are given ids here too, so that every
// writer uses the same id for the same name.

/// A track named in the commit log.
struct TrackName: Equatable {
    var id: TrackID
    var timestamp: Int64
    var name: String
}

final class CommitLog: @unchecked Sendable {
    static let fileName = "commits.dlc"
    static let magic: [UInt8] = Array("DLKCMT01".utf8)
    static let version: UInt16 = 1
    static let headerSize = 16
    /// The unit a disk writes whole (or not at all) at a power loss: the smallest sector there is.
    static let sector: UInt64 = 512
    /// Length and checksum, before each record's type and body.
    static let recordPrefix = 8
    static let blockRecordLength = 42
    /// A name record holds a name of at most a record's 4 MiB.
    static let maxRecordLength = 1 + 4 + 8 + 10 + (4 << 20)
    /// Writer ids are 4 decimal digits in file names.
    static let maxWriter: UInt32 = 9999

    enum RecordType: UInt8 {
        case block = 1
        case track = 2
    }

    /// What reading the log found since the last look.
    struct News {
        var refs: [BlockRef] = []
        /// Where each of `refs`' records starts in the log.
        var recordOffsets: [UInt64] = []
        var tracks: [TrackName] = []
        /// Where an unfinished last record starts (a writer cut it, a reader waits for it).
        var tornAt: UInt64?
        var tornBytes: UInt64 = 0
        /// Salvage: where damage stopped the reading (nothing after it is read).
        var damage: RecoveryReport.Damage?
    }

    let path: String
    let file: File
    /// One look or one commit at a time in this process (the flock orders processes).
    let lock = Lock()

    // Guarded by `lock`: what the log says up to `position`.
    private(set) var position: UInt64 = UInt64(CommitLog.headerSize)
    @exclusivity(unchecked) private var ends: [StreamKey: UInt64] = [:]
    @exclusivity(unchecked) private var perWriter: [UInt32: [StreamKey: UInt64]] = [:]
    @exclusivity(unchecked) private var lastBlock: [UInt32: (segment: UInt64, end: UInt64)] = [:]
    @exclusivity(unchecked) private var named: Set<UInt32> = []
    /// The figures of the stream and writer of the last block record read,
    /// not yet in the dictionaries above: consecutive records mostly name the
    /// same ones, and hashing a key for every record was most of the cost of
    /// opening a large store. ``settleRecent()`` moves them in.
    private struct Recent {
        var stream: StreamKey
        var writer: UInt32
        /// One past the stream's last committed record.
        var end: UInt64
        /// The records of the stream the writer committed.
        var writerCount: UInt64
        /// The writer's last committed block: its segment and end offset.
        var lastSegment: UInt64
        var lastEnd: UInt64
    }
    @exclusivity(unchecked) private var recent: Recent?

    private init(path: String, file: File) {
        self.path = path
        self.file = file
    }

    /// Opens the log at `path`, checking its header.
    static func open(_ path: String, writing: Bool) throws(StoreError) -> CommitLog {
        let file: File
        let header: [UInt8]
        do {
            file = try File.open(path, writing ? .readWrite : .readOnly)
            header = try file.read(at: 0, count: headerSize)
        } catch { throw StoreError(error) }
        guard header.count == headerSize, Array(header[0..<8]) == magic,
              CRC32C.checksum(header, 0..<12) == UInt32(header[12]) | UInt32(header[13]) << 8 | UInt32(header[14]) << 16 | UInt32(header[15]) << 24 else {
            try? file.close()
            throw Store.corruptError(path, 0, "the commit log's header is unreadable")
        }
        let v = UInt16(header[8]) | UInt16(header[9]) << 8
        guard v == version else {
            try? file.close()
            throw StoreError(.unsupportedVersion, "commit log of format version \(v); this library reads version \(version): use a newer dreamlake", path: path, offset: 8)
        }
        return CommitLog(path: path, file: file)
    }

    /// The log's header.
    static func header() -> [UInt8] {
        var w = ByteWriter(capacity: headerSize)
        w.raw(magic)
        w.u16(version)
        w.u16(0)
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    // MARK: State (the caller holds `lock`)

    /// One past the last committed record of `stream`.
    func end(of stream: StreamKey) -> UInt64 {
        if let r = recent, r.stream == stream { return r.end }
        return ends[stream] ?? 0
    }

    /// How many records of `stream` `writer` has committed.
    func count(writer: UInt32, stream: StreamKey) -> UInt64 {
        settleRecent()
        return perWriter[writer]?[stream] ?? 0
    }

    /// Every stream's record count committed by `writer`.
    func counts(writer: UInt32) -> [StreamKey: UInt64] {
        settleRecent()
        return perWriter[writer] ?? [:]
    }

    /// The segment and end offset of `writer`'s last committed block.
    func lastCommitted(writer: UInt32) -> (segment: UInt64, end: UInt64)? {
        if let r = recent, r.writer == writer { return (r.lastSegment, r.lastEnd) }
        return lastBlock[writer]
    }

    /// Whether a track of this id has been named.
    func isNamed(_ id: TrackID) -> Bool { named.contains(id.rawValue) }

    private func note(_ ref: BlockRef) {
        let writer = ref.segment.writer
        let end = ref.offset &+ UInt64(ref.length)
        if var r = recent, r.stream == ref.stream, r.writer == writer {
            r.end = ref.endSequence
            r.writerCount &+= UInt64(ref.count)
            r.lastSegment = ref.segment.number
            r.lastEnd = end
            recent = r
            return
        }
        settleRecent()
        recent = Recent(stream: ref.stream, writer: writer, end: ref.endSequence,
                        writerCount: (perWriter[writer]?[ref.stream] ?? 0) &+ UInt64(ref.count),
                        lastSegment: ref.segment.number, lastEnd: end)
    }

    /// Moves ``recent`` into the dictionaries.
    private func settleRecent() {
        guard let r = recent else { return }
        recent = nil
        ends[r.stream] = r.end
        perWriter[r.writer, default: [:]][r.stream] = r.writerCount
        lastBlock[r.writer] = (r.lastSegment, r.lastEnd)
    }

    // MARK: Reading

    /// Reads the records appended since the last look. An unfinished last
    /// record is not read; `cut` (a writer holding the flock: nobody is
    /// writing it) removes it. Damage is an error, or with `salvage` the end
    /// of what is read.
    func catchUp(cut: Bool, salvage: Bool) throws(StoreError) -> News {
        var news = News()
        guard let suspect = try read(into: &news, cut: cut, salvage: salvage, confirming: false) else { return news }
        // A reader (no flock: a writer may be appending) found a whole last record inside one sector whose
        // checksum fails. It may have read the bytes as a writer's write copied them in; a writer appends holding
        // the flock, so holding it the bytes are whole: the record is sound then, or damage.
        position = suspect
        do { try file.lockExclusive() } catch { throw StoreError(error) }
        defer { file.unlock() }
        _ = try read(into: &news, cut: false, salvage: salvage, confirming: true)
        return news
    }

    /// Reads the records from ``position`` into `news`. Returns the offset of a whole last record inside one
    /// sector whose checksum fails, when a reader not `confirming` under the flock finds one (not read, and
    /// ``position`` not moved past the slice it is in); nil when it read to the end.
    private func read(into news: inout News, cut: Bool, salvage: Bool, confirming: Bool) throws(StoreError) -> UInt64? {
        let size: UInt64
        do { size = try file.size() } catch { throw StoreError(error) }
        guard size > position else { return nil }
        // At most one block record per 50 bytes there: room for them at once, not by doubling (a large store's
        // log holds hundreds of thousands).
        let most = min(Int(min(size - position, UInt64(Int32.max))) / (CommitLog.recordPrefix + CommitLog.blockRecordLength), 1 << 21)
        news.refs.reserveCapacity(news.refs.count + most)
        news.recordOffsets.reserveCapacity(news.recordOffsets.count + most)
        // Read in slices, so that a log of any size is read with bounded memory.
        while position < size {
            let want = Int(min(size - position, UInt64(1 << 20) + UInt64(CommitLog.maxRecordLength)))
            let bytes: [UInt8]
            do { bytes = try file.read(at: position, count: want) } catch { throw StoreError(error) }
            let atEnd = position + UInt64(bytes.count) >= size
            var at = 0
            while at < bytes.count {
                let offset = position + UInt64(at)
                let left = bytes.count - at
                if left < CommitLog.recordPrefix {
                    guard atEnd else { break }  // the next slice starts here
                    return try torn(&news, at: offset, size: size, cut: cut)
                }
                let length = Int(UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24)
                let crc = UInt32(bytes[at + 4]) | UInt32(bytes[at + 5]) << 8 | UInt32(bytes[at + 6]) << 16 | UInt32(bytes[at + 7]) << 24
                guard length >= 1, length <= CommitLog.maxRecordLength else {
                    // Zeros are space a crash left unwritten; anything else is not a record.
                    if atEnd && bytes[at...].allSatisfy({ $0 == 0 }) { return try torn(&news, at: offset, size: size, cut: cut) }
                    return try damaged(&news, at: offset, size: size, "a record of length \(length)", salvage: salvage)
                }
                guard left >= CommitLog.recordPrefix + length else {
                    guard atEnd else { break }
                    return try torn(&news, at: offset, size: size, cut: cut)
                }
                let body = at + CommitLog.recordPrefix
                guard CRC32C.checksum(bytes, body..<(body + length)) == crc else {
                    // A last record with a bad checksum is one whose writing did not finish, if a power loss
                    // can explain it: a disk writes a 512-byte sector whole or not at all, so only a record
                    // that spans two sectors can be left half written. One inside a sector was written whole
                    // and has changed since: it may have committed blocks, and is damage, never cut.
                    let spansSectors = offset / CommitLog.sector != (offset + UInt64(CommitLog.recordPrefix + length) - 1) / CommitLog.sector
                    if atEnd && left == CommitLog.recordPrefix + length && spansSectors {
                        return try torn(&news, at: offset, size: size, cut: cut)
                    }
                    // A reader looks again under the flock before it calls one inside a sector damage.
                    if atEnd && left == CommitLog.recordPrefix + length && !cut && !confirming {
                        position += UInt64(at)
                        return offset
                    }
                    let reason = atEnd && left == CommitLog.recordPrefix + length
                        ? "the last record's checksum fails, and it lies inside one 512-byte sector, which no power loss leaves half written"
                        : "record checksum mismatch"
                    return try damaged(&news, at: offset, size: size, reason, salvage: salvage)
                }
                switch decode(bytes, body, length) {
                case .success(.block(let ref)):
                    note(ref)
                    news.refs.append(ref)
                    news.recordOffsets.append(offset)
                case .success(.track(let t)):
                    named.insert(t.id.rawValue)
                    news.tracks.append(t)
                case .failure(let e):
                    return try damaged(&news, at: offset, size: size, e.reason, salvage: salvage)
                }
                at = body + length
            }
            guard at > 0 else { break }
            position += UInt64(at)
        }
        return nil
    }

    private enum Record {
        case block(BlockRef)
        case track(TrackName)
    }

    private func decode(_ bytes: [UInt8], _ start: Int, _ length: Int) -> Result<Record, DecodeError> {
        var r = ByteReader(bytes, offset: start, end: start + length)
        do throws(DecodeError) {
            switch RecordType(rawValue: try r.u8()) {
            case .block:
                guard length == CommitLog.blockRecordLength else { throw DecodeError("a block record of \(length) bytes, not \(CommitLog.blockRecordLength)") }
                let writer = try r.u32(), segment = try r.u64(), offset = try r.u64(), blockLength = try r.u32()
                let kindByte = try r.u8(), id = try r.u32(), first = try r.u64(), count = try r.u32()
                guard writer <= CommitLog.maxWriter else { throw DecodeError("writer \(writer) is over \(CommitLog.maxWriter)") }
                guard segment >= 1, segment <= 99_999_999 else { throw DecodeError("segment number \(segment) is out of range") }
                guard let kind = RecordKind(rawValue: kindByte) else { throw DecodeError("a block of unknown kind \(kindByte)") }
                guard kind == .trackPoint || id == 0 else { throw DecodeError("stream id \(id) for a block of kind \(kindByte)") }
                guard offset >= UInt64(FormatConstants.segmentHeaderSize), offset <= UInt64.max / 2,
                      blockLength >= UInt32(FormatConstants.blockHeaderSize),
                      blockLength <= UInt32(FormatConstants.blockHeaderSize + FormatConstants.maxBlockPayload) else {
                    throw DecodeError("a block at byte \(offset) of \(blockLength) bytes cannot be one")
                }
                guard count >= 1, count <= UInt32(FormatConstants.maxBlockRecords), first < UInt64.max - UInt64(count) else {
                    throw DecodeError("a block of \(count) records from \(first)")
                }
                let stream = StreamKey(kind: kind, id: id)
                let end = self.end(of: stream)
                guard first == end else {
                    throw DecodeError(first < end ? "records \(first)... of \(stream) are committed twice" : "records \(end)...\(first - 1) of \(stream) are missing")
                }
                if let last = lastCommitted(writer: writer) {
                    guard segment > last.segment || (segment == last.segment && offset >= last.end) else {
                        throw DecodeError("writer \(writer)'s block at byte \(offset) of segment \(segment) comes before its last committed one")
                    }
                }
                return .success(.block(BlockRef(segment: SegmentID(writer: writer, number: segment), offset: offset, length: blockLength,
                                                stream: stream, count: count, firstSequence: first)))
            case .track:
                let id = try r.u32()
                let timestamp = Int64(bitPattern: try r.u64())
                let name = try r.string()
                guard r.isAtEnd else { throw DecodeError("bytes after a track record's name") }
                guard !name.isEmpty else { throw DecodeError("an empty track name") }
                guard !named.contains(id) else { throw DecodeError("track \(id) is named twice") }
                return .success(.track(TrackName(id: TrackID(rawValue: id), timestamp: timestamp, name: name)))
            case nil:
                throw DecodeError("a record of unknown type \(bytes[start])")
            }
        } catch {
            return .failure(error)
        }
    }

    private func torn(_ news: inout News, at offset: UInt64, size: UInt64, cut: Bool) throws(StoreError) -> UInt64? {
        position = offset
        news.tornAt = offset
        news.tornBytes = size - offset
        if cut {
            do {
                try file.truncate(to: offset)
                try file.sync()
            } catch { throw StoreError(error) }
        }
        return nil
    }

    private func damaged(_ news: inout News, at offset: UInt64, size: UInt64, _ reason: String, salvage: Bool) throws(StoreError) -> UInt64? {
        guard salvage else { throw Store.corruptError(path, offset, reason) }
        position = size  // nothing after damage is read: no record boundary can be trusted past it
        news.damage = .init(path: path, offset: offset, length: size - offset, reason: reason)
        return nil
    }

    // MARK: Writing (the caller holds `lock` and the flock, and has caught up)

    /// Runs `body` holding this process's lock and the file's flock.
    func withFlock<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        lock.lock()
        defer { lock.unlock() }
        do { try file.lockExclusive() } catch { throw StoreError(error) }
        defer { file.unlock() }
        return try body()
    }

    static func encode(_ ref: BlockRef, into w: inout ByteWriter) {
        frame(into: &w) { body in
            body.u8(RecordType.block.rawValue)
            body.u32(ref.segment.writer)
            body.u64(ref.segment.number)
            body.u64(ref.offset)
            body.u32(ref.length)
            body.u8(ref.stream.kind.rawValue)
            body.u32(ref.stream.id)
            body.u64(ref.firstSequence)
            body.u32(ref.count)
        }
    }

    static func encode(_ t: TrackName, into w: inout ByteWriter) {
        frame(into: &w) { body in
            body.u8(RecordType.track.rawValue)
            body.u32(t.id.rawValue)
            body.u64(UInt64(bitPattern: t.timestamp))
            body.string(t.name)
        }
    }

    /// Writes one record: what `body` writes, after its length and checksum
    /// (patched in once it is written: no buffer of its own).
    private static func frame(into w: inout ByteWriter, _ body: (inout ByteWriter) -> Void) {
        let start = w.count
        w.u32(0)
        w.u32(0)
        body(&w)
        w.patchU32(UInt32(w.count - start - recordPrefix), at: start)
        w.patchU32(CRC32C.checksum(w.bytes, (start + recordPrefix)..<w.count), at: start + 4)
    }

    /// Records being appended, kept from commit to commit (guarded by `lock`).
    private var scratch = ByteWriter()

    /// Appends records for blocks already written to their segment, in order;
    /// their first sequences must be the streams' ends.
    func append(_ refs: [BlockRef]) throws(IOFailure) {
        scratch.bytes.removeAll(keepingCapacity: true)
        for ref in refs { CommitLog.encode(ref, into: &scratch) }
        try file.write(scratch.bytes, at: position)
        position += UInt64(scratch.bytes.count)
        for ref in refs { note(ref) }
    }

    /// Appends a track name record.
    func append(_ t: TrackName) throws(IOFailure) {
        var w = ByteWriter()
        CommitLog.encode(t, into: &w)
        try file.write(w.bytes, at: position)
        position += UInt64(w.bytes.count)
        named.insert(t.id.rawValue)
    }

    /// Whether the file holds bytes past what was read: another writer
    /// committed since the last look. One `fstat`. The caller holds `lock`.
    func hasNews() -> Bool { ((try? file.size()) ?? .max) > position }

    func sync() throws(IOFailure) { try file.sync() }

    func close() { try? file.close() }
}

// MARK: Opening a store that has a commit log

extension Store {
    /// Adds what the commit log said to the store's state, in the log's
    /// order: names to the catalog, blocks to their streams (a block a reader
    /// already knows from before the log existed is skipped). Returns the new
    /// blocks of track metadata, whose fields the caller folds in.
    static func absorb(_ news: CommitLog.News, into shared: SharedState) -> [BlockRef] {
        shared.lock.withLock {
            for t in news.tracks { shared.catalog.define(t) }
            // By runs of one stream: one lookup a run, not a record (a large store's log is mostly long runs).
            var i = 0
            while i < news.refs.count {
                let stream = news.refs[i].stream
                var j = i + 1
                while j < news.refs.count && news.refs[j].stream == stream { j += 1 }
                var end = shared.writtenEnd(stream)
                var foreign = false
                var blocks = shared.refs.removeValue(forKey: stream) ?? []
                blocks.reserveCapacity(blocks.count + j - i)
                for ref in news.refs[i..<j] where ref.firstSequence >= end {
                    blocks.append(ref)
                    end = ref.endSequence
                    foreign = foreign || ref.segment.writer != shared.writerID
                }
                shared.refs[stream] = blocks
                if foreign { shared.sharedStreams.insert(stream) }
                i = j
            }
        }
        return news.refs.filter { $0.stream == .trackMetadata }
    }

    /// Folds blocks of track metadata into the catalog. A block that does not
    /// read leaves the catalog as it was (reading its records reports it).
    static func applyTrackMetadata(_ refs: [BlockRef], shared: SharedState) {
        for ref in refs {
            guard case .trackMetadata(let records)? = try? readBatch(ref, shared: shared) else { continue }
            shared.lock.withLock { for r in records { shared.catalog.apply(r) } }
        }
    }

    /// Checks every block in `refs` (header and payload checksum). Strict: the
    /// first bad one is an error; salvage: bad ones are reported and dropped.
    static func verifyCommitted(_ refs: [BlockRef], shared: SharedState, salvage: Bool,
                                report: inout RecoveryReport) throws(StoreError) -> [BlockRef] {
        var kept: [BlockRef] = []
        kept.reserveCapacity(refs.count)
        for ref in refs {
            do throws(StoreError) {
                _ = try readChecked(ref, shared: shared)
                kept.append(ref)
            } catch {
                guard salvage, error.code == .corrupt || error.code == .io else { throw error }
                report.damage.append(.init(path: error.path ?? shared.segmentDirectory + "/" + StoreFiles.segmentName(ref.segment),
                                           offset: ref.offset, length: UInt64(ref.length), reason: error.reason ?? error.message,
                                           stream: ref.stream, sequences: ref.firstSequence...(ref.endSequence - 1)))
            }
        }
        return kept
    }

    /// Reads a store's commit log from its start into `shared`.
    static func openCommitted(_ log: CommitLog, shared: SharedState, configuration: StoreConfiguration, writing: Bool,
                              report: inout RecoveryReport) throws(StoreError) {
        let salvage = configuration.recovery == .salvage
        // Every record names a block that is there: a writer makes its blocks durable before it appends the
        // records naming them, so not even a power loss leaves a record without its block. One that names a
        // block that is missing or unsound is damage wherever it is in the log, its end included.
        var news: CommitLog.News
        if writing {
            news = try log.withFlock { () throws(StoreError) in try log.catchUp(cut: true, salvage: false) }
        } else {
            news = try log.lock.withLock { () throws(StoreError) in try log.catchUp(cut: false, salvage: salvage) }
        }
        if let at = news.tornAt, writing { report.tornTails.append(.init(path: log.path, offset: at, bytesDropped: news.tornBytes)) }
        if let damage = news.damage { report.damage.append(damage) }
        if configuration.verifySealedSegments || salvage {
            news.refs = try verifyCommitted(news.refs, shared: shared, salvage: salvage, report: &report)
        }
        shared.commitLog = log
        applyTrackMetadata(absorb(news, into: shared), shared: shared)
    }

    /// Makes sure the store has a commit log. A store without one is new, or
    /// was written by a writer that kept none (format version 1): the writer
    /// of slot 0 makes it, holding slot 0's lock, from writer 0's blocks in
    /// their order. Others wait for it (a writer that keeps no log and holds
    /// slot 0 is an error).
    static func ensureCommitLog(directory: String, configuration: StoreConfiguration,
                                report: inout RecoveryReport) throws(StoreError) {
        let path = directory + "/" + CommitLog.fileName
        let deadline = WallClock.monotonicNanos(after: 2)
        while FileSystem.kind(path) == .missing {
            if let slot0 = try lockSlot(0, directory: directory, patient: false) {
                defer { try? releaseSlot(slot0) }
                if FileSystem.kind(path) == .missing {
                    try makeCommitLog(directory: directory, configuration: configuration, report: &report)
                }
                return
            }
            guard WallClock.monotonicNanos() < deadline else {
                let pid = lockHolder(directory: directory, slot: 0)
                throw StoreError(.locked, "the store is being written by a writer that keeps no commit log (a dreamlake from before several writers per session)"
                                     + (pid.map { " (pid \($0))" } ?? "") + "; stop it, or read the store beside it (Store(directory:access: .read), Session.openForReading())",
                                 path: directory + "/" + StoreFiles.lockName(writer: 0), holderPID: pid)
            }
            usleep(5000)
        }
    }

    private static func makeCommitLog(directory: String, configuration: StoreConfiguration,
                                      report: inout RecoveryReport) throws(StoreError) {
        let segDir = directory + "/" + StoreFiles.segmentDirectory
        let old = SharedState()
        old.segmentDirectory = segDir
        defer {
            let files = old.lock.withLock { old.files.values }
            for f in files { try? f.close() }
        }
        // Writer 0's segments as a version 1 writer would recover them: torn tail cut, gaps refused.
        _ = try recover(segmentDirectory: segDir, shared: old, configuration: configuration, writing: true, report: &report)
        var w = ByteWriter()
        w.raw(CommitLog.header())
        let (catalog, refs) = old.lock.withLock { (old.catalog, old.refs) }
        for info in catalog.byID.values.sorted(by: { $0.id < $1.id }) {
            CommitLog.encode(TrackName(id: info.id, timestamp: info.createdAt, name: info.name), into: &w)
        }
        for stream in refs.keys {
            var end: UInt64 = 0
            for ref in refs[stream] ?? [] {
                guard ref.firstSequence == end else {
                    throw corruptError(segDir + "/" + StoreFiles.segmentName(ref.segment), ref.offset,
                                       "records \(end)...\(ref.firstSequence - 1) of \(stream) are missing, so no commit log can be made for it; read it with recovery: .salvage and import what it holds into a new session")
                }
                end = ref.endSequence
            }
        }
        for ref in refs.values.joined().sorted(by: { ($0.segment, $0.offset) < ($1.segment, $1.offset) }) {
            CommitLog.encode(ref, into: &w)
        }
        do { try FileSystem.replaceAtomically(directory + "/" + CommitLog.fileName, with: w.bytes) } catch { throw StoreError(error) }
    }

    /// Opens the active segment of writer `slot` after the commit log was
    /// read: what follows its last committed block was never committed (the
    /// writer stopped between writing a block and committing it), and is cut.
    static func recoverSlot(_ slot: UInt32, log: CommitLog, shared: SharedState,
                            report: inout RecoveryReport) throws(StoreError) -> Writer.ActiveSegment {
        let dir = shared.segmentDirectory
        let numbers = try segmentNumbers(dir, writer: slot)
        let last = log.lock.withLock { log.lastCommitted(writer: slot) }
        if let last, (numbers.last ?? 0) < last.segment {
            throw corruptError(dir + "/" + StoreFiles.segmentName(writer: slot, segment: last.segment), 0,
                               "the segment holds committed blocks but is missing")
        }
        guard let n = numbers.last else {
            do {
                let file = try createSegment(directory: dir, writer: slot, segment: 1)
                let id = SegmentID(writer: slot, number: 1)
                shared.lock.withLock { shared.files[id] = file }
                return Writer.ActiveSegment(file: file, number: 1, end: UInt64(FormatConstants.segmentHeaderSize), blocks: [])
            } catch { throw StoreError(error) }
        }
        let id = SegmentID(writer: slot, number: n)
        let path = dir + "/" + StoreFiles.segmentName(id)
        let keep = last?.segment == n ? last!.end : UInt64(FormatConstants.segmentHeaderSize)
        let file: File
        let size: UInt64
        let header: [UInt8]
        do {
            file = try File.open(path, .readWrite)
            size = try file.size()
            header = try file.read(at: 0, count: FormatConstants.segmentHeaderSize)
        } catch { throw StoreError(error) }
        let blocks = shared.lock.withLock {
            shared.files[id] = file  // the check below reads through it
            return shared.refs.values.joined().filter { $0.segment == id }.sorted { $0.offset < $1.offset }
        }
        // Opening checks no block a read does not need (reads check theirs), but the writer goes on after its
        // last committed block: the segment must hold every committed block, and the last of them must be sound,
        // or it would write past damage (a segment cut short, a damaged last block) and bury it. (With
        // `.salvage`, blocks found damaged were dropped from the refs, and are not looked at again.)
        if let missing = blocks.first(where: { $0.offset &+ UInt64($0.length) > size }) {
            throw corruptError(path, missing.offset, "a committed block ends past the end of the segment (\(size) bytes)")
        }
        if let lastBlock = blocks.last { _ = try readChecked(lastBlock, shared: shared) }
        // A sealed last segment (its index is there and nothing follows its last committed block: a copy
        // made from an object store's sealed segments, or a crash between sealing and starting the next)
        // stays sealed: the writer starts the next one instead of appending to it.
        if let last, last.segment == n, size == last.end, FileSystem.kind(dir + "/" + StoreFiles.indexName(id)) == .regular,
           case .success(let h) = SegmentHeader.decode(header), h.writer == slot, h.segment == n {
            do {
                let next = SegmentID(writer: slot, number: n + 1)
                let nextFile = try createSegment(directory: dir, writer: slot, segment: next.number)
                shared.lock.withLock {
                    shared.files[id] = file
                    shared.files[next] = nextFile
                }
                return Writer.ActiveSegment(file: nextFile, number: next.number, end: UInt64(FormatConstants.segmentHeaderSize), blocks: [])
            } catch { throw StoreError(error) }
        }
        var rewriteHeader = false
        var olderVersion = false
        switch SegmentHeader.decode(header) {
        case .success(let h) where h.writer == slot && h.segment == n:
            // An older version's segment gets no block this version writes (its readers would take an
            // encoding they do not know for damage): empty, it is this version's; else the writer seals it.
            if h.version < FormatConstants.formatVersion {
                if keep == UInt64(FormatConstants.segmentHeaderSize) { rewriteHeader = true } else { olderVersion = true }
            }
        case .failure(.unsupportedVersion(let v)):
            throw StoreError(.unsupportedVersion, FormatConstants.unsupportedSegmentVersion(v), path: path, offset: 8)
        default:
            // A crash while creating the segment leaves it short, zero or half written: nothing in it is committed.
            guard keep == UInt64(FormatConstants.segmentHeaderSize) else {
                throw corruptError(path, 0, "unreadable segment header in a segment that holds committed blocks")
            }
            rewriteHeader = true
        }
        do {
            if rewriteHeader {
                try file.truncate(to: 0)
                try file.write(SegmentHeader(writer: slot, segment: n).encoded(), at: 0)
            }
            if size > keep {
                try file.truncate(to: keep)
                report.tornTails.append(.init(path: path, offset: keep, bytesDropped: size - keep))
            }
            // What a crashed writer left may not have reached the disk yet: one fsync makes it durable before anyone counts on it.
            try file.sync()
            try FileSystem.remove(dir + "/" + StoreFiles.indexName(id))
            // The summaries its last writer left for the blocks kept: the writer goes on from them, so that
            // the file it writes when it seals or closes the segment covers those blocks too.
            let summaryPath = dir + "/" + StoreFiles.summaryName(id)
            var summaries: [(offset: UInt64, track: UInt32, summary: BlockSummary)] = []
            if FileSystem.kind(summaryPath) == .regular, let bytes = try? readWhole(summaryPath),
               case .success(let found) = SegmentSummary.decode(bytes, writer: slot, segment: n, segmentLength: keep) {
                summaries = found.map { ($0.key, $0.value.track, $0.value.summary) }.sorted { $0.offset < $1.offset }
            }
            try FileSystem.remove(summaryPath)
            shared.lock.withLock { shared.files[id] = file }
            return Writer.ActiveSegment(file: file, number: n, end: keep, blocks: blocks, summaries: summaries,
                                        olderVersion: olderVersion)
        } catch { throw StoreError(error) }
    }
}
