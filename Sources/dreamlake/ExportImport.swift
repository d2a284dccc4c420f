import ArgumentParser
import Dreamlake
import Foundation

/// `dreamlake export`: sessions to Python dreamlake's JSONL layout, or to Parquet.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export sessions to the JSONL layout Python dreamlake writes (logs.jsonl, parameters.json, ...), or to Parquet.",
        discussion: """
        With no session named, exports every session under --root. The output is <out>/<workspace>/<session>/, replaced whole. \
        With --format parquet: tracks/<track>.parquet (a row a point), logs.parquet and parameters.parquet in each session's \
        folder, and <out>/runs.parquet (a row a session), which DuckDB, polars, pandas and pyarrow read as they are.
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case jsonl, parquet
    }

    @OptionGroup var root: RootOption

    @Option(help: "The folder to write the layout into.")
    var out: String

    @Option(help: "jsonl (Python dreamlake's layout) or parquet.")
    var format: Format = .jsonl

    @Argument(help: "WORKSPACE or WORKSPACE/SESSION to export (default: all).")
    var sessions: [String] = []

    func run() throws {
        try reportingErrors {
            var reports: [JSONLLayout.ExportReport] = []
            let sessionRoot = try root.existingRoot()
            // Exported from the root's folder (an S3 root's spool), each session brought up to what the root holds first.
            var asked: [(workspace: String, session: String?)] = []
            for text in sessions { asked.append(try parseSessionName(text)) }
            for (ws, name) in try sessionRoot.sessions()
            where asked.isEmpty || asked.contains(where: { $0.workspace == ws && ($0.session == nil || $0.session == name) }) {
                try sessionRoot.session(workspace: ws, name: name).download()
            }
            let folder = sessionRoot.localFolder
            let bar = ProgressBar("export")
            defer { bar.finish() }
            if format == .parquet {
                let chosen = try sessionRoot.sessions().filter { ws, name in
                    asked.isEmpty || asked.contains(where: { $0.workspace == ws && ($0.session == nil || $0.session == name) })
                }
                for a in asked where !chosen.contains(where: { $0.workspace == a.workspace && (a.session == nil || $0.name == a.session) }) {
                    throw noSuchSession(a.session.map { "\(a.workspace)/\($0)" } ?? a.workspace, root: root.path)
                }
                let reports = try ParquetExport.export(sessions: chosen.map { ($0.workspace, $0.name) }, localPath: folder, to: out,
                                                       progress: bar.handler)
                bar.finish()
                for r in reports {
                    print("exported \(r.directory): \(counted(r.points, "point")), \(counted(r.logs, "log entry", plural: "log entries")), "
                          + "\(counted(r.bytes, "byte")) of Parquet")
                }
                return
            }
            if sessions.isEmpty {
                reports = try JSONLLayout.exportAll(localPath: folder, to: out, progress: bar.handler)
            }
            for name in sessions {
                let (ws, session) = try parseSessionName(name)
                if let session {
                    let dir = folder + "/" + ws + "/" + session
                    guard Store.exists(at: dir) else {
                        throw noSuchSession("\(ws)/\(session)", root: root.path)
                    }
                    reports.append(try JSONLLayout.exportSession(at: dir, to: out, progress: bar.handler))
                } else {
                    reports += try JSONLLayout.exportWorkspace(ws, localPath: folder, to: out, progress: bar.handler)
                }
            }
            bar.finish()
            for r in reports {
                print("exported \(r.directory): \(counted(r.points, "point")), \(counted(r.logs, "log entry", plural: "log entries")), "
                      + "\(counted(r.files, "file")), \(counted(r.bytes, "byte")) of JSON")
                for w in r.warnings { print("  warning: \(w)") }
            }
            if reports.isEmpty { print("nothing to export under \(root.path)") }
        }
    }
}

/// `dreamlake import`: sessions from Python dreamlake's JSONL layout.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import sessions from the JSONL layout Python dreamlake writes.",
        discussion: """
        SRC is one session's folder (it holds session.json, logs/ or logs.jsonl, parameters.json or tracks/), \
        a workspace's folder of sessions, or a root of workspaces (Python's local_path). A session that exists \
        already is never overwritten, and a failed import leaves nothing behind.
        """)

    @Argument(help: "The folder to import.")
    var source: String

    @OptionGroup var root: RootOption

    @Option(help: "The workspace to import one session into (default: the one it names, else its parent folder's name).")
    var workspace: String?

    @Option(help: "The name to import one session under (default: the one it names, else its folder's name).")
    var name: String?

    func run() throws {
        try reportingErrors {
            let bar = ProgressBar("import")
            defer { bar.finish() }
            // Imported into the root's folder (an S3 root's spool), then each new session published (uploaded).
            let target = try sessionRoot(root.path)
            let reports = try JSONLLayout.importFolder(from: source, into: target.localFolder, workspace: workspace,
                                                       name: name, progress: bar.handler)
            for r in reports {
                do throws(DreamlakeError) { try target.session(workspace: r.workspace, name: r.name).publishNew() } catch {
                    throw error.saying("\(r.workspace)/\(r.name) was imported into \(r.directory) but not uploaded: \(error.message)")
                }
            }
            bar.finish()
            for r in reports {
                print("imported \(r.workspace)/\(r.name): \(counted(r.points, "point")), \(counted(r.logs, "log entry", plural: "log entries")), \(counted(r.files, "file"))"
                      + (r.isExact ? "" : " (\(r.inexactCount) places will not export back byte for byte)"))
                for w in r.inexact { print("  inexact: \(w)") }
                for w in r.warnings { print("  warning: \(w)") }
            }
        }
    }
}
