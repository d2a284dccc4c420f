import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeStore

// Issue 16, item 5: a track's envelope (M4: first, last, min and max a
// bucket) is what summarizing every point one by one gives, on every layout
// a block can have, in written, sealed and open blocks, for any range.

/// The envelope over `ranges` computed the slow way: every point read, one at a time.
private func bruteForce(_ store: Store, _ track: TrackID, field: String, ranges: [Range<UInt64>]) throws -> [EnvelopeBucket] {
    guard let lo = ranges.first?.lowerBound, let hi = ranges.last?.upperBound else { return [] }
    var out = ranges.map { EnvelopeBucket(range: $0) }
    var k = 0
    for p in try store.points(of: track, from: lo, limit: Int(hi - lo)) {
        while !out[k].range.contains(p.index) { k += 1 }
        if p.index == out[k].range.lowerBound { out[k].firstTimestamp = p.timestamp }
        if p.index == out[k].range.upperBound - 1 { out[k].lastTimestamp = p.timestamp }
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

/// Checks that `got` cuts the track's points in `range` into at most
/// `buckets` buckets, end to end, each edge within an eighth of a span of
/// where equal spans put it; returns the buckets' ranges.
private func checkedRanges(_ got: [EnvelopeBucket], _ store: Store, _ track: TrackID, range: Range<UInt64>,
                           buckets: Int, sourceLocation: SourceLocation = #_sourceLocation) -> [Range<UInt64>] {
    let count = store.count(of: .track(track))
    let r = min(range.lowerBound, count)..<min(range.upperBound, count)
    guard !r.isEmpty else {
        #expect(got.isEmpty, sourceLocation: sourceLocation)
        return []
    }
    let span = max(1, (UInt64(r.count) + UInt64(buckets) - 1) / UInt64(buckets))
    #expect(got.count == Int((UInt64(r.count) + span - 1) / span), sourceLocation: sourceLocation)
    #expect(got.first?.range.lowerBound == r.lowerBound && got.last?.range.upperBound == r.upperBound, sourceLocation: sourceLocation)
    for (k, b) in got.enumerated() {
        #expect(!b.range.isEmpty, sourceLocation: sourceLocation)
        if k > 0 { #expect(got[k - 1].range.upperBound == b.range.lowerBound, sourceLocation: sourceLocation) }
        let ideal = r.lowerBound + UInt64(k) * span
        #expect(max(ideal, b.range.lowerBound) - min(ideal, b.range.lowerBound) <= span / 8, "bucket \(k) of \(got.count) starts at \(b.range.lowerBound)",
                sourceLocation: sourceLocation)
    }
    return got.map(\.range)
}

/// Every envelope of the tracks `fill` wrote, at several ranges and bucket
/// counts, against the slow way.
private func checkEveryEnvelope(_ store: Store, _ phase: String) throws {
    for name in ["doubles", "ints", "rows"] {
        let track = try #require(store.trackInfo(named: name)).id
        for field in name == "doubles" ? ["value", "step", "absent"] : ["value"] {
            let count = store.count(of: .track(track))
            let ranges: [Range<UInt64>] = [0..<count, 0..<1, 1..<2, 13..<1_234, count - 5..<count + 100, count..<count + 9, 500..<500]
            for range in ranges {
                for buckets in [1, 2, 7, 100, 2_000, 10_000] {
                    let got = try store.envelope(of: track, field: field, range: range, buckets: buckets)
                    let ranges = checkedRanges(got, store, track, range: range, buckets: buckets)
                    let want = try bruteForce(store, track, field: field, ranges: ranges)
                    #expect(got == want, "\(phase): track \(name) \(field) \(range) in \(buckets)")
                    // Several fields in one pass are each field's own envelope.
                    let together = try store.envelopes(of: track, fields: [field, "step", field], range: range, buckets: buckets)
                    #expect(together == [got, try store.envelope(of: track, field: "step", range: range, buckets: buckets), got])
                    #expect(got.count <= buckets)
                    #expect(got.reduce(0) { $0 + $1.count + $1.nanCount + $1.positiveInfinityCount + $1.negativeInfinityCount + $1.missingCount }
                            == UInt64(got.reduce(0) { $0 + $1.range.count }))
                }
            }
        }
    }
}

@Suite struct EnvelopeTests {
    /// Small blocks and segments: many blocks, bucket edges inside them, and
    /// sealed segments with summary files.
    static var configuration: StoreConfiguration {
        var config = StoreConfiguration(durability: .buffered)
        config.maxRecordsPerBlock = 97
        config.segmentSize = 16 << 10
        return config
    }

    static func fill(_ store: Store) throws {
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
    }

    @Test func theEnvelopeIsWhatEveryPointGives() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        do {
            let store = try Store(directory: dir.path, configuration: Self.configuration)
            defer { try? store.close() }
            try Self.fill(store)
            try checkEveryEnvelope(store, "open blocks in the writer")
            try store.flush()
            try checkEveryEnvelope(store, "written blocks, summarized by the writer")
            let doubles = try #require(store.trackInfo(named: "doubles")).id
            // The spike survives any number of buckets.
            for buckets in [1, 3, 50] {
                #expect(try store.envelope(of: doubles, field: "value", buckets: buckets).contains { $0.max?.value == 1e9 })
            }
            #expect(throws: StoreError.self) { try store.envelope(of: doubles, field: "value", buckets: 0) }
            #expect(try store.envelope(of: TrackID(rawValue: 999), field: "value", buckets: 5).isEmpty)
        }
        // Every segment has its summary file: the sealed ones, and the active one since the writer closed.
        var summaries = dir.segmentFiles().map { $0.replacingOccurrences(of: ".dls", with: ".dlm") }
        #expect(summaries.count > 2 && summaries.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        try checkEveryEnvelope(try Store(directory: dir.path, access: .read), "read back through the summary files")
        // A writer that opens the store again drops the active segment's file (it is about to grow), keeping
        // its entries, and writes it anew when it seals the segment or closes: the sealed segment has its file
        // even when the writer's first block went to the next segment (a timing that once failed this test).
        do {
            let store = try Store(directory: dir.path, configuration: Self.configuration)
            #expect(!FileManager.default.fileExists(atPath: summaries.last!))
            let doubles = try store.track(named: "doubles")
            for i in 0..<150 { try doubles.append(["value": .double(Double(i % 7) - 3), "step": .int(Int64(5_000 + i))]) }
            try store.close()
        }
        summaries = dir.segmentFiles().map { $0.replacingOccurrences(of: ".dls", with: ".dlm") }
        #expect(summaries.allSatisfy { FileManager.default.fileExists(atPath: $0) },
                "\((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/segments").sorted()) ?? [])")
        try checkEveryEnvelope(try Store(directory: dir.path, access: .read), "read back through the summary files")
        let sound = try Store.verify(directory: dir.path)
        #expect(sound.isSound && sound.ignoredSummaries.isEmpty && sound.wrongSummaries.isEmpty, "\(sound)")
        // A damaged summary file is ignored: the summaries are computed from the blocks.
        for path in summaries {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[bytes.count / 2] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        try checkEveryEnvelope(try Store(directory: dir.path, access: .read), "damaged summary files")
        let damaged = try Store.verify(directory: dir.path)
        #expect(damaged.isSound && damaged.ignoredSummaries.sorted() == summaries.sorted(), "\(damaged)")
        // A store without them (as version 1 wrote it) reads the same.
        for path in summaries { try FileManager.default.removeItem(atPath: path) }
        try checkEveryEnvelope(try Store(directory: dir.path, access: .read), "no summary files")
    }

    /// A writer that opens the store and seals the active segment before it writes a block of its own
    /// (its first block did not fit, say) leaves that segment's summary file whole: it took the entries
    /// of the file it deleted at opening.
    @Test func aReopenedWriterKeepsTheActiveSegmentsSummaries() throws {
        let dir = try Self.filledAndClosed()
        defer { dir.remove() }
        let active = try #require(dir.segmentFiles().last).replacingOccurrences(of: ".dls", with: ".dlm")
        let before = try Data(contentsOf: URL(fileURLWithPath: active))
        let store = try Store(directory: dir.path, configuration: Self.configuration)
        #expect(!FileManager.default.fileExists(atPath: active), "deleted at opening: the segment is about to grow")
        try store.sealSegment()
        try store.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: active)) == before, "the same file, written again when it was sealed")
        let report = try Store.verify(directory: dir.path)
        #expect(report.isSound && report.ignoredSummaries.isEmpty && report.wrongSummaries.isEmpty, "\(report)")
    }

    /// A store `fill` wrote and closed.
    static func filledAndClosed() throws -> TempDirectory {
        let dir = TempDirectory()
        let store = try Store(directory: dir.path, configuration: configuration)
        try fill(store)
        try store.close()
        return dir
    }

    /// Rewrites segment 1's summary file, its checksum right, so that the
    /// first block's "value" has a maximum of 12345, which no point holds;
    /// returns the file's path and the block's offset.
    static func forgeFirstSummary(_ dir: TempDirectory, segment: Int = 0) throws -> (path: String, offset: UInt64) {
        let first = dir.segmentFiles()[segment]
        let summaryPath = first.replacingOccurrences(of: ".dls", with: ".dlm")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: summaryPath)))
        let length = UInt64(try FileManager.default.attributesOfItem(atPath: first)[.size] as! Int)
        let result = SegmentSummary.decode(bytes, writer: 0, segment: UInt64(segment + 1), segmentLength: length)
        let number = UInt64(segment + 1)
        guard case .success(let decoded) = result else { throw DecodeError("the writer's summary file does not decode: \(result)") }
        // Raise the maximum of the first block's "value" to a number no point holds.
        let offset = try #require(decoded.keys.min())
        var entry = try #require(decoded[offset])
        let k = try #require(entry.summary.fields.firstIndex { $0.name == "value" })
        entry.summary.fields[k].bucket.max!.value = 12345
        let forged = SegmentSummary.encode(writer: 0, segment: number, segmentLength: length,
                                           blocks: decoded.keys.sorted().map { o in o == offset ? (o, entry.track, entry.summary) : (o, decoded[o]!.track, decoded[o]!.summary) })
        try Data(forged).write(to: URL(fileURLWithPath: summaryPath))
        return (summaryPath, offset)
    }

    /// The summary files are what an envelope reads: a summary that says
    /// otherwise than its block (a crafted file, its checksum right) shows.
    @Test func envelopesReadTheSummaryFiles() throws {
        let dir = try Self.filledAndClosed()
        defer { dir.remove() }
        let (summaryPath, offset) = try Self.forgeFirstSummary(dir)
        let store = try Store(directory: dir.path, access: .read)
        let doubles = try #require(store.trackInfo(named: "doubles")).id
        #expect(try store.envelope(of: doubles, field: "value", range: 0..<970, buckets: 1).first?.max?.value == 12345)
        // Every point decoded (a bucket a point) does not read summaries.
        #expect(try store.envelope(of: doubles, field: "value", range: 0..<97, buckets: 97).allSatisfy { $0.max?.value != 12345 })
        // Verifying finds the lie, and names the file and the block.
        let report = try Store.verify(directory: dir.path)
        #expect(!report.isSound && report.damage.isEmpty)
        #expect(report.wrongSummaries.map(\.path) == [summaryPath] && report.wrongSummaries.map(\.offset) == [offset], "\(report)")
        // The active segment's file, written at close, is read as well: its forgery shows too.
        let last = try Self.forgeFirstSummary(dir, segment: dir.segmentFiles().count - 1)
        #expect(try Store.verify(directory: dir.path).wrongSummaries.map(\.path).sorted() == [summaryPath, last.path].sorted())
    }

    /// A summary file that is a link or a FIFO is never followed nor opened:
    /// envelopes decode the blocks, and nothing blocks.
    @Test func aSummaryFileThatIsALinkOrAFIFOIsIgnored() throws {
        let dir = try Self.filledAndClosed()
        defer { dir.remove() }
        let (summaryPath, _) = try Self.forgeFirstSummary(dir)
        // The forged file moves out of the store, and a link to it takes its place.
        let outside = dir.path + "/elsewhere.dlm"
        try FileManager.default.moveItem(atPath: summaryPath, toPath: outside)
        try FileManager.default.createSymbolicLink(atPath: summaryPath, withDestinationPath: outside)
        let second = dir.segmentFiles()[1].replacingOccurrences(of: ".dls", with: ".dlm")
        try FileManager.default.removeItem(atPath: second)
        #expect(mkfifo(second, 0o644) == 0)
        let store = try Store(directory: dir.path, access: .read)
        let doubles = try #require(store.trackInfo(named: "doubles")).id
        #expect(try store.envelope(of: doubles, field: "value", range: 0..<970, buckets: 1).first?.max?.value != 12345)
        try checkEveryEnvelope(store, "a link and a FIFO for summary files")
        let report = try Store.verify(directory: dir.path)
        #expect(report.isSound && Set(report.ignoredSummaries) == [summaryPath, second], "\(report)")
    }

    /// A range wider than Int.max (a salvaged stream may start anywhere) is cut into buckets without a trap.
    @Test func bucketsOfIndexesPast2To63() {
        let range = UInt64(1)..<UInt64.max  // wider than Int.max
        let builder = EnvelopeBuilder(range: range, buckets: 10, boundaries: [range.lowerBound + 12345])
        #expect(builder.result.count == 10)
        #expect(builder.result.first?.range.lowerBound == range.lowerBound && builder.result.last?.range.upperBound == range.upperBound)
    }
}
