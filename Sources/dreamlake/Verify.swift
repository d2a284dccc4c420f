import ArgumentParser
import Dreamlake
import Foundation

/// `dreamlake verify`: every block's checksum, every index, every stream, the lock.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check sessions' stores: every block's checksum and decoding, every index against the data, the writer lock.",
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
            for (ws, name) in targets {
                let report: VerifyReport
                do throws(StoreError) { report = try Store.verify(directory: root.path + "/" + ws + "/" + name) } catch {
                    throw DreamlakeError(.store, "\(ws)/\(name): \(error)", storeError: error)
                }
                print("\(ws)/\(name): " + report.description.split(separator: "\n").joined(separator: "\n  "))
                if !report.isSound { damaged += 1 }
            }
            if targets.isEmpty { print("no sessions under \(root.path)") }
            if damaged > 0 {
                FileHandle.standardError.write(Data("dreamlake: \(damaged) of \(counted(targets.count, "session")) \(damaged == 1 ? "is" : "are") damaged; see above for the files and byte offsets\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}
