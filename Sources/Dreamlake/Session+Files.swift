import DreamlakeS3
import DreamlakeStore
import Foundation

extension Session {
    /// The session's files: copied into the store with their SHA-256 and content type.
    public var files: Files { Files(session: self) }
}

/// A file stored with a session.
public struct StoredFile: Sendable, Equatable {
    /// Its id, unique within the session.
    public var id: String
    /// `<workspace>/<session>`, as Python dreamlake's local mode writes it.
    public var sessionID: String?
    /// The folder it was filed under ("/models").
    public var path: String
    /// Its name.
    public var filename: String
    public var description: String?
    public var tags: [String]
    /// Its MIME type, guessed from the name.
    public var contentType: String
    public var sizeBytes: Int64
    /// SHA-256 of its bytes, lowercase hex.
    public var checksum: String
    public var metadata: ValueObject?
    /// When it was stored and last changed (as Python dreamlake writes them).
    public var uploadedAt: String
    public var updatedAt: String

    package var fields: ValueObject {
        [
            "id": .string(id), "sessionId": sessionID.map(Value.string) ?? .null, "path": .string(path), "filename": .string(filename),
            "description": description.map(Value.string) ?? .null, "tags": .array(tags.map(Value.string)),
            "contentType": .string(contentType), "sizeBytes": .int(sizeBytes), "checksum": .string(checksum),
            "metadata": metadata.map(Value.object) ?? .null, "uploadedAt": .string(uploadedAt),
            "updatedAt": .string(updatedAt),
        ]
    }

    /// The files `store` holds, by id, folded by FORMAT.md's rule (the one
    /// export uses: each record's fields replace earlier ones key by key),
    /// without those whose `deletedAt` is set.
    static func current(in store: Store, sessionID: String) throws(DreamlakeError) -> [String: StoredFile] {
        let records: [FileRecord]
        do { records = try store.fileRecords() } catch { throw DreamlakeError(error) }
        var files: [String: StoredFile] = [:]
        for (id, fields) in PythonDocuments.fileEntries(records, sessionID: sessionID) where fields["deletedAt"]?.isNull ?? true {
            files[id] = StoredFile(id: id, fields: fields)
        }
        return files
    }

    init(id: String, fields f: ValueObject) {
        self.id = id
        sessionID = f["sessionId"]?.stringValue
        path = f["path"]?.stringValue ?? "/"
        filename = f["filename"]?.stringValue ?? ""
        description = f["description"]?.stringValue
        tags = f["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        contentType = f["contentType"]?.stringValue ?? "application/octet-stream"
        sizeBytes = f["sizeBytes"]?.intValue ?? 0
        checksum = f["checksum"]?.stringValue ?? ""
        metadata = f["metadata"]?.objectValue
        uploadedAt = f["uploadedAt"]?.stringValue ?? ""
        updatedAt = f["updatedAt"]?.stringValue ?? ""
    }
}

/// Stores, lists, restores, updates and deletes a session's files.
public struct Files: Sendable {
    let session: Session

    /// Stored files of at most this many bytes are hashed whole before the first byte is served
    /// (the viewer, `dreamlake serve`); a larger one as it is sent, the response failing at its end when the bytes were not those recorded.
    package static let checkedBeforeServing: UInt64 = 16 << 20

    /// Copies the file at `localFile` into the session.
    ///
    /// - Parameters:
    ///   - localFile: The file to store.
    ///   - path: The folder to file it under. The default is "/".
    ///   - description: A description of the file; nil for none.
    ///   - tags: Tags to find it by; none by default.
    ///   - metadata: Fields to keep with it; nil for none.
    /// - Returns: What was stored, with its id and checksum.
    @discardableResult
    public func upload(_ localFile: String, path: String = "/", description: String? = nil, tags: [String] = [],
                       metadata: KeyValuePairs<String, any ValueConvertible>? = nil) throws(DreamlakeError) -> StoredFile {
        try upload(localFile, path: path, description: description, tags: tags, metadataObject: metadata.map(ValueObject.init(pairs:)))
    }

