import DreamlakeStore
import Foundation
import OrderedCollections

/// One session's export, stream by stream.
final class Exporter {
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
        let note = fields[StoreLayout.parametersNoteKey]?.objectValue
        fields = fields.filter { !$0.key.hasPrefix(StoreLayout.internalKeyPrefix) }
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
