import DreamlakeStore
import Foundation
import OrderedCollections

/// The directory layout Python dreamlake 0.2.4 writes in local mode, and the
/// way between it and the binary store:
///
/// ```
/// <root>/<workspace>/<session>/
///   session.json                  name, workspace, description, tags, folder, metadata, created_at, write_protected (+ updated_at)
///   parameters.json               {"version", "data", "createdAt", "updatedAt"}
///   logs/logs.jsonl               {"sequenceNumber", "timestamp", "level", "message"[, "metadata"]} per line
///   logs/.log_sequence            the next sequence number
///   tracks/<track>/data.jsonl     {"index", "data", "createdAt"} per line
///   tracks/<track>/metadata.json  trackId, name, description, tags, metadata, totalDataPoints, nextIndex, createdAt, updatedAt
///   files/<path>/<id>/<filename>  each stored file's bytes
///   files/.files_metadata.json    {"files": [...]}
/// ```
///
/// Export writes exactly the bytes Python dreamlake writes for the same
/// session (Python's `json` text, its timestamps); import reads that layout
/// (and the flatter one with `logs.jsonl` beside `parameters.json`) and keeps
/// every timestamp, index, sequence number, file id and key order, so that an
/// import followed by an export gives back the same bytes.
///
/// Both stream: memory stays bounded however many points a track holds.
public enum JSONLLayout {
    /// How far an export or import has got, for a progress bar.
    public struct Progress: Sendable {
        /// How much of the work is done, from 0 to 1.
        public var fraction: Double
        /// Records (points and log entries) done so far.
        public var records: UInt64
        /// Bytes of JSON written (export) or read (import) so far.
        public var bytes: Int64
    }

    /// Called now and then with the progress; keep it quick.
    public typealias ProgressHandler = @Sendable (Progress) -> Void

    /// What an export wrote.
    public struct ExportReport: Sendable {
        /// The session's folder in the output.
        public var directory: String
        /// Bytes of JSON written.
        public var bytes: Int64 = 0
        /// Points written, all tracks together.
        public var points: UInt64 = 0
        /// Log entries written.
        public var logs: UInt64 = 0
        /// Files copied.
        public var files: Int = 0
        /// What could not be exported as it should (a stored file missing or
        /// damaged, for example); empty when everything was.
        public var warnings: [String] = []
    }

    /// Exports the session stored in `directory` (`<localPath>/<workspace>/<name>`)
    /// to `<outputRoot>/<workspace>/<name>/`, replacing what is there.
    ///
    /// The session may be being written by another process: what it has
    /// written so far is exported. The output appears whole or not at all:
    /// it is written beside its final place and renamed into it.
    ///
    /// - Throws: ``DreamlakeError`` when the store cannot be read or the output cannot be written.
    @discardableResult
    public static func exportSession(at directory: String, to outputRoot: String,
                                     progress: ProgressHandler? = nil) throws(DreamlakeError) -> ExportReport {
        let trimmed = Paths.tidy(directory)
        let name = Paths.lastName(trimmed)
        let workspace = Paths.parentName(trimmed)
        let store: Store
        do { store = try Store(directory: trimmed, access: .read) } catch { throw DreamlakeError(error) }
        defer { try? store.close() }
        return try export(store: store, sessionDirectory: trimmed, workspace: workspace, name: name,
                          to: outputRoot, progress: progress)
    }

    /// Exports every session of `workspace` under `localPath` to `<outputRoot>/<workspace>/`.
    @discardableResult
    public static func exportWorkspace(_ workspace: String, localPath: String, to outputRoot: String,
                                       progress: ProgressHandler? = nil) throws(DreamlakeError) -> [ExportReport] {
        try Names.checkComponent(workspace, "workspace")
        var reports: [ExportReport] = []
        for session in try sessionDirectories(in: localPath + "/" + workspace) {
            reports.append(try exportSession(at: session, to: outputRoot, progress: progress))
        }
        return reports
    }

