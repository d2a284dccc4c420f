import Foundation
import Testing
@testable import Dreamlake

/// A `dreamlake serve` process on a free loopback port, for one test.
final class ServerProcess {
    let process = Process()
    let port: Int
    let output: LineCollector
    let errors = Pipe()

    /// Starts the server over `root` with extra `arguments`, and waits until it listens.
    init(root: String, _ arguments: [String] = [], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: try dreamlakeCommand())
        process.arguments = ["serve", "--root", root, "--port", "0"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["DREAMLAKE_JWT_SECRET"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = errors
        try process.run()
        output = LineCollector(stdout.fileHandleForReading)
        guard output.waitForLines(2, unlessExited: process), let first = output.lines.first,
              let range = first.range(of: "http://127.0.0.1:"),
              let port = Int(first[range.upperBound...].prefix(while: \.isNumber)) else {
            process.terminate()
            let err = String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
            throw PythonFailed(status: -1, stderr: "the server did not start: \(output.lines) \(err)")
        }
        self.port = port
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Stops it as an operator would (SIGTERM) and returns its exit status.
    func stop() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate() } }
}

@Suite struct RemoteServerTests {
    /// Runs `Tests/Interop/remote_session.py` against a server and in Python's
    /// local mode, exports what the server stored, and compares the two layouts
    /// file by file, times and file ids aside.
    func pythonClientWritesWhatItsLocalModeWrites(auth: (ServerProcess) throws -> String,
                                                  serverArguments: [String]) throws {
        let root = TempRoot()
        defer { root.remove() }
        let server = try ServerProcess(root: root.path + "/store", serverArguments)
        let remote = try InteropTests.run([InteropTests.script("remote_session.py"), "remote", server.url, try auth(server),
                                           "interop", root.path + "/scratch-remote"])
        let local = try InteropTests.run([InteropTests.script("remote_session.py"), "local", root.path + "/python", "-",
                                          "interop", root.path + "/scratch-local"])
        #expect(remote == local, "the client read back the same in both modes")
        #expect(server.stop() == 0, "the server stops cleanly on SIGTERM")

        let exported = try JSONLLayout.exportAll(localPath: root.path + "/store", to: root.path + "/out")
        #expect(exported.map { URL(fileURLWithPath: $0.directory).lastPathComponent } == ["decorated", "everything",
                                                                                          "resumed", "slashed"])
        for session in ["decorated", "everything", "resumed"] {
            let python = Self.normalized(InteropTests.data(try tree(root.path + "/python/interop/" + session)))
            let ours = Self.normalized(try tree(root.path + "/out/interop/" + session))
            #expect(python.keys.sorted() == ours.keys.sorted(), "\(session): the same files")
            for (path, bytes) in python {
                let same = ours[path] == bytes
                #expect(same, "\(session)/\(path) differs:\n\(String(decoding: bytes, as: UTF8.self))\n---\n\(String(decoding: ours[path] ?? [], as: UTF8.self))")
            }
        }
        let slashed = try tree(root.path + "/out/interop/slashed")
        let lines = String(decoding: slashed["tracks/train/loss/data.jsonl"] ?? [], as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2, "a track named train/loss is stored as tracks/train/loss")
    }

    @Test func pythonClientWithUserNameAgainstTheClientsOwnSecret() throws {
        try pythonClientWritesWhatItsLocalModeWrites(auth: { _ in "user:alice" }, serverArguments: [])
    }

    @Test func pythonClientWithATokenFromDreamlakeToken() throws {
        let token = try runCommand(["token", "--user", "bob", "--secret", "s3cret"])
        #expect(token.status == 0, "\(token.err)")
        let key = token.out.trimmingCharacters(in: .whitespacesAndNewlines)
        try pythonClientWritesWhatItsLocalModeWrites(auth: { _ in "token:" + key }, serverArguments: ["--secret", "s3cret"])
    }

    @Test func badTokensUnknownThingsMalformedBodiesAndEscapesGetTheirStatus() throws {
        let root = TempRoot()
        defer { root.remove() }
        let store = root.path + "/inside/store"
        let server = try ServerProcess(root: store, ["--max-body", "1", "--max-upload", "1"],
                                       environment: ["DREAMLAKE_JWT_SECRET": "the-secret"])
        let token = RemoteToken.mint(userName: "eve", secret: "the-secret")
        let foreign = RemoteToken.mint(userName: "eve", secret: RemoteToken.pythonClientSecret)
        let out = try InteropTests.run([InteropTests.script("remote_errors.py"), server.url, token, foreign])
        #expect(String(decoding: out, as: UTF8.self) == "ok\n")
        #expect(server.stop() == 0)
        // Nothing was made outside the store, and nothing but the two sessions in it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() == ["inside"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path + "/inside").sorted() == ["store"])
        #expect(try Session.all(localPath: store).map { "\($0.workspace)/\($0.name)" } == ["w/locked", "w/s"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: store + "/.uploads").isEmpty, "staged uploads are removed")
        try Session.with(name: "s", workspace: "w", localPath: store) { s throws in
            #expect(try s.logs().map(\.message) == ["first"], "refused batches left nothing")
            #expect(try s.tracks().isEmpty)
            #expect(try s.files.list().isEmpty)
        }
    }

    @Test func refusesToListenBeyondLoopbackWithoutASecret() throws {
        let root = TempRoot()
        defer { root.remove() }
        let r = try runCommand(["serve", "--root", root.path, "--host", "0.0.0.0", "--port", "0"])
        #expect(r.status == 1)
        #expect(r.err.contains("refusing to listen on 0.0.0.0 without a secret of its own"))
    }

    /// A layout with its times and file ids replaced by placeholders, the ids
    /// numbered in the order `.files_metadata.json` lists them (both sides list
    /// the files in upload order).
    static func normalized(_ t: [String: [UInt8]]) -> [String: [UInt8]] {
        var ids: [String: String] = [:]
        if let meta = t["files/.files_metadata.json"],
           case .object(let doc)? = try? PythonJSONReader.parse(meta), let files = doc["files"]?.arrayValue {
            for (i, f) in files.enumerated() { if let id = f.objectValue?["id"]?.stringValue { ids[id] = "ID\(i)" } }
        }
        let time = try! Regex(#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"#)
        var out: [String: [UInt8]] = [:]
        for (path, bytes) in t {
            var p = path
            var text = String(decoding: bytes, as: UTF8.self)
            for (id, name) in ids {
                p = p.replacingOccurrences(of: "/" + id + "/", with: "/" + name + "/")
                text = text.replacingOccurrences(of: "\"" + id + "\"", with: "\"" + name + "\"")
            }
            // Only JSON has times to blank; stored files' bytes stay as they are.
            if path.hasSuffix(".json") || path.hasSuffix(".jsonl") { text = text.replacing(time, with: "TIME") }
            out[p] = path.hasSuffix(".json") || path.hasSuffix(".jsonl") ? Array(text.utf8) : bytes
        }
        return out
    }
}
