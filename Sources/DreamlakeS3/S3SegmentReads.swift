import DreamlakeStore
import Foundation

// Reading a session's sealed segments where they are, in the bucket: ranged
// GETs of the bytes a read needs (the commit log, downloaded, says where each
// block is), with read-ahead for scans, through one cache per process whose
// size is bounded. A reader on a new machine fetches the commit log and then
// only the blocks it reads, not the session.

/// Ranges of objects read from a bucket, kept for reads that come back to
/// them, least recently used first out once they hold more than `limit` bytes.
/// Objects here are sealed segments, which never change: nothing goes stale.
package final class S3ReadCache: Sendable {
    /// The most bytes kept.
    package let limit: Int

    private struct Chunk {
        var start: UInt64
        var bytes: [UInt8]
        var lastUse: UInt64
        var end: UInt64 { start + UInt64(bytes.count) }
    }

    private struct State {
        /// By object URL, in no particular order (few per object).
        var chunks: [String: [Chunk]] = [:]
        var total = 0
        var clock: UInt64 = 0
    }

    private let state = Locked(State())

    /// The default limit, 256 MiB, or `DREAMLAKE_S3_READ_CACHE_MB` mebibytes of the process's environment.
    package static let shared: S3ReadCache = {
        let mb = ProcessInfo.processInfo.environment["DREAMLAKE_S3_READ_CACHE_MB"].flatMap { Int($0) }
        return S3ReadCache(limit: max(0, min(mb ?? 256, 1 << 30)) << 20)
    }()

    package init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// How many bytes are kept now.
    package var bytesKept: Int { state.withLock { $0.total } }

    /// `count` bytes of `object` from `offset`, when one kept range holds them all.
    func bytes(of object: String, at offset: UInt64, count: Int) -> [UInt8]? {
        state.withLock { s in
            s.clock += 1
            guard let i = s.chunks[object]?.firstIndex(where: { $0.start <= offset && offset + UInt64(count) <= $0.end }) else {
                return nil
            }
            s.chunks[object]![i].lastUse = s.clock
            let c = s.chunks[object]![i]
            let from = Int(offset - c.start)
            return Array(c.bytes[from..<(from + count)])
        }
    }

    /// Keeps `bytes`, the bytes of `object` from `start`, dropping the least recently used ranges to stay within the limit.
    func keep(_ bytes: [UInt8], of object: String, at start: UInt64) {
        guard bytes.count <= limit else { return }
        state.withLock { s in
            s.clock += 1
            s.chunks[object, default: []].append(Chunk(start: start, bytes: bytes, lastUse: s.clock))
            s.total += bytes.count
            while s.total > limit {
                // The oldest of all: few ranges are kept (the limit over the read-ahead's size), so a walk is cheap.
                var oldest: (String, Int, UInt64)?
                for (key, list) in s.chunks {
                    for (i, c) in list.enumerated() where oldest == nil || c.lastUse < oldest!.2 { oldest = (key, i, c.lastUse) }
                }
                guard let (key, i, _) = oldest else { break }
                s.total -= s.chunks[key]![i].bytes.count
                s.chunks[key]!.remove(at: i)
                if s.chunks[key]!.isEmpty { s.chunks[key] = nil }
            }
        }
    }
}

/// A sealed segment in the bucket, read by ranges. A read that follows the
/// last one fetches ahead, twice as far each time up to 8 MiB, so that a
/// scan makes few requests; a read elsewhere fetches 64 KiB or the block.
final class S3SegmentObject: SegmentBytes {
    let path: String
    private let client: S3Client
    private let bucket: String
    private let key: String
    private let length: UInt64
    /// The ETag the manifest records for the object, which every answer must carry (nil: an older manifest's).
    private let etag: String?
    /// Bytes of the segment the manifest carries: reads within them make no request.
    private let inline: [S3Manifest.Inline]
    private let cache: S3ReadCache
    /// Where the last fetch began and ended, and how far the next sequential one reaches.
    private let readAhead = Locked<(start: UInt64, end: UInt64, window: Int)>((0, 0, 0))