    /// Exports every session of every workspace under `localPath`.
    @discardableResult
    public static func exportAll(localPath: String, to outputRoot: String,
                                 progress: ProgressHandler? = nil) throws(DreamlakeError) -> [ExportReport] {
        var reports: [ExportReport] = []
        for workspace in try subdirectories(of: localPath) {
            reports += try exportWorkspace(workspace, localPath: localPath, to: outputRoot, progress: progress)
        }
        return reports
    }

    /// The session stores in a workspace folder, by name.
    static func sessionDirectories(in workspaceDirectory: String) throws(DreamlakeError) -> [String] {
        try subdirectories(of: workspaceDirectory).map { workspaceDirectory + "/" + $0 }
            .filter(Store.exists(at:))
    }

    /// The folders in `path` whose names do not start with ".", sorted.
    package static func subdirectories(of path: String) throws(DreamlakeError) -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw DreamlakeError(.notFound, "cannot list \(path): \(error.localizedDescription)", path: path)
        }
        return names.filter { !$0.hasPrefix(".") }.sorted().filter { n in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: path + "/" + n, isDirectory: &isDir) && isDir.boolValue
        }
    }

    /// Exports what `store` holds (its files' bytes under `sessionDirectory/files`).
    static func export(store: Store, sessionDirectory: String, workspace: String, name: String, to outputRoot: String,
                       progress: ProgressHandler?) throws(DreamlakeError) -> ExportReport {
        try Names.checkComponent(workspace, "workspace")
        try Names.checkComponent(name, "session")
        let root = Paths.tidy(outputRoot)
        let final = Paths.join(root, workspace, name)
        let staging = root + "/" + workspace + "/.\(name).export-\(getpid())"
        let exporter = Exporter(store: store, source: sessionDirectory, workspace: workspace, name: name,
                                out: staging, progress: progress)
        recoverAbandonedExports(of: name, in: root + "/" + workspace)
        do {
            try? FileManager.default.removeItem(atPath: staging)
            try makeDirectory(staging)
            try exporter.run()
            try replace(final, with: staging)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        exporter.report.directory = final
        return exporter.report
    }

    static func makeDirectory(_ path: String) throws(DreamlakeError) {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw DreamlakeError(.io, "could not create \(path): \(error.localizedDescription)", path: path)
        }
    }

    /// Tidies what an export of `name` killed part way left in `folder`: its
    /// staging folder (`.<name>.export-<pid>`) is removed, and the previous
    /// export it had moved aside (`.<name>.export-<pid>.old`) is put back when
    /// nothing took its place, else removed. Exports of processes still
    /// running are left alone.
    static func recoverAbandonedExports(of name: String, in folder: String) {
        let fm = FileManager.default
        let prefix = "." + name + ".export-"
        guard let entries = try? fm.contentsOfDirectory(atPath: folder) else { return }
        for entry in entries.sorted() where entry.hasPrefix(prefix) {
            let rest = entry.dropFirst(prefix.count)
            let isOld = rest.hasSuffix(".old")
            guard let pid = Int32(isOld ? rest.dropLast(4) : rest), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }  // that export is still running
            let path = folder + "/" + entry, final = folder + "/" + name
            if isOld && !fm.fileExists(atPath: final) {
                try? fm.moveItem(atPath: path, toPath: final)
            } else {
                try? fm.removeItem(atPath: path)
            }
        }
    }

    /// Moves `staging` to `final`, replacing what is there only once the new copy is whole.
    static func replace(_ final: String, with staging: String) throws(DreamlakeError) {
        let fm = FileManager.default
        let old = staging + ".old"
        do {
            if fm.fileExists(atPath: final) { try fm.moveItem(atPath: final, toPath: old) }
            try fm.moveItem(atPath: staging, toPath: final)
            if fm.fileExists(atPath: old) { try fm.removeItem(atPath: old) }
        } catch {
            if !fm.fileExists(atPath: final), fm.fileExists(atPath: old) { try? fm.moveItem(atPath: old, toPath: final) }
            throw DreamlakeError(.io, "could not move the export into \(final): \(error.localizedDescription)", path: final)
        }
    }

    /// Session metadata keys starting with this are the store's own notes, not session.json fields.
    static let internalKeyPrefix = "$"
    /// The note an import leaves about parameters.json: what Python's version count and timestamps were.
    static let parametersNoteKey = "$parameters"
}

