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
        let file = try LineReader.open(path)
        defer { try? file.close() }
        let chunk = 1 << 20
        var pending: [UInt8] = []  // the start of a line that continues in the next chunk
        var lineNumber = 0
        var total: Int64 = 0
        while true {
            let buffer = try LineReader.read(file, at: total, count: chunk)
            let n = buffer.count
            if n == 0 { break }
            total += Int64(n)
            var failure: DreamlakeError?
            buffer.withUnsafeBytes { raw in
                var start = 0
                // memchr finds each newline a word at a time (a loop over the bytes was a few percent of an import).
                while start < n, let found = memchr(raw.baseAddress! + start, 0x0A, n - start) {
                    let i = raw.baseAddress!.distance(to: UnsafeRawPointer(found))
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

    /// Opens `path` as the store opens its files: a link is not followed and
    /// anything but a regular file (a FIFO would block) is refused by name.
    private static func open(_ path: String) throws(DreamlakeError) -> File {
        do { return try File.open(path, .readOnly) } catch {
            throw DreamlakeError(error.refusal == nil ? .io : .invalidInput, error.message, path: path)
        }
    }

    private static func read(_ file: File, at offset: Int64, count: Int) throws(DreamlakeError) -> [UInt8] {
        do { return try file.read(at: UInt64(offset), count: count) } catch {
            throw DreamlakeError(.io, error.message, path: file.path)
        }
    }

    /// The whole file, for the small `.json` documents.
    static func readAll(_ path: String, limit: Int = 256 << 20) throws(DreamlakeError) -> [UInt8] {
        let file = try LineReader.open(path)
        defer { try? file.close() }
        var out: [UInt8] = []
        while true {
            let buffer = try LineReader.read(file, at: Int64(out.count), count: 1 << 16)
            if buffer.isEmpty { return out }
            out.append(contentsOf: buffer)
            guard out.count <= limit else {
                throw DreamlakeError(.invalidInput, "\(path) is over \(limit) bytes; that is too big for a metadata document", path: path)
            }
        }
    }
}
