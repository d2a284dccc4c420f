import Foundation
import Synchronization

/// One run of an experiment: its logs, parameters, tracks and files, kept in
/// a store under `<localPath>/<workspace>/<name>/`.
///
/// Three ways to use it, as in the Python package:
///
/// ```swift
/// // The form of the decorator and the `with` block: open, run, close (also when the body throws).
/// try Session.with(name: "my-experiment", workspace: "my-workspace", localPath: "./experiments") { session in
///     try session.log("Training started")
///     try session.track("loss").append(value: 0.5, step: 1)
/// }
///
/// // Direct control.
/// let session = try Session(name: "resnet50", workspace: "vision")
/// try session.open()
/// try session.parameters.set(["learning_rate": 0.001])
/// try session.close()
/// ```
///
/// Opening an existing session continues it: log sequence numbers and track
/// indexes carry on, parameters merge, and metadata given again updates it.
/// A session is safe to use from many threads and tasks at once.
public final class Session: @unchecked Sendable {
    /// The session's name, unique within its workspace.
    public let name: String
    /// The workspace the session belongs to.
    public let workspace: String
    /// The folder sessions live under, or the S3 root (`s3://bucket/prefix`) they are uploaded to.
    public let localPath: String
    /// The session's own directory: `<localPath>/<workspace>/<name>`; for an S3 root, its spool
    /// (`<cache>/<bucket>/<prefix>/<workspace>/<name>`; README, "Sessions in S3").
    public let directory: String
    /// For an S3 root: seconds between uploads of what was appended (a segment is sealed and uploaded
    /// at least this often; ``close()`` and ``flush(uploading:)`` upload at once).
    public let uploadInterval: Double
    /// For an S3 root: the most bytes of segments not yet uploaded the spool holds before appends wait
    /// for the uploads (one segment, 64 MiB, more is written past it: the one being sealed).
    public let spoolLimit: Int64
    /// The store's sizes (segments, pending blocks), when not its defaults: for tests.
    private let storeSizes: StoreConfiguration?
    /// Where sessions live: the folder `localPath`, or the S3 root it names.
    package let root: any SessionRoot
    /// This session's place in ``root``: one object, so that what it last read of a bucket is known to every use.
    package let home: any SessionHome
    /// The durability of the session's store (see `Durability` in `DreamlakeStore`).
    public let durability: Durability
    /// The writer this process writes the session as, when one was asked for
    /// (given, or from `RANK` or `LOCAL_RANK`); nil when the lowest free one is
    /// taken at open. Each point and log entry is kept with its writer.
    public let rank: UInt32?

    // Given at init; applied to the stored metadata on open.
    private let givenDescription: String?
    private let givenTags: [String]?
    private let givenFolder: String?
    private let givenMetadata: ValueObject?
    private let givenWriteProtected: Bool
    /// Where ``close()`` exports the session to, if anywhere.
    public let exportOnClose: String?
    /// The server a remote session sends to; nil for a local one.
    let remote: RemoteTarget?

    /// Odd while open, even while closed; every open and close adds one. A
    /// track caches its engine handle with the generation it got it in.
    let generation = Atomic<UInt64>(0)
    /// What an opening holds (README.md, "How the code waits", says why `Locked`).
    let state = Locked(OpenState())

    struct OpenState {
        /// The local store, while open.
        var store: Store?
        /// Where reads are answered, chosen when the session opens (see ``SessionBackend``).
        var backend: (any SessionBackend)?
        /// The stored session fields, folded.
        var fields: ValueObject = [:] {
            didSet { writeProtected = fields["write_protected"]?.boolValue == true }
        }
        /// `write_protected` of ``fields``, kept apart so that every write need not look it up.
        var writeProtected = false
        var trackHandles: [String: TrackHandle] = [:]
        /// What carries the writes on past the folder (an S3 root's uploads), while open for writing.
        var uploads: (any SessionUploads)?
    }

    /// The fields given at init, for a remote session's server.
    var givenFields: (description: String?, tags: [String]?, folder: String?, metadata: ValueObject?, writeProtected: Bool) {
        (givenDescription, givenTags, givenFolder, givenMetadata, givenWriteProtected)
    }