/// One session's export, stream by stream.
private final class Exporter {
    let store: Store
    let source: String
    let workspace: String
    let name: String
    let out: String
    let progress: JSONLLayout.ProgressHandler?
    var report: JSONLLayout.ExportReport
    var total: UInt64 = 0
    var done: UInt64 = 0
    var lastProgress: UInt64 = 0
    /// The JSONL file being written, for the progress's byte count.
    var current: OutputFile?

    init(store: Store, source: String, workspace: String, name: String, out: String, progress: JSONLLayout.ProgressHandler?) {
        self.store = store
        self.source = source
        self.workspace = workspace
        self.name = name
        self.out = out
        self.progress = progress
        report = JSONLLayout.ExportReport(directory: out)
    }

    func run() throws(DreamlakeError) {
        let tracks = store.tracks()
        total = tracks.reduce(store.count(of: .logs)) { $0 + $1.count }
        for dir in ["logs", "tracks", "files"] { try JSONLLayout.makeDirectory(out + "/" + dir) }
        try parametersJSON(note: try sessionJSON())
        try logs()
        for t in tracks { try track(t) }
        try files()
        tick(force: true)
    }

    func tick(force: Bool = false) {
        guard let progress, force || done - lastProgress >= 1 << 16 else { return }
        lastProgress = done
        progress(JSONLLayout.Progress(fraction: total == 0 ? 1 : Double(done) / Double(total), records: done,
                                      bytes: report.bytes + (current?.size ?? 0)))
    }

    func writeDocument(_ value: Value, to path: String) throws(DreamlakeError) {
        let bytes = PythonJSONWriter.indentedBytes(value)
        try OutputFile.write(bytes, to: path)
        report.bytes += Int64(bytes.count)
    }

    func catching<T>(_ body: () throws(StoreError) -> T) throws(DreamlakeError) -> T {
        do { return try body() } catch { throw DreamlakeError(error) }
    }

    // MARK: session.json

    /// Writes session.json; returns the import's note about parameters.json, if there is one.
    func sessionJSON() throws(DreamlakeError) -> ValueObject? {
        var fields = ValueObject()
        var first: Int64?
        for r in try catching({ () throws(StoreError) in try store.sessionMetadataUpdates() }) {
            if first == nil { first = r.timestamp }
            for (k, v) in r.fields { fields[k] = v }
        }
        let note = fields[JSONLLayout.parametersNoteKey]?.objectValue
        fields = fields.filter { !$0.key.hasPrefix(JSONLLayout.internalKeyPrefix) }
        if fields.isEmpty {
            // A store written without the session API: the fields Python writes for a new session.
            fields = PythonDocuments.newSession(name: name, workspace: workspace, createdAt: first ?? Timestamps.nowMicros())
        }
        try writeDocument(.object(fields), to: out + "/session.json")
        return note
    }

    // MARK: parameters.json

    /// Python rewrites parameters.json on each set: version counts the sets;
    /// the first write has createdAt, later ones drop it.
    func parametersJSON(note: ValueObject?) throws(DreamlakeError) {
        let updates = try catching { () throws(StoreError) in try store.parameterUpdates() }
        guard let doc = PythonDocuments.parameters(updates: updates, note: note) else { return }
        try writeDocument(.object(doc), to: out + "/parameters.json")
    }

    // MARK: logs

