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
        /// What of it a reader opening the session on another machine reads, in increasing order: its
        /// header and its blocks of the session's metadata, parameters, track definitions and file records,
        /// as long as they come to at most ``SealedPart/maxInline`` bytes (the first of them, in order, when
        /// they come to more); empty when it holds none of these blocks.
        package var inline: [Range<UInt64>] = []
    }

    /// The most bytes of a segment ``Segment/inline`` spans.
    package static let maxInline: UInt64 = 16 << 10

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
        // Each segment's blocks of what an opening reads.
        var opening: [SegmentID: [Range<UInt64>]] = [:]
        for ref in news.refs where ref.stream.kind != .trackPoint && ref.stream.kind != .log {
            let (end, overflow) = ref.offset.addingReportingOverflow(UInt64(ref.length))
            if !overflow, ref.offset >= UInt64(FormatConstants.segmentHeaderSize) { opening[ref.segment, default: []].append(ref.offset..<end) }
        }
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
                                             length: length, inline: inlineRanges(opening[id] ?? [], length: length)))
            sealedIDs.insert(id)
        }
        var length = log.position
        if let first = zip(news.refs, news.recordOffsets).first(where: { !sealedIDs.contains($0.0.segment) }) {
            length = first.1
        }
        return SealedPart(commitLogLength: length, segments: sealed)
    }

    /// The header and `blocks` (ranges of a segment of `length` bytes), in order, merged where they touch,
    /// as far as they fit in ``SealedPart/maxInline`` bytes; none when no block fits.
    static func inlineRanges(_ blocks: [Range<UInt64>], length: UInt64) -> [Range<UInt64>] {
        var out: [Range<UInt64>] = [0..<UInt64(FormatConstants.segmentHeaderSize)]
        var total = UInt64(FormatConstants.segmentHeaderSize)
        for block in blocks.sorted(by: { $0.lowerBound < $1.lowerBound }) where block.upperBound <= length {
            let last = out[out.count - 1]
            guard block.lowerBound >= last.upperBound else { continue }  // overlapping (a crafted log): left to be read
            guard total + UInt64(block.count) <= SealedPart.maxInline else { break }
            total += UInt64(block.count)
            if block.lowerBound == last.upperBound { out[out.count - 1] = last.lowerBound..<block.upperBound } else { out.append(block) }
        }
        return total > UInt64(FormatConstants.segmentHeaderSize) ? out : []
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
