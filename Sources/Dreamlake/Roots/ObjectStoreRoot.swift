import DreamlakeS3
import DreamlakeStore
import Foundation
import Synchronization

/// An S3 root, `s3://bucket/prefix`: sessions are objects in the bucket (FORMAT.md, "Sessions in object
/// storage"), written and read through a local folder, the spool (README, "Sessions in S3").
///
/// Every fence of the bucket's sessions is here: a machine writes a session only while it holds its
/// lease (a `serve` node's, or its own, kept by its uploads), so a second machine is refused at open; its
/// spool continues the newest manifest or is set aside; it claims the session; it uploads only while the
/// claim and the lease hold; and it never replaces an object.
package struct ObjectStoreRoot: SessionRoot {
    /// The bucket, its client and the spool folder.
    package let bucket: S3Root
    /// How long a writer's lease of a session lasts unless renewed, in milliseconds
    /// (`DREAMLAKE_S3_LEASE_SECONDS`, else 30 s); it is renewed every third of that.
    package let leaseMilliseconds: UInt64

    package var url: String { "s3://" + bucket.location.bucket + (bucket.location.prefix.isEmpty ? "" : "/" + bucket.location.prefix) }
    package var localFolder: String { bucket.localFolder }
    package var isShared: Bool { true }

    /// Whether `url` names an S3 root rather than a folder.
    package static func isObjectStore(_ url: String) -> Bool { S3Location.isS3(url) }

    /// The root `url` with the endpoint, region and credentials of `environment`.
    /// - Throws: `.invalidArgument` when `url` is not `s3://BUCKET[/PREFIX]` or no credentials are set.
    package init(_ url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(DreamlakeError) {
        do { bucket = try S3Root(url, environment: environment) } catch { throw DreamlakeError(.invalidArgument, error.message) }
        let text = environment["DREAMLAKE_S3_LEASE_SECONDS"]
        let seconds = text.map { Double($0.trimmingCharacters(in: .whitespaces)) ?? .nan } ?? 30
        guard seconds.isFinite, seconds >= 0.3, seconds <= 86_400 else {
            throw DreamlakeError(.invalidArgument, "DREAMLAKE_S3_LEASE_SECONDS is \(Names.quoted(text ?? "")); it is a number of seconds from 0.3 to 86400")
        }
        leaseMilliseconds = UInt64(seconds * 1000)
    }

    package func sessions() throws(DreamlakeError) -> [(workspace: String, name: String)] {
        do { return try bucket.sessions() } catch { throw DreamlakeError(error) }
    }

    package func session(workspace: String, name: String) -> any SessionHome {
        ObjectStoreSession(place: SessionPlace(workspace: workspace, name: name, root: bucket.localFolder),
                           objects: bucket.objects(workspace: workspace, name: name), leaseMilliseconds: leaseMilliseconds)
    }

    /// The owner of a workspace is the object `<prefix>/<workspace>/.owner`, created only if absent by the
    /// first user to reach the workspace through any node.
    package func workspaceOwner(_ workspace: String, claimingFor user: String?) throws(DreamlakeError) -> String? {
        let key = bucket.location.key(workspace + "/" + FolderRoot.ownerFile)
        let url = "s3://\(bucket.location.bucket)/\(key)"
        for _ in 0..<2 {
            let found: Data?
            do { found = try bucket.client.get(bucket: bucket.location.bucket, key: key, range: 0..<4096) } catch {
                throw DreamlakeError(error, "cannot read the owner of workspace \(Names.quoted(workspace)) at \(url): \(error.message)")
            }
            if let data = found {
                guard let doc = try? PythonJSONReader.parse(Array(data)), let owner = doc.objectValue?["owner"]?.stringValue else {
                    throw DreamlakeError(.invalidInput, "\(url) does not name the workspace's owner; fix or remove it")
                }
                return owner
            }
            guard let user else { return nil }
            // Unowned: claim it; of two nodes claiming at once, one creates it and the other reads it.
            let body = Data(PythonJSONWriter.indentedBytes(["owner": .string(user)]))
            do { if try bucket.client.put(bucket: bucket.location.bucket, key: key, body: body, ifAbsent: true) { return user } } catch {
                throw DreamlakeError(error, "cannot record the owner of workspace \(Names.quoted(workspace)) at \(url): \(error.message)")
            }
        }
        throw DreamlakeError(.io, "the owner of workspace \(Names.quoted(workspace)) could not be settled at \(url)")
    }
}

/// A session of an S3 root. One object per ``Session``, so that the manifest it last read or wrote is
/// known to each of its uses (its uploads, its reads, its lease).
final class ObjectStoreSession: SessionHome {
    let place: SessionPlace
    let objects: S3SessionObjects
    /// How long the writer's own lease lasts unless renewed, in milliseconds.
    let leaseMilliseconds: UInt64
    /// A `serve` node's lease, once it took one (``lease(holder:address:duration:)``): its uploads pass it,
    /// and the session takes no lease of its own.
    private let nodeLease = Locked<S3LeaseKeeper?>(nil)

    init(place: SessionPlace, objects: S3SessionObjects, leaseMilliseconds: UInt64) {
        self.place = place
        self.objects = objects
        self.leaseMilliseconds = leaseMilliseconds
    }

    /// Who a writer of this machine's spool is in the session's lease: the same for every process
    /// writing it through this spool (the ranks of a job on one machine), another for any other spool.
    var writerHolder: String {
        // gethostname(2), not ProcessInfo's hostName, which may wait on a name lookup.
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count - 1) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        let spool = SHA256Hasher.hex(SHA256Hasher.hash(Array(place.directory.utf8))).prefix(12)
        return "dreamlake on \(host.isEmpty ? "a machine" : host), spool \(spool)"
    }

    /// Gives the writer's lease up, unless another process of this machine still writes the session
    /// through the spool (the other ranks of a job): they go on renewing it.
    static func giveUp(_ lease: S3LeaseKeeper, directory: String) {
        guard Store.liveWriter(directory: directory) == nil else { return }
        lease.release()
    }

    var url: String { objects.url }
    var remoteSegments: (any RemoteSegments)? { objects }

    /// The spool continues what was uploaded (it is downloaded into a spool that has no store yet, and a
    /// spool the bucket moved past is set aside), and the session is claimed for it (FORMAT.md,
    /// "Claiming": from then on no other machine's spool uploads it).
    func prepareForWriting(_ options: UploadOptions) throws(DreamlakeError) -> (any SessionUploads)? {
        // A server's sessions are written under its node's lease; any other writer takes one of its own.
        let node = nodeLease.withLock { $0 }
        let own = node == nil ? try takeWriterLease() : nil
        do {
            try continueBucket()
        } catch {
            if let own { Self.giveUp(own, directory: place.directory) }
            throw error
        }
        let directory = place.directory
        let keeper = node ?? own
        return ObjectStoreUploads(objects: objects, directory: directory, options: options, renewing: own) { () throws(S3Error) in
            guard let keeper else { return }
            // A lease not held (the store did not answer at opening, or renewals failed, or this process stalled)
            // is taken or renewed now: what failed is the round's error, and a lease another took ends the uploads.
            if !keeper.isHeld(), own != nil { _ = try keeper.keep() }
            try keeper.fence(directory: directory)
        }
    }

    /// Takes the session's lease for this machine's spool. One another machine holds is waited for while
    /// it is not renewed (its machine was lost: it runs out within a lease, and this one takes over);
    /// once it is renewed, the session is being written there, and this one is refused.
    /// - Throws: `.busy` naming the other writer, when it renews its lease or holds it past a lease and 5 s.
    private func takeWriterLease() throws(DreamlakeError) -> S3LeaseKeeper {
        let keeper = S3LeaseKeeper(objects: objects, holder: writerHolder, address: "", duration: leaseMilliseconds)
        let deadline = WallClock.monotonicNanos() &+ (leaseMilliseconds &+ 5000) &* 1_000_000
        let nap = min(1.0, Double(leaseMilliseconds) / 6000)
        var first: S3Lease?
        while true {
            let outcome: S3LeaseOutcome
            do { outcome = try keeper.take() } catch where error.isRetryable {
                // The store does not answer: the session opens (appends go to the spool), and its uploads
                // wait until the lease is taken (or find that another machine has it, and stop).
                return keeper
            } catch {
                throw DreamlakeError(error, "the lease of \(objects.url) could not be read or written: \(error.message)")
            }
            guard case .heldByAnother(let other) = outcome else { return keeper }
            let renewed = first.map { other.generation != $0.generation } ?? false
            if renewed || WallClock.monotonicNanos() >= deadline {
                let until = Timestamps.iso(micros: Int64(min(other.expiresAt, 1 << 50)) * 1000)  // read from the bucket: any value
                throw DreamlakeError(.busy, "session \(place.label) of \(objects.url) is written from another machine (\(other.holder)), "
                                     + "whose lease runs to \(until) unless renewed: one machine writes a session at a time (README, "
                                     + "\"Sessions in S3\"). Write a session per machine, or the ranks' points through `dreamlake serve`; "
                                     + "a job restarted after its machine was lost opens once that machine's lease runs out")
            }
            if first == nil { first = other }
            Thread.sleep(forTimeInterval: nap)
        }
    }

    /// Makes the spool continue the newest manifest and claims the session for it.
    private func continueBucket() throws(DreamlakeError) {
        let directory = place.directory
        // Three times at most: a manifest another machine writes while this one opens sends it round again.
        for attempt in 0..<3 {
            // A spool a reader made holds the commit log without the segments: a writer needs them.
            var complete: Bool
            do { complete = Store.exists(at: directory) ? try !Store.lacksCommittedSegments(directory: directory) : false } catch {
                throw DreamlakeError(error)
            }
            // A spool the bucket has moved past (another machine wrote the session since: a server whose lease
            // was taken over) would never upload again: it is moved aside, and the session downloaded afresh.
            if complete, objects.spoolContinuesBucket(directory) == false {
                let aside = try setAside(attempt: attempt)
                FileHandle.standardError.write(Data("dreamlake: the spool of \(objects.url) was behind the bucket (written elsewhere since); it is kept at \(aside), and the session continues from the bucket\n".utf8))
                complete = false
            }
            try place.makeFolder()
            if !complete {
                do { try objects.download(into: directory) } catch { throw DreamlakeError(error, path: directory) }
            }
            do {
                // Made from the manifest the spool holds now (the one downloaded, or the newest it continues).
                _ = try S3Spool.make(directory, base: objects.knownManifest?.generation ?? 0)
                try objects.claim(for: directory)
                break
            } catch where error.isSuperseded && attempt < 2 {
                continue  // written elsewhere meanwhile: the spool is behind again
            } catch where error.isRetryable {
                break  // the store does not answer: the uploader's first round makes the claim (an upload is one)
            } catch {
                throw DreamlakeError(error, path: directory)
            }
        }
    }

    /// Moves the spool aside, as `<folder>.superseded-<seconds>-<attempt>`; returns where it went.
    private func setAside(attempt: Int) throws(DreamlakeError) -> String {
        let aside = place.directory + ".superseded-\(Int(Date().timeIntervalSince1970))-\(attempt)"
        do { try FileManager.default.moveItem(atPath: place.directory, toPath: aside) } catch {
            throw DreamlakeError(.io, "the spool \(place.directory) is behind \(objects.url), and could not be moved aside: \(error.localizedDescription)")
        }
        return aside
    }

    /// Brings the spool's commit log up to the newest manifest (a spool ahead of it, being written on
    /// this machine, is left as it is); blocks are read from the bucket.
    func prepareForReading() throws(DreamlakeError) {
        try place.makeFolder()
        do { try objects.download(into: place.directory, segments: false) } catch { throw DreamlakeError(error, path: place.directory) }
    }

    func fetchStoredFile(_ relative: String) throws(DreamlakeError) {
        do { try objects.fetchStoredFile(relative, into: place.directory) } catch {
            throw DreamlakeError(error, "file \(relative) of session \(place.label): \(error.message)")
        }
    }

    func fetchStoredFiles() throws(DreamlakeError) {
        do { try objects.fetchStoredFiles(into: place.directory) } catch { throw DreamlakeError(error, path: place.directory) }
    }

    func download() throws(DreamlakeError) {
        try place.makeFolder()
        do { try objects.download(into: place.directory) } catch { throw DreamlakeError(error, path: place.directory) }
    }

    /// Every object the newest manifest names, each of the size it says, downloaded into an empty folder.
    func copyForChecking() throws(DreamlakeError) -> (directory: String, scratch: String?) {
        let scratch = NSTemporaryDirectory() + "dreamlake-verify-" + UUID().uuidString
        do { try objects.download(into: scratch + "/store") } catch {
            try? FileManager.default.removeItem(atPath: scratch)
            throw DreamlakeError(error, "\(place.label): \(error.message)")
        }
        return (scratch + "/store", scratch)
    }

    /// Seals the folder's store and uploads it as a new session: its spool is made from no manifest, so
    /// one of that name in the bucket refuses the upload.
    func publishNew() throws(DreamlakeError) {
        do {
            let store = try Store(directory: place.directory)
            try store.sealSegment()
            try store.close()
        } catch { throw DreamlakeError(error) }
        do {
            _ = try S3Spool.make(place.directory, base: 0)
            try objects.upload(from: place.directory)
        } catch { throw DreamlakeError(error, path: place.directory) }
    }

    /// Removes the objects, manifests first (no reader finds a manifest whose objects are going), then the spool.
    func remove() throws(DreamlakeError) {
        do { try objects.removeAll() } catch {
            throw DreamlakeError(error, "could not remove \(objects.url): \(error.message)")
        }
        try FolderSession(place: place).remove()
    }

    /// The generation of the newest manifest (one listing, no read).
    func fingerprint() -> String {
        guard let newest = try? objects.newestManifestListed() else { return "" }
        return "manifest \(newest.generation) \(newest.etag)"
    }

    /// A process of this machine writing the spool, or a server holding the lease. (A writer on another
    /// machine without a lease shows as not live.)
    func isLive(locks: HeldFlocks?) -> Bool {
        if Store.liveWriter(directory: place.directory, locks: locks) != nil { return true }
        return (try? objects.currentLease())??.isHeld(at: S3LeaseKeeper.now()) ?? false
    }

    func lease(holder: String, address: String, duration: UInt64) -> (any SessionLease)? {
        let keeper = S3LeaseKeeper(objects: objects, holder: holder, address: address, duration: duration)
        nodeLease.withLock { $0 = keeper }
        return ObjectStoreLease(keeper: keeper)
    }
}

