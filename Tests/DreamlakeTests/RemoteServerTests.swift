import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake

/// A `dreamlake serve` process on a free loopback port, for one test.
final class ServerProcess {
    let process = Process()
    let port: Int
    let output: LineCollector
    let errors = Pipe()

    /// Starts the server (`command`: `serve`, or `ui`, which says it listens in one line, not two) over
    /// `root` with extra `arguments`, and waits until it listens.
    init(root: String, _ arguments: [String] = [], port: Int = 0, environment: [String: String] = [:], command: String = "serve") throws {
        process.executableURL = URL(fileURLWithPath: try dreamlakeCommand())
        process.arguments = [command, "--root", root, "--port", String(port)] + arguments
        var env = ProcessInfo.processInfo.environment
        env["DREAMLAKE_JWT_SECRET"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = errors
        try process.run()
        output = LineCollector(stdout.fileHandleForReading)
        guard output.waitForLines(command == "ui" ? 1 : 2, unlessExited: process), let first = output.lines.first,
              let range = first.range(of: "http://127.0.0.1:"),
              let port = Int(first[range.upperBound...].prefix(while: \.isNumber)) else {
            process.terminate()
            let err = String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
            throw PythonFailed(status: -1, stderr: "the server did not start: \(output.lines) \(err)")
        }
        self.port = port
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Stops it as an operator would (SIGTERM); nil when it exited with status 0,
    /// else how it ended and what it wrote to stderr, for the failure message.
    func stop() -> String? {
        process.terminate()
        process.waitUntilExit()
        guard process.terminationReason != .exit || process.terminationStatus != 0 else { return nil }
        let how = process.terminationReason == .exit ? "exit status" : "signal"
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return "\(how) \(process.terminationStatus); stderr: \(stderr)"
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
        #expect(server.stop() == nil, "the server stops cleanly on SIGTERM")

        let exported = try runCommand(["export", "--root", root.path + "/store", "--out", root.path + "/out"])
        #expect(exported.status == 0, "\(exported.err)")
        #expect(exported.out.split(separator: "\n").map { $0.split(separator: ":").first.map(String.init) ?? "" }
                == ["decorated", "everything", "resumed", "slashed"].map { "exported \(root.path)/out/interop/\($0)" })
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
        let mallory = RemoteToken.mint(userName: "mallory", secret: "the-secret")
        let out = try InteropTests.run([InteropTests.script("remote_errors.py"), server.url, token, foreign, mallory])
        #expect(String(decoding: out, as: UTF8.self) == "ok\n")
        #expect(server.stop() == nil)
        // Nothing was made outside the store, and nothing but the two sessions in it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() == ["inside"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path + "/inside").sorted() == ["store"])
        #expect(try Session.all(localPath: store).map { "\($0.workspace)/\($0.name)" } == ["mine/s", "w/locked", "w/s"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: store + "/.uploads").isEmpty, "staged uploads are removed")
        try Session.with(name: "s", workspace: "w", localPath: store) { s throws in
            #expect(try s.logs().map(\.message) == ["first"], "refused batches left nothing")
            #expect(try s.tracks().isEmpty)
            #expect(try s.files.list().isEmpty)
        }
    }

    @Test func sessionsBeyondTheOpenLimitAreClosedAndOpenedAgainWithNothingLost() throws {
        let root = TempRoot()
        defer { root.remove() }
        let server = try ServerProcess(root: root.path + "/store", ["--max-open-sessions", "2"])
        let http = RemoteHTTP(base: server.url, token: RemoteToken.mint(userName: "a", secret: RemoteToken.pythonClientSecret))
        var ids: [String] = []
        for round in 0..<2 {
            for n in 0..<5 {
                if round == 0 {
                    let made = try http.call("POST", ["workspaces", "w", "sessions"], json: ["name": .string("s\(n)")])
                    ids.append(try #require(made.objectValue?["session"]?.objectValue?["id"]?.stringValue))
                }
                let points: [Value] = (0..<100).map { i in ["step": .int(Int64(round * 100 + i))] }
                _ = try http.call("POST", ["sessions", ids[n], "tracks", "loss", "append-batch"], json: ["dataPoints": .array(points)])
                _ = try http.call("POST", ["sessions", ids[n], "logs"], json: ["logs": [["message": .string("round \(round)")]]])
                let health = try http.call("GET", ["health"])
                #expect(health.objectValue?["openSessions"] == 2 || health.objectValue?["openSessions"] == 1)
            }
        }
        for id in ids {
            let stats = try http.call("GET", ["sessions", id, "tracks", "loss", "stats"])
            #expect(stats.objectValue?["totalDataPoints"] == "200", "both rounds, across a close and a reopening")
        }
        #expect(server.stop() == nil)
        for n in 0..<5 {
            try Session.with(name: "s\(n)", workspace: "w", localPath: root.path + "/store") { s throws in
                #expect(try s.track("loss").read(limit: 1000).points.map { $0.data["step"] } == (0..<200).map { .int(Int64($0)) })
                #expect(try s.logs().map(\.message) == ["round 0", "round 1"])
            }
        }
    }

    /// Several clients write one session through one server at once: four
    /// real Python clients (processes) and a Swift remote session. The
    /// session holds one track of all their points, each client's in its
    /// order, one log, one parameter set, and every call was answered.
    @Test func severalClientsWriteOneSessionAtOnce() throws {
        let root = TempRoot()
        defer { root.remove() }
        let server = try ServerProcess(root: root.path + "/store")
        let clients = 4, points = 1500
        let source = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
        var running: [(Process, Pipe, Pipe)] = []
        for k in 0..<clients {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try InteropTests.python())
            p.arguments = ["-c", source, InteropTests.script("remote_writer.py"), server.url, "alice", "team", "shared", String(k), String(points)]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            running.append((p, out, err))
        }
        // The Swift client writes beside them, as client number `clients`.
        let swift = try Session(name: "shared", workspace: "team", remote: server.url, userName: "alice", spool: root.path + "/spool")
        try swift.open()
        for i in 0..<points {
            try swift.track("loss").append(["client": clients, "i": i])
            if i % 100 == 0 { try swift.log("client \(clients) at \(i)") }
        }
        try swift.parameters.set(["client_\(clients)": clients])
        try swift.close()
        for (k, (p, out, err)) in running.enumerated() {
            let said = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let failed = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0 && said == "ok\n", "client \(k): \(failed)")
        }
        #expect(server.stop() == nil)
        #expect(try runCommand(["verify", "--root", root.path + "/store"]).status == 0)
        try Session.with(name: "shared", workspace: "team", localPath: root.path + "/store") { s throws in
            let loss = try s.track("loss").read(limit: 1_000_000).points
            #expect(loss.count == (clients + 1) * points && loss.map(\.index) == Array(0..<UInt64(loss.count)))
            for k in 0...clients {
                let mine = loss.filter { $0.data["client"] == .int(Int64(k)) }.map { $0.data["i"] }
                #expect(mine == (0..<points).map { .int(Int64($0)) }, "client \(k)'s points, in its order")
            }
            let logs = try s.logs()
            for k in 0...clients {
                let mine = logs.filter { $0.message.hasPrefix("client \(k) at ") }.compactMap { Int($0.message.split(separator: " ").last ?? "") }
                #expect(!mine.isEmpty && mine == mine.sorted(), "client \(k)'s log entries, in its order")
            }
            #expect(logs.count == logs.filter { $0.message.hasPrefix("client ") }.count)
            let parameters = try s.parameters.get()
            for k in 0...clients { #expect(parameters["client_\(k)"] == .int(Int64(k))) }
            #expect(parameters["shared"].flatMap(\.intValue).map { (0..<Int64(clients)).contains($0) } == true, "one client's value, whole")
            for k in 0..<clients {
                let own = try s.track("own-\(k)").read(limit: 100_000).points.compactMap { $0.data["i"]?.intValue }
                #expect(own.first == 0 && own == own.sorted() && own.count > 1)
            }
        }
    }

    @Test func refusesToListenBeyondLoopbackWithoutASecretAndSaysWhenThePortIsTaken() throws {
        let root = TempRoot()
        defer { root.remove() }
        let r = try runCommand(["serve", "--root", root.path, "--host", "0.0.0.0", "--port", "0"])
        #expect(r.status == 1)
        #expect(r.err.contains("refusing to listen on 0.0.0.0 without a secret of its own"))

        let first = try ServerProcess(root: root.path + "/a")
        let second = try runCommand(["serve", "--root", root.path + "/b", "--port", String(first.port)])
        #expect(second.status == 1)
        #expect(second.err.hasPrefix("dreamlake: could not listen on 127.0.0.1:\(first.port): "), "\(second.err)")
        #expect(second.err.contains("Choose another --port"))
        #expect(first.stop() == nil)
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

/// A loopback port held by a bound socket that does not listen: connections
/// to it are refused, as to a server that is down, and no other test's
/// server is given it until ``release()`` (just before a server is started on it).
final class ReservedPort {
    let port: Int
    private var fd: Int32

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = fd
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else {
            close(fd)
            throw PythonFailed(status: -1, stderr: "no free port: errno \(errno)")
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }
}

@Suite struct RemoteSessionTests {
    /// The calls of `remote_session.py`'s "everything" and "resumed" sessions,
    /// through a Swift session.
    /// `make(name, description)` opens a session as the script does: "resumed" is
    /// opened twice, the second time with the description "resumed later".
    static func runTheScriptsCalls(_ make: (String, String?) throws -> Session, scratch: String) throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let s = try make("everything", "every call")
        try s.open()
        for level in LogLevel.allCases {
            try s.log("level \(level.name)", level: level, metadata: ["level": level.name, "n": 1])
        }
        try s.log("no metadata")
        try s.log("unicode ü → 😀", metadata: ["nested": ["a": [1, 2.5, .null, true]] as Value])

        try s.parameters.set(["model": ["lr": 0.001, "layers": [64, 32], "act": "relu"] as Value, "optimizer": "adam", "seed": 42])
        try s.parameters.set(["model": ["lr": 0.0005] as Value, "epochs": 10])
        #expect(try s.parameters.get() == ["model.lr": 0.0005, "model.layers": [64, 32], "model.act": "relu",
                                           "optimizer": "adam", "seed": 42, "epochs": 10])
        #expect(try s.parameters.get(flatten: false)["model"] == ["lr": 0.0005, "layers": [64, 32], "act": "relu"])

        let t = s.track("train_loss", description: "training loss", tags: ["loss"], metadata: ["unit": "nats"])
        try t.append(["value": 0.9, "step": 0])
        let r = try s.track("train_loss").appendBatch((0..<250).map { i in ["value": 0.8 - Double(i) / 100, "step": i + 1] })
        #expect(r == 1..<251)
        try s.track("mixed").append(["value": 1, "big": 1 << 62, "neg": -3, "f": 1.5, "s": "text", "b": false,
                                     "n": Value.null, "arr": [1, "x"] as Value])
        let page = try s.track("train_loss").read(startIndex: 0, limit: 100)
        #expect(page.points.count == 100 && page.hasMore && page.points.first?.data == ["value": 0.9, "step": 0])
        let last = try s.track("train_loss").read(startIndex: 200, limit: 100)
        #expect(last.points.count == 51 && !last.hasMore && last.points.last?.index == 250)
        let stats = try s.track("train_loss").stats()
        #expect(stats.count == 251 && stats.description == "training loss" && stats.tags == ["loss"]
                && stats.metadata == ["unit": "nats"])
        #expect(try s.tracks().map(\.name).sorted() == ["mixed", "train_loss"])
        // The envelope: the same from the server (built from its pages) as from the local store.
        let envelope = try s.track("train_loss").envelope(buckets: 10)
        #expect(envelope.count == 10 && envelope.map(\.range.count) == Array(repeating: 26, count: 9) + [17])
        #expect(envelope.first?.first == EnvelopePoint(index: 0, value: 0.9)
                && envelope.last?.last == EnvelopePoint(index: 250, value: 0.8 - 249.0 / 100)
                && envelope.first?.max == EnvelopePoint(index: 0, value: 0.9) && envelope.reduce(0) { $0 + $1.count } == 251)
        #expect(try s.track("train_loss").envelope(range: 240..<1_000, buckets: 4).map(\.range) == [240..<243, 243..<246, 246..<249, 249..<251])
        #expect { try s.track("train_loss").envelope(buckets: 0) } throws: { ($0 as? DreamlakeError)?.code == .invalidInput }
        // The list (one call) says what each track's own stats say.
        for listed in try s.tracks() {
            let own = try s.track(listed.name).stats()
            #expect(listed.count == own.count && listed.description == own.description && listed.tags == own.tags
                    && listed.metadata == own.metadata && listed.createdAt == own.createdAt && listed.updatedAt == own.updatedAt,
                    "\(listed.name)")
        }

        let model = scratch + "/model.pth", config = scratch + "/config.json"
        var bytes: [UInt8] = []
        for _ in 0..<4096 { bytes += (0...255).map(UInt8.init) }
        try Data(bytes + Array("tail".utf8)).write(to: URL(fileURLWithPath: model))
        try Data(#"{"lr": 0.001}"#.utf8).write(to: URL(fileURLWithPath: config))
        let up = try s.files.upload(model, path: "/models", description: "weights", tags: ["model", "best"], metadata: ["epoch": 3])
        let cfg = try s.files.upload(config, path: "/config", tags: ["config"])
        let gone = try s.files.upload(config, path: "/tmp")
        #expect(try s.files.list().count == 3)
        #expect(try s.files.list(path: "/models").map(\.filename) == ["model.pth"])
        #expect(try s.files.list(tags: ["config"]).map(\.id) == [cfg.id])
        let restored = try s.files.download(up.id, to: scratch + "/restored.pth")
        #expect(FileManager.default.contents(atPath: restored) == FileManager.default.contents(atPath: model))
        let updated = try s.files.update(cfg.id, description: "the config", tags: ["config", "v2"], metadata: ["v": 2])
        #expect(updated.description == "the config" && updated.tags == ["config", "v2"])
        try s.files.delete(gone.id)
        #expect(try s.files.list().map(\.filename).sorted() == ["config.json", "model.pth"])
        try s.close()

        let resumed = try make("resumed", nil)
        try resumed.open()
        try resumed.parameters.set(["epoch": 0, "learning_rate": 0.001])
        try resumed.log("Starting epoch 1")
        try resumed.track("loss").append(["value": 0.5, "epoch": 1])
        try resumed.close()
        let again = try make("resumed", "resumed later")
        try again.open()
        try again.log("Continuing training from checkpoint")
        try again.track("loss").append(["value": 0.3, "epoch": 2])
        #expect(try again.track("loss").stats().count == 2)
        #expect(try again.parameters.get() == ["epoch": 0, "learning_rate": 0.001])
        try again.close()
    }

    /// The Swift remote session, run through the same calls as the Python
    /// script, leaves the server's store as Python's local mode leaves its folder.
    func sameLayoutAsPython(hybrid: Bool) throws {
        let root = TempRoot()
        defer { root.remove() }
        let server = try ServerProcess(root: root.path + "/store")
        // Delivery may wait up to 120 s: a bound for a machine loaded by the whole suite, not a timing check.
        try Self.runTheScriptsCalls({ name, description in
            name == "resumed"
                ? try Session(name: name, workspace: "interop", remote: server.url, userName: "alice",
                              localPath: hybrid ? root.path + "/local" : nil, spool: root.path + "/spool",
                              description: description, deliveryTimeout: 120)
                : try Session(name: name, workspace: "interop", remote: server.url, userName: "alice",
                              localPath: hybrid ? root.path + "/local" : nil, spool: root.path + "/spool",
                              description: description, tags: ["a", "b"], folder: "/experiments/2026",
                              metadata: ["owner": "interop", "gpus": 2], deliveryTimeout: 120)
        }, scratch: root.path + "/scratch")
        // Python's run of the same calls, in its local mode (the second "resumed" opening gives a description).
        _ = try InteropTests.run([InteropTests.script("remote_session.py"), "local", root.path + "/python", "-",
                                  "interop", root.path + "/scratch-python"])
        #expect(server.stop() == nil)
        _ = try JSONLLayout.exportAll(localPath: root.path + "/store", to: root.path + "/out")
        for session in ["everything", "resumed"] {
            let python = RemoteServerTests.normalized(InteropTests.data(try tree(root.path + "/python/interop/" + session)))
            let ours = RemoteServerTests.normalized(try tree(root.path + "/out/interop/" + session))
            #expect(python.keys.sorted() == ours.keys.sorted(), "\(session): the same files")
            for (path, bytes) in python {
                let same = ours[path] == bytes
                #expect(same, "\(session)/\(path) differs:\n\(String(decoding: bytes, as: UTF8.self))\n---\n\(String(decoding: ours[path] ?? [], as: UTF8.self))")
            }
        }
        if hybrid {
            // The local copy holds the same.
            _ = try JSONLLayout.exportAll(localPath: root.path + "/local", to: root.path + "/out-local")
            let a = RemoteServerTests.normalized(try tree(root.path + "/out/interop/everything"))
            let b = RemoteServerTests.normalized(try tree(root.path + "/out-local/interop/everything"))
            #expect(a.keys.sorted() == b.keys.sorted())
            #expect(a["parameters.json"] == b["parameters.json"])
            // Times not blanked: a delivered point or log entry keeps the time it was appended, not the server's.
            let serverCopy = try tree(root.path + "/out/interop/everything"), localCopy = try tree(root.path + "/out-local/interop/everything")
            for path in ["logs/logs.jsonl", "tracks/train_loss/data.jsonl", "tracks/mixed/data.jsonl"] {
                #expect(serverCopy[path] != nil && serverCopy[path] == localCopy[path], "\(path): the server's copy has other times")
            }
        }
    }

    @Test func aRemoteSessionLeavesWhatPythonsLocalModeLeaves() throws {
        try sameLayoutAsPython(hybrid: false)
    }

    @Test func aHybridSessionKeepsALocalCopyAndSendsTheSame() throws {
        try sameLayoutAsPython(hybrid: true)
    }

    @Test func appendsGoOnWhileTheServerIsDownAndAreDeliveredWhenItIsBack() throws {
        let root = TempRoot()
        defer { root.remove() }
        let reserved = try ReservedPort()
        let url = "http://127.0.0.1:\(reserved.port)"
        // Waiting briefly while nothing can arrive; then long enough for any machine to deliver everything.
        let make = { (timeout: TimeInterval) in
            try Session(name: "offline", workspace: "w", remote: url, userName: "alice", spool: root.path + "/spool",
                        deliveryTimeout: timeout)
        }
        let s = try make(0.5)
        try s.open()  // the server cannot be reached: not an error yet
        for i in 0..<5000 { try s.track("loss").append(value: Double(i), step: i) }
        try s.log("written while the server was down")
        let closing = #expect(throws: DreamlakeError.self) { try s.close() }
        #expect(closing?.code == .remote)
        #expect(closing?.message.contains("5000 points") == true, "\(closing?.message ?? "")")
        #expect(closing?.message.contains("1 log entries") == true)
        #expect(!s.isOpen, "closed all the same")

        reserved.release()
        let server = try ServerProcess(root: root.path + "/store", port: reserved.port)
        let again = try make(120)
        try again.open()
        try again.track("loss").append(value: 5000, step: 5000)
        try again.close()  // everything delivered, the old points first
        #expect(server.stop() == nil)
        try Session.with(name: "offline", workspace: "w", localPath: root.path + "/store") { s throws in
            let points = try s.track("loss").read(limit: 10_000).points
            #expect(points.count == 5001)
            #expect(points.map(\.index) == Array(0..<5001))
            #expect(points.last?.data == ["value": 5000.0, "step": 5000])
            #expect(try s.logs().map(\.message) == ["written while the server was down"])
        }
    }

    @Test func aRefusedTokenIsAnErrorAtOpen() throws {
        let root = TempRoot()
        defer { root.remove() }
        let server = try ServerProcess(root: root.path + "/store", ["--secret", "not-the-clients"])
        let s = try Session(name: "s", workspace: "w", remote: server.url, userName: "alice", spool: root.path + "/spool")
        let e = #expect(throws: DreamlakeError.self) { try s.open() }
        #expect(e?.code == .remote)
        #expect(e?.message.contains("401") == true, "\(e?.message ?? "")")
        #expect(!s.isOpen)
        let bad = #expect(throws: DreamlakeError.self) {
            try Session(name: "s", workspace: "w", remote: "ftp://x", apiKey: "k")
        }
        #expect(bad?.code == .invalidInput)
        #expect(server.stop() == nil)
    }
}