    package func upload(_ localFile: String, path: String, description: String?, tags: [String],
                metadataObject metadata: ValueObject?) throws(DreamlakeError) -> StoredFile {
        let store = try session.requireWritableStore()
        let folder = try Names.normalizeFolder(path)
        let filename = Paths.lastName(localFile)
        try Names.checkComponent(filename, "file")
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: localFile, isDirectory: &isDir), !isDir.boolValue else {
            throw DreamlakeError(.notFound, "there is no file at \(localFile) to upload")
        }
        let existing = try currentFiles()
        var id = Files.newID()
        while existing[id] != nil { id = Files.newID() }
        guard let relative = Files.relativeLocation(id: id, path: folder, filename: filename) else {
            throw DreamlakeError(.invalidName, "the file \(Names.quoted(filename)) cannot be stored under \(Names.quoted(folder))")
        }
        // Copied beside `files/` and renamed into place, and only then recorded: a file under `files/` is
        // always whole (an S3 session's uploader sends what it finds there), and a record's file is there.
        let partial = ".file-\(id).partial"
        let (checksum, size) = try Files.copyHashing(from: .user(localFile), to: .inside(base: session.directory, relative: partial))
        do {
            let target = "files/" + relative
            try FileSystem.makeDirectories(inside: session.directory, Paths.parent(target))
            try FileSystem.rename(session.directory + "/" + partial, session.directory + "/" + target)
            try FileSystem.syncDirectory(session.directory + "/" + Paths.parent(target))
        } catch {
            try? FileSystem.remove(session.directory + "/" + partial)
            throw DreamlakeError(.io, "could not store \(localFile) in \(session.directory)/files: \(error.message)", path: error.path)
        }
        let now = Timestamps.isoNow()
        var file = StoredFile(id: id, fields: [:])
        file.sessionID = session.workspace + "/" + session.name
        file.path = folder
        file.filename = filename
        file.description = description
        file.tags = tags
        file.contentType = Files.contentType(filename)
        file.sizeBytes = size
        file.checksum = checksum
        file.metadata = metadata
        file.uploadedAt = now
        file.updatedAt = now
        do { try store.appendFileRecord(fileID: id, fields: file.fields) } catch { throw DreamlakeError(error) }
        return try session.backend().published(file)
    }

    /// The stored files, optionally only those under `path` or carrying any of `tags`.
    public func list(path: String? = nil, tags: [String]? = nil) throws(DreamlakeError) -> [StoredFile] {
        let prefix = try path.map { (p) throws(DreamlakeError) in try Names.normalizeFolder(p) }
        return try session.backend().files(under: prefix, tags: tags)
    }

    /// Copies a stored file to `destination` (a folder, which gets the file's
    /// name, or a file path) and checks its SHA-256 on the way.
    ///
    /// - Returns: The path written.
    /// - Throws: ``DreamlakeError`` with `.checksumMismatch` when the stored
    ///   bytes no longer match (nothing is left at the destination), `.notFound`
    ///   for an unknown or deleted id.
    @discardableResult
    public func download(_ id: String, to destination: String = ".") throws(DreamlakeError) -> String {
        try session.backend().download(id, to: destination)
    }

    /// Stored file `id`'s bytes, open to read (fetched first, for a session of an S3 root whose
    /// folder lacks them), and its record. The bytes are not checked against the record's SHA-256:
    /// ``download(_:to:)`` does that.
    package func open(_ id: String) throws(DreamlakeError) -> (bytes: File, file: StoredFile) {
        try session.backend().openFile(id)
    }

    /// Changes a stored file's description, tags or metadata (nil leaves each as it is).
    @discardableResult
    public func update(_ id: String, description: String? = nil, tags: [String]? = nil,
                       metadata: KeyValuePairs<String, any ValueConvertible>? = nil) throws(DreamlakeError) -> StoredFile {
        try update(id, description: description, tags: tags, metadataObject: metadata.map(ValueObject.init(pairs:)))
    }

