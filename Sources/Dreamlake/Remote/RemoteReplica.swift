import DreamlakeStore
import Foundation

/// Sends what a remote session's store holds to the server, in the
/// background: appends only ever write the local store, and this thread
/// ships what is new, in order, in batches of at most 1,000 (append-batch
/// for points, one request for up to 1,000 log entries).
///
/// Memory stays bounded (a batch at a time is read back from the store), and
/// nothing waits for the network but ``flush(timeout:)``. What the server
/// has acknowledged is remembered in `<session>/remote.json`, so a session
/// opened again carries on where delivery stopped: a server that was down
/// loses nothing that reached the local store.
///
/// Failures: an unreachable server or a 5xx answer is retried with backoff
/// (0.1 s doubling to 5 s) for as long as the session is open; a refused
/// batch (400, 403, 404, 413) can never be delivered, so it is skipped and
/// reported; a refused token (401) stops delivery until the session is
/// opened again with a good one.
final class RemoteReplica: @unchecked Sendable {
    let http: RemoteHTTP
    private let store: Store
    private let directory: String
    private let workspace: String
    private let createBody: Value
    private let lock = Lock()
    /// Broadcast whenever the cursor moves, delivery fails, or the thread is asked to stop or ends.
    private let changed: Condition
    // Guarded by `lock`.
    private var cursor: Cursor
    private var refused: [String] = []
    private var lastFailure: String?
    private var stopped = false
    private var tokenRefused = false
    private var finished = false

    /// What has been delivered: counts of each kind of record, and the
    /// server's ids of the session and of each file.
    struct Cursor: Equatable {
        var server: String
        var sessionID: String?
        var parameters = 0
        var logs: UInt64 = 0
        var tracks: [String: UInt64] = [:]
        var fileRecords = 0
        var fileIDs: [String: String] = [:]
    }

    init(http: RemoteHTTP, store: Store, directory: String, workspace: String, createBody: Value) {
        self.http = http
        self.store = store
        self.directory = directory
        self.workspace = workspace
        self.createBody = createBody
        changed = Condition(lock: lock)
        cursor = RemoteReplica.loadCursor(directory + "/remote.json", server: http.base) ?? Cursor(server: http.base)
    }

    /// The server's id of the session, once it has one.
    var sessionID: String? { lock.withLock { cursor.sessionID } }

    /// The server's id of the file stored locally as `local`, once uploaded.
    func remoteFileID(_ local: String) -> String? { lock.withLock { cursor.fileIDs[local] } }

    /// The local id of the file the server calls `remote`, if this session uploaded it.
    func localFileID(_ remote: String) -> String? { lock.withLock { cursor.fileIDs.first { $0.value == remote }?.key } }

    /// Creates (or updates) the session on the server and returns the
    /// server's answer; the id is remembered for every later call.
    func create() throws(RemoteCallError) -> ValueObject {
        let answer = try http.call("POST", ["workspaces", workspace, "sessions"], json: createBody)
        guard let session = answer.objectValue?["session"]?.objectValue, let id = session["id"]?.stringValue else {
            throw .unavailable("the server's answer to creating the session has no session.id")
        }
        lock.withLock {
            if cursor.sessionID != id {
                // Another server, or the session made again: deliver everything to it.
                cursor = Cursor(server: http.base, sessionID: id)
            }
            saveCursor()
        }
        return session
    }

