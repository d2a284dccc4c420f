import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake
@testable import DreamlakeServer

// Issue 15, class 5: who may do what through `dreamlake serve`, the token
// secret on addresses that are not loopback, and a client's mistake answered
// as a 4xx.

/// Creates session w/s through `service` and returns its id.
func createdSession(in service: RemoteService) throws -> String {
    try #require(service.createOrUpdateSession(workspace: "w", body: ["name": "s"]).objectValue?["session"]?
        .objectValue?["id"]?.stringValue)
}

@Suite struct AccessTests {
    private func status(_ body: () throws -> Void) -> Int? {
        do { try body() } catch let e as RemoteError { return e.status } catch { return -1 }
        return nil
    }

    @Test func aWorkspaceBelongsToTheUserWhoMadeIt() throws {
        let root = TempRoot()
        defer { root.remove() }
        let service = try RemoteService(root: root.path)
        defer { _ = service.close() }
        try service.authorize("alice", workspace: "w", write: true)
        let id = try createdSession(in: service)
        #expect(status { try service.authorize("alice", session: id, write: true) } == nil)
        #expect(status { try service.authorize("bob", workspace: "w", write: true) } == 403)
        #expect(status { try service.authorize("bob", session: id, write: false) } == 403)
        #expect(status { try service.authorize("bob", session: id, write: true) } == 403)
        #expect(status { try service.authorize("bob", session: "12345", write: false) } == 404)
        // Bob's own workspace is his.
        #expect(status { try service.authorize("bob", workspace: "b", write: true) } == nil)
        #expect(status { try service.authorize("alice", workspace: "b", write: false) } == 403)
        let owner = try String(contentsOfFile: root.path + "/w/.owner", encoding: .utf8)
        #expect(owner.contains("\"alice\""))
    }

