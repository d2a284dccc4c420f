import Glibc

// Positional reads and writes, fsync and flock over a file descriptor. Written
// on the C library directly rather than swift-system: we need fsync, fdatasync
// and flock, which swift-system lacks on Linux, and one narrow place where a
// test can inject faults (FaultInjection.swift, in debug builds only).

/// An I/O failure: the call, the path and the errno.
struct IOFailure: Error {
    var operation: String
    var path: String
    var errno: Int32

    var message: String {
        "\(operation) of \(path) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// An open file. Not thread-safe by itself: the store serializes its use.
final class File {
    let path: String
    private(set) var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { if fd >= 0 { _ = Glibc.close(fd) } }

    enum Mode {
        case readOnly
        case readWrite
        case createNew       // read-write; fails if the file exists
        case createOrOpen    // read-write; creates it when missing
    }

    static func open(_ path: String, _ mode: Mode) throws(IOFailure) -> File {
        var flags: Int32 = O_CLOEXEC
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
        guard fd >= 0 else { throw IOFailure(operation: "open", path: path, errno: errno) }
        #if DEBUG
        if creates { FaultInjector.created(path) }
        #endif
        return File(path: path, fd: fd)
    }

    func size() throws(IOFailure) -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw IOFailure(operation: "fstat", path: path, errno: errno) }
        return UInt64(max(0, st.st_size))
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
    func read(at offset: UInt64, count: Int) throws(IOFailure) -> [UInt8] {
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
    func write(_ bytes: [UInt8], at offset: UInt64) throws(IOFailure) {
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

    func sync() throws(IOFailure) {
        #if DEBUG
        _ = try FaultInjector.before(.sync, path)
        #endif
        guard fsync(fd) == 0 else { throw IOFailure(operation: "fsync", path: path, errno: errno) }
        #if DEBUG
        FaultInjector.synced(path)
        #endif
    }

    func truncate(to length: UInt64) throws(IOFailure) {
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

    func close() throws(IOFailure) {
        guard fd >= 0 else { return }
        let rc = Glibc.close(fd)
        fd = -1
        if rc != 0 { throw IOFailure(operation: "close", path: path, errno: errno) }
    }
}

/// File-system calls on paths.
enum FileSystem {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and its missing parents.
    static func createDirectories(_ path: String) throws(IOFailure) {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if !isDirectory(prefix) {
                if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                    throw IOFailure(operation: "mkdir", path: prefix, errno: errno)
                }
            }
            prefix += "/"
        }
    }

    /// The names in a directory, without "." and "..".
    static func list(_ path: String) throws(IOFailure) -> [String] {
        guard let dir = opendir(path) else { throw IOFailure(operation: "opendir", path: path, errno: errno) }
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
    static func syncDirectory(_ path: String) throws(IOFailure) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
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

    static func rename(_ from: String, _ to: String) throws(IOFailure) {
        #if DEBUG
        _ = try FaultInjector.before(.rename, to)
        #endif
        guard Glibc.rename(from, to) == 0 else { throw IOFailure(operation: "rename", path: from, errno: errno) }
        #if DEBUG
        FaultInjector.renamed(from, to)
        #endif
    }

    static func remove(_ path: String) throws(IOFailure) {
        guard unlink(path) == 0 || errno == ENOENT else { throw IOFailure(operation: "unlink", path: path, errno: errno) }
        #if DEBUG
        FaultInjector.removed(path)
        #endif
    }

    /// Writes a file whole by the safe-replace dance: a temporary file,
    /// fsync, rename over the old one, fsync of the directory. A crash at any
    /// step leaves the old version or the new one.
    static func replaceAtomically(_ path: String, with bytes: [UInt8]) throws(IOFailure) {
        let tmp = path + ".tmp"
        try remove(tmp)
        let f = try File.open(tmp, .createNew)
        try f.write(bytes, at: 0)
        try f.sync()
        try f.close()
        try rename(tmp, path)
        try syncDirectory(directoryName(path))
    }

    static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func currentProcessID() -> Int32 { getpid() }
}
