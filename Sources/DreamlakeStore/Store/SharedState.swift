// What the writer and the readers of one Store object share: the index of
// written blocks, the blocks sealed but not yet written, the open segment
// files, and the track catalog. Guarded by one lock, held only briefly.

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
    /// Written blocks of each stream, in sequence order.
    var refs: [StreamKey: [BlockRef]] = [:]
    /// Sealed blocks not yet written, per stream, in sequence order.
    var unwritten: [StreamKey: [(firstSequence: UInt64, batch: Batch)]] = [:]
    /// Segment files open for reading.
    var files: [SegmentID: File] = [:]
    var catalog = Catalog()
    var closed = false
    /// Summaries of written blocks of points, for envelopes (their own lock).
    let summaries = SummaryCache()

    /// The number of records a stream holds on disk (one past the last written sequence).
    func writtenEnd(_ stream: StreamKey) -> UInt64 { refs[stream]?.last?.endSequence ?? 0 }

    /// Adds written blocks; for the writer, also drops them from `unwritten`.
    func publish(_ newRefs: [BlockRef], fromWriter: Bool) {
        for ref in newRefs {
            refs[ref.stream, default: []].append(ref)
            if fromWriter, var u = unwritten[ref.stream], !u.isEmpty {
                u.removeFirst()
                unwritten[ref.stream] = u.isEmpty ? nil : u
            }
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