    func logs() throws(DreamlakeError) {
        let count = store.count(of: .logs)
        guard count > 0 else { return }
        let file = try OutputFile(path: out + "/logs/logs.jsonl")
        current = file
        defer { current = nil }
        var w = PythonJSONWriter(capacity: 0)
        var next: UInt64 = 0
        while next < count {
            let page = try catching { () throws(StoreError) in try store.logs(from: next, limit: 4096) }
            guard !page.isEmpty else { break }
            swap(&w.bytes, &file.buffer)
            for e in page {
                PythonDocuments.appendLogLine(e, to: &w)
                try file.drainIfFull(&w.bytes)
            }
            swap(&w.bytes, &file.buffer)
            next += UInt64(page.count)
            done += UInt64(page.count)
            report.logs += UInt64(page.count)
            tick()
        }
        report.bytes += file.size
        try file.close()
        try OutputFile.write(Array(String(next).utf8), to: out + "/logs/.log_sequence")
    }

    // MARK: tracks

    func track(_ info: TrackInfo) throws(DreamlakeError) {
        try Names.checkTrackName(info.name)
        let dir = out + "/tracks/" + info.name
        try JSONLLayout.makeDirectory(dir)
        var lastTimestamp: Int64?
        if info.count > 0 {
            let file = try OutputFile(path: dir + "/data.jsonl")
            current = file
            defer { current = nil }
            let lines = TrackLineWriter()
            do {
                try store.forEachPointBlock(of: info.id, from: 0, to: info.count) { block in
                    try lines.write(block, from: 0, to: info.count, into: file)
                    self.done += UInt64(block.count)
                    self.report.points += UInt64(block.count)
                    self.tick()
                    return true
                }
            } catch let e as DreamlakeError {
                throw e
            } catch let e as StoreError {
                throw DreamlakeError(e)
            } catch {
                throw DreamlakeError(.io, "\(error)")
            }
            lastTimestamp = lines.lastTimestamp
            report.bytes += file.size
            try file.close()
        }
        let doc = PythonDocuments.trackMetadata(info, lastPointTimestamp: lastTimestamp)
        try writeDocument(.object(doc), to: dir + "/metadata.json")
    }

    // MARK: files

    func files() throws(DreamlakeError) {
        let records = try catching { () throws(StoreError) in try store.fileRecords() }
        guard !records.isEmpty else { return }
        let entries = PythonDocuments.fileEntries(records, sessionID: workspace + "/" + name)
        for (id, e) in entries { try copyFile(id: id, entry: e) }
        let list = entries.values.map(Value.object)
        try writeDocument(["files": .array(list)], to: out + "/files/.files_metadata.json")
    }

    /// Copies a stored file's bytes, checking them against the checksum they were stored with.
    func copyFile(id: String, entry e: ValueObject) throws(DreamlakeError) {
        let deleted = !(e["deletedAt"]?.isNull ?? true)
        guard let relative = Files.relativeLocation(id: id, path: e["path"]?.stringValue, filename: e["filename"]?.stringValue) else {
            report.warnings.append("file \(id) has a path or name that is not safe to write (\(e["path"] ?? .null), \(e["filename"] ?? .null)); its bytes were not copied")
            return
        }
        let from = source + "/files/" + relative
        guard FileSystem.kind(from) != .missing else {
            // Python keeps a deleted file's bytes, but they may have been removed by hand.
            if !deleted { report.warnings.append("file \(id) is missing from \(from); its bytes were not exported") }
            return
        }
        // A link or special file in the store's files/ is refused by name (nothing is copied through it).
        let (checksum, size) = try Files.copyHashing(from: .inside(base: source, relative: "files/" + relative),
                                                     to: .inside(base: out, relative: "files/" + relative), sync: false)
        if let expected = e["checksum"]?.stringValue, expected != checksum {
            report.warnings.append("file \(id) (\(from)) has SHA-256 \(checksum), not the \(expected) it was stored with: the stored copy is damaged")
        }
        report.files += 1
        report.bytes += size
    }
}

