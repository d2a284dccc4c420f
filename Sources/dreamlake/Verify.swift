import ArgumentParser
import Dreamlake
import Foundation

/// `dreamlake verify`: every block's checksum, every index, every stream, the lock.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check sessions' stores: every block's checksum and decoding, every index against the data, the writer lock, every stored file's SHA-256.",
        discussion: "Exits 0 when every store is sound (an unfinished write at the end, which recovery cuts, is reported and is sound), 1 when any is damaged.")

    @OptionGroup var root: RootOption

    @Argument(help: "WORKSPACE or WORKSPACE/SESSION to check (default: all).")
    var sessions: [String] = []

    func run() throws {
        try reportingErrors {
            var targets: [(String, String)] = []
            let all = try Session.all(localPath: try root.existing())
            if sessions.isEmpty { targets = all }
            for name in sessions {
                let (ws, session) = try parseSessionName(name)
                let matching = all.filter { $0.workspace == ws && (session == nil || $0.name == session) }
                guard !matching.isEmpty else {
                    throw noSuchSession(name, root: root.path)
                }
                targets += matching
            }
            var damaged = 0
            // Each session is checked as its root holds it: a folder's where it is; an S3 root's downloaded whole
            // into an empty folder (every object the newest manifest names, each of the size it says), then verified there.
            let sessionRoot = try root.existingRoot()
            for (ws, name) in targets {
                let directory: String, scratch: String?
                do { (directory, scratch) = try sessionRoot.session(workspace: ws, name: name).copyForChecking() } catch let error as DreamlakeError where error.code == .checksumMismatch {
                    // An object in the bucket is not the one the manifest names: damage, named.
                    print("\(ws)/\(name): DAMAGED\n  \(error.message)")
                    damaged += 1
                    continue
                }
                defer { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }
                let report: VerifyReport
                do throws(StoreError) { report = try Store.verify(directory: directory) } catch {
                    throw DreamlakeError(.store, "\(ws)/\(name): \(error)", storeError: error)
                }
                var lines = report.description.split(separator: "\n").map(String.init)
                var sound = report.isSound
                // The stored files' bytes, against the size and SHA-256 of their records (once the store is sound).
                if sound {
                    let files = try Files.check(sessionDirectory: directory)
                    if files.checked > 0 || !files.problems.isEmpty {
                        lines.append("stored files: \(files.checked) checked" + (files.problems.isEmpty ? ", all as stored" : ", \(files.problems.count) damaged:"))
                        lines += files.problems.map { "  " + $0 }
                    }
                    sound = files.problems.isEmpty
                }
                print("\(ws)/\(name): " + lines.joined(separator: "\n  "))
                if !sound { damaged += 1 }
            }
            if targets.isEmpty { print("no sessions under \(root.path)") }
            if damaged > 0 {
                FileHandle.standardError.write(Data("dreamlake: \(damaged) of \(counted(targets.count, "session")) \(damaged == 1 ? "is" : "are") damaged; see above for the files and byte offsets\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}
