import Glibc

/// What ``Store/verify(directory:)`` found.
public struct VerifyReport: Sendable, CustomStringConvertible {
    /// Segment files walked.
    public var segments = 0
    /// Sound blocks read, checked and decoded.
    public var blocks = 0
    /// Records in those blocks.
    public var records: UInt64 = 0
    /// Bytes of segment files walked.
    public var bytes: UInt64 = 0
    /// Damage: blocks whose checksum fails or that do not decode, gaps in a
    /// stream, a sealed segment that ends badly. Any of these makes the store unsound.
    public var damage: [RecoveryReport.Damage] = []
    /// An unfinished last block at the end of the active segment: a writer was
    /// interrupted (or is writing); recovery cuts it, and nothing acknowledged is in it.
    public var tornTails: [RecoveryReport.TornTail] = []
    /// Index files that are missing or do not match their segment; a writer
    /// rebuilds them when it opens the store, from the data, which is intact.
    public var staleIndexes: [String] = []
    /// Summary files that are ignored because they do not decode or do not
    /// fit their segment (envelopes compute summaries from the blocks instead).
    public var ignoredSummaries: [String] = []
    /// Summaries that pass every check of their own but say otherwise than
    /// their block (file and block offset): envelopes would read them, so the
    /// store is not sound until the file is deleted.
    public var wrongSummaries: [(path: String, offset: UInt64)] = []
    /// The process holding the writer lock, when one is running.
    public var writerPID: Int32?

    /// Whether the store is sound: no damage and no summary that disagrees
    /// with its block (torn tails, stale indexes and ignored summary files lose nothing).
    public var isSound: Bool { damage.isEmpty && wrongSummaries.isEmpty }

    public var description: String {
        var lines = ["\(counted(segments, "segment")), \(counted(blocks, "block")), \(counted(records, "record")), \(counted(bytes, "byte")): "
                     + (isSound ? "sound" : "DAMAGED")]
        for d in damage {
            var s = "damage: \(d.reason) at byte \(d.offset) of \(d.path) (\(d.length) bytes"
            if let stream = d.stream { s += ", \(stream)" + (d.sequences.map { " records \($0.lowerBound)...\($0.upperBound)" } ?? "") }
            lines.append(s + ")")
        }
        for t in tornTails { lines.append("torn tail: \(t.bytesDropped) bytes at byte \(t.offset) of \(t.path) (an unfinished write; recovery cuts it)") }
        for p in staleIndexes { lines.append("index: \(p) is missing or does not match its segment (a writer rebuilds it)") }
        for p in ignoredSummaries { lines.append("summaries: \(p) does not fit its segment and is ignored (envelopes decode the blocks instead)") }
        for w in wrongSummaries {
            lines.append("summaries: \(w.path) says otherwise than the block at byte \(w.offset) of its segment; delete the file (envelopes then decode the blocks)")
        }
        if let pid = writerPID { lines.append("writer: process \(pid) holds the lock and may be writing") }
        return lines.joined(separator: "\n")
    }
}

