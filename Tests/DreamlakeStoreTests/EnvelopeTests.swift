import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeStore

// Issue 16, item 5: a track's envelope (M4: first, last, min and max a
// bucket) is what summarizing every point one by one gives, on every layout
// a block can have, in written, sealed and open blocks, for any range.

/// The envelope computed the slow way: every point read, one at a time.
private func bruteForce(_ store: Store, _ track: TrackID, field: String, range: Range<UInt64>, buckets: Int) throws -> [EnvelopeBucket] {
    let count = store.count(of: .track(track))
    let r = min(range.lowerBound, count)..<min(range.upperBound, count)
    guard !r.isEmpty else { return [] }
    let span = max(1, (UInt64(r.count) + UInt64(buckets) - 1) / UInt64(buckets))
    var out: [EnvelopeBucket] = []
    for p in try store.points(of: track, from: r.lowerBound, limit: r.count) {
        let k = Int((p.index - r.lowerBound) / span)
        if k == out.count {
            let lo = r.lowerBound + UInt64(k) * span
            out.append(EnvelopeBucket(range: lo..<min(lo + span, r.upperBound)))
        }
        let v: Double?
        switch p.data[field] {
        case .int(let i)?: v = Double(i)
        case .double(let d)?: v = d
        default: v = nil
        }
        guard let v else { out[k].missingCount += 1; continue }
        if v.isNaN { out[k].nanCount += 1; continue }
        if v == .infinity { out[k].positiveInfinityCount += 1; continue }
        if v == -.infinity { out[k].negativeInfinityCount += 1; continue }
        let e = EnvelopePoint(index: p.index, value: v)
        if out[k].first == nil { out[k].first = e }
        out[k].last = e
        if out[k].min == nil || v < out[k].min!.value { out[k].min = e }
        if out[k].max == nil || v > out[k].max!.value { out[k].max = e }
        out[k].count += 1
    }
    return out
}

@Suite struct EnvelopeTests {
    @Test func theEnvelopeIsWhatEveryPointGives() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var config = StoreConfiguration(durability: .buffered)
        config.maxRecordsPerBlock = 97  // many blocks, and bucket edges inside them
        let store = try Store(directory: dir.path, configuration: config)
        defer { try? store.close() }
        var rng = SplitMix64(seed: 16)
        // Columns of doubles with spikes and non-finite values.
        let doubles = try store.track(named: "doubles")
        for i in 0..<5_000 {
            let r = Double(rng.next() % 1000) / 1000
            let v: Double = i % 777 == 0 ? .nan : i % 1013 == 0 ? .infinity : i % 1999 == 0 ? -.infinity
                : i == 2500 ? 1e9 : referenceLoss(i) + r
            try doubles.append(["value": .double(v), "step": .int(Int64(i))])
        }
        // Columns of integers.
        let ints = try store.track(named: "ints")
        for _ in 0..<3_000 { try ints.append(["value": .int(Int64(rng.next() % 10_000) - 5_000)]) }
        // Rows: the field missing, a string, a number.
        let rows = try store.track(named: "rows")
        for i in 0..<2_000 {
            switch i % 4 {
            case 0: try rows.append(["value": .double(Double(i) * 0.5), "tag": "a"])
            case 1: try rows.append(["other": .int(1)])
            case 2: try rows.append(["value": "text"])
            default: try rows.append(["value": .int(Int64(-i)), "x": [1, 2]])
            }
        }
        for phase in ["open blocks in the writer", "written blocks"] {
            for (track, field) in [(doubles.id, "value"), (doubles.id, "step"), (doubles.id, "absent"), (ints.id, "value"), (rows.id, "value")] {
                let count = store.count(of: .track(track))
                let ranges: [Range<UInt64>] = [0..<count, 0..<1, 1..<2, 13..<1_234, count - 5..<count + 100, count..<count + 9, 500..<500]
                for range in ranges {
                    for buckets in [1, 2, 7, 100, 2_000, 10_000] {
                        let got = try store.envelope(of: track, field: field, range: range, buckets: buckets)
                        let want = try bruteForce(store, track, field: field, range: range, buckets: buckets)
                        #expect(got == want, "\(phase): track \(track) \(field) \(range) in \(buckets)")
                        #expect(got.count <= buckets)
                        #expect(got.reduce(0) { $0 + $1.count + $1.nanCount + $1.positiveInfinityCount + $1.negativeInfinityCount + $1.missingCount }
                                == UInt64(got.reduce(0) { $0 + $1.range.count }))
                    }
                }
            }
            try store.flush()
        }
        // The spike survives any number of buckets.
        for buckets in [1, 3, 50] {
            #expect(try store.envelope(of: doubles.id, field: "value", buckets: buckets).contains { $0.max?.value == 1e9 })
        }
        #expect(throws: StoreError.self) { try store.envelope(of: doubles.id, field: "value", buckets: 0) }
        #expect(try store.envelope(of: TrackID(rawValue: 999), field: "value", buckets: 5).isEmpty)
    }
}
