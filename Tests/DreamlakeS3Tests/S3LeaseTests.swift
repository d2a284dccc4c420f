import DreamlakeStore
import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeS3

/// Write leases in the bucket (the local Ceph RADOS Gateway): one holder at a time, decided by
/// create-if-absent objects; taken over once expired; given up at once when released. Clocks are
/// passed in (milliseconds), so that expiry needs no waiting.
@Suite struct S3LeaseTests {
    let client: S3Client
    let location: S3Location

    init() throws {
        guard let env = TestS3.environment else { throw S3Error(.unreachable, TestS3.missing) }
        client = S3Client(try S3Configuration.fromEnvironment(env))
        try client.createBucket(TestS3.bucket)
        location = S3Location(bucket: TestS3.bucket, prefix: TestS3.freshPrefix("leases"))
    }

    func objects(_ name: String) -> S3SessionObjects {
        S3SessionObjects(client: client, location: location, workspace: "ws", name: name)
    }

    @Test func oneHolderAtATimeTakenOverOnlyOnceExpiredAndGivenUpAtOnce() throws {
        let s = objects("run")
        let t0: UInt64 = 1_800_000_000_000
        #expect(try s.currentLease() == nil)
        guard case .held(let a) = try s.acquireLease(holder: "node-a", address: "http://a:3000", duration: 15_000, now: t0) else {
            Issue.record("the first taker holds it")
            return
        }
        #expect(a.generation == 1 && a.expiresAt == t0 + 15_000)
        // Another, while it is held: told who holds it and where.
        #expect(try s.acquireLease(holder: "node-b", address: "http://b:3000", duration: 15_000, now: t0 + 1_000) == .heldByAnother(a))
        // Renewed by its holder: a new generation, a later end.
        guard case .held(let a2) = try s.renewLease(a, duration: 15_000, now: t0 + 10_000) else {
            Issue.record("its holder renews it")
            return
        }
        #expect(a2.generation == 2 && a2.expiresAt == t0 + 25_000)
        #expect(try s.acquireLease(holder: "node-b", address: "http://b:3000", duration: 15_000, now: t0 + 20_000) == .heldByAnother(a2))
        // Not renewed in time (node a stopped): taken over; a's late renewal learns it lost it.
        guard case .held(let b) = try s.acquireLease(holder: "node-b", address: "http://b:3000", duration: 15_000, now: t0 + 26_000) else {
            Issue.record("an expired lease is taken over")
            return
        }
        #expect(b.generation == 3 && b.holder == "node-b")
        #expect(try s.renewLease(a2, duration: 15_000, now: t0 + 26_500) == .heldByAnother(b))
        // Given up: another takes it at once, long before it would have expired.
        try s.releaseLease(b)
        guard case .held(let a3) = try s.acquireLease(holder: "node-a", address: "http://a:3000", duration: 15_000, now: t0 + 27_000) else {
            Issue.record("a released lease is free")
            return
        }
        #expect(a3.generation == 5)
        let kept = try client.list(bucket: location.bucket, prefix: location.prefix + "/ws/run/lease/").objects.map(\.key)
        #expect(kept.count == 2, "two generations are kept: \(kept)")
    }

    @Test func manyTakingAnExpiredLeaseAtOnceMakeOneHolder() throws {
        let s = objects("race")
        let t0: UInt64 = 1_800_000_000_000
        _ = try s.acquireLease(holder: "gone", address: "", duration: 1_000, now: t0)
        let outcomes = Locked<[S3LeaseOutcome]>([])
        let failures = Locked<[String]>([])
        let done = DispatchGroup()
        for k in 0..<8 {
            done.enter()
            let racer = objects("race")
            Thread {
                do {
                    let o = try racer.acquireLease(holder: "node-\(k)", address: "http://n\(k)", duration: 15_000, now: t0 + 5_000)
                    outcomes.withLock { $0.append(o) }
                } catch { failures.withLock { $0.append("\(error)") } }
                done.leave()
            }.start()
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        #expect(failures.withLock { $0 } == [])
        let all = outcomes.withLock { $0 }
        let winners = all.compactMap { if case .held(let l) = $0 { l } else { nil } }
        #expect(winners.count == 1, "\(all)")
        let told = Set(all.compactMap { if case .heldByAnother(let l) = $0 { l.holder } else { nil } })
        #expect(told == Set(winners.map(\.holder)), "the others are told the winner")
    }

    @Test func aLeaseObjectThatIsNotALeaseIsRefusedByName() throws {
        let s = objects("hostile")
        let key = location.prefix + "/ws/hostile/lease/00000000000000000001.json"
        for body in ["{}", "{\"version\":1,\"generation\":1,\"holder\":\"\",\"address\":\"\",\"expiresAt\":1}", "\u{0}\u{1}"] {
            try client.put(bucket: location.bucket, key: key, body: Data(body.utf8))
            let error = #expect(throws: S3Error.self) { try s.currentLease() }
            #expect(error?.message.contains("s3://\(location.bucket)/\(key)") == true, "\(error?.message ?? "")")
        }
    }
}