/// Writes track points as Python dreamlake's data.jsonl lines,
/// `{"index": 0, "data": {"value": 0.5, "step": 1}, "createdAt": "..."}`.
/// Columnar blocks take a fast path: the keys are escaped once per block and
/// the numbers written straight from the columns.
final class TrackLineWriter {
    private(set) var lastTimestamp: Int64?
    // The date part of the last timestamp, reused while the day stays the same.
    private var cachedDay: Int64 = .min
    private var cachedDate: [UInt8] = []

    func write(_ block: PointBlock, from: UInt64, to: UInt64, into file: OutputFile) throws(DreamlakeError) {
        let lo = Int(max(from, block.firstIndex) - block.firstIndex)
        let hi = Int(min(to, block.endIndex) - block.firstIndex)
        guard lo < hi else { return }
        var w = PythonJSONWriter(capacity: 0)
        w.bytes = file.buffer
        file.buffer = []
        defer { file.buffer = w.bytes }
        switch block.layout {
        case let .columns(keys, columns):
            let prefixes: [[UInt8]] = keys.enumerated().map { i, k in
                var kw = PythonJSONWriter(capacity: k.utf8.count + 6)
                kw.ascii(i == 0 ? "{" : ", ")
                kw.string(k)
                kw.ascii(": ")
                return kw.bytes
            }
            for i in lo..<hi {
                w.ascii("{\"index\": ")
                w.int(Int64(block.firstIndex) + Int64(i))
                w.ascii(", \"data\": ")
                if columns.isEmpty { w.ascii("{}") }
                for c in 0..<columns.count {
                    w.raw(prefixes[c])
                    switch columns[c] {
                    case .int(let v): w.int(v[i])
                    case .double(let v): w.double(v[i])
                    }
                }
                if !columns.isEmpty { w.ascii("}") }
                w.ascii(", \"createdAt\": \"")
                timestamp(block.timestamps[i], &w.bytes)
                w.ascii("\"}\n")
                try file.drainIfFull(&w.bytes)
            }
        case .rows(let rows):
            for i in lo..<hi {
                PythonDocuments.appendPointLine(index: block.firstIndex + UInt64(i), data: rows[i],
                                                timestamp: block.timestamps[i], to: &w)
                try file.drainIfFull(&w.bytes)
            }
        }
        lastTimestamp = block.timestamps[hi - 1]
    }

    @inline(__always)
    private func timestamp(_ micros: Int64, _ out: inout [UInt8]) {
        let (day, inDay) = Timestamps.floorDivide(micros, Timestamps.microsPerDay)
        if day != cachedDay {
            cachedDay = day
            cachedDate = []
            let (y, m, d) = Timestamps.civil(fromDays: day)
            Timestamps.appendDate(y, m, d, to: &cachedDate)
        }
        out.append(contentsOf: cachedDate)
        Timestamps.appendTime(microsInDay: inDay, to: &out)
    }
}

