/// When appended records are written to disk and fsync'd.
public enum Durability: Sendable, Equatable, CustomStringConvertible {
    /// Blocks are written when they fill, on `flush()` and on close; fsync only
    /// on `flush()` and close. Fastest; a power loss may take what was not flushed.
    case buffered
    /// Everything appended is written and fsync'd within the given number of
    /// milliseconds (a background timer seals partial blocks).
    case interval(milliseconds: Int)
    /// Every append is written and fsync'd before it returns (appends from
    /// several threads share one fsync).
    case always

    public var description: String {
        switch self {
        case .buffered: "buffered"
        case .interval(let ms): "interval:\(ms)"
        case .always: "always"
        }
    }
}

/// What opening a store does with damage it finds.
public enum RecoveryMode: Sendable, Equatable {
    /// A damaged block anywhere but a torn tail fails the open with an error
    /// naming the file and offset.
    case strict
    /// Damaged blocks are skipped and reported in ``RecoveryReport``; everything else is read.
    case salvage
}

/// Settings of a store, chosen when it is opened.
public struct StoreConfiguration: Sendable {
    /// When appends become durable. The default is `.interval(milliseconds: 1000)`.
    public var durability: Durability = .interval(milliseconds: 1000)
    /// Size at which the active segment is sealed and a new one started. The default is 64 MiB.
    public var segmentSize: Int = 64 << 20
    /// Most records in one block. The default is 8192.
    public var maxRecordsPerBlock: Int = 8192
    /// Most bytes of records (before encoding) in one block. The default is 256 KiB.
    public var maxBlockBytes: Int = 256 << 10
    /// Bytes of records the writer holds in open blocks across all tracks
    /// before it seals them sooner. The default is 32 MiB.
    public var maxOpenBytes: Int = 32 << 20
    /// Bytes of sealed blocks waiting for the background writer before
    /// appends wait for it. The default is 16 MiB.
    public var maxPendingBytes: Int = 16 << 20
    /// What to do with damage found on open. The default is `.strict`.
    public var recovery: RecoveryMode = .strict
    /// Whether opening reads and checks (CRC and header) every committed block
    /// (true), or trusts the commit log and the sealed segments' indexes and
    /// checks each block when it is read (false). The default is false, so
    /// that opening costs what the commit log costs, not what the store
    /// holds: a damaged block is still never returned as data, and its read
    /// fails naming the file and offset. `recovery: .salvage` checks every
    /// block whatever this says (it drops the damaged ones), as does
    /// ``Store/verify(directory:)``.
    public var verifySealedSegments: Bool = false
    /// Called on an appending thread after its append sealed a block and handed it to the writer, with
    /// no lock held; it may wait, and so hold that append (an S3 session's spool gate does, while the
    /// spool holds its limit not uploaded). The writer's thread never calls it, nor do `flush()`,
    /// reads, ``Store/sealSegment()`` and `close()`: they go on while appends wait. It is given the raw
    /// bytes of all the blocks handed to the writer since the store opened (by appends and the writer's
    /// own seals), a count that only grows. Nil: none.
    package var afterAppendSealed: (@Sendable (_ handedBytes: UInt64) -> Void)?

    /// The default configuration.
    public init() {}

    /// A configuration with the given durability and defaults otherwise.
    public init(durability: Durability) { self.durability = durability }
}
