import DreamlakeStore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A URLSession task's completion, handed from URLSession's thread to the
/// thread that waits for it: the session API is synchronous, and remote mode's
/// calls wait on the calling thread. (The S3 client waits in libcurl's easy
/// interface instead: `CurlTransfer.swift`.)
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

    /// Runs `task` made with this outcome's ``set(_:_:_:)`` as its handler and waits for it.
    package static func run(_ make: (@escaping @Sendable (Data?, URLResponse?, (any Error)?) -> Void) -> URLSessionTask)
        -> (data: Data?, response: HTTPURLResponse?, error: (any Error)?) {
        let outcome = HTTPOutcome()
        make { outcome.set($0, $1, $2) }.resume()
        return outcome.wait()
    }
}
