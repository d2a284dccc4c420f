import Glibc

// Positional reads and writes, fsync and flock over a file descriptor. Written
// on the C library directly rather than swift-system: we need fsync, fdatasync
// and flock, which swift-system lacks on Linux, and one narrow place where a
// test can inject faults (FaultInjection.swift, in debug builds only).

/// An I/O failure: the call, the path and the errno; or a refusal of ours
/// (a link or a special file where a store keeps regular files and folders).
package struct IOFailure: Error {
    package var operation: String
    package var path: String
    package var errno: Int32
    /// Why the call was refused without being made, when it was.
    package var refusal: String?
    /// What went wrong, for a failure that is no errno (a read from an object store), with what to do.
    package var reason: String?

    init(operation: String, path: String, errno: Int32, refusal: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.refusal = refusal
    }

    /// A failure reading `path` elsewhere than on this machine's disk (a URL): `reason` says what went wrong and what to do.
    package init(operation: String, path: String, reason: String) {
        self.init(operation: operation, path: path, errno: EIO)
        self.reason = reason
    }

    /// Where a read found bytes other than the ones named (an object replaced after it was stored): damage
    /// at this offset of ``path``, not a failure of the system.
    package var damagedAt: UInt64?

    /// A read of `path` at `offset` that found other bytes than the ones named: `reason` says how.
    package init(operation: String, path: String, damagedAt offset: UInt64, reason: String) {
        self.init(operation: operation, path: path, reason: reason)
        self.damagedAt = offset
    }

    package var message: String {
        if let refusal { return "\(operation) of \(path) refused: \(refusal)" }
        if let reason { return "\(operation) of \(path) failed: \(reason)" }
        return "\(operation) of \(path) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }

    /// The refusal of a path that is a link or not a regular file (or directory, as `expected` says).
    static func notFollowed(_ operation: String, _ path: String, found: FileSystem.Kind,
                            expected: FileSystem.Kind = .regular) -> IOFailure {
        IOFailure(operation: operation, path: path, errno: found == .link ? ELOOP : EINVAL,
                  refusal: "it is \(found.phrase), not \(expected.phrase); a store never follows links or opens special files, so remove or replace it")
    }
}

/// An open regular file. Its reads and writes are positional (`pread`,
/// `pwrite`) and may run on several threads at once, as the store's readers
/// do; closing must not race them: its owner closes it when no one else uses it.
///
/// Opening never follows a symbolic link at the last component and never
/// blocks (`O_NOFOLLOW | O_NONBLOCK`), and anything but a regular file is
/// refused once open (`fstat`): a link, FIFO, device or folder where a store
/// or an import expects a file gets an error naming it, and nothing is read
/// from or written through it. A file opened to write must also have one name
/// (`st_nlink == 1`): a hard link is refused as a symbolic link is.
package final class File: @unchecked Sendable {
    package let path: String
    private(set) var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { if fd >= 0 { _ = Glibc.close(fd) } }

    package enum Mode {
        case readOnly
        case readWrite
        case createNew       // read-write; fails if the file exists
        case createOrOpen    // read-write; creates it when missing
    }

    ///
    /// - Parameter followingLinks: Whether a link at `path` is followed: only
    ///   for a path a user named outside any store (a file to upload, a place
    ///   to download to). What is opened must still be a regular file.
    package static func open(_ path: String, _ mode: Mode, followingLinks: Bool = false) throws(IOFailure) -> File {
        var flags: Int32 = O_CLOEXEC | O_NONBLOCK | (followingLinks ? 0 : O_NOFOLLOW)
        switch mode {
        case .readOnly: flags |= O_RDONLY
        case .readWrite: flags |= O_RDWR
        case .createNew: flags |= O_RDWR | O_CREAT | O_EXCL
        case .createOrOpen: flags |= O_RDWR | O_CREAT
        }
        #if DEBUG
        let creates = mode == .createNew || (mode == .createOrOpen && !FileSystem.exists(path))
        if creates { _ = try FaultInjector.before(.create, path) }
        #endif
        let fd = Glibc.open(path, flags, 0o644)
        guard fd >= 0 else {
            let e = errno
            // O_NOFOLLOW says ELOOP for a link; O_EXCL says EEXIST, also for a link.
            if e == ELOOP || e == EEXIST, FileSystem.kind(path) == .link {
                throw .notFollowed("open", path, found: .link)
            }
            throw IOFailure(operation: "open", path: path, errno: e)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            _ = Glibc.close(fd)
            throw IOFailure(operation: "fstat", path: path, errno: e)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            _ = Glibc.close(fd)
            throw .notFollowed("open", path, found: FileSystem.Kind(mode: st.st_mode))
        }
        // A hard link is a second name of a file that may be anywhere on the file system, and
        // O_NOFOLLOW does not see it: a file the store writes has one name, or is refused.
        guard mode == .readOnly || followingLinks || st.st_nlink == 1 else {
            _ = Glibc.close(fd)
            throw IOFailure(operation: "open", path: path, errno: EMLINK,
                            refusal: "it has \(st.st_nlink) names (it is a hard link); a store writes only files of one name, so that nothing outside it is written through; remove the other names or replace the file")
        }
        #if DEBUG
        if creates { FaultInjector.created(path) }
        #endif
        return File(path: path, fd: fd)
    }

    package func size() throws(IOFailure) -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw IOFailure(operation: "fstat", path: path, errno: errno) }
        return UInt64(max(0, st.st_size))
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
    package func read(at offset: UInt64, count: Int) throws(IOFailure) -> [UInt8] {
        guard count > 0 else { return [] }
        var failure: Int32 = 0
        // Uninitialized: every byte returned is one pread wrote.
        let buf = [UInt8](unsafeUninitializedCapacity: count) { raw, initialized in
            var done = 0
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                done += n
            }
            initialized = done
        }
        if failure != 0 { throw IOFailure(operation: "read", path: path, errno: failure) }
        return buf
    }

    /// Writes all of `bytes` at `offset`, looping over short writes.
    package func write(_ bytes: [UInt8], at offset: UInt64) throws(IOFailure) {
        #if DEBUG
        if let torn = try FaultInjector.before(.write, path, writing: bytes) {
            try writeAll(Array(bytes[..<torn]), at: offset)
            throw FaultInjector.tornWriteFailure(path)
        }
        #endif
        try writeAll(bytes, at: offset)
    }

    private func writeAll(_ bytes: [UInt8], at offset: UInt64) throws(IOFailure) {
        var done = 0
        var failure: Int32 = 0
        bytes.withUnsafeBytes { raw in
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if n == 0 { failure = EIO; return }
                done += n
            }
        }
        if failure != 0 { throw IOFailure(operation: "write", path: path, errno: failure) }
    }

    package func sync() throws(IOFailure) { try sync("fsync", fsync) }

    /// fdatasync: the file's bytes and its length durable, not its times (for appends, which
    /// need nothing else to be read back after a power loss).
    package func syncData() throws(IOFailure) { try sync("fdatasync", fdatasync) }

    private func sync(_ operation: String, _ call: (Int32) -> Int32) throws(IOFailure) {
        #if DEBUG
        _ = try FaultInjector.before(.sync, path)
        #endif
        guard call(fd) == 0 else { throw IOFailure(operation: operation, path: path, errno: errno) }
        #if DEBUG
        FaultInjector.synced(path)
        #endif
    }

    /// Where the next data at or after `offset` starts, skipping a hole of a
    /// sparse file (`SEEK_DATA`); nil when only a hole or nothing is left.
    /// Where the file system cannot tell, `offset` itself.
    func nextData(from offset: UInt64) -> UInt64? {
        let seekData: Int32 = 3  // SEEK_DATA: Linux's value; Glibc's module hides the name (it needs _GNU_SOURCE)
        let r = lseek(fd, off_t(offset), seekData)
        if r >= 0 { return UInt64(r) }
        return errno == ENXIO ? nil : offset
    }

    /// Where the data that holds `offset` ends: the next hole (`SEEK_HOLE`),
    /// or the end of the file. Where the file system cannot tell, nil.
    func dataEnd(from offset: UInt64) -> UInt64? {
        let seekHole: Int32 = 4  // SEEK_HOLE, hidden as SEEK_DATA is
        let r = lseek(fd, off_t(offset), seekHole)
        return r >= 0 ? UInt64(r) : nil
    }

    package func truncate(to length: UInt64) throws(IOFailure) {
        #if DEBUG
        _ = try FaultInjector.before(.truncate, path)
        #endif
        guard ftruncate(fd, off_t(length)) == 0 else { throw IOFailure(operation: "truncate", path: path, errno: errno) }
    }

    /// Takes an exclusive flock without waiting. Returns false when another
    /// open file description holds it.
    func tryLockExclusive() throws(IOFailure) -> Bool {
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK { return false }
            throw IOFailure(operation: "flock", path: path, errno: errno)
        }
    }

    /// Takes an exclusive flock, waiting for it.
    func lockExclusive() throws(IOFailure) {
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw IOFailure(operation: "flock", path: path, errno: errno) }
        }
    }

    /// Releases a flock this open file description holds.
    func unlock() {
        _ = flock(fd, LOCK_UN)
    }

    package func close() throws(IOFailure) {
        guard fd >= 0 else { return }
        let rc = Glibc.close(fd)
        fd = -1
        if rc != 0 { throw IOFailure(operation: "close", path: path, errno: errno) }
    }
}

