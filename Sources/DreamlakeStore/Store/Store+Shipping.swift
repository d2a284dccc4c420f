// What of a store is in files that never change again, for copying them
// elsewhere (an object store root uploads them): the sealed segments, and
// the longest prefix of the commit log whose blocks are all in them.

/// A store's part that no writer changes again: sealed segments and a prefix of the commit log.
package struct SealedPart: Sendable, Equatable {
    /// A sealed segment: its files' names (segment, index, and summaries when written) and its length.
    package struct Segment: Sendable, Equatable {
        /// The segment file's name, `wWWWW-SSSSSSSS.dls`.
        package var name: String
        /// Its index's name (`.dli`).
        package var indexName: String
        /// Its summary file's name (`.dlm`), when it has one.
        package var summaryName: String?
        /// The segment's length in bytes.
        package var length: UInt64
    }

    /// Bytes of `commits.dlc` from its start, ending at a record boundary, that
    /// commit only blocks of `segments`.
    package var commitLogLength: UInt64
    /// Every sealed segment, by writer and number.
    package var segments: [Segment]
}

extension Store {
    /// The file name of a store's commit log.
    package static var commitLogName: String { CommitLog.fileName }
    /// The folder of a store's segments, relative to the store.
    package static var segmentFolderName: String { StoreFiles.segmentDirectory }

    /// The sealed part of the store at `directory`, as it is now (it only grows).
    ///
    /// A segment is sealed when its index is there and its writer started a later one, or nothing
    /// follows its writer's last committed block in it: the writer seals a segment (fsync, index,
    /// summaries) before it makes the next, and a writer opening on a sealed last segment (a copy of
    /// an object store's session, or one a crash left between sealing and starting the next) starts a
    /// new one rather than append to it. Works while writers append; reads only whole records.
    package static func sealedPart(directory: String) throws(StoreError) -> SealedPart {
        let segmentDir = directory + "/" + StoreFiles.segmentDirectory
        let ids = FileSystem.isDirectory(segmentDir) ? try segments(segmentDir) : []
        var last: [UInt32: UInt64] = [:]
        for id in ids { last[id.writer] = max(last[id.writer] ?? 0, id.number) }
        // Read after the listing: its records may name segments made since, which are not sealed here.
        let log = try CommitLog.open(directory + "/" + CommitLog.fileName, writing: false)
        defer { log.close() }
        let news = try log.lock.withLock { () throws(StoreError) in try log.catchUp(cut: false, salvage: false) }
        var sealed: [SealedPart.Segment] = []
        var sealedIDs = Set<SegmentID>()
        for id in ids {
            let indexName = StoreFiles.indexName(id)
            guard FileSystem.kind(segmentDir + "/" + indexName) == .regular else { continue }
            let length: UInt64
            do { length = try File.open(segmentDir + "/" + StoreFiles.segmentName(id), .readOnly).size() } catch {
                throw StoreError(error)
            }
            if id.number == last[id.writer] {
                guard let committed = log.lastCommitted(writer: id.writer), committed.segment == id.number, committed.end == length else { continue }
            }
            let summary = StoreFiles.summaryName(id)
            sealed.append(SealedPart.Segment(name: StoreFiles.segmentName(id), indexName: indexName,
                                             summaryName: FileSystem.kind(segmentDir + "/" + summary) == .regular ? summary : nil,
                                             length: length))
            sealedIDs.insert(id)
        }
        var length = log.position
        if let first = zip(news.refs, news.recordOffsets).first(where: { !sealedIDs.contains($0.0.segment) }) {
            length = first.1
        }
        return SealedPart(commitLogLength: length, segments: sealed)
    }
}

extension Store {
    /// Whether the commit log of the store at `directory` names blocks in segments that are not in its
    /// folder: a reader's copy of an object store root's session, whose segments were read where they are.
    /// A writer needs them all (it continues its last one, and it uploads from the folder).
    package static func lacksCommittedSegments(directory: String) throws(StoreError) -> Bool {
        let segmentDir = directory + "/" + StoreFiles.segmentDirectory
        guard FileSystem.kind(directory + "/" + CommitLog.fileName) == .regular else { return false }
        let here = Set(FileSystem.isDirectory(segmentDir) ? try segments(segmentDir) : [])
        let log = try CommitLog.open(directory + "/" + CommitLog.fileName, writing: false)
        defer { log.close() }
        let news = try log.lock.withLock { () throws(StoreError) in try log.catchUp(cut: false, salvage: false) }
        return news.refs.contains { !here.contains($0.segment) }
    }
}

extension Store {
    /// Whether `name` is a segment's (`wWWWW-SSSSSSSS.dls`), index's (`.dli`) or summary file's (`.dlm`)
    /// name: what a manifest from elsewhere may name in a store's segment folder, and nothing else.
    package static func isSegmentFolderFileName(_ name: String) -> Bool {
        for ext in [".dli", ".dlm"] where name.hasSuffix(ext) {
            return StoreFiles.parseSegmentName(String(name.dropLast(4)) + ".dls") != nil
        }
        return StoreFiles.parseSegmentName(name) != nil
    }
}