/// An S3 session's uploads: the bound on its spool (``SpoolGate``) from the store's opening, and its
/// uploader thread once the store is open.
final class ObjectStoreUploads: SessionUploads {
    private let objects: S3SessionObjects
    private let directory: String
    private let interval: Double
    private let gate: SpoolGate
    private let fence: @Sendable () throws(S3Error) -> Void
    private let uploader = Locked<S3Uploader?>(nil)
    /// The writer's own lease, renewed on a thread of its own every third of its duration while the
    /// session is open, and given up when it closes (a server renews its nodes' leases itself).
    private let lease: S3LeaseKeeper?
    private let renewer = Locked<OSThread?>(nil)
    private let stopping = Atomic<Bool>(false)

    init(objects: S3SessionObjects, directory: String, options: UploadOptions, renewing lease: S3LeaseKeeper?,
         fence: @escaping @Sendable () throws(S3Error) -> Void) {
        self.objects = objects
        self.directory = directory
        interval = options.interval
        gate = SpoolGate(objects: objects, directory: directory, limit: UInt64(max(1, options.spoolLimit)))
        self.lease = lease
        self.fence = fence
    }

    func afterAppend(handedBytes: UInt64) { gate.waitForRoom(handedBytes: handedBytes) }

    func start(sealing seal: @escaping @Sendable () throws -> Void) throws(DreamlakeError) {
        let started = S3Uploader(objects: objects, directory: directory, interval: interval, gate: gate, fence: fence, seal: seal)
        do { try started.start() } catch {
            gate.openForGood()  // no uploader will: the store's close must not wait at the gate
            throw DreamlakeError(error)
        }
        uploader.withLock { $0 = started }
        if let lease {
            let every = Double(lease.duration) / 3000
            let thread = OSThread.start { [self] in
                var next = WallClock.monotonicNanos(after: every)
                while !stopping.load(ordering: .relaxed) {
                    // In short naps, so that closing does not wait a third of a lease.
                    Thread.sleep(forTimeInterval: min(0.05, every))
                    guard WallClock.monotonicNanos() >= next, !stopping.load(ordering: .relaxed) else { continue }
                    // A failure is tried again at the next third; the fence stops uploads once the lease runs out.
                    _ = try? lease.keep()
                    next = WallClock.monotonicNanos(after: every)
                }
            }
            renewer.withLock { $0 = thread }
        }
    }

