import DreamlakeStore
import Foundation

/// A remote session's delivery: its ``RemoteReplica`` and how long flush and close wait for it.
struct Delivery: Sendable {
    let replica: RemoteReplica
    let timeout: TimeInterval
    let place: SessionPlace

    /// Waits for the server to have everything written so far, up to `timeout`; throws what it does not have.
    func wait() throws(DreamlakeError) {
        let report = replica.flush(timeout: timeout)
        guard report.isEmpty else {
            throw DreamlakeError(.remote, "session \(place.label) at \(replica.http.base): " + report.joined(separator: "; "))
        }
    }

    /// The last wait, then the replica's thread stops; returns what was not delivered.
    func finish() -> DreamlakeError? {
        var undelivered: DreamlakeError?
        do { try wait() } catch { undelivered = error }
        replica.stop()
        return undelivered
    }
}

/// A remote session with a `localPath` (Python's hybrid mode): the local
/// store answers reads, and the replica sends it to the server.
struct ReplicaBackend: SessionBackend {
    let local: LocalBackend
    let delivery: Delivery

    func parameters() throws(DreamlakeError) -> ValueObject { try local.parameters() }
    func tracks() throws(DreamlakeError) -> [TrackStats] { try local.tracks() }
    func points(of track: String, from start: UInt64, limit: Int, rank: UInt32?) throws(DreamlakeError) -> TrackPage {
        try local.points(of: track, from: start, limit: limit, rank: rank)
    }
    func stats(of track: String) throws(DreamlakeError) -> TrackStats { try local.stats(of: track) }
    func envelopes(of track: String, fields: [String], range: Range<UInt64>?, buckets: Int) throws(DreamlakeError) -> [[EnvelopeBucket]] {
        try local.envelopes(of: track, fields: fields, range: range, buckets: buckets)
    }
    func files(under prefix: String?, tags: [String]?) throws(DreamlakeError) -> [StoredFile] {
        try local.files(under: prefix, tags: tags)
    }
    func download(_ id: String, to destination: String) throws(DreamlakeError) -> String { try local.download(id, to: destination) }
    func openFile(_ id: String) throws(DreamlakeError) -> (bytes: File, file: StoredFile) { try local.openFile(id) }
    func published(_ file: StoredFile) throws(DreamlakeError) -> StoredFile { file }
    func localFileID(_ id: String) -> String { id }
    func flush() throws(DreamlakeError) { try delivery.wait() }
    func close() -> DreamlakeError? { delivery.finish() }
    func abandon() { delivery.replica.stop() }
}

/// A remote-only session: the server answers reads, once everything written
/// so far is delivered (so that reads see it), and files are known by the
/// server's ids.
struct RemoteBackend: SessionBackend {
    let delivery: Delivery
    private var place: SessionPlace { delivery.place }
    private var replica: RemoteReplica { delivery.replica }

    init(delivery: Delivery) { self.delivery = delivery }

    /// The server and the session's id there, after delivery.
    private func server() throws(DreamlakeError) -> (http: RemoteHTTP, id: String) {
        try delivery.wait()
        guard let id = replica.sessionID else {
            throw DreamlakeError(.remote, "session \(place.label) is not on \(replica.http.base) yet; the server cannot be reached")
        }
        return (replica.http, id)
    }

    /// Runs a call, turning its failure into a ``DreamlakeError``.
    private func read<T>(_ what: String, _ body: () throws(RemoteCallError) -> T) throws(DreamlakeError) -> T {
        do { return try body() } catch {
            if case .refused(404, let message) = error { throw DreamlakeError(.notFound, message) }
            throw DreamlakeError(.remote, "reading \(what) of session \(place.label) from the server: \(error.message)")
        }
    }