extension Store {
    /// Checks a whole store without changing a byte of it: walks every
    /// segment and checks every block's header and payload checksum, decodes
    /// every block, checks every index against its segment and every stream
    /// for gaps, and looks at the writer lock.
    ///
    /// A store being written may be verified: what the writer has not
    /// finished shows as a torn tail.
    ///
    /// - Throws: ``StoreError`` only when the store cannot be read at all (not
    ///   a store, unreadable files); damage is reported, not thrown.
    public static func verify(directory: String) throws(StoreError) -> VerifyReport {
        var configuration = StoreConfiguration()
        configuration.recovery = .salvage
        configuration.verifySealedSegments = true
        let store = try Store(directory: directory, access: .read, configuration: configuration)
        defer { try? store.close() }
        var report = VerifyReport()
        let recovery = store.recoveryReport
        report.damage = recovery.damage
        report.tornTails = recovery.tornTails
        report.staleIndexes = recovery.rebuiltIndexes
        let dir = directory + "/" + StoreFiles.segmentDirectory
        let ids = try segments(dir)
        report.segments = ids.count
        let log = store.shared.lock.withLock { store.shared.commitLog }
        // A commit log damaged part way says nothing of what follows the damage: the blocks after the last
        // one it still names may be committed, so they are not called a torn tail (which recovery may cut).
        let logDamaged = log.map { log in report.damage.contains { $0.path == log.path } } ?? false
        for n in ids {
            let path = dir + "/" + StoreFiles.segmentName(n)
            if let f = try? File.open(path, .readOnly), let size = try? f.size() {
                report.bytes += size
                try? f.close()
                // With a commit log, what follows a writer's last committed block in its last segment is a
                // write that was not committed (yet, or ever: the slot's next writer cuts it).
                if let log, ids.last(where: { $0.writer == n.writer }) == n {
                    let last = log.lock.withLock { log.lastCommitted(writer: n.writer) }
                    let end = last.flatMap { $0.segment == n.number ? $0.end : nil } ?? UInt64(FormatConstants.segmentHeaderSize)
                    if size > end && logDamaged {
                        report.damage.append(.init(path: path, offset: end, length: size - end,
                                                   reason: "\(size - end) bytes after writer \(n.writer)'s last block the commit log still names: it is damaged before the records that would say whether they were committed"))
                    } else if size > end {
                        report.tornTails.append(.init(path: path, offset: end, bytesDropped: size - end))
                    }
                }
            }
        }
        // The walk checked checksums; decoding checks everything else a reader relies on.
        // In file order, so that what is reported comes in the order of the files.
        let refs = store.shared.lock.withLock { store.shared.refs.values.flatMap { $0 } }
            .sorted { ($0.segment, $0.offset) < ($1.segment, $1.offset) }
        var summaries: [SegmentID: [UInt64: (track: UInt32, summary: BlockSummary)]] = [:]
        for n in ids {
            let path = dir + "/" + StoreFiles.summaryName(n)
            guard FileSystem.kind(path) != .missing else { continue }
            if let file = summaryFile(dir, segment: n, shared: store.shared) {
                summaries[n] = file
            } else {
                report.ignoredSummaries.append(path)
            }
        }
        for ref in refs {
            do throws(StoreError) {
                let batch = try readBatch(ref, shared: store.shared)
                if let entry = summaries[ref.segment]?.removeValue(forKey: ref.offset) {
                    let matches = if case .points(let block) = batch {
                        entry.track == ref.stream.id && entry.summary == BlockSummary(block).moved(to: 0)
                    } else { false }
                    if !matches { report.wrongSummaries.append((dir + "/" + StoreFiles.summaryName(ref.segment), ref.offset)) }
                }
                guard batch.count == Int(ref.count) else {
                    throw corruptError(dir + "/" + StoreFiles.segmentName(ref.segment), ref.offset,
                                       "block decodes to \(batch.count) records, not the \(ref.count) its header says")
                }
                report.blocks += 1
                report.records += UInt64(ref.count)
            } catch {
                report.damage.append(.init(path: error.path ?? dir, offset: error.offset ?? ref.offset, length: UInt64(ref.length),
                                           reason: error.reason ?? error.message, stream: ref.stream,
                                           sequences: ref.firstSequence...(ref.endSequence - 1)))
            }
        }
        // An entry for no block at all is wrong too.
        for (n, left) in summaries.sorted(by: { $0.key < $1.key }) {
            for offset in left.keys.sorted() {
                report.wrongSummaries.append((dir + "/" + StoreFiles.summaryName(n), offset))
            }
        }
        // The writer gives one id per name; a second definition of a name is
        // read under another name (Catalog.apply) but is damage all the same.
        var owner: [String: TrackID] = [:]
        var defined: Set<TrackID> = []
        let definitions = store.shared.lock.withLock { store.shared.refs[.trackMetadata] ?? [] }
        for ref in definitions {
            guard case .trackMetadata(let records)? = try? readBatch(ref, shared: store.shared) else { continue }
            for r in records where defined.insert(r.track).inserted {  // later records of an id are updates
                if let first = owner[r.name] {
                    let renamed = store.shared.lock.withLock { store.shared.catalog.byID[r.track]?.name } ?? r.name
                    report.damage.append(.init(path: dir + "/" + StoreFiles.segmentName(ref.segment), offset: ref.offset,
                                               length: UInt64(ref.length),
                                               reason: "track \(r.track.rawValue) is defined with the name \(r.name), which track \(first.rawValue) already has; its points are read as \(renamed)",
                                               stream: .trackMetadata, sequences: r.sequence...r.sequence))
                } else {
                    owner[r.name] = r.track
                }
            }
        }
        // Points of a track id that nothing names have no name to be read by: lost to every reader.
        let (streams, known) = store.shared.lock.withLock { (store.shared.refs, Set(store.shared.catalog.byID.keys)) }
        for (stream, blocks) in streams.sorted(by: { $0.key.id < $1.key.id }) where stream.kind == .trackPoint {
            guard !known.contains(TrackID(rawValue: stream.id)), let first = blocks.first else { continue }
            let points = blocks.reduce(UInt64(0)) { $0 + UInt64($1.count) }
            report.damage.append(.init(path: dir + "/" + StoreFiles.segmentName(first.segment), offset: first.offset, length: UInt64(first.length),
                                       reason: "\(points) points of track \(stream.id), which no track name record or definition names: no reader can name them",
                                       stream: stream, sequences: 0...(points - 1)))
        }
        report.writerPID = liveWriter(directory: directory)
        return report
    }

