import ArgumentParser
import Dreamlake
import DreamlakeS3
import Foundation

/// `dreamlake export`: sessions to Python dreamlake's JSONL layout.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export sessions to the JSONL layout Python dreamlake writes (logs.jsonl, parameters.json, ...).",
        discussion: "With no session named, exports every session under --root. The output is <out>/<workspace>/<session>/, replaced whole.")

    @OptionGroup var root: RootOption

    @Option(help: "The folder to write the layout into.")
    var out: String

    @Argument(help: "WORKSPACE or WORKSPACE/SESSION to export (default: all).")
    var sessions: [String] = []

    func run() throws {
        try reportingErrors {
            var reports: [JSONLLayout.ExportReport] = []
            _ = try root.existing()
            // An S3 root is exported from its spool, brought up to what the bucket holds first.
            let folder = S3Location.isS3(root.path) ? try spoolOfEverything(root.path) : root.path
            let bar = ProgressBar("export")
            defer { bar.finish() }
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
            // Into an S3 root: imported into its spool, then each new session sealed and uploaded.
            let objectRoot = S3Location.isS3(root.path) ? try s3Root(root.path) : nil
            let reports = try JSONLLayout.importFolder(from: source, into: objectRoot?.localFolder ?? root.path, workspace: workspace,
                                                       name: name, progress: bar.handler)
            if let objectRoot {
                for r in reports {
                    do {
                        let store = try Store(directory: r.directory)
                        try store.sealSegment()
                        try store.close()
                        // A new session's spool: made from no manifest (one of that name in the bucket refuses the upload).
                        _ = try S3Spool.make(r.directory, base: 0)
                        try objectRoot.objects(workspace: r.workspace, name: r.name).upload(from: r.directory)
                    } catch {
                        throw DreamlakeError(.io, "\(r.workspace)/\(r.name) was imported into the spool \(r.directory) but not uploaded: \(error)")
                    }
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

/// The spool of the S3 root `url` with every session in the bucket brought up to its newest manifest.
func spoolOfEverything(_ url: String) throws(DreamlakeError) -> String {
    let objectRoot = try s3Root(url)
    do {
        for (ws, name) in try objectRoot.sessions() {
            try objectRoot.objects(workspace: ws, name: name).download(into: objectRoot.localFolder + "/" + ws + "/" + name)
        }
    } catch { throw DreamlakeError(error) }
    return objectRoot.localFolder
}
