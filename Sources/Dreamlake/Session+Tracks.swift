import Foundation
import Synchronization

extension Session {
    /// The track named `name`: a time series of points with flexible fields.
    /// Nothing is written until the first append, which defines the track
    /// with this description, tags and metadata (an existing track keeps its own).
    ///
    /// - Parameters:
    ///   - name: Its name; "/" separates parts (`"train/loss"`), each a valid file name.
    ///   - description: The track's description, for a new track; nil for none.
    ///   - tags: The track's tags, for a new track; nil for none.
    ///   - metadata: The track's metadata, for a new track; nil for none.
    public func track(_ name: String, description: String? = nil, tags: [String]? = nil,
                      metadata: KeyValuePairs<String, any ValueConvertible>? = nil) -> Track {
        track(name, description: description, tags: tags, metadataObject: metadata.map(ValueObject.init(pairs:)))
    }

    /// As ``track(_:description:tags:metadata:)``, with metadata already an object (a remote client's).
    package func track(_ name: String, description: String?, tags: [String]?, metadataObject metadata: ValueObject?) -> Track {
        Track(session: self, name: name, description: description, tags: tags, metadata: metadata, cache: TrackCache())
    }

    /// Every track of the session with its statistics, in the order they were defined.
    public func tracks() throws(DreamlakeError) -> [TrackStats] {
        try backend().tracks()
    }

    /// The engine's handle for a track, defining the track on first use.
    func trackHandle(_ track: Track) throws(DreamlakeError) -> TrackHandle {
        // The fast way: the handle this Track value got in this same opening.
        let current = generation.load(ordering: .acquiring)
        if let h = track.cache.handle(in: current) { return h }
        let store = try requireWritableStore()
        if let h = state.withLock({ $0.trackHandles[track.name] }) {
            track.cache.keep(h, in: current)
            return h
        }
        try Names.checkTrackName(track.name)
        var fields = ValueObject()
        fields["description"] = track.description.map(Value.string) ?? .null
        fields["tags"] = .array((track.tags ?? []).map(Value.string))
        fields["metadata"] = track.metadata.map(Value.object) ?? .null
        let handle: TrackHandle
        do { handle = try store.track(named: track.name, fields: fields) } catch { throw DreamlakeError(error) }
        state.withLock { $0.trackHandles[track.name] = handle }
        track.cache.keep(handle, in: current)
        return handle
    }
}

/// A track of a session: append points, read them back, get statistics.
/// Safe to use from many threads at once.
public struct Track: Sendable {
    let session: Session
    /// The track's name.
    public let name: String
    let description: String?
    let tags: [String]?
    let metadata: ValueObject?
    let cache: TrackCache

    /// Appends a point: `try track.append(["value": loss, "step": step, "phase": "train"])`.
    /// Its keys keep their order.
    ///
    /// - Returns: The point's index.
    @discardableResult
    public func append(_ point: KeyValuePairs<String, any ValueConvertible>) throws(DreamlakeError) -> UInt64 {
        try append(object: ValueObject(pairs: point))
    }

    /// Appends a point given as an object.
    @discardableResult
    public func append(object point: ValueObject) throws(DreamlakeError) -> UInt64 {
        let h = try session.trackHandle(self)
        do { return try h.append(point) } catch { throw DreamlakeError(error) }
    }

    /// The fast path: appends `{"value": value, "step": step}`.
    ///
    /// - Returns: The point's index.
    @discardableResult
    public func append(value: Double, step: Int) throws(DreamlakeError) -> UInt64 {
        let h = try session.trackHandle(self)
        do { return try h.append(value: value, step: Int64(step)) } catch { throw DreamlakeError(error) }
    }

    /// The fast path for a batch: appends the points `{"value": values[k], "step": steps[k]}` in order, with
    /// one timestamp, taking the track's lock once (what as many ``append(value:step:)`` calls would store).
    ///
    /// - Returns: The indexes they got, one after another.
    /// - Throws: ``DreamlakeError`` with `.store` (its engine error `.invalidArgument`) when the counts differ.
    @discardableResult
    public func append(values: UnsafeBufferPointer<Double>, steps: UnsafeBufferPointer<Int64>) throws(DreamlakeError) -> Range<UInt64> {
        let h = try session.trackHandle(self)
        do { return try h.append(values: values, steps: steps) } catch { throw DreamlakeError(error) }
    }

    /// Appends any `Encodable` value as a point (a struct with `value` and `step`, say).
    @discardableResult
    public func append<T: Encodable>(_ point: T) throws(DreamlakeError) -> UInt64 {
        guard let o = try ValueEncoding.encodeObject(point) else {
            throw DreamlakeError(.invalidValue, "\(T.self) does not encode as an object of named fields, so it cannot be a point")
        }
        return try append(object: o)
    }

    /// Appends points in order.
    ///
    /// - Returns: The indexes they got.
    @discardableResult
    public func appendBatch(_ points: [KeyValuePairs<String, any ValueConvertible>]) throws(DreamlakeError) -> Range<UInt64> {
        try appendBatch(objects: points.map(ValueObject.init(pairs:)))
    }

