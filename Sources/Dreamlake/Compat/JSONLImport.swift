import DreamlakeStore
import Foundation
import OrderedCollections

extension JSONLLayout {
    /// What an import read.
    public struct ImportReport: Sendable {
        /// The new session's store.
        public var directory: String
        /// The session's workspace and name in the store.
        public var workspace: String
        public var name: String
        /// Points read, all tracks together.
        public var points: UInt64 = 0
        /// Log entries read.
        public var logs: UInt64 = 0
        /// Files copied.
        public var files: Int = 0
        /// Places where exporting the session again will not give back the
        /// same bytes (a key order or a form Python dreamlake does not write),
        /// as "file:line: what"; at most 20 are listed, ``inexactCount`` counts them all.
        public var inexact: [String] = []
        /// How many places differ in all.
        public var inexactCount = 0
        /// Problems that lost nothing stored but deserve a look (a file's bytes
        /// missing or not matching their checksum).
        public var warnings: [String] = []

        /// Whether an export will give back every file byte for byte.
        public var isExact: Bool { inexactCount == 0 }
    }

    /// Imports the session in `folder` (Python dreamlake's layout, or the
    /// flatter one with `logs.jsonl` beside `parameters.json`) into a new
    /// session store under `localPath`.
    ///
    /// The session is built beside its final place and renamed into it only
    /// when the whole import succeeded, so a failed import leaves nothing
    /// behind and touches no existing session.
    ///
    /// - Parameters:
    ///   - folder: The session's folder (`<root>/<workspace>/<session>`).
    ///   - localPath: The folder sessions live under.
    ///   - workspace: The workspace to import into; nil for the one in
    ///     `session.json`, else the name of `folder`'s parent.
    ///   - name: The session's name; nil for the one in `session.json`, else `folder`'s name.
    ///   - progress: Called now and then with how far the import has come; nil for none.
    /// - Throws: ``DreamlakeError`` with `.exists` when the session is already
    ///   there, `.invalidInput` (with ``DreamlakeError/path`` and
    ///   ``DreamlakeError/line``) for malformed input, `.invalidName` for a
    ///   name that would escape the store, `.io` or `.store` otherwise.
    @discardableResult
    public static func importSession(from folder: String, into localPath: String, workspace: String? = nil,
                                     name: String? = nil, progress: ProgressHandler? = nil) throws(DreamlakeError) -> ImportReport {
        let given = Paths.tidy(folder)
        guard FileManager.default.fileExists(atPath: given) else {
            throw DreamlakeError(.notFound, "there is no session folder at \(given)", path: given)
        }
        // The folder the user named may be reached through a link; nothing inside it is followed or opened
        // unless it is a regular file or a folder (a link could bring in another file's bytes, a FIFO would block).
        let source = URL(fileURLWithPath: given).resolvingSymlinksInPath().path
        if let (path, kind) = FileSystem.firstUnfollowable(under: source) {
            throw DreamlakeError(.invalidInput, "\(path) is \(kind == .link ? "a symbolic link" : "a FIFO, socket or device"); an import reads only regular files and folders and never follows links: remove it, or copy what it points to in its place", path: path)
        }
        let sessionPath = source + "/session.json"
        let sessionDoc: ValueObject? = FileManager.default.fileExists(atPath: sessionPath)
            ? try readObject(sessionPath) : nil
        let ws = Names.canonical(workspace ?? sessionDoc?["workspace"]?.stringValue ?? Paths.parentName(source))
        let nm = Names.canonical(name ?? sessionDoc?["name"]?.stringValue ?? Paths.lastName(source))
        try Names.checkSessionComponent(ws, "workspace")
        try Names.checkSessionComponent(nm, "session")
        let root = Paths.tidy(localPath)
        let target = Paths.join(root, ws, nm)
        try Names.checkInside(root, target)
        guard !FileManager.default.fileExists(atPath: target) else {
            throw DreamlakeError(.exists, "session \(ws)/\(nm) already exists at \(target); import under another name, or remove it first", path: target)
        }
        let staging = root + "/" + ws + "/.\(nm).import-\(getpid())"
        removeAbandonedImports(in: root + "/" + ws)
        try? FileManager.default.removeItem(atPath: staging)
        let store: Store
        do {
            try makeDirectory(staging)
            store = try Store(directory: staging, configuration: StoreConfiguration(durability: .buffered))
        } catch let e as DreamlakeError {
            throw e
        } catch let e as StoreError {
            try? FileManager.default.removeItem(atPath: staging)
            throw DreamlakeError(e)
        } catch {
            throw DreamlakeError(.io, "\(error)")
        }
        let importer = Importer(store: store, source: source, staging: staging, workspace: ws, name: nm, progress: progress)
        do throws(DreamlakeError) {
            try importer.run(sessionDoc: sessionDoc)
            do { try store.close() } catch { throw DreamlakeError(error) }
            do { try FileManager.default.moveItem(atPath: staging, toPath: target) } catch {
                throw DreamlakeError(.io, "could not move the imported session into \(target): \(error.localizedDescription)", path: target)
            }
        } catch {
            try? store.close()
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        importer.report.directory = target
        return importer.report
    }

    /// Imports every session under `root` (`<root>/<workspace>/<session>/`, as
    /// Python dreamlake's `local_path` holds them; a folder that is no session, see ``kind(of:)``, is passed by),
    /// stopping at the first failure.
    @discardableResult
    public static func importAll(from root: String, into localPath: String,
                                 progress: ProgressHandler? = nil) throws(DreamlakeError) -> [ImportReport] {
        var reports: [ImportReport] = []
        for workspace in try StoreLayout.subdirectories(of: root) {
            for session in try StoreLayout.subdirectories(of: root + "/" + workspace) where kind(of: root + "/" + workspace + "/" + session) == .session {
                reports.append(try importSession(from: root + "/" + workspace + "/" + session, into: localPath,
                                                 workspace: workspace, name: session, progress: progress))
            }
        }
        return reports
    }

    /// What a folder holds, as ``importFolder(from:into:workspace:name:progress:)`` reads it.
    public enum FolderKind: Sendable, Equatable {
        /// One session: `session.json`, `logs/` (or `logs.jsonl`), `parameters.json` or `tracks/` in it.
        case session
        /// A workspace: folders that are sessions.
        case workspace
        /// A root: folders of workspaces.
        case root
        /// None of these.
        case none
    }

    /// What `folder` holds: a session, a workspace of sessions, a root of workspaces, or none.
    public static func kind(of folder: String) -> FolderKind {
        func isSession(_ dir: String) -> Bool {
            ["session.json", "logs", "logs.jsonl", "parameters.json", "tracks"].contains { FileSystem.kind(dir + "/" + $0) != .missing }
        }
        func children(_ dir: String) -> [String] { (try? StoreLayout.subdirectories(of: dir)) ?? [] }
        if isSession(folder) { return .session }
        let kids = children(folder)
        if kids.contains(where: { isSession(folder + "/" + $0) }) { return .workspace }
        if kids.contains(where: { k in children(folder + "/" + k).contains { isSession(folder + "/" + k + "/" + $0) } }) { return .root }
        return .none
    }

    /// Imports whatever `folder` holds (see ``kind(of:)``): one session, every
    /// session of a workspace, or every session under a root.
    ///
    /// - Parameters:
    ///   - folder: A session's folder, a workspace's folder of sessions, or a root of workspaces.
    ///   - localPath: The folder sessions live under.
    ///   - workspace: For one session or a workspace, the workspace to import into; nil for the one each names, else the folder's.
    ///   - name: For one session only, its name; nil for the one it names, else its folder's.
    ///   - progress: Called now and then with how far the import has come; nil for none.
    /// - Returns: What each session's import read, in the order they were imported.
    /// - Throws: As ``importSession(from:into:workspace:name:progress:)``; `.notFound` when `folder` holds no session,
    ///   `.invalidName` when `name` (or `workspace`) is given for a folder of several sessions (or workspaces).
    public static func importFolder(from folder: String, into localPath: String, workspace: String? = nil, name: String? = nil,
                                    progress: ProgressHandler? = nil) throws(DreamlakeError) -> [ImportReport] {
        switch kind(of: folder) {
        case .session:
            return [try importSession(from: folder, into: localPath, workspace: workspace, name: name, progress: progress)]
        case .workspace:
            guard name == nil else { throw DreamlakeError(.invalidName, "a session name needs one session's folder, and \(folder) holds several") }
            let ws = workspace ?? Paths.lastName(folder)
            var reports: [ImportReport] = []
            for s in try StoreLayout.subdirectories(of: folder) where kind(of: folder + "/" + s) == .session {
                reports.append(try importSession(from: folder + "/" + s, into: localPath, workspace: ws, name: s, progress: progress))
            }
            return reports
        case .root:
            guard name == nil, workspace == nil else {
                throw DreamlakeError(.invalidName, "a session or workspace name needs one session's folder, and \(folder) holds workspaces")
            }
            return try importAll(from: folder, into: localPath, progress: progress)
        case .none:
            throw DreamlakeError(.notFound, "\(folder) holds no dreamlake session (no session.json, logs, parameters.json or tracks/ in it or below it)", path: folder)
        }
    }

    /// Removes what imports killed part way left in a workspace folder: their
    /// staging folders (`.<session>.import-<pid>`), when that process is gone.
    /// Imports still running are left alone.
    static func removeAbandonedImports(in folder: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for entry in entries where entry.hasPrefix(".") {
            guard let marker = entry.range(of: ".import-", options: .backwards),
                  let pid = Int32(entry[marker.upperBound...]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }  // that import is still running
            try? FileManager.default.removeItem(atPath: folder + "/" + entry)
        }
    }

    package static func readObject(_ path: String) throws(DreamlakeError) -> ValueObject {
        let bytes = try LineReader.readAll(path)
        let value: Value
        do { value = try PythonJSONReader.parse(bytes) } catch {
            let line = bytes.prefix(error.offset).reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
            throw DreamlakeError(.invalidInput, "\(path):\(line): malformed JSON: \(error.message)", path: path, line: line)
        }
        guard case .object(let o) = value else {
            throw DreamlakeError(.invalidInput, "\(path) holds \(kind(value)), not the JSON object it should", path: path)
        }
        return o
    }

    package static func kind(_ v: Value) -> String {
        switch v {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a float"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// One session's import, stream by stream, into a store being built.
private final class Importer {
    let store: Store
    let source: String
    let staging: String
    let workspace: String
    let name: String
    let progress: JSONLLayout.ProgressHandler?
    var report: JSONLLayout.ImportReport
    /// Bytes of JSONL read so far, and in all.
    var bytesBefore: Int64 = 0
    var totalBytes: Int64 = 0
    /// The files a time in another form than Python dreamlake's was read from (each is said once).
    var otherTimestampForms: Set<String> = []

    init(store: Store, source: String, staging: String, workspace: String, name: String, progress: JSONLLayout.ProgressHandler?) {
        self.store = store
        self.source = source
        self.staging = staging
        self.workspace = workspace
        self.name = name
        self.progress = progress
        report = JSONLLayout.ImportReport(directory: staging, workspace: workspace, name: name)
    }

    func run(sessionDoc: ValueObject?) throws(DreamlakeError) {
        let exists = { (p: String) in FileManager.default.fileExists(atPath: p) }
        // The note about parameters.json goes in the session record, so read it first.
        let paramsPath = source + "/parameters.json"
        let params = exists(paramsPath) ? try parameters(paramsPath) : nil
        try session(sessionDoc, note: params?.note)
        if let params {
            try store(paramsPath) { () throws(StoreError) in try store.appendParameters(params.data, timestamp: params.timestamp) }
            let doc = PythonDocuments.parameters(updates: [ObjectRecord(sequence: 0, timestamp: params.timestamp, fields: params.data)],
                                                 note: params.note)
            try compare(document: doc.map(Value.object), with: paramsPath)
        }
        let logsPath = exists(source + "/logs/logs.jsonl") ? source + "/logs/logs.jsonl" : source + "/logs.jsonl"
        let tracks = try trackFolders()
        totalBytes = ([logsPath] + tracks.map { source + "/tracks/" + $0 + "/data.jsonl" }).reduce(0) { sum, path in
            sum + (((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0)
        }
        if exists(logsPath) { try logs(logsPath) }
        for track in tracks { try self.track(track) }
        let filesDoc = source + "/files/.files_metadata.json"
        if exists(filesDoc) { try files(filesDoc) }
        do { try store.flush() } catch { throw DreamlakeError(error) }
        progress?(JSONLLayout.Progress(fraction: 1, records: report.points + report.logs, bytes: bytesBefore))
    }

    @discardableResult
    func store<T>(_ path: String, line: Int? = nil, _ body: () throws(StoreError) -> T) throws(DreamlakeError) -> T {
        do { return try body() } catch {
            throw DreamlakeError(.store, "\(path)\(line.map { ":\($0)" } ?? ""): the store refused it: \(error)",
                                 storeError: error, path: path, line: line)
        }
    }

    func invalid(_ path: String, _ line: Int?, _ what: String) -> DreamlakeError { Importer.invalid(path, line, what) }

    static func invalid(_ path: String, _ line: Int?, _ what: String) -> DreamlakeError {
        DreamlakeError(.invalidInput, "\(path)\(line.map { ":\($0)" } ?? ""): \(what)", path: path, line: line)
    }

    func inexact(_ path: String, _ line: Int?, _ what: String) {
        report.inexactCount += 1
        if report.inexact.count < 20 { report.inexact.append("\(path)\(line.map { ":\($0)" } ?? ""): \(what)") }
    }

    /// Notes where the text export will write differs from what was read.
    func compare(document: Value?, with path: String) throws(DreamlakeError) {
        guard let document else { return }
        let original = try LineReader.readAll(path)
        let again = PythonJSONWriter.indentedBytes(document)
        if original != again { inexact(path, nil, Importer.difference(original, again)) }
    }

    static func difference(_ a: [UInt8], _ b: [UInt8]) -> String {
        var at = 0
        while at < min(a.count, b.count) && a[at] == b[at] { at += 1 }
        let show = { (x: [UInt8]) in String(decoding: x[at..<min(x.count, at + 40)], as: UTF8.self) }
        return "an export would differ from byte \(at) on (read \"\(show(a))\", would write \"\(show(b))\")"
    }

    func timestamp(_ v: Value?, _ path: String, _ line: Int?, _ field: String) throws(DreamlakeError) -> Int64 {
        let (micros, otherForm) = try Importer.timestamp(v, path, line, field)
        try noteOtherForm(otherForm, micros, path, line, field)
        return micros
    }

    /// A time's microseconds, and its text when it is in another form than Python dreamlake's (which is
    /// taken, and said once a file by ``noteOtherForm(_:_:_:_:_:)``, since an export writes Python's form).
    static func timestamp(_ v: Value?, _ path: String, _ line: Int?, _ field: String) throws(DreamlakeError) -> (Int64, String?) {
        guard case .string(let s)? = v else {
            throw invalid(path, line, "\"\(field)\" is \(v.map(JSONLLayout.kind) ?? "missing"), not a timestamp string")
        }
        if let micros = Timestamps.parse(s) { return (micros, nil) }
        guard let micros = Timestamps.parseISO8601(s) else {
            throw invalid(path, line, "\"\(field)\" is \(Names.quoted(s)), not an ISO 8601 date and time with its zone (2026-11-25T11:17:49.610107Z)")
        }
        return (micros, s)
    }

    func noteOtherForm(_ text: String?, _ micros: Int64, _ path: String, _ line: Int?, _ field: String) throws(DreamlakeError) {
        guard let text, otherTimestampForms.insert(path).inserted else { return }
        inexact(path, line, "\"\(field)\" is \(Names.quoted(text)), a time in another form than Python dreamlake's; an export writes "
                + "\(Names.quoted(Timestamps.iso(micros: micros))) (and so for every such time of this file)")
    }

    // MARK: session.json and parameters.json

    func session(_ doc: ValueObject?, note: ValueObject?) throws(DreamlakeError) {
        let path = source + "/session.json"
        var fields: ValueObject
        var created = Timestamps.nowMicros()
        if let doc {
            fields = doc
            if let c = doc["created_at"]?.stringValue, let micros = Timestamps.parse(c) ?? Timestamps.parseISO8601(c) { created = micros }
            // Imported under another name: the fields say the new one.
            if fields["name"] != nil { fields["name"] = .string(name) }
            if fields["workspace"] != nil { fields["workspace"] = .string(workspace) }
            for key in fields.keys where key.hasPrefix(StoreLayout.internalKeyPrefix) {
                throw invalid(path, nil, "the key \(Names.quoted(key)) starts with \"\(StoreLayout.internalKeyPrefix)\", which the store keeps for itself")
            }
            if fields == doc { try compare(document: .object(fields), with: path) }
        } else {
            fields = PythonDocuments.newSession(name: name, workspace: workspace, createdAt: created)
        }
        if let note { fields[StoreLayout.parametersNoteKey] = .object(note) }
        try store(path) { () throws(StoreError) in try store.appendSessionMetadata(fields, timestamp: created) }
    }

    func parameters(_ path: String) throws(DreamlakeError) -> (data: ValueObject, timestamp: Int64, note: ValueObject) {
        let doc = try JSONLLayout.readObject(path)
        guard case .object(let data)? = doc["data"] else {
            throw invalid(path, nil, "\"data\" is \(doc["data"].map(JSONLLayout.kind) ?? "missing"), not an object of parameters")
        }
        var version: Int64 = 1
        if let v = doc["version"] {
            guard case .int(let i) = v, i >= 1 else { throw invalid(path, nil, "\"version\" is \(v), not a positive integer") }
            version = i
        }
        let updated = try doc["updatedAt"] == nil && doc["createdAt"] != nil
            ? timestamp(doc["createdAt"], path, nil, "createdAt") : timestamp(doc["updatedAt"], path, nil, "updatedAt")
        var note: ValueObject = ["sequence": 0, "version": .int(version)]
        if let c = doc["createdAt"] {
            _ = try timestamp(c, path, nil, "createdAt")
            note["createdAt"] = c
        }
        note["updatedAt"] = .string(Timestamps.iso(micros: updated))
        return (data, updated, note)
    }

    // MARK: logs

    func logs(_ path: String) throws(DreamlakeError) {
        try forEachParsed(path, parse: ParsedLine<LogRecord>.log) { (p: ParsedLine<LogRecord>, line: Int) throws(DreamlakeError) in
            guard let entry = try take(p, path, line, expected: UInt64(report.logs), gap: {
                "the sequence number is \($0) where \($1) was expected; the store numbers log entries from 0 without gaps"
            }) else { return }
            try store(path, line: line) { () throws(StoreError) in
                try store.appendLog(entry.message, level: entry.level, metadata: entry.metadata, timestamp: p.timestamp)
            }
            if let difference = p.difference { inexact(path, line, difference) }
            report.logs += 1
            tick()
        }
        let seqPath = FileSystem.directoryName(path) + "/.log_sequence"
        if FileManager.default.fileExists(atPath: seqPath) {
            let text = String(decoding: try LineReader.readAll(seqPath, limit: 64), as: UTF8.self)
            if text != String(report.logs) {
                inexact(seqPath, nil, "it says \(Names.quoted(text)) but there are \(report.logs) entries; an export writes \(report.logs)")
            }
        }
    }

    /// Where a line as read and the line an export would write (which ends in a newline) differ; nil when they do not.
    static func difference(line text: UnsafeRawBufferPointer, again: [UInt8]) -> String? {
        let same = again.count == text.count + 1
            && again.withUnsafeBytes { a in text.isEmpty || memcmp(a.baseAddress!, text.baseAddress!, text.count) == 0 }
        return same ? nil : difference(Array(text), Array(again.dropLast()))
    }

    static func isBlank(_ text: UnsafeRawBufferPointer) -> Bool {
        text.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }

    static func object(_ text: UnsafeRawBufferPointer, _ path: String, _ line: Int) throws(DreamlakeError) -> ValueObject {
        let value: Value
        do { value = try PythonJSONReader.parse(text) } catch {
            throw invalid(path, line, "malformed JSON at column \(error.offset + 1): \(error.message)")
        }
        guard case .object(let o) = value else { throw invalid(path, line, "the line holds \(JSONLLayout.kind(value)), not a JSON object") }
        return o
    }

    /// What every parsed line goes through, in the order a line's checks run: a blank line is noted and
    /// skipped (nil), its index or sequence number must come next (`gap` says what is wrong when it does
    /// not, given the number read and the one expected), then its own failure, then the note on a time in
    /// another form.
    func take<Record>(_ p: ParsedLine<Record>, _ path: String, _ line: Int, expected: UInt64,
                      gap: (Int64, UInt64) -> String) throws(DreamlakeError) -> Record? {
        if p.blank {
            inexact(path, line, "a blank line (skipped, as Python's reader skips it)")
            return nil
        }
        if let position = p.position, position != Int64(bitPattern: expected) { throw invalid(path, line, gap(position, expected)) }
        if let failure = p.failure { throw failure }
        try noteOtherForm(p.otherTimestampForm, p.timestamp, path, line, p.timeField)
        return p.record
    }

    /// Calls `take` with each line of `path`, in order, as `parse` made it: lines are read in batches, and
    /// each batch is parsed and checked on every core at once (`parse` must touch nothing but its line),
    /// then taken in order on this thread, which alone appends. Parsing was most of an import's time, so
    /// the next batch is parsed while this thread takes the one before.
    func forEachParsed<T: Sendable>(_ path: String, parse: @escaping @Sendable (UnsafeRawBufferPointer, String, Int) -> T,
                                    take: (T, Int) throws(DreamlakeError) -> Void) throws(DreamlakeError) {
        var batch = LineBatch()
        var spare: LineBatch?
        var pending: ParsedBatch<T>?
        defer { pending?.wait() }  // a failed take leaves no parse running behind it
        let base = bytesBefore
        func takePending() throws(DreamlakeError) {
            guard let done = pending else { return }
            pending = nil
            let (lines, runs) = done.wait()
            var i = 0
            for run in runs {
                for result in run {
                    try take(result, lines.lines[i])
                    i += 1
                }
            }
            spare = lines
            spare?.removeAll()
        }
        func flush() throws(DreamlakeError) {
            guard !batch.lines.isEmpty else { return }
            let next = ParsedBatch(batch, path: path, parse: parse)
            batch = spare ?? LineBatch()
            spare = nil
            defer { pending = next }  // also when the take below fails: then the wait above is for it
            try takePending()
        }
        try LineReader(path: path).forEachLine(bytesRead: { self.bytesBefore = base + $0 }) { (text, line) throws(DreamlakeError) in
            batch.append(text, line)
            if batch.lines.count >= LineBatch.size || batch.bytes.count >= LineBatch.maxBytes { try flush() }
        }
        try flush()
        try takePending()
    }

    func tick() {
        let done = report.points + report.logs
        guard let progress, done & 0xFFFF == 0 else { return }
        progress(JSONLLayout.Progress(fraction: totalBytes > 0 ? min(1, Double(bytesBefore) / Double(totalBytes)) : 0,
                                      records: done, bytes: bytesBefore))
    }

    // MARK: tracks

    /// The folders under tracks/ that hold a track (a metadata.json or a
    /// data.jsonl), as track names ("train/loss" for tracks/train/loss), in
    /// the order they were created.
    func trackFolders() throws(DreamlakeError) -> [String] {
        let root = source + "/tracks"
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var names: [String] = []
        while let entry = walker.nextObject() as? String {
            let last = Paths.lastName(entry)
            if last == "metadata.json" || last == "data.jsonl" {
                let name = Paths.parent(entry)
                if !name.isEmpty && !names.contains(name) { names.append(name) }
            }
        }
        var created: [String: String] = [:]
        for n in names {
            if let c = try? JSONLLayout.readObject(root + "/" + n + "/metadata.json")["createdAt"]?.stringValue { created[n] = c }
        }
        return names.sorted { (created[$0] ?? "", $0) < (created[$1] ?? "", $1) }
    }

    func track(_ trackName: String) throws(DreamlakeError) {
        let dir = source + "/tracks/" + trackName
        let metaPath = dir + "/metadata.json"
        let dataPath = dir + "/data.jsonl"
        do { try Names.checkTrackName(trackName) } catch {
            throw DreamlakeError(.invalidName, "\(dir): \(error.message)", path: dir)
        }
        var fields: ValueObject = ["description": .null, "tags": [], "metadata": .null]
        var createdAt: Int64?
        var updatedAt: Int64?
        var meta: ValueObject?
        if FileManager.default.fileExists(atPath: metaPath) {
            let m = try JSONLLayout.readObject(metaPath)
            meta = m
            if let n = m["name"], n != .string(trackName) {
                throw invalid(metaPath, nil, "the track's name is \(n) but its folder says \(Names.quoted(trackName))")
            }
            for key in ["description", "tags", "metadata"] { if let v = m[key] { fields[key] = v } }
            createdAt = try timestamp(m["createdAt"], metaPath, nil, "createdAt")
            updatedAt = try m["updatedAt"].map { (v) throws(DreamlakeError) in try timestamp(v, metaPath, nil, "updatedAt") }
        }
        let handle = try store(metaPath) { () throws(StoreError) in
            try store.track(named: trackName, fields: fields, timestamp: createdAt)
        }
        var count: UInt64 = 0
        var lastTimestamp: Int64?
        if FileManager.default.fileExists(atPath: dataPath) {
            try forEachParsed(dataPath, parse: ParsedLine<PointRecord>.point) { (p: ParsedLine<PointRecord>, line: Int) throws(DreamlakeError) in
                guard let point = try take(p, dataPath, line, expected: count, gap: {
                    "the index is \($0) where \($1) was expected; the store numbers points from 0 without gaps"
                }) else { return }
                _ = try store(dataPath, line: line) { () throws(StoreError) in
                    switch point {
                    case .valueStep(let value, let step): try handle.append(value: value, step: step, timestamp: p.timestamp)
                    case .object(let data): try handle.append(data, timestamp: p.timestamp)
                    }
                }
                if let difference = p.difference { inexact(dataPath, line, difference) }
                count += 1
                lastTimestamp = p.timestamp
                report.points += 1
                tick()
            }
        }
        if let updatedAt, updatedAt != createdAt {
            try store(metaPath) { () throws(StoreError) in try store.updateTrack(handle.id, fields: fields, timestamp: updatedAt) }
        }
        if let meta {
            for key in ["totalDataPoints", "nextIndex"] where meta[key] != nil && meta[key] != .int(Int64(count)) {
                inexact(metaPath, nil, "\"\(key)\" is \(meta[key] ?? .null) but data.jsonl holds \(count) points")
            }
            if let info = store.trackInfo(handle.id) {
                try compare(document: .object(PythonDocuments.trackMetadata(info, lastPointTimestamp: lastTimestamp)), with: metaPath)
            }
        }
    }

    // MARK: files

    func files(_ path: String) throws(DreamlakeError) {
        let doc = try JSONLLayout.readObject(path)
        guard case .array(let list)? = doc["files"] else {
            throw invalid(path, nil, "\"files\" is \(doc["files"].map(JSONLLayout.kind) ?? "missing"), not an array")
        }
        var records: [FileRecord] = []
        for (i, item) in list.enumerated() {
            guard case .object(let e) = item else { throw invalid(path, nil, "entry \(i) is \(JSONLLayout.kind(item)), not an object") }
            guard case .string(let id)? = e["id"] else { throw invalid(path, nil, "entry \(i) has no string \"id\"") }
            guard let relative = Files.relativeLocation(id: id, path: e["path"]?.stringValue, filename: e["filename"]?.stringValue) else {
                throw DreamlakeError(.invalidName, "\(path): file \(Names.quoted(id)) has a path or filename that would leave the session's folder, or none (path \(e["path"] ?? .null), filename \(e["filename"] ?? .null))", path: path)
            }
            let uploaded = try e["uploadedAt"].map { (v) throws(DreamlakeError) in try timestamp(v, path, nil, "files[\(i)].uploadedAt") }
            let deleted = !(e["deletedAt"]?.isNull ?? true)
            try copy(id: id, entry: e, relative: relative, deleted: deleted)
            let seq = try store(path) { () throws(StoreError) in
                try store.appendFileRecord(fileID: id, deleted: deleted, fields: e, timestamp: uploaded)
            }
            records.append(FileRecord(sequence: seq, timestamp: uploaded ?? 0, fileID: id, deleted: deleted, fields: e))
        }
        let entries = PythonDocuments.fileEntries(records, sessionID: workspace + "/" + name)
        try compare(document: ["files": .array(entries.values.map(Value.object))], with: path)
    }

    func copy(id: String, entry e: ValueObject, relative: String, deleted: Bool) throws(DreamlakeError) {
        let from = source + "/files/" + relative
        guard FileSystem.kind(from) != .missing else {
            if !deleted { report.warnings.append("file \(id) is listed but its bytes are not at \(from)") }
            return
        }
        let (checksum, _) = try Files.copyHashing(from: .inside(base: source, relative: "files/" + relative),
                                                  to: .inside(base: staging, relative: "files/" + relative))
        if let expected = e["checksum"]?.stringValue, expected != checksum {
            report.warnings.append("file \(id) (\(from)) has SHA-256 \(checksum), not the \(expected) it was listed with; imported as it is")
        }
        report.files += 1
    }
}

/// Lines of a file gathered to be parsed together: their bytes end to end, where each ends, their numbers.
private struct LineBatch: Sendable {
    /// Lines a batch gathers, and bytes: enough for each core to have long runs, few enough to stay small.
    static let size = 8192
    static let maxBytes = 8 << 20
    var bytes: [UInt8] = []
    var ends: [Int] = []
    var lines: [Int] = []

    mutating func append(_ text: UnsafeRawBufferPointer, _ line: Int) {
        bytes.append(contentsOf: text)
        ends.append(bytes.count)
        lines.append(line)
    }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        lines.removeAll(keepingCapacity: true)
    }

    /// `parse` of every line, in order, the lines cut into one run per core.
    func map<T: Sendable>(_ path: String, _ parse: @escaping @Sendable (UnsafeRawBufferPointer, String, Int) -> T) -> [[T]] {
        let n = lines.count
        guard n > 0 else { return [] }
        let runs = min(n, max(1, ProcessInfo.processInfo.activeProcessorCount))
        let (bytes, ends, lines) = (self.bytes, self.ends, self.lines)
        return concurrentMap(count: runs) { r in
            var out: [T] = []
            let lo = n * r / runs, hi = n * (r + 1) / runs
            out.reserveCapacity(hi - lo)
            bytes.withUnsafeBytes { all in
                for i in lo..<hi {
                    let start = i == 0 ? 0 : ends[i - 1]
                    out.append(parse(UnsafeRawBufferPointer(rebasing: all[start..<ends[i]]), path, lines[i]))
                }
            }
            return out
        }
    }
}

/// The parts of a ``ParsedLine`` that few lines have, in a box no line changes once made (a change makes another).
private final class RareParts: Sendable {
    struct Parts {
        var failure: DreamlakeError?
        var timeField = ""
        var otherTimestampForm: String?
        var difference: String?
    }
    private let parts: Parts
    init(_ parts: Parts = Parts()) { self.parts = parts }

    var failure: DreamlakeError? { parts.failure }
    var timeField: String { parts.timeField }
    var otherTimestampForm: String? { parts.otherTimestampForm }
    var difference: String? { parts.difference }

    /// `box`'s parts (none when nil), changed.
    static func with(_ box: RareParts?, _ change: (inout Parts) -> Void) -> RareParts {
        var p = box?.parts ?? Parts()
        change(&p)
        return RareParts(p)
    }
}

/// A batch of lines being parsed on other threads.
private final class ParsedBatch<T: Sendable>: Sendable {
    private let done = DispatchGroup()
    private let result = Locked<(LineBatch, [[T]])?>(nil)

    init(_ batch: LineBatch, path: String, parse: @escaping @Sendable (UnsafeRawBufferPointer, String, Int) -> T) {
        done.enter()
        DispatchQueue.global().async { [result, done] in
            let parsed = batch.map(path, parse)
            result.withLock { $0 = (batch, parsed) }
            done.leave()
        }
    }

    /// The batch and what `parse` made of each line (in runs, in order), once it is done (handed over: a
    /// second call gets none).
    @discardableResult
    func wait() -> (LineBatch, [[T]]) {
        done.wait()
        return result.withLock { kept in
            defer { kept = nil }
            return kept ?? (LineBatch(), [])
        }
    }
}

/// A log entry as a line of logs.jsonl holds it (its time and sequence number aside).
private struct LogRecord: Sendable {
    var level: LogLevel
    var message: String
    var metadata: ValueObject?
}

/// A line of a data.jsonl or of logs.jsonl, parsed and checked as far as it
/// can be without knowing the lines before it (off the appending thread).
private struct ParsedLine<Record: Sendable>: Sendable {
    var blank = false
    /// Its index or sequence number, when it is an integer (the importer checks it comes next).
    var position: Int64?
    var record: Record?
    var timestamp: Int64 = 0
    /// What only lines read by the general parser have, out of line: lines are copied from thread to
    /// thread, and most are read the fast way (``ParsedLine/valueStepLine(_:)``).
    private var rare: RareParts?

    /// What is wrong with it, after its position.
    var failure: DreamlakeError? {
        get { rare?.failure }
        set { rare = RareParts.with(rare) { $0.failure = newValue } }
    }
    /// The name of its time's field, and the time's text when in another form than Python dreamlake's.
    var timeField: String {
        get { rare?.timeField ?? "" }
        set { rare = RareParts.with(rare) { $0.timeField = newValue } }
    }
    var otherTimestampForm: String? {
        get { rare?.otherTimestampForm }
        set { rare = RareParts.with(rare) { $0.otherTimestampForm = newValue } }
    }
    /// Where an export's line would differ from it.
    var difference: String? {
        get { rare?.difference }
        set { rare = RareParts.with(rare) { $0.difference = newValue } }
    }

    fileprivate init() {}

    /// Parses `text`: `body` reads the object's fields into a record, its position and time set first,
    /// and writes the line an export would write.
    fileprivate init(_ text: UnsafeRawBufferPointer, path: String, line: Int, position key: String, time: String, fields: [String],
                 noun: String, _ body: (ValueObject, Int64, inout ParsedLine) throws(DreamlakeError) -> (Record, [UInt8])) {
        timeField = time
        if Importer.isBlank(text) {
            blank = true
            return
        }
        do throws(DreamlakeError) {
            let o = try Importer.object(text, path, line)
            guard case .int(let position)? = o[key] else {
                throw Importer.invalid(path, line, "\"\(key)\" is \(o[key].map(JSONLLayout.kind) ?? "missing"), not an integer")
            }
            self.position = position
            let (record, again) = try body(o, position, &self)
            for k in o.keys where !fields.contains(k) {
                throw Importer.invalid(path, line, "the \(noun) has a field \(Names.quoted(k)) that the store cannot keep")
            }
            self.record = record
            difference = Importer.difference(line: text, again: again)
        } catch {
            failure = error
        }
    }
}

/// The keys a line of data.jsonl and of logs.jsonl may have: made once, not a set per line
/// (a line has at most five keys, which an array finds as fast as a set without hashing them).
private let pointLineFields = ["index", "data", "createdAt"]
private let logLineFields = ["sequenceNumber", "timestamp", "level", "message", "metadata"]

/// A point of a data.jsonl as the importer appends it: the shape nearly every track has, `{"value": v, "step": s}`
/// (a double and an integer, in that order), through the track's fast path, or any other object. Both store the same point.
private enum PointRecord: Sendable {
    case valueStep(Double, Int64)
    case object(ValueObject)
}

extension ParsedLine where Record == PointRecord {
    /// A line of a track's data.jsonl.
    static func point(_ text: UnsafeRawBufferPointer, _ path: String, _ line: Int) -> ParsedLine {
        if let exact = valueStepLine(text) { return exact }
        return ParsedLine(text, path: path, line: line, position: "index", time: "createdAt", fields: pointLineFields,
                          noun: "point") { (o, index, p) throws(DreamlakeError) in
            guard case .object(let data)? = o["data"] else {
                throw Importer.invalid(path, line, "\"data\" is \(o["data"].map(JSONLLayout.kind) ?? "missing"), not an object")
            }
            (p.timestamp, p.otherTimestampForm) = try Importer.timestamp(o["createdAt"], path, line, "createdAt")
            var w = PythonJSONWriter()
            PythonDocuments.appendPointLine(index: UInt64(bitPattern: index), data: data, timestamp: p.timestamp, to: &w)
            return (.object(data), w.bytes)
        }
    }

    /// A line that is byte for byte the one an export writes of a point `{"value": v, "step": s}`, read
    /// without making its JSON tree (which was most of an import's time): its numbers are read where that
    /// line has them, the line an export would write of them is written, and the line is taken only when
    /// the two are the same bytes. Nil for any other line, which the general parser reads.
    static func valueStepLine(_ text: UnsafeRawBufferPointer) -> ParsedLine? {
        var r = LineScanner(text)
        guard r.skip("{\"index\": "), let index = r.integer(), r.skip(", \"data\": {\"value\": "), let value = r.double(),
              r.skip(", \"step\": "), let step = r.integer(), r.skip("}, \"createdAt\": \""), let timestamp = r.timestamp(),
              r.skip("\"}"), r.atEnd else { return nil }
        var w = PythonJSONWriter()
        w.bytes.reserveCapacity(text.count + 1)
        PythonDocuments.appendPointLine(index: UInt64(bitPattern: index), value: value, step: step, timestamp: timestamp, to: &w)
        guard Importer.difference(line: text, again: w.bytes) == nil else { return nil }
        var p = ParsedLine()
        p.position = index
        p.record = .valueStep(value, step)
        p.timestamp = timestamp
        return p
    }
}

/// Reads the parts of a line in the order they come; each read is nil (or false) when the text there is
/// not what it asks for, and then the line is not of the form read.
private struct LineScanner {
    let text: UnsafeRawBufferPointer
    var at = 0

    init(_ text: UnsafeRawBufferPointer) { self.text = text }

    var atEnd: Bool { at == text.count }

    mutating func skip(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard text.count - at >= n, memcmp(text.baseAddress! + at, literal.utf8Start, n) == 0 else { return false }
        at += n
        return true
    }

    /// A decimal integer, `-` and up to 19 digits, in Int64's range.
    mutating func integer() -> Int64? {
        let negative = at < text.count && text[at] == UInt8(ascii: "-")
        var i = negative ? at + 1 : at
        var v: Int64 = 0
        while i < text.count, text[i] >= 48, text[i] <= 57, i - at <= 19 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(text[i] - 48))
            guard !o1, !o2 else { return nil }
            v = a
            i += 1
        }
        guard i > (negative ? at + 1 : at) else { return nil }
        at = i
        return negative ? -v : v
    }

    /// A number `strtod` reads whole, of up to 32 characters, ending before a `,`.
    mutating func double() -> Double? {
        var end = at
        while end < text.count, text[end] != UInt8(ascii: ","), end - at <= 32 { end += 1 }
        let n = end - at
        guard n > 0, n <= 32 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 33) { buffer -> Double? in
            for k in 0..<n { buffer[k] = CChar(bitPattern: text[at + k]) }
            buffer[n] = 0
            var stop: UnsafeMutablePointer<CChar>?
            let v = strtod(buffer.baseAddress!, &stop)
            guard stop == buffer.baseAddress! + n else { return nil }
            at = end
            return v
        }
    }

    /// A time in Python dreamlake's form, up to the next `"`.
    mutating func timestamp() -> Int64? {
        var end = at
        while end < text.count, text[end] != UInt8(ascii: "\""), end - at <= 27 { end += 1 }
        guard end - at <= 27, let micros = Timestamps.parse(UnsafeRawBufferPointer(rebasing: text[at..<end])) else { return nil }
        at = end
        return micros
    }
}

extension ParsedLine where Record == LogRecord {
    /// A line of logs.jsonl.
    static func log(_ text: UnsafeRawBufferPointer, _ path: String, _ line: Int) -> ParsedLine {
        ParsedLine(text, path: path, line: line, position: "sequenceNumber", time: "timestamp",
                   fields: logLineFields, noun: "entry") { (o, sequence, p) throws(DreamlakeError) in
            (p.timestamp, p.otherTimestampForm) = try Importer.timestamp(o["timestamp"], path, line, "timestamp")
            guard case .string(let levelName)? = o["level"], let level = LogLevel(name: levelName) else {
                throw Importer.invalid(path, line, "\"level\" is \(o["level"].map { "\($0)" } ?? "missing"), not one of debug, info, warn, error, fatal")
            }
            guard case .string(let message)? = o["message"] else {
                throw Importer.invalid(path, line, "\"message\" is \(o["message"].map(JSONLLayout.kind) ?? "missing"), not a string")
            }
            var metadata: ValueObject?
            switch o["metadata"] {
            case nil, .null?: metadata = nil
            case .object(let m)?: metadata = m
            case let other?: throw Importer.invalid(path, line, "\"metadata\" is \(JSONLLayout.kind(other)), not an object")
            }
            var w = PythonJSONWriter()
            PythonDocuments.appendLogLine(LogEntry(sequence: UInt64(bitPattern: sequence), timestamp: p.timestamp, level: level,
                                                   message: message, metadata: metadata), to: &w)
            return (LogRecord(level: level, message: message, metadata: metadata), w.bytes)
        }
    }
}
