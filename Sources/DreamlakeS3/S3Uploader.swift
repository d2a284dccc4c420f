import DreamlakeStore
import Foundation

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

    private let lock = Lock()
    private let cond: Condition
    // Guarded by `lock`.
    private var stopping = false
    private var failures = 0
    private var error: S3Error?
    private var thread: OSThread?
    /// One round at a time: the thread's and ``uploadNow()``'s.
    private let roundLock = Lock()

    /// - Parameters:
    ///   - interval: Seconds between rounds (at least 0.05).
    ///   - seal: Seals the store's active segment (``Store/sealSegment()``).
    package init(objects: S3SessionObjects, directory: String, interval: Double, seal: @escaping @Sendable () throws -> Void) {
        self.objects = objects
        self.directory = directory
        self.interval = interval.isNaN ? 60 : max(0.05, interval)
        self.seal = seal
        cond = Condition(lock: lock)
    }

    /// The last round's failure; nil once a round succeeds.
    package var lastError: S3Error? { lock.withLock { error } }

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

    /// Stops the thread (a round under way finishes first). Uploads nothing more: ``uploadNow()`` does.
    package func stop() {
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
                while !stopping && WallClock.monotonicNanos() < deadline { cond.wait(untilMonotonicNanos: deadline) }
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
            if let report {
                FileHandle.standardError.write(Data("dreamlake: uploading \(objects.url) failed: \(report); retrying, and the spool \(directory) keeps everything meanwhile\n".utf8))
            }
        }
    }
}
