import DreamlakeStore
import Foundation

// Who writes a session now, when several machines could: a lease kept in the
// bucket as numbered objects, each created only if absent (Ceph 16 has no
// conditional overwrite, but create-if-absent is exact): generation G + 1 is
// written by exactly one of those who try, so every change of holder, renewal
// and release is decided by the store. FORMAT.md, "Leases".

/// A session's write lease in the bucket: `SESSION/lease/<generation, 20 digits>.json`.
package struct S3Lease: Sendable, Equatable {
    /// Counts up from 1; the highest one is the lease.
    package var generation: UInt64
    /// Who holds it: a name unique to one process (a node of `dreamlake serve`).
    package var holder: String
    /// Where the holder takes requests (a URL), for those it sends there; may be empty.
    package var address: String
    /// When it ends, in milliseconds since 1970 (UTC). 0: released.
    package var expiresAt: UInt64

    /// Whether it is held at `now` (milliseconds since 1970).
    package func isHeld(at now: UInt64) -> Bool { expiresAt > now }

    /// The object's bytes: JSON with its keys in this order.
    package func encoded() -> Data {
        let text = "{\"version\":1,\"generation\":\(generation),\"holder\":\(Self.quoted(holder)),"
            + "\"address\":\(Self.quoted(address)),\"expiresAt\":\(expiresAt)}"
        return Data(text.utf8)
    }

    private static func quoted(_ s: String) -> String {
        let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads a lease object, checking every field (the bucket is not trusted).
    package static func decode(_ data: Data, key: String) throws(S3Error) -> S3Lease {
        func bad(_ why: String) -> S3Error { S3Error(.badAnswer, "the lease \(key) is not valid: \(why)") }
        struct Wire: Decodable {
            var version: UInt64
            var generation: UInt64
            var holder: String
            var address: String
            var expiresAt: UInt64
        }
        guard data.count <= 64 << 10 else { throw bad("it is over 64 KiB") }
        let wire: Wire
        do { wire = try JSONDecoder().decode(Wire.self, from: data) } catch { throw bad("\(error)") }
        guard wire.version == 1 else { throw bad("version is not 1") }
        guard wire.generation >= 1, wire.generation < 1 << 62 else { throw bad("generation \(wire.generation) is out of range") }
        guard !wire.holder.isEmpty, wire.holder.utf8.count <= 1024, wire.address.utf8.count <= 4096 else {
            throw bad("holder or address is empty or too long")
        }
        return S3Lease(generation: wire.generation, holder: wire.holder, address: wire.address, expiresAt: wire.expiresAt)
    }
}

/// What trying to take or keep a lease came to.
package enum S3LeaseOutcome: Sendable, Equatable {
    /// The caller holds it, as this generation says, until its `expiresAt`.
    case held(S3Lease)
    /// Another holds it until its `expiresAt`: send the work to its `address`, or wait.
    case heldByAnother(S3Lease)
}

extension S3SessionObjects {
    func leaseKey(_ generation: UInt64) -> String { "\(base)/lease/\(Self.pad(generation)).json" }

    /// The session's newest lease object; nil when it never had one.
    package func currentLease() throws(S3Error) -> S3Lease? {
        try newest("lease", key: leaseKey, limit: 64 << 10, decode: S3Lease.decode, generation: \.generation)
    }

    /// Takes the lease for `holder`, or renews it when `holder` has it: writes the next generation,
    /// ending `duration` milliseconds after `now`, unless another holds it at `now`. When another
    /// process writes that generation first, what it wrote decides.
    ///
    /// The lease is only as good as the clocks: a holder stops writing before `expiresAt` by its own
    /// clock, with a margin larger than the clocks' disagreement.
    package func acquireLease(holder: String, address: String, duration: UInt64,
                              now: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)) throws(S3Error) -> S3LeaseOutcome {
        for _ in 0..<10 {
            let current = try currentLease()
            if let current, current.holder != holder, current.isHeld(at: now) { return .heldByAnother(current) }
            let next = S3Lease(generation: (current?.generation ?? 0) + 1, holder: holder, address: address,
                               expiresAt: now &+ duration)
            if try client.put(bucket: bucket, key: leaseKey(next.generation), body: next.encoded(), ifAbsent: true) {
                // Two generations stay: a reader that listed just before this one still finds the one before.
                if next.generation > 2 { try? client.delete(bucket: bucket, key: leaseKey(next.generation - 2)) }
                return .held(next)
            }
            // Another wrote this generation first: read it and decide again.
        }
        throw S3Error(.failed, "could not settle the lease of \(url): other processes kept writing it")
    }

    /// Renews a lease `holder` holds as `lease` says: fails with `.heldByAnother` when a later
    /// generation was written meanwhile (it expired and was taken over: stop writing).
    package func renewLease(_ lease: S3Lease, duration: UInt64,
                            now: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)) throws(S3Error) -> S3LeaseOutcome {
        let next = S3Lease(generation: lease.generation + 1, holder: lease.holder, address: lease.address, expiresAt: now &+ duration)
        if try client.put(bucket: bucket, key: leaseKey(next.generation), body: next.encoded(), ifAbsent: true) {
            if next.generation > 2 { try? client.delete(bucket: bucket, key: leaseKey(next.generation - 2)) }
            return .held(next)
        }
        guard let current = try currentLease() else {
            throw S3Error(.badAnswer, "the lease objects of \(url) are gone")
        }
        return current.holder == lease.holder && current.generation > lease.generation ? .held(current) : .heldByAnother(current)
    }

    /// Gives the lease up (a generation that is already over), so that another may take it at once.
    /// Does nothing when another holds it by now.
    package func releaseLease(_ lease: S3Lease) throws(S3Error) {
        let next = S3Lease(generation: lease.generation + 1, holder: lease.holder, address: lease.address, expiresAt: 0)
        if try client.put(bucket: bucket, key: leaseKey(next.generation), body: next.encoded(), ifAbsent: true),
           next.generation > 2 {
            try? client.delete(bucket: bucket, key: leaseKey(next.generation - 2))
        }
    }
}

