import Dreamlake
import DreamlakeS3
import DreamlakeStore
import Foundation
import MultipartKit
import NIOCore

/// One multipart/form-data upload as it arrives: its text fields kept in
/// memory (at most 1 MiB in all), its file part written to a staging file
/// while its SHA-256 and size are counted, so that nothing of any size is
/// held in memory.
///
/// Not safe to use from two threads at once; one request uses it, one call
/// after another (each on the server's thread pool), hence `@unchecked Sendable`.
final class MultipartUpload: @unchecked Sendable {
    /// The form's text fields (prefix, checksum, sizeBytes, description, tags, metadata).
    private(set) var fields: [String: String] = [:]
    private let parser: MultipartParser
    /// The server's staging folder, and this upload's folder in it.
    private let uploads: String
    private let directory: String
    private let limit: Int64
    private var failure: RemoteError?
    // The part being read.
    private var headers: [String: String] = [:]
    private var text: [UInt8] = []
    /// Bytes of all text fields so far: many small fields may not add up to more than one large one.
    private var textTotal = 0
    private var file: File?
    private let hasher = SHA256Hasher()
    private var size: Int64 = 0
    private var staged: String?
    private var fileDone = false
    private static let maxField = 1 << 20

    /// The boundary of a `multipart/form-data` content type; nil for any other type.
    static func boundary(_ contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for p in parts.dropFirst() where p.lowercased().hasPrefix("boundary=") {
            let b = p.dropFirst("boundary=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            return b.isEmpty || b.count > 200 ? nil : b
        }
        return nil
    }

    /// Prepares to stage an upload under `directory` (a fresh folder of its
    /// own inside it), refusing a file part over `limit` bytes.
    init(boundary: String, directory: String, limit: Int64) throws {
        parser = MultipartParser(boundary: boundary)
        uploads = directory
        self.directory = directory + "/" + UUID().uuidString
        self.limit = limit
        parser.onHeader = { [unowned self] name, value in headers[name.lowercased()] = value }
        parser.onBody = { [unowned self] buffer in body(&buffer) }
        parser.onPartComplete = { [unowned self] in partComplete() }
    }

    /// Takes the next bytes of the body.
    func feed(_ chunk: ByteBuffer) throws {
        do { try parser.execute(chunk) } catch {
            throw failure ?? RemoteError(400, "the multipart body is malformed: \(error)")
        }
        if let failure { throw failure }
    }

    /// The staged file, once the whole body has arrived.
    func finish() throws -> (path: String, size: Int64, checksum: String) {
        if let failure { throw failure }
        guard let staged, fileDone else {
            throw RemoteError(400, "the upload has no complete \"file\" part; send the file as the form field \"file\"")
        }
        return (staged, size, SHA256Hasher.hex(hasher.finalize()))
    }

    /// Removes what was staged (the session keeps its own copy).
    func discard() {
        try? file?.close()
        file = nil
        try? FileManager.default.removeItem(atPath: directory)
    }

    private var partName: (name: String?, filename: String?) {
        guard let d = headers["content-disposition"] else { return (nil, nil) }
        return (MultipartUpload.parameter("name", in: d), MultipartUpload.parameter("filename", in: d))
    }

    private func body(_ buffer: inout ByteBuffer) {
        guard failure == nil else { return }
        let (name, filename) = partName
        guard name == "file", let filename else {
            guard textTotal + buffer.readableBytes <= MultipartUpload.maxField else {
                failure = RemoteError(413, "the form's text fields are over 1 MiB in all (at \(name.map { "\"\($0)\"" } ?? "a field without a name"))")
                return
            }
            textTotal += buffer.readableBytes
            text.append(contentsOf: buffer.readableBytesView)
            return
        }
        do {
            if file == nil { try openStaging(filename) }
            guard size + Int64(buffer.readableBytes) <= limit else {
                throw RemoteError(413, "the file is over \(limit) bytes, the most this server accepts (--max-upload)")
            }
            let bytes = buffer.readableBytesView
            hasher.update(bytes)
            try file?.write(Array(bytes), at: UInt64(size))
            size += Int64(bytes.count)
        } catch let e as RemoteError {
            failure = e
        } catch {
            failure = RemoteError(500, "could not stage the upload: \(error.localizedDescription)")
        }
    }

    private func openStaging(_ filename: String) throws {
        guard !fileDone, staged == nil else { throw RemoteError(400, "the form has more than one \"file\" part") }
        if let problem = RemoteService.fileNameProblem(filename) {
            throw RemoteError(400, "the file name \(filename) is refused: \(problem)")
        }
        let path = directory + "/" + filename.precomposedStringWithCanonicalMapping
        do {
            // Neither folder may be a link (the root's .uploads could be made one to send uploads elsewhere).
            try FileSystem.makeDirectory(uploads)
            try FileSystem.makeDirectory(directory)
            file = try File.open(path, .createNew)
        } catch {
            throw RemoteError(500, "could not stage the upload: \(error.message)")
        }
        staged = path
    }

    private func partComplete() {
        defer {
            headers = [:]
            text = []
        }
        guard failure == nil else { return }
        let (name, filename) = partName
        if name == "file", let filename {
            // An empty file sends no body bytes: stage it here.
            if file == nil {
                do { try openStaging(filename) } catch let e as RemoteError { failure = e; return } catch {
                    failure = RemoteError(500, "could not stage the upload: \(error.localizedDescription)")
                    return
                }
            }
            try? file?.close()
            file = nil
            fileDone = true
        } else if let name {
            fields[name] = String(decoding: text, as: UTF8.self)
        }
    }

    /// `value` of `key="value"` (or `key=value`) in a Content-Disposition header.
    /// The header is split on the ";" outside quotes, so a quoted filename may hold one.
    static func parameter(_ key: String, in header: String) -> String? {
        var parts: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for ch in header {
            if escaped {
                current.append(ch)
                escaped = false
            } else if quoted && ch == "\\" {
                escaped = true
            } else if ch == "\"" {
                quoted.toggle()
            } else if ch == ";" && !quoted {
                parts.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        parts.append(current)
        // Quotes are dropped and escapes undone above: each part is `key=value`.
        for p in parts.dropFirst() {
            let p = p.trimmingCharacters(in: .whitespaces)
            guard let eq = p.firstIndex(of: "="), p[..<eq].trimmingCharacters(in: .whitespaces).lowercased() == key else { continue }
            return String(p[p.index(after: eq)...])
        }
        return nil
    }
}
