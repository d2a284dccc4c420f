import Dreamlake
import DreamlakeS3
import DreamlakeStore
import Foundation
import NIOCore
import Synchronization

/// A refusal of a remote API call: the HTTP status it is answered with and
/// what to tell the client.
package struct RemoteError: Error, Sendable, Equatable {
    /// The HTTP status code: 400, 401, 403, 404, 409, 413 or 500.
    package var status: Int
    /// What happened and what to do, for the response's `message`.
    package var message: String

    package init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    /// The status a session API error is answered with.
    package init(_ e: DreamlakeError) {
        switch e.code {
        // An object of an S3 root that is not the one its manifest names is the server's damage, not the client's.
        case .checksumMismatch where e.s3Code == S3Error.replacedCode: self.init(500, e.message)
        case .notFound: self.init(404, e.message)
        case .writeProtected, .readOnly: self.init(403, e.message)
        case .invalidName, .invalidValue, .invalidInput, .checksumMismatch: self.init(400, e.message)
        case .exists, .busy: self.init(409, e.message)
        // What the store refuses as an argument (a record over its size limit, a track when the ids
        // have run out) is the client's to change: a 4xx, which clients do not retry, with the reason.
        case .store where e.storeError?.code == .invalidArgument: self.init(400, e.message)
        default: self.init(500, e.message)  // .notOpen, .store, .io, .remote: the server's own failures
        }
    }

    /// The status any failure of a call is answered with: its own, a session
    /// API error's, a store error's, else 500.
    package init(any error: any Error) {
        switch error {
        case let e as RemoteError: self = e
        case let e as DreamlakeError: self.init(e)
        case let e as StoreError: self.init(DreamlakeError(e))
        // A body over the limit of the endpoint that collected it (the viewer's sign-in takes 16 KiB).
        case is NIOTooManyBytesError:
            self.init(413, "the request body is over the most this request takes")
        default: self.init(500, "\(error)")
        }
    }

    /// The JSON body of the response: `{"error": ..., "message": ..., "statusCode": ...}`.
    package var body: Value {
        let reason = switch status {
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 409: "Conflict"
        case 413: "Payload Too Large"
        default: "Internal Server Error"
        }
        return ["error": .string(reason), "message": .string(message), "statusCode": .int(Int64(status))]
    }
}

