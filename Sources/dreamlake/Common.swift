import ArgumentParser
import Dreamlake
import DreamlakeS3
import DreamlakeStore
import Foundation

/// The `--root` option every command takes.
struct RootOption: ParsableArguments {
    @Option(help: "The folder sessions live under, or an S3 root s3://BUCKET/PREFIX (default: $DREAMLAKE_PATH, else ./.dreamlake).")
    var root: String?

    /// The folder to use.
    var path: String { root ?? ProcessInfo.processInfo.environment["DREAMLAKE_PATH"] ?? "./.dreamlake" }

    /// The root to read, which must be there: a mistyped root is an
    /// error, not an empty list that passes a script's check.
    func existing() throws(DreamlakeError) -> String { try existingRoot().url }

    /// ``existing()``, as the root sessions are reached through.
    func existingRoot() throws(DreamlakeError) -> any SessionRoot {
        let path = self.path
        let found = try sessionRoot(path)
        // An S3 root is checked by listing it (its bucket must be there).
        if found.isShared { return found }
        // The user's own path, given on the command line: a link to a folder is a folder here.
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            let from = root != nil ? "--root" : ProcessInfo.processInfo.environment["DREAMLAKE_PATH"] != nil ? "$DREAMLAKE_PATH" : "the default root"
            throw DreamlakeError(.notFound, "there is no folder \(path) (\(from)): give --root the folder sessions are stored under")
        }
        return found
    }
}

/// The command as the user can type it again from any folder, for the
/// commands the tool prints: `dreamlake` when the shell found it on PATH,
/// else the absolute path of the binary that runs (`scripts/demo` runs
/// `.build/release/dreamlake`, which is on no PATH).
let invokedCommand: String = {
    let first = CommandLine.arguments.first ?? "dreamlake"
    return first.contains("/") ? absolutePath(first) : first
}()

/// `path` from the root of the file system: a printed command with it runs from any folder.
func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

/// The one wording of "that session is not there", for every command.
func noSuchSession(_ name: String, root: String) -> DreamlakeError {
    DreamlakeError(.notFound, "there is no session \(name) under \(root); `\(invokedCommand) ls --root \(absolutePath(root))` lists them")
}

/// Runs a command's body; a ``DreamlakeError`` becomes one line on stderr and exit status 1, never a stack trace.

func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as DreamlakeError {
        FileHandle.standardError.write(Data("dreamlake: \(e.message)\n".utf8))
        throw ExitCode.failure
    }
}

/// ``reportingErrors(_:)`` for an async body.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as DreamlakeError {
        FileHandle.standardError.write(Data("dreamlake: \(e.message)\n".utf8))
        throw ExitCode.failure
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal, at most ten times a second.
final class ProgressBar: Sendable {
    private let label: String
    private let enabled = isatty(2) == 1
    private let state = Locked<(lastDraw: ContinuousClock.Instant?, drawn: Bool)>((nil, false))
    private let start = ContinuousClock.now

    init(_ label: String) { self.label = label }

    /// The handler to give an export or import.
    var handler: JSONLLayout.ProgressHandler? {
        guard enabled else { return nil }
        return { [self] p in self.draw(p) }
    }

    private func draw(_ p: JSONLLayout.Progress) {
        let now = ContinuousClock.now
        let due = state.withLock { s -> Bool in
            if let last = s.lastDraw, now - last < .milliseconds(100), p.fraction < 1 { return false }
            s.lastDraw = now
            s.drawn = true
            return true
        }
        guard due else { return }
        let width = 30
        let filled = max(0, min(width, Int(p.fraction * Double(width))))
        let seconds = max(0.001, Double((now - start).components.attoseconds) / 1e18 + Double((now - start).components.seconds))
        let mb = Double(p.bytes) / 1e6
        let line = "\r\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] "
            + "\(Int(p.fraction * 100))%  \(p.records) records  \(String(format: "%.1f", mb)) MB  \(String(format: "%.0f", mb / seconds)) MB/s "
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends the bar's line, if one was drawn.
    func finish() {
        if state.withLock({ $0.drawn }) { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// "WORKSPACE/SESSION" or "WORKSPACE", split.
func parseSessionName(_ text: String) throws -> (workspace: String, session: String?) {
    let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    guard let ws = parts.first, !ws.isEmpty, parts.count == 1 || !parts[1].isEmpty else {
        throw DreamlakeError(.invalidName, "\(text) is not WORKSPACE or WORKSPACE/SESSION")
    }
    return (ws, parts.count > 1 ? parts[1] : nil)
}


