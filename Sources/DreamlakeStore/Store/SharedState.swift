// What the writer and the readers of one Store object share: the index of
// committed blocks, the open segment files, the commit log and the track
// catalog. Guarded by one lock, held only briefly.

/// What a store knows about one track.
public struct TrackInfo: Sendable, Equatable {
    /// The track's id.
    public var id: TrackID
    /// The track's name, unique within the store.
    public var name: String
    /// The fields of its latest metadata record (description, tags, metadata...).
    public var fields: ValueObject
    /// When the track was defined, in microseconds since the Unix epoch.
    public var createdAt: Int64
    /// When its metadata was last updated, in microseconds since the Unix epoch.
    public var updatedAt: Int64
    /// How many points it holds.
    public var count: UInt64

    public static func == (a: TrackInfo, b: TrackInfo) -> Bool {
        a.id == b.id && a.name.utf8.elementsEqual(b.name.utf8) && Value.object(a.fields) == .object(b.fields)
            && a.createdAt == b.createdAt && a.updatedAt == b.updatedAt && a.count == b.count
    }
}

struct Catalog {
    var byID: [TrackID: TrackInfo] = [:]
    var byName: [String: TrackID] = [:]

    /// Folds one track metadata record in (FORMAT.md, "Track metadata"): the
    /// first record of an id defines the track and its name; later ones
    /// replace its fields (their name is not read). A definition whose name
    /// another track already has (only damage or a crafted store holds one:
    /// the writer gives one id per name) keeps its points under the name
    /// `name#id` (with `#id` repeated until it is free), so nothing is hidden.
    /// Names a track from the commit log (FORMAT.md, "Commit log"): in a
    /// store with a commit log, names and ids come from there, and track
    /// metadata records only set fields.
    mutating func define(_ t: TrackName) {
        guard byID[t.id] == nil else { return }
        var name = t.name
        while byName[name] != nil { name += "#\(t.id.rawValue)" }
        byID[t.id] = TrackInfo(id: t.id, name: name, fields: [:], createdAt: t.timestamp, updatedAt: t.timestamp, count: 0)
        byName[name] = t.id
    }

    mutating func apply(_ r: TrackMetadata) {
        if var info = byID[r.track] {
            info.fields = r.fields
            info.updatedAt = r.timestamp
            byID[r.track] = info
        } else {
            var name = r.name
            while byName[name] != nil { name += "#\(r.track.rawValue)" }
            byID[r.track] = TrackInfo(id: r.track, name: name, fields: r.fields, createdAt: r.timestamp, updatedAt: r.timestamp, count: 0)
            byName[name] = r.track
        }
    }

    /// One past the highest defined id; nil when UInt32.max is defined.
    var nextID: UInt32? {
        guard let top = byID.keys.map(\.rawValue).max() else { return 0 }
        return top == .max ? nil : top + 1
    }
}

extension SharedState {
    /// The id the next track gets: past every defined track and past every
    /// track stream on disk, so an id is never given twice (even if damage
    /// took a definition). Nil when the ids have run out.
    var nextTrackID: UInt32? {
        guard let defined = catalog.nextID else { return nil }
        guard let top = refs.keys.filter({ $0.kind == .trackPoint }).map(\.id).max() else { return defined }
        return top == .max ? nil : max(defined, top + 1)
    }
}

final class SharedState: @unchecked Sendable {
    let lock = Lock()
    /// Committed blocks of each stream, in sequence order.
    var refs: [StreamKey: [BlockRef]] = [:]
    /// Segments open for reading, opened when first read.
    var files: [SegmentID: any SegmentBytes] = [:]
    /// Where sealed segments missing from `segmentDirectory` are read from (a reader of an object store root).
    var remote: (any RemoteSegments)?
    /// Where the segment files are.
    var segmentDirectory = ""
    /// The store's commit log; nil for a store written before there was one
    /// (FORMAT.md: then writer 0's blocks, in their order, are the store).
    var commitLog: CommitLog?
    var catalog = Catalog()
    var closed = false
    /// Summaries of written blocks of points, for envelopes (their own lock).
    let summaries = SummaryCache()
    /// This process's writer slot, when the store is open for writing.
    var writerID: UInt32?
    /// Streams holding blocks a writer other than ``writerID`` committed. In
    /// the others, this writer's own order is the store's: what it appended
    /// and has not committed yet has its place already, and reads serve it
    /// from memory (``sealed`` and the open blocks) without committing it.
    var sharedStreams: Set<StreamKey> = []
    /// Blocks this process's writer sealed and has not committed yet, per
    /// stream, in order: handed to the background thread, not in ``refs``.
    var sealed: [StreamKey: [Batch]] = [:]
    /// The timestamp of each stream's first committed record, once read
    /// (it never changes: a stream only grows at its end).
    var firstTimestamps: [StreamKey: Int64] = [:]
    /// The last committed block of points read for its last timestamp, and that timestamp.
    var lastBlockTimestamps: [StreamKey: (ref: BlockRef, timestamp: Int64)] = [:]

    /// The number of records a stream holds on disk (one past the last written sequence).
    func writtenEnd(_ stream: StreamKey) -> UInt64 { refs[stream]?.last?.endSequence ?? 0 }

