import DreamlakeStore
import Foundation

/// Where sessions live: a folder (``FolderRoot``), or an S3 root whose sessions are written and
/// read through a local folder, its spool (``ObjectStoreRoot``; README, "Sessions in S3").
///
/// ``Session``, the viewer, `serve` and the command all reach sessions through their root, and none
/// of them asks which kind it is: what differs (downloads, the claim of a session for one machine,
/// uploads and their fences, leases, owner records) is the root's, in one place.
package protocol SessionRoot: Sendable {
    /// The root as given: a folder path or `s3://bucket/prefix`.
    var url: String { get }
    /// The folder the sessions' stores are in: the root itself, or an S3 root's spool.
    var localFolder: String { get }
    /// Whether the root's sessions are written and read from other machines too: then a reader
    /// refreshes at most so often (a refresh costs requests), and a server writes a session only while
    /// it holds its lease (``SessionHome/lease(holder:address:duration:)``).
    var isShared: Bool { get }
    /// The sessions, as (workspace, name) in order.
    func sessions() throws(DreamlakeError) -> [(workspace: String, name: String)]
    /// Session `workspace/name` of this root (its names already checked, see ``Names``).
    func session(workspace: String, name: String) -> any SessionHome
    /// The owner recorded for `workspace` (`serve`'s access rules); when none is and `user` is given,
    /// `user` becomes it (of two claiming at once, one wins and both read it). Nil when none is and no
    /// `user` is given. Throws an error whose ``DreamlakeError/isRetryable`` is true when the root did not answer.
    func workspaceOwner(_ workspace: String, claimingFor user: String?) throws(DreamlakeError) -> String?
}

/// The root of `url`: an S3 root for `s3://bucket/prefix` (its endpoint, region and credentials from
/// `environment`), else a folder.
/// - Throws: `.invalidArgument` for an S3 root that is not usable (a malformed URL, no credentials).
package func sessionRoot(_ url: String,
                         environment: [String: String] = ProcessInfo.processInfo.environment) throws(DreamlakeError) -> any SessionRoot {
    ObjectStoreRoot.isObjectStore(url) ? try ObjectStoreRoot(url, environment: environment) : FolderRoot(url)
}

/// One session's place in its root: how a ``Session`` of it is opened, read, uploaded and fenced.
package protocol SessionHome: Sendable {
    /// The session's names and folder (`<localFolder>/<workspace>/<name>`).
    var place: SessionPlace { get }
    /// Where the session lives, for messages: its folder, or its URL in the bucket.
    var url: String { get }

    /// Before the store opens for writing: makes the folder continue the newest version of the session,
    /// and claims the session for this machine where the root asks for a claim (the folder is created first).
    /// - Returns: What carries the session's writes on past the folder (an S3 root's uploads), or nil.
    func prepareForWriting(_ options: UploadOptions) throws(DreamlakeError) -> (any SessionUploads)?
    /// Before the store opens for reading, and before each refresh: brings the folder's commit log up to
    /// the newest version of the session (its blocks are read through ``remoteSegments``).
    func prepareForReading() throws(DreamlakeError)
    /// Where a reader reads the segments the folder lacks; nil when the folder holds them all.
    var remoteSegments: (any RemoteSegments)? { get }
    /// Makes stored file `relative` (its place under `files/`) present in the folder.
    func fetchStoredFile(_ relative: String) throws(DreamlakeError)
    /// Makes every stored file present in the folder (before the session is copied elsewhere).
    func fetchStoredFiles() throws(DreamlakeError)
    /// Makes the folder hold all of the session as stored: every segment, stored file and commit (before
    /// a command reads the folder as a local root's).
    func download() throws(DreamlakeError)
    /// A whole copy of the session as stored, for checking: the folder itself, or a scratch folder
    /// (`scratch`, to be removed afterwards) the session was downloaded into.
    func copyForChecking() throws(DreamlakeError) -> (directory: String, scratch: String?)
    /// Publishes a session made in the folder by other means than a ``Session`` (an import): for an S3
    /// root, seals it and uploads it as a new session, refused when one of its name is there.
    func publishNew() throws(DreamlakeError)
    /// Removes the session: its folder, and what the root holds of it elsewhere.
    func remove() throws(DreamlakeError)

    /// What changes whenever anything is written to the session (the viewer's cache key, kept across
    /// starts): the names, sizes and change times of a folder's commit log and segment files, or an S3
    /// session's newest manifest as listed. Empty when it cannot be known (nothing is cached then).
    func fingerprint() -> String
    /// Whether a writer has the session open now: a process of this machine, or a server holding its lease.
    /// - Parameter locks: The kernel's lock table read once for many sessions; nil to read it when needed.
    func isLive(locks: HeldFlocks?) -> Bool
    /// The writer lease of the session for `holder` (a `serve` node), when the root has leases
    /// (``SessionRoot/isShared``); taking it fences this home's uploads with it, so that once another
    /// holder takes it over nothing more is uploaded from here.
    func lease(holder: String, address: String, duration: UInt64) -> (any SessionLease)?
}

/// How a session of an S3 root uploads (see ``Session/uploadInterval`` and ``Session/spoolLimit``).
package struct UploadOptions: Sendable {
    /// Seconds between upload rounds.
    package var interval: Double
    /// The most bytes of segments not yet uploaded before appends wait.
    package var spoolLimit: Int64
}

/// What carries a writing session's appends on past its folder (an S3 root's uploader and the bound
/// on its spool), from the store's opening to its close.
package protocol SessionUploads: Sendable {
    /// Called after each append once the store is done with it (`StoreConfiguration.afterAppendSealed`):
    /// waits while the folder holds as much as it may not uploaded. `handedBytes`: the raw bytes of the
    /// blocks handed to the store's writer so far.
    func afterAppend(handedBytes: UInt64)
    /// Starts, once the store is open; `seal` seals its active segment.
    func start(sealing seal: @escaping @Sendable () throws -> Void) throws(DreamlakeError)
    /// Seals and uploads everything now, on the calling thread.
    func uploadNow() throws(DreamlakeError)
    /// Stops the background work (a round under way finishes); appends no longer wait.
    func stop()
    /// After the store closed: gives up what the session held to write (a machine's lease of it).
    func end()
    /// The last round's failure; nil after a success.
    var lastError: DreamlakeError? { get }
}

/// The lease a process keeps on writing a session of a shared root (a `serve` node's).
package protocol SessionLease: Sendable {
    /// Takes the lease (renews it, when this holder has it).
    func take() throws(DreamlakeError) -> LeaseOutcome
    /// Renews the lease held; nil when none is held any more.
    func renew() throws(DreamlakeError) -> LeaseOutcome?
    /// Gives the lease up, so that another may take it at once.
    func release()
    /// Whether the lease is held, with time to spare.
    func isHeld() -> Bool
}

/// The answer of taking or renewing a ``SessionLease``.
package enum LeaseOutcome: Sendable, Equatable {
    /// This holder has it.
    case held
    /// Another holder has it: who, where it takes requests, and until when (milliseconds since 1970).
    case heldByAnother(holder: String, address: String, expiresAt: UInt64)
}