    /// Starts the background thread.
    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "dreamlake-remote"
        thread.start()
    }

    /// Waits until everything in the store when it was called has been
    /// delivered, or `timeout` seconds have passed.
    ///
    /// - Returns: What was not delivered and why (refused batches since the
    ///   last report, and what is still waiting); empty when all was.
    func flush(timeout: TimeInterval) -> [String] {
        let target: Target? = progressTarget()
        let deadline = WallClock.monotonicNanos(after: timeout)
        lock.lock()
        defer { lock.unlock() }
        changed.broadcast()  // wakes the thread if it is idle
        // Every change that can end the wait broadcasts, so nothing is polled.
        while let target, !reached(target), !tokenRefused, !finished, WallClock.monotonicNanos() < deadline {
            changed.wait(untilMonotonicNanos: deadline)
        }
        var report = refused
        refused = []
        if let target, !reached(target) {
            let waiting = describeWaiting(target)
            report.append("not delivered yet (kept in \(directory), sent when the session is opened again): \(waiting)"
                          + (lastFailure.map { "; last failure: \($0)" } ?? ""))
        }
        return report
    }

    /// Stops the thread (after ``flush(timeout:)``, which delivers what it
    /// can) and waits for it to end: a request in flight is finished (within
    /// the HTTP timeout) and counted, so that no later opening of the session
    /// sends its batch again or finds its cursor moved behind its back.
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        stopped = true
        changed.broadcast()
        while !finished { changed.wait() }
    }

    // MARK: The background loop

    private func run() {
        var backoff: TimeInterval = 0.1
        while true {
            let stop = lock.withLock { stopped || tokenRefused }
            if stop { break }
            do {
                if try shipOnce() {
                    backoff = 0.1
                    continue
                }
                // Appends do not signal the replica (the fast path stays free of it): what is new is looked for
                // every 200 ms, and at once when flush() asks.
                lock.withLock { if !stopped { changed.wait(seconds: 0.2) } }
            } catch {
                lock.withLock {
                    lastFailure = error.message
                    if case .refused(401, _) = error { tokenRefused = true }
                    changed.broadcast()
                    if !stopped { changed.wait(seconds: backoff) }
                }
                backoff = min(5, backoff * 2)
            }
        }
        lock.withLock {
            finished = true
            changed.broadcast()
        }
    }

    /// Sends one batch of whatever is waiting; false when nothing was.
    private func shipOnce() throws(RemoteCallError) -> Bool {
        guard let id = sessionID else {
            _ = try create()
            return true
        }
        let c = lock.withLock { cursor }
        do {
            // Parameters, one update a request, in order. (Counts first: the
            // records are read back only when there are new ones.)
            if UInt64(c.parameters) < store.count(of: .parameters), case let updates = try store.parameterUpdates(),
               c.parameters < updates.count {
                let u = updates[c.parameters]
                try deliver("parameters update \(c.parameters)") { () throws(RemoteCallError) in
                    _ = try http.call("POST", ["sessions", id, "parameters"], json: ["data": .object(u.fields)])
                } advance: { $0.parameters += 1 }
                return true
            }
            // Logs, up to 1,000 a request.
            let logs = c.logs < store.count(of: .logs) ? try store.logs(from: c.logs, limit: 1000) : []
            if let last = logs.last {
                let entries: [Value] = logs.map { e in
                    // The exact time beside Python's ISO form, which years outside 0000-9999 do not fit.
                    var o: ValueObject = ["timestamp": .string(Timestamps.iso(micros: e.timestamp)),
                                          "timestampMicros": .int(e.timestamp),
                                          "level": .string(e.level.name), "message": .string(e.message)]
                    if let md = e.metadata { o["metadata"] = .object(md) }
                    return .object(o)
                }
                try deliver("log entries \(c.logs)...\(last.sequence)") { () throws(RemoteCallError) in
                    _ = try http.call("POST", ["sessions", id, "logs"], json: ["logs": .array(entries)])
                } advance: { $0.logs = last.sequence + 1 }
                return true
            }
            // Points, up to 1,000 a request, track by track.
            for info in store.tracks() where (c.tracks[info.name] ?? 0) < info.count {
                let from = c.tracks[info.name] ?? 0
                let points = try store.points(of: info.id, from: from, limit: 1000)
                guard !points.isEmpty else { continue }
                // With the times they were appended here: the server's copy is the caller's record, not the server's clock.
                var body: ValueObject = ["dataPoints": .array(points.map { .object($0.data) }),
                                         "timestampsMicros": .array(points.map { .int($0.timestamp) })]
                for key in ["description", "tags", "metadata"] {
                    if let v = info.fields[key], !v.isNull { body[key] = v }
                }
                let n = UInt64(points.count)
                try deliver("points \(from)...\(from + n - 1) of track \(Names.quoted(info.name))") { () throws(RemoteCallError) in
                    _ = try http.call("POST", ["sessions", id, "tracks", info.name, "append-batch"], json: .object(body))
                } advance: { $0.tracks[info.name] = from + n }
                return true
            }
            // Files: uploads, updates and deletions, one record a request.
            if UInt64(c.fileRecords) < store.count(of: .files), case let records = try store.fileRecords(),
               c.fileRecords < records.count {
                try shipFile(records[c.fileRecords], records: records, id: id, cursor: c)
                return true
            }
        } catch let e as StoreError {
            throw .unavailable("could not read the local store: \(e)")
        } catch let e as RemoteCallError {
            throw e
        } catch {
            throw .unavailable("\(error)")
        }
        return false
    }

    private func shipFile(_ r: FileRecord, records: [FileRecord], id: String, cursor c: Cursor) throws(RemoteCallError) {
        let what = "file \(r.fileID)"
        if r.deleted {
            guard let remote = c.fileIDs[r.fileID] else {
                return lock.withLock { cursor.fileRecords += 1; saveCursor() }
            }
            try deliver("deleting " + what) { () throws(RemoteCallError) in
                _ = try http.call("DELETE", ["sessions", id, "files", remote])
            } advance: { $0.fileRecords += 1 }
            return
        }
        // The file as this record leaves it (an update carries every field).
        let file = StoredFile(id: r.fileID, fields: r.fields)
        if let remote = c.fileIDs[r.fileID] {
            var body: ValueObject = ["tags": .array(file.tags.map(Value.string))]
            if let d = file.description { body["description"] = .string(d) }
            if let m = file.metadata { body["metadata"] = .object(m) }
            try deliver("updating " + what) { () throws(RemoteCallError) in
                _ = try http.call("PATCH", ["sessions", id, "files", remote], json: .object(body))
            } advance: { $0.fileRecords += 1 }
            return
        }
        guard let relative = Files.relativeLocation(id: file.id, path: file.path, filename: file.filename) else {
            return lock.withLock {
                refused.append("\(what) has a path or name that would leave the session's folder; not sent")
                cursor.fileRecords += 1
                saveCursor()
            }
        }
        var fields: [(String, String)] = [("prefix", file.path), ("checksum", file.checksum), ("sizeBytes", String(file.sizeBytes))]
        if let d = file.description, !d.isEmpty { fields.append(("description", d)) }
        if !file.tags.isEmpty { fields.append(("tags", RemoteWire.encodeTags(file.tags))) }
        if let m = file.metadata, !m.isEmpty { fields.append(("metadata", PythonFormat.json(.object(m)))) }
        var remoteID: String?
        try deliver("uploading " + what) { () throws(RemoteCallError) in
            let answer = try http.upload(["sessions", id, "files"], fields: fields,
                                         localFile: directory + "/files/" + relative, filename: file.filename,
                                         contentType: file.contentType)
            remoteID = answer.objectValue?["id"]?.stringValue
        } advance: { c in
            c.fileRecords += 1
            if let remoteID { c.fileIDs[r.fileID] = remoteID }
        }
    }

    /// Runs `send`; on success applies `advance` to the cursor and saves it.
    /// A refusal other than the token's skips the batch and reports it.
    private func deliver(_ what: String, _ send: () throws(RemoteCallError) -> Void,
                         advance: (inout Cursor) -> Void) throws(RemoteCallError) {
        do {
            try send()
        } catch {
            guard case .refused(let status, let message) = error, status != 401, status != 0 else { throw error }
            lock.withLock {
                refused.append("\(what) refused by the server (\(status)): \(message)")
                advance(&cursor)
                saveCursor()
                changed.broadcast()
            }
            return
        }
        lock.withLock {
            advance(&cursor)
            saveCursor()
            changed.broadcast()
        }
    }

    // MARK: Progress

    private struct Target {
        var parameters: Int
        var logs: UInt64
        var tracks: [String: UInt64]
        var fileRecords: Int
    }

    private func progressTarget() -> Target {
        var tracks: [String: UInt64] = [:]
        for info in store.tracks() { tracks[info.name] = info.count }
        return Target(parameters: Int(store.count(of: .parameters)), logs: store.count(of: .logs), tracks: tracks,
                      fileRecords: Int(store.count(of: .files)))
    }

    /// Under the lock.
    private func reached(_ t: Target) -> Bool {
        cursor.sessionID != nil && cursor.parameters >= t.parameters && cursor.logs >= t.logs
            && cursor.fileRecords >= t.fileRecords && t.tracks.allSatisfy { (cursor.tracks[$0.key] ?? 0) >= $0.value }
    }

    /// Under the lock.
    private func describeWaiting(_ t: Target) -> String {
        var parts: [String] = []
        if cursor.sessionID == nil { parts.append("the session itself") }
        if t.parameters > cursor.parameters { parts.append("\(t.parameters - cursor.parameters) parameter updates") }
        if t.logs > cursor.logs { parts.append("\(t.logs - cursor.logs) log entries") }
        let points = t.tracks.reduce(UInt64(0)) { $0 + ($1.value - min($1.value, cursor.tracks[$1.key] ?? 0)) }
        if points > 0 { parts.append("\(points) points") }
        if t.fileRecords > cursor.fileRecords { parts.append("\(t.fileRecords - cursor.fileRecords) file changes") }
        return parts.joined(separator: ", ")
    }

    // MARK: The cursor file

    /// Under the lock. Written whole and renamed into place; a crash leaves
    /// the old or the new one, and at worst a batch is sent twice.
    private func saveCursor() {
        var tracks = ValueObject()
        for (k, v) in cursor.tracks.sorted(by: { $0.key < $1.key }) { tracks[k] = .int(Int64(v)) }
        var files = ValueObject()
        for (k, v) in cursor.fileIDs.sorted(by: { $0.key < $1.key }) { files[k] = .string(v) }
        let doc: Value = [
            "server": .string(cursor.server), "sessionId": cursor.sessionID.map(Value.string) ?? .null,
            "parameters": .int(Int64(cursor.parameters)), "logs": .int(Int64(cursor.logs)), "tracks": .object(tracks),
            "fileRecords": .int(Int64(cursor.fileRecords)), "fileIds": .object(files),
        ]
        // Not fsync'd (it is rewritten after every batch): after a power loss it may lag, and a batch is sent twice.
        try? FileSystem.replaceAtomically(directory + "/remote.json", with: PythonJSONWriter.indentedBytes(doc), durable: false)
    }

    static func loadCursor(_ path: String, server: String) -> Cursor? {
        // Opened as a store's files are: a link or a FIFO in its place is not followed or waited on.
        guard let file = try? File.open(path, .readOnly) else { return nil }
        defer { try? file.close() }
        guard let size = try? file.size(), let data = try? file.read(at: 0, count: Int(min(size, 16 << 20))),
              let o = try? PythonJSONReader.parse(data).objectValue, o["server"]?.stringValue == server else { return nil }
        var c = Cursor(server: server, sessionID: o["sessionId"]?.stringValue)
        c.parameters = max(0, Int(o["parameters"]?.intValue ?? 0))
        c.logs = UInt64(max(0, o["logs"]?.intValue ?? 0))
        for (k, v) in o["tracks"]?.objectValue ?? [:] { c.tracks[k] = UInt64(max(0, v.intValue ?? 0)) }
        c.fileRecords = max(0, Int(o["fileRecords"]?.intValue ?? 0))
        for (k, v) in o["fileIds"]?.objectValue ?? [:] { if let s = v.stringValue { c.fileIDs[k] = s } }
        return c
    }
}
