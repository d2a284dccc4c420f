import Glibc

/// A file written front to back through a buffer, for JSONL output: one
/// `write(2)` per megabyte instead of one per line.
final class OutputFile {
    let path: String
    private var fd: Int32
    /// Bytes waiting to be written; callers append to it, then call ``flushIfFull()``.
    var buffer: [UInt8] = []
    /// Bytes written so far, buffered ones included.
    private(set) var written: Int64 = 0
    private static let chunk = 1 << 20

    /// Creates (or empties) the file at `path`: a regular file of one name. A symbolic link, a
    /// hard link (a second name of a file elsewhere) or a special file there is refused before a
    /// byte is written, so that an export never writes through to another file.
    init(path: String) throws(DreamlakeError) {
        self.path = path
        fd = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard fd >= 0 else {
            let e = errno
            let why = e == ELOOP ? "it is a symbolic link, which an export never writes through" : String(cString: strerror(e))
            throw DreamlakeError(.io, "could not create \(path): \(why)", path: path)
        }
        var st = stat()
        let refusal: String?
        if fstat(fd, &st) != 0 {
            refusal = String(cString: strerror(errno))
        } else if (st.st_mode & S_IFMT) != S_IFREG {
            refusal = "it is not a regular file"
        } else if st.st_nlink != 1 {
            refusal = "it has \(st.st_nlink) names (it is a hard link), and an export never writes through to another file"
        } else if ftruncate(fd, 0) != 0 {
            refusal = String(cString: strerror(errno))
        } else {
            refusal = nil
        }
        if let refusal {
            Glibc.close(fd)
            fd = -1
            throw DreamlakeError(.io, "could not create \(path): \(refusal)", path: path)
        }
        buffer.reserveCapacity(OutputFile.chunk + (64 << 10))
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Writes the buffer out once it holds a megabyte.
    @inline(__always)
    func flushIfFull() throws(DreamlakeError) {
        if buffer.count >= OutputFile.chunk { try drain() }
    }

    /// For a caller that builds lines in its own array (swapped with
    /// ``buffer`` while it writes): writes `bytes` out once they hold a
    /// megabyte, and hands back the emptied array, its capacity kept.
    @inline(__always)
    func drainIfFull(_ bytes: inout [UInt8]) throws(DreamlakeError) {
        guard bytes.count >= OutputFile.chunk else { return }
        swap(&bytes, &buffer)
        defer { swap(&bytes, &buffer) }
        try drain()
    }

    /// Writes out whatever is buffered.
    func drain() throws(DreamlakeError) {
        let count = buffer.count
        guard count > 0 else { return }
        let failure: Int32? = buffer.withUnsafeBytes { raw in
            var done = 0
            while done < count {
                let n = Glibc.write(fd, raw.baseAddress! + done, count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return nil
        }
        if let failure {
            throw DreamlakeError(.io, "could not write \(path): \(String(cString: strerror(failure)))", path: path)
        }
        written += Int64(count)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Bytes written, including those still buffered.
    var size: Int64 { written + Int64(buffer.count) }

    /// Writes out the rest and closes the file.
    func close() throws(DreamlakeError) {
        try drain()
        let r = Glibc.close(fd)
        fd = -1
        guard r == 0 else {
            throw DreamlakeError(.io, "could not close \(path): \(String(cString: strerror(errno)))", path: path)
        }
    }

    /// Writes `bytes` as the whole content of a new file at `path`.
    static func write(_ bytes: [UInt8], to path: String) throws(DreamlakeError) {
        let f = try OutputFile(path: path)
        f.buffer.append(contentsOf: bytes)
        try f.close()
    }
}