/// What `dreamlake serve` does for each call of Python dreamlake 0.2.4's
/// remote client, over the sessions of one store folder: request bodies in,
/// response bodies out, as ``Value``s. The HTTP layer (DreamlakeServer) only
/// routes, authenticates and moves bytes.
///
/// Session ids are derived from the workspace and name (see ``sessionID(workspace:name:)``),
/// so they outlive a restart of the server without a table of their own.
/// A session the server touches stays open, with its one writer (and its
/// writer's thread), until no request has used it for `idleSeconds` (Python
/// dreamlake's client never says it is done: going quiet is how it goes), or
/// until more than `maxOpenSessions` are open: then the least recently used
/// one no request is using is flushed and closed. Either way it is opened
/// again when it is next asked for; closed, it reads as finished (a viewer
/// shows a session live while a writer has it open).
package final class RemoteService: @unchecked Sendable {
    /// The store folder (`--root`).
    package let root: String
    /// How many sessions may stay open at once (more, briefly, when all are in use).
    package let maxOpenSessions: Int
    /// How long a session no request uses stays open, in seconds.
    package let idleSeconds: Double
    /// Who may read and write which workspace.
    package let policy: AccessPolicy
    /// Guards what follows; waited on while a session is being opened or closed.
    private let lock = Lock()
    /// Broadcast when a session stops being busy.
    private let notBusy: Condition
    // Guarded by `lock`.
    private var open: [String: Entry] = [:]
    /// On an S3 root: the workspace and name of each session id read here (found by listing the bucket once).
    private var names: [String: (workspace: String, name: String)] = [:]
    /// Sessions being opened or closed, outside the lock: a request for one waits until that is done.
    private var busy: Set<String> = []
    private var tick: UInt64 = 0
    private var closed = false
    /// Sessions opened for reading only: the viewer's (``ViewerService/init(sharing:)``), and on an S3 root
    /// the API's reads of sessions another node writes, or none does. One pool, one bound, for both.
    package let readers: ReaderSessions

    private struct Entry {
        var session: Session
        /// Requests using it now: it is not closed under them.
        var inUse = 1
        var lastUsed: UInt64 = 0
        /// When a request last let it go (or it was opened), on the monotonic clock.
        var lastUsedAt = WallClock.monotonicNanos()
        /// For an S3 root: the lease this node holds on the session's writes.
        var lease: (any SessionLease)?
    }

    /// Where the sessions live: a folder, or an S3 root (`s3://bucket/prefix`) where this node writes a
    /// session only while it holds its lease.
    package let sessionRoot: any SessionRoot
    /// Who this node is in the leases it writes, and where it says it takes requests.
    package let node: NodeIdentity
    /// Where this node takes requests, once known (``listening(at:)``), when its identity gave none.
    private let address = Locked<String>("")

    /// Says where this node listens, for the leases it writes (when its identity named no address).
    package func listening(at url: String) {
        address.withLock { if $0.isEmpty { $0 = url } }
    }

    /// Renews the leases of open sessions (S3 roots) and closes the sessions gone quiet.
    private var housekeeper: OSThread?
    private let housekeeperStop = Atomic<Bool>(false)
    /// Wakes the housekeeper from its nap at once when the service closes.
    private let housekeeperWake = DispatchSemaphore(value: 0)

    /// Which node of several over one S3 root this is.
    package struct NodeIdentity: Sendable {
        /// Unique to this process: the leases' `holder`.
        package var holder: String
        /// Where this node takes requests (a URL): the leases' `address`, for clients sent to it.
        package var address: String
        /// How long a lease lasts unless renewed, in milliseconds; renewed every third of it.
        package var leaseMilliseconds: UInt64

        package init(holder: String = "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UUID().uuidString.prefix(8))",
                     address: String = "", leaseMilliseconds: UInt64 = 15_000) {
            self.holder = holder
            self.address = address
            self.leaseMilliseconds = max(300, leaseMilliseconds)
        }
    }

    /// A service over the sessions under `root` (created if missing): a folder, or an S3 root whose
    /// sessions this node writes while it holds their leases (see ``NodeIdentity``).
    package init(root: String, maxOpenSessions: Int = 64, policy: AccessPolicy = AccessPolicy(),
                 node: NodeIdentity = NodeIdentity(), idleSeconds: Double = 60) throws(DreamlakeError) {
        sessionRoot = try Dreamlake.sessionRoot(root)
        if !sessionRoot.isShared {
            do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
                throw DreamlakeError(.io, "cannot create the store folder \(root): \(error.localizedDescription)", path: root)
            }
        }
        self.root = root
        self.node = node
        address.withLock { $0 = node.address }
        self.maxOpenSessions = max(1, maxOpenSessions)
        self.policy = policy
        notBusy = Condition(lock: lock)
        readers = ReaderSessions(root: sessionRoot, maxOpen: maxOpenSessions)
        self.idleSeconds = idleSeconds.isFinite ? max(0.1, idleSeconds) : 60
        let renewEvery = sessionRoot.isShared ? Double(node.leaseMilliseconds) / 3000 : nil
        let idleEvery = min(max(self.idleSeconds / 4, 0.05), 5)
        housekeeper = OSThread.start { [self] in
            var nextRenewal = renewEvery.map { WallClock.monotonicNanos(after: $0) }
            var nextIdleLook = WallClock.monotonicNanos(after: idleEvery)
            while !housekeeperStop.load(ordering: .relaxed) {
                // In short naps (a closing service wakes it at once), so that a look comes when it is due.
                _ = housekeeperWake.wait(timeout: .now() + 0.05)
                if let next = nextRenewal, let every = renewEvery, WallClock.monotonicNanos() >= next, !housekeeperStop.load(ordering: .relaxed) {
                    renewLeases()
                    nextRenewal = WallClock.monotonicNanos(after: every)
                }
                if WallClock.monotonicNanos() >= nextIdleLook, !housekeeperStop.load(ordering: .relaxed) {
                    closeIdle()
                    nextIdleLook = WallClock.monotonicNanos(after: idleEvery)
                }
            }
        }
    }

    /// Closes the sessions no request has used for ``idleSeconds``, as eviction does: taken out of `open`
    /// and marked busy under the lock (a request for one waits, then opens it again), closed outside it.
    private func closeIdle() {
        let now = WallClock.monotonicNanos()
        let quiet = lock.withLock { () -> [(id: String, entry: Entry)] in
            guard !closed else { return [] }
            let due = open.filter { $0.value.inUse == 0 && Double(now &- $0.value.lastUsedAt) / 1e9 >= idleSeconds }
            for (id, _) in due {
                open[id] = nil
                busy.insert(id)
            }
            return due.map { ($0.key, $0.value) }
        }
        for (entry, error) in closeTakenOut(quiet) {
            FileHandle.standardError.write(Data("dreamlake serve: closing \(entry.session.workspace)/\(entry.session.name) after \(idleSeconds) s without a request failed: \(error.message)\n".utf8))
        }
    }

    /// Closes sessions taken out of `open` and marked busy under the lock (eviction, idleness), outside it:
    /// each is flushed and closed, its lease given up, and the requests waiting for it woken (they open it
    /// again). Returns the sessions whose close failed, with why.
    private func closeTakenOut(_ taken: [(id: String, entry: Entry)]) -> [(entry: Entry, error: DreamlakeError)] {
        var failures: [(entry: Entry, error: DreamlakeError)] = []
        for (id, entry) in taken {
            do { try entry.session.close() } catch { failures.append((entry, error)) }
            releaseLease(entry)
            lock.withLock {
                busy.remove(id)
                notBusy.broadcast()
            }
        }
        return failures
    }

    /// How many sessions are open now.
    package var openSessions: Int { lock.withLock { open.count } }

    /// Where uploads are staged while they arrive: a hidden folder of the
    /// store's (so that staged bytes move into the session on the same file
    /// system), which listings and exports skip.
    package var uploadsDirectory: String { sessionRoot.localFolder + "/.uploads" }

    /// Closes every session the service opened, flushing what they hold.
    /// Later calls are refused. Returns the errors closing met, if any.
    package func close() -> [DreamlakeError] {
        // No renewal after this: one could write a lease after the release below.
        housekeeperStop.store(true, ordering: .relaxed)
        housekeeperWake.signal()
        housekeeper?.join()
        housekeeper = nil  // the thread's closure holds the service: let both go (a fuzz run found the cycle)
        let sessions = lock.withLock { () -> [Entry] in
            closed = true
            defer { open = [:] }
            return Array(open.values)
        }
        readers.close()
        var errors: [DreamlakeError] = []
        for e in sessions {
            do { try e.session.close() } catch { errors.append(error) }
            releaseLease(e)
        }
        return errors
    }

    // MARK: Leases (S3 roots)

    /// Takes the lease of `session` for this node, or says where its writer is (nil when the root has no
    /// leases). Taking it fences the session's uploads with it, so that once another node takes it over
    /// this one uploads nothing more.
    private func takeLease(_ session: Session) throws(RemoteError) -> (any SessionLease)? {
        guard let lease = session.home.lease(holder: node.holder, address: address.withLock { $0 }, duration: node.leaseMilliseconds) else {
            return nil
        }
        let outcome: LeaseOutcome
        do { outcome = try lease.take() } catch {
            throw RemoteError(503, "the lease of session \(session.workspace)/\(session.name) could not be read or written: \(error.message); try again")
        }
        switch outcome {
        case .held:
            return lease
        case .heldByAnother(let holder, let address, let expiresAt):
            let until = Timestamps.iso(micros: Int64(min(expiresAt, 1 << 50)) * 1000)  // read from the bucket: any value
            throw RemoteError(421, "session \(session.workspace)/\(session.name) is written through another node, "
                              + (address.isEmpty ? "\(holder)" : "\(address) (\(holder))")
                              + ", whose lease runs to \(until) unless renewed: send its requests there")
        }
    }

    /// Gives up the lease of a session this node closed.
    private func releaseLease(_ e: Entry) {
        e.lease?.release()
    }

    /// Renews the lease of every open session; a session whose lease another node took (this node
    /// stalled past its end) is no longer served here: its uploads are fenced off, it is closed (its
    /// last round uploads nothing), its spool is set aside, and requests go to the other node.
    private func renewLeases() {
        let held = lock.withLock { open.compactMap { id, e in e.lease.map { (id, e.session, $0) } } }
        for (id, session, keeper) in held {
            switch try? keeper.renew() {
            case .held?:
                let stillOpen = lock.withLock { open[id]?.session === session }
                // Closed meanwhile (its release may have come before this renewal): given up again.
                if !stillOpen { keeper.release() }
            case .heldByAnother(let holder, _, _)?:
                FileHandle.standardError.write(Data("dreamlake serve: the lease of \(session.workspace)/\(session.name) was taken over by \(holder); this node no longer writes it\n".utf8))
                // Not served here any more: the next request for it finds the other node's lease.
                let dropped = lock.withLock { () -> Bool in
                    guard open[id]?.session === session else { return false }
                    open[id] = nil
                    return true
                }
                guard dropped else { break }
                try? session.close()  // fenced: what it holds past its last upload is not the session's any more
                let aside = session.directory + ".superseded-\(Int(Date().timeIntervalSince1970))"
                if (try? FileManager.default.moveItem(atPath: session.directory, toPath: aside)) != nil {
                    FileHandle.standardError.write(Data("dreamlake serve: what it held of \(session.workspace)/\(session.name) past its last upload is kept at \(aside)\n".utf8))
                }
            case nil:
                break  // the store did not answer: tried again next time; uploads and writes stop when the lease runs out
            }
        }
    }

    /// Throws when this node's lease of an open session has run out or was taken over: its writes
    /// would go to a session another node may be writing.
    private func checkLease(_ e: Entry) throws(RemoteError) {
        guard sessionRoot.isShared else { return }
        guard let lease = e.lease, lease.isHeld() else {
            throw RemoteError(503, "this node's lease of session \(e.session.workspace)/\(e.session.name) has run out or was taken over; try again (through the node that holds it)")
        }
    }

    /// A session's id: decimal digits derived from SHA-256 of its workspace
    /// and name (63 bits), looking like the Snowflake ids of Python
    /// dreamlake's own server.
    package static func sessionID(workspace: String, name: String) -> String {
        derivedID([workspace, name])
    }

    /// Decimal digits (63 bits) of SHA-256 of `parts` joined by NUL.
    static func derivedID(_ parts: [String]) -> String {
        let digest = SHA256Hasher.hash(Array(parts.joined(separator: "\u{0}").utf8))
        var v: UInt64 = 0
        for b in digest.prefix(8) { v = v << 8 | UInt64(b) }
        return String(v >> 1)
    }

    // MARK: Sessions

    /// `POST /workspaces/{workspace}/sessions`: opens (creating if need be)
    /// the session named in `body` and applies the fields given.
    package func createOrUpdateSession(workspace: String, body: Value) throws(RemoteError) -> Value {
        try createOrUpdateSession(workspace: workspace, RemoteService.checkedCreate(body))
    }

    /// A create request's body, decoded and its session name checked: what
    /// the server looks at before the workspace is authorized (and claimed).
    package static func checkedCreate(_ body: Value) throws(RemoteError) -> RequestBody.CreateSession {
        let b = try RequestBody.decode(RequestBody.CreateSession.self, body)
        do { try Names.checkSessionComponent(Names.canonical(b.name), "session") } catch { throw RemoteError(error) }
        return b
    }

    /// As ``createOrUpdateSession(workspace:body:)``, with the body checked already.
    package func createOrUpdateSession(workspace: String, _ b: RequestBody.CreateSession) throws(RemoteError) -> Value {
        let (name, description, tags, folder, metadata) = (b.name, b.description, b.tags, b.folder, b.metadata?.fields)
        let writeProtected = b.writeProtected ?? false
        let session: Session
        do {
            // Opened with the fields given, as a local session is, so that a new
            // session's first record holds them; one already open is updated.
            let candidate = try Session(name: name, workspace: workspace, localPath: nil, description: description,
                                        tags: tags, folder: folder, metadataObject: metadata, writeProtected: writeProtected,
                                        root: sessionRoot)
            let id = RemoteService.sessionID(workspace: candidate.workspace, name: candidate.name)
            do {
                let (found, fresh) = try opened(id: id, candidate)
                defer { release(id) }
                if !fresh {
                    try found.update(description: description, tags: tags, folder: folder, metadata: metadata,
                                     writeProtected: writeProtected)
                }
                session = found
            } catch let e as RemoteError where e.status == 421 && description == nil && tags == nil && folder == nil
                        && metadata == nil && !writeProtected {
                // Another node writes it, and the request changes nothing (a client opening the session to
                // read it): answered as the bucket has it. A request that would change it goes to that node,
                // and so does this one while the bucket has nothing of it yet (its writer has not uploaded):
                // "no such session" would tell the client to create what it just asked to create.
                let (reader, done) = try readable(id, elseThrow: e)
                defer { done() }
                session = reader
            }
        } catch {
            throw RemoteError(any: error)
        }
        let id = RemoteService.sessionID(workspace: session.workspace, name: session.name)
        let f = session.storedFields
        var s = ValueObject()
        s["id"] = .string(id)
        s["name"] = .string(session.name)
        s["workspace"] = .string(session.workspace)
        s["description"] = f["description"] ?? .null
        s["tags"] = f["tags"] ?? []
        s["folder"] = f["folder"] ?? .null
        s["metadata"] = f["metadata"] ?? .null
        s["writeProtected"] = f["write_protected"] ?? false
        s["createdAt"] = f["created_at"] ?? .null
        s["updatedAt"] = f["updated_at"] ?? f["created_at"] ?? .null
        return ["session": .object(s), "workspace": ["name": .string(session.workspace)], "folder": f["folder"] ?? .null]
    }

    /// Whether there is a session with `id` (404 otherwise).
    package func check(_ id: String) throws(RemoteError) {
        _ = try acquire(id)
        release(id)
    }

    /// The open session with `id`, opening it if it is in the store but not
    /// open yet, for one request: ``release(_:)`` must follow.
    func acquire(_ id: String) throws(RemoteError) -> Session {
        if let known = try acquireOpen(id, checkingLease: true) { return known }
        let found = try stored(id)
        do {
            return try opened(id: id, Session(name: found.name, workspace: found.workspace, localPath: nil, description: nil, tags: nil,
                                                     folder: nil, metadataObject: nil, root: sessionRoot)).session
        } catch {
            throw RemoteError(any: error)
        }
    }

    /// The session with `id` for a read, and what to call when the read is done. On a folder root, and
    /// for a session this node writes, it is the writer's session. On an S3 root, a session this node
    /// does not write is read as the bucket has it (what its writer, another node maybe, uploaded): no
    /// lease is taken, so any node reads any session.
    func readable(_ id: String) throws(RemoteError) -> (Session, () -> Void) {
        guard sessionRoot.isShared else { return (try acquire(id), { self.release(id) }) }
        // A read of a session this node writes needs no lease check: it reads what this node wrote.
        if let writing = try acquireOpen(id, checkingLease: false) { return (writing, { self.release(id) }) }
        // The session's name, from the one listing of the bucket that found it.
        let (workspace, name): (String, String)
        if let known = lock.withLock({ names[id] }) {
            (workspace, name) = known
        } else {
            (workspace, name) = try stored(id)
            lock.withLock { names[id] = (workspace, name) }
        }
        let reader: Session, readers = readers
        do { reader = try readers.acquire(workspace, name) } catch { throw RemoteError(any: error) }
        return (reader, { readers.release(workspace, name, reader) })
    }

    /// ``readable(_:)``, but `misdirected` (another node's lease) instead of a 404 when the bucket has
    /// nothing of the session yet: its writer, that node, has not uploaded it.
    private func readable(_ id: String, elseThrow misdirected: RemoteError) throws(RemoteError) -> (Session, () -> Void) {
        do { return try readable(id) } catch {
            throw error.status == 404 ? misdirected : error
        }
    }

    /// The session with `id` when this node has it open (for one request: ``release(_:)`` must follow).
    private func acquireOpen(_ id: String, checkingLease: Bool) throws(RemoteError) -> Session? {
        try lock.withLock { () throws(RemoteError) -> Session? in
            guard var e = open[id] else { return nil }
            if checkingLease { try checkLease(e) }
            e.inUse += 1
            open[id] = e
            return e.session
        }
    }

    /// The workspace and name of the stored session with `id`; 404 when there is none.
    private func stored(_ id: String) throws(RemoteError) -> (workspace: String, name: String) {
        let all: [(workspace: String, name: String)]
        do { all = try sessionRoot.sessions() } catch { throw RemoteError(error) }
        guard let found = all.first(where: { RemoteService.sessionID(workspace: $0.workspace, name: $0.name) == id }) else {
            throw RemoteError(404, "there is no session with id \(Names.quoted(id)); create it with POST /workspaces/{workspace}/sessions")
        }
        return found
    }

    /// The request is done with the session.
    func release(_ id: String) {
        lock.withLock {
            tick += 1
            guard var e = open[id] else { return }
            e.inUse -= 1
            e.lastUsed = tick
            e.lastUsedAt = WallClock.monotonicNanos()
            open[id] = e
        }
    }

    /// The session already open with `id`, else `candidate` opened; `fresh`
    /// says which. Acquired: ``release(_:)`` must follow.
    ///
    /// Opening (a recovery, however long) and closing the sessions evicted to
    /// make room (a final flush) happen outside the lock, so that they stall
    /// no request for another session; a request for a session being opened or
    /// closed waits for that to finish.
    private func opened(id: String, _ candidate: Session) throws -> (session: Session, fresh: Bool) {
        var evicted: [(id: String, entry: Entry)] = []
        lock.lock()
        while true {
            guard !closed else {
                lock.unlock()
                throw RemoteError(500, "the server is shutting down")
            }
            if var e = open[id] {
                do { try checkLease(e) } catch {
                    lock.unlock()
                    throw error
                }
                e.inUse += 1
                open[id] = e
                lock.unlock()
                return (e.session, false)
            }
            guard busy.contains(id) else { break }
            notBusy.wait()
        }
        busy.insert(id)
        while open.count >= maxOpenSessions,
              let idle = open.filter({ $0.value.inUse == 0 }).min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            open[idle.key] = nil
            busy.insert(idle.key)
            evicted.append((idle.key, idle.value))
        }
        lock.unlock()

        let closeFailure = closeTakenOut(evicted).first?.error
        var lease: (any SessionLease)?
        do {
            // An S3 root's session is written by one node at a time: the holder of its lease.
            lease = try takeLease(candidate)
            try candidate.open()
        } catch {
            if let lease { releaseLease(Entry(session: candidate, lease: lease)) }
            lock.withLock {
                busy.remove(id)
                notBusy.broadcast()
            }
            throw error
        }
        lock.withLock {
            busy.remove(id)
            open[id] = Entry(session: candidate, lease: lease)
            notBusy.broadcast()
        }
        if let closeFailure {
            // Never dropped: this request is answered with it (and the server logs it), though its own session opened.
            release(id)
            throw RemoteError(500, "closing an idle session to make room failed, so what it held since its last flush may not be on disk: \(closeFailure.message)")
        }
        return (candidate, true)
    }

    // MARK: Logs

    /// `POST /sessions/{id}/logs` with `{"logs": [{timestamp, level, message, metadata?}, ...]}` (a Swift
    /// remote session adds `timestampMicros` to each entry: the exact time, which wins).
    /// Every entry is checked before any is written.
    package func appendLogs(_ id: String, body: Value) throws(RemoteError) -> Value {
        let session = try acquire(id)
        defer { release(id) }
        let list = try RequestBody.decode(RequestBody.Logs.self, body).logs
        var entries: [(String, LogLevel, ValueObject?, Int64?)] = []
        entries.reserveCapacity(list.count)
        for (i, e) in list.enumerated() {
            let levelName = e.level ?? "info"
            guard let level = LogLevel(name: levelName) else {
                throw RemoteError(400, "logs[\(i)].level is \(Names.quoted(levelName)); use debug, info, warn, error or fatal")
            }
            var timestamp: Int64? = e.timestampMicros
            if timestamp == nil, let t = e.timestamp {
                guard let micros = Timestamps.parse(t) else {
                    throw RemoteError(400, "logs[\(i)].timestamp is \(Names.quoted(t)), not an ISO 8601 time such as 2026-11-25T11:17:49.610107Z")
                }
                timestamp = micros
            }
            let metadata = e.metadata?.fields.isEmpty == true ? nil : e.metadata?.fields
            // An entry the store would refuse refuses the request before any entry is written.
            do { try Store.checkLogEntry(e.message, metadata: metadata) } catch {
                throw RemoteError(400, "logs[\(i)]: \(error.message); nothing of this request was written")
            }
            entries.append((e.message, level, metadata, timestamp))
        }
        var first: UInt64?
        var last: UInt64 = 0
        do {
            for (message, level, metadata, timestamp) in entries {
                let seq = try session.writeLog(message, level: level, metadata: metadata, timestamp: timestamp)
                if first == nil { first = seq }
                last = seq
            }
        } catch { throw RemoteError(error) }
        return [
            "created": .int(Int64(entries.count)),
            "startSequence": first.map { .int(Int64($0)) } ?? .null,
            "endSequence": first == nil ? .null : .int(Int64(last)),
            "sessionId": .string(id),
        ]
    }

    // MARK: Parameters

    /// `POST /sessions/{id}/parameters` with `{"data": {...}}`: merged into what is there.
    package func setParameters(_ id: String, body: Value) throws(RemoteError) -> Value {
        let session = try acquire(id)
        defer { release(id) }
        let data = try RequestBody.decode(RequestBody.Parameters.self, body).data.fields
        do { try session.parameters.set(object: data) } catch { throw RemoteError(error) }
        return try parametersDocument(id, session)
    }

    /// `GET /sessions/{id}/parameters`: 404 until some are set (the client reads that as none).
    package func parameters(_ id: String) throws(RemoteError) -> Value {
        let (session, done) = try readable(id)
        defer { done() }
        return try parametersDocument(id, session)
    }

    private func parametersDocument(_ id: String, _ session: Session) throws(RemoteError) -> Value {
        let updates: [ObjectRecord]
        do { updates = try session.requireStore().parameterUpdates() } catch { throw RemoteError(any: error) }
        guard var doc = PythonDocuments.parameters(updates: updates, note: nil) else {
            throw RemoteError(404, "session \(session.workspace)/\(session.name) has no parameters yet")
        }
        doc["sessionId"] = .string(id)
        doc["createdAt"] = .string(Timestamps.iso(micros: updates.first?.timestamp ?? 0))
        return .object(doc)
    }

    // MARK: Tracks

    /// `POST /sessions/{id}/tracks/{name}/append` with `{"data": {...}, description?, tags?, metadata?}`.
    package func appendPoint(_ id: String, track name: String, body: Value) throws(RemoteError) -> Value {
        let session = try acquire(id)
        defer { release(id) }
        let point = try RequestBody.decode(RequestBody.Point.self, body)
        let track = self.track(session, name, point)
        let index: UInt64
        do { index = try track.append(object: point.data.fields) } catch { throw RemoteError(error) }
        let count = try info(session, name)?.count ?? index + 1
        return [
            "trackId": .string(trackID(session, name)), "index": .string(String(index)),
            "bufferedDataPoints": .string(String(count)), "chunkSize": 10000,
        ]
    }

    /// `POST /sessions/{id}/tracks/{name}/append-batch` with `{"dataPoints": [{...}, ...], ...}`.
    /// A Swift remote session also sends `"timestampsMicros": [...]`, one per point (the time it was
    /// appended, in microseconds since the Unix epoch), so that the server's copy keeps the caller's times.
    package func appendBatch(_ id: String, track name: String, body: Value) throws(RemoteError) -> Value {
        let session = try acquire(id)
        defer { release(id) }
        let batch = try RequestBody.decode(RequestBody.Batch.self, body)
        let points = batch.dataPoints.map(\.fields), timestamps = batch.timestampsMicros
        guard !points.isEmpty else { throw RemoteError(400, "\"dataPoints\" is empty; send at least one point") }
        if let timestamps, timestamps.count != points.count {
            throw RemoteError(400, "\"timestampsMicros\" has \(timestamps.count) times for \(points.count) points; send one per point")
        }
        let track = self.track(session, name, batch)
        let range: Range<UInt64>
        do throws(DreamlakeError) {
            if let timestamps {
                range = try track.appendBatch(objects: points, timestamps: timestamps)
            } else {
                range = try track.appendBatch(objects: points)
            }
        } catch { throw RemoteError(error) }
        let count = try info(session, name)?.count ?? range.upperBound
        return [
            "trackId": .string(trackID(session, name)),
            "startIndex": .string(String(range.lowerBound)), "endIndex": .string(String(range.upperBound - 1)),
            "count": .int(Int64(range.count)), "bufferedDataPoints": .string(String(count)), "chunkSize": 10000,
        ]
    }

    /// `GET /sessions/{id}/tracks/{name}/data?startIndex=&limit=`: at most 10,000 points a page.
    package func readTrack(_ id: String, track name: String, startIndex: Int64, limit: Int64) throws(RemoteError) -> Value {
        guard startIndex >= 0 else { throw RemoteError(400, "startIndex must be 0 or more, not \(startIndex)") }
        guard limit > 0 else { throw RemoteError(400, "limit must be 1 or more, not \(limit)") }
        let (session, done) = try readable(id)
        defer { done() }
        let page: TrackPage
        do { page = try session.track(name).read(startIndex: UInt64(startIndex), limit: Int(min(limit, 10_000))) } catch {
            throw RemoteError(error)
        }
        let data: [Value] = page.points.map { p in
            ["index": .int(Int64(p.index)), "data": .object(p.data), "createdAt": .string(Timestamps.iso(micros: p.timestamp))]
        }
        return [
            "data": .array(data), "startIndex": .int(startIndex),
            "endIndex": .int(startIndex + Int64(data.count) - 1), "total": .int(Int64(data.count)),
            "hasMore": .bool(page.hasMore),
        ]
    }

    /// `GET /sessions/{id}/tracks/{name}/stats`.
    package func trackStats(_ id: String, track name: String) throws(RemoteError) -> Value {
        let (session, done) = try readable(id)
        defer { done() }
        guard let info = try info(session, name) else {
            throw RemoteError(404, "session \(session.workspace)/\(session.name) has no track \(Names.quoted(name))")
        }
        return try statsDocument(session, info)
    }

    /// What `GET .../tracks/{name}/stats` answers, and each entry of the track list.
    private func statsDocument(_ session: Session, _ info: TrackInfo) throws(RemoteError) -> Value {
        let name = info.name
        let m = try metadataDocument(session, info)
        let total = Value.string(String(info.count))
        return [
            "trackId": .string(trackID(session, name)), "name": .string(info.name), "description": m["description"] ?? .null,
            "tags": m["tags"] ?? [], "metadata": m["metadata"] ?? .null, "totalDataPoints": total,
            "bufferedDataPoints": total, "chunkedDataPoints": "0", "totalChunks": 0, "chunkSize": 10000,
            "firstDataAt": m["createdAt"] ?? .null, "lastDataAt": m["updatedAt"] ?? .null,
            "createdAt": m["createdAt"] ?? .null, "updatedAt": m["updatedAt"] ?? .null,
        ]
    }

    /// `GET /sessions/{id}/tracks`: `{"tracks": [...]}` in the order they were defined.
    package func listTracks(_ id: String) throws(RemoteError) -> Value {
        let (session, done) = try readable(id)
        defer { done() }
        let store: Store
        do { store = try session.requireStore() } catch { throw RemoteError(error) }
        // Each entry carries every field of its stats, so that a client lists tracks in one call, not 1 + N.
        var tracks: [Value] = []
        for info in store.tracks() { tracks.append(try statsDocument(session, info)) }
        return ["tracks": .array(tracks)]
    }

    private func track(_ session: Session, _ name: String, _ given: some RequestBody.TrackFields) -> Track {
        session.track(Names.canonical(name), description: given.description, tags: given.tags, metadataObject: given.metadata?.fields)
    }

    private func info(_ session: Session, _ name: String) throws(RemoteError) -> TrackInfo? {
        do { return try session.requireStore().trackInfo(named: Names.canonical(name)) } catch { throw RemoteError(error) }
    }

    private func metadataDocument(_ session: Session, _ info: TrackInfo) throws(RemoteError) -> ValueObject {
        let last: Int64?
        do {
            let store = try session.requireStore()
            last = info.count == 0 ? nil : try store.timestampBounds(of: info.id)?.last
        } catch { throw RemoteError(any: error) }
        return PythonDocuments.trackMetadata(info, lastPointTimestamp: last)
    }

    private func trackID(_ session: Session, _ name: String) -> String {
        RemoteService.derivedID([session.workspace, session.name, Names.canonical(name)])
    }

    // MARK: Files

    /// Whether `filename` may be staged and stored; the reason when not.
    package static func fileNameProblem(_ filename: String) -> String? {
        Names.componentProblem(Names.canonical(filename))
    }

    /// `POST /sessions/{id}/files`: stores the staged upload (a file named as
    /// the client named it) once its size and SHA-256 match what the form claims.
    ///
    /// - Parameters:
    ///   - form: The form's text fields (prefix, checksum, sizeBytes, description, tags, metadata).
    ///   - staged: The path of the staged file.
    ///   - size: How many bytes arrived.
    ///   - checksum: SHA-256 (lowercase hex) of what arrived.
    package func uploadFile(_ id: String, form: [String: String], staged: String, size: Int64,
                            checksum: String) throws(RemoteError) -> Value {
        let session = try acquire(id)
        defer { release(id) }
        if let claimed = form["sizeBytes"], Int64(claimed) != size {
            throw RemoteError(400, "sizeBytes says \(claimed) but \(size) bytes arrived; the upload was cut or altered")
        }
        if let claimed = form["checksum"], claimed.lowercased() != checksum {
            throw RemoteError(400, "the checksum given (\(claimed)) is not the SHA-256 of the bytes that arrived (\(checksum)); nothing was stored")
        }
        var metadata: ValueObject?
        if let m = form["metadata"], !m.isEmpty {
            let v = try RemoteService.parse(Array(m.utf8), what: "the form field \"metadata\"")
            metadata = try RequestBody.decode(ValueDecoding.Object.self, v, what: "the form field \"metadata\"").fields
        }
        let tags = form["tags"].map(RemoteWire.decodeTags)
        let description = form["description"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            let file = try session.files.upload(staged, path: form["prefix"] ?? "/", description: description, tags: tags ?? [],
                                                metadataObject: metadata)
            return .object(file.responseFields)
        } catch { throw RemoteError(error) }
    }

    /// `GET /sessions/{id}/files?prefix=&tags=a,b`: `{"files": [...]}`.
    package func listFiles(_ id: String, prefix: String?, tags: String?) throws(RemoteError) -> Value {
        let (session, done) = try readable(id)
        defer { done() }
        let tagList = tags.map(RemoteWire.decodeTags)
        do {
            let files = try session.files.list(path: prefix.flatMap { $0.isEmpty ? nil : $0 }, tags: tagList)
            return ["files": .array(files.map { .object($0.responseFields) })]
        } catch { throw RemoteError(error) }
    }

    /// `GET /sessions/{id}/files/{fileID}`.
    package func file(_ id: String, fileID: String) throws(RemoteError) -> Value {
        try .object(storedFile(id, fileID).responseFields)
    }

    /// `GET /sessions/{id}/files/{fileID}/download`: the stored bytes, open
    /// (no link on the way is followed, nothing but a regular file is opened),
    /// and the record that names them.
    package func download(_ id: String, fileID: String) throws(RemoteError) -> (bytes: File, file: StoredFile) {
        let (session, done) = try readable(id)
        defer { done() }
        // Opened as every reader of the session opens it: inside its folder, checked against its record.
        do { return try session.files.open(fileID) } catch {
            // A missing file is the client's 404; a record or bytes that are wrong are the server's failure.
            throw error.code == .notFound ? RemoteError(error) : RemoteError(500, error.message)
        }
    }

    /// `PATCH /sessions/{id}/files/{fileID}` with `{description?, tags?, metadata?}`.
    package func updateFile(_ id: String, fileID: String, body: Value) throws(RemoteError) -> Value {
        let session = try acquire(id)
        defer { release(id) }
        let b = try RequestBody.decode(RequestBody.FileUpdate.self, body)
        do {
            return try .object(session.files.update(fileID, description: b.description, tags: b.tags, metadataObject: b.metadata?.fields).responseFields)
        } catch { throw RemoteError(error) }
    }

    /// `DELETE /sessions/{id}/files/{fileID}`: `{"id", "deletedAt"}`.
    package func deleteFile(_ id: String, fileID: String) throws(RemoteError) -> Value {
        let session = try acquire(id)
        defer { release(id) }
        do {
            let at = try session.files.deleteReturningTime(fileID)
            return ["id": .string(fileID), "deletedAt": .string(at)]
        } catch { throw RemoteError(error) }
    }

    private func storedFile(_ id: String, _ fileID: String) throws(RemoteError) -> StoredFile {
        let (session, done) = try readable(id)
        defer { done() }
        let files: [String: StoredFile]
        do { files = try session.files.currentFiles() } catch { throw RemoteError(error) }
        guard let file = files[fileID] else {
            throw RemoteError(404, "session \(session.workspace)/\(session.name) has no file \(Names.quoted(fileID))")
        }
        return file
    }

    // MARK: JSON

    /// The JSON value of a request body (Python's dialect: NaN and Infinity allowed).
    package static func parse(_ bytes: [UInt8], what: String = "the request body") throws(RemoteError) -> Value {
        do { return try PythonJSONReader.parse(bytes) } catch {
            throw RemoteError(400, "\(what) is not JSON: \(error)")
        }
    }
}

extension StoredFile {
    /// The file's record as the API returns it (Python's field names, `deletedAt` null).
    var responseFields: ValueObject {
        var f = fields
        f["deletedAt"] = .null
        return f
    }
}
