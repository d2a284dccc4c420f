import DreamlakeS3
import DreamlakeStore
import Foundation

/// An S3 root, `s3://bucket/prefix`: sessions are objects in the bucket (FORMAT.md, "Sessions in object
/// storage"), written and read through a local folder, the spool (README, "Sessions in S3").
///
/// Every fence of the bucket's sessions is here: a writing spool continues the newest manifest or is
/// set aside, claims the session for this machine, uploads only while its claim (and a `serve` node's
/// lease) holds, and never replaces an object.
package struct ObjectStoreRoot: SessionRoot {
    /// The bucket, its client and the spool folder.
    package let bucket: S3Root

    package var url: String { "s3://" + bucket.location.bucket + (bucket.location.prefix.isEmpty ? "" : "/" + bucket.location.prefix) }
    package var localFolder: String { bucket.localFolder }
    package var isShared: Bool { true }

    /// Whether `url` names an S3 root rather than a folder.
    package static func isObjectStore(_ url: String) -> Bool { S3Location.isS3(url) }

    /// The root `url` with the endpoint, region and credentials of `environment`.
    /// - Throws: `.invalidArgument` when `url` is not `s3://BUCKET[/PREFIX]` or no credentials are set.
    package init(_ url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(DreamlakeError) {
        do { bucket = try S3Root(url, environment: environment) } catch { throw DreamlakeError(.invalidArgument, error.message) }
    }

    package func sessions() throws(DreamlakeError) -> [(workspace: String, name: String)] {
        do { return try bucket.sessions() } catch { throw DreamlakeError(error) }
    }

    package func session(workspace: String, name: String) -> any SessionHome {
        ObjectStoreSession(place: SessionPlace(workspace: workspace, name: name, root: bucket.localFolder),
                           objects: bucket.objects(workspace: workspace, name: name))
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
    /// The lease its uploads pass, once one was taken (``lease(holder:address:duration:)``).
    private let leaseFence = Locked<S3LeaseKeeper?>(nil)

    init(place: SessionPlace, objects: S3SessionObjects) {
        self.place = place
        self.objects = objects
    }

    var url: String { objects.url }
    var remoteSegments: (any RemoteSegments)? { objects }

    /// The spool continues what was uploaded (it is downloaded into a spool that has no store yet, and a
    /// spool the bucket moved past is set aside), and the session is claimed for it (FORMAT.md,
    /// "Claiming": from then on no other machine's spool uploads it).
    func prepareForWriting(_ options: UploadOptions) throws(DreamlakeError) -> (any SessionUploads)? {
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
        let fence = leaseFence
        return ObjectStoreUploads(objects: objects, directory: directory, options: options) { () throws(S3Error) in
            try fence.withLock { $0 }?.fence(directory: directory)
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
    func fingerprint() -> [UInt64] { [(try? objects.newestGeneration()) ?? 0] }

    /// A process of this machine writing the spool, or a server holding the lease. (A writer on another
    /// machine without a lease shows as not live.)
    func isLive() -> Bool {
        if Store.liveWriter(directory: place.directory) != nil { return true }
        return (try? objects.currentLease())??.isHeld(at: S3LeaseKeeper.now()) ?? false
    }

    func lease(holder: String, address: String, duration: UInt64) -> (any SessionLease)? {
        let keeper = S3LeaseKeeper(objects: objects, holder: holder, address: address, duration: duration)
        leaseFence.withLock { $0 = keeper }
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

    init(objects: S3SessionObjects, directory: String, options: UploadOptions, fence: @escaping @Sendable () throws(S3Error) -> Void) {
        self.objects = objects
        self.directory = directory
        interval = options.interval
        gate = SpoolGate(objects: objects, directory: directory, limit: UInt64(max(1, options.spoolLimit)))
        self.fence = fence
    }

    func afterAppend() { gate.waitForRoom() }

    func start(sealing seal: @escaping @Sendable () throws -> Void) throws(DreamlakeError) {
        let started = S3Uploader(objects: objects, directory: directory, interval: interval, gate: gate, fence: fence, seal: seal)
        do { try started.start() } catch {
            gate.openForGood()  // no uploader will: the store's close must not wait at the gate
            throw DreamlakeError(error)
        }
        uploader.withLock { $0 = started }
    }

    func uploadNow() throws(DreamlakeError) {
        guard let current = uploader.withLock({ $0 }) else { return }
        do { try current.uploadNow() } catch { throw DreamlakeError(error, path: directory) }
    }

    func stop() {
        gate.openForGood()
        uploader.withLock { $0 }?.stop()
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
