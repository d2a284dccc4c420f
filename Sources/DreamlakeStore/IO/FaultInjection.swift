#if DEBUG
import Glibc
import Synchronization

// Test-only, compiled into debug builds only: a fault-injecting layer under
// `File` and `FileSystem`. For the files under one directory it fails the
// N-th write or fsync with the errno a test picks, or simulates a power loss
// at the N-th operation: from then on every write and sync fails (the machine
// is off), and `powerLoss()` puts the files in the state a disk could hold
// afterwards: what was not fsync'd is gone, and a file created or renamed
// without an fsync of its directory is gone (or back to its old content).
// Release builds have none of this: the hooks compile to nothing.

/// Injects I/O faults into the files under `root`, and simulates power loss there.
final class FaultInjector: @unchecked Sendable {
    /// The operations the injector counts.
    enum Operation: Hashable, Sendable {
        case create, write, sync, truncate, rename, syncDirectory
    }

    enum Plan: Sendable {
        /// The `n`-th operation of one of `kinds` (counting from 1) fails with `errno`; a write
        /// writes half its bytes first, as a disk that fills up mid-write does. Later ones succeed.
        case fail(n: Int, kinds: Set<Operation>, errno: Int32)
        /// The power goes off at the `n`-th operation: it and every later one fail with EIO.
        case powerOff(n: Int)
        /// The disk holds `bytes` more bytes: a write past them writes what fits and fails with
        /// ENOSPC, as does creating a file once it is full, until ``freeSpace()``.
        case fullAfter(bytes: Int)
    }

    let root: String
    let plan: Plan
    private let lock = Locked<State>(State())

    private struct State {
        var count = 0
        var triggered = false
        var failedWrite: (path: String, bytes: [UInt8])?
        var files: [String: FileState] = [:]
        var written = 0
        var spaceFreed = false
    }

    /// What a power loss would leave of one file the store touched.
    private struct FileState {
        /// The content as of its last fsync (for a file that existed before, as it was then).
        var durable: [UInt8]
        /// Whether its directory entry is durable (false after a create or rename until the directory's fsync).
        var entryDurable: Bool
        /// For a file renamed over another whose entry was durable: that file's durable content.
        var replaced: [UInt8]?
    }

    private static let installed = Locked<[FaultInjector]>([])
    private static let anyInstalled = Atomic<Bool>(false)

    private init(root: String, plan: Plan) {
        self.root = root.hasSuffix("/") ? root : root + "/"
        self.plan = plan
    }

    /// Starts injecting `plan` into the files under `root`.
    static func install(root: String, plan: Plan) -> FaultInjector {
        let injector = FaultInjector(root: root, plan: plan)
        installed.withLock { $0.append(injector) }
        anyInstalled.store(true, ordering: .releasing)
        return injector
    }

    /// Stops injecting.
    func uninstall() {
        FaultInjector.installed.withLock { list in
            list.removeAll { $0 === self }
            FaultInjector.anyInstalled.store(!list.isEmpty, ordering: .releasing)
        }
    }

    /// Whether the planned fault happened.
    var triggered: Bool { lock.withLock { $0.triggered } }

    /// How many operations were counted.
    var operations: Int { lock.withLock { $0.count } }

    /// The write that failed, when the plan failed one: its path and all the bytes it was asked to write.
    var failedWrite: (path: String, bytes: [UInt8])? { lock.withLock { $0.failedWrite } }

    // MARK: Hooks (File and FileSystem call these)

    @inline(__always)
    private static func injector(for path: String) -> FaultInjector? {
        guard anyInstalled.load(ordering: .acquiring) else { return nil }
        return installed.withLock { list in list.first { path.hasPrefix($0.root) } }
    }

    /// Before `op` on `path`: throws when the plan says this one fails. For a
    /// write, returns how many of its bytes to write before failing (nil: all, no failure).
    static func before(_ op: Operation, _ path: String, writing bytes: [UInt8]? = nil) throws(IOFailure) -> Int? {
        guard let i = injector(for: path) else { return nil }
        return try i.before(op, path, writing: bytes)
    }