    func uploadNow() throws(DreamlakeError) {
        guard let current = uploader.withLock({ $0 }) else { return }
        do { try current.uploadNow() } catch { throw DreamlakeError(error, path: directory) }
    }

    func stop() {
        gate.openForGood()
        uploader.withLock { $0 }?.stop()
        stopping.store(true, ordering: .relaxed)
        renewer.withLock { t in defer { t = nil }; return t }?.join()
    }

    func end() {
        if let lease { ObjectStoreSession.giveUp(lease, directory: directory) }
    }

    var lastError: DreamlakeError? { uploader.withLock { $0 }?.lastError.map { DreamlakeError($0, path: directory) } }
}

/// A `serve` node's lease of an S3 session (``S3LeaseKeeper``).
struct ObjectStoreLease: SessionLease {
    let keeper: S3LeaseKeeper

    func take() throws(DreamlakeError) -> LeaseOutcome {
        do { return Self.outcome(try keeper.take()) } catch { throw DreamlakeError(error) }
    }

    func renew() throws(DreamlakeError) -> LeaseOutcome? {
        do { return try keeper.renew().map(Self.outcome) } catch { throw DreamlakeError(error) }
    }

    func release() { keeper.release() }
    func isHeld() -> Bool { keeper.isHeld() }

    private static func outcome(_ o: S3LeaseOutcome) -> LeaseOutcome {
        switch o {
        case .held: .held
        case .heldByAnother(let other): .heldByAnother(holder: other.holder, address: other.address, expiresAt: other.expiresAt)
        }
    }
}
