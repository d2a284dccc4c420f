import DreamlakeStore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A URLSession task's completion, handed from URLSession's thread to the
/// thread that waits for it: the store and the session API are synchronous,
/// and their network calls (remote mode, S3) wait on the calling thread.
package final class HTTPOutcome: @unchecked Sendable {
    private let lock = Lock()
    private let done: Condition
    // Guarded by `lock`.
    private var value: (Data?, HTTPURLResponse?, (any Error)?)?

    package init() { done = Condition(lock: lock) }

    /// Called once, from the task's completion handler.
    package func set(_ data: Data?, _ response: URLResponse?, _ error: (any Error)?) {
        lock.withLock {
            value = (data, response as? HTTPURLResponse, error)
            done.broadcast()
        }
    }

    /// Waits for ``set(_:_:_:)`` (URLSession always completes a task, at the latest when its timeout passes).
    package func wait() -> (Data?, HTTPURLResponse?, (any Error)?) {
        lock.withLock {
            while true {
                if let value { return value }
                done.wait()
            }
        }
    }

    /// Runs `task` made with this outcome's ``set(_:_:_:)`` as its handler and waits for it. With
    /// `within`, the task is cancelled when that many seconds pass before it completes (URLSession's
    /// own timeout counts only time without progress), and `expired` says so.
    package static func run(within seconds: TimeInterval? = nil,
                            _ make: (@escaping @Sendable (Data?, URLResponse?, (any Error)?) -> Void) -> URLSessionTask)
        -> (data: Data?, response: HTTPURLResponse?, error: (any Error)?, expired: Bool) {
        let outcome = HTTPOutcome()
        let task = Cancellable(make { outcome.set($0, $1, $2) })
        task.task.resume()
        let expired = Locked(false)
        if let seconds {
            // Held weakly: a request that completed long before its deadline leaves nothing (its answer's
            // bytes least of all) waiting on the timer.
            DispatchQueue.global().asyncAfter(deadline: .now() + max(0, seconds)) { [weak outcome, weak task] in
                guard let outcome, let task, outcome.lock.withLock({ outcome.value == nil }) else { return }
                expired.withLock { $0 = true }
                task.task.cancel()
            }
        }
        let (data, response, error) = outcome.wait()
        return (data, response, error, expired.withLock { $0 })
    }

    /// A task handed to the timer that cancels it (cancelling is safe from any thread).
    private final class Cancellable: @unchecked Sendable {
        let task: URLSessionTask
        init(_ task: URLSessionTask) { self.task = task }
    }
}