/// A lease one process keeps on a session's writes (a `serve` node's): taken, renewed, given up, and
/// the fence its uploads pass before each round, so that a holder that lost the lease (it stalled past
/// its end, and another took it) uploads nothing more.
package final class S3LeaseKeeper: Sendable {
    package let objects: S3SessionObjects
    /// Who holds it: unique to one process.
    package let holder: String
    /// Where the holder takes requests, for those sent to it.
    package let address: String
    /// How long a lease lasts unless renewed, in milliseconds.
    package let duration: UInt64

    private struct State {
        var lease: S3Lease?
        /// The lease of the one that took it over, once seen.
        var takenBy: S3Lease?
    }
    private let state = Locked(State())

    package init(objects: S3SessionObjects, holder: String, address: String, duration: UInt64) {
        self.objects = objects
        self.holder = holder
        self.address = address
        self.duration = duration
    }

    /// The lease as last taken or renewed.
    package var lease: S3Lease? { state.withLock { $0.lease } }

    /// Takes the lease (or renews it, when this holder has it).
    package func take(now: UInt64 = S3LeaseKeeper.now()) throws(S3Error) -> S3LeaseOutcome {
        let outcome = try objects.acquireLease(holder: holder, address: address, duration: duration, now: now)
        if case .held(let lease) = outcome { state.withLock { $0 = State(lease: lease) } }
        return outcome
    }

    /// Renews the lease held; `.heldByAnother` once it was taken over (then the fence refuses for good).
    package func renew(now: UInt64 = S3LeaseKeeper.now()) throws(S3Error) -> S3LeaseOutcome? {
        guard let lease = lease, state.withLock({ $0.takenBy == nil }) else { return nil }
        let outcome = try objects.renewLease(lease, duration: duration, now: now)
        state.withLock { s in
            switch outcome {
            case .held(let renewed): s.lease = renewed
            case .heldByAnother(let other): s.takenBy = other
            }
        }
        return outcome
    }

    /// For a holder that keeps its lease itself (a session's writer, renewing it on a thread): renews the
    /// lease held, or takes it when none is yet (the store did not answer when the session opened). A
    /// lease another holds when this one should have it ends this keeper's hold for good, as a takeover does.
    package func keep(now: UInt64 = S3LeaseKeeper.now()) throws(S3Error) -> S3LeaseOutcome? {
        let (held, taken) = state.withLock { ($0.lease != nil, $0.takenBy != nil) }
        if held || taken { return try renew(now: now) }
        let outcome = try take(now: now)
        if case .heldByAnother(let other) = outcome { state.withLock { $0.takenBy = other } }
        return outcome
    }

    /// Gives the lease up, so that another may take it at once; the fence refuses from then on.
    package func release() {
        guard let lease = state.withLock({ s -> S3Lease? in defer { s.lease = nil }; return s.takenBy == nil ? s.lease : nil }) else { return }
        try? objects.releaseLease(lease)
    }

    /// Whether the lease is held until at least a sixth of its duration past `now`.
    package func isHeld(now: UInt64 = S3LeaseKeeper.now()) -> Bool { state.withLock { held($0, now) } }

    private func held(_ s: State, _ now: UInt64) -> Bool {
        s.takenBy == nil && (s.lease.map { $0.expiresAt > now &+ duration / 6 } ?? false)
    }

    /// Throws unless the lease is held with a sixth of its duration to spare: for good (an error whose
    /// ``S3Error/isSuperseded``) once another took it over, else (it ran out while renewals failed)
    /// until a renewal succeeds.
    package func fence(directory: String, now: UInt64 = S3LeaseKeeper.now()) throws(S3Error) {
        let (isHeld, takenBy, taken) = state.withLock { s in (held(s, now), s.takenBy, s.lease != nil) }
        if isHeld { return }
        if takenBy == nil && !taken {
            throw S3Error(.failed, "this process has not taken the lease of \(objects.url) yet (the store did not answer): nothing is uploaded until it does")
        }
        if let takenBy {
            throw S3Error(.refused, "this process's lease of \(objects.url) was taken over by \(takenBy.holder): it uploads nothing more, "
                          + "and what it holds past its last upload stays in the spool \(directory)", code: S3Error.supersededCode)
        }
        throw S3Error(.failed, "this process's lease of \(objects.url) has run out (its renewals failed): nothing is uploaded until it is renewed")
    }

    /// Milliseconds since 1970, as leases count them.
    package static func now() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }
}
