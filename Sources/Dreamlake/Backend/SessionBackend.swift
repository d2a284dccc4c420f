import DreamlakeS3
import DreamlakeStore
import Foundation

/// Where an open session's reads are answered, and what its flush and close
/// do besides the local store's. Chosen once, when the session opens
/// (``Session/open()``, ``Session/openForReading()``); no method of
/// ``Session`` asks which it is.
///
/// - ``LocalBackend``: the session's own store answers (a local session, and
///   any session opened for reading).
/// - ``ReplicaBackend``: a remote session with a `localPath` (Python's hybrid
///   mode): the local store answers, and a ``RemoteReplica`` sends it to the server.
/// - ``RemoteBackend``: a remote-only session: the server answers, once the
///   ``RemoteReplica`` has delivered what was written (so reads see it).
///
/// Writes always go to the local store (a remote session's spool), whichever
/// backend reads: appends never wait for the network.
protocol SessionBackend: Sendable {
    /// The parameters, flat with dot keys.
    func parameters() throws(DreamlakeError) -> ValueObject
    /// Every track with its statistics, in the order they were defined.
    func tracks() throws(DreamlakeError) -> [TrackStats]
    /// Points `start ..< start + limit` of `track`; with a `rank`, the first
    /// `limit` points from `start` on that the rank wrote.
    func points(of track: String, from start: UInt64, limit: Int, rank: UInt32?) throws(DreamlakeError) -> TrackPage
    /// The statistics of `track`; `.notFound` when nothing was ever appended to it.
    func stats(of track: String) throws(DreamlakeError) -> TrackStats
    /// The envelopes of `fields` over points `range` of `track`, one array a field, with the same
    /// buckets (see `Store.envelopes(of:fields:range:buckets:)`); empty arrays for a track with no points.
    func envelopes(of track: String, fields: [String], range: Range<UInt64>?, buckets: Int) throws(DreamlakeError) -> [[EnvelopeBucket]]
    /// The stored files under `prefix` (normalized) carrying any of `tags`, oldest first.
    func files(under prefix: String?, tags: [String]?) throws(DreamlakeError) -> [StoredFile]
    /// Copies stored file `id` to `destination` (a folder or a file path), checking its SHA-256.
    func download(_ id: String, to destination: String) throws(DreamlakeError) -> String
    /// Stored file `id`'s bytes, open to read, and its record (not checked against its SHA-256).
    func openFile(_ id: String) throws(DreamlakeError) -> (bytes: File, file: StoredFile)

    /// A file just stored in the local store, as callers will know it (a
    /// remote-only session's callers know the server's id).
    func published(_ file: StoredFile) throws(DreamlakeError) -> StoredFile
    /// The local store's id of the file callers call `id`.
    func localFileID(_ id: String) -> String

    /// After the local store's flush: what else ``Session/flush()`` promises.
    func flush() throws(DreamlakeError)
    /// Before the local store closes: the last of ``flush()``, then background
    /// work stops. What failed is returned, to be thrown once the store is closed.
    func close() -> DreamlakeError?
    /// The session was dropped without ``Session/close()``: background work
    /// stops without waiting to deliver.
    func abandon()
}

/// A session's names and folder, for roots, backends and their messages.
package struct SessionPlace: Sendable {
    package var workspace: String
    package var name: String
    /// The local folder the session is under: a folder root, or an S3 root's spool.
    package var root: String
    /// `<root>/<workspace>/<name>`.
    package var directory: String

    package init(workspace: String, name: String, root: String) {
        self.workspace = workspace
        self.name = name
        self.root = root
        directory = Paths.join(root, workspace, name)
    }

    /// `workspace/name`, as messages and Python's `sessionId` spell it.
    package var label: String { workspace + "/" + name }

    /// Creates the session's folder, refusing first when a link would put it (or any folder made on
    /// the way) outside ``root`` (a symbolic link planted in the tree, for example).
    func makeFolder() throws(DreamlakeError) {
        do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw DreamlakeError(.io, "could not create \(root): \(error.localizedDescription)", path: root)
        }
        try Names.checkInside(root, directory)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DreamlakeError(.io, "could not create \(directory): \(error.localizedDescription)", path: directory)
        }
        try Names.checkInside(root, directory)
    }
}

/// Reads a session's own store.
struct LocalBackend: SessionBackend {
    let store: Store
    let place: SessionPlace
    /// Where a stored file the folder lacks is fetched from (a bucket's, for a session of an S3 root).
    let home: any SessionHome

    func parameters() throws(DreamlakeError) -> ValueObject {
        var merged = ValueObject()
        do {
            for update in try store.parameterUpdates() { for (k, v) in update.fields { merged[k] = v } }
        } catch { throw DreamlakeError(error) }
        return merged
    }

    func tracks() throws(DreamlakeError) -> [TrackStats] {
        var out: [TrackStats] = []
        for info in store.tracks() { out.append(try TrackStats(info: info, store: store)) }
        return out
    }