    /// Adds blocks this process's writer committed, each after the last of its
    /// stream; they leave ``sealed``, where they waited, in the same order.
    func publish(_ newRefs: [BlockRef]) {
        for ref in newRefs {
            refs[ref.stream, default: []].append(ref)
            if sealed[ref.stream]?.isEmpty == false { sealed[ref.stream]!.removeFirst() }
        }
    }

    /// Whether segment `id` is read from elsewhere (not in the folder, and there is an elsewhere): then it is sealed.
    func isRemote(_ id: SegmentID) -> Bool {
        lock.withLock { remote != nil } && FileSystem.kind(segmentDirectory + "/" + StoreFiles.segmentName(id)) == .missing
    }

    /// The segment file `id`, opened for reading the first time it is needed. It is opened and its
    /// header read without the lock held (a segment elsewhere takes a round trip, which no other read
    /// of the store waits for); of two threads opening it at once, the first to finish is kept.
    func file(_ id: SegmentID) throws(StoreError) -> any SegmentBytes {
        lock.lock()
        let known = files[id]
        let open = !closed && !segmentDirectory.isEmpty
        let remote = self.remote
        let directory = segmentDirectory
        lock.unlock()
        if let known { return known }
        guard open else { throw StoreError(.notWritable, "\(id) is not open; the store has been closed") }
        var path = directory + "/" + StoreFiles.segmentName(id)
        let opened = Result { () throws(IOFailure) -> (any SegmentBytes, [UInt8]) in
            let f: any SegmentBytes
            if let remote, FileSystem.kind(path) == .missing, let there = try remote.segment(named: StoreFiles.segmentName(id)) {
                f = there
                path = there.path
            } else {
                f = try File.open(path, .readOnly)
            }
            return (f, try f.read(at: 0, count: FormatConstants.segmentHeaderSize))
        }
        guard case .success(let (f, header)) = opened else {
            if case .failure(let e) = opened { throw StoreError(e) }
            throw StoreError(.io, "\(path) did not open")
        }
        // Its header is checked once, here: a newer writer's segment is not read as this version's.
        switch SegmentHeader.decode(header) {
        case .success(let h) where h.writer == id.writer && h.segment == id.number:
            let kept = lock.withLock { () -> (any SegmentBytes)? in
                if let there = files[id] { return there }
                guard !closed else { return nil }
                files[id] = f
                return f
            }
            guard let kept else {
                try? f.close()
                throw StoreError(.notWritable, "\(id) is not open; the store has been closed")
            }
            if kept !== f { try? f.close() }
            return kept
        case .success(let h):
            try? f.close()
            throw Store.corruptError(path, 0, "segment header says writer \(h.writer), segment \(h.segment), which is not this file's name")
        case .failure(.unsupportedVersion(let v)):
            try? f.close()
            throw StoreError(.unsupportedVersion, FormatConstants.unsupportedSegmentVersion(v), path: path, offset: 8)
        case .failure(let p):
            try? f.close()
            throw Store.corruptError(path, 0, "unreadable segment header (\(p))")
        }
    }
}

/// Block summaries known to this store object, by segment: read from a
/// sealed segment's summary file the first time an envelope needs one of
/// its blocks, written by this process's writer, or computed from a decoded
/// block. Blocks never change once written, so nothing here goes stale.
final class SummaryCache: @unchecked Sendable {
    private struct Segment {
        /// The file's summaries, by block offset, relative to their blocks (nil: no usable file).
        var file: [UInt64: (track: UInt32, summary: BlockSummary)]?
        /// Summaries this process made, by block offset.
        var made: [UInt64: BlockSummary] = [:]
    }

    private let state = Locked<[SegmentID: Segment]>([:])

    /// The summary of the block `ref` names, if known; `readFile` gives a
    /// segment's summary file, decoded and checked, the first time it is asked for.
    func summary(_ ref: BlockRef, readFile: (SegmentID) -> [UInt64: (track: UInt32, summary: BlockSummary)]?) -> BlockSummary? {
        if let known = state.withLock({ lookUp(ref, &$0) }) { return known }
        // Not seen yet: read the file outside the lock (two readers may both read it; either result is the same).
        guard state.withLock({ $0[ref.segment] == nil }) else { return nil }
        let file = readFile(ref.segment)
        return state.withLock { segments in
            if segments[ref.segment] == nil { segments[ref.segment] = Segment(file: file) }
            return lookUp(ref, &segments)
        }
    }

    private func lookUp(_ ref: BlockRef, _ segments: inout [SegmentID: Segment]) -> BlockSummary? {
        guard let segment = segments[ref.segment] else { return nil }
        if let made = segment.made[ref.offset] { return made }
        guard let entry = segment.file?[ref.offset] else { return nil }
        // A file whose entry names another track or count than the index does not describe this segment: drop it.
        guard entry.track == ref.stream.id, entry.summary.range.count == Int(ref.count), ref.stream.kind == .trackPoint else {
            segments[ref.segment]?.file = nil
            return nil
        }
        return entry.summary.moved(to: ref.firstSequence)
    }

    /// Forgets what is known of `segment`, whose summary file now holds what
    /// this process made: the writer keeps in memory only its active segment's.
    func forget(segment: SegmentID) {
        state.withLock { $0[segment] = nil }
    }

    /// Remembers a summary this process made of the block at `ref`.
    func insert(_ ref: BlockRef, _ summary: BlockSummary) {
        state.withLock { segments in
            segments[ref.segment, default: Segment(file: nil)].made[ref.offset] = summary
        }
    }
}
