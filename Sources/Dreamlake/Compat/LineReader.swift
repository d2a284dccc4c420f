import Glibc

/// Reads a text file line by line in bounded memory: a megabyte at a time,
/// each line handed over as bytes without its newline, with its number (from 1).
struct LineReader {
    let path: String
    /// Longest line accepted; longer ones are an error rather than a way to exhaust memory.
    static let maxLineBytes = 64 << 20

    /// Calls `body` with each line. A final line without a newline counts; an
    /// empty file has no lines.
    ///
    /// - Parameter bytesRead: Called after each chunk with the bytes read so far.
    func forEachLine(bytesRead: (Int64) -> Void = { _ in },
                     _ body: (UnsafeRawBufferPointer, Int) throws(DreamlakeError) -> Void) throws(DreamlakeError) {
        let fd = try LineReader.openRegularFile(path)
        defer { Glibc.close(fd) }
        let chunk = 1 << 20
        var pending: [UInt8] = []  // the start of a line that continues in the next chunk
        var buffer = [UInt8](repeating: 0, count: chunk)
        var lineNumber = 0
        var total: Int64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, chunk) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DreamlakeError(.io, "could not read \(path): \(String(cString: strerror(errno)))", path: path)
            }
            if n == 0 { break }
            total += Int64(n)
            var failure: DreamlakeError?
            buffer.withUnsafeBytes { raw in
                var start = 0
                for i in 0..<n where raw[i] == 0x0A {
                    lineNumber += 1
                    do throws(DreamlakeError) {
                        if pending.isEmpty {
                            try body(UnsafeRawBufferPointer(rebasing: raw[start..<i]), lineNumber)
                        } else {
                            pending.append(contentsOf: raw[start..<i])
                            try LineReader.call(body, with: pending, lineNumber)
                            pending.removeAll(keepingCapacity: true)
                        }
                    } catch {
                        failure = error
                        return
                    }
                    start = i + 1
                }
                pending.append(contentsOf: raw[start..<n])
            }
            if let failure { throw failure }
            if pending.count > LineReader.maxLineBytes {
                throw DreamlakeError(.invalidInput, "\(path): line \(lineNumber + 1) is over \(LineReader.maxLineBytes) bytes long",
                                     path: path, line: lineNumber + 1)
            }
            bytesRead(total)
        }
        if !pending.isEmpty {
            lineNumber += 1
            try LineReader.call(body, with: pending, lineNumber)
        }
    }

    private static func call(_ body: (UnsafeRawBufferPointer, Int) throws(DreamlakeError) -> Void, with bytes: [UInt8],
                             _ line: Int) throws(DreamlakeError) {
        let failure: DreamlakeError? = bytes.withUnsafeBytes { p in
            do throws(DreamlakeError) { try body(p, line) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    /// Opens `path` to read, refusing a link and anything but a regular file
    /// (never following, never waiting on a FIFO).
    static func openRegularFile(_ path: String) throws(DreamlakeError) -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ELOOP { throw DreamlakeError(.invalidInput, "\(path) is a symbolic link; it is not followed", path: path) }
            throw DreamlakeError(.io, "could not open \(path): \(String(cString: strerror(errno)))", path: path)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(fd)
            throw DreamlakeError(.invalidInput, "\(path) is not a regular file; it is not read", path: path)
        }
        return fd
    }

    /// The whole file, for the small `.json` documents.
    static func readAll(_ path: String, limit: Int = 256 << 20) throws(DreamlakeError) -> [UInt8] {
        let fd = try LineReader.openRegularFile(path)
        defer { Glibc.close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DreamlakeError(.io, "could not read \(path): \(String(cString: strerror(errno)))", path: path)
            }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
            guard out.count <= limit else {
                throw DreamlakeError(.invalidInput, "\(path) is over \(limit) bytes; that is too big for a metadata document", path: path)
            }
        }
    }
}