    func points(of track: String, from start: UInt64, limit: Int, rank: UInt32?) throws(DreamlakeError) -> TrackPage {
        guard let info = store.trackInfo(named: track) else { return TrackPage(points: [], startIndex: start, hasMore: false) }
        let points: [TrackPoint]
        let more: Bool
        do {
            if let rank {
                (points, more) = try store.points(of: info.id, writtenBy: rank, from: start, limit: limit)
            } else {
                points = try store.points(of: info.id, from: start, limit: limit)
                more = start + UInt64(points.count) < info.count
            }
        } catch { throw DreamlakeError(error) }
        let page = points.map { TrackPage.Point(index: $0.index, data: $0.data, timestamp: $0.timestamp, rank: $0.writer) }
        return TrackPage(points: page, startIndex: start, hasMore: more)
    }

    func stats(of track: String) throws(DreamlakeError) -> TrackStats {
        guard let info = store.trackInfo(named: track) else {
            throw DreamlakeError(.notFound, "session \(place.label) has no track \(Names.quoted(track))")
        }
        return try TrackStats(info: info, store: store)
    }

    func envelopes(of track: String, fields: [String], range: Range<UInt64>?, buckets: Int) throws(DreamlakeError) -> [[EnvelopeBucket]] {
        guard let info = store.trackInfo(named: track) else { return fields.map { _ in [] } }
        do { return try store.envelopes(of: info.id, fields: fields, range: range, buckets: buckets) } catch { throw DreamlakeError(error) }
    }

    func files(under prefix: String?, tags: [String]?) throws(DreamlakeError) -> [StoredFile] {
        try StoredFile.current(in: store, sessionID: place.label).values
            .sorted { $0.uploadedAt < $1.uploadedAt || ($0.uploadedAt == $1.uploadedAt && $0.id < $1.id) }
            .filter { f in prefix.map { f.path.hasPrefix($0) } ?? true }
            .filter { f in tags.map { ts in ts.isEmpty || ts.contains(where: f.tags.contains) } ?? true }
    }

    func download(_ id: String, to destination: String) throws(DreamlakeError) -> String {
        let (file, relative) = try storedFile(id)
        let target = Files.target(destination, filename: file.filename)
        let (checksum, _) = try Files.copyHashing(from: .inside(base: place.directory, relative: "files/" + relative), to: .user(target))
        guard checksum == file.checksum else {
            try? FileManager.default.removeItem(atPath: target)
            throw DreamlakeError(.checksumMismatch, "file \(id) (\(place.directory)/files/\(relative)) has SHA-256 \(checksum), not the \(file.checksum) it was stored with: the stored copy is damaged")
        }
        return target
    }

    /// The stored bytes of file `id`, checked against its record before any is served: their size,
    /// and for a file of at most ``Files/checkedBeforeServing`` bytes their SHA-256 (a larger one's
    /// server checks it as it sends them).
    func openFile(_ id: String) throws(DreamlakeError) -> (bytes: File, file: StoredFile) {
        let (file, relative) = try storedFile(id)
        let path = place.directory + "/files/" + relative
        do {
            let handle = try FileSystem.openInside(place.directory, "files/" + relative)
            let size = try handle.size()
            guard Int64(exactly: size) == file.sizeBytes else {
                throw DreamlakeError(.store, "file \(id) (\(path)) is \(size) bytes, not the \(file.sizeBytes) its record says: the stored copy is damaged", path: path)
            }
            if size <= Files.checkedBeforeServing {
                let hasher = SHA256Hasher()
                var at: UInt64 = 0
                while at < size {
                    let chunk = try handle.read(at: at, count: 1 << 20)
                    if chunk.isEmpty { break }
                    hasher.update(chunk)
                    at += UInt64(chunk.count)
                }
                let checksum = SHA256Hasher.hex(hasher.finalize())
                guard checksum == file.checksum else {
                    throw DreamlakeError(.store, "file \(id) (\(path)) has SHA-256 \(checksum), not the \(file.checksum) it was stored with: the stored copy is damaged", path: path)
                }
            }
            return (handle, file)
        } catch let e as DreamlakeError {
            throw e
        } catch let e as IOFailure {
            throw DreamlakeError(.io, "the stored bytes of file \(id) cannot be read: \(e.message)", path: e.path)
        } catch {
            throw DreamlakeError(.io, "the stored bytes of file \(id) cannot be read: \(error)", path: path)
        }
    }

    /// The current record of file `id` and its place under `files/`, where its bytes are by then
    /// (fetched from the bucket, for a session of an S3 root whose folder lacks them).
    private func storedFile(_ id: String) throws(DreamlakeError) -> (StoredFile, String) {
        guard let file = try StoredFile.current(in: store, sessionID: place.label)[id] else {
            throw DreamlakeError(.notFound, "session \(place.label) has no file \(Names.quoted(id))")
        }
        guard let relative = Files.relativeLocation(id: id, path: file.path, filename: file.filename) else {
            throw DreamlakeError(.invalidName, "file \(id) has a path or name that would leave the session's folder (\(Names.quoted(file.path)), \(Names.quoted(file.filename)))")
        }
        if FileSystem.kind(place.directory + "/files/" + relative) == .missing {
            do { try home.fetchStoredFile(relative) } catch {
                throw error.saying("file \(id): \(error.message)")
            }
        }
        return (file, relative)
    }

    func published(_ file: StoredFile) throws(DreamlakeError) -> StoredFile { file }
    func localFileID(_ id: String) -> String { id }
    func flush() throws(DreamlakeError) {}
    func close() -> DreamlakeError? { nil }
    func abandon() {}
}
