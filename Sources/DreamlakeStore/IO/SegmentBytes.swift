// What a reader reads a segment through. Usually its file in `segments/`;
// for a store whose sealed segments live elsewhere (an object store root,
// whose reader's folder holds the commit log but not the segments), ranged
// reads of wherever they are.

/// The bytes of one segment, read at offsets.
package protocol SegmentBytes: AnyObject, Sendable {
    /// Where the bytes are, for error messages: a path or a URL.
    var path: String { get }
    /// Up to `count` bytes from `offset`; fewer only where the segment ends.
    func read(at offset: UInt64, count: Int) throws(IOFailure) -> [UInt8]
    /// The segment's length in bytes.
    func size() throws(IOFailure) -> UInt64
    /// Releases what reading held (a descriptor, cached bytes).
    func close() throws(IOFailure)
}

extension File: SegmentBytes {}

/// Sealed segments a reader finds outside its folder. A segment file in the
/// folder is read from there; one that is not there is asked for here.
/// Everything named here is sealed: its blocks were in place before any
/// commit record named them, and its bytes never change.
package protocol RemoteSegments: Sendable {
    /// The sealed segment with file name `name` (`wNNNN-NNNNNNNN.dls`), or nil when there is none of that name.
    func segment(named name: String) throws(IOFailure) -> (any SegmentBytes)?
    /// The whole of a sealed segment's small companion file `name` (its summaries, `.dlm`), or nil when there is none.
    func companion(named name: String) throws(IOFailure) -> [UInt8]?
}
