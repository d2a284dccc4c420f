import DreamlakeStore
import Foundation

// One session's objects under an S3 root (FORMAT.md, "Sessions in object
// storage"): the sealed segments of its store and their indexes and summaries,
// uploaded once each and never changed; its commit log in pieces, each a range
// of bytes uploaded once; and manifests, the commit point, each naming the
// pieces and segments that make up the session at one generation. A manifest
// is written with create-if-absent, so of two uploaders only one makes each
// generation, and a reader takes the highest.
//
// Every object but a manifest is named with the spool that uploaded it (one
// machine's copy of the session, ``S3Spool``), so that two machines, or a
// machine that woke after another took the session over, never write one
// key: the manifest's create-if-absent is the only write whose condition
// matters. An uploader goes on only from a manifest its own spool wrote (or
// the one its spool was made from); a manifest another spool wrote since is
// the end of its writing, said in an error that names the spool keeping what
// was not uploaded.

/// One machine's copy of a session (its spool), as the bucket knows it: an id that names the objects
/// it uploads, and the generation of the manifest it was made from. Kept in the spool's `s3-spool.json`.
package struct S3Spool: Sendable, Equatable {
    /// The file in a spool that holds it.
    package static let fileName = "s3-spool.json"
    /// 16 lowercase hexadecimal digits, random.
    package var id: String
    /// The generation of the manifest the spool was made from (downloaded, or found continued); 0: none.
    package var base: UInt64

    /// Whether `s` can be a spool id: 16 lowercase hexadecimal digits.
    package static func isID(_ s: String) -> Bool {
        s.utf8.count == 16 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The spool's identity; nil when it has none yet (a new folder, a reader's cache, or a spool made by a
    /// dreamlake from before spool ids).
    package static func load(_ directory: String) throws(S3Error) -> S3Spool? {
        let path = directory + "/" + fileName
        guard FileSystem.kind(path) != .missing else { return nil }
        let bytes: [UInt8]
        do {
            let file = try File.open(path, .readOnly)
            defer { try? file.close() }
            bytes = try file.read(at: 0, count: 4096)
        } catch { throw S3Error(.refused, "cannot read \(path): \(error)") }
        struct Wire: Decodable {
            var spool: String
            var base: UInt64
        }
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(bytes)), isID(wire.spool), wire.base < 1 << 62 else {
            throw S3Error(.refused, "\(path) is not a spool's identity; move the folder \(directory) away to write the session anew")
        }
        return S3Spool(id: wire.spool, base: wire.base)
    }

    /// The spool's identity: the one it has, else a new one made from `base` (created only if absent, so
    /// that processes of one machine opening the session at once share one).
    package static func make(_ directory: String, base: UInt64) throws(S3Error) -> S3Spool {
        if let there = try load(directory) { return there }
        var random = SystemRandomNumberGenerator()
        let hex = String(random.next() as UInt64, radix: 16)
        let made = S3Spool(id: String(repeating: "0", count: 16 - hex.count) + hex, base: base)
        let path = directory + "/" + fileName
        let tmp = path + "." + made.id + ".tmp"
        do {
            let file = try File.open(tmp, .createNew)
            defer { try? file.close() }
            try file.write(Array("{\"spool\":\"\(made.id)\",\"base\":\(base)}\n".utf8), at: 0)
            try file.sync()
        } catch { throw S3Error(.refused, "cannot write \(tmp): \(error)") }
        // link(2) creates the name only if it is absent, whole: of two processes one makes it, both read it.
        let linked = link(tmp, path) == 0 ? 0 : errno
        try? FileSystem.remove(tmp)
        guard linked == 0 || linked == EEXIST else {
            throw S3Error(.refused, "cannot make \(path): \(String(cString: strerror(linked)))")
        }
        do { try FileSystem.syncDirectory(directory) } catch { throw S3Error(.refused, "cannot make \(path) durable: \(error)") }
        guard let there = try load(directory) else { throw S3Error(.refused, "\(path) went away as it was made") }
        return there
    }
}