    /// Appends points given as objects, in order (Python's `append_batch` of dictionaries).
    ///
    /// - Returns: The indexes they got.
    @discardableResult
    public func appendBatch(objects points: [ValueObject]) throws(DreamlakeError) -> Range<UInt64> {
        let h = try session.trackHandle(self)
        do { return try h.append(contentsOf: points) } catch { throw DreamlakeError(error) }
    }

    /// Appends points with the times they were first appended (microseconds
    /// since the Unix epoch), as `dreamlake serve` does for a Swift remote session's delivery.
    package func appendBatch(objects points: [ValueObject], timestamps: [Int64]) throws(DreamlakeError) -> Range<UInt64> {
        let h = try session.trackHandle(self)
        do { return try h.append(contentsOf: points, timestamps: timestamps) } catch { throw DreamlakeError(error) }
    }

    /// Points `startIndex ..< startIndex + limit`; with a `rank`, the first
    /// `limit` points from `startIndex` on that the session of that rank
    /// wrote (their indexes are the track's, so they skip the other ranks'
    /// points: read on from the last one's index + 1).
    ///
    /// - Throws: ``DreamlakeError`` with `.invalidArgument` for a rank on a
    ///   remote-only session (its server writes every point, and keeps no rank).
    public func read(startIndex: UInt64 = 0, limit: Int = 1000, rank: UInt32? = nil) throws(DreamlakeError) -> TrackPage {
        try session.backend().points(of: name, from: startIndex, limit: limit, rank: rank)
    }

    /// Points `startIndex ..< startIndex + limit` as a `Decodable` type (the
    /// struct they were appended as, say); with a `rank`, only that rank's (see
    /// ``read(startIndex:limit:rank:)``).
    ///
    /// - Throws: ``DreamlakeError`` with `.invalidValue` when a point does not
    ///   decode as `T` (naming the point and the key).
    public func read<T: Decodable>(as type: T.Type, startIndex: UInt64 = 0, limit: Int = 1000, rank: UInt32? = nil) throws(DreamlakeError) -> [T] {
        let page = try read(startIndex: startIndex, limit: limit, rank: rank)
        var out: [T] = []
        out.reserveCapacity(page.points.count)
        for p in page.points {
            do { out.append(try ValueDecoding.decode(T.self, from: .object(p.data))) } catch {
                throw DreamlakeError(.invalidValue, "point \(p.index) of track \(Names.quoted(name)): \(error.message)")
            }
        }
        return out
    }

    /// The envelope of `field` over points `range` (all of them by default),
    /// in at most `buckets` buckets: for each bucket, the first, last,
    /// smallest and largest finite value with their indexes, how many points
    /// it holds, and how many hold NaN, ±infinity or no number. A line
    /// through each bucket's four points draws what a line through every
    /// point draws (M4): a chart of any length, exact, from one bucket a
    /// pixel column.
    ///
    /// Buckets span equal numbers of indexes, except that a local store moves
    /// an edge by up to an eighth of a span onto a block boundary, so that it
    /// merges stored per-block summaries instead of decoding points: read
    /// each bucket's `range`. The cost grows with the blocks and buckets in
    /// the range, not with its points.
    ///
    /// - Parameters:
    ///   - field: The numeric field; "value" by default.
    ///   - range: The indexes to cover; nil for the whole track.
    ///   - buckets: How many buckets, 1 to 1,000,000 (a chart's width in pixels, say).
    /// - Returns: The buckets in index order; none for a track with no points in `range`.
    /// - Throws: ``DreamlakeError`` with `.invalidInput` for a bucket count out of range.
    public func envelope(field: String = "value", range: Range<UInt64>? = nil, buckets: Int) throws(DreamlakeError) -> [EnvelopeBucket] {
        try envelopes(fields: [field], range: range, buckets: buckets)[0]
    }

    /// The envelopes of several fields over the same points and buckets,
    /// read in one pass: a chart's value and the step its x axis shows, say.
    ///
    /// - Parameters:
    ///   - fields: The numeric fields, at least one.
    ///   - range: The indexes to cover; nil for the whole track.
    ///   - buckets: How many buckets, 1 to 1,000,000.
    /// - Returns: One array of buckets a field, in the order of `fields`;
    ///   bucket `k` of each covers the same indexes (see ``envelope(field:range:buckets:)``).
    /// - Throws: ``DreamlakeError`` with `.invalidInput` for a bucket count out of range or no field.
    public func envelopes(fields: [String], range: Range<UInt64>? = nil, buckets: Int) throws(DreamlakeError) -> [[EnvelopeBucket]] {
        guard EnvelopeBuilder.bucketLimit.contains(buckets) else {
            throw DreamlakeError(.invalidInput, "an envelope has 1 to 1,000,000 buckets, not \(buckets)")
        }
        guard !fields.isEmpty else { throw DreamlakeError(.invalidInput, "an envelope is of at least one field") }
        return try session.backend().envelopes(of: name, fields: fields, range: range, buckets: buckets)
    }

