import Dispatch

/// `transform` of every index of `0..<count`, run on every core at once,
/// returned in index order; the failure of the lowest index is thrown.
///
/// The one place that spreads independent pieces of work over the cores:
/// decoding a read's blocks, parsing an import's lines, making the viewer's
/// rows. Results are handed over under a ``Lock``, which ThreadSanitizer sees
/// (it does not see the ordering `concurrentPerform`'s return gives on Linux).
package func concurrentMap<T: Sendable, E: Error>(count: Int, _ transform: @Sendable (Int) throws(E) -> T) throws(E) -> [T] {
    if count < 2 {
        var out: [T] = []
        for i in 0..<max(0, count) { out.append(try transform(i)) }
        return out
    }
    let slots = Locked<[Result<T, E>?]>(Array(repeating: nil, count: count))
    DispatchQueue.concurrentPerform(iterations: count) { i in
        let result = Result { () throws(E) -> T in try transform(i) }
        slots.withLock { $0[i] = result }
    }
    var out: [T] = []
    out.reserveCapacity(count)
    for slot in slots.withLock({ $0 }) {
        switch slot {
        case .success(let value)?: out.append(value)
        case .failure(let error)?: throw error
        case nil: preconditionFailure("concurrentPerform returned before every iteration ran")
        }
    }
    return out
}
