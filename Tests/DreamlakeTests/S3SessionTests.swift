@testable import DreamlakeS3
import DreamlakeTestSupport
@_spi(Reference) import DreamlakeStore
import Foundation
import FoundationNetworking
import Synchronization
import Testing
@testable import Dreamlake

/// The test S3 store's environment and a root in its bucket that no other test uses.
func freshS3Root(_ kind: String) throws -> (environment: [String: String], root: String) {
    guard let env = TestS3.environment else { throw DreamlakeError(.io, TestS3.missing) }
    try S3Client(try S3Configuration.fromEnvironment(env)).createBucket(TestS3.bucket)
    return (env, "s3://\(TestS3.bucket)/\(TestS3.freshPrefix(kind))")
}

/// Sessions whose root is in S3 (the local Ceph RADOS Gateway `scripts/s3-server` runs): each
/// "machine" is a cache folder of its own, so a second one starts from nothing but the bucket.
@Suite struct S3SessionTests {
    let root: String
    let machines = TempRoot("s3-machines")

    init() throws {
        root = try freshS3Root("sessions").root
    }

    /// The environment of a machine whose cache is its own folder.
    func machine(_ name: String) -> [String: String] {
        (TestS3.environment ?? [:]).merging(["DREAMLAKE_S3_CACHE": machines.path + "/" + name]) { $1 }
    }

    func session(_ name: String, on machine: String, interval: Double = 60) throws -> Session {
        try Session(name: name, workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil, metadataObject: nil,
                    uploadInterval: interval, environment: self.machine(machine))
    }

    func everything(_ s: Session) throws -> [String: [UInt8]] {
        let out = machines.path + "/export-" + UUID().uuidString
        try s.export(to: out)
        return try tree(out)
    }