/// File-system calls on paths.
package enum FileSystem {
    /// What a path names, without following a link at its last component (`lstat`).
    package enum Kind: Equatable, Sendable {
        case missing
        case regular
        case directory
        case link
        /// A FIFO, socket or device.
        case special

        init(mode: mode_t) {
            switch mode & S_IFMT {
            case S_IFREG: self = .regular
            case S_IFDIR: self = .directory
            case S_IFLNK: self = .link
            default: self = .special
            }
        }

        var phrase: String {
            switch self {
            case .missing: "missing"
            case .regular: "a regular file"
            case .directory: "a directory"
            case .link: "a symbolic link"
            case .special: "a FIFO, socket or device"
            }
        }
    }

    /// What `path` names; a link is reported as one, never followed.
    package static func kind(_ path: String) -> Kind {
        var st = stat()
        guard lstat(path, &st) == 0 else { return .missing }
        return Kind(mode: st.st_mode)
    }

    static func exists(_ path: String) -> Bool { kind(path) != .missing }

    /// The size and the time of the last change (nanoseconds since 1970) of the regular file at `path`, from
    /// one `lstat`; nil when it is missing or is anything else (a link is not followed, a FIFO not opened).
    package static func regularFileStamp(_ path: String) -> (size: UInt64, modified: Int64)? {
        var st = stat()
        guard lstat(path, &st) == 0, Kind(mode: st.st_mode) == .regular else { return nil }
        let (seconds, overflow) = Int64(st.st_mtim.tv_sec).multipliedReportingOverflow(by: 1_000_000_000)
        return (UInt64(clamping: st.st_size), overflow ? .max : seconds &+ Int64(st.st_mtim.tv_nsec))
    }

    /// Opens `base/relative` to read, refusing a link or anything but a
    /// directory on the way below `base`, and anything but a regular file at
    /// the end: a file inside a store or an import source.
    package static func openInside(_ base: String, _ relative: String) throws(IOFailure) -> File {
        var path = base
        for part in relative.split(separator: "/").dropLast() {
            path += "/" + part
            switch kind(path) {
            case .directory: continue
            case .missing: throw IOFailure(operation: "open", path: path, errno: ENOENT)
            case let found: throw .notFollowed("open", path, found: found, expected: .directory)
            }
        }
        return try File.open(base + "/" + relative, .readOnly)
    }

    /// Creates the new file `base/relative` and the folders on the way below
    /// `base`, none of which may be a link: a file a store or an export writes.
    package static func createInside(_ base: String, _ relative: String) throws(IOFailure) -> File {
        let parts = relative.split(separator: "/")
        try makeDirectories(inside: base, parts.dropLast().joined(separator: "/"))
        return try File.open(base + "/" + relative, .createNew)
    }

    /// The first link or special file (FIFO, socket, device) at or below
    /// `path`, found without following any link; nil when there is none.
    package static func firstUnfollowable(under path: String) -> (path: String, kind: Kind)? {
        var pending = [path]
        while let p = pending.popLast() {
            switch kind(p) {
            case .directory:
                guard let names = try? list(p) else { continue }
                pending += names.map { p + "/" + $0 }
            case .link, .special: return (p, kind(p))
            case .regular, .missing: continue
            }
        }
        return nil
    }

    /// Whether `path` is a directory itself (not a link to one).
    package static func isDirectory(_ path: String) -> Bool { kind(path) == .directory }

    /// Makes the directory `path` if it is missing (its parent must exist);
    /// refuses when something else (a link, a file) is there.
    package static func makeDirectory(_ path: String) throws(IOFailure) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw IOFailure(operation: "mkdir", path: path, errno: errno) }
        let k = kind(path)
        guard k == .directory else { throw .notFollowed("mkdir", path, found: k, expected: .directory) }
    }

    /// Makes `base/relative` and its missing parents below `base`, none of
    /// which may be a link or anything but a directory: what a store or an
    /// import makes inside its own folder.
    package static func makeDirectories(inside base: String, _ relative: String) throws(IOFailure) {
        var path = base
        for part in relative.split(separator: "/") {
            path += "/" + part
            try makeDirectory(path)
        }
    }

    /// Creates `path` and its missing parents, following links on the way
    /// (a path the user gave, not one inside a store).
    package static func createDirectories(_ path: String) throws(IOFailure) {
        func followedDirectory(_ p: String) -> Bool {
            var st = stat()
            return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
        }
        if followedDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if !followedDirectory(prefix) {
                if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                    throw IOFailure(operation: "mkdir", path: prefix, errno: errno)
                }
            }
            prefix += "/"
        }
    }

    /// The names in a directory, without "." and "..". A link at `path` is refused.
    package static func list(_ path: String) throws(IOFailure) -> [String] {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            let k = kind(path)
            if k == .link || (k != .missing && k != .directory) { throw .notFollowed("open", path, found: k, expected: .directory) }
            throw IOFailure(operation: "opendir", path: path, errno: e)
        }
        guard let dir = fdopendir(fd) else {
            let e = errno
            _ = Glibc.close(fd)
            throw IOFailure(operation: "opendir", path: path, errno: e)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// fsyncs a directory, so that files created or renamed in it survive power loss.
    package static func syncDirectory(_ path: String) throws(IOFailure) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw IOFailure(operation: "open directory", path: path, errno: errno) }
        defer { _ = Glibc.close(fd) }
        #if DEBUG
        _ = try FaultInjector.before(.syncDirectory, path)
        #endif
        guard fsync(fd) == 0 else { throw IOFailure(operation: "fsync directory", path: path, errno: errno) }
        #if DEBUG
        FaultInjector.syncedDirectory(path)
        #endif
    }

    package static func rename(_ from: String, _ to: String) throws(IOFailure) {
        #if DEBUG
        _ = try FaultInjector.before(.rename, to)
        #endif
        guard Glibc.rename(from, to) == 0 else { throw IOFailure(operation: "rename", path: from, errno: errno) }
        #if DEBUG
        FaultInjector.renamed(from, to)
        #endif
    }

    package static func remove(_ path: String) throws(IOFailure) {
        guard unlink(path) == 0 || errno == ENOENT else { throw IOFailure(operation: "unlink", path: path, errno: errno) }
        #if DEBUG
        FaultInjector.removed(path)
        #endif
    }

    /// Writes a file whole by the safe-replace dance: a temporary file,
    /// fsync, rename over the old one, fsync of the directory. A crash at any
    /// step leaves the old version or the new one. The temporary file is made
    /// new (`O_EXCL`): a link left in its place is replaced, never written through.
    ///
    /// - Parameters:
    ///   - durable: false skips the two fsyncs, for a file that may
    ///     lag behind after a power loss (a remote session's delivery cursor).
    ///   - temporary: The temporary file (default `path.tmp`). One of each writer's own lets several
    ///     processes replace the same file at once, the last rename winning, none renaming another's half.
    package static func replaceAtomically(_ path: String, with bytes: [UInt8], durable: Bool = true,
                                          temporary: String? = nil) throws(IOFailure) {
        let tmp = temporary ?? path + ".tmp"
        try remove(tmp)
        let f = try File.open(tmp, .createNew)
        try f.write(bytes, at: 0)
        if durable { try f.sync() }
        try f.close()
        try rename(tmp, path)
        if durable { try syncDirectory(directoryName(path)) }
    }

    /// The folder `path` is in: "." for a bare name, "/" for a name at the root.
    package static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func currentProcessID() -> Int32 { getpid() }
}
