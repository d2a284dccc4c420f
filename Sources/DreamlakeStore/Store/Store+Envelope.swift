// A track's envelope: the points of an index range cut into buckets, each
// summarized by its first, last, smallest and largest value (M4, Jugel et
// al., VLDB 2014). A line drawn through those four points of every pixel
// column is the line drawn through all the points, so a chart of any length
// is exact at any zoom from a few thousand numbers.

/// One point of an envelope: its index in the track and the field's value there.
public struct EnvelopePoint: Sendable, Equatable {
    /// The point's index in the track.
    public var index: UInt64
    /// The field's value (an integer field's value converted to `Double`).
    public var value: Double

    public init(index: UInt64, value: Double) {
        self.index = index
        self.value = value
    }
}

/// The points of a track in `range`, summarized as M4 keeps them.
public struct EnvelopeBucket: Sendable, Equatable {
    /// The indexes the bucket covers (points past the track's end are not there).
    public var range: Range<UInt64>
    /// The first and last point with a finite value in the field.
    public var first: EnvelopePoint?
    public var last: EnvelopePoint?
    /// The points with the smallest and the largest finite value (the first of equals).
    public var min: EnvelopePoint?
    public var max: EnvelopePoint?
    /// How many points hold a finite number in the field.
    public var count: UInt64 = 0
    /// How many hold NaN, +infinity or -infinity there: marked on a chart, never drawn as numbers.
    public var nanCount: UInt64 = 0
    public var positiveInfinityCount: UInt64 = 0
    public var negativeInfinityCount: UInt64 = 0
    /// How many have no number in the field (no such key, or a value that is not a number).
    public var missingCount: UInt64 = 0
    /// The timestamps (microseconds since 1970) of the first and the last
    /// point of `range`, whatever they hold: where a chart whose x axis is
    /// time puts the bucket. Nil only for a bucket of no points.
    public var firstTimestamp: Int64?
    public var lastTimestamp: Int64?

    public init(range: Range<UInt64>) { self.range = range }

    /// Takes in point `index`'s value; points must come in index order.
    @inline(__always)
    mutating func add(_ index: UInt64, _ value: Double) {
        guard value.isFinite else {
            if value.isNaN { nanCount += 1 } else if value > 0 { positiveInfinityCount += 1 } else { negativeInfinityCount += 1 }
            return
        }
        let p = EnvelopePoint(index: index, value: value)
        if first == nil { first = p }
        last = p
        if min.map({ value < $0.value }) ?? true { min = p }
        if max.map({ value > $0.value }) ?? true { max = p }
        count += 1
    }

    /// Takes in `values[from..<to]`, the values of points `firstIndex + from ..< firstIndex + to`,
    /// which follow every point taken in before: what ``add(_:_:)`` does for each, with the
    /// running first, last, smallest and largest kept in locals, not in the optionals.
    mutating func add(_ values: UnsafeBufferPointer<Double>, from: Int, to: Int, firstIndex: UInt64) {
        var lo = Double.infinity, hi = -Double.infinity
        var loAt = -1, hiAt = -1, firstAt = -1, lastAt = -1
        var finite = 0
        for i in from..<to {
            let x = values[i]
            if x.isFinite {
                if firstAt < 0 { firstAt = i }
                lastAt = i
                // Every finite value is below +infinity and above -infinity; the first of equals stays.
                if x < lo { lo = x; loAt = i }
                if x > hi { hi = x; hiAt = i }
                finite += 1
            } else if x.isNaN {
                nanCount += 1
            } else if x > 0 {
                positiveInfinityCount += 1
            } else {
                negativeInfinityCount += 1
            }
        }
        guard finite > 0 else { return }
        func point(_ i: Int) -> EnvelopePoint { EnvelopePoint(index: firstIndex + UInt64(i), value: values[i]) }
        if first == nil { first = point(firstAt) }
        last = point(lastAt)
        if min.map({ lo < $0.value }) ?? true { min = point(loAt) }
        if max.map({ hi > $0.value }) ?? true { max = point(hiAt) }
        count += UInt64(finite)
    }
}