    /// Creates a session object; nothing is written until ``open()``.
    ///
    /// - Parameters:
    ///   - name: The session's name: a non-empty file name (no "/", "\\", NUL or control characters, not "." or "..", at most 255 bytes). Unicode is welcome.
    ///   - workspace: The workspace's name, with the same rules.
    ///   - localPath: The folder sessions live under. The default is the `DREAMLAKE_PATH` environment variable, else `./.dreamlake`.
    ///   - description: A description; nil leaves a stored one as it is.
    ///   - tags: Tags; nil leaves stored ones as they are.
    ///   - folder: A folder for organizing sessions (e.g. "/experiments/2025"); nil leaves a stored one as it is.
    ///   - metadata: Free-form metadata; nil leaves stored metadata as it is.
    ///   - writeProtected: When true, the session is marked write-protected on open, and every write after that is refused.
    ///   - durability: When appends reach the disk. The default is the store's (every 1000 ms).
    ///   - exportOnClose: A folder to export the session to, in Python dreamlake's
    ///     JSONL layout (`<folder>/<workspace>/<name>/`), each time it is closed;
    ///     for tools that watch a folder. Nil (the default) for none.
    ///   - rank: Which writer this process is, 0 to 9999, when several processes
    ///     write the session at once (the ranks of a distributed job). Nil (the
    ///     default) takes the `RANK` environment variable when it is set (torchrun
    ///     and DeepSpeed set it), else `LOCAL_RANK`, else the lowest writer free.
    ///     Any number of processes may write one session; two cannot be the same rank.
    ///   - uploadInterval: For an S3 root, the most seconds of appends a lost machine may lose:
    ///     a segment is sealed and uploaded at least this often. Nil (the default) takes the
    ///     `DREAMLAKE_UPLOAD_INTERVAL` environment variable, else 60 (as TensorBoard flushes).
    ///   - spoolLimit: For an S3 root, the most bytes of segments not yet uploaded that the spool
    ///     holds (while the store is unreachable, say) before appends wait for the uploads. Nil (the
    ///     default) takes the `DREAMLAKE_S3_SPOOL_MB` environment variable (MiB), else 4 GiB.
    /// - Throws: ``DreamlakeError`` with `.invalidName` when a name or the folder
    ///   is refused, `.invalidArgument` when the rank is out of range, or an S3 root is not
    ///   of the form `s3://bucket/prefix` or has no credentials.
    public convenience init(name: String, workspace: String, localPath: String? = nil, description: String? = nil,
                            tags: [String]? = nil, folder: String? = nil,
                            metadata: KeyValuePairs<String, any ValueConvertible>? = nil,
                            writeProtected: Bool = false, durability: Durability = StoreConfiguration().durability,
                            exportOnClose: String? = nil, rank: Int? = nil, uploadInterval: Double? = nil,
                            spoolLimit: Int64? = nil) throws(DreamlakeError) {
        try self.init(name: name, workspace: workspace, localPath: localPath, description: description, tags: tags,
                      folder: folder, metadataObject: metadata.map(ValueObject.init(pairs:)), writeProtected: writeProtected,
                      durability: durability, exportOnClose: exportOnClose, rank: rank, uploadInterval: uploadInterval,
                      spoolLimit: spoolLimit)
    }