    @Test func aSessionWrittenToS3ReadsBackBitIdenticalOnAnotherMachine() throws {
        defer { machines.remove() }
        let writer = try session("run", on: "a")
        try writer.open()
        try writer.log("started", level: .info)
        try writer.parameters.set(["lr": 0.001, "model": ["layers": 12]])
        let loss = writer.track("loss")
        for i in 0..<100_000 { try loss.append(value: 1 / Double(i + 1), step: i) }
        try writer.track("acc").append(["value": 0.5, "epoch": 1])
        let file = machines.path + "/model.bin"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: file))
        let stored = try writer.files.upload(file, path: "/models")
        try writer.close()

        let reader = try session("run", on: "b")
        try reader.openForReading()
        #expect(try reader.track("loss").read(startIndex: 99_990, limit: 20).points.map(\.data["value"]) ==
                (99_990..<100_000).map { Value.double(1 / Double($0 + 1)) })
        // The whole session, exported on each machine, byte for byte.
        let local = try Session(name: "run", workspace: "ws", localPath: machines.path + "/a/\(TestS3.bucket)/" + root.split(separator: "/").last!)
        try local.openForReading()
        #expect(try reader.files.list().map(\.checksum) == [stored.checksum])
        #expect(try everything(reader) == everything(local))
        #expect(try everything(reader)["ws/run/files/models/\(stored.id)/model.bin"] == [1, 2, 3])
        try reader.close()
        try local.close()
        #expect(try Session.all(localPath: root, environment: machine("c")).map { "\($0.workspace)/\($0.name)" } == ["ws/run"])
        // A bucket's keys are hostile: names that are no plain folder name ("..", which would lead out of the
        // spool, or ".hidden") are no session. (URLs fold "..", so only the second can be written from here.)
        let prefix = String(root.dropFirst("s3://\(TestS3.bucket)/".count))
        let client = S3Client(try S3Configuration.fromEnvironment(machine("c")))
        try client.put(bucket: TestS3.bucket, key: prefix + "/.hidden/s/manifest/00000000000000000001.json", body: Data("{}".utf8))
        try client.put(bucket: TestS3.bucket, key: prefix + "/ws/.x/manifest/00000000000000000001.json", body: Data("{}".utf8))
        #expect(!S3Root.isSafeName("..") && !S3Root.isSafeName(".") && !S3Root.isSafeName("") && !S3Root.isSafeName("a\u{1}"))
        #expect(try Session.all(localPath: root, environment: machine("c")).map { "\($0.workspace)/\($0.name)" } == ["ws/run"])
    }

    @Test func storedFilesAreUploadedWithTheSessionAndFetchedWhenRead() throws {
        defer { machines.remove() }
        let writer = try session("files", on: "a")
        try writer.open()
        try writer.track("loss").append(value: 1, step: 0)
        // A name JSON must escape, and a file larger than one part of a multipart upload (16 MiB).
        let small = machines.path + "/r\u{E9}sum\u{E9} \"v1\".txt"
        try Data("weights".utf8).write(to: URL(fileURLWithPath: small))
        let large = machines.path + "/checkpoint.pt"
        var generator = SystemRandomNumberGenerator()
        let largeBytes = (0..<(17 << 20) / 8).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64, Array.init) }
        try Data(largeBytes).write(to: URL(fileURLWithPath: large))
        let a = try writer.files.upload(small, path: "/notes", tags: ["cv"])
        let b = try writer.files.upload(large, path: "/models/best")
        try writer.flush(uploading: true)

        let reader = try session("files", on: "b")
        try reader.openForReading()
        #expect(try reader.files.list().map(\.id) == [a.id, b.id])
        #expect(!FileManager.default.fileExists(atPath: reader.directory + "/files"), "a reader fetches a file when it is read")
        let out = machines.path + "/out-b"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: try reader.files.download(a.id, to: out))) == Data("weights".utf8))
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: try reader.files.download(b.id, to: out)))) == largeBytes)
        try reader.close()

        // A stored object is hostile: one changed in the bucket is refused by its SHA-256, one cut short
        // or gone by its length, each naming what is wrong; nothing is left at the destination.
        let prefix = String(root.dropFirst("s3://\(TestS3.bucket)/".count))
        let spool = try #require(try S3Spool.load(writer.directory))
        let key = prefix + "/ws/files/files/\(spool.id)/notes/\(a.id)/r\u{E9}sum\u{E9} \"v1\".txt"
        let client = S3Client(try S3Configuration.fromEnvironment(machine("c")))
        try client.put(bucket: TestS3.bucket, key: key, body: Data("weighTs".utf8))
        let damaged = try session("files", on: "c")
        try damaged.openForReading()
        let mismatch = #expect(throws: DreamlakeError.self) { try damaged.files.download(a.id, to: machines.path + "/c.txt") }
        #expect(mismatch?.code == .checksumMismatch)
        #expect(!FileManager.default.fileExists(atPath: machines.path + "/c.txt"))
        try damaged.close()
        for body in [Data("weigh".utf8), nil] {
            if let body { try client.put(bucket: TestS3.bucket, key: key, body: body) } else { try client.delete(bucket: TestS3.bucket, key: key) }
            let short = try session("files", on: "d-\(body == nil)")
            try short.openForReading()
            let error = #expect(throws: DreamlakeError.self) { try short.files.download(a.id, to: machines.path + "/d.txt") }
            #expect(error?.message.contains("s3://\(TestS3.bucket)/\(key)") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("missing or ends before 7") == true, "\(error?.message ?? "")")
            #expect(!FileManager.default.fileExists(atPath: machines.path + "/d.txt"))
            try short.close()
        }
        try writer.close()
    }

    @Test func aReaderElsewhereFetchesTheBlocksItReadsAndNotTheSession() throws {
        defer { machines.remove() }
        let writer = try session("lazy", on: "a")
        try writer.open()
        let loss = writer.track("loss")
        // Three sealed segments of 60,000 points each.
        for part in 0..<3 {
            for i in part * 60_000..<(part + 1) * 60_000 { try loss.append(value: ReferenceWorkload.value(i), step: i) }
            try writer.flush(uploading: true)
        }
        try writer.close()

        let reader = try session("lazy", on: "b")
        try reader.openForReading()
        let client = try #require((reader.root as? ObjectStoreRoot)?.bucket.client)
        let before = client.requestCount
        let middle = try reader.track("loss").read(startIndex: 90_000, limit: 1000).points
        #expect(middle.map(\.data["value"]) == (90_000..<91_000).map { Value.double(ReferenceWorkload.value($0)) })
        #expect(client.requestCount - before <= 2, "a read in the middle fetches the segment's header and its block")
        let spool = reader.directory + "/segments"
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".dls") } == [],
                "no segment was downloaded")
        // The whole track, read by ranges with read-ahead.
        let all = try reader.track("loss").read(startIndex: 0, limit: 200_000).points
        #expect(all.count == 180_000 && all.enumerated().allSatisfy { $0.element.data["value"] == .double(ReferenceWorkload.value($0.offset)) })
        try reader.close()

        // A writer on the machine whose spool has the commit log and no segments gets the segments first, and goes on.
        let next = try session("lazy", on: "b")
        try next.open()
        for i in 180_000..<181_000 { try next.track("loss").append(value: ReferenceWorkload.value(i), step: i) }
        try next.close()
        let last = try session("lazy", on: "c")
        try last.openForReading()
        #expect(try last.track("loss").stats().count == 181_000)
        #expect(try last.track("loss").read(startIndex: 180_990, limit: 100).points.map(\.index) == Array(180_990..<181_000))
        try last.close()
    }

    @Test func aNewMachineOpensASessionInThreeRequestsHoweverManyUploadsMadeIt() throws {
        defer { machines.remove() }
        let writer = try Session(name: "three", workspace: "ws", localPath: root, description: "a run", tags: ["a", "b"], folder: nil,
                                 metadataObject: nil, uploadInterval: 60, environment: machine("a"))
        try writer.open()
        try writer.parameters.set(["lr": 0.001, "layers": 12])
        // Five upload rounds, each with a commit log piece of its own to send.
        for round in 0..<5 {
            for i in round * 20_000..<(round + 1) * 20_000 { try writer.track("loss").append(value: ReferenceWorkload.value(i), step: i) }
            try writer.track("lr").append(value: 0.001, step: round)
            try writer.flush(uploading: true)
        }
        try writer.close()

        let reader = try session("three", on: "b")
        let client = try #require((reader.root as? ObjectStoreRoot)?.bucket.client)
        let before = client.requestCount
        try reader.openForReading()
        // The manifest's listing, the manifest, and the commit log in one piece; the session's fields, its
        // parameters and its tracks are in the first segment's head, which the manifest carries.
        #expect(client.requestCount - before == 3)
        #expect(reader.description == "a run" && reader.tags == ["a", "b"])
        #expect(try reader.parameters.get() == ["lr": 0.001, "layers": 12])
        #expect(client.requestCount - before == 3, "the fields and parameters were read with no request")
        #expect(try reader.tracks().map(\.name) == ["loss", "lr"])
        #expect(try reader.track("loss").read(startIndex: 99_990, limit: 20).points.map(\.data["value"])
                == (99_990..<100_000).map { Value.double(ReferenceWorkload.value($0)) })
        try reader.close()
    }

    @Test func aSpoolTheBucketMovedPastIsSetAsideAndTheSessionGoesOnFromTheBucket() throws {
        defer { machines.remove() }
        let first = try session("moved", on: "a")
        try first.open()
        for i in 0..<1_000 { try first.track("loss").append(value: Double(i), step: i) }
        try first.close()
        // Another machine goes on (a server that took the lease over).
        let second = try session("moved", on: "b")
        try second.open()
        for i in 1_000..<2_000 { try second.track("loss").append(value: Double(i), step: i) }
        try second.close()
        // Back on the first machine: its spool is behind the bucket.
        let again = try session("moved", on: "a")
        try again.open()
        #expect(try again.track("loss").stats().count == 2_000, "it continues from the bucket, not from its old spool")
        for i in 2_000..<2_500 { try again.track("loss").append(value: Double(i), step: i) }
        try again.close()
        let aside = try FileManager.default.contentsOfDirectory(atPath: FileSystem.directoryName(again.directory))
        #expect(aside.contains { $0.hasPrefix("moved.superseded-") }, "the old spool is kept aside: \(aside)")
        let reader = try session("moved", on: "c")
        try reader.openForReading()
        #expect(try reader.track("loss").read(startIndex: 0, limit: 5_000).points.map(\.data["step"]) == (0..<2_500).map { Value.int(Int64($0)) })
        try reader.close()
    }

    /// The session as the bucket holds it, downloaded whole into an empty folder: every point's value, by
    /// index, and whether `Store.verify` finds it sound.
    func bucketCopy(_ name: String) throws -> (values: [Double], sound: Bool) {
        let folder = machines.path + "/copy-" + UUID().uuidString
        let objects = try S3Root(root, environment: machine("copy")).objects(workspace: "ws", name: name)
        try objects.download(into: folder)
        let report = try Store.verify(directory: folder)
        #expect(report.isSound, "\(report)")
        let store = try Store(directory: folder, access: .read)
        defer { try? store.close() }
        guard let id = store.trackInfo(named: "loss")?.id else { return ([], report.isSound) }
        let points = try store.points(of: id, from: 0, limit: .max)
        #expect(points.map(\.index) == Array(0..<UInt64(points.count)), "indexes are dense")
        return (points.compactMap { $0.data["value"]?.doubleValue }, report.isSound)
    }

    /// Where `values` first differs from `expected`, for a short message; nil when equal.
    func firstDifference(_ values: [Double], _ expected: [Double]) -> String? {
        guard values != expected else { return nil }
        let i = (0..<min(values.count, expected.count)).first { values[$0] != expected[$0] } ?? min(values.count, expected.count)
        return "\(values.count) values, \(expected.count) expected; first difference at \(i): "
            + "\(i < values.count ? String(values[i]) : "none") for \(i < expected.count ? String(expected[i]) : "none")"
    }

    /// What a spool holds of the session, read where it is.
    func spoolCount(_ directory: String) throws -> UInt64 {
        let store = try Store(directory: directory, access: .read)
        defer { try? store.close() }
        return store.trackInfo(named: "loss")?.count ?? 0
    }

    /// Two machines on one session at once (two jobs of one name, or ranks of a job on two machines): the
    /// second is refused at open, with an error naming the first, while the first writes and renews its
    /// lease; once the first closes, the second opens at once and continues what the first uploaded.
    @Test func aSecondMachineIsRefusedAtOpenWhileTheFirstWritesAndGoesOnOnceItCloses() throws {
        defer { machines.remove() }
        let a = try session("two", on: "a", interval: 0.1)
        try a.open()
        for i in 0..<60_000 { try a.track("loss").append(value: Double(i), step: i) }
        try a.flush(uploading: true)
        let b = try session("two", on: "b", interval: 0.1)
        let refused = #expect(throws: DreamlakeError.self) { try b.open() }
        #expect(refused?.code == .busy && refused?.message.contains("written from another machine") == true
                && refused?.message.contains("spool") == true, "\(refused?.message ?? "")")
        #expect(!b.isOpen)
        // A went on meanwhile, uploading as before.
        for i in 60_000..<100_000 { try a.track("loss").append(value: Double(i), step: i) }
        try a.close()
        // A gave its lease up when it closed (a generation that has ended), so B takes it at once.
        let lease = try S3Root(root, environment: machine("c")).objects(workspace: "ws", name: "two").currentLease()
        #expect(lease?.expiresAt == 0, "\(String(describing: lease))")
        try b.open()
        #expect(try b.track("loss").stats().count == 100_000)
        for i in 100_000..<120_000 { try b.track("loss").append(value: Double(i), step: i) }
        try b.close()
        let copy = try bucketCopy("two")
        #expect(copy.sound && firstDifference(copy.values, (0..<120_000).map(Double.init)) == nil)
    }

    /// Ranks of a job on one machine share its spool and its lease: the first rank to close leaves the lease
    /// to the others (another machine is still refused), and the last gives it up.
    @Test func ranksOfOneMachineShareTheLeaseAndTheLastToCloseGivesItUp() throws {
        defer { machines.remove() }
        func rank(_ r: Int) throws -> Session {
            try Session(name: "ranks", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil, metadataObject: nil,
                        rank: r, uploadInterval: 0.1, environment: machine("a"))
        }
        let zero = try rank(0), one = try rank(1)
        try zero.open()
        try one.open()
        for i in 0..<10_000 {
            try zero.track("loss").append(value: Double(i), step: i)
            try one.track("loss").append(value: Double(i), step: i)
        }
        try zero.close()
        let elsewhere = try session("ranks", on: "b")
        let refused = #expect(throws: DreamlakeError.self) { try elsewhere.open() }
        #expect(refused?.code == .busy, "rank 1 still writes: \(refused?.message ?? "")")
        try one.close()
        try elsewhere.open()
        #expect(try elsewhere.track("loss").stats().count == 20_000)
        // The other machine continues what two ranks wrote (each rank's last segment sealed in the bucket).
        for i in 10_000..<15_000 { try elsewhere.track("loss").append(value: Double(i), step: i) }
        try elsewhere.close()
        let copy = try bucketCopy("ranks")
        #expect(copy.sound && copy.values.count == 25_000)
    }

    /// The backstop under the lease: a machine that opened a session while the store did not answer it
    /// (so it took no lease, and appends went to its spool) while another writes the session is refused
    /// at its first upload, for good, naming the spool that keeps what it appended; the bucket is the other's.
    @Test func aMachineThatOpenedOfflineWhileAnotherWritesIsRefusedAtItsFirstUpload() throws {
        defer { machines.remove() }
        let proxy = try S3FaultProxy(upstream: try #require(TestS3.environment?["AWS_ENDPOINT_URL"]))
        defer { proxy.stop() }
        let first = try session("offline-two", on: "a", interval: 0.1)
        try first.open()
        for i in 0..<30_000 { try first.track("loss").append(value: Double(i), step: i) }
        try first.close()
        // A has the whole session in its spool; B now writes it, and A opens again cut off from the store.
        let b = try session("offline-two", on: "b", interval: 0.1)
        try b.open()
        let cutOff = try Session(name: "offline-two", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                 metadataObject: nil, uploadInterval: 0.1,
                                 environment: machine("a").merging(["AWS_ENDPOINT_URL": proxy.url]) { $1 })
        try proxy.set(["fail_next": 1_000_000, "fail_status": 503])
        try cutOff.open()
        for i in 30_000..<40_000 { try cutOff.track("loss").append(value: -Double(i), step: i) }
        for i in 30_000..<50_000 { try b.track("loss").append(value: Double(i), step: i) }
        try b.flush(uploading: true)
        try proxy.set(["fail_next": 0])
        let refused = #expect(throws: DreamlakeError.self) { try cutOff.flush(uploading: true) }
        #expect(refused?.message.contains(cutOff.directory) == true, "\(refused?.message ?? "")")
        #expect(throws: DreamlakeError.self) { try cutOff.close() }
        #expect(try spoolCount(cutOff.directory) == 40_000, "what the refused machine appended is in its spool")
        try b.close()
        let copy = try bucketCopy("offline-two")
        #expect(copy.sound && firstDifference(copy.values, (0..<50_000).map(Double.init)) == nil)
    }

    /// A machine that stalls past its lease (its uploads and renewals stop) while another opens (once the
    /// lease ran out), writes and closes the session: when it comes back, its upload is refused with the
    /// spool named, and the bucket is the other's.
    @Test func aMachineThatComesBackAfterAnotherWroteIsRefusedAndDamagesNothing() throws {
        defer { machines.remove() }
        let zombie = try session("zombie", on: "a", interval: 0.1)
        try zombie.open()
        for i in 0..<30_000 { try zombie.track("loss").append(value: Double(i), step: i) }
        try zombie.flush(uploading: true)
        zombie.state.withLock { $0.uploads }?.stop()  // stalled: no round or renewal runs
        for i in 30_000..<40_000 { try zombie.track("loss").append(value: -Double(i), step: i) }
        let other = try session("zombie", on: "b", interval: 0.1)
        try other.open()
        for i in 30_000..<50_000 { try other.track("loss").append(value: Double(i), step: i) }
        try other.close()
        let refused = #expect(throws: DreamlakeError.self) { try zombie.flush(uploading: true) }
        #expect(refused?.message.contains(zombie.directory) == true, "\(refused?.message ?? "")")
        #expect(throws: DreamlakeError.self) { try zombie.close() }
        #expect(try spoolCount(zombie.directory) == 40_000)
        let copy = try bucketCopy("zombie")
        #expect(copy.sound && firstDifference(copy.values, (0..<50_000).map(Double.init)) == nil)
    }

    /// Two jobs of one name started together on two machines, a new session: one takes the lease and
    /// writes it; the other is refused (the bucket holds the one's points and nothing else), or, reaching
    /// the lease only once the first gave it up, continues the session after it. Either way it is sound.
    @Test func twoJobsOfOneNameStartedTogetherLeaveOneWholeSession() throws {
        defer { machines.remove() }
        let outcomes = Locked<[Int: Result<Void, any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            let result = Result { () throws in
                let s = try session("twins", on: "m\(k)", interval: 0.1)
                try s.open()
                for i in 0..<40_000 { try s.track("loss").append(value: Double(k * 1_000_000 + i), step: i) }
                Thread.sleep(forTimeInterval: 2.5)  // training goes on: the lease is renewed meanwhile
                try s.close()
            }
            outcomes.withLock { $0[k] = result }
        }
        let results = outcomes.withLock { $0 }
        let winners = results.filter { if case .success = $0.value { true } else { false } }.map(\.key)
        let copy = try bucketCopy("twins")
        #expect(copy.sound)
        let points = { (k: Int) in (0..<40_000).map { Double(k * 1_000_000 + $0) } }
        switch winners.count {
        case 1:
            // The usual outcome: the other saw the lease renewed and was refused.
            let w = winners[0]
            #expect(firstDifference(copy.values, points(w)) == nil)
            if case .failure(let e)? = results[1 - w] { #expect("\(e)".contains("written from another machine"), "\(e)") }
        case 2:
            // The other reached the lease only once the first had given it up (a slow machine): it continued
            // the session, one job's points after the other's, nothing lost and nothing mixed.
            #expect(firstDifference(copy.values, points(0) + points(1)) == nil || firstDifference(copy.values, points(1) + points(0)) == nil)
        default:
            Issue.record("neither job wrote the session: \(results)")
        }
    }

    @Test func aMachineLostAfterAnUploadLosesNothingUploadedAndAnotherGoesOn() throws {
        defer { machines.remove() }
        let writer = try session("lost", on: "a", interval: 0.1)
        try writer.open()
        let loss = writer.track("loss")
        for i in 0..<20_000 { try loss.append(value: Double(i), step: i) }
        try writer.flush()
        // Within the interval, without flush or close, it is in the bucket: a reader elsewhere sees it.
        let watcher = try session("lost", on: "b")
        var seen: UInt64 = 0
        for _ in 0..<200 where seen < 20_000 {
            if watcher.isOpen { try watcher.refresh() } else { try? watcher.openForReading() }
            seen = watcher.isOpen ? try watcher.track("loss").stats().count : 0
            if seen < 20_000 { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(seen == 20_000, "the uploader sent what was appended within its interval")
        try watcher.close()
        // The machine is lost: its spool is gone, the session is never closed there.
        let state = writer.state.withLock { ($0.uploads, $0.store) }
        state.0?.stop()
        try FileManager.default.removeItem(atPath: machines.path + "/a")

        let next = try session("lost", on: "c")
        try next.open()
        let again = next.track("loss")
        #expect(try again.stats().count == 20_000, "a fresh spool continues from what was uploaded")
        for i in 20_000..<25_000 { try again.append(value: Double(i), step: i) }
        try next.close()
        let reader = try session("lost", on: "d")
        try reader.openForReading()
        let points = try reader.track("loss").read(startIndex: 0, limit: 30_000).points
        #expect(points.map(\.index) == Array(0..<25_000))
        #expect(points.map(\.data["step"]) == (0..<25_000).map { Value.int(Int64($0)) })
        try reader.close()
        try? state.1?.close()
    }

    @Test func whileTheStoreIsUnreachableAppendsGoOnAndTheNextOpeningUploadsThem() throws {
        defer { machines.remove() }
        let first = try session("offline", on: "a")
        try first.open()
        try first.track("loss").append(value: 0, step: 0)
        try first.close()

        // The same machine, the store unreachable (nothing listens at the endpoint).
        var down = machine("a")
        down["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
        let offline = try Session(name: "offline", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                  metadataObject: nil, uploadInterval: 0.05, environment: down)
        try offline.open()
        for i in 1..<5_000 { try offline.track("loss").append(value: Double(i), step: i) }
        try offline.flush()
        var reported: String?
        for _ in 0..<100 where reported == nil {
            reported = offline.uploadError
            if reported == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(reported?.contains("failed: ") == true, "\(reported ?? "no error")")
        #expect(throws: DreamlakeError.self) { try offline.flush(uploading: true) }
        let closing = #expect(throws: DreamlakeError.self) { try offline.close() }
        #expect(closing?.message.contains("not all of it is uploaded") == true, "\(closing?.message ?? "")")
        #expect(!offline.isOpen, "closed all the same")

        // Elsewhere, only what was uploaded; once the store is back, the next opening here uploads the rest.
        let elsewhere = try session("offline", on: "b")
        try elsewhere.openForReading()
        #expect(try elsewhere.track("loss").stats().count == 1)
        let back = try session("offline", on: "a")
        try back.open()
        try back.close()
        try elsewhere.refresh()
        #expect(try elsewhere.track("loss").stats().count == 5_000)
        try elsewhere.close()
    }

    @Test func failingAndStalledUploadsAreRetriedAndReportedWhileAppendsGoOn() throws {
        defer { machines.remove() }
        let proxy = try S3FaultProxy(upstream: try #require(TestS3.environment?["AWS_ENDPOINT_URL"]))
        defer { proxy.stop() }
        var through = machine("a")
        through["AWS_ENDPOINT_URL"] = proxy.url
        let writer = try Session(name: "faults", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                 metadataObject: nil, uploadInterval: 0.1, environment: through)
        try writer.open()
        let loss = writer.track("loss")
        for i in 0..<20_000 { try loss.append(value: ReferenceWorkload.value(i), step: i) }

        // The store answers 503 SlowDown to every write for a while: reported, retried, nothing lost.
        try proxy.set(["fail_puts": 1_000_000])
        let refused = #expect(throws: DreamlakeError.self) { try writer.flush(uploading: true) }
        #expect(refused?.message.contains("SlowDown") == true, "\(refused?.message ?? "")")
        var reported: String?
        for _ in 0..<200 where reported == nil {
            reported = writer.uploadError
            if reported == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(reported?.contains("503") == true, "\(reported ?? "no error")")

        // Writes stall (the store holds every PUT): appends and local flushes go on without waiting for it.
        try proxy.set(["fail_puts": 0, "hold_puts": true])
        let done = DispatchSemaphore(value: 0)
        let appended = Locked<Result<Void, DreamlakeError>?>(nil)
        let appender = Thread {
            appended.withLock { $0 = Result { () throws(DreamlakeError) in
                for i in 20_000..<70_000 { try loss.append(value: ReferenceWorkload.value(i), step: i) }
                try writer.flush()
            } }
            done.signal()
        }
        appender.start()
        #expect(done.wait(timeout: .now() + 120) == .success, "appends waited for a stalled upload")
        #expect(try appended.withLock { $0 }?.get() != nil)
        try proxy.set(["hold_puts": false])
        var cleared = false
        for _ in 0..<400 where !cleared {
            cleared = writer.uploadError == nil
            if !cleared { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(cleared, "a round succeeded once the store answered: \(writer.uploadError ?? "")")
        try writer.close()
        #expect(try proxy.counts()["failed"] ?? 0 >= 2, "the proxy failed writes")

        let reader = try session("faults", on: "b")
        try reader.openForReading()
        let points = try reader.track("loss").read(startIndex: 0, limit: 100_000).points
        #expect(points.count == 70_000)
        #expect(points.enumerated().allSatisfy { $0.element.data["value"] == .double(ReferenceWorkload.value($0.offset)) })
        try reader.close()
    }

    /// Small segments and queues, so that a few hundred KiB fill a spool's bound.
    static let smallSizes: StoreConfiguration = {
        var sizes = StoreConfiguration()
        sizes.segmentSize = 64 << 10
        sizes.maxPendingBytes = 64 << 10
        sizes.maxOpenBytes = 64 << 10
        return sizes
    }()

    /// Looks at `count` every 0.2 s until it has not moved for 2 s (the appends wait) or `finished`;
    /// returns it then.
    func untilStill(_ count: () -> Int, finished: () -> Bool = { false }) -> Int {
        var last = -1, still = 0
        while still < 10 && !finished() {
            Thread.sleep(forTimeInterval: 0.2)
            let now = count()
            still = now == last ? still + 1 : 0
            last = now
        }
        return count()
    }

    @Test func aSpoolFullOfWhatIsNotUploadedMakesAppendsWaitUntilTheUploadsCatchUp() throws {
        defer { machines.remove() }
        let proxy = try S3FaultProxy(upstream: try #require(TestS3.environment?["AWS_ENDPOINT_URL"]))
        defer { proxy.stop() }
        var through = machine("a")
        through["AWS_ENDPOINT_URL"] = proxy.url
        let sizes = Self.smallSizes
        let limit: Int64 = 256 << 10
        let writer = try Session(name: "full", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                 metadataObject: nil, uploadInterval: 0.05, spoolLimit: limit, storeSizes: sizes, environment: through)
        try writer.open()
        try proxy.set(["fail_puts": 1_000_000_000])
        let total = 400_000
        let appended = Atomic<Int>(0)
        let finished = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        let failure = Locked<DreamlakeError?>(nil)
        let appender = Thread {
            do throws(DreamlakeError) {
                let loss = writer.track("loss")
                for i in 0..<total {
                    try loss.append(value: ReferenceWorkload.value(i), step: i)
                    appended.store(i + 1, ordering: .relaxed)
                }
            } catch { failure.withLock { $0 = error } }
            finished.store(true, ordering: .releasing)
            done.signal()
        }
        appender.start()
        // Every upload fails: the appends stop short, once the spool holds its bound (and the segment being sealed).
        let stopped = untilStill({ appended.load(ordering: .relaxed) }, finished: { finished.load(ordering: .acquiring) })
        #expect(stopped < total, "appends waited while nothing could be uploaded")
        let spool = Store.segmentsDirectory(of: writer.directory)
        let held = try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".dls") }
            .reduce(0) { $0 + ((try FileManager.default.attributesOfItem(atPath: spool + "/" + $1)[.size] as? Int) ?? 0) }
        #expect(held < Int(limit) + 3 * (64 << 10), "the spool held \(held) bytes")
        // The store answers again: the uploads catch up and the appends go on to the end.
        try proxy.set(["fail_puts": 0])
        #expect(done.wait(timeout: .now() + 120) == .success, "appends went on once uploads caught up")
        #expect(failure.withLock { $0 } == nil)
        try writer.close()
        let reader = try session("full", on: "b")
        try reader.openForReading()
        let points = try reader.track("loss").read(startIndex: 0, limit: total + 1).points
        #expect(points.count == total && points.last?.data["step"] == .int(Int64(total - 1)))
        try reader.close()

        // A limit below one segment, and uploads once a minute: the active segment alone fills the spool; each
        // writer that finds it full asks for a round at once, which seals and uploads it.
        let small = try Session(name: "small", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                metadataObject: nil, uploadInterval: 60, spoolLimit: 16 << 10, storeSizes: sizes, environment: machine("a"))
        try small.open()
        let finishedSmall = DispatchSemaphore(value: 0)
        let smallFailure = Locked<DreamlakeError?>(nil)
        Thread {
            do throws(DreamlakeError) {
                for i in 0..<400_000 { try small.track("loss").append(value: Double(i), step: i) }
            } catch { smallFailure.withLock { $0 = error } }
            finishedSmall.signal()
        }.start()
        #expect(finishedSmall.wait(timeout: .now() + 50) == .success, "appends went on with a spool limit below a segment")
        #expect(smallFailure.withLock { $0 } == nil)
        try small.close()
        let smallReader = try session("small", on: "c")
        try smallReader.openForReading()
        #expect(try smallReader.track("loss").stats().count == 400_000)
        try smallReader.close()
    }

    /// An outage with a full spool holds the appends, and only them: `flush()` and reads answer, and
    /// what was appended before the stall is fsync'd within the durability interval.
    @Test func duringAnOutageWithAFullSpoolFlushReadsAndTheDurabilityIntervalGoOn() throws {
        defer { machines.remove() }
        let proxy = try S3FaultProxy(upstream: try #require(TestS3.environment?["AWS_ENDPOINT_URL"]))
        defer { proxy.stop() }
        var through = machine("a")
        through["AWS_ENDPOINT_URL"] = proxy.url
        let writer = try Session(name: "outage", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                 metadataObject: nil, durability: .interval(milliseconds: 200), uploadInterval: 0.05,
                                 spoolLimit: 256 << 10, storeSizes: Self.smallSizes, environment: through)
        try writer.open()
        try proxy.set(["fail_puts": 1_000_000_000])
        let total = 400_000
        let appended = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let loss = writer.track("loss")
            for i in 0..<total {
                guard (try? loss.append(value: ReferenceWorkload.value(i), step: i)) != nil else { break }
                appended.store(i + 1, ordering: .relaxed)
            }
            done.signal()
        }.start()
        let n = untilStill { appended.load(ordering: .relaxed) }
        #expect(n < total, "the appends wait while nothing can be uploaded")
        /// Runs `body` on a thread of its own; whether it returned within 10 s.
        func answers(_ body: @escaping @Sendable () throws -> Void) -> Bool {
            let returned = DispatchSemaphore(value: 0)
            Thread {
                do { try body() } catch { Issue.record("\(error)") }
                returned.signal()
            }.start()
            return returned.wait(timeout: .now() + 10) == .success
        }
        let read = Locked<[UInt64]>([])
        let readAnswered = answers { read.withLock { $0 = [] }; let p = try writer.track("loss").read(startIndex: UInt64(n - 5), limit: 5).points; read.withLock { $0 = p.map(\.index) } }
        #expect(readAnswered, "a read answers while appends wait")
        #expect(read.withLock { $0 } == Array(UInt64(n - 5)..<UInt64(n)), "a read sees every append that returned")
        let flushAnswered = answers { try writer.flush() }
        #expect(flushAnswered, "flush answers while appends wait")
        let store = try #require(writer.state.withLock { $0.store })
        let id = try #require(store.trackInfo(named: "loss")?.id)
        let waitingSince = Date()
        while store.durableCount(of: .track(id)) < UInt64(n) && Date().timeIntervalSince(waitingSince) < 5 { Thread.sleep(forTimeInterval: 0.05) }
        #expect(store.durableCount(of: .track(id)) >= UInt64(n), "what was appended is durable within the interval")
        try proxy.set(["fail_puts": 0])
        #expect(done.wait(timeout: .now() + 120) == .success, "appends went on once uploads caught up")
        try writer.close()
        let reader = try session("outage", on: "b")
        try reader.openForReading()
        #expect(try reader.track("loss").stats().count == UInt64(total))
        try reader.close()
    }

    /// What S3 clients retry is retried: one 503, or one 429 with `Retry-After`, answered to any kind of
    /// request fails nothing, from a single request to a session's opening, upload, read and lease.
    @Test(arguments: [503, 429])
    func oneFailedAnswerToAnyRequestIsRetried(status: Int) throws {
        defer { machines.remove() }
        let proxy = try S3FaultProxy(upstream: try #require(TestS3.environment?["AWS_ENDPOINT_URL"]))
        defer { proxy.stop() }
        func through(_ name: String) -> [String: String] { machine(name).merging(["AWS_ENDPOINT_URL": proxy.url]) { $1 } }
        let client = S3Client(try S3Configuration.fromEnvironment(through("a")), partSize: 5 << 20)
        let prefix = String(root.dropFirst("s3://\(TestS3.bucket)/".count))
        var slowest = 0.0
        func once(_ what: String, _ body: () throws -> Void) throws {
            let before = try proxy.counts()["failed"] ?? 0
            try proxy.set(["fail_next": 1, "fail_status": status, "retry_after": "1"])
            let started = Date()
            try body()
            slowest = max(slowest, Date().timeIntervalSince(started))
            #expect(try proxy.counts()["failed"] == before + 1, "\(what): the failure was not met")
        }
        let big = Data((0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try once("PUT") { try client.put(bucket: TestS3.bucket, key: prefix + "/x", body: Data("x".utf8)) }
        try once("GET") { let got = try client.get(bucket: TestS3.bucket, key: prefix + "/x"); #expect(got == Data("x".utf8)) }
        try once("HEAD") { let head = try client.head(bucket: TestS3.bucket, key: prefix + "/x"); #expect(head?.size == 1) }
        try once("LIST") { let listed = try client.list(bucket: TestS3.bucket, prefix: prefix + "/"); #expect(listed.objects.count == 1) }
        try once("multipart upload") {
            try client.upload(bucket: TestS3.bucket, key: prefix + "/big", count: big.count) { big.subdata(in: $0..<($0 + $1)) }
        }
        #expect(try client.get(bucket: TestS3.bucket, key: prefix + "/big") == big)
        try once("DELETE") { try client.delete(bucket: TestS3.bucket, key: prefix + "/x") }
        let writer = try Session(name: "retried", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                 metadataObject: nil, environment: through("a"))
        try once("open") { try writer.open() }
        for i in 0..<10_000 { try writer.track("loss").append(value: Double(i), step: i) }
        try once("upload") { try writer.flush(uploading: true) }
        let reader = try Session(name: "retried", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                 metadataObject: nil, environment: through("b"))
        try once("open for reading") { try reader.openForReading() }
        try once("refresh") { try reader.refresh() }
        #expect(try reader.track("loss").read(startIndex: 9_990, limit: 10).points.map(\.index) == Array(9_990..<10_000))
        try reader.close()
        try writer.close()  // its lease given up: another may take it
        let objects = try S3Root(root, environment: through("c")).objects(workspace: "ws", name: "retried")
        try once("lease") {
            guard case .held = try objects.acquireLease(holder: "h", address: "", duration: 1000) else { Issue.record("the lease was not taken"); return }
        }
        try once("manifest") { let manifest = try objects.latestManifest(); #expect(manifest?.segments.isEmpty == false) }
        if status == 429 { #expect(slowest >= 1, "Retry-After was not waited for") }
    }

    /// Credentials that run out (the store answers ExpiredToken) are read again from the shared
    /// credentials file, which a tool rewrote meanwhile: the run goes on with the new ones. And a store
    /// that keeps failing fails the call with its HTTP status and S3 code kept.
    @Test func credentialsThatRunOutAreReadAgainAndErrorsKeepTheStoresAnswer() throws {
        defer { machines.remove() }
        let env = try #require(TestS3.environment)
        let proxy = try S3FaultProxy(upstream: try #require(env["AWS_ENDPOINT_URL"]))
        defer { proxy.stop() }
        let file = machines.path + "/credentials"
        func keys(_ id: String, _ secret: String) throws {
            try Data("[default]\naws_access_key_id = \(id)\naws_secret_access_key = \(secret)\n".utf8).write(to: URL(fileURLWithPath: file))
        }
        try keys(try #require(env["AWS_ACCESS_KEY_ID"]), try #require(env["AWS_SECRET_ACCESS_KEY"]))
        var through = machine("a").merging(["AWS_ENDPOINT_URL": proxy.url, "AWS_SHARED_CREDENTIALS_FILE": file]) { $1 }
        through["AWS_ACCESS_KEY_ID"] = nil
        through["AWS_SECRET_ACCESS_KEY"] = nil
        let writer = try Session(name: "rotated", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                 metadataObject: nil, environment: through)
        try writer.open()
        for i in 0..<5_000 { try writer.track("loss").append(value: Double(i), step: i) }
        try writer.flush(uploading: true)
        // The first keys run out; the file now holds the second ones.
        try proxy.set(["expired_key": try #require(env["AWS_ACCESS_KEY_ID"])])
        try keys(try #require(env["DREAMLAKE_TEST_S3_ROTATED_KEY_ID"]), try #require(env["DREAMLAKE_TEST_S3_ROTATED_SECRET"]))
        for i in 5_000..<10_000 { try writer.track("loss").append(value: Double(i), step: i) }
        try writer.flush(uploading: true)
        #expect(try proxy.counts()["expired"] ?? 0 >= 1, "the first keys were used and refused")
        // A store that answers 503 to everything: the call fails once the retries are spent, saying so.
        try proxy.set(["fail_next": 1_000, "fail_status": 503])
        for i in 10_000..<11_000 { try writer.track("loss").append(value: Double(i), step: i) }
        let failed = #expect(throws: DreamlakeError.self) { try writer.flush(uploading: true) }
        // (Its code, SlowDown, is in the body of an answer to any request but a HEAD, which has none.)
        #expect(failed?.httpStatus == 503 && failed?.isRetryable == true && failed?.message.contains("503") == true,
                "\(failed?.message ?? "")")
        try proxy.set(["fail_next": 0])
        try writer.close()
        let reader = try session("rotated", on: "b")
        try reader.openForReading()
        #expect(try reader.track("loss").stats().count == 11_000)
        try reader.close()
    }

    @Test func aRootThatIsNotAnS3URLOrLacksCredentialsIsRefusedAtOnce() throws {
        defer { machines.remove() }
        let bad = #expect(throws: DreamlakeError.self) {
            try Session(name: "s", workspace: "w", localPath: "s3://No_Such/x", description: nil, tags: nil, folder: nil,
                        metadataObject: nil, environment: machine("a"))
        }
        #expect(bad?.message.contains("s3://BUCKET") == true)
        let noKeys = #expect(throws: DreamlakeError.self) {
            try Session(name: "s", workspace: "w", localPath: root, description: nil, tags: nil, folder: nil,
                        metadataObject: nil, environment: ["HOME": machines.path, "DREAMLAKE_S3_CACHE": machines.path])
        }
        #expect(noKeys?.message.contains("AWS_ACCESS_KEY_ID") == true)
        // A spool limit that is no size.
        for (given, variable) in [(Int64?.some(0), String?.none), (nil, "lots"), (nil, "-3"), (nil, "9223372036854775807")] {
            let refused = #expect(throws: DreamlakeError.self) {
                try Session(name: "s", workspace: "w", localPath: root, description: nil, tags: nil, folder: nil, metadataObject: nil,
                            spoolLimit: given, environment: machine("a").merging(variable.map { ["DREAMLAKE_S3_SPOOL_MB": $0] } ?? [:]) { $1 })
            }
            #expect(refused?.code == .invalidArgument && refused?.message.contains(given == nil ? "DREAMLAKE_S3_SPOOL_MB" : "spool limit given") == true,
                    "\(refused?.message ?? "")")
        }
        #expect(try Session(name: "s", workspace: "w", localPath: root, description: nil, tags: nil, folder: nil, metadataObject: nil,
                            environment: machine("a").merging(["DREAMLAKE_S3_SPOOL_MB": "64"]) { $1 }).spoolLimit == 64 << 20)
        let reader = try session("never-written", on: "a")
        #expect(throws: DreamlakeError.self) { try reader.openForReading() }
    }
}

/// The commands with `--root s3://...`: each run on a "machine" of its own (its own cache folder).
@Suite struct S3CommandTests {
    @Test func everyCommandTakesAnS3Root() async throws {
        let (env, root) = try freshS3Root("commands")
        let dir = TempRoot("s3-commands")
        defer { dir.remove() }
        var machine = 0
        func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
            machine += 1
            return try runCommand(arguments + ["--root", root], environment: env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/m\(machine)"]) { $1 })
        }
        let ingest = try run(["bench", "ingest", "--points", "300000"])
        #expect(ingest.status == 0, "\(ingest.err)")
        let ls = try run(["ls"])
        #expect(ls.status == 0 && ls.out.contains("bench/ingest  1       300000"), "\(ls.out) \(ls.err)")
        let cat = try run(["cat", "bench/ingest", "--track", "loss", "--start", "150000", "--limit", "2"])
        #expect(cat.out.split(separator: "\n").map { $0.contains("\"step\": 15000") } == [true, true], "\(cat.out) \(cat.err)")
        let verify = try run(["verify"])
        #expect(verify.status == 0 && verify.out.hasPrefix("bench/ingest: 2 segments") && verify.out.contains(": sound"), "\(verify.out) \(verify.err)")

        // A session with a stored file, written by the library on a machine of its own.
        let withFile = try Session(name: "notes", workspace: "bench", localPath: root, description: nil, tags: nil, folder: nil,
                                   metadataObject: nil, environment: env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/m0"]) { $1 })
        try withFile.open()
        try Data("a stored file".utf8).write(to: URL(fileURLWithPath: dir.path + "/notes.txt"))
        let stored = try withFile.files.upload(dir.path + "/notes.txt", path: "/docs")
        try withFile.close()

        // The viewer, over the bucket.
        machine += 1
        let ui = try ServerProcess(root: root, environment: env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/m\(machine)"]) { $1 }, command: "ui")
        let (runs, _) = try await URLSession.shared.data(from: URL(string: ui.url + "/api/runs")!)
        let rows = try PythonJSONReader.parse(Array(runs)).objectValue?["runs"]?.arrayValue ?? []
        #expect(rows.map { "\($0.objectValue?["workspace"]?.stringValue ?? "")/\($0.objectValue?["session"]?.stringValue ?? "")" } == ["bench/ingest", "bench/notes"])
        #expect(rows.first?.objectValue?["points"] == 300_000)
        let (bytes, _) = try await URLSession.shared.data(from: URL(string: ui.url + "/api/file?workspace=bench&session=notes&id=\(stored.id)")!)
        #expect(bytes == Data("a stored file".utf8))
        #expect(ui.stop() == nil)

        // Out to a folder and back into another S3 prefix: the same JSONL both ways, files and all.
        let export = try run(["export", "--out", dir.path + "/out"])
        #expect(export.status == 0 && export.out.contains("300000 points"), "\(export.out) \(export.err)")
        #expect(try tree(dir.path + "/out")["bench/notes/files/docs/\(stored.id)/notes.txt"] == Array("a stored file".utf8))
        // And to Parquet from the bucket, on a machine of its own: every point of the track.
        let parquet = try run(["export", "--format", "parquet", "--out", dir.path + "/parquet", "bench/ingest"])
        #expect(parquet.status == 0 && parquet.out.contains("300000 points"), "\(parquet.out) \(parquet.err)")
        let loss = ParquetReaders.columns(try ParquetReaders.read(dir.path + "/parquet/bench/ingest/tracks/loss.parquet"), "duckdb")
        #expect(loss["index"]?.count == 300_000 && (loss["step"]?[150_000] as? NSNumber)?.intValue == 150_000, "\(loss.keys.sorted())")
        let runsFile = ParquetReaders.columns(try ParquetReaders.read(dir.path + "/parquet/runs.parquet"), "duckdb")
        #expect(runsFile["session"]?.compactMap { $0 as? String } == ["ingest"], "\(runsFile)")
        let verifyFiles = try run(["verify", "bench/notes"])
        #expect(verifyFiles.status == 0 && verifyFiles.out.contains("stored files: 1 checked, all as stored"), "\(verifyFiles.out) \(verifyFiles.err)")
        let imported = try runCommand(["import", dir.path + "/out", "--root", root + "-copy"],
                                      environment: env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/importer"]) { $1 })
        #expect(imported.status == 0, "\(imported.err)")
        let again = try runCommand(["export", "--root", root + "-copy", "--out", dir.path + "/again"],
                                   environment: env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/exporter"]) { $1 })
        #expect(again.status == 0, "\(again.err)")
        #expect(try tree(dir.path + "/out") == tree(dir.path + "/again"))

        #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/s3:"), "no local folder named after the URL")
        // A stored file's object changed in the bucket: verify names it.
        let spool = try #require(try S3Spool.load(withFile.directory))
        let key = String(root.dropFirst("s3://\(TestS3.bucket)/".count)) + "/bench/notes/files/\(spool.id)/docs/\(stored.id)/notes.txt"
        try S3Client(try S3Configuration.fromEnvironment(env)).put(bucket: TestS3.bucket, key: key, body: Data("a STORED file".utf8))
        let changed = try run(["verify", "bench/notes"])
        #expect(changed.status == 1 && changed.out.contains("bench/notes: DAMAGED") && changed.out.contains("s3://\(TestS3.bucket)/\(key) is not the object"),
                "\(changed.out) \(changed.err)")
        let none = try run(["show", "bench/nothing"])
        #expect(none.status == 1 && none.err.contains("there is no session bench/nothing under \(root)"), "\(none.err)")
    }
}

/// kill -9 of a process writing to an S3 root, at random moments: what was uploaded is in the bucket,
/// sound and dense, and a process on a fresh spool continues the session from it.
@Suite struct S3KillTests {
    @Test func aWriterKilledAtRandomMomentsLosesNothingUploadedAndTheNextGoesOn() throws {
        let (env, root) = try freshS3Root("killed")
        let dir = TempRoot("s3-kill")
        defer { dir.remove() }
        var rng = SplitMix64(seed: 20)
        var uploaded = 0  // points the bucket held, as a reader saw, before the last kill
        for round in 0..<3 {
            let machine = env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/writer\(round)", "DREAMLAKE_UPLOAD_INTERVAL": "0.1"]) { $1 }
            let (process, _) = try startCommand(["bench", "ingest", "--root", root, "--points", "20000000"] + (round > 0 ? ["--resume"] : []),
                                                environment: machine)
            // Wait until a reader elsewhere sees this round's first upload, then kill at a random moment after it.
            let reader = try Session(name: "ingest", workspace: "bench", localPath: root, description: nil, tags: nil, folder: nil,
                                     metadataObject: nil, environment: env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/watcher\(round)"]) { $1 })
            var seen = 0
            for _ in 0..<400 where seen <= uploaded {
                if reader.isOpen { try reader.refresh() } else { try? reader.openForReading() }
                seen = reader.isOpen ? Int(try reader.track("loss").stats().count) : 0
                if seen <= uploaded { Thread.sleep(forTimeInterval: 0.05) }
            }
            try? reader.close()
            #expect(seen > uploaded, "round \(round): the writer uploaded within its interval")
            Thread.sleep(forTimeInterval: Double(rng.next() % 600) / 1000)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

            // A fresh machine reads what the bucket holds: at least what was seen, every point in its place.
            let after = try Session(name: "ingest", workspace: "bench", localPath: root, description: nil, tags: nil, folder: nil,
                                    metadataObject: nil, environment: env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/after\(round)"]) { $1 })
            try after.openForReading()
            let count = Int(try after.track("loss").stats().count)
            #expect(count >= seen, "round \(round): \(count) points in the bucket, \(seen) seen before the kill")
            var index = 0
            while index < count {
                let page = try after.track("loss").read(startIndex: UInt64(index), limit: 100_000).points
                let bad = page.first { $0.data["step"] != .int(Int64($0.index)) }
                #expect(bad == nil, "round \(round): point \(bad?.index ?? 0) is not the one appended there")
                if bad != nil || page.isEmpty { break }
                index += page.count
            }
            #expect(index == count)
            try after.close()
            uploaded = count
        }
        // The last round's process is gone too; a last writer on a fresh spool closes cleanly, and all of it verifies.
        let last = try runCommand(["bench", "ingest", "--root", root, "--points", "1000", "--resume"],
                                  environment: env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/last"]) { $1 })
        #expect(last.status == 0, "\(last.err)")
        let verify = try runCommand(["verify", "--root", root], environment: env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/verify"]) { $1 })
        #expect(verify.status == 0 && verify.out.contains("sound"), "\(verify.out) \(verify.err)")
        let show = try runCommand(["show", "bench/ingest", "--root", root, "--json"],
                                  environment: env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/show"]) { $1 })
        #expect(show.out.contains("\"count\": \(uploaded + 1000), \"first_index\": 0"), "\(show.out)")
    }
}

extension S3KillTests {
    /// Which machine of ``twoMachinesResumingOneSessionAtOnceLeaveItSound(_:)`` is killed with kill -9 and started again.
    enum Killed: String, CustomTestStringConvertible, Sendable {
        case neither, first, second
        var testDescription: String { rawValue }
    }

    /// The report issue 28 began with, as processes: machine A resumes a session with a long ingest, and
    /// machine B resumes it while A writes. Neither killed: B is refused at open, naming A, and resumes
    /// once A is done. A killed with kill -9: B waits A's lease out and writes; A started again finds its
    /// spool behind the bucket, sets it aside and continues from the bucket. B killed with kill -9 while it
    /// writes: A started again waits B's lease out and continues from the bucket, and so does B started
    /// again after it. Each time the bucket stays sound, every point in its place, and every point a
    /// machine uploaded is there.
    @Test(arguments: [Killed.neither, .first, .second])
    func twoMachinesResumingOneSessionAtOnceLeaveItSound(_ killed: Killed) throws {
        let (env, root) = try freshS3Root("two-machines")
        let dir = TempRoot("s3-two")
        defer { dir.remove() }
        func on(_ machine: String) -> [String: String] {
            env.merging(["DREAMLAKE_S3_CACHE": dir.path + "/" + machine, "DREAMLAKE_UPLOAD_INTERVAL": "0.2"]) { $1 }
        }
        func count(on machine: String) throws -> Int {
            let s = try Session(name: "ingest", workspace: "bench", localPath: root, description: nil, tags: nil, folder: nil,
                                metadataObject: nil, environment: on(machine))
            try s.openForReading()
            defer { try? s.close() }
            return Int(try s.track("loss").stats().count)
        }
        /// Waits until a reader elsewhere sees more than `least` points uploaded; returns what it saw.
        func waitForUploads(past least: Int, _ tag: String) -> Int {
            var seen = 0
            for round in 0..<600 where seen <= least {
                seen = (try? count(on: "watcher-\(tag)-\(round)")) ?? 0
                if seen <= least { Thread.sleep(forTimeInterval: 0.05) }
            }
            return seen
        }
        func resume(_ points: Int, on machine: String) throws -> (status: Int32, out: String, err: String) {
            try runCommand(["bench", "ingest", "--root", root, "--points", "\(points)", "--resume"], environment: on(machine))
        }
        let first = try runCommand(["bench", "ingest", "--root", root, "--points", "200000"], environment: on("a"))
        #expect(first.status == 0, "\(first.err)")
        // A resumes with a long run; once a reader elsewhere sees its first upload, B comes.
        let aArguments = ["bench", "ingest", "--root", root, "--points", killed == .first ? "20000000" : "3000000", "--resume"]
        let aFinished = Locked<(status: Int32, out: String, err: String)?>(nil)
        let aDone = DispatchSemaphore(value: 0)
        var aProcess: Process?
        let aEnvironment = on("a")
        if killed == .first {
            aProcess = try startCommand(aArguments, environment: aEnvironment).0
        } else {
            Thread {
                let result = try? runCommand(aArguments, environment: aEnvironment)
                aFinished.withLock { $0 = result }
                aDone.signal()
            }.start()
        }
        let seen = waitForUploads(past: 200_000, "a")
        #expect(seen > 200_000, "A uploaded within its interval")
        var least = 0  // the fewest points the session ends with: all that was uploaded, and the last runs'
        switch killed {
        case .neither:
            let refused = try resume(300_000, on: "b")
            #expect(refused.status != 0 && refused.err.contains("written from another machine"), "B is refused at open: \(refused.err)")
            #expect(aDone.wait(timeout: .now() + 300) == .success)
            let a = aFinished.withLock { $0 }
            #expect(a?.status == 0, "A writes on undisturbed: \(a?.err ?? "no result")")
            let b = try resume(300_000, on: "b")
            #expect(b.status == 0, "\(b.err)")
            least = 200_000 + 3_000_000 + 300_000
        case .first:
            kill(aProcess!.processIdentifier, SIGKILL)
            aProcess!.waitUntilExit()
            let b = try resume(300_000, on: "b")
            #expect(b.status == 0, "B waits A's lease out and writes: \(b.err)")
            let again = try resume(1000, on: "a")
            #expect(again.status == 0 && again.err.contains("behind the bucket"), "\(again.err)")
            least = seen + 300_000 + 1000
        case .second:
            #expect(aDone.wait(timeout: .now() + 300) == .success)
            #expect(aFinished.withLock { $0 }?.status == 0)
            let (bProcess, _) = try startCommand(["bench", "ingest", "--root", root, "--points", "20000000", "--resume"], environment: on("b"))
            let bUploaded = waitForUploads(past: 3_200_000 + 300_000, "b")
            kill(bProcess.processIdentifier, SIGKILL)
            bProcess.waitUntilExit()
            #expect(bUploaded > 3_500_000, "B uploaded within its interval")
            let a = try resume(1000, on: "a")
            #expect(a.status == 0 && a.err.contains("behind the bucket"), "A waits B's lease out, behind the bucket: \(a.err)")
            let b = try resume(1000, on: "b")
            #expect(b.status == 0 && b.err.contains("behind the bucket"), "B too, once A wrote: \(b.err)")
            least = bUploaded + 2000
        }
        let verify = try runCommand(["verify", "--root", root], environment: on("verify"))
        #expect(verify.status == 0 && verify.out.contains("sound"), "\(verify.out) \(verify.err)")
        // Every point in its place: each run's steps go on from the count it resumed at.
        let reader = try Session(name: "ingest", workspace: "bench", localPath: root, description: nil, tags: nil, folder: nil,
                                 metadataObject: nil, environment: on("reader"))
        try reader.openForReading()
        let total = Int(try reader.track("loss").stats().count)
        var index = 0
        while index < total {
            let page = try reader.track("loss").read(startIndex: UInt64(index), limit: 100_000).points
            let bad = page.first { $0.data["step"] != .int(Int64($0.index)) }
            #expect(bad == nil, "point \(bad?.index ?? 0) is not the one appended there")
            if bad != nil || page.isEmpty { break }
            index += page.count
        }
        #expect(index == total && total >= least, "\(total) points, \(seen) seen before B, at least \(least) expected")
        try reader.close()
    }
}

/// `dreamlake serve` nodes over one S3 root, with the real Python client: each session is written
/// through the node that holds its lease, read through any.
@Suite struct S3ServeTests {
    /// A `serve` node over `root`, its cache `machines/name`, with the lease and upload interval given.
    static func node(_ name: String, root: String, env: [String: String], machines: TempRoot,
                     leaseSeconds: String, uploadInterval: String) throws -> ServerProcess {
        try ServerProcess(root: root, ["--lease-seconds", leaseSeconds],
                          environment: env.merging(["DREAMLAKE_S3_CACHE": machines.path + "/" + name,
                                                    "DREAMLAKE_UPLOAD_INTERVAL": uploadInterval]) { $1 })
    }

    /// `Tests/Interop/s3_nodes.py` (the real Python client) with `arguments`; what it printed.
    static func client(_ arguments: [String]) throws -> String {
        String(decoding: try InteropTests.run([InteropTests.script("s3_nodes.py")] + arguments), as: UTF8.self)
    }

    @Test func twoNodesOverOneBucketWriteThroughTheLeaseHolderReadAnywhereAndTakeOverAKilledOne() throws {
        let (env, root) = try freshS3Root("serve")
        let machines = TempRoot("s3-serve")
        defer { machines.remove() }
        func node(_ name: String) throws -> ServerProcess {
            try Self.node(name, root: root, env: env, machines: machines, leaseSeconds: "4", uploadInterval: "0.2")
        }
        let client = Self.client
        /// Reads through `server` until it sees `count` points (uploads run every 0.2 s).
        func read(_ server: ServerProcess, until count: Int) throws -> String {
            var last = ""
            for _ in 0..<100 {
                last = try client(["read", server.url, "ws", "run"])
                if last.hasPrefix("\(count) ") { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return last
        }
        let a = try node("a")
        let b = try node("b")
        #expect(try client(["write", a.url, "ws", "run", "0", "5000"]) == "ok\n")
        #expect(try read(b, until: 5000) == "5000 [2500, 2501, 2502]\n", "any node reads what the writer uploaded")
        // A write through the other node is told where to go.
        let refused = try client(["write", b.url, "ws", "run", "5000", "10"])
        #expect(refused.hasPrefix("refused 421") && refused.contains(a.url), "\(refused)")

        // The writer's node is killed: once its lease runs out (4 s), the other takes the session over.
        kill(a.process.processIdentifier, SIGKILL)
        a.process.waitUntilExit()
        var wrote = ""
        for _ in 0..<100 where wrote != "ok\n" {
            wrote = try client(["write", b.url, "ws", "run", "5000", "1000"])
            if wrote != "ok\n" { Thread.sleep(forTimeInterval: 0.2) }
        }
        #expect(wrote == "ok\n", "\(wrote)")
        #expect(try read(b, until: 6000) == "6000 [3000, 3001, 3002]\n")
        #expect(b.stop() == nil, "the node stops cleanly")
        // Everything is in the bucket: a reader anywhere sees it.
        let reader = try Session(name: "run", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                 metadataObject: nil, environment: env.merging(["DREAMLAKE_S3_CACHE": machines.path + "/c"]) { $1 })
        try reader.openForReading()
        let steps = try reader.track("loss").read(startIndex: 0, limit: 10_000).points.map(\.data["step"])
        #expect(steps == (0..<6000).map { Value.int(Int64($0)) })
        try reader.close()
    }
}

extension S3ServeTests {
    /// A session another node writes and has not uploaded yet: opening it through this node is answered
    /// 421 naming the writer, not 404 "no such session" (which would tell the client to create it).
    @Test func aSessionWrittenElsewhereAndNotUploadedYetIsMisdirectedNotMissing() throws {
        let (env, root) = try freshS3Root("not-yet")
        let machines = TempRoot("s3-not-yet")
        defer { machines.remove() }
        // A's manifests do not reach the store (its leases do): the bucket has nothing of the session.
        let proxy = try S3FaultProxy(upstream: try #require(env["AWS_ENDPOINT_URL"]))
        defer { proxy.stop() }
        try proxy.set(["fail_puts": 1_000_000_000, "fail_path": "/manifest/"])
        let a = try Self.node("a", root: root, env: env.merging(["AWS_ENDPOINT_URL": proxy.url]) { $1 }, machines: machines,
                              leaseSeconds: "30", uploadInterval: "600")
        let b = try Self.node("b", root: root, env: env, machines: machines, leaseSeconds: "30", uploadInterval: "600")
        #expect(try Self.client(["write", a.url, "ws", "run", "0", "10"]) == "ok\n")
        let read = try Self.client(["read", b.url, "ws", "run"])
        #expect(read.hasPrefix("refused 421") && read.contains(a.url), "\(read)")
        _ = a.stop()  // its last upload fails: the proxy still refuses its manifests
        #expect(b.stop() == nil)
    }

    /// A node stalled (SIGSTOP) past its lease while another takes the session over, then continued:
    /// nothing it writes reaches the bucket, not a manifest and not an object; the session is what the
    /// stalled node uploaded before it stopped and what the other wrote.
    @Test func aNodeStalledPastItsLeaseWritesNothingMoreToTheBucket() throws {
        let (env, root) = try freshS3Root("stalled")
        let machines = TempRoot("s3-stalled")
        defer { machines.remove() }
        func node(_ name: String) throws -> ServerProcess {
            try Self.node(name, root: root, env: env, machines: machines, leaseSeconds: "2", uploadInterval: "1")
        }
        let client = Self.client
        let prefix = String(root.dropFirst("s3://\(TestS3.bucket)/".count)) + "/ws/run/"
        let bucket = S3Client(try S3Configuration.fromEnvironment(env))
        let a = try node("a")
        let b = try node("b")
        #expect(try client(["write", a.url, "ws", "run", "0", "3000"]) == "ok\n")
        var seen = ""
        for _ in 0..<100 where !seen.hasPrefix("3000 ") {
            seen = try client(["read", b.url, "ws", "run"])
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(seen.hasPrefix("3000 "), "\(seen)")
        // More through A, which stops at once: what it holds of them is not uploaded yet.
        #expect(try client(["write", a.url, "ws", "run", "3000", "1000"]) == "ok\n")
        kill(a.process.processIdentifier, SIGSTOP)
        let spool = try #require(try S3Spool.load(machines.path + "/a/\(TestS3.bucket)/\(prefix.dropLast())"))
        // B takes the session over once A's lease runs out (2 s), from what the bucket holds (3,000 points,
        // or 4,000 if A's round ran before it stopped); its steps are from 100,000 on.
        var wrote = ""
        for _ in 0..<100 where wrote != "ok\n" {
            wrote = try client(["write", b.url, "ws", "run", "100000", "1000"])
            if wrote != "ok\n" { Thread.sleep(forTimeInterval: 0.2) }
        }
        #expect(wrote == "ok\n", "\(wrote)")
        let aObjects = { () throws -> Set<String> in
            Set(try bucket.list(bucket: TestS3.bucket, prefix: prefix).objects.map(\.key).filter { $0.contains("/\(spool.id)/") })
        }
        let before = try aObjects()
        // A goes on: its uploader and its lease renewal run, and find the lease taken.
        kill(a.process.processIdentifier, SIGCONT)
        Thread.sleep(forTimeInterval: 3)
        // (B may remove pieces of A's that its own whole-log pieces replaced.)
        #expect(try aObjects().isSubset(of: before), "the stalled node uploaded after it lost its lease")
        let manifests = try bucket.list(bucket: TestS3.bucket, prefix: prefix + "manifest/").objects
        // The two newest are kept: A's last one may still be there (B's next round removes it), but none of A's
        // comes after one of B's.
        let kept = try manifests.map { m in try S3Manifest.decode(try #require(try bucket.get(bucket: TestS3.bucket, key: m.key)), key: m.key) }
        let firstOfB = try #require(kept.filter { $0.spool != spool.id }.map(\.generation).min())
        #expect(kept.allSatisfy { $0.spool != spool.id || $0.generation < firstOfB }, "the stalled node wrote a manifest: \(kept.map { ($0.generation, $0.spool ?? "") })")
        #expect(b.stop() == nil)
        _ = a.stop()
        let reader = try Session(name: "run", workspace: "ws", localPath: root, description: nil, tags: nil, folder: nil,
                                 metadataObject: nil, environment: env.merging(["DREAMLAKE_S3_CACHE": machines.path + "/c"]) { $1 })
        try reader.openForReading()
        let steps = try reader.track("loss").read(startIndex: 0, limit: 10_000).points.compactMap { $0.data["step"]?.intValue }
        let uploadedByA = steps.count - 1000
        #expect(uploadedByA == 3000 || uploadedByA == 4000, "\(steps.count) points")
        #expect(steps == Array(0..<Int64(max(0, uploadedByA))) + Array(100_000..<101_000), "what A uploaded before it stopped, then B's")
        try reader.close()
    }
}

/// `Tests/Interop/s3_fault_proxy.py` in front of the test store: it forwards every request, and fails or
/// holds writes when told to. Fault injection only; the store behind it is the real one.
final class S3FaultProxy: Sendable {
    let url: String
    private let process: Process

    init(upstream: String) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
            + "/Interop/s3_fault_proxy.py"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, upstream]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        self.process = process
        // Its first line is its port.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw DreamlakeError(.io, "the fault proxy did not start: \(String(decoding: line, as: UTF8.self))")
        }
        url = "http://127.0.0.1:\(port)"
    }

    private func call(_ body: [String: Any]?) throws -> [String: Any] {
        var request = URLRequest(url: URL(string: url + "/__faults")!)
        request.httpMethod = body == nil ? "GET" : "POST"
        if let body { request.httpBody = try JSONSerialization.data(withJSONObject: body) }
        let got = Locked<Data?>(nil)
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, _, _ in
            got.withLock { $0 = data }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 30)
        guard let data = got.withLock({ $0 }), let state = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DreamlakeError(.io, "the fault proxy did not answer")
        }
        return state
    }

    /// Sets faults: `fail_puts` (how many writes to answer 503), `hold_puts` (whether writes wait).
    func set(_ faults: [String: Any]) throws { _ = try call(faults) }

    /// What it counted: `failed` (writes answered 503), `forwarded_puts`.
    func counts() throws -> [String: Int] { try call(nil).compactMapValues { $0 as? Int } }

    func stop() {
        // SIGKILL: a signal the test process ignores is ignored by its children too.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Issue 30, class 8: a command waiting for a store that takes its connection and never answers waits
/// without spinning (URLSession on Linux burnt most of a core meanwhile: 0.8 s user and 4.3 s system in a
/// 6 s wait), and gives up at its deadline.
@Suite struct S3WaitTests {
    @Test func waitingForAStoreThatNeverAnswersCostsNoProcessorTime() throws {
        let server = try LoopbackServer(.silent)
        defer { server.stop() }
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ENDPOINT_URL"] = "http://127.0.0.1:\(server.port)"
        environment["AWS_ENDPOINT_URL_S3"] = nil
        environment["AWS_ACCESS_KEY_ID"] = "k"
        environment["AWS_SECRET_ACCESS_KEY"] = "s"
        environment["DREAMLAKE_S3_TIMEOUT"] = "3"
        // bash's `times` prints the children's user and system time after the command.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "\"$0\" ls --root s3://bucket/p 2>/dev/null; times", try dreamlakeCommand()]
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        let started = ProcessInfo.processInfo.systemUptime
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let waited = ProcessInfo.processInfo.systemUptime - started
        // The last line: the children's "0m0.031s 0m0.005s".
        let seconds = try #require(text.split(separator: "\n").last).split(separator: " ").map { field -> Double in
            let parts = field.dropLast().split(separator: "m")
            return (Double(parts.first ?? "") ?? .nan) * 60 + (Double(parts.last ?? "") ?? .nan)
        }
        #expect(seconds.count == 2 && waited >= 3)
        #expect(seconds.reduce(0, +) < 1, "user and system time of a 3 s wait: \(seconds) (\(text))")
        #expect(server.connections >= 1)
    }
}
