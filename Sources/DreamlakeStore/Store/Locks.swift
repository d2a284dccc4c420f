import Glibc

/// A pthread mutex. A class so that its address is stable; held across calls
/// on the append path, waited on with ``Condition``, and behind ``Locked``.
package final class Lock: @unchecked Sendable {
    let mutex: UnsafeMutablePointer<pthread_mutex_t>

    package init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always) package func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) package func unlock() { pthread_mutex_unlock(mutex) }
    /// Takes the lock if it is free; returns whether it did.
    @inline(__always) package func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

    @inline(__always) package func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A value behind a ``Lock``: the project's lock for state, in place of
/// Synchronization's `Mutex`, whose lock ThreadSanitizer does not see on Linux
/// (it reports the very accesses a `Mutex` guards as races, and the whole
/// suite runs under ThreadSanitizer).
package final class Locked<Value>: @unchecked Sendable {
    private let lock = Lock()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    /// Runs `body` with the value, under the lock.
    @inline(__always)
    package func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// A condition variable bound to a ``Lock``.
package final class Condition: @unchecked Sendable {
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    package let lock: Lock

    package init(lock: Lock) {
        self.lock = lock
        cond = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    /// Waits; the lock must be held.
    package func wait() { pthread_cond_wait(cond, lock.mutex) }

    /// Waits until signalled or until the monotonic clock reaches `deadlineNanos`.
    package func wait(untilMonotonicNanos deadlineNanos: UInt64) {
        var ts = timespec(tv_sec: Int(deadlineNanos / 1_000_000_000), tv_nsec: Int(deadlineNanos % 1_000_000_000))
        pthread_cond_timedwait(cond, lock.mutex, &ts)
    }

    /// Waits until signalled or `seconds` have passed on the monotonic clock; the lock must be held.
    package func wait(seconds: Double) {
        wait(untilMonotonicNanos: WallClock.monotonicNanos(after: seconds))
    }

    package func broadcast() { pthread_cond_broadcast(cond) }
}

/// The clocks the library reads (named so as not to shadow Swift's `Clock`):
/// the one "now" of every timestamp the store and the session API write.
package enum WallClock {
    /// Microseconds since the Unix epoch (`CLOCK_REALTIME`, truncated).
    @inline(__always) package static func nowMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec / 1000)
    }

    /// The monotonic clock `seconds` from now (0 for a negative or NaN `seconds`).
    package static func monotonicNanos(after seconds: Double) -> UInt64 {
        let delta = seconds.isNaN ? 0 : min(max(seconds, 0), 1e9) * 1e9
        return monotonicNanos() &+ UInt64(delta)
    }

    package static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// Starts a detached-from-Swift-concurrency OS thread; the engine's
/// background writer must not occupy a slot of the cooperative pool.
package final class OSThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    private init(body: @escaping () -> Void) { self.body = body }

    /// Starts `body` on a new thread; nil when the system refuses one.
    package static func start(_ body: @escaping @Sendable () -> Void) -> OSThread? {
        let t = OSThread(body: body)
        let box = Unmanaged.passRetained(t).toOpaque()
        let rc = pthread_create(&t.thread, nil, { arg in
            guard let arg else { return nil }
            let t = Unmanaged<OSThread>.fromOpaque(arg).takeRetainedValue()
            t.body()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<OSThread>.fromOpaque(box).release()
            return nil
        }
        return t
    }

    package func join() { pthread_join(thread, nil) }
}