    /// The rank a session writes as: the one given, else `RANK`, else `LOCAL_RANK`; nil for the lowest free.
    package static func resolveRank(given: Int?, environment: [String: String]) throws(DreamlakeError) -> UInt32? {
        let (value, source): (Int?, String)
        if let given {
            (value, source) = (given, "the rank given")
        } else if let text = environment["RANK"] ?? environment["LOCAL_RANK"] {
            let name = environment["RANK"] != nil ? "RANK" : "LOCAL_RANK"
            guard let v = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw DreamlakeError(.invalidArgument, "the environment variable \(name) is \(Names.quoted(text)), not a rank (a whole number from 0 to 9999)")
            }
            (value, source) = (v, "the environment variable \(name)")
        } else {
            return nil
        }
        guard let value, value >= 0, value <= 9999 else {
            throw DreamlakeError(.invalidArgument, "\(source) is \(value ?? -1); a rank is from 0 to 9999")
        }
        return UInt32(value)
    }

    /// As the public initializer, with metadata already an object (a remote client's).
    package init(name: String, workspace: String, localPath: String?, description: String?, tags: [String]?,
                 folder: String?, metadataObject: ValueObject?, writeProtected: Bool = false,
                 durability: Durability = StoreConfiguration().durability, exportOnClose: String? = nil,
                 remote: RemoteTarget? = nil, rank: Int? = nil, uploadInterval: Double? = nil, spoolLimit: Int64? = nil,
                 storeSizes: StoreConfiguration? = nil, root given: (any SessionRoot)? = nil,
                 environment: [String: String] = ProcessInfo.processInfo.environment) throws(DreamlakeError) {
        // Canonically equal names (é as one code point or as e + accent) name one session, stored in NFC.
        let workspace = Names.canonical(workspace), name = Names.canonical(name)
        try Names.checkSessionComponent(workspace, "workspace")
        try Names.checkSessionComponent(name, "session")
        let root = given?.url ?? localPath ?? environment["DREAMLAKE_PATH"] ?? "./.dreamlake"
        guard !root.isEmpty, !root.contains("\0") else {
            throw DreamlakeError(.invalidName, "the local path \(Names.quoted(root)) is not a usable folder")
        }
        if let given { self.root = given } else { self.root = try sessionRoot(root, environment: environment) }
        guard remote == nil || !self.root.isShared else {
            throw DreamlakeError(.invalidArgument, "a remote session keeps its local copy in a folder, not in \(root)")
        }
        self.name = name
        self.workspace = workspace
        home = self.root.session(workspace: workspace, name: name)
        self.localPath = given?.url ?? root
        self.directory = home.place.directory
        let intervalText = environment["DREAMLAKE_UPLOAD_INTERVAL"]
        let interval = uploadInterval ?? intervalText.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } ?? 60
        // Only an S3 root has an uploader: a local session never refuses the variable.
        guard !self.root.isShared || (interval.isFinite && interval > 0) else {
            let source = uploadInterval != nil ? "the upload interval given" : "DREAMLAKE_UPLOAD_INTERVAL"
            throw DreamlakeError(.invalidArgument, "\(source) is \(uploadInterval.map { "\($0)" } ?? intervalText ?? ""); it is a number of seconds above 0")
        }
        self.uploadInterval = interval
        let limitText = environment["DREAMLAKE_S3_SPOOL_MB"]
        let limit = spoolLimit ?? limitText.flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }.map { $0.multipliedReportingOverflow(by: 1 << 20) }
            .flatMap { $0.overflow ? nil : $0.partialValue } ?? (limitText == nil ? 4 << 30 : -1)
        guard !self.root.isShared || limit > 0 else {
            let source = spoolLimit != nil ? "the spool limit given" : "DREAMLAKE_S3_SPOOL_MB"
            throw DreamlakeError(.invalidArgument, "\(source) is \(spoolLimit.map { "\($0)" } ?? limitText ?? ""); it is a number of \(spoolLimit != nil ? "bytes" : "MiB") above 0")
        }
        self.spoolLimit = limit > 0 ? limit : 4 << 30  // a local session has no spool: the variable is not its concern
        self.storeSizes = storeSizes
        self.durability = durability
        givenDescription = description
        givenTags = tags
        givenFolder = try folder.map { (f) throws(DreamlakeError) in try Names.normalizeFolder(f) }
        givenMetadata = metadataObject
        givenWriteProtected = writeProtected
        self.exportOnClose = exportOnClose
        self.remote = remote
        self.rank = try Session.resolveRank(given: rank, environment: environment)
    }

    deinit {
        // Dropped without close(): a remote session's delivery thread ends
        // (what it did not send stays in the local store for the next opening).
        let (store, backend, uploads) = state.withLock { ($0.store, $0.backend, $0.uploads) }
        // What was not uploaded stays in the spool, and goes up when the session is opened again.
        uploads?.stop()
        backend?.abandon()
        if let store { try? store.close() }
    }

    /// The session's name and folder, as backends see them.
    var place: SessionPlace { home.place }

    // MARK: Lifecycle

    /// Whether the session is open.
    public var isOpen: Bool { state.withLock { $0.store != nil } }

    /// The session's description, as stored (or as given, before the first open).
    public var description: String? { field("description")?.stringValue ?? (isOpen ? nil : givenDescription) }
    /// The session's tags, as stored (or as given, before the first open).
    public var tags: [String] {
        if let a = field("tags")?.arrayValue { return a.compactMap(\.stringValue) }
        return isOpen ? [] : givenTags ?? []
    }
    /// The session's folder, as stored (or as given, before the first open).
    public var folder: String? { field("folder")?.stringValue ?? (isOpen ? nil : givenFolder) }
    /// The session's metadata, as stored.
    public var metadata: ValueObject? { field("metadata")?.objectValue ?? (isOpen ? nil : givenMetadata) }
    /// Whether the session refuses writes.
    public var isWriteProtected: Bool { field("write_protected")?.boolValue ?? givenWriteProtected }
    /// Every stored session field (name, workspace, description, tags, folder, metadata, created_at, write_protected, updated_at).
    public var storedFields: ValueObject { state.withLock { $0.fields } }

    private func field(_ key: String) -> Value? {
        state.withLock { $0.fields[key] }.flatMap { $0.isNull ? nil : $0 }
    }

    /// Opens the session: creates its store, or continues the one there, and
    /// writes the metadata given at init. Opening an open session does nothing.
    ///
    /// - Throws: ``DreamlakeError`` when the store cannot be opened (another
    ///   process writes it, it is damaged) or the session's directory would
    ///   lie outside `localPath`; for an S3 root, `.busy` when another machine
    ///   writes the session (it renews its lease: README, "Sessions in S3").
    public func open() throws(DreamlakeError) {
        guard !isOpen else { return }
        // The root readies the folder: for an S3 root, it continues the bucket and is claimed for this machine.
        let uploads = try home.prepareForWriting(UploadOptions(interval: uploadInterval, spoolLimit: spoolLimit))
        let store: Store
        do {
            guard let opened = try openStore(uploads: uploads) else {
                uploads?.stop()  // another call opened it meanwhile, and writes with its own
                return
            }
            store = opened
        } catch {
            uploads?.stop()
            uploads?.end()
            throw error
        }
        do {
            if let uploads {
                try uploads.start { try store.sealSegment() }
                state.withLock { $0.uploads = uploads }
            }
            // The one place the backend is chosen: the local store's own, unless the session sends to a server.
            if let remote {
                let backend = try startRemote(remote, store: store)
                state.withLock { $0.backend = backend }
            }
        } catch {
            uploads?.stop()
            try? close()
            uploads?.end()
            throw error
        }
    }

    /// Opens the local store; returns it when this call opened it.
    /// - Parameter uploads: What an S3 session's appends pass (the bound on what its spool holds not uploaded).
    private func openStore(uploads: (any SessionUploads)?) throws(DreamlakeError) -> Store? {
        try state.withLock { (s) throws(DreamlakeError) -> Store? in try openStore(&s, uploads: uploads) }
    }

    private func openStore(_ s: inout OpenState, uploads: (any SessionUploads)?) throws(DreamlakeError) -> Store? {
        guard s.store == nil else { return nil }
        try place.makeFolder()
        let store: Store
        do {
            var configuration = storeSizes ?? StoreConfiguration()
            configuration.durability = durability
            if let uploads { configuration.afterAppendSealed = { uploads.afterAppend(handedBytes: $0) } }
            store = try Store(directory: directory, configuration: configuration, writer: rank)
        } catch {
            throw DreamlakeError(error)
        }
        do {
            var fields = try Session.foldFields(store)
            let now = Timestamps.isoNow()
            var update = ValueObject()
            if fields.isEmpty {
                // The fields Python dreamlake writes in session.json, in its order.
                update["name"] = .string(name)
                update["workspace"] = .string(workspace)
                update["description"] = givenDescription.map(Value.string) ?? .null
                update["tags"] = .array((givenTags ?? []).map(Value.string))
                update["folder"] = givenFolder.map(Value.string) ?? .null
                update["metadata"] = givenMetadata.map(Value.object) ?? .null
                update["created_at"] = .string(now)
                update["write_protected"] = .bool(givenWriteProtected)
                try store.appendSessionMetadata(update)
                for (k, v) in update { fields[k] = v }
            } else {
                try apply(Session.changes(to: fields, description: givenDescription, tags: givenTags, folder: givenFolder,
                                          metadata: givenMetadata, writeProtected: givenWriteProtected, now: now),
                          to: &fields, in: store)
            }
            s.fields = fields
            s.store = store
            s.backend = LocalBackend(store: store, place: place, home: home)
            generation.add(1, ordering: .releasing)
            return store
        } catch let e as DreamlakeError {
            try? store.close()
            throw e
        } catch let e as StoreError {
            try? store.close()
            throw DreamlakeError(e)
        } catch {
            try? store.close()
            throw DreamlakeError(.io, "\(error)")
        }
    }

    /// Changes the stored description, tags, folder or metadata of the open
    /// session (nil leaves each as it is); `writeProtected` true protects it
    /// from then on. What a remote client's "create or update" asks of a
    /// session the server has open.
    ///
    /// - Throws: ``DreamlakeError`` with `.writeProtected` when the session is
    ///   protected and something would change, `.notOpen`, `.invalidName` for a bad folder.
    package func update(description: String?, tags: [String]?, folder: String?, metadata: ValueObject?,
                        writeProtected: Bool) throws(DreamlakeError) {
        let folder = try folder.map { (f) throws(DreamlakeError) in try Names.normalizeFolder(f) }
        try state.withLock { (s) throws(DreamlakeError) in
            guard let store = s.store else { throw notOpenError }
            var fields = s.fields
            let update = Session.changes(to: fields, description: description, tags: tags, folder: folder, metadata: metadata,
                                         writeProtected: writeProtected, now: Timestamps.isoNow())
            do { try apply(update, to: &fields, in: store) } catch let e as DreamlakeError { throw e } catch let e as StoreError {
                throw DreamlakeError(e)
            } catch { throw DreamlakeError(.io, "\(error)") }
            s.fields = fields
        }
    }

    /// What given fields change in an existing session's stored `fields`, stamped `now`.
    private static func changes(to fields: ValueObject, description: String?, tags: [String]?, folder: String?,
                                metadata: ValueObject?, writeProtected: Bool, now: String) -> ValueObject {
        var update = ValueObject()
        if let d = description { update["description"] = .string(d) }
        if let t = tags { update["tags"] = .array(t.map(Value.string)) }
        if let f = folder { update["folder"] = .string(f) }
        if let m = metadata { update["metadata"] = .object(m) }
        if writeProtected && fields["write_protected"]?.boolValue != true { update["write_protected"] = true }
        update["updated_at"] = .string(now)
        return update
    }

    /// Writes `update` to `store` and folds it into `fields`. A protected
    /// session takes no change at all, not even the time (it is refused when
    /// anything else would change).
    private func apply(_ update: ValueObject, to fields: inout ValueObject, in store: Store) throws {
        if fields["write_protected"]?.boolValue == true {
            if update.keys.contains(where: { $0 != "updated_at" }) {
                throw DreamlakeError(.writeProtected, "session \(workspace)/\(name) is write-protected; its metadata cannot change")
            }
            return
        }
        try store.appendSessionMetadata(update)
        for (k, v) in update { fields[k] = v }
    }

    /// Opens the session to read it, writing nothing at all (not even the time
    /// of opening), without taking the writer lock: a process writing the
    /// session meanwhile is not disturbed, and ``refresh()`` picks up what it writes.
    /// Every write through a session opened this way throws `.readOnly`.
    ///
    /// - Throws: ``DreamlakeError`` with `.notFound` when there is no such
    ///   session, `.store` when its store cannot be read.
    public func openForReading() throws(DreamlakeError) {
        try state.withLock { (s) throws(DreamlakeError) in try openForReading(&s) }
    }

    private func openForReading(_ s: inout OpenState) throws(DreamlakeError) {
        guard s.store == nil else { return }
        // An S3 root's spool gets the commit log of the newest manifest.
        try home.prepareForReading()
        try Names.checkInside(place.root, directory)
        guard Store.exists(at: directory) else {
            throw DreamlakeError(.notFound, "there is no session \(workspace)/\(name) under \(localPath)", path: directory)
        }
        let store: Store
        do {
            if let remote = home.remoteSegments {
                // Blocks are read where they are, by ranges, as reads need them: the commit log is all that was downloaded.
                var configuration = StoreConfiguration()
                configuration.verifySealedSegments = false
                store = try Store(directory: directory, access: .read, configuration: configuration, remoteSegments: remote)
            } else {
                store = try Store(directory: directory, access: .read)
            }
        } catch { throw DreamlakeError(error) }
        do {
            s.fields = try Session.foldFields(store)
        } catch {
            try? store.close()
            throw error
        }
        s.store = store
        s.backend = LocalBackend(store: store, place: place, home: home)
        generation.add(1, ordering: .releasing)
    }

    /// Whether the session is open for reading only.
    public var isReadOnly: Bool { state.withLock { $0.store.map { !$0.isWritable } ?? false } }

    /// For a session opened for reading: picks up what a writer has written
    /// since the last look. A session open for writing sees its own writes
    /// already, and this does nothing.
    ///
    /// - Returns: Whether anything new was found.
    @discardableResult
    public func refresh() throws(DreamlakeError) -> Bool {
        let store = try requireStore()
        if !store.isWritable { try home.prepareForReading() }
        let found: Bool
        do { found = try store.refresh() } catch { throw DreamlakeError(error) }
        if found {
            let fields = try Session.foldFields(store)
            state.withLock { $0.fields = fields }
        }
        return found
    }

    /// The session fields the metadata records add up to. Keys with the
    /// internal prefix are the store's notes (an import's), not session fields.
    static func foldFields(_ store: Store) throws(DreamlakeError) -> ValueObject {
        var fields = ValueObject()
        do {
            for r in try store.sessionMetadataUpdates() {
                for (k, v) in r.fields where !k.hasPrefix(StoreLayout.internalKeyPrefix) { fields[k] = v }
            }
        } catch { throw DreamlakeError(error) }
        return fields
    }

    /// The sessions under `localPath`, as (workspace, name) pairs in order.
    public static func all(localPath: String) throws(DreamlakeError) -> [(workspace: String, name: String)] {
        try all(localPath: localPath, environment: ProcessInfo.processInfo.environment)
    }

    /// ``all(localPath:)`` with the S3 settings of `environment`.
    package static func all(localPath: String, environment: [String: String]) throws(DreamlakeError) -> [(workspace: String, name: String)] {
        try sessionRoot(localPath, environment: environment).sessions()
    }

    /// How many log entries the session holds.
    public func logCount() throws(DreamlakeError) -> UInt64 {
        try requireStore().count(of: .logs)
    }

    /// Makes everything appended so far durable when it returns.
    ///
    /// - Throws: ``DreamlakeError`` when the session is not open, or when a
    ///   background write or fsync failed.
    ///
    /// A remote session also waits (up to its delivery timeout) until the
    /// server has everything appended so far, and throws `.remote` saying
    /// what it does not have.
    public func flush() throws(DreamlakeError) {
        let (store, backend) = try requireBackend()
        do { try store.flush() } catch { throw DreamlakeError(error) }
        try backend.flush()
    }

    /// Flushes, and for an S3 root with `uploading`, seals the active segment and uploads
    /// everything now, waiting for it.
    ///
    /// - Throws: ``DreamlakeError`` as ``flush()``, and `.io` when the upload failed (the spool
    ///   keeps everything, and the uploader goes on trying).
    public func flush(uploading: Bool) throws(DreamlakeError) {
        try flush()
        guard uploading, let uploads = state.withLock({ $0.uploads }) else { return }
        try uploads.uploadNow()
    }

    /// The last upload's failure for a session of an S3 root (retried with backoff meanwhile); nil after a success.
    public var uploadError: String? { state.withLock { $0.uploads }?.lastError?.message }

    /// Flushes and closes the session, then exports it when it was made with
    /// `exportOnClose`. Closing twice is harmless (and exports once).
    ///
    /// - Throws: ``DreamlakeError`` when the last writes failed, or the export did
    ///   (the session itself is closed and whole either way).
    ///
    /// A remote session first waits (up to its delivery timeout) for the
    /// server to have everything, and throws `.remote` after closing when it
    /// does not: what was not delivered stays in the local store and is sent
    /// when the session is opened again.
    public func close() throws(DreamlakeError) {
        // An S3 root's last round: everything appended is sealed and uploaded before the store closes.
        var notUploaded: DreamlakeError?
        let uploads = state.withLock { s -> (any SessionUploads)? in defer { s.uploads = nil }; return s.uploads }
        if let uploads {
            uploads.stop()
            do { try uploads.uploadNow() } catch {
                notUploaded = error.saying("the session was closed, but not all of it is uploaded: \(error.message); it is kept in \(directory) "
                                           + "and uploaded when the session is opened again", path: directory)
            }
        }
        let undelivered = state.withLock { $0.store == nil ? nil : $0.backend }?.close()
        let store: Store? = state.withLock { s in
            let store = s.store
            if store != nil { generation.add(1, ordering: .releasing) }
            s.store = nil
            s.trackHandles = [:]
            s.backend = nil
            return store
        }
        guard let store else { return }
        defer { uploads?.end() }
        do { try store.close() } catch { throw DreamlakeError(error) }
        if let exportOnClose { try JSONLLayout.exportSession(at: directory, to: exportOnClose) }
        if let undelivered { throw undelivered }
        if let notUploaded { throw notUploaded }
    }

    /// Exports the session as it is now to `<outputRoot>/<workspace>/<name>/`,
    /// in the layout and bytes Python dreamlake writes (see ``JSONLLayout``),
    /// replacing an earlier export there.
    ///
    /// - Throws: ``DreamlakeError`` when the session is not open or the output cannot be written.
    @discardableResult
    public func export(to outputRoot: String, progress: JSONLLayout.ProgressHandler? = nil) throws(DreamlakeError) -> JSONLLayout.ExportReport {
        let store = try requireStore()
        // A session of an S3 root is read where its objects are; its stored files are copied, so fetched first.
        try home.fetchStoredFiles()
        return try JSONLLayout.export(store: store, sessionDirectory: directory, workspace: workspace, name: name,
                                      to: outputRoot, progress: progress)
    }

    /// Opens a session, runs `body` with it, and closes it, also when `body` throws.
    ///
    /// - Returns: What `body` returns.
    @discardableResult
    public static func with<T>(name: String, workspace: String, localPath: String? = nil, description: String? = nil,
                               tags: [String]? = nil, folder: String? = nil,
                               metadata: KeyValuePairs<String, any ValueConvertible>? = nil, writeProtected: Bool = false,
                               _ body: (Session) throws -> T) throws -> T {
        let session = try Session(name: name, workspace: workspace, localPath: localPath, description: description,
                                  tags: tags, folder: folder, metadata: metadata, writeProtected: writeProtected)
        try session.open()
        let result: T
        do {
            result = try body(session)
        } catch {
            try? session.close()  // the body's error is the one to report
            throw error
        }
        try session.close()
        return result
    }

    /// Opens a session, runs the async `body` with it, and closes it, also when `body` throws.
    ///
    /// - Returns: What `body` returns.
    @discardableResult
    public static func with<T>(name: String, workspace: String, localPath: String? = nil, description: String? = nil,
                               tags: [String]? = nil, folder: String? = nil,
                               metadata: KeyValuePairs<String, any ValueConvertible>? = nil, writeProtected: Bool = false,
                               _ body: (Session) async throws -> T) async throws -> T {
        let session = try Session(name: name, workspace: workspace, localPath: localPath, description: description,
                                  tags: tags, folder: folder, metadata: metadata, writeProtected: writeProtected)
        try session.open()
        let result: T
        do {
            result = try await body(session)
        } catch {
            try? session.close()
            throw error
        }
        try session.close()
        return result
    }

    // MARK: Shared checks

    /// The open store, for reading.
    package func requireStore() throws(DreamlakeError) -> Store {
        guard let store = state.withLock({ $0.store }) else { throw notOpenError }
        return store
    }

    /// What answers the open session's reads.
    func backend() throws(DreamlakeError) -> any SessionBackend {
        try requireBackend().backend
    }

    private func requireBackend() throws(DreamlakeError) -> (store: Store, backend: any SessionBackend) {
        guard let (store, backend) = state.withLock({ s in s.store.flatMap { store in s.backend.map { (store, $0) } } }) else {
            throw notOpenError
        }
        return (store, backend)
    }

    private var notOpenError: DreamlakeError {
        DreamlakeError(.notOpen, "session \(workspace)/\(name) is not open; call open() first, or use Session.with")
    }

    /// The open store, for writing: also refuses a write-protected session.
    func requireWritableStore() throws(DreamlakeError) -> Store {
        let (found, writeProtected) = state.withLock { ($0.store, $0.writeProtected) }
        guard let store = found else { throw notOpenError }
        guard store.isWritable else {
            throw DreamlakeError(.readOnly, "session \(workspace)/\(name) is open for reading only; open it with open() to write")
        }
        if writeProtected {
            throw DreamlakeError(.writeProtected, "session \(workspace)/\(name) is write-protected; nothing can be written to it")
        }
        return store
    }
}