    /// How many of the track's points are durable: written and fsync'd by the
    /// background writer, so that they survive a crash or a power loss
    /// (points 0 ..< the result). Appends return before that; this says when
    /// it has happened, without waiting (``Session/flush()`` waits).
    public func durableCount() throws(DreamlakeError) -> UInt64 {
        let store = try session.requireStore()
        guard let info = store.trackInfo(named: name) else { return 0 }
        return store.durableCount(of: .track(info.id))
    }

    /// The track's statistics: count, first and last index and time, description, tags, metadata.
    ///
    /// - Throws: ``DreamlakeError`` with `.notFound` when nothing was ever appended to it.
    public func stats() throws(DreamlakeError) -> TrackStats {
        try session.backend().stats(of: name)
    }
}

/// A page of a track's points.
public struct TrackPage: Sendable {
    /// One point as read back.
    public struct Point: Sendable, Equatable {
        /// Its index in the track.
        public var index: UInt64
        /// Its fields, in the order they were given.
        public var data: ValueObject
        /// When it was appended, in microseconds since the Unix epoch.
        public var timestamp: Int64
        /// The rank of the session that appended it (its writer slot: the
        /// rank given at open, or the one it was given); 0 in a session only
        /// one process wrote, nil when a remote-only session's server read it.
        public var rank: UInt32?
        /// When it was appended.
        public var createdAt: Date { Timestamps.date(micros: timestamp) }
    }

    /// The points, in index order.
    public var points: [Point]
    /// The index asked for.
    public var startIndex: UInt64
    /// Whether the track has points after these (by the rank asked for, when one was).
    public var hasMore: Bool
}

/// What a track holds.
public struct TrackStats: Sendable {
    /// The track's name.
    public var name: String
    /// How many points it holds.
    public var count: UInt64
    /// The first and last index, nil when it is empty.
    public var firstIndex: UInt64?
    public var lastIndex: UInt64?
    /// When the first and the last point were appended (microseconds since the Unix epoch).
    public var firstTimestamp: Int64?
    public var lastTimestamp: Int64?
    /// The track's description, tags and metadata.
    public var description: String?
    public var tags: [String]
    public var metadata: ValueObject?
    /// When the track was defined (microseconds since the Unix epoch).
    public var createdAt: Int64
    /// When the track was last changed: its last point's timestamp, or
    /// when its definition last changed if that is later.
    public var updatedAt: Int64

    /// When the first point was appended, nil when there is none.
    public var firstDate: Date? { firstTimestamp.map(Timestamps.date(micros:)) }
    /// When the last point was appended, nil when there is none.
    public var lastDate: Date? { lastTimestamp.map(Timestamps.date(micros:)) }
    /// When the track was defined (``createdAt`` as a `Date`).
    public var createdDate: Date { Timestamps.date(micros: createdAt) }
    /// When the track last changed (``updatedAt`` as a `Date`).
    public var updatedDate: Date { Timestamps.date(micros: updatedAt) }

    init(info: TrackInfo, store: Store) throws(DreamlakeError) {
        name = info.name
        count = info.count
        description = info.fields["description"]?.stringValue
        tags = info.fields["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        metadata = info.fields["metadata"]?.objectValue
        createdAt = info.createdAt
        updatedAt = info.updatedAt
        if info.count > 0 {
            firstIndex = 0
            lastIndex = info.count - 1
            do {
                let bounds = try store.timestampBounds(of: info.id)
                firstTimestamp = bounds?.first
                lastTimestamp = bounds?.last
            } catch { throw DreamlakeError(error) }
            if let lastTimestamp { updatedAt = max(updatedAt, lastTimestamp) }
        }
    }
}

/// The engine handles a ``Track`` value got, each with the session generation
/// (opening) it got it in. The first is set once and then read without a lock:
/// a lock and a release per append were a fifth of the fast path. A handle
/// of a later opening (after a close and a reopen) sits behind a lock.
final class TrackCache: @unchecked Sendable {
    /// 0: `first` is empty; 1: it is being set; 2: it is set, and never written again.
    private let state = Atomic<Int>(0)
    private var first: (generation: UInt64, handle: TrackHandle)?
    private let later = Locked<(generation: UInt64, handle: TrackHandle)?>(nil)

    /// The handle got in `generation`, if this cache holds it.
    @inline(__always)
    func handle(in generation: UInt64) -> TrackHandle? {
        if state.load(ordering: .acquiring) == 2, let first, first.generation == generation { return first.handle }
        if let entry = later.withLock({ $0 }), entry.generation == generation { return entry.handle }
        return nil
    }

    /// Keeps `handle`, got in `generation`.
    func keep(_ handle: TrackHandle, in generation: UInt64) {
        if state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged {
            first = (generation, handle)
            state.store(2, ordering: .releasing)
        } else {
            later.withLock { $0 = (generation, handle) }
        }
    }
}