/// Builds an envelope from points given in index order: the engine's reads
/// feed it block summaries and blocks, a remote session's reads feed it pages.
package struct EnvelopeBuilder: Sendable {
    /// How many buckets an envelope may have.
    package static let bucketLimit = 1...1_000_000

    /// `wanted` (nil: everything) cut to the `count` points a track has.
    package static func clip(_ wanted: Range<UInt64>?, to count: UInt64) -> Range<UInt64> {
        let w = wanted ?? 0..<count
        return Swift.min(w.lowerBound, count)..<Swift.min(w.upperBound, count)
    }

    /// The indexes summarized.
    package let range: Range<UInt64>
    private(set) var buckets: [EnvelopeBucket]
    /// The bucket the last point went to: points come in order.
    private var cursor = 0

    /// Cuts `range` into at most `buckets` buckets of equal span (one point a
    /// bucket when there are fewer points). Where a block boundary lies
    /// within an eighth of a span of an edge, the edge moves onto it, so that
    /// the blocks between edges are summarized whole: `boundaries` are the
    /// first indexes of the blocks in the range, in order.
    package init(range: Range<UInt64>, buckets: Int, boundaries: [UInt64] = []) {
        self.range = range
        let n = UInt64(Swift.max(1, buckets))
        let width = range.upperBound - range.lowerBound  // not range.count: an Int, which a salvaged stream's indexes past 2^63 would trap
        let span = Swift.max(1, width / n + (width % n == 0 ? 0 : 1))
        let slack = span / 8
        var out: [EnvelopeBucket] = []
        var lo = range.lowerBound
        var b = 0  // the first boundary past `lo`
        var k: UInt64 = 1
        while lo < range.upperBound {
            // Where equal spans put this bucket's end (k spans from the start), and the nearest block boundary.
            let (offset, overflow) = k.multipliedReportingOverflow(by: span)
            var hi = !overflow && width > offset ? range.lowerBound + offset : range.upperBound
            k += 1
            if slack > 0 && hi < range.upperBound {
                while b < boundaries.count && boundaries[b] <= lo { b += 1 }
                var i = b
                while i < boundaries.count && boundaries[i] < hi { i += 1 }
                func distance(_ x: UInt64) -> UInt64 { x > hi ? x - hi : hi - x }
                let below = i > b ? boundaries[i - 1] : nil, above = i < boundaries.count ? boundaries[i] : nil
                let near = [below, above].compactMap { $0 }.min { distance($0) < distance($1) }
                if let near, distance(near) <= slack, near > lo, near < range.upperBound { hi = near }
            }
            out.append(EnvelopeBucket(range: lo..<hi))
            lo = hi
        }
        self.buckets = out
    }

    /// The bucket holding `index` (which is in the range).
    @inline(__always)
    private mutating func bucket(of index: UInt64) -> Int {
        if buckets[cursor].range.contains(index) { return cursor }
        var lo = 0, hi = buckets.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if buckets[mid].range.upperBound <= index { lo = mid + 1 } else { hi = mid }
        }
        cursor = lo
        return lo
    }

    /// Point `index`'s value of the field (nil when it has none) and timestamp.
    @inline(__always)
    package mutating func add(_ index: UInt64, _ value: Double?, timestamp: Int64) {
        guard range.contains(index) else { return }
        let k = bucket(of: index)
        if let value { buckets[k].add(index, value) } else { buckets[k].missingCount += 1 }
        if buckets[k].firstTimestamp == nil { buckets[k].firstTimestamp = timestamp }
        buckets[k].lastTimestamp = timestamp
    }

    /// The bucket `block` lies in whole, if one holds it.
    func bucketHolding(_ block: Range<UInt64>) -> Int? {
        guard range.lowerBound <= block.lowerBound, block.upperBound <= range.upperBound, !block.isEmpty else { return nil }
        var copy = self
        let k = copy.bucket(of: block.lowerBound)
        return block.upperBound <= buckets[k].range.upperBound ? k : nil
    }

    /// Takes in a block's summary of the field; the block lies whole in bucket `k`
    /// (``bucketHolding(_:)``) and follows every point added so far.
    mutating func add(_ summary: EnvelopeBucket, into k: Int) {
        buckets[k].absorb(summary)
        cursor = k
    }

    /// The points of `block` in the range, with the field `key`, which follow every point added so far.
    package mutating func add(_ block: PointBlock, field key: String) {
        absorb(parts(of: block, field: key))
    }

    /// What ``add(_:field:)`` adds of `block`: for each bucket it falls in, a bucket of the block's points
    /// there alone. It changes nothing, so blocks can be folded on several threads at once, and then
    /// taken in (``absorb(_:)``) in order. Bucket by bucket, so that the loop over a column looks up no bucket.
    package func parts(of block: PointBlock, field key: String) -> [(bucket: Int, part: EnvelopeBucket)] {
        var finder = self  // its cursor only
        var out: [(bucket: Int, part: EnvelopeBucket)] = []
        let lo = Swift.max(range.lowerBound, block.firstIndex), hi = Swift.min(range.upperBound, block.endIndex)
        var at = lo
        while at < hi {
            let k = finder.bucket(of: at)
            let end = Swift.min(hi, buckets[k].range.upperBound)
            var bucket = EnvelopeBucket(range: buckets[k].range)
            let first = block.firstIndex
            let from = Int(at - first), to = Int(end - first)
            switch block.layout {
            case let .columns(keys, columns):
                if let c = keys.firstIndex(of: key) {
                    switch columns[c] {
                    case .double(let v): v.withUnsafeBufferPointer { bucket.add($0, from: from, to: to, firstIndex: first) }
                    case .int(let v): for i in from..<to { bucket.add(first + UInt64(i), Double(v[i])) }
                    }
                } else {
                    bucket.missingCount += end - at
                }
            case .rows(let rows):
                for i in from..<to {
                    if let d = EnvelopeBuilder.number(rows[i][key]) { bucket.add(first + UInt64(i), d) } else { bucket.missingCount += 1 }
                }
            }
            bucket.firstTimestamp = block.timestamps[from]
            bucket.lastTimestamp = block.timestamps[to - 1]
            out.append((k, bucket))
            at = end
        }
        return out
    }

    /// Takes in ``parts(of:field:)`` of a block that follows every point added so far.
    package mutating func absorb(_ parts: [(bucket: Int, part: EnvelopeBucket)]) {
        for (k, part) in parts { buckets[k].absorb(part) }
        if let last = parts.last { cursor = last.bucket }
    }

    /// The number a point's field holds, if any.
    package static func number(_ v: Value?) -> Double? {
        switch v {
        case .int(let i)?: Double(i)
        case .double(let d)?: d
        default: nil
        }
    }

    /// The buckets, in index order.
    package var result: [EnvelopeBucket] { buckets }
}