    func parameters() throws(DreamlakeError) -> ValueObject {
        let (http, id) = try server()
        // The server answers 404 until parameters are set: that is none, as for a local session.
        let answer: Value? = try read("parameters") { () throws(RemoteCallError) -> Value? in
            do throws(RemoteCallError) { return try http.call("GET", ["sessions", id, "parameters"]) } catch {
                if case .refused(404, _) = error { return nil }
                throw error
            }
        }
        return answer?.objectValue?["data"]?.objectValue ?? [:]
    }

    func tracks() throws(DreamlakeError) -> [TrackStats] {
        let (http, id) = try server()
        let list = try read("the tracks") { () throws(RemoteCallError) in try http.call("GET", ["sessions", id, "tracks"]) }
        var out: [TrackStats] = []
        for t in list.objectValue?["tracks"]?.arrayValue ?? [] {
            guard let entry = t.objectValue, let name = entry["name"]?.stringValue else { continue }
            // dreamlake serve lists every stats field; a server that lists fewer is asked track by track.
            out.append(entry["lastDataAt"] != nil ? TrackStats(remote: entry) : try stats(of: name))
        }
        return out
    }

    /// Pages of at most 10,000 points (the API's limit) until `limit` are read.
    /// The server writes every point itself, so its points carry no rank, and
    /// a read by rank is refused rather than answered wrongly.
    func points(of track: String, from start: UInt64, limit: Int, rank: UInt32?) throws(DreamlakeError) -> TrackPage {
        if rank != nil {
            throw DreamlakeError(.invalidArgument, "a remote-only session's points are written by its server, which keeps no client's rank; read by rank from the session's folder, or give the remote session a localPath")
        }
        let (http, id) = try server()
        var points: [TrackPage.Point] = []
        var next = start
        var more = true
        while more && points.count < limit {
            let want = min(10_000, limit - points.count)
            let answer = try read("track \(Names.quoted(track))") { () throws(RemoteCallError) in
                try http.call("GET", ["sessions", id, "tracks", track, "data"],
                              query: [("startIndex", String(next)), ("limit", String(want))])
            }
            let o = answer.objectValue ?? [:]
            let data = o["data"]?.arrayValue ?? []
            for p in data {
                guard let p = p.objectValue, let index = p["index"]?.intValue, index >= 0, let fields = p["data"]?.objectValue else {
                    throw DreamlakeError(.remote, "the server sent a point of track \(Names.quoted(track)) without an index or data")
                }
                points.append(TrackPage.Point(index: UInt64(index), data: fields,
                                              timestamp: p["createdAt"]?.stringValue.flatMap(Timestamps.parse) ?? 0, rank: nil))
            }
            more = o["hasMore"]?.boolValue == true && !data.isEmpty
            next += UInt64(data.count)
        }
        return TrackPage(points: points, startIndex: start, hasMore: more)
    }

    func stats(of track: String) throws(DreamlakeError) -> TrackStats {
        let (http, id) = try server()
        let answer = try read("track \(Names.quoted(track))") { () throws(RemoteCallError) in
            try http.call("GET", ["sessions", id, "tracks", track, "stats"])
        }
        return TrackStats(remote: answer.objectValue ?? [:])
    }

    /// Built here from the points the server sends, page by page (the API has no envelope call):
    /// the same buckets as a local read, at the cost of fetching every point in `range`.
    func envelopes(of track: String, fields: [String], range: Range<UInt64>?, buckets: Int) throws(DreamlakeError) -> [[EnvelopeBucket]] {
        let count: UInt64
        do throws(DreamlakeError) { count = try stats(of: track).count } catch {
            if error.code == .notFound { return fields.map { _ in [] } }
            throw error
        }
        let clipped = EnvelopeBuilder.clip(range, to: count)
        guard !clipped.isEmpty else { return fields.map { _ in [] } }
        var builders = fields.map { _ in EnvelopeBuilder(range: clipped, buckets: buckets) }
        var next = clipped.lowerBound
        while next < clipped.upperBound {
            let page = try points(of: track, from: next, limit: Int(min(100_000, clipped.upperBound - next)), rank: nil)
            for p in page.points {
                for f in fields.indices { builders[f].add(p.index, EnvelopeBuilder.number(p.data[fields[f]]), timestamp: p.timestamp) }
            }
            guard let last = page.points.last, last.index >= next else { break }
            next = last.index + 1
        }
        return builders.map(\.result)
    }

