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
        for session in try StoreLayout.sessionDirectories(in: localPath + "/" + workspace) {
            reports.append(try exportSession(at: session, to: outputRoot, progress: progress))
        }
        return reports
    }

    /// Exports every session of every workspace under `localPath`.
    @discardableResult
    public static func exportAll(localPath: String, to outputRoot: String,
                                 progress: ProgressHandler? = nil) throws(DreamlakeError) -> [ExportReport] {
        var reports: [ExportReport] = []
        for workspace in try StoreLayout.subdirectories(of: localPath) {
            reports += try exportWorkspace(workspace, localPath: localPath, to: outputRoot, progress: progress)
        }
        return reports
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
}