    private func before(_ op: Operation, _ path: String, writing bytes: [UInt8]?) throws(IOFailure) -> Int? {
        let outcome: (Int32, Int?)? = lock.withLock { s in
            if s.files[path] == nil, op == .write || op == .sync || op == .truncate {
                // First touch of a file that existed before: what it holds now is what a power loss leaves.
                s.files[path] = FileState(durable: FaultInjector.contents(path), entryDurable: true)
            }
            switch plan {
            case .powerOff(let n):
                s.count += 1
                if s.triggered || s.count >= n {
                    s.triggered = true
                    return (EIO, nil)
                }
                return nil
            case .fail(let n, let kinds, let errno):
                guard kinds.contains(op) else { return nil }
                s.count += 1
                guard s.count == n else { return nil }
                s.triggered = true
                if let bytes {
                    s.failedWrite = (path, bytes)
                    return (errno, bytes.count / 2)
                }
                return (errno, nil)
            case .fullAfter(let budget):
                guard !s.spaceFreed, op == .write || op == .create else { return nil }
                let size = bytes?.count ?? 0
                if s.written + size <= budget && (op == .write || s.written < budget) {
                    s.written += size
                    return nil
                }
                s.triggered = true
                let fits = max(0, budget - s.written)
                s.written += fits
                return (ENOSPC, op == .write ? fits : nil)
            }
        }
        guard let (errno, torn) = outcome else { return nil }
        if let torn, torn > 0 { return torn }
        throw IOFailure(operation: "\(op) (injected)", path: path, errno: errno)
    }

    /// After a torn write's first part: the failure it ends with.
    static func tornWriteFailure(_ path: String) -> IOFailure {
        let errno: Int32
        switch injector(for: path)?.plan {
        case .fail(_, _, let e)?: errno = e
        case .fullAfter?: errno = ENOSPC
        default: errno = EIO
        }
        return IOFailure(operation: "write (injected, torn)", path: path, errno: errno)
    }

    /// For a `fullAfter` plan: space is freed, and writes succeed again.
    func freeSpace() {
        lock.withLock { $0.spaceFreed = true }
    }

    /// After `path` was created.
    static func created(_ path: String) {
        guard let i = injector(for: path) else { return }
        i.lock.withLock { $0.files[path] = FileState(durable: [], entryDurable: false) }
    }

    /// After an fsync of `path` succeeded.
    static func synced(_ path: String) {
        guard let i = injector(for: path) else { return }
        let now = contents(path)
        i.lock.withLock { $0.files[path, default: FileState(durable: [], entryDurable: true)].durable = now }
    }

    /// After `directory` was fsync'd: the entries of the files in it are durable.
    static func syncedDirectory(_ directory: String) {
        guard let i = injector(for: directory + "/") else { return }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        i.lock.withLock { s in
            for (path, var f) in s.files where path.hasPrefix(prefix) && !path.dropFirst(prefix.count).contains("/") {
                f.entryDurable = true
                f.replaced = nil
                s.files[path] = f
            }
        }
    }

    /// After `from` was renamed to `to`.
    static func renamed(_ from: String, _ to: String) {
        guard let i = injector(for: to) else { return }
        let old = FaultInjector.contents(to)
        i.lock.withLock { s in
            let replaced: [UInt8]? = s.files[to].map { $0.entryDurable ? $0.durable : nil } ?? (old.isEmpty ? nil : old)
            var moved = s.files.removeValue(forKey: from) ?? FileState(durable: [], entryDurable: false)
            moved.entryDurable = false
            moved.replaced = replaced
            s.files[to] = moved
        }
    }

    /// After `path` was removed.
    static func removed(_ path: String) {
        guard let i = injector(for: path) else { return }
        i.lock.withLock { _ = $0.files.removeValue(forKey: path) }
    }

    // MARK: Power loss

    /// Puts every file the store touched in the state a power loss could
    /// leave: the content of its last fsync; gone if its directory entry was
    /// never made durable (or back to what it replaced). Call it after the
    /// store is closed (or its close failed).
    func powerLoss() {
        let files = lock.withLock { $0.files }
        for (path, f) in files {
            if f.entryDurable {
                FaultInjector.overwrite(path, with: f.durable)
            } else if let replaced = f.replaced {
                FaultInjector.overwrite(path, with: replaced)
            } else {
                unlink(path)
            }
        }
    }

    // `contents` and `overwrite` use open/read/write directly, not `File`:
    // `File`'s calls are hooked into this injector and would fail or recurse.
    private static func contents(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    private static func overwrite(_ path: String, with bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}
#endif
