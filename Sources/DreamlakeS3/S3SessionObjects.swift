import DreamlakeStore
import Foundation

// One session's objects under an S3 root (FORMAT.md, "Sessions in object
// storage"): the sealed segments of its store and their indexes and summaries,
// uploaded once each and never changed; its commit log in pieces, each a range
// of bytes uploaded once; and manifests, the commit point, each naming the
// pieces and segments that make up the session at one generation. A manifest
// is written with create-if-absent, so of two uploaders only one makes each
// generation, and a reader takes the highest.

/// What a manifest says: the session at one generation.
package struct S3Manifest: Sendable, Equatable {
    /// A sealed segment the manifest includes.
    package struct Segment: Sendable, Equatable {
        package var name: String
        package var length: UInt64
        package var index: String
        package var summary: String?
    }

    /// A file stored with the session (``Session/files``): its place under the spool's `files/` folder
    /// (`<path>/<id>/<filename>`, as Python dreamlake lays them out) and its length.
    package struct StoredFile: Sendable, Equatable {
        package var name: String
        package var length: UInt64
    }

    /// Counts up from 1; the highest one is the session.
    package var generation: UInt64
    /// The ends of the commit log's pieces, increasing: piece k holds bytes `ends[k-1] ..< ends[k]` (from 0).
    package var commitPieces: [UInt64]
    /// The segments the commit log's blocks are in, and any other sealed one uploaded.
    package var segments: [Segment]
    /// The session's stored files uploaded, each once.
    package var files: [StoredFile] = []

    /// The commit log's length: where its last piece ends.
    package var commitLogLength: UInt64 { commitPieces.last ?? 0 }

    package static let empty = S3Manifest(generation: 0, commitPieces: [], segments: [])

    /// The manifest's bytes: JSON with its keys in this order, no spaces.
    package func encoded() -> Data {
        func quoted(_ s: String) -> String { "\"" + s + "\"" }  // names are ASCII letters, digits, "-" and "."
        let segs = segments.map { s in
            "{\"name\":\(quoted(s.name)),\"length\":\(s.length),\"index\":\(quoted(s.index))"
                + (s.summary.map { ",\"summary\":\(quoted($0))" } ?? "") + "}"
        }
        let stored = files.map { "{\"name\":\(Value.quoted($0.name)),\"length\":\($0.length)}" }
        let text = "{\"version\":1,\"generation\":\(generation),\"commitPieces\":[\(commitPieces.map(String.init).joined(separator: ","))],"
            + "\"segments\":[\(segs.joined(separator: ","))]" + (files.isEmpty ? "" : ",\"files\":[\(stored.joined(separator: ","))]") + "}"
        return Data(text.utf8)
    }

    /// Whether `name` can be a stored file's place under `files/`: at least two components (an id and a
    /// file name), none empty, "." or "..", none with a backslash or a control character, 4,096 bytes at most.
    package static func isStoredFileName(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        return name.utf8.count <= 4096 && parts.count >= 2 && parts.allSatisfy { p in
            !p.isEmpty && p != "." && p != ".." && !p.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }
        }
    }

    /// Reads a manifest, checking every field: numbers in range, pieces increasing, names of segment files only.
    package static func decode(_ data: Data, key: String) throws(S3Error) -> S3Manifest {
        func bad(_ why: String) -> S3Error { S3Error(.badAnswer, "the manifest \(key) is not valid: \(why)") }
        struct Wire: Decodable {
            struct Segment: Decodable {
                var name: String
                var length: UInt64
                var index: String
                var summary: String?
            }
            struct StoredFile: Decodable {
                var name: String
                var length: UInt64
            }
            var version: UInt64
            var generation: UInt64
            var commitPieces: [UInt64]
            var segments: [Segment]
            var files: [StoredFile]?
        }
        guard data.count <= 64 << 20 else { throw bad("it is over 64 MiB") }
        let wire: Wire
        do { wire = try JSONDecoder().decode(Wire.self, from: data) } catch { throw bad("\(error)") }
        guard wire.version == 1 else { throw bad("version is not 1") }
        // Its key has 20 digits, and the next generation is this one plus 1: both stay in range.
        guard wire.generation >= 1, wire.generation < 1 << 62 else { throw bad("generation \(wire.generation) is out of range") }
        for (a, b) in zip([0] + wire.commitPieces, wire.commitPieces) where b <= a { throw bad("commitPieces do not increase") }
        var segments: [Segment] = []
        for s in wire.segments {
            let stem = s.name.dropLast(4)
            guard s.name.hasSuffix(".dls"), Store.isSegmentFolderFileName(s.name), s.index == stem + ".dli" else {
                throw bad("a segment entry is malformed")
            }
            if let summary = s.summary, summary != stem + ".dlm" { throw bad("a summary's name does not match its segment") }
            segments.append(Segment(name: s.name, length: s.length, index: s.index, summary: s.summary))
        }
        var files: [StoredFile] = []
        for f in wire.files ?? [] {
            guard isStoredFileName(f.name) else { throw bad("a file's name is not a place under files/") }
            files.append(StoredFile(name: f.name, length: f.length))
        }
        return S3Manifest(generation: wire.generation, commitPieces: wire.commitPieces, segments: segments, files: files)
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

    package init(client: S3Client, location: S3Location, workspace: String, name: String, readCache: S3ReadCache = .shared) {
        self.readCache = readCache
        self.client = client
        self.bucket = location.bucket
        self.base = location.key(workspace + "/" + name)
    }

    private init(client: S3Client, bucket: String, base: String, readCache: S3ReadCache) {
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
    func pieceKey(from start: UInt64, to end: UInt64) -> String { "\(base)/commits/\(Self.pad(start))-\(Self.pad(end)).dlc" }
    func segmentKey(_ name: String) -> String { "\(base)/\(Store.segmentFolderName)/\(name)" }
    func fileKey(_ name: String) -> String { "\(base)/\(Self.filesFolder)/\(name)" }

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
    package func newestGeneration() throws(S3Error) -> UInt64? {
        let listed = try client.list(bucket: bucket, prefix: base + "/manifest/")
        return listed.objects.compactMap { o -> UInt64? in
            let name = o.key.dropFirst(base.count + "/manifest/".count)
            guard name.count == 25, name.hasSuffix(".json") else { return nil }
            return UInt64(name.dropLast(5))
        }.max()
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

    /// Uploads what the store at `directory` has sealed and the last manifest does not include, then a manifest
    /// naming it all. Returns the manifest the session has now (nil when it has none and nothing was sealed).
    /// Safe to run from several processes at once: each manifest generation is made by one of them.
    @discardableResult
    package func upload(from directory: String) throws(S3Error) -> S3Manifest? {
        for _ in 0..<20 {
            let part: SealedPart
            do { part = try Store.sealedPart(directory: directory) } catch {
                throw S3Error(.refused, "cannot read the spool \(directory): \(error.message)")
            }
            var current = S3Manifest.empty
            if let known = last.withLock({ $0 }) { current = known } else if let there = try latestManifest() { current = there }
            guard Self.spool(part, continues: current) else {
                throw S3Error(.refused, "the spool \(directory) does not continue \(url) (the bucket holds segments or commits it lacks: "
                              + "another session of that name, or one continued elsewhere); nothing was uploaded")
            }
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
            for s in newSegments {
                try uploadFile(directory + "/" + Store.segmentFolderName + "/" + s.name, key: segmentKey(s.name), length: s.length)
                for extra in [s.indexName] + (s.summaryName.map { [$0] } ?? []) {
                    let path = directory + "/" + Store.segmentFolderName + "/" + extra
                    try uploadFile(path, key: segmentKey(extra), length: nil)
                }
            }
            for f in newFiles {
                try uploadFile(directory + "/" + Self.filesFolder + "/" + f.name, key: fileKey(f.name), length: f.length)
            }
            var pieces = current.commitPieces
            var retiring: [String] = []
            if part.commitLogLength > current.commitLogLength {
                let log = directory + "/" + Store.commitLogName
                if pieces.count >= Self.maxPieces {
                    // Many pieces (a piece a round): one piece of the whole log replaces them, so that a reader
                    // on a new machine makes one request, not one a round. The old ones go once no kept
                    // manifest names them.
                    try putPiece(try read(log, at: 0, count: part.commitLogLength), from: 0, to: part.commitLogLength)
                    var start: UInt64 = 0
                    for end in pieces {
                        retiring.append(pieceKey(from: start, to: end))
                        start = end
                    }
                    pieces = [part.commitLogLength]
                } else {
                    let start = current.commitLogLength
                    try putPiece(try read(log, at: start, count: part.commitLogLength - start), from: start, to: part.commitLogLength)
                    pieces.append(part.commitLogLength)
                }
            }
            var segments = current.segments
            for s in newSegments {
                segments.append(S3Manifest.Segment(name: s.name, length: s.length, index: s.indexName, summary: s.summaryName))
            }
            let next = S3Manifest(generation: current.generation + 1, commitPieces: pieces, segments: segments, files: current.files + newFiles)
            if try client.put(bucket: bucket, key: manifestKey(next.generation), body: next.encoded(), ifAbsent: true) {
                last.withLock { $0 = next }
                // Keep the one before (a reader may be reading it); older ones go, and the pieces only they named.
                if next.generation > 2 { try? client.delete(bucket: bucket, key: manifestKey(next.generation - 2)) }
                let due = retired.withLock { list in
                    defer { list.removeAll { $0.afterGeneration < next.generation } }
                    return list.filter { $0.afterGeneration < next.generation }.flatMap(\.keys)
                }
                for key in due { try? client.delete(bucket: bucket, key: key) }
                if !retiring.isEmpty { retired.withLock { $0.append((next.generation, retiring)) } }
                return next
            }
            // Another uploader made this generation first: start again from it.
            last.withLock { $0 = nil }
        }
        throw S3Error(.failed, "could not write a manifest of \(url): other uploaders kept writing first")
    }

    /// Whether a spool whose sealed part is `part` continues what `manifest` holds (and not another session
    /// of the same name, or an older copy): every segment the manifest names is there at its length, and
    /// its commit log reaches the manifest's end.
    static func spool(_ part: SealedPart, continues manifest: S3Manifest) -> Bool {
        let here = Dictionary(part.segments.map { ($0.name, $0.length) }, uniquingKeysWith: { a, _ in a })
        return part.commitLogLength >= manifest.commitLogLength && manifest.segments.allSatisfy { here[$0.name] == $0.length }
    }

    /// Whether the spool at `directory` continues the session in the bucket; nil when that cannot be
    /// told now (the store is unreachable, or does not answer within `timeout` seconds a request) or
    /// the spool cannot be read. The question is asked with a client of its own, whose requests give
    /// up after `timeout`: a session opening on a network that drops packets waits that long, not the
    /// uploads' 60 s.
    package func spoolContinuesBucket(_ directory: String, timeout: TimeInterval = 5) -> Bool? {
        let quick = S3SessionObjects(client: S3Client(client.configuration, timeout: timeout), bucket: bucket, base: base, readCache: readCache)
        guard let manifest = try? quick.latestManifest() else { return nil }
        guard let part = try? Store.sealedPart(directory: directory) else { return nil }
        return Self.spool(part, continues: manifest)
    }

    /// How many commit log pieces a manifest may name before an upload replaces them with one.
    static let maxPieces = 32

    /// Writes the commit log's bytes `start ..< end` as a piece, once: one there already (another uploader of
    /// this spool, or a retry after a lost answer) must be the same length.
    private func putPiece(_ bytes: Data, from start: UInt64, to end: UInt64) throws(S3Error) {
        let key = pieceKey(from: start, to: end)
        if try !client.put(bucket: bucket, key: key, body: bytes, ifAbsent: true) {
            guard try client.head(bucket: bucket, key: key)?.size == UInt64(bytes.count) else {
                throw S3Error(.refused, "s3://\(bucket)/\(key) holds other bytes than the spool's commit log")
            }
        }
    }

    /// The newest manifest this object has read or written, if any.
    package var knownManifest: S3Manifest? { last.withLock { $0 } }

    /// Makes the folder `directory` hold the session as its newest manifest says: downloads the segments and
    /// stored files it lacks and extends its commit log. A commit log that is not a prefix of the manifest's is replaced.
    /// Returns the manifest, or nil when the session has none.
    ///
    /// - Parameter segments: false for a reader that reads the segments where they are (this object is
    ///   its ``RemoteSegments``): then only the commit log is downloaded (a stored file is fetched when it is
    ///   read: ``fetchStoredFile(_:into:)``).
    @discardableResult
    package func download(into directory: String, segments: Bool = true) throws(S3Error) -> S3Manifest? {
        guard let manifest = try latestManifest() else { return nil }
        let segmentDir = directory + "/" + Store.segmentFolderName
        do { try FileSystem.createDirectories(segmentDir) } catch {
            throw S3Error(.refused, "cannot make \(segmentDir): \(error)")
        }
        for s in manifest.segments where segments {
            try downloadFile(key: segmentKey(s.name), to: segmentDir + "/" + s.name, length: s.length)
            try downloadFile(key: segmentKey(s.index), to: segmentDir + "/" + s.index, length: nil)
            if let summary = s.summary { try downloadFile(key: segmentKey(summary), to: segmentDir + "/" + summary, length: nil) }
        }
        if segments { try fetchStoredFiles(of: manifest, into: directory) }
        try extendCommitLog(directory + "/" + Store.commitLogName, to: manifest)
        return manifest
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
        let key = fileKey(entry.name)
        let partial = directory + "/.fetching-" + UUID().uuidString
        do {
            let out = try File.open(partial, .createNew)
            defer { try? out.close() }
            var offset: UInt64 = 0
            while offset < entry.length {
                let end = offset + min(entry.length - offset, 8 << 20)
                guard let data = try client.get(bucket: bucket, key: key, range: offset..<end), UInt64(data.count) == end - offset else {
                    throw S3Error(.badAnswer, "s3://\(bucket)/\(key), which the manifest names with \(entry.length) bytes, is missing or ends before \(end)")
                }
                try out.write(Array(data), at: offset)
                offset = end
            }
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

    private func uploadFile(_ path: String, key: String, length: UInt64?) throws(S3Error) {
        let file: File
        let size: UInt64
        do {
            file = try File.open(path, .readOnly)
            size = try file.size()
        } catch { throw S3Error(.refused, "cannot read \(path): \(error)") }
        defer { try? file.close() }
        // A sealed file never changes: what is there under its key is it (a retry after a lost answer).
        if let there = try client.head(bucket: bucket, key: key), there.size == size { return }
        if let length, size != length { throw S3Error(.refused, "\(path) is \(size) bytes, not the \(length) it was sealed with") }
        guard size <= UInt64(Int.max) else { throw S3Error(.refused, "\(path) is too large") }
        // Write-once: an object there already (a race with another uploader of this spool) is the same file.
        try client.upload(bucket: bucket, key: key, count: Int(size), ifAbsent: true) { offset, count in
            Data(try file.read(at: UInt64(offset), count: count))
        }
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

    private func downloadFile(key: String, to path: String, length: UInt64?) throws(S3Error) {
        if FileSystem.kind(path) == .regular, let size = try? File.open(path, .readOnly).size(), length == nil || size == length {
            return  // sealed files never change: one there is the one named
        }
        // A segment by range (its length is in the manifest); an index or summary file, at most 64 MiB.
        guard let data = try client.get(bucket: bucket, key: key, range: 0..<(length ?? (64 << 20) + 1)) else {
            throw S3Error(.badAnswer, "s3://\(bucket)/\(key), which the manifest names, is not there")
        }
        if length == nil, data.count > 64 << 20 { throw S3Error(.badAnswer, "s3://\(bucket)/\(key) is over 64 MiB: no index or summary file is") }
        if let length, UInt64(data.count) != length {
            throw S3Error(.badAnswer, "s3://\(bucket)/\(key) is \(data.count) bytes; the manifest says \(length)")
        }
        do { try FileSystem.replaceAtomically(path, with: Array(data), durable: false) } catch {
            throw S3Error(.refused, "cannot write \(path): \(error)")
        }
    }

    /// Appends what the manifest's pieces hold past the local log's end (a reader of the open log sees it as a
    /// writer's appends), or writes the log when there is none. A local log that ends inside a piece (the piece
    /// replaced several, or a reader looked between uploads) must hold that piece's first bytes: one that does
    /// not is another machine's older state. A local log longer than the manifest's is left as it is: it is the
    /// spool of a writer that has not uploaded everything yet.
    private func extendCommitLog(_ path: String, to manifest: S3Manifest) throws(S3Error) {
        let localLength = FileSystem.kind(path) == .regular ? ((try? File.open(path, .readOnly).size()) ?? 0) : 0
        if localLength >= manifest.commitLogLength { return }
        var bytes = Data()
        var start: UInt64 = 0
        for end in manifest.commitPieces {
            defer { start = end }
            guard end > localLength else { continue }
            let key = pieceKey(from: start, to: end)
            // Asked for by range: an object longer than the manifest says is not read past it.
            guard let piece = try client.get(bucket: bucket, key: key, range: 0..<(end - start)), UInt64(piece.count) == end - start else {
                throw S3Error(.badAnswer, "the commit log piece s3://\(bucket)/\(key) is missing or not \(end - start) bytes")
            }
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
    }
}
