import DreamlakeStore
import Foundation

/// How sessions lie under a root folder (`<root>/<workspace>/<session>/`,
/// each a store), and the keys the store keeps for itself in a session's
/// metadata. The session API, the JSONL layout and the server all read them here.
package enum StoreLayout {
    /// The session stores in a workspace folder, by name.
    package static func sessionDirectories(in workspaceDirectory: String) throws(DreamlakeError) -> [String] {
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

    /// Session metadata keys starting with this are the store's own notes, not session.json fields.
    package static let internalKeyPrefix = "$"
    /// The note an import leaves about parameters.json: what Python's version count and timestamps were.
    package static let parametersNoteKey = "$parameters"
}