    static let firstWindow = 64 << 10
    static let maxWindow = 8 << 20

    init(client: S3Client, bucket: String, key: String, length: UInt64, etag: String?, inline: [S3Manifest.Inline] = [], cache: S3ReadCache) {
        self.client = client
        self.etag = etag
        self.inline = inline
        self.bucket = bucket
        self.key = key
        self.length = length
        self.cache = cache
        self.path = "s3://\(bucket)/\(key)"
    }

    func read(at offset: UInt64, count: Int) throws(IOFailure) -> [UInt8] {
        guard offset < length, count > 0 else { return [] }
        let wanted = Int(min(UInt64(count), length - offset))
        if let r = inline.first(where: { $0.offset <= offset && offset + UInt64(wanted) <= $0.end }) {
            let from = Int(offset - r.offset)
            return Array(r.bytes[from..<(from + wanted)])
        }
        if let kept = cache.bytes(of: path, at: offset, count: wanted) { return kept }
        let window = readAhead.withLock { r -> Int in
            // Within the last fetch or just past it: a scan (blocks are read by several threads, a little out of order).
            let sequential = r.window > 0 && offset >= r.start && offset <= r.end + UInt64(r.window)
            return sequential ? min(r.window * 2, Self.maxWindow) : Self.firstWindow
        }
        let fetch = min(UInt64(max(wanted, window)), length - offset)
        let data: Data?
        do { data = try client.get(bucket: bucket, key: key, range: offset..<(offset + fetch), etag: etag) } catch {
            if error.isReplaced { throw IOFailure(operation: "read", path: path, damagedAt: offset, reason: error.message) }
            throw IOFailure(operation: "read", path: path, reason: error.message + (error.isRetryable ? "; try again" : ""))
        }
        guard let data else {
            throw IOFailure(operation: "read", path: path, reason: "the segment the session's manifest names is not in the bucket")
        }
        guard UInt64(data.count) == fetch else {
            throw IOFailure(operation: "read", path: path,
                            reason: "bytes \(offset)..<\(offset + fetch) gave \(data.count) bytes: the object is shorter than the \(length) the manifest says")
        }
        let bytes = [UInt8](data)
        cache.keep(bytes, of: path, at: offset)
        readAhead.withLock { $0 = (offset, offset + fetch, Int(fetch)) }
        return Array(bytes[0..<wanted])
    }

    func size() throws(IOFailure) -> UInt64 { length }

    func close() throws(IOFailure) {}
}

extension S3SessionObjects: RemoteSegments {
    /// A sealed segment the newest manifest read names, read by ranges through this object's cache.
    package func segment(named name: String) throws(IOFailure) -> (any SegmentBytes)? {
        guard let s = knownManifest?.segments.first(where: { $0.name == name }) else { return nil }
        return S3SegmentObject(client: client, bucket: bucket, key: segmentKey(name, spool: s.spool), length: s.length, etag: s.etag,
                               inline: s.inline, cache: readCache)
    }

    /// A segment's summary file, when the newest manifest read names one.
    package func companion(named name: String) throws(IOFailure) -> [UInt8]? {
        guard let s = knownManifest?.segments.first(where: { $0.summary == name }) else { return nil }
        let key = segmentKey(name, spool: s.spool)
        let data: Data?
        // No summary file is this large: one that is (a hostile bucket) is not read whole, and not used.
        let limit: UInt64 = 16 << 20
        if let length = s.summaryLength, length >= limit { return nil }
        do throws(S3Error) {
            // One the manifest gives the length and checksum of is read to that length and checked (a replaced one is damage).
            data = try getRecorded(key: key, length: s.summaryLength, sha256: s.summarySha256, orAtMost: limit)
        } catch {
            if error.isReplaced { throw IOFailure(operation: "read", path: "s3://\(bucket)/\(key)", damagedAt: 0, reason: error.message) }
            throw IOFailure(operation: "read", path: "s3://\(bucket)/\(key)", reason: error.message)
        }
        guard let data, UInt64(data.count) < limit else { return nil }
        return [UInt8](data)
    }
}