    @Test func sharingAndGrantsOpenWhatTheySay() throws {
        let root = TempRoot()
        defer { root.remove() }
        let first = try RemoteService(root: root.path)
        try first.authorize("alice", workspace: "w", write: true)
        let id = try createdSession(in: first)
        _ = first.close()

        let reading = try RemoteService(root: root.path, policy: AccessPolicy(share: .read))
        #expect(status { try reading.authorize("bob", session: id, write: false) } == nil)
        #expect(status { try reading.authorize("bob", session: id, write: true) } == 403)
        _ = reading.close()

        let grants = root.path + "/grants.json"
        try Data(#"{"w": {"bob": "write"}, "*": {"carol": "read"}}"#.utf8).write(to: URL(fileURLWithPath: grants))
        let granted = try RemoteService(root: root.path, policy: AccessPolicy(grants: AccessPolicy.grants(fromFile: grants)))
        defer { _ = granted.close() }
        #expect(status { try granted.authorize("bob", session: id, write: true) } == nil)
        #expect(status { try granted.authorize("carol", session: id, write: false) } == nil)
        #expect(status { try granted.authorize("carol", session: id, write: true) } == 403)
        #expect(status { try granted.authorize("dave", session: id, write: false) } == 403)

        try Data(#"{"w": {"bob": "admin"}}"#.utf8).write(to: URL(fileURLWithPath: grants))
        #expect(throws: DreamlakeError.self) { try AccessPolicy.grants(fromFile: grants) }
    }

    @Test func anOwnerFileThatIsALinkIsNotFollowed() throws {
        let root = TempRoot()
        defer { root.remove() }
        let outside = TempRoot("outside")
        defer { outside.remove() }
        try Data(#"{"owner": "mallory"}"#.utf8).write(to: URL(fileURLWithPath: outside.path + "/owner"))
        try FileManager.default.createDirectory(atPath: root.path + "/w", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root.path + "/w/.owner", withDestinationPath: outside.path + "/owner")
        let service = try RemoteService(root: root.path)
        defer { _ = service.close() }
        #expect(status { try service.authorize("mallory", workspace: "w", write: true) } == 500)
    }

    @Test func aRecordOverTheStoresLimitIsTheClientsMistake() throws {
        let root = TempRoot()
        defer { root.remove() }
        let service = try RemoteService(root: root.path)
        defer { _ = service.close() }
        let id = try createdSession(in: service)
        let huge = String(repeating: "x", count: 5 << 20)
        do {
            _ = try service.appendLogs(id, body: ["logs": [["message": .string(huge)]]])
            Issue.record("a 5 MiB log message was accepted")
        } catch {
            #expect(error.status == 400 && error.message.contains("4194304"), "\(error.status) \(error.message)")
        }
    }

    @Test func loopbackIsDecidedOnTheAddressNotTheSpelling() throws {
        #expect(DreamlakeServer.isLoopback("127.0.0.1"))
        #expect(DreamlakeServer.isLoopback("127.3.4.5"))
        #expect(DreamlakeServer.isLoopback("::1"))
        #expect(DreamlakeServer.isLoopback("[::1]"))
        #expect(DreamlakeServer.isLoopback("localhost"))
        for host in ["127.0.0.1.nip.io", "0.0.0.0", "::", "10.1.2.3", "example.invalid", ""] {
            #expect(!DreamlakeServer.isLoopback(host), "\(host)")
        }
        let root = TempRoot()
        defer { root.remove() }
        // The client's published secret, however it is given, only on loopback.
        #expect(throws: DreamlakeError.self) {
            try DreamlakeServer(ServerConfiguration(root: root.path, host: "0.0.0.0", secret: RemoteToken.pythonClientSecret))
        }
        #expect(throws: DreamlakeError.self) { try DreamlakeServer(ServerConfiguration(root: root.path, host: "127.0.0.1.nip.io")) }
        #expect(throws: Never.self) { try DreamlakeServer(ServerConfiguration(root: root.path, host: "0.0.0.0", secret: "mine")) }
        #expect(throws: DreamlakeError.self) { try DreamlakeServer(ServerConfiguration(root: root.path, share: "everything")) }
    }
}

@Suite struct TagWireTests {
    @Test func tagsHoldingCommasReachTheServerWhole() throws {
        for tags in [["a,b", "c"], ["[x"], ["a", "b"], ["é", "1,2,3"]] {
            #expect(RemoteWire.decodeTags(RemoteWire.encodeTags(tags)) == tags, "\(tags)")
        }
        // Python's client joins with commas: that is what plain lists still look like on the wire.
        #expect(RemoteWire.encodeTags(["model", "best"]) == "model,best")
        #expect(RemoteWire.decodeTags("model, best,") == ["model", "best"])

        let root = TempRoot()
        defer { root.remove() }
        let service = try RemoteService(root: root.path)
        defer { _ = service.close() }
        let id = try createdSession(in: service)
        let staged = root.path + "/staged.txt"
        try Data("x".utf8).write(to: URL(fileURLWithPath: staged))
        let stored = try service.uploadFile(id, form: ["tags": RemoteWire.encodeTags(["a,b", "c"])], staged: staged, size: 1,
                                            checksum: "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881")
        #expect(stored.objectValue?["tags"] == ["a,b", "c"])
        let listed = try service.listFiles(id, prefix: nil, tags: RemoteWire.encodeTags(["a,b"]))
        #expect(listed.objectValue?["files"]?.arrayValue?.count == 1)
    }
}

@Suite struct ServerSurvivalTests {
    /// One damaged session gets its requests answered with a 5xx naming the
    /// damage; the server, and every other session, go on.
    @Test func aDamagedSessionFailsAloneWithA5xx() throws {
        let root = TempRoot()
        defer { root.remove() }
        for name in ["bad", "good"] {
            let store = try Store(directory: root.path + "/w/" + name, configuration: StoreConfiguration(durability: .buffered))
            let t = try store.track(named: "t")
            for i in 0..<20_000 { try t.append(value: Double(i), step: Int64(i)) }
            try store.close()
        }
        // A byte in the middle of the bad session's segment, inside some block.
        let segment = root.path + "/w/bad/segments/w0000-00000001.dls"
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: segment)))
        bytes[bytes.count / 2] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: segment))

        let service = try RemoteService(root: root.path)
        defer { _ = service.close() }
        let bad = RemoteService.sessionID(workspace: "w", name: "bad"), good = RemoteService.sessionID(workspace: "w", name: "good")
        do {
            _ = try service.readTrack(bad, track: "t", startIndex: 0, limit: 10_000)
            Issue.record("the damaged session was read")
        } catch {
            #expect(error.status >= 500 && error.message.contains("damaged"), "\(error.status) \(error.message)")
        }
        let page = try service.readTrack(good, track: "t", startIndex: 19_990, limit: 10)
        #expect(page.objectValue?["data"]?.arrayValue?.count == 10, "\(page)")
        #expect(service.openSessions >= 1)
    }
}