    package func update(_ id: String, description: String?, tags: [String]?, metadataObject metadata: ValueObject?) throws(DreamlakeError) -> StoredFile {
        let callersID = id
        let id = try session.backend().localFileID(id)
        let store = try session.requireWritableStore()
        guard var file = try currentFiles()[id] else {
            throw DreamlakeError(.notFound, "session \(session.workspace)/\(session.name) has no file \(Names.quoted(id))")
        }
        if let description { file.description = description }
        if let tags { file.tags = tags }
        if let metadata { file.metadata = metadata }
        file.updatedAt = Timestamps.isoNow()
        do { try store.appendFileRecord(fileID: id, fields: file.fields) } catch { throw DreamlakeError(error) }
        file.id = callersID
        return file
    }

    /// Deletes a stored file from the session's listing. Its bytes stay on
    /// disk (as in Python dreamlake), so nothing is lost by mistake.
    public func delete(_ id: String) throws(DreamlakeError) {
        _ = try deleteReturningTime(id)
    }

    /// Deletes as ``delete(_:)`` does and returns the deletion time as stored.
    package func deleteReturningTime(_ id: String) throws(DreamlakeError) -> String {
        let id = try session.backend().localFileID(id)
        let store = try session.requireWritableStore()
        guard try currentFiles()[id] != nil else {
            throw DreamlakeError(.notFound, "session \(session.workspace)/\(session.name) has no file \(Names.quoted(id))")
        }
        do {
            // As Python dreamlake does: the deletion time is also the update time.
            let now = Timestamps.isoNow()
            try store.appendFileRecord(fileID: id, deleted: true, fields: ["deletedAt": .string(now), "updatedAt": .string(now)])
            return now
        } catch { throw DreamlakeError(error) }
    }

    /// The files of the session's local store, by local id (see ``StoredFile/current(in:sessionID:)``).
    package func currentFiles() throws(DreamlakeError) -> [String: StoredFile] {
        try StoredFile.current(in: session.requireStore(), sessionID: session.place.label)
    }

