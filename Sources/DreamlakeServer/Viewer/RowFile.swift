import Dispatch
import Dreamlake
import DreamlakeS3
import DreamlakeStore
import Foundation

/// The runs table's rows kept in a file between starts of a viewer, so that the first `/api/runs` after a
/// start opens only the sessions written since (each row is used only while its session's fingerprint is
/// the one it was read at: ``ViewerService``). The viewer never writes into the root it shows, so the file is
/// elsewhere: by default in the user's cache folder (``defaultPath(root:environment:)``).
///
/// The file is JSON: `{"version": 1, "root": ROOT, "rows": {"WORKSPACE/SESSION": {"fingerprint": F, "row": ROW}}}`.
/// It is read whole at the start, and only when it is a regular file (never through a link) of at most
/// 256 MiB whose version and root are this viewer's; anything else about it makes it ignored (the rows are
/// then read from the sessions, as without it). It is written to a file of its own beside it and renamed
/// over it, so that another viewer never reads half of one; a failure to write is not an error.
final class RowFile: Sendable {
    /// The rows, by `workspace/session`, with the fingerprint each was read at.
    typealias Rows = [String: (fingerprint: String, row: Value)]

    let path: String
    /// The root the rows are of: a file written for another root is ignored.
    let root: String
    /// Changed when the rows' form changes, so that a newer viewer never shows rows an older one made.
    static let version: Int64 = 1
    /// The largest file read.
    static let maxBytes: UInt64 = 256 << 20
    /// The fewest nanoseconds between two writes (but the last one, at close).
    static let interval: UInt64 = 10_000_000_000
    /// Whether a row changed since the last write, and when that was (at first, when the file was read: the
    /// first answer after a start, which reads every session when there is no file, does not also write one).
    private let state: Locked<(dirty: Bool, lastWrite: UInt64)>

    init(path: String, root: String) {
        self.path = path
        self.root = root
        state = Locked((false, DispatchTime.now().uptimeNanoseconds))
    }

    /// The file for `root`: `$XDG_CACHE_HOME/dreamlake/viewer/<SHA-256 of the root>.json`, else
    /// `~/.cache/dreamlake/viewer/...`.
    static func defaultPath(root: String, environment: [String: String]) -> String {
        let cache: String
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { cache = xdg } else {
            cache = (environment["HOME"] ?? NSHomeDirectory()) + "/.cache"
        }
        let absolute = root.hasPrefix("/") || root.hasPrefix("s3://") ? root : FileManager.default.currentDirectoryPath + "/" + root
        return cache + "/dreamlake/viewer/" + SHA256Hasher.hex(SHA256Hasher.hash(Array(absolute.utf8))) + ".json"
    }

    /// The rows the file holds, or nil when there is no usable file.
    func read() -> Rows? {
        guard FileSystem.kind(path) == .regular, let file = try? File.open(path, .readOnly) else { return nil }
        defer { try? file.close() }
        guard let size = try? file.size(), size <= Self.maxBytes, let bytes = try? file.read(at: 0, count: Int(size)),
              case .object(let document)? = try? PythonJSONReader.parse(bytes), document["version"] == .int(Self.version),
              document["root"] == .string(root), case .object(let rows)? = document["rows"] else { return nil }
        var out: Rows = [:]
        for (key, entry) in rows {
            guard case .object(let e) = entry, case .string(let fingerprint)? = e["fingerprint"], !fingerprint.isEmpty,
                  let row = e["row"], case .object = row else { continue }
            out[key] = (fingerprint, row)
        }
        return out
    }

    /// Notes that a row changed.
    func changed() { state.withLock { $0.dirty = true } }

    /// Writes `rows()` when a row changed and the last write (or the start) is `interval` old, or, with `force`,
    /// whenever a row changed. Rows that are errors are left out: they are read again next time.
    /// - Returns: False when a write was due and failed (the rows stay in memory; the next write tries again).
    @discardableResult
    func write(_ rows: @autoclosure () -> Rows, force: Bool) -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        let due = state.withLock { s -> Bool in
            guard s.dirty, force || now &- s.lastWrite >= Self.interval else { return false }
            s = (false, now)
            return true
        }
        guard due else { return true }
        var kept = ValueObject()
        for (key, entry) in rows().sorted(by: { $0.key < $1.key }) {
            guard case .object(let o) = entry.row, o["error"] == nil else { continue }
            kept[key] = .object(["fingerprint": .string(entry.fingerprint), "row": entry.row])
        }
        let bytes = RemoteWire.encode(.object(["version": .int(Self.version), "root": .string(root), "rows": .object(kept)]))
        // A temporary file of this writer's own: another viewer of the root may write the file at the same time.
        let tmp = path + ".\(getpid()).\(UInt64.random(in: 0 ... .max)).tmp"
        do {
            try FileSystem.createDirectories(FileSystem.directoryName(path))
            try FileSystem.replaceAtomically(path, with: bytes, durable: false, temporary: tmp)
            return true
        } catch {
            try? FileSystem.remove(tmp)
            state.withLock { $0.dirty = true }
            return false
        }
    }
}
