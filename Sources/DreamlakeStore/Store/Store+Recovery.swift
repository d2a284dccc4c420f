// Opening a store's segments: sealed segments through their indexes (or a
// walk when the index is missing, stale or when verification is asked for),
// the active segment always by a walk, cutting a torn tail when writing.

extension Store {
    static func corruptError(_ path: String, _ offset: UInt64, _ reason: String) -> StoreError {
        var e = StoreError(.corrupt, "\(reason): the store is damaged; open it with recovery: .salvage to read everything else, or restore it from a copy",
                           path: path, offset: offset)
        e.reason = reason
        return e
    }

    /// A small file's bytes (an index: 40 bytes per block).
    static func readWhole(_ path: String) throws(IOFailure) -> [UInt8] {
        let f = try File.open(path, .readOnly)
        let size = try f.size()
        guard size <= UInt64(FormatConstants.maxBlockPayload) else { return [] }  // no real index is this large
        return try f.read(at: 0, count: Int(size))
    }

    /// The segments in `dir`, by writer and number.
    static func segments(_ dir: String) throws(StoreError) -> [SegmentID] {
        let names: [String]
        do { names = try FileSystem.list(dir) } catch { throw StoreError(error) }
        return names.compactMap(StoreFiles.parseSegmentName).map { SegmentID(writer: $0.writer, number: $0.segment) }.sorted()
    }

    /// The numbers of `writer`'s segments in `dir`, in order.
    static func segmentNumbers(_ dir: String, writer: UInt32 = 0) throws(StoreError) -> [UInt64] {
        try segments(dir).filter { $0.writer == writer }.map(\.number)
    }

    /// Recovers every segment of writer 0 into `shared`; returns the active
    /// segment (for a writer: open read-write, its tail cut; for a reader: its sound end).
    static func recover(segmentDirectory dir: String, shared: SharedState, configuration: StoreConfiguration,
                        writing: Bool, report: inout RecoveryReport) throws(StoreError) -> Writer.ActiveSegment? {
        let numbers = try segmentNumbers(dir)
        let salvage = configuration.recovery == .salvage
        var allRefs: [BlockRef] = []

        for n in numbers.dropLast() {
            let id = SegmentID(writer: 0, number: n)
            let path = dir + "/" + StoreFiles.segmentName(id)
            let file: File
            let size: UInt64
            do {
                file = try File.open(path, .readOnly)
                size = try file.size()
            } catch { throw StoreError(error) }
            let indexPath = dir + "/" + StoreFiles.indexName(writer: 0, segment: n)
            var indexRefs: [BlockRef]?
            if FileSystem.exists(indexPath), let bytes = try? readWhole(indexPath),
               case .success(let refs) = SegmentIndex.decode(bytes, writer: 0, segment: n, segmentLength: size) {
                indexRefs = refs
            }
            var refs: [BlockRef]
            if let indexRefs, !configuration.verifySealedSegments, !salvage {
                refs = indexRefs
            } else {
                guard let scan = try scanSegment(file, path: path, segment: id, salvage: salvage, report: &report) else {
                    continue  // unreadable header, reported in salvage mode
                }
                if let tail = scan.tailReason {
                    // A sealed segment was fsync'd whole before the next began: a bad end is damage, not a torn tail.
                    guard salvage else { throw corruptError(path, scan.end, tail) }
                    report.damage.append(.init(path: path, offset: scan.end, length: scan.fileSize - scan.end, reason: tail,
                                               stream: scan.tailHeader?.stream, sequences: scan.tailHeader.map { $0.firstSequence...$0.lastSequence }))
                }
                refs = scan.blocks
                if indexRefs != refs {
                    if writing {
                        let bytes = SegmentIndex.encode(writer: 0, segment: n, segmentLength: size, blocks: refs)
                        do { try FileSystem.replaceAtomically(indexPath, with: bytes) } catch { throw StoreError(error) }
                    }
                    report.rebuiltIndexes.append(indexPath)
                }
            }
            shared.files[id] = file
            allRefs += refs
        }

        var active: Writer.ActiveSegment?
        if let last = numbers.last {
            active = try recoverActive(dir: dir, segment: last, writing: writing, salvage: salvage, report: &report)
            if let active {
                shared.files[SegmentID(writer: 0, number: active.number)] = active.file
                allRefs += active.blocks
            }
        }
        if active == nil && writing {
            let next = (numbers.last ?? 0) + 1
            do {
                let file = try createSegment(directory: dir, writer: 0, segment: next)
                active = Writer.ActiveSegment(file: file, number: next, end: UInt64(FormatConstants.segmentHeaderSize), blocks: [])
                shared.files[SegmentID(writer: 0, number: next)] = file
            } catch { throw StoreError(error) }
        }

        try index(allRefs, into: shared, dir: dir, salvage: salvage, report: &report)
        try loadCatalog(shared)
        return active
    }

