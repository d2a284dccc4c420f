import DreamlakeStore
import Foundation

/// A folder of sessions, `<folder>/<workspace>/<name>/`: each session is its store, and one machine
/// writes it (its processes share it as the ranks of a job; README, "Many processes, one session").
package struct FolderRoot: SessionRoot {
    package let url: String
    package var localFolder: String { url }
    package var isShared: Bool { false }

    package init(_ folder: String) { url = folder }

    package func sessions() throws(DreamlakeError) -> [(workspace: String, name: String)] {
        var out: [(String, String)] = []
        guard FileManager.default.fileExists(atPath: url) else { return [] }
        for ws in try StoreLayout.subdirectories(of: url) {
            for dir in try StoreLayout.sessionDirectories(in: url + "/" + ws) {
                out.append((ws, Paths.lastName(dir)))
            }
        }
        return out
    }

    package func session(workspace: String, name: String) -> any SessionHome {
        FolderSession(place: SessionPlace(workspace: workspace, name: name, root: url))
    }

    /// The owner of a workspace is `<folder>/<workspace>/.owner` (``ownerFile``), created exclusively.
    package func workspaceOwner(_ workspace: String, claimingFor user: String?) throws(DreamlakeError) -> String? {
        let relative = workspace + "/" + FolderRoot.ownerFile
        for _ in 0..<2 {
            if FileSystem.kind(url + "/" + relative) != .missing { return try recordedOwner(relative) }
            guard let user else { return nil }
            // Unowned: claim it. Created exclusively, so of two users claiming at once one wins and the other reads it.
            do throws(IOFailure) {
                try FileSystem.makeDirectories(inside: url, workspace)
                let file = try FileSystem.createInside(url, relative)
                defer { try? file.close() }
                try file.write(PythonJSONWriter.indentedBytes(["owner": .string(user)]), at: 0)
                try file.sync()
                return user
            } catch where error.errno == EEXIST {
                continue
            } catch {
                throw DreamlakeError(.io, "cannot record the owner of workspace \(Names.quoted(workspace)): \(error.message)", path: url + "/" + relative)
            }
        }
        throw DreamlakeError(.io, "the owner of workspace \(Names.quoted(workspace)) could not be settled", path: url + "/" + relative)
    }

    /// The name of the file holding a workspace's owner, in the workspace's folder (and its object in a bucket).
    package static let ownerFile = ".owner"

    /// The owner the file at `relative` names.
    private func recordedOwner(_ relative: String) throws(DreamlakeError) -> String {
        let bytes: [UInt8]
        do throws(IOFailure) {
            let file = try FileSystem.openInside(url, relative)
            defer { try? file.close() }
            bytes = try file.read(at: 0, count: 4096)
        } catch {
            throw DreamlakeError(.io, "cannot read the owner of a workspace: \(error.message)", path: url + "/" + relative)
        }
        guard let doc = try? PythonJSONReader.parse(bytes), let owner = doc.objectValue?["owner"]?.stringValue else {
            throw DreamlakeError(.invalidInput, "\(url)/\(relative) does not name the workspace's owner; fix or remove it", path: url + "/" + relative)
        }
        return owner
    }
}

/// A session of a ``FolderRoot``: its folder is all of it.
struct FolderSession: SessionHome {
    let place: SessionPlace
    var url: String { place.directory }

    func prepareForWriting(_ options: UploadOptions) throws(DreamlakeError) -> (any SessionUploads)? {
        try place.makeFolder()
        return nil
    }
    func prepareForReading() throws(DreamlakeError) {}
    var remoteSegments: (any RemoteSegments)? { nil }
    func fetchStoredFile(_ relative: String) throws(DreamlakeError) {}
    func fetchStoredFiles() throws(DreamlakeError) {}
    func download() throws(DreamlakeError) {}
    func copyForChecking() throws(DreamlakeError) -> (directory: String, scratch: String?) { (place.directory, nil) }
    func publishNew() throws(DreamlakeError) {}

    func remove() throws(DreamlakeError) {
        guard FileSystem.kind(place.directory) != .missing else { return }
        do { try FileManager.default.removeItem(atPath: place.directory) } catch {
            throw DreamlakeError(.io, "could not remove \(place.directory): \(error.localizedDescription)", path: place.directory)
        }
    }

    /// The names, sizes and change times of the session's commit log and segment files.
    func fingerprint() -> String {
        var out = ""
        func add(_ path: String, _ name: String) {
            guard let stamp = FileSystem.regularFileStamp(path) else { return }
            out += "\(name) \(stamp.size) \(stamp.modified)\n"
        }
        add(place.directory + "/" + Store.commitLogName, Store.commitLogName)
        let segments = Store.segmentsDirectory(of: place.directory)
        for name in ((try? FileSystem.list(segments)) ?? []).sorted() { add(segments + "/" + name, name) }
        return out
    }

    func isLive(locks: HeldFlocks?) -> Bool { Store.liveWriter(directory: place.directory, locks: locks) != nil }

    /// None: one machine writes a folder, and its store's locks order its writers.
    func lease(holder: String, address: String, duration: UInt64) -> (any SessionLease)? { nil }
}
