import Foundation
import Testing
@testable import Dreamlake

/// The built `dreamlake` command, beside the test bundle in the build folder.
func dreamlakeCommand() throws -> String {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    let path = dir + "/dreamlake"
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw PythonFailed(status: -1, stderr: "the dreamlake command is not built at \(path): run swift build first")
    }
    return path
}

/// Runs the command; returns its exit status, stdout and stderr.
func runCommand(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try dreamlakeCommand())
    p.arguments = arguments
    let stdout = Pipe(), stderr = Pipe()
    p.standardOutput = stdout
    p.standardError = stderr
    try p.run()
    let errBox = Box()
    let drainer = Thread { errBox.set(stderr.fileHandleForReading.readDataToEndOfFile()) }
    drainer.start()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: errBox.wait(), as: UTF8.self))
}

@Suite struct CommandTests {
    @Test func exportAndImportCommandsRoundTripAndReportErrorsInOneLine() throws {
        let root = TempRoot()
        defer { root.remove() }
        try writeRichSession(root: root.path + "/store", points: 500)

        let export = try runCommand(["export", "--root", root.path + "/store", "--out", root.path + "/out"])
        #expect(export.status == 0, "\(export.err)")
        #expect(export.out.contains("exported \(root.path)/out/ws/rich: 504 points, 7 logs, 2 files"))
        #expect(export.err.isEmpty)  // no progress bar when stderr is not a terminal

        let imported = try runCommand(["import", root.path + "/out", "--root", root.path + "/store2"])
        #expect(imported.status == 0, "\(imported.err)")
        #expect(imported.out == "imported ws/rich: 504 points, 7 logs, 2 files\n")

        let again = try runCommand(["import", root.path + "/out/ws/rich", "--root", root.path + "/store2"])
        #expect(again.status == 1)
        #expect(again.err.hasPrefix("dreamlake: session ws/rich already exists"))
        #expect(again.err.split(separator: "\n").count == 1)

        let renamed = try runCommand(["import", root.path + "/out/ws/rich", "--root", root.path + "/store2", "--name", "copy"])
        #expect(renamed.status == 0, "\(renamed.err)")

        let second = try runCommand(["export", "--root", root.path + "/store2", "--out", root.path + "/out2", "ws/rich"])
        #expect(second.status == 0, "\(second.err)")
        let a = try tree(root.path + "/out/ws/rich"), b = try tree(root.path + "/out2/ws/rich")
        let same = a == b
        #expect(same)

        let missing = try runCommand(["export", "--root", root.path + "/store", "--out", root.path + "/o", "ws/nope"])
        #expect(missing.status == 1)
        #expect(missing.err == "dreamlake: there is no session ws/nope under \(root.path)/store; `dreamlake ls` lists them\n")

        let nothing = try runCommand(["import", root.path + "/store/ws/rich/segments", "--root", root.path + "/store3"])
        #expect(nothing.status == 1)
        #expect(nothing.err.contains("holds no dreamlake session"))
    }
}