/// The documents and lines of the layout, built from what the store holds.
/// Export writes them; import builds them too, to check that what it read
/// will be written back the same.
package enum PythonDocuments {
    /// session.json as Python writes it for a new session with nothing but a name.
    static func newSession(name: String, workspace: String, createdAt: Int64) -> ValueObject {
        [
            "name": .string(name), "workspace": .string(workspace), "description": .null, "tags": [],
            "folder": .null, "metadata": .null, "created_at": .string(Timestamps.iso(micros: createdAt)),
            "write_protected": false,
        ]
    }

    /// parameters.json. Python rewrites it on each set: version counts the
    /// sets, the first write has createdAt and later ones drop it. An imported
    /// file's version and times (the note) carry on, moved on by sets made since.
    package static func parameters(updates: [ObjectRecord], note: ValueObject?) -> ValueObject? {
        guard let firstUpdate = updates.first, let lastUpdate = updates.last else { return nil }
        var data = ValueObject()
        for u in updates { for (k, v) in u.fields { data[k] = v } }
        var version = Int64(updates.count)
        var createdAt = Timestamps.iso(micros: firstUpdate.timestamp)
        var updatedAt = Timestamps.iso(micros: lastUpdate.timestamp)
        if let note, let seq = note["sequence"]?.intValue, let v = note["version"]?.intValue,
           seq >= 0, seq < updates.count {
            version = v + Int64(updates.count - 1 - Int(seq))
            if let c = note["createdAt"]?.stringValue { createdAt = c }
            if seq == updates.count - 1, let u = note["updatedAt"]?.stringValue { updatedAt = u }
        }
        var doc = ValueObject()
        doc["version"] = .int(version)
        doc["data"] = .object(data)
        if version == 1 { doc["createdAt"] = .string(createdAt) }
        doc["updatedAt"] = .string(updatedAt)
        return doc
    }

    /// A track's metadata.json.
    package static func trackMetadata(_ info: TrackInfo, lastPointTimestamp: Int64?) -> ValueObject {
        var doc = ValueObject()
        doc["trackId"] = .string("local-track-" + info.name)
        doc["name"] = .string(info.name)
        doc["description"] = info.fields["description"] ?? .null
        doc["tags"] = info.fields["tags"] ?? []
        doc["metadata"] = info.fields["metadata"] ?? .null
        doc["totalDataPoints"] = .int(Int64(info.count))
        doc["nextIndex"] = .int(Int64(info.count))
        doc["createdAt"] = .string(Timestamps.iso(micros: info.createdAt))
        // Python stamps updatedAt after each append; ours is the later of the
        // last point and the last metadata update (an import's stamp).
        doc["updatedAt"] = .string(Timestamps.iso(micros: max(info.updatedAt, lastPointTimestamp ?? info.updatedAt)))
        return doc
    }

    /// The entries of files/.files_metadata.json, by id in the order the ids
    /// first appear: each id's records folded (later fields replace earlier
    /// ones in place), with Python's sessionId and deletedAt filled in.
    static func fileEntries(_ records: [FileRecord], sessionID: String) -> OrderedDictionary<String, ValueObject> {
        var entries = OrderedDictionary<String, ValueObject>()
        for r in records {
            var e = entries[r.fileID] ?? [:]
            for (k, v) in r.fields { e[k] = v }
            if r.deleted, let at = r.fields["deletedAt"], r.fields["updatedAt"] == nil { e["updatedAt"] = at }
            entries[r.fileID] = e
        }
        for (id, var e) in entries {
            if e["sessionId"] == nil || e["sessionId"] == .null { e["sessionId"] = .string(sessionID) }
            if e["deletedAt"] == nil { e["deletedAt"] = .null }
            entries[id] = e
        }
        return entries
    }

    /// One line of logs/logs.jsonl, newline included.
    static func appendLogLine(_ e: LogEntry, to w: inout PythonJSONWriter) {
        w.ascii("{\"sequenceNumber\": ")
        w.int(Int64(bitPattern: e.sequence))
        w.ascii(", \"timestamp\": \"")
        Timestamps.appendISO(micros: e.timestamp, to: &w.bytes)
        w.ascii("\", \"level\": ")
        w.string(e.level.name)
        w.ascii(", \"message\": ")
        w.string(e.message)
        if let md = e.metadata {
            w.ascii(", \"metadata\": ")
            w.compact(.object(md))
        }
        w.ascii("}\n")
    }

    /// One line of a track's data.jsonl, newline included.
    static func appendPointLine(index: UInt64, data: ValueObject, timestamp: Int64, to w: inout PythonJSONWriter) {
        w.ascii("{\"index\": ")
        w.int(Int64(bitPattern: index))
        w.ascii(", \"data\": ")
        w.compact(.object(data))
        w.ascii(", \"createdAt\": \"")
        Timestamps.appendISO(micros: timestamp, to: &w.bytes)
        w.ascii("\"}\n")
    }
}