/// What a manifest says: the session at one generation.
///
/// From version 3 it also says what each object's bytes are (their SHA-256, and a segment's ETag, which
/// its ranged reads are checked against), so that an object replaced in the bucket after it was uploaded
/// is damage naming it, never read as the session's. Entries a version 1 or 2 manifest named keep no
/// checksum when a later manifest names them again, and are read unchecked, as they were.
package struct S3Manifest: Sendable, Equatable {
    /// A piece of the commit log: it ends at `end` and starts where the one before ends (the first at 0).
    package struct Piece: Sendable, Equatable {
        package var end: UInt64
        /// The spool that uploaded it; nil for one named as a version 1 manifest names its objects.
        package var spool: String?
        /// The SHA-256 of its bytes (lowercase hex); nil for one an older manifest named.
        package var sha256: String? = nil
    }

    /// A sealed segment the manifest includes.
    package struct Segment: Sendable, Equatable {
        package var name: String
        package var length: UInt64
        package var index: String
        package var summary: String?
        /// The spool that uploaded it (its objects are under that spool's id); nil for one of version 1.
        package var spool: String? = nil
        /// The segment's SHA-256, and the ETag the store gave its object (a ranged read is checked against
        /// it: no read of part of an object can check a checksum of the whole); nil for one an older
        /// manifest named (and the ETag when the store gave none).
        package var sha256: String? = nil
        package var etag: String? = nil
        /// The index file's length and SHA-256; nil for one an older manifest named.
        package var indexLength: UInt64? = nil
        package var indexSha256: String? = nil
        /// The summary file's length and SHA-256, when there is one and the manifest says them.
        package var summaryLength: UInt64? = nil
        package var summarySha256: String? = nil
        /// Bytes of the segment a reader opening the session reads (``SealedPart/Segment/inline``), which it
        /// takes from here instead of the bucket, in increasing order; empty when the manifest carries none.
        package var inline: [Inline] = []
    }

    /// Bytes of a segment, from `offset`.
    package struct Inline: Sendable, Equatable {
        package var offset: UInt64
        package var bytes: [UInt8]
        package var end: UInt64 { offset + UInt64(bytes.count) }
    }

    /// A file stored with the session (``Session/files``): its place under the spool's `files/` folder
    /// (`<path>/<id>/<filename>`, as Python dreamlake lays them out) and its length.
    package struct StoredFile: Sendable, Equatable {
        package var name: String
        package var length: UInt64
        /// The spool that uploaded it; nil for one of version 1.
        package var spool: String? = nil
        /// The SHA-256 of its bytes; nil for one an older manifest named.
        package var sha256: String? = nil
    }

    /// The version manifests are written in; versions 1 (no spool ids, objects under fixed keys) and 2 (no
    /// checksums) are read too.
    package static let version = 3

    /// Counts up from 1; the highest one is the session.
    package var generation: UInt64
    /// The spool that wrote this manifest; nil for version 1.
    package var spool: String? = nil
    /// The commit log's pieces, their ends increasing.
    package var commitPieces: [Piece]
    /// The segments the commit log's blocks are in, and any other sealed one uploaded.
    package var segments: [Segment]
    /// The session's stored files uploaded, each once.
    package var files: [StoredFile] = []

    /// The commit log's length: where its last piece ends.
    package var commitLogLength: UInt64 { commitPieces.last?.end ?? 0 }

    package static let empty = S3Manifest(generation: 0, commitPieces: [], segments: [])

    /// The manifest's bytes: JSON with its keys in this order, no spaces (version 3).
    package func encoded() -> Data {
        // Names, spool ids, digests and ETags (``isETag(_:)``) are ASCII letters, digits and punctuation but `"` and `\`.
        func quoted(_ s: String) -> String { "\"" + s + "\"" }
        func key(_ name: String, _ value: String?) -> String { value.map { ",\"\(name)\":\(quoted($0))" } ?? "" }
        func key(_ name: String, _ value: UInt64?) -> String { value.map { ",\"\(name)\":\($0)" } ?? "" }
        let pieces = commitPieces.map { "{\"end\":\($0.end)\(key("sha256", $0.sha256))\(key("spool", $0.spool))}" }
        let segs = segments.map { s in
            "{\"name\":\(quoted(s.name)),\"length\":\(s.length)\(key("sha256", s.sha256))\(key("etag", s.etag)),\"index\":\(quoted(s.index))"
                + key("indexLength", s.indexLength) + key("indexSha256", s.indexSha256)
                + key("summary", s.summary) + key("summaryLength", s.summaryLength) + key("summarySha256", s.summarySha256)
                + (s.inline.isEmpty ? "" : ",\"inline\":[" + s.inline.map { "{\"offset\":\($0.offset),\"bytes\":\"\(Data($0.bytes).base64EncodedString())\"}" }
                    .joined(separator: ",") + "]")
                + key("spool", s.spool) + "}"
        }
        let stored = files.map { "{\"name\":\(Value.quoted($0.name)),\"length\":\($0.length)\(key("sha256", $0.sha256))\(key("spool", $0.spool))}" }
        let text = "{\"version\":\(Self.version),\"generation\":\(generation)\(key("spool", spool)),\"commitPieces\":[\(pieces.joined(separator: ","))],"
            + "\"segments\":[\(segs.joined(separator: ","))]" + (files.isEmpty ? "" : ",\"files\":[\(stored.joined(separator: ","))]") + "}"
        return Data(text.utf8)
    }

    /// Whether `s` can be a SHA-256 in a manifest: 64 lowercase hexadecimal digits.
    package static func isDigest(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Whether `s` can be an ETag in a manifest: 1 to 256 printable ASCII characters but `"` and `\` (S3's are
    /// hexadecimal digits, with `-N` for a multipart upload). An uploader records no ETag of another form.
    package static func isETag(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 256 && s.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }
    }

    /// Whether `name` can be a stored file's place under `files/`: at least two components (an id and a
    /// file name), none empty, "." or "..", none with a backslash or a control character, 4,096 bytes at most.
    package static func isStoredFileName(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        return name.utf8.count <= 4096 && parts.count >= 2 && parts.allSatisfy { p in
            !p.isEmpty && p != "." && p != ".." && !p.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }
        }
    }

    /// Reads a manifest of version 1, 2 or 3, checking every field: numbers in range, pieces increasing, names of
    /// segment files only, spool ids of 16 hexadecimal digits, digests of 64, ETags of the form ``isETag(_:)``
    /// (checksums only in version 3).
    package static func decode(_ data: Data, key: String) throws(S3Error) -> S3Manifest {
        func bad(_ why: String) -> S3Error { S3Error(.badAnswer, "the manifest \(key) is not valid: \(why)") }
        struct Version: Decodable { var version: UInt64 }
        struct Wire<PieceWire: Decodable>: Decodable {
            struct Segment: Decodable {
                var name: String
                var length: UInt64
                var sha256: String?
                var etag: String?
                var index: String
                var indexLength: UInt64?
                var indexSha256: String?
                var summary: String?
                var summaryLength: UInt64?
                var summarySha256: String?
                struct Inline: Decodable {
                    var offset: UInt64
                    var bytes: String
                }
                var inline: [Inline]?
                var spool: String?
            }
            struct StoredFile: Decodable {
                var name: String
                var length: UInt64
                var sha256: String?
                var spool: String?
            }
            var generation: UInt64
            var spool: String?
            var commitPieces: [PieceWire]
            var segments: [Segment]
            var files: [StoredFile]?
        }
        struct PieceWire: Decodable {
            var end: UInt64
            var sha256: String?
            var spool: String?
        }
        guard data.count <= 64 << 20 else { throw bad("it is over 64 MiB") }
        let version: UInt64
        do { version = try JSONDecoder().decode(Version.self, from: data).version } catch { throw bad("\(error)") }
        let generation: UInt64, spool: String?, pieces: [Piece]
        let segmentWires: [Wire<PieceWire>.Segment], fileWires: [Wire<PieceWire>.StoredFile]
        do {
            switch version {
            case 1:
                let wire = try JSONDecoder().decode(Wire<UInt64>.self, from: data)
                guard wire.spool == nil else { throw bad("a version 1 manifest names a spool") }
                (generation, spool, pieces) = (wire.generation, nil, wire.commitPieces.map { Piece(end: $0, spool: nil) })
                guard wire.segments.allSatisfy({ $0.spool == nil }), (wire.files ?? []).allSatisfy({ $0.spool == nil }) else {
                    throw bad("a version 1 manifest names a spool")
                }
                segmentWires = wire.segments.map { .init(name: $0.name, length: $0.length, index: $0.index, summary: $0.summary) }
                fileWires = (wire.files ?? []).map { .init(name: $0.name, length: $0.length) }
            case 2, 3:
                let wire = try JSONDecoder().decode(Wire<PieceWire>.self, from: data)
                (generation, spool) = (wire.generation, wire.spool)
                guard spool != nil else { throw bad("it names no spool") }
                pieces = wire.commitPieces.map { Piece(end: $0.end, spool: $0.spool, sha256: $0.sha256) }
                segmentWires = wire.segments
                fileWires = wire.files ?? []
                let checksums = pieces.map(\.sha256) + segmentWires.flatMap { [$0.sha256, $0.etag, $0.indexSha256, $0.summarySha256] }
                    + fileWires.map(\.sha256)
                guard version == 3 || checksums.allSatisfy({ $0 == nil })
                        && segmentWires.allSatisfy({ $0.indexLength == nil && $0.summaryLength == nil && $0.inline == nil }) else {
                    throw bad("a version 2 manifest records checksums or inline bytes")
                }
            default:
                throw bad("version \(version) is not 1, 2 or 3 (a newer dreamlake wrote it: use a newer one)")
            }
        } catch let e as S3Error { throw e } catch { throw bad("\(error)") }
        // Its key has 20 digits, and the next generation is this one plus 1: both stay in range.
        guard generation >= 1, generation < 1 << 62 else { throw bad("generation \(generation) is out of range") }
        for (a, b) in zip([0] + pieces.map(\.end), pieces.map(\.end)) where b <= a { throw bad("commitPieces do not increase") }
        let spools = [spool] + pieces.map(\.spool) + segmentWires.map(\.spool) + fileWires.map(\.spool)
        guard spools.allSatisfy({ $0.map(S3Spool.isID) ?? true }) else { throw bad("a spool id is not 16 hexadecimal digits") }
        let digests = pieces.map(\.sha256) + segmentWires.flatMap { [$0.sha256, $0.indexSha256, $0.summarySha256] } + fileWires.map(\.sha256)
        guard digests.allSatisfy({ $0.map(isDigest) ?? true }) else { throw bad("a sha256 is not 64 lowercase hexadecimal digits") }
        guard segmentWires.allSatisfy({ $0.etag.map(isETag) ?? true }) else { throw bad("an etag is empty, too long or holds a quote, a backslash or a control character") }
        var segments: [Segment] = []
        for s in segmentWires {
            let stem = s.name.dropLast(4)
            guard s.name.hasSuffix(".dls"), Store.isSegmentFolderFileName(s.name), s.index == stem + ".dli" else {
                throw bad("a segment entry is malformed")
            }
            if let summary = s.summary, summary != stem + ".dlm" { throw bad("a summary's name does not match its segment") }
            guard (s.indexLength == nil) == (s.indexSha256 == nil), (s.summaryLength == nil) == (s.summarySha256 == nil),
                  s.summary != nil || s.summaryLength == nil else {
                throw bad("the index or summary of \(s.name) has a length without a checksum, or the other way round")
            }
            var inline: [Inline] = []
            var inlineBytes = 0
            for range in s.inline ?? [] {
                // Base64 text longer than the most bytes a segment's inline ranges hold is not decoded.
                let room = Int(SealedPart.maxInline) - inlineBytes
                guard range.bytes.utf8.count <= (room + 2) / 3 * 4, let bytes = Data(base64Encoded: range.bytes), !bytes.isEmpty,
                      bytes.count <= room, range.offset >= (inline.last?.end ?? 0), range.offset <= s.length,
                      UInt64(bytes.count) <= s.length - range.offset else {
                    throw bad("the inline bytes of \(s.name) are not base64 of ranges in increasing order within the segment, "
                              + "\(SealedPart.maxInline) bytes at most")
                }
                inlineBytes += bytes.count
                inline.append(Inline(offset: range.offset, bytes: [UInt8](bytes)))
            }
            segments.append(Segment(name: s.name, length: s.length, index: s.index, summary: s.summary, spool: s.spool, sha256: s.sha256,
                                    etag: s.etag, indexLength: s.indexLength, indexSha256: s.indexSha256,
                                    summaryLength: s.summaryLength, summarySha256: s.summarySha256, inline: inline))
        }
        guard Set(segments.map(\.name)).count == segments.count else { throw bad("a segment is named twice") }
        var files: [StoredFile] = []
        for f in fileWires {
            guard isStoredFileName(f.name) else { throw bad("a file's name is not a place under files/") }
            files.append(StoredFile(name: f.name, length: f.length, spool: f.spool, sha256: f.sha256))
        }
        return S3Manifest(generation: generation, spool: spool, commitPieces: pieces, segments: segments, files: files)
    }
}

/// One session's objects under an S3 root, and the copying between them and a local store folder.
package final class S3SessionObjects: Sendable {
    package let client: S3Client
    package let bucket: String
    /// The session's key prefix: `<root prefix>/<workspace>/<session>`.
    package let base: String
    private let last = Locked<S3Manifest?>(nil)
    /// Pieces a compaction replaced, to delete once the manifest after `afterGeneration` is written
    /// (then the last manifest naming them is removed).
    private let retired = Locked<[(afterGeneration: UInt64, keys: [String])]>([])
    /// Where ranges read from the session's segments are kept.
    let readCache: S3ReadCache

    /// The longest commit log an upload sends whole, as one piece in place of the ones before (at most this
    /// many bytes a round, once a minute by default), so that a reader on a new machine fetches one piece.
    /// Longer ones go a piece a round, until ``maxPieces``.
    let wholeLogLimit: UInt64

    /// Called by ``download(into:segments:)`` with the manifest read, before its commit log pieces are read
    /// (tests make an upload happen there).
    let beforeCommitLog: (@Sendable (S3Manifest) -> Void)?

    package init(client: S3Client, location: S3Location, workspace: String, name: String, readCache: S3ReadCache = .shared,
                 wholeLogLimit: UInt64 = 1 << 20, beforeCommitLog: (@Sendable (S3Manifest) -> Void)? = nil) {
        self.beforeCommitLog = beforeCommitLog
        self.readCache = readCache
        self.wholeLogLimit = wholeLogLimit
        self.client = client
        self.bucket = location.bucket
        self.base = location.key(workspace + "/" + name)
    }

    private init(client: S3Client, bucket: String, base: String, readCache: S3ReadCache) {
        self.wholeLogLimit = 0  // it only reads
        self.beforeCommitLog = nil
        self.client = client
        self.bucket = bucket
        self.base = base
        self.readCache = readCache
    }

    /// `s3://bucket/<base>`.
    package var url: String { "s3://\(bucket)/\(base)" }

    static func pad(_ v: UInt64) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, 20 - s.count)) + s
    }

    func manifestKey(_ generation: UInt64) -> String { "\(base)/manifest/\(Self.pad(generation)).json" }
    /// Each object of a spool is under a folder named by its id (`segments/<spool>/...`); one a version 1
    /// manifest names is right under its kind's folder.
    private func under(_ spool: String?) -> String { spool.map { "/" + $0 } ?? "" }
    func pieceKey(from start: UInt64, to end: UInt64, spool: String?) -> String {
        "\(base)/commits\(under(spool))/\(Self.pad(start))-\(Self.pad(end)).dlc"
    }
    /// The key of a segment's file (`name`: the segment, its index or its summary file).
    func segmentKey(_ name: String, spool: String?) -> String { "\(base)/\(Store.segmentFolderName)\(under(spool))/\(name)" }
    func fileKey(_ name: String, spool: String?) -> String { "\(base)/\(Self.filesFolder)\(under(spool))/\(name)" }

    /// The folder of a session (and of its objects) that holds its stored files.
    package static let filesFolder = "files"

    /// The session's newest manifest; nil when it has none (no such session in the bucket).
    package func latestManifest() throws(S3Error) -> S3Manifest? {
        let manifest = try newest("manifest", key: manifestKey, limit: 64 << 20, decode: S3Manifest.decode, generation: \.generation)
        if let manifest { last.withLock { $0 = manifest } }
        return manifest
    }

    /// The generation of the session's newest manifest, from a listing alone (no manifest is read);
    /// nil when it has none.
    package func newestGeneration() throws(S3Error) -> UInt64? { try newestManifestListed()?.generation }

    /// The generation and the listing's ETag of the session's newest manifest, from a listing alone; nil
    /// when it has none. (A session removed and made again may reach the same generation; not the same ETag.)
    package func newestManifestListed() throws(S3Error) -> (generation: UInt64, etag: String)? {
        let listed = try client.list(bucket: bucket, prefix: base + "/manifest/")
        return listed.objects.compactMap { o -> (generation: UInt64, etag: String)? in
            let name = o.key.dropFirst(base.count + "/manifest/".count)
            guard name.count == 25, name.hasSuffix(".json"), let generation = UInt64(name.dropLast(5)) else { return nil }
            return (generation, o.etag)
        }.max { $0.generation < $1.generation }
    }

    /// The highest-numbered object of a series `SESSION/<kind>/<generation>.json` (manifests, leases), decoded
    /// and checked against its key; nil when there is none. Older ones are removed as newer ones are written,
    /// so the listing is short.
    /// Reads no more than one byte past `limit`, the most a valid one holds (the decoder refuses more).
    func newest<T>(_ kind: String, key: (UInt64) -> String, limit: UInt64, decode: (Data, String) throws(S3Error) -> T,
                   generation: (T) -> UInt64) throws(S3Error) -> T? {
        for _ in 0..<5 {
            let listed = try client.list(bucket: bucket, prefix: base + "/\(kind)/")
            guard let newest = listed.objects.map(\.key).filter({ $0.hasSuffix(".json") }).max() else { return nil }
            // Removed between the listing and the read (a newer one was written): list again.
            guard let data = try client.get(bucket: bucket, key: newest, range: 0..<(limit + 1)) else { continue }
            let value = try decode(data, "s3://\(bucket)/\(newest)")
            guard key(generation(value)) == newest else {
                throw S3Error(.badAnswer, "the \(kind) s3://\(bucket)/\(newest) says it is generation \(generation(value))")
            }
            return value
        }
        throw S3Error(.failed, "the \(kind) objects of \(url) kept changing while read; try again")
    }

    /// Uploads what the store at `directory` (a spool with an ``S3Spool`` identity) has sealed and the last
    /// manifest does not include, under the spool's own keys, then a manifest naming it all. Returns the
    /// manifest the session has now (nil when it has none and nothing was sealed). Safe to run from several
    /// processes of one spool at once: each manifest generation is made by one of them.
    /// - Throws: ``S3Error/isSuperseded`` when a manifest another spool wrote is the newest: this spool's
    ///   writing of the session has ended, and what it holds past its last upload stays in it.
    @discardableResult
    package func upload(from directory: String) throws(S3Error) -> S3Manifest? {
        guard let spool = try S3Spool.load(directory) else {
            throw S3Error(.refused, "the spool \(directory) has no \(S3Spool.fileName): it was not opened for writing \(url)")
        }
        for _ in 0..<20 {
            let part: SealedPart
            do { part = try Store.sealedPart(directory: directory) } catch {
                throw S3Error(.refused, "cannot read the spool \(directory): \(error.message)")
            }
            var current = S3Manifest.empty
            if let known = last.withLock({ $0 }) { current = known } else if let there = try latestManifest() { current = there }
            try check(part, of: directory, spool: spool, continues: current)
            let known = Set(current.segments.map(\.name))
            let newSegments = part.segments.filter { !known.contains($0.name) }
            // Listed after the commit log's sealed part was measured: a file is in place before its record is
            // appended, so every file that part's records name is here (and perhaps a few more).
            let knownFiles = Set(current.files.map(\.name))
            let newFiles = try Self.storedFiles(in: directory).filter { !knownFiles.contains($0.name) }
            // A session with nothing sealed yet has no manifest: readers see no session rather than an empty one.
            guard (part.commitLogLength > current.commitLogLength || !newSegments.isEmpty || !newFiles.isEmpty) && !part.segments.isEmpty else {
                return current.generation == 0 ? nil : current
            }
            var segments = current.segments
            var inlineBytes = segments.reduce(0) { $0 + $1.inline.reduce(0) { $0 + $1.bytes.count } }
            for s in newSegments {
                func upload(_ name: String, length: UInt64?) throws(S3Error) -> Uploaded {
                    try uploadFile(directory + "/" + Store.segmentFolderName + "/" + name, key: segmentKey(name, spool: spool.id), length: length)
                }
                let segment = try upload(s.name, length: s.length)
                let index = try upload(s.indexName, length: nil)
                var summary: Uploaded?
                if let name = s.summaryName { summary = try upload(name, length: nil) }
                segments.append(S3Manifest.Segment(name: s.name, length: s.length, index: s.indexName, summary: s.summaryName, spool: spool.id,
                                                   sha256: segment.sha256, etag: segment.etag, indexLength: index.length, indexSha256: index.sha256,
                                                   summaryLength: summary?.length, summarySha256: summary?.sha256,
                                                   inline: try inline(of: s, in: directory, room: Self.maxInline - inlineBytes)))
                inlineBytes += segments[segments.count - 1].inline.reduce(0) { $0 + $1.bytes.count }
            }
            var files = current.files
            for f in newFiles {
                let stored = try uploadFile(directory + "/" + Self.filesFolder + "/" + f.name, key: fileKey(f.name, spool: spool.id), length: f.length)
                files.append(S3Manifest.StoredFile(name: f.name, length: f.length, spool: spool.id, sha256: stored.sha256))
            }
            var pieces = current.commitPieces
            var retiring: [String] = []
            if part.commitLogLength > current.commitLogLength {
                let log = directory + "/" + Store.commitLogName
                if pieces.count >= Self.maxPieces || (!pieces.isEmpty && part.commitLogLength <= wholeLogLimit) {
                    // Many pieces (a piece a round), or a short log: one piece of the whole log replaces them, so
                    // that a reader on a new machine makes one request, not one a round. The old ones go once no
                    // kept manifest names them.
                    let digest = try putPiece(try read(log, at: 0, count: part.commitLogLength), from: 0, to: part.commitLogLength, spool: spool.id)
                    var start: UInt64 = 0
                    for piece in pieces {
                        retiring.append(pieceKey(from: start, to: piece.end, spool: piece.spool))
                        start = piece.end
                    }
                    pieces = [S3Manifest.Piece(end: part.commitLogLength, spool: spool.id, sha256: digest)]
                } else {
                    let start = current.commitLogLength
                    let digest = try putPiece(try read(log, at: start, count: part.commitLogLength - start), from: start, to: part.commitLogLength,
                                              spool: spool.id)
                    pieces.append(S3Manifest.Piece(end: part.commitLogLength, spool: spool.id, sha256: digest))
                }
            }
            let next = S3Manifest(generation: current.generation + 1, spool: spool.id, commitPieces: pieces, segments: segments, files: files)
            if try create(next, of: directory, spool: spool) {
                // The pieces only the removed manifest named go too.
                let due = retired.withLock { list in
                    defer { list.removeAll { $0.afterGeneration < next.generation } }
                    return list.filter { $0.afterGeneration < next.generation }.flatMap(\.keys)
                }
                for key in due { try? client.delete(bucket: bucket, key: key) }
                if !retiring.isEmpty { retired.withLock { $0.append((next.generation, retiring)) } }
                return next
            }
            // Another uploader made this generation first (a process of this spool, or another spool, which the
            // check above then refuses): start again from it.
            last.withLock { $0 = nil }
        }
        throw S3Error(.failed, "could not write a manifest of \(url): other uploaders kept writing first")
    }

    /// Makes the spool at `directory` the session's writer: when the newest manifest is not its own, writes
    /// the next generation naming the same objects and this spool, so that from then on no other spool
    /// uploads (an uploader goes on only from its own manifests, or the one its spool was made from). Call
    /// it when the spool is open for writing and continues the newest manifest; nothing to do when the
    /// session has no manifest yet.
    /// - Throws: ``S3Error/isSuperseded`` when another spool wrote a manifest since this spool was made.
    package func claim(for directory: String) throws(S3Error) {
        guard let spool = try S3Spool.load(directory) else {
            throw S3Error(.refused, "the spool \(directory) has no \(S3Spool.fileName)")
        }
        for _ in 0..<5 {
            guard let current = try latestManifest() else { return }
            // The manifest written names the same objects: only who may follow it changes. (Whether the
            // spool holds all of them is for its uploads to check: a spool just downloaded has each
            // writer's last segment unsealed until its store opens.)
            guard Self.spool(spool, mayFollow: current) else {
                throw S3Error.superseded(url: url, directory: directory, generation: current.generation, by: current.spool, base: spool.base)
            }
            if current.spool == spool.id { return }
            var next = current
            next.generation += 1
            next.spool = spool.id
            if try create(next, of: directory, spool: spool) { return }
            last.withLock { $0 = nil }  // another process of this spool, or another spool: look again
        }
        throw S3Error(.failed, "could not write a manifest of \(url): other uploaders kept writing first")
    }

    /// Creates the manifest `next` if its generation is absent; false when another was first. Once created it
    /// is checked to be the newest (``checkNewest(_:of:spool:)``), known as the last, and the one two before
    /// it removed (the one before stays for a reader that listed before it).
    private func create(_ next: S3Manifest, of directory: String, spool: S3Spool) throws(S3Error) -> Bool {
        guard try client.put(bucket: bucket, key: manifestKey(next.generation), body: next.encoded(), ifAbsent: true) else { return false }
        try checkNewest(next, of: directory, spool: spool)
        last.withLock { $0 = next }
        if next.generation > 2 { try? client.delete(bucket: bucket, key: manifestKey(next.generation - 2)) }
        return true
    }

    /// After `written` was created: throws when a later generation is there. Its key was free only because
    /// the writer of later ones removed it as old (this process stalled while others went on), so it is
    /// stale: it is removed, and this spool's writing has ended.
    private func checkNewest(_ written: S3Manifest, of directory: String, spool: S3Spool) throws(S3Error) {
        guard let newest = try newestGeneration(), newest > written.generation else { return }
        try? client.delete(bucket: bucket, key: manifestKey(written.generation))
        last.withLock { $0 = nil }
        let writer = (try? latestManifest())??.spool
        throw S3Error.superseded(url: url, directory: directory, generation: newest, by: writer, base: spool.base)
    }

    /// Throws unless the spool at `directory`, whose sealed part is `part`, may write the generation after
    /// `manifest`: the manifest is its own or the one it was made from, and the spool holds all of it.
    private func check(_ part: SealedPart, of directory: String, spool: S3Spool, continues manifest: S3Manifest) throws(S3Error) {
        guard Self.spool(spool, mayFollow: manifest) else {
            throw S3Error.superseded(url: url, directory: directory, generation: manifest.generation, by: manifest.spool, base: spool.base)
        }
        guard Self.spool(part, continues: manifest) else {
            throw S3Error(.refused, "the spool \(directory) does not continue \(url) (the bucket holds segments or commits it lacks: "
                          + "another session of that name, or one continued elsewhere); nothing was uploaded")
        }
    }

    /// Whether `spool` may write the generation after `manifest`: it wrote it, or was made from it (or the
    /// session has none). A version 1 manifest, which names no spool (an older dreamlake wrote it), is
    /// followed by any spool that holds what it names, as that dreamlake did.
    static func spool(_ spool: S3Spool, mayFollow manifest: S3Manifest) -> Bool {
        manifest.generation == 0 || manifest.spool == nil || manifest.spool == spool.id || manifest.generation == spool.base
    }

    /// Whether a spool whose sealed part is `part` continues what `manifest` holds (and not another session
    /// of the same name, or an older copy): every segment the manifest names is there at its length, and
    /// its commit log reaches the manifest's end.
    static func spool(_ part: SealedPart, continues manifest: S3Manifest) -> Bool {
        let here = Dictionary(part.segments.map { ($0.name, $0.length) }, uniquingKeysWith: { a, _ in a })
        return part.commitLogLength >= manifest.commitLogLength && manifest.segments.allSatisfy { here[$0.name] == $0.length }
    }

    /// Whether the spool at `directory` continues the session in the bucket; nil when that cannot be
    /// told now (the store is unreachable, or does not answer a request within `timeout` seconds; asked once, not retried) or
    /// the spool cannot be read. The question is asked with a client of its own, whose requests give
    /// up after `timeout`: a session opening on a network that drops packets waits that long, not the
    /// uploads' 60 s.
    package func spoolContinuesBucket(_ directory: String, timeout: TimeInterval = 5) -> Bool? {
        let quick = S3SessionObjects(client: S3Client(client.configuration, timeout: timeout, attempts: 1), bucket: bucket, base: base, readCache: readCache)
        guard let manifest = try? quick.latestManifest() else { return nil }
        last.withLock { $0 = manifest }
        guard let part = try? Store.sealedPart(directory: directory) else { return nil }
        // A spool with an identity continues only its own manifests or the one it was made from; one made
        // before spool ids continues a manifest whose objects it holds (it gets an identity when opened).
        switch Result(catching: { () throws(S3Error) in try S3Spool.load(directory) }) {
        case .success(let spool?):
            guard Self.spool(spool, mayFollow: manifest) else { return false }
        case .success(nil): break
        case .failure: return false
        }
        return Self.spool(part, continues: manifest)
    }

    /// The bytes of `segment` that an opening reads (``SealedPart/Segment/inline``), when they fit in `room`.
    private func inline(of segment: SealedPart.Segment, in directory: String, room: Int) throws(S3Error) -> [S3Manifest.Inline] {
        guard segment.inline.reduce(0, { $0 + $1.count }) <= max(0, room) else { return [] }
        let path = directory + "/" + Store.segmentFolderName + "/" + segment.name
        var out: [S3Manifest.Inline] = []
        for r in segment.inline { out.append(S3Manifest.Inline(offset: r.lowerBound, bytes: [UInt8](try read(path, at: r.lowerBound, count: UInt64(r.count))))) }
        return out
    }

    /// How many commit log pieces a manifest may name before an upload replaces them with one.
    static let maxPieces = 32
    /// The most inline bytes (``S3Manifest/Segment/inline``) a manifest carries, all its segments together.
    static let maxInline = 64 << 10

    /// Writes the commit log's bytes `start ..< end` as a piece, once: one there already (another uploader of
    /// this spool, or a retry after a lost answer) must be the same length. Returns the bytes' SHA-256.
    private func putPiece(_ bytes: Data, from start: UInt64, to end: UInt64, spool: String) throws(S3Error) -> String {
        let key = pieceKey(from: start, to: end, spool: spool)
        if try !client.put(bucket: bucket, key: key, body: bytes, ifAbsent: true) {
            guard try client.head(bucket: bucket, key: key)?.size == UInt64(bytes.count) else {
                throw S3Error(.refused, "s3://\(bucket)/\(key) holds other bytes than the spool's commit log")
            }
        }
        return SHA256Hasher.hex(SHA256Hasher.hash(bytes))
    }

    /// The newest manifest this object has read or written, if any.
    package var knownManifest: S3Manifest? { last.withLock { $0 } }

    /// Makes the folder `directory` hold the session as its newest manifest says: downloads the segments and
    /// stored files it lacks and extends its commit log. A commit log that is not a prefix of the manifest's is
    /// refused (another machine's older state). Returns the manifest, or nil when the session has none.
    ///
    /// A commit log piece the manifest names may be gone by the time it is read: the writer wrote two more
    /// manifests meanwhile and removed the pieces a whole-log piece replaced. Then the download starts again
    /// from the newest manifest (a few times at most); a piece missing when no newer manifest is listed is
    /// damage, named in the error.
    ///
    /// - Parameter segments: false for a reader that reads the segments where they are (this object is
    ///   its ``RemoteSegments``): then only the commit log is downloaded (a stored file is fetched when it is
    ///   read: ``fetchStoredFile(_:into:)``).
    @discardableResult
    package func download(into directory: String, segments: Bool = true) throws(S3Error) -> S3Manifest? {
        for _ in 0..<5 {
            guard let manifest = try latestManifest() else { return nil }
            let segmentDir = directory + "/" + Store.segmentFolderName
            do { try FileSystem.createDirectories(segmentDir) } catch {
                throw S3Error(.refused, "cannot make \(segmentDir): \(error)")
            }
            for s in manifest.segments where segments {
                try downloadFile(key: segmentKey(s.name, spool: s.spool), to: segmentDir + "/" + s.name, length: s.length, sha256: s.sha256)
                try downloadFile(key: segmentKey(s.index, spool: s.spool), to: segmentDir + "/" + s.index, length: s.indexLength, sha256: s.indexSha256)
                if let summary = s.summary {
                    try downloadFile(key: segmentKey(summary, spool: s.spool), to: segmentDir + "/" + summary, length: s.summaryLength, sha256: s.summarySha256)
                }
            }
            if segments { try fetchStoredFiles(of: manifest, into: directory) }
            beforeCommitLog?(manifest)
            guard let missing = try extendCommitLog(directory + "/" + Store.commitLogName, to: manifest) else { return manifest }
            guard let newest = try newestGeneration(), newest > manifest.generation else {
                throw S3Error(.badAnswer, "the commit log piece s3://\(bucket)/\(missing), which the manifest "
                              + "s3://\(bucket)/\(manifestKey(manifest.generation)) names, is missing")
            }
        }
        throw S3Error(.failed, "the manifests of \(url) kept changing faster than its commit log could be read; try again")
    }

    /// Removes every object of the session, manifests first (so that no reader finds a manifest whose
    /// objects are going).
    package func removeAll() throws(S3Error) {
        let manifests = try client.list(bucket: bucket, prefix: base + "/manifest/").objects
        for o in manifests { try client.delete(bucket: bucket, key: o.key) }
        for o in try client.list(bucket: bucket, prefix: base + "/").objects { try client.delete(bucket: bucket, key: o.key) }
        last.withLock { $0 = nil }
    }

    // MARK: Stored files

    /// The stored files under the spool's `files/` folder, by their place in it: regular files only (no link
    /// is followed; anything else is left out), in name order.
    static func storedFiles(in directory: String) throws(S3Error) -> [S3Manifest.StoredFile] {
        var out: [S3Manifest.StoredFile] = []
        func walk(_ relative: String) throws(IOFailure) {
            let path = directory + "/" + filesFolder + (relative.isEmpty ? "" : "/" + relative)
            for name in try FileSystem.list(path).sorted() {
                let child = relative.isEmpty ? name : relative + "/" + name
                switch FileSystem.kind(path + "/" + name) {
                case .directory: try walk(child)
                case .regular:
                    guard S3Manifest.isStoredFileName(child) else { continue }
                    let file = try File.open(path + "/" + name, .readOnly)
                    defer { try? file.close() }
                    out.append(S3Manifest.StoredFile(name: child, length: try file.size()))
                default: continue
                }
            }
        }
        guard FileSystem.kind(directory + "/" + filesFolder) == .directory else { return [] }
        do { try walk("") } catch { throw S3Error(.refused, "cannot list the stored files of \(directory): \(error)") }
        return out
    }

    /// Makes the stored file `name` (its place under `files/`) a file of the folder `directory`, fetched from
    /// the bucket by ranges of at most 8 MiB into a file beside `files/` and then renamed into place, so that
    /// no partial file is ever under `files/`. One there already with the manifest's length is kept.
    /// - Throws: When no manifest names the file (its record was written and its bytes not uploaded yet).
    package func fetchStoredFile(_ name: String, into directory: String) throws(S3Error) {
        var entry = knownManifest?.files.first { $0.name == name }
        if entry == nil { entry = try latestManifest()?.files.first { $0.name == name } }
        guard let entry else {
            throw S3Error(.refused, "the file \(name) of \(url) is not uploaded yet: its writer uploads it with its next round")
        }
        try fetchStoredFile(entry, into: directory)
    }

    /// Fetches every stored file the newest manifest this object knows (else the bucket's) names and the
    /// folder `directory` lacks.
    package func fetchStoredFiles(into directory: String) throws(S3Error) {
        var manifest = knownManifest
        if manifest == nil { manifest = try latestManifest() }
        guard let manifest else { return }
        try fetchStoredFiles(of: manifest, into: directory)
    }

    private func fetchStoredFiles(of manifest: S3Manifest, into directory: String) throws(S3Error) {
        for f in manifest.files { try fetchStoredFile(f, into: directory) }
    }

    private func fetchStoredFile(_ entry: S3Manifest.StoredFile, into directory: String) throws(S3Error) {
        let path = directory + "/" + Self.filesFolder + "/" + entry.name
        if FileSystem.kind(path) == .regular, (try? File.open(path, .readOnly).size()) == entry.length { return }
        let key = fileKey(entry.name, spool: entry.spool)
        let partial = directory + "/.fetching-" + UUID().uuidString
        do {
            let out = try File.open(partial, .createNew)
            defer { try? out.close() }
            var offset: UInt64 = 0
            let hasher = SHA256Hasher()
            while offset < entry.length {
                let end = offset + min(entry.length - offset, 8 << 20)
                guard let data = try client.get(bucket: bucket, key: key, range: offset..<end), UInt64(data.count) == end - offset else {
                    throw S3Error(.badAnswer, "s3://\(bucket)/\(key), which the manifest names with \(entry.length) bytes, is missing or ends before \(end)")
                }
                hasher.update(data)
                try out.write(Array(data), at: offset)
                offset = end
            }
            if let sha256 = entry.sha256 { try check(digest: SHA256Hasher.hex(hasher.finalize()), key: key, against: sha256) }
            let parts = entry.name.split(separator: "/")
            try FileSystem.makeDirectories(inside: directory, ([Self.filesFolder] + parts.dropLast().map(String.init)).joined(separator: "/"))
            try FileSystem.rename(partial, path)
        } catch let e as S3Error {
            try? FileSystem.remove(partial)
            throw e
        } catch {
            try? FileSystem.remove(partial)
            throw S3Error(.refused, "cannot write \(path): \(error)")
        }
    }

    // MARK: Files

    /// What the manifest records of an object uploaded: its length, its SHA-256, and the ETag the store gave
    /// it (nil when the store gave none of the form a manifest holds).
    struct Uploaded {
        var length: UInt64
        var sha256: String
        var etag: String?
    }

    /// Uploads a sealed file of the spool (it never changes) to `key`, which is under the spool's id: only
    /// processes of this spool write it. An object there already (another of them was first, or a retry after
    /// a lost answer) is this file, and must have its length; one that does not is an error, never replaced.
    private func uploadFile(_ path: String, key: String, length: UInt64?) throws(S3Error) -> Uploaded {
        let file: File
        let size: UInt64
        do {
            file = try File.open(path, .readOnly)
            size = try file.size()
        } catch { throw S3Error(.refused, "cannot read \(path): \(error)") }
        defer { try? file.close() }
        if let length, size != length { throw S3Error(.refused, "\(path) is \(size) bytes, not the \(length) it was sealed with") }
        guard size <= UInt64(Int.max) else { throw S3Error(.refused, "\(path) is too large") }
        func there() throws(S3Error) -> S3Object? {
            guard let there = try client.head(bucket: bucket, key: key) else { return nil }
            guard there.size == size else {
                throw S3Error(.refused, "s3://\(bucket)/\(key) holds \(there.size) bytes, not the \(size) of \(path): another copy of this spool "
                              + "(a copied cache folder?) uploaded other bytes under its id; nothing was replaced")
            }
            return there
        }
        /// The file's digest read whole, for an object that was there already.
        func digest() throws(S3Error) -> String {
            let hasher = SHA256Hasher()
            var offset: UInt64 = 0
            while offset < size {
                let count = Int(min(size - offset, 8 << 20))
                do { hasher.update(try file.read(at: offset, count: count)) } catch { throw S3Error(.refused, "cannot read \(path): \(error)") }
                offset += UInt64(count)
            }
            return SHA256Hasher.hex(hasher.finalize())
        }
        func recorded(_ etag: String) -> String? { S3Manifest.isETag(etag) ? etag : nil }
        if let object = try there() { return Uploaded(length: size, sha256: try digest(), etag: recorded(object.etag)) }
        // Created only if absent (a single PUT; a multipart upload cannot ask it, and needs not: the key is this spool's).
        // The parts are read once each, in order, so they are hashed as they go.
        let hasher = SHA256Hasher()
        let written = try client.upload(bucket: bucket, key: key, count: Int(size), ifAbsent: true) { offset, count in
            let bytes = Data(try file.read(at: UInt64(offset), count: count))
            hasher.update(bytes)
            return bytes
        }
        if let etag = written { return Uploaded(length: size, sha256: SHA256Hasher.hex(hasher.finalize()), etag: recorded(etag)) }
        guard let object = try there() else {
            throw S3Error(.failed, "s3://\(bucket)/\(key) was refused as present (412), and is not there")
        }
        return Uploaded(length: size, sha256: try digest(), etag: recorded(object.etag))
    }

    /// An object the manifest names, read by range to the `length` it records (so a longer one is not read past
    /// it), or when it records none to at most `limit` bytes, and checked: its length, and its SHA-256 when the
    /// manifest records one (a replaced object is damage, ``S3Error/isReplaced``). Nil when it is not there.
    func getRecorded(key: String, length: UInt64?, sha256: String?, orAtMost limit: UInt64) throws(S3Error) -> Data? {
        guard let data = try client.get(bucket: bucket, key: key, range: 0..<(length ?? limit)) else { return nil }
        if let length, UInt64(data.count) != length {
            throw S3Error(.badAnswer, "s3://\(bucket)/\(key) is \(data.count) bytes; the manifest says \(length)")
        }
        try check(data, key: key, against: sha256)
        return data
    }

    /// Throws, naming the object, unless `bytes` have the SHA-256 the manifest records (when it records one).
    func check(_ bytes: some ContiguousBytes, key: String, against sha256: String?) throws(S3Error) {
        guard let sha256 else { return }
        try check(digest: SHA256Hasher.hex(SHA256Hasher.hash(bytes)), key: key, against: sha256)
    }

    func check(digest: String, key: String, against sha256: String) throws(S3Error) {
        guard digest != sha256 else { return }
        throw S3Error(.badAnswer, "s3://\(bucket)/\(key) is not the object its session's manifest names: its SHA-256 is \(digest), "
                      + "the manifest's \(sha256) (it was replaced after it was uploaded); the session is damaged there", code: S3Error.replacedCode)
    }

    private func read(_ path: String, at offset: UInt64, count: UInt64) throws(S3Error) -> Data {
        let bytes: [UInt8]
        do {
            let file = try File.open(path, .readOnly)
            defer { try? file.close() }
            bytes = try file.read(at: offset, count: Int(count))
        } catch { throw S3Error(.refused, "cannot read \(path) at \(offset): \(error)") }
        guard bytes.count == Int(count) else { throw S3Error(.refused, "\(path) ends before \(offset + count)") }
        return Data(bytes)
    }

    /// Downloads an object the manifest names of `length` bytes (nil: an index or summary file an older manifest
    /// named, at most 64 MiB), checked against its `sha256` when the manifest records one.
    private func downloadFile(key: String, to path: String, length: UInt64?, sha256: String?) throws(S3Error) {
        if FileSystem.kind(path) == .regular, let size = try? File.open(path, .readOnly).size(), length == nil || size == length {
            return  // sealed files never change: one there is the one named
        }
        guard let data = try getRecorded(key: key, length: length, sha256: sha256, orAtMost: (64 << 20) + 1) else {
            throw S3Error(.badAnswer, "s3://\(bucket)/\(key), which the manifest names, is not there")
        }
        if length == nil, data.count > 64 << 20 { throw S3Error(.badAnswer, "s3://\(bucket)/\(key) is over 64 MiB: no index or summary file is") }
        do { try FileSystem.replaceAtomically(path, with: Array(data), durable: false) } catch {
            throw S3Error(.refused, "cannot write \(path): \(error)")
        }
    }

    /// Appends what the manifest's pieces hold past the local log's end (a reader of the open log sees it as a
    /// writer's appends), or writes the log when there is none. A local log that ends inside a piece (the piece
    /// replaced several, or a reader looked between uploads) must hold that piece's first bytes: one that does
    /// not is another machine's older state. A local log longer than the manifest's is left as it is: it is the
    /// spool of a writer that has not uploaded everything yet.
    /// Returns the key of a piece that is not there (nothing is written then), or nil when the log is extended.
    private func extendCommitLog(_ path: String, to manifest: S3Manifest) throws(S3Error) -> String? {
        let localLength = FileSystem.kind(path) == .regular ? ((try? File.open(path, .readOnly).size()) ?? 0) : 0
        if localLength >= manifest.commitLogLength { return nil }
        var bytes = Data()
        var start: UInt64 = 0
        for piece in manifest.commitPieces {
            let (end, sha256) = (piece.end, piece.sha256)
            defer { start = end }
            guard end > localLength else { continue }
            let key = pieceKey(from: start, to: end, spool: piece.spool)
            // Asked for by range: an object longer than the manifest says is not read past it.
            guard let piece = try client.get(bucket: bucket, key: key, range: 0..<(end - start)) else { return key }
            guard UInt64(piece.count) == end - start else {
                throw S3Error(.badAnswer, "the commit log piece s3://\(bucket)/\(key) is not \(end - start) bytes")
            }
            try check(piece, key: key, against: sha256)
            if start < localLength {
                let mine = try read(path, at: start, count: localLength - start)
                guard piece.prefix(mine.count) == mine else {
                    throw S3Error(.refused, "\(path) is not a part of \(url)'s commit log: another machine went on "
                                  + "writing this session from an older state; move the folder \(FileSystem.directoryName(path)) away to read or write it anew")
                }
                bytes += piece.dropFirst(mine.count)
            } else {
                bytes += piece
            }
        }
        do {
            if localLength > 0 {
                let file = try File.open(path, .readWrite)
                defer { try? file.close() }
                try file.write(Array(bytes), at: localLength)
            } else {
                try FileSystem.replaceAtomically(path, with: Array(bytes), durable: false)
            }
        } catch { throw S3Error(.refused, "cannot write \(path): \(error)") }
        return nil
    }
}
