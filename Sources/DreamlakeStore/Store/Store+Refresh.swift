// Following live writers: what they have committed since the last look is
// read from the commit log. In a store without one (format version 1), what
// writer 0 has written is walked and indexed; an incomplete last block is
// "not yet".

extension Store {
    /// Picks up blocks committed (by any writer, this store's own too) since
    /// the store was opened or last refreshed.
    ///
    /// - Returns: Whether anything new was found.
    /// - Throws: ``StoreError`` with `.corrupt` when the commit log or a
    ///   block before the writer's current end is damaged.
    @discardableResult
    public func refresh() throws(StoreError) -> Bool {
        let dir = directory + "/" + StoreFiles.segmentDirectory
        if shared.lock.withLock({ shared.commitLog == nil }), reader != nil,
           FileSystem.kind(directory + "/" + CommitLog.fileName) != .missing {
            // A writer that keeps a commit log has made one since this store was opened: follow it from its start
            // (blocks already known are skipped).
            let log = try CommitLog.open(directory + "/" + CommitLog.fileName, writing: false)
            shared.lock.withLock { shared.commitLog = log }
        }
        if let log = shared.lock.withLock({ shared.commitLog }) {
            let news = try log.lock.withLock { () throws(StoreError) in try log.catchUp(cut: false, salvage: false) }
            let before = shared.lock.withLock { shared.refs.values.reduce(0) { $0 + $1.count } }
            let metadata = Store.absorb(news, into: shared).filter { $0.segment.writer != writer?.writerID }
            Store.applyTrackMetadata(metadata, shared: shared)
            return shared.lock.withLock { shared.refs.values.reduce(0) { $0 + $1.count } } != before || !news.tracks.isEmpty
        }
        guard let reader else { return false }
        reader.lock.lock()
        defer { reader.lock.unlock() }
        let numbers = try Store.segmentNumbers(dir)
        let current = reader.activeSegment
        var newRefs: [BlockRef] = []
        var newFiles: [SegmentID: any SegmentBytes] = [:]
        for n in numbers where current == nil || n >= current! {
            let isLast = n == numbers.last
            let path = dir + "/" + StoreFiles.segmentName(writer: 0, segment: n)
            let file: File
            let id = SegmentID(writer: 0, number: n)
            if n == current, let f = shared.lock.withLock({ shared.files[id] as? File }) {
                file = f
            } else {
                do { file = try File.open(path, .readOnly) } catch { throw StoreError(error) }
                newFiles[id] = file
            }
            let resume = n == current && reader.activeEnd >= UInt64(FormatConstants.segmentHeaderSize) ? reader.activeEnd : nil
            let scan: SegmentScan
            do {
                scan = try SegmentScanner.scan(file, segment: id, from: resume)
            } catch {
                switch error {
                case .io(let f): throw StoreError(f)
                case .header(.unsupportedVersion(let v)):
                    throw StoreError(.unsupportedVersion, FormatConstants.unsupportedSegmentVersion(v), path: path, offset: 8)
                case .header(.namesAnotherFile(let w, let s)):
                    throw Store.corruptError(path, 0, "segment header says writer \(w), segment \(s), which is not this file's name")
                case .header:
                    // The writer has created the file but not yet written its header.
                    if isLast { reader.activeSegment = n; reader.activeEnd = 0; continue }
                    throw Store.corruptError(path, 0, "unreadable segment header")
                }
            }
            if let bad = scan.bad.first { throw Store.corruptError(path, bad.offset, bad.reason) }
            if scan.hasUnfinishedTail && !isLast { throw Store.corruptError(path, scan.end, scan.tailReason ?? "damage") }
            newRefs += scan.blocks
            reader.activeSegment = n
            reader.activeEnd = scan.end
        }
        guard !newRefs.isEmpty || !newFiles.isEmpty else { return false }
        var report = RecoveryReport()
        try shared.lock.withLock { () throws(StoreError) in
            for (n, f) in newFiles { shared.files[n] = f }
            try Store.index(newRefs, into: shared, dir: dir, salvage: false, report: &report)
        }
        let metadataRefs = newRefs.filter { $0.stream == .trackMetadata }
        for ref in metadataRefs {
            guard case .trackMetadata(let records) = try Store.readBatch(ref, shared: shared) else { continue }
            shared.lock.withLock { for r in records { shared.catalog.apply(r) } }
        }
        return !newRefs.isEmpty
    }
}