    /// The pid of a writer that holds one of the store's writer locks, if any.
    /// - Parameter locks: The kernel's lock table as read once for many stores (``HeldFlocks/current()``);
    ///   nil to read it when the store has a lock file.
    package static func liveWriter(directory: String, locks: HeldFlocks? = nil) -> Int32? {
        liveWriters(directory: directory, locks: locks).first
    }

    /// The pids in the writer lock files whose locks are held, by writer id.
    /// Looked at, never locked: verifying and viewing never stand in a
    /// writer's way. On Linux the kernel's table of locks (`/proc/locks`)
    /// says whether a file's flock is held (a writer that closed the store
    /// and lives on holds none); elsewhere, whether the pid's process lives.
    package static func liveWriters(directory: String, locks: HeldFlocks? = nil) -> [Int32] {
        let names = ((try? FileSystem.list(directory)) ?? []).filter { $0.hasPrefix("writer-") && $0.hasSuffix(".lock") }.sorted()
        guard !names.isEmpty else { return [] }
        let table = locks ?? HeldFlocks.current()
        return names.compactMap { name in
            guard let f = try? File.open(directory + "/" + name, .readOnly) else { return nil }
            defer { try? f.close() }
            guard let bytes = try? f.read(at: 0, count: 32),
                  let pid = Int32(String(decoding: bytes, as: UTF8.self).trimmingWhitespace()), pid > 0 else { return nil }
            var st = stat()
            if let table, fstat(f.fd, &st) == 0 {
                let dev = UInt64(st.st_dev)
                let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
                let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
                return table.files.contains(HeldFlocks.File(major: major, minor: minor, inode: UInt64(st.st_ino))) ? pid : nil
            }
            // The lock is held while the process that wrote the pid runs (the flock ends with it).
            return kill(pid, 0) == 0 || errno == EPERM ? pid : nil
        }
    }
}

/// The files on which the kernel's lock table (`/proc/locks`) shows a held flock: read once, it answers
/// for every store a viewer lists.
package struct HeldFlocks: Sendable {
    /// A file, as the table names it: its device's major and minor numbers and its inode.
    package struct File: Hashable, Sendable {
        var major: UInt64
        var minor: UInt64
        var inode: UInt64
    }

    package let files: Set<File>

    /// The table as it is now; nil where there is none (not Linux).
    package static func current() -> HeldFlocks? {
        guard let f = try? DreamlakeStore.File.open("/proc/locks", .readOnly, followingLinks: true) else { return nil }
        defer { try? f.close() }
        return HeldFlocks(table: (try? f.read(at: 0, count: 1 << 20)) ?? [])
    }

    /// The flocks of `table`: lines such as "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF", one on
    /// device 08:01 (hex), inode 1234. Read as bytes, fields split at runs of spaces; a line of any other
    /// form (another kind of lock, a waiter's "->", numbers that are not) names none.
    package init(table: [UInt8]) {
        func number(_ digits: ArraySlice<UInt8>, radix: Int) -> UInt64? { UInt64(String(decoding: digits, as: UTF8.self), radix: radix) }
        var files = Set<File>()
        for line in table.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 6)
            guard fields.count >= 6, fields[1].elementsEqual("FLOCK".utf8) else { continue }
            let id = fields[5].split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            if id.count == 3, let major = number(id[0], radix: 16), let minor = number(id[1], radix: 16),
               let inode = number(id[2], radix: 10) {
                files.insert(File(major: major, minor: minor, inode: inode))
            }
        }
        self.files = files
    }
}