    /// Walks a segment; turns damage into an error (strict) or report entries (salvage).
    /// Returns nil when the segment header itself is unreadable and salvage skips the file.
    static func scanSegment(_ file: File, path: String, segment: SegmentID, salvage: Bool,
                                    report: inout RecoveryReport) throws(StoreError) -> SegmentScan? {
        let scan: SegmentScan
        do {
            scan = try SegmentScanner.scan(file, segment: segment)
        } catch {
            switch error {
            case .io(let f): throw StoreError(f)
            case .header(.unsupportedVersion(let v)):
                throw StoreError(.unsupportedVersion, FormatConstants.unsupportedSegmentVersion(v), path: path, offset: 8)
            case .header(let p):
                guard salvage else { throw corruptError(path, 0, "unreadable segment header (\(p))") }
                let size = (try? file.size()) ?? 0
                report.damage.append(.init(path: path, offset: 0, length: size, reason: "unreadable segment header (\(p))"))
                return nil
            }
        }
        for bad in scan.bad {
            guard salvage else { throw corruptError(path, bad.offset, bad.reason) }
            report.damage.append(.init(path: path, offset: bad.offset, length: bad.length, reason: bad.reason,
                                       stream: bad.header?.stream, sequences: bad.header.map { $0.firstSequence...$0.lastSequence }))
        }
        return scan
    }

    private static func recoverActive(dir: String, segment n: UInt64, writing: Bool, salvage: Bool,
                                      report: inout RecoveryReport) throws(StoreError) -> Writer.ActiveSegment? {
        let path = dir + "/" + StoreFiles.segmentName(writer: 0, segment: n)
        let file: File
        let size: UInt64
        do {
            file = try File.open(path, writing ? .readWrite : .readOnly)
            size = try file.size()
        } catch { throw StoreError(error) }
        let headerBytes: [UInt8]
        do { headerBytes = try file.read(at: 0, count: FormatConstants.segmentHeaderSize) } catch { throw StoreError(error) }
        // A crash while creating the segment leaves it short or zero: that is a torn tail too.
        if headerBytes.count < FormatConstants.segmentHeaderSize || headerBytes.allSatisfy({ $0 == 0 }) {
            guard writing else {
                return Writer.ActiveSegment(file: file, number: n, end: 0, blocks: [])
            }
            do {
                try file.truncate(to: 0)
                try file.write(SegmentHeader(writer: 0, segment: n).encoded(), at: 0)
                try file.sync()
            } catch { throw StoreError(error) }
            if size > 0 { report.tornTails.append(.init(path: path, offset: 0, bytesDropped: size)) }
            return Writer.ActiveSegment(file: file, number: n, end: UInt64(FormatConstants.segmentHeaderSize), blocks: [])
        }
        guard let scan = try scanSegment(file, path: path, segment: SegmentID(writer: 0, number: n), salvage: salvage, report: &report) else {
            return nil  // salvage: the writer starts a new segment after this one
        }
        if scan.hasUnfinishedTail || scan.end < scan.fileSize {
            if writing {
                do {
                    try file.truncate(to: scan.end)
                    try file.sync()
                } catch { throw StoreError(error) }
            }
            // Zeros after the last block (preallocation) are a clean end; anything else is a torn tail.
            if scan.hasUnfinishedTail {
                report.tornTails.append(.init(path: path, offset: scan.end, bytesDropped: scan.fileSize - scan.end))
            }
        }
        if writing {
            // What a crashed writer left may not have reached the disk's platter
            // yet; one fsync makes it durable before anyone counts on it.
            do { try file.sync() } catch { throw StoreError(error) }
            // An index left by a roll-over that did not finish would be stale once we append.
            let indexPath = dir + "/" + StoreFiles.indexName(writer: 0, segment: n)
            do { try FileSystem.remove(indexPath) } catch { throw StoreError(error) }
            do { try FileSystem.remove(dir + "/" + StoreFiles.summaryName(writer: 0, segment: n)) } catch { throw StoreError(error) }
        }
        return Writer.ActiveSegment(file: file, number: n, end: scan.end, blocks: scan.blocks)
    }

    /// Groups blocks by stream and checks that each stream's sequences run without gaps or overlaps.
    static func index(_ refs: [BlockRef], into shared: SharedState, dir: String, salvage: Bool,
                      report: inout RecoveryReport) throws(StoreError) {
        for ref in refs {
            let end = shared.writtenEnd(ref.stream)
            let path = dir + "/" + StoreFiles.segmentName(ref.segment)
            if ref.firstSequence < end {
                guard salvage else { throw corruptError(path, ref.offset, "block repeats records \(ref.firstSequence)...\(end - 1) of \(ref.stream)") }
                report.damage.append(.init(path: path, offset: ref.offset, length: UInt64(ref.length), reason: "block repeats records of its stream",
                                           stream: ref.stream, sequences: ref.firstSequence...(ref.endSequence - 1)))
                continue
            }
            if ref.firstSequence > end {
                let missing = "records \(end)...\(ref.firstSequence - 1) of \(ref.stream) are missing"
                guard salvage else { throw corruptError(path, ref.offset, missing) }
                // Salvage already reported the damaged blocks that held them, when it found them.
                if !report.damage.contains(where: { $0.stream == ref.stream }) {
                    report.damage.append(.init(path: path, offset: ref.offset, length: 0, reason: missing,
                                               stream: ref.stream, sequences: end...(ref.firstSequence - 1)))
                }
            }
            shared.publish([ref])
        }
    }

    static func loadCatalog(_ shared: SharedState) throws(StoreError) {
        shared.catalog = Catalog()
        for ref in shared.refs[.trackMetadata] ?? [] {
            guard case .trackMetadata(let records) = try readBatch(ref, shared: shared) else { continue }
            for r in records { shared.catalog.apply(r) }
        }
    }
}