extension Store {
    /// The envelope of `field` over points `range` of `track` (clipped to the
    /// points there are), in at most `buckets` buckets: each bucket's first,
    /// last, smallest and largest finite value, its count, and how many
    /// points hold NaN, ±infinity or no number there.
    ///
    /// Buckets have equal spans of indexes, except that an edge within an
    /// eighth of a span of a block boundary moves onto it: each bucket's
    /// `range` says what it covers. The blocks between edges are merged from
    /// their summaries (FORMAT.md, "Summary file"), so the cost grows with
    /// the number of blocks and buckets, not of points; only blocks that an
    /// edge still cuts are decoded.
    ///
    /// A line through each bucket's four points draws exactly what a line
    /// through every point draws, at one bucket a pixel column; with a bucket
    /// for each point it is every point.
    ///
    /// - Parameters:
    ///   - track: The track.
    ///   - field: The numeric field (an integer field's values are converted to `Double`).
    ///   - range: The indexes to cover; nil for every point.
    ///   - buckets: How many buckets, at least 1 (at most 1,000,000).
    /// - Throws: ``StoreError`` with `.invalidArgument` for a bucket count out
    ///   of range, `.corrupt` for a block that does not decode.
    public func envelope(of track: TrackID, field: String, range: Range<UInt64>? = nil,
                         buckets: Int) throws(StoreError) -> [EnvelopeBucket] {
        try envelopes(of: track, fields: [field], range: range, buckets: buckets)[0]
    }

