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
}

/// Builds an envelope from points given in index order: the engine's reads
/// feed it blocks, a remote session's reads feed it pages.
package struct EnvelopeBuilder: Sendable {
    /// The indexes summarized.
    package let range: Range<UInt64>
    /// Points per bucket (the last may hold fewer).
    package let span: UInt64
    private(set) var buckets: [EnvelopeBucket]

    /// Cuts `range` into at most `buckets` buckets of equal span (one point a bucket when there are fewer points).
    package init(range: Range<UInt64>, buckets: Int) {
        self.range = range
        let n = UInt64(Swift.max(1, buckets))
        let width = UInt64(range.count)
        span = Swift.max(1, width / n + (width % n == 0 ? 0 : 1))
        var out: [EnvelopeBucket] = []
        var lo = range.lowerBound
        while lo < range.upperBound {
            let hi = range.upperBound - lo > span ? lo + span : range.upperBound
            out.append(EnvelopeBucket(range: lo..<hi))
            lo = hi
        }
        self.buckets = out
    }

    /// Point `index`'s value of the field; nil when it has none.
    @inline(__always)
    package mutating func add(_ index: UInt64, _ value: Double?) {
        guard range.contains(index) else { return }
        let k = Int((index - range.lowerBound) / span)
        if let value { buckets[k].add(index, value) } else { buckets[k].missingCount += 1 }
    }

    /// The points of `block` in the range, with the field `key`: bucket by
    /// bucket, so that the loop over a column does no division.
    package mutating func add(_ block: PointBlock, field key: String) {
        let lo = Swift.max(range.lowerBound, block.firstIndex), hi = Swift.min(range.upperBound, block.endIndex)
        var at = lo
        while at < hi {
            let k = Int((at - range.lowerBound) / span)
            let end = Swift.min(hi, buckets[k].range.upperBound)
            var bucket = buckets[k]
            let first = block.firstIndex
            let from = Int(at - first), to = Int(end - first)
            switch block.layout {
            case let .columns(keys, columns):
                if let c = keys.firstIndex(of: key) {
                    switch columns[c] {
                    case .double(let v): for i in from..<to { bucket.add(first + UInt64(i), v[i]) }
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
            buckets[k] = bucket
            at = end
        }
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
    /// points there are), in at most `buckets` buckets of equal index span:
    /// each bucket's first, last, smallest and largest finite value, its count,
    /// and how many points hold NaN, ±infinity or no number there.
    ///
    /// A line through each bucket's four points draws exactly what a line
    /// through every point draws, at one bucket a pixel column; with a bucket
    /// for each point it is every point.
    ///
    /// - Parameters:
    ///   - buckets: How many buckets, at least 1 (at most 1,000,000).
    /// - Throws: ``StoreError`` with `.invalidArgument` for a bucket count out of range.
    public func envelope(of track: TrackID, field: String, range: Range<UInt64>? = nil,
                         buckets: Int) throws(StoreError) -> [EnvelopeBucket] {
        guard (1...1_000_000).contains(buckets) else {
            throw StoreError(.invalidArgument, "an envelope has 1 to 1,000,000 buckets, not \(buckets)")
        }
        let count = count(of: .track(track))
        let wanted = range ?? 0..<count
        let clipped = Swift.min(wanted.lowerBound, count)..<Swift.min(wanted.upperBound, count)
        var builder = EnvelopeBuilder(range: clipped, buckets: buckets)
        guard !clipped.isEmpty else { return [] }
        do {
            try forEachPointBlock(of: track, from: clipped.lowerBound, to: clipped.upperBound) { block in
                builder.add(block, field: field)
                return true
            }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError(.io, "\(error)")
        }
        return builder.result
    }
}
