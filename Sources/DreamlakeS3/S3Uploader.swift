import DreamlakeStore
import Foundation

/// Bounds what a session's spool holds that is not uploaded yet: an append that sealed a block waits in
/// ``waitForRoom(handedBytes:)`` while the spool's segments that the last manifest does not name add up to ``limit``
/// or more. Only appends wait there, on their own threads and holding no lock: the store's writer
/// thread goes on writing and fsyncing what was handed to it, and flushes, reads, the uploader's seal
/// and the session's close never wait. So the spool holds at most the limit, plus the active segment,
/// plus what was queued for the writer when the gate closed (the store's `maxPendingBytes` of records)
/// and one block of each appending thread.
package final class SpoolGate: @unchecked Sendable {
    package let limit: UInt64
    private let objects: S3SessionObjects
    private let directory: String
    private let lock = Lock()
    private let cond: Condition
    // Guarded by `lock`.
    private var open = false
    /// The last measure of the spool (monotonic nanoseconds), what it found not uploaded, and the bytes
    /// handed to the store's writer then.
    private var measuredAt: UInt64?
    private var measured: UInt64 = 0
    private var handedAtMeasure: UInt64 = 0
    /// When the spool's being full was last written to stderr (monotonic nanoseconds), if ever.
    private var reportedAt: UInt64?
    /// Called when a writer starts waiting: the uploader's ``S3Uploader/roundWanted()``.
    private var onFull: (@Sendable () -> Void)?

    /// How long a measure of the spool stands (a listing of its folder) while what was measured and the
    /// bytes handed to the writer since stay below the limit: appends seal a block a millisecond at full
    /// speed, and do not list the folder for each while the spool is far from full.
    static let measureNanos: UInt64 = 100_000_000

    /// - Parameter limit: Bytes of segments not uploaded the spool may hold before appends wait.
    package init(objects: S3SessionObjects, directory: String, limit: UInt64) {
        self.objects = objects
        self.directory = directory
        self.limit = limit
        cond = Condition(lock: lock)
    }

    /// The bytes of the spool's segment files that the newest manifest this process knows does not name.
    package func notUploaded() -> UInt64 {
        let folder = directory + "/" + Store.segmentFolderName
        let uploaded = Set((objects.knownManifest?.segments ?? []).map(\.name))
        var total: UInt64 = 0
        for name in (try? FileSystem.list(folder)) ?? [] where name.hasSuffix(".dls") && !uploaded.contains(name) {
            total += FileSystem.regularFileStamp(folder + "/" + name)?.size ?? 0
        }
        return total
    }

    /// Waits while the spool holds `limit` bytes or more not uploaded, unless the gate was opened for
    /// good. While the last measure and the raw bytes handed to the writer since (`handedBytes`, the
    /// store's count) add up to less than the limit, a measure stands for 100 ms; otherwise the spool is
    /// measured at each call, and while it is full, at least every second (another process sharing the
    /// spool may upload) and whenever ``changed()`` is called. (A time alone let a fast writer put 100 ms
    /// of blocks past the limit.)
    package func waitForRoom(handedBytes: UInt64) {
        let now = WallClock.monotonicNanos()
        let skip = lock.withLock {
            open || (measuredAt.map { now &- $0 < Self.measureNanos } == true
                     && measured < limit && limit - measured > handedBytes &- handedAtMeasure)
        }
        if skip { return }
        while true {
            let pending = notUploaded()
            let full = pending >= limit
            let stop = lock.withLock { () -> Bool in
                measuredAt = WallClock.monotonicNanos()
                measured = pending
                handedAtMeasure = handedBytes
                return open || !full
            }
            if stop { return }
            // Said at most once a minute, not at every block.
            let now = WallClock.monotonicNanos()
            let say = lock.withLock {
                guard reportedAt.map({ now &- $0 >= 60_000_000_000 }) ?? true else { return false }
                reportedAt = now
                return true
            }
            let ask = lock.withLock { onFull }
            ask?()
            if say {
                let mib = { (b: UInt64) in String(format: "%.1f MiB", Double(b) / 1_048_576) }
                FileHandle.standardError.write(Data("dreamlake: the spool \(directory) holds \(mib(pending)) not uploaded to \(objects.url) (its limit is \(mib(limit))): appends wait for the uploads\n".utf8))
            }
            lock.withLock {
                if !open { cond.wait(untilMonotonicNanos: WallClock.monotonicNanos(after: 1)) }
            }
        }
    }

    /// Whether the spool holds its limit or more not uploaded (and the gate is not open for good).
    package var isFull: Bool {
        lock.withLock { !open } && notUploaded() >= limit
    }

    /// Sets what is called when a writer finds the spool full (the uploader's ``S3Uploader/roundWanted()``).
    package func whenFull(_ body: @escaping @Sendable () -> Void) { lock.withLock { onFull = body } }

    /// Something was uploaded (or failed to be): the spool is measured again, and waiting appends look.
    package func changed() {
        lock.withLock {
            measuredAt = nil
            cond.broadcast()
        }
    }

    /// Lets every append through from now on (the session is closing, or another machine writes it).
    package func openForGood() {
        lock.withLock {
            open = true
            cond.broadcast()
        }
    }
}