    /// `destination`, or the file `filename` in it when it is a folder.
    static func target(_ destination: String, filename: String) -> String {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: destination, isDirectory: &isDir) && isDir.boolValue
            ? destination + "/" + filename : destination
    }

    /// Where a file's bytes live under the session's `files/` folder, as Python
    /// dreamlake places them: `<path without leading "/">/<id>/<filename>`.
    /// Nil when a part would leave the folder ("..", a "/" in the name, ...):
    /// such records come only from damaged or hostile input.
    package static func relativeLocation(id: String, path: String?, filename: String?) -> String? {
        guard let path, let filename, Names.componentProblem(id) == nil, Names.componentProblem(filename) == nil else {
            return nil
        }
        var parts: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard Names.componentProblem(String(part)) == nil else { return nil }
            parts.append(String(part))
        }
        return (parts + [id, filename]).joined(separator: "/")
    }

    /// Checks the bytes of every stored file of the session folder `directory` (not deleted) against
    /// the size and SHA-256 its record gives.
    ///
    /// - Returns: How many files were checked, and what is wrong, one line a file (naming its path).
    package static func check(sessionDirectory directory: String) throws(DreamlakeError) -> (checked: Int, problems: [String]) {
        let store: Store
        do { store = try Store(directory: directory, access: .read) } catch { throw DreamlakeError(error) }
        defer { try? store.close() }
        var checked = 0
        var problems: [String] = []
        for file in try StoredFile.current(in: store, sessionID: "").values.sorted(by: { $0.id < $1.id }) {
            guard let relative = relativeLocation(id: file.id, path: file.path, filename: file.filename) else {
                problems.append("file \(file.id) has a path or name that would leave the session's folder")
                continue
            }
            let path = directory + "/files/" + relative
            checked += 1
            do {
                let (checksum, size) = try copyHashing(from: .inside(base: directory, relative: "files/" + relative), to: nil)
                if size != file.sizeBytes || checksum != file.checksum {
                    problems.append("\(path): \(size) bytes with SHA-256 \(checksum), not the \(file.sizeBytes) bytes with \(file.checksum) it was stored with")
                }
            } catch {
                problems.append("\(path): \(error.message)")
            }
        }
        return (checked, problems)
    }

    /// A Snowflake-like id as Python dreamlake makes them: milliseconds << 12 | 12 random bits.
    static func newID() -> String {
        let ms = UInt64(Date().timeIntervalSince1970 * 1000)
        return String((ms << 12) | UInt64.random(in: 0..<4096))
    }

    /// One end of a copy: a path the user named (a link there is followed,
    /// as the user meant it), or a file inside a store, an export or an
    /// import source (`base/relative`: no link below `base` is followed).
    enum Place {
        case user(String)
        case inside(base: String, relative: String)

        var path: String {
            switch self {
            case .user(let p): p
            case let .inside(base, relative): base + "/" + relative
            }
        }
    }

    /// Copies `source` to `dest` (a new file when it is inside a store) in
    /// chunks and returns the SHA-256 (hex) and size of what was copied; with
    /// no `dest`, only reads and hashes `source`.
    /// Either end being anything but a regular file (a FIFO, a device, a link
    /// inside a store) is refused by name before a byte moves.
    static func copyHashing(from source: Place, to dest: Place?, sync: Bool = true) throws(DreamlakeError) -> (String, Int64) {
        do {
            let input: File
            switch source {
            case .user(let p): input = try File.open(p, .readOnly, followingLinks: true)
            case let .inside(base, relative): input = try FileSystem.openInside(base, relative)
            }
            defer { try? input.close() }
            let output: File?
            switch dest {
            case .user(let p)?:
                output = try File.open(p, .createOrOpen, followingLinks: true)
                try output?.truncate(to: 0)
            case let .inside(base, relative)?: output = try FileSystem.createInside(base, relative)
            case nil: output = nil
            }
            defer { try? output?.close() }
            let hasher = SHA256Hasher()
            var size: UInt64 = 0
            while true {
                let chunk = try input.read(at: size, count: 1 << 20)
                if chunk.isEmpty { break }
                hasher.update(chunk)
                try output?.write(chunk, at: size)
                size += UInt64(chunk.count)
            }
            if sync { try output?.sync() }
            return (SHA256Hasher.hex(hasher.finalize()), Int64(size))
        } catch {
            let what = dest.map { "copy \(source.path) to \($0.path)" } ?? "read \(source.path)"
            throw DreamlakeError(.io, "could not \(what): \(error.message)", path: error.path)
        }
    }

    /// SHA-256 (lowercase hex) of the file at `path`, read in chunks.
    static func sha256(of path: String) throws -> String {
        guard let input = FileHandle(forReadingAtPath: path) else { throw DreamlakeError(.notFound, "cannot read \(path)") }
        defer { try? input.close() }
        let hasher = SHA256Hasher()
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
        return SHA256Hasher.hex(hasher.finalize())
    }

    /// The MIME type Python's `mimetypes.guess_type` gives the common kinds of file, else octet-stream.
    static func contentType(_ filename: String) -> String {
        let ext = Paths.fileExtension(filename)
        let known: [String: String] = [
            "txt": "text/plain", "csv": "text/csv", "json": "application/json", "html": "text/html",
            "md": "text/markdown", "py": "text/x-python", "yaml": "application/yaml", "yml": "application/yaml",
            "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "svg": "image/svg+xml",
            "pdf": "application/pdf", "zip": "application/zip", "gz": "application/gzip", "tar": "application/x-tar",
            "mp4": "video/mp4", "wav": "audio/x-wav", "mp3": "audio/mpeg", "xml": "application/xml",
        ]
        return known[ext] ?? "application/octet-stream"
    }
}