    /// The envelopes of several fields over the same points and buckets, in
    /// one pass over the summaries and blocks: a chart's value and its x
    /// axis's step, say. One array a field, in the order of `fields`; bucket
    /// `k` of each covers the same indexes.
    ///
    /// - Throws: ``StoreError`` with `.invalidArgument` for a bucket count out
    ///   of range or no field, `.corrupt` for a block that does not decode.
    public func envelopes(of track: TrackID, fields: [String], range: Range<UInt64>? = nil,
                          buckets: Int) throws(StoreError) -> [[EnvelopeBucket]] {
        guard EnvelopeBuilder.bucketLimit.contains(buckets) else {
            throw StoreError(.invalidArgument, "an envelope has 1 to 1,000,000 buckets, not \(buckets)")
        }
        guard !fields.isEmpty else { throw StoreError(.invalidArgument, "an envelope is of at least one field") }
        let clipped = EnvelopeBuilder.clip(range, to: count(of: .track(track)))
        guard !clipped.isEmpty else { return fields.map { _ in [] } }
        let written = try blockSources(.track(track), from: clipped.lowerBound, to: clipped.upperBound)
        let boundaries = written.map(\.firstSequence)
        let builder = EnvelopeBuilder(range: clipped, buckets: buckets, boundaries: boundaries)
        var builders = fields.map { _ in builder }
        let directory = directory + "/" + StoreFiles.segmentDirectory
        let readFile = { [shared] (segment: SegmentID) in Store.summaryFile(directory, segment: segment, shared: shared) }
        // In slices, so that the blocks decoded at once stay few.
        var at = 0
        while at < written.count {
            let slice = written[at..<Swift.min(written.count, at + 64)]
            at = slice.endIndex
            var known: [BlockSummary?] = slice.map { shared.summaries.summary($0, readFile: readFile) }
            var decoded: [Int: PointBlock] = [:]
            // Blocks without a summary are decoded whole (their summary is made from every field);
            // blocks an edge cuts, only in the fields asked for.
            let unsummarized = slice.indices.filter { known[$0 - slice.startIndex] == nil }
            let cut = slice.indices.filter {
                known[$0 - slice.startIndex] != nil && builders[0].bucketHolding(slice[$0].firstSequence..<slice[$0].endSequence) == nil
            }
            for (i, batch) in zip(unsummarized, try Store.readBatches(unsummarized.map { slice[$0] }, shared: shared)) {
                guard case .points(let block) = batch else { continue }
                decoded[i] = block
                let summary = BlockSummary(block)
                shared.summaries.insert(slice[i], summary)
                known[i - slice.startIndex] = summary
            }
            // The blocks an edge cuts are decoded and folded into their buckets' parts on every core, then
            // taken in below in order (folding on one thread after decoding on all was a good part of a fine envelope).
            let (frozen, wanted, state) = (builders, Set(fields), shared)
            let cutParts = try concurrentMap(count: cut.count) { (j) throws(StoreError) -> [[(bucket: Int, part: EnvelopeBucket)]] in
                guard case .points(let block) = try Store.readBatch(slice[cut[j]], shared: state, fields: wanted) else { return [] }
                return fields.indices.map { f in frozen[f].parts(of: block, field: fields[f]) }
            }
            let partsOf = Dictionary(uniqueKeysWithValues: zip(cut, cutParts))
            for i in slice.indices {
                if let parts = partsOf[i] {
                    for f in parts.indices { builders[f].absorb(parts[f]) }
                } else if let block = decoded[i] {
                    for f in fields.indices { builders[f].add(block, field: fields[f]) }
                } else if let summary = known[i - slice.startIndex], let k = builders[0].bucketHolding(summary.range) {
                    for f in fields.indices { builders[f].add(summary.bucket(fields[f]), into: k) }
                }
            }
        }
        return builders.map(\.result)
    }

    /// A sealed segment's summary file, decoded and checked against the
    /// segment as it is; nil when there is none or it does not fit (then the
    /// summaries are computed from the blocks).
    static func summaryFile(_ directory: String, segment: SegmentID,
                            shared: SharedState) -> [UInt64: (track: UInt32, summary: BlockSummary)]? {
        let path = directory + "/" + StoreFiles.summaryName(segment)
        let bytes: [UInt8]?
        if FileSystem.kind(path) == .regular {
            bytes = try? readWhole(path)
        } else if shared.isRemote(segment) {
            bytes = try? shared.lock.withLock({ shared.remote })?.companion(named: StoreFiles.summaryName(segment))
        } else {
            bytes = nil
        }
        guard let bytes,
              let file = try? shared.file(segment),
              let length = try? file.size(),
              case .success(let summaries) = SegmentSummary.decode(bytes, writer: segment.writer, segment: segment.number, segmentLength: length) else {
            return nil
        }
        return summaries
    }
}