    func files(under prefix: String?, tags: [String]?) throws(DreamlakeError) -> [StoredFile] {
        let (http, id) = try server()
        var query: [(String, String)] = []
        if let prefix, prefix != "/" { query.append(("prefix", prefix)) }
        if let tags, !tags.isEmpty { query.append(("tags", RemoteWire.encodeTags(tags))) }
        let answer = try read("the files") { () throws(RemoteCallError) in
            try http.call("GET", ["sessions", id, "files"], query: query)
        }
        return (answer.objectValue?["files"]?.arrayValue ?? []).compactMap { v in
            v.objectValue.flatMap { o in o["id"]?.stringValue.map { StoredFile(id: $0, fields: o) } }
        }
    }

    /// Refused: a remote-only session's files are on its server, read with ``download(_:to:)``.
    func openFile(_ id: String) throws(DreamlakeError) -> (bytes: File, file: StoredFile) {
        throw DreamlakeError(.invalidArgument, "a remote-only session's files are on its server: download them with files.download")
    }

    /// The server's file `id`, checked against its SHA-256.
    func download(_ id: String, to destination: String) throws(DreamlakeError) -> String {
        let (http, sessionID) = try server()
        let meta = try read("file \(Names.quoted(id))") { () throws(RemoteCallError) in
            try http.call("GET", ["sessions", sessionID, "files", id])
        }
        let file = StoredFile(id: id, fields: meta.objectValue ?? [:])
        try Names.checkComponent(file.filename, "file")
        let target = Files.target(destination, filename: file.filename)
        try read("file \(Names.quoted(id))") { () throws(RemoteCallError) in
            try http.download(["sessions", sessionID, "files", id, "download"], to: target)
        }
        let checksum: String
        do { checksum = try Files.sha256(of: target) } catch {
            throw DreamlakeError(.io, "could not read back \(target): \(error.localizedDescription)")
        }
        guard checksum == file.checksum else {
            try? FileManager.default.removeItem(atPath: target)
            throw DreamlakeError(.checksumMismatch, "file \(id) arrived with SHA-256 \(checksum), not the \(file.checksum) it was stored with; nothing was kept")
        }
        return target
    }

    /// Answers as the server does: with the server's id, once the file has
    /// arrived there (the ids of its listings).
    func published(_ file: StoredFile) throws(DreamlakeError) -> StoredFile {
        try delivery.wait()
        var file = file
        if let remoteID = replica.remoteFileID(file.id) { file.id = remoteID }
        return file
    }

    func localFileID(_ id: String) -> String { replica.localFileID(id) ?? id }
    func flush() throws(DreamlakeError) { try delivery.wait() }
    func close() -> DreamlakeError? { delivery.finish() }
    func abandon() { replica.stop() }
}

extension TrackStats {
    /// Statistics from a server's `stats` answer.
    init(remote o: ValueObject) {
        name = o["name"]?.stringValue ?? ""
        count = o["totalDataPoints"].flatMap { $0.stringValue.flatMap(UInt64.init) ?? $0.intValue.map { UInt64(max(0, $0)) } } ?? 0
        description = o["description"]?.stringValue
        tags = o["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        metadata = o["metadata"]?.objectValue
        createdAt = o["createdAt"]?.stringValue.flatMap(Timestamps.parse) ?? 0
        updatedAt = o["updatedAt"]?.stringValue.flatMap(Timestamps.parse) ?? createdAt
        if count > 0 {
            firstIndex = 0
            lastIndex = count - 1
            firstTimestamp = o["firstDataAt"]?.stringValue.flatMap(Timestamps.parse)
            lastTimestamp = o["lastDataAt"]?.stringValue.flatMap(Timestamps.parse)
        }
    }
}