/// Uploads a session's spool on a thread of its own, so that appends never wait
/// for the network: every `interval` it seals the active segment (when it has
/// blocks) and uploads what is sealed; a failed round is retried with backoff
/// (1 s, 2 s, 4 s, ... up to the interval), the spool keeps everything meanwhile,
/// and the failure is kept for ``lastError`` and written once to stderr.
package final class S3Uploader: @unchecked Sendable {
    package let objects: S3SessionObjects
    package let directory: String
    package let interval: Double
    private let seal: @Sendable () throws -> Void
    /// The spool's bound, when it has one: each round wakes the appends that wait at it.
    package let gate: SpoolGate?
    /// Passed before each round, when there is one: throws when this process may not upload now (a lease
    /// it lost); an error that ``S3Error/isSuperseded`` ends the uploads for good.
    private let fence: (@Sendable () throws(S3Error) -> Void)?

    private let lock = Lock()
    private let cond: Condition
    // Guarded by `lock`.
    private var stopping = false
    private var failures = 0
    private var error: S3Error?
    private var thread: OSThread?
    /// A round was asked for before the interval is up (``roundWanted()``).
    private var wanted = false
    /// One round at a time: the thread's and ``uploadNow()``'s.
    private let roundLock = Lock()

    /// - Parameters:
    ///   - interval: Seconds between rounds (at least 0.05).
    ///   - seal: Seals the store's active segment (``Store/sealSegment()``).
    package init(objects: S3SessionObjects, directory: String, interval: Double, gate: SpoolGate? = nil,
                 fence: (@Sendable () throws(S3Error) -> Void)? = nil, seal: @escaping @Sendable () throws -> Void) {
        self.objects = objects
        self.gate = gate
        self.fence = fence
        self.directory = directory
        self.interval = interval.isNaN ? 60 : max(0.05, interval)
        self.seal = seal
        cond = Condition(lock: lock)
        gate?.whenFull { [weak self] in self?.roundWanted() }
    }

    /// The last round's failure; nil once a round succeeds.
    package var lastError: S3Error? { lock.withLock { error } }

    /// Asks for a round now rather than at the end of the interval (the spool is full); while rounds
    /// fail, the next one still waits for its backoff.
    package func roundWanted() {
        lock.withLock {
            wanted = true
            cond.broadcast()
        }
    }

    /// Starts the thread.
    package func start() throws(S3Error) {
        guard let t = OSThread.start({ [self] in run() }) else {
            throw S3Error(.refused, "could not start the upload thread of \(objects.url)")
        }
        lock.withLock { thread = t }
    }

    /// Seals and uploads now, on the calling thread; throws what failed (the spool keeps it all).
    package func uploadNow() throws(S3Error) {
        try roundLock.withLock { () throws(S3Error) in try round() }
    }

    /// Stops the thread (a round under way finishes first) and opens the gate for good. Uploads nothing
    /// more: ``uploadNow()`` does.
    package func stop() {
        gate?.openForGood()
        let t = lock.withLock {
            stopping = true
            cond.broadcast()
            let t = thread
            thread = nil
            return t
        }
        t?.join()
    }

    private func round() throws(S3Error) {
        try fence?()
        defer { gate?.changed() }
        // A full spool uploads what is sealed before it seals more: while uploads fail, a seal would only
        // add a segment to it. (Once they succeed, the seal goes on: what is left is the active segment.)
        if let gate, gate.isFull {
            try objects.upload(from: directory)
            gate.changed()
        }
        do { try seal() } catch let e as S3Error { throw e } catch {
            throw S3Error(.refused, "could not seal the spool's segment (\(directory)): \(error)")
        }
        try objects.upload(from: directory)
    }

    private func run() {
        // The first round at once: a spool may hold what an earlier opening sealed and did not upload.
        var first = true
        while true {
            let wait = first ? 0 : lock.withLock { failures == 0 ? interval : min(interval, Double(1 << min(failures - 1, 6))) }
            first = false
            let deadline = WallClock.monotonicNanos(after: wait)
            let stop = lock.withLock {
                // A full spool asks for a round now, unless rounds are failing (then the backoff holds).
                while !stopping && !(wanted && failures == 0) && WallClock.monotonicNanos() < deadline { cond.wait(untilMonotonicNanos: deadline) }
                wanted = false
                return stopping
            }
            if stop { return }
            var failed: S3Error?
            roundLock.withLock {
                do throws(S3Error) { try round() } catch { failed = error }
            }
            let report: String? = lock.withLock {
                defer { error = failed }
                if let failed {
                    failures += 1
                    // Once per kind of failure, not once per retry.
                    return error?.message == failed.message ? nil : failed.message
                }
                failures = 0
                return nil
            }
            if let failed, failed.isSuperseded {
                // Another machine writes the session now: no round will ever upload again. Appends go on into
                // the spool (the gate no longer holds them), and closing says where they are.
                FileHandle.standardError.write(Data("dreamlake: \(failed.message)\n".utf8))
                gate?.openForGood()
                return
            }
            if let report {
                FileHandle.standardError.write(Data("dreamlake: uploading \(objects.url) failed: \(report); retrying, and the spool \(directory) keeps everything meanwhile\n".utf8))
            }
        }
    }
}
