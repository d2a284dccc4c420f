import SystemPackage

/// An error from the store: what happened, where, and what to do about it.
///
/// Catch it by ``code``; ``description`` is a sentence for a person.
public struct StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The kinds of failure, for callers that handle some of them. A struct of
    /// constants rather than an enum (as swift-system's `Errno` and GRDB's
    /// `ResultCode`), so that a later version may add a kind without breaking
    /// a caller's `switch`, which ends with `default`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code's name, as ``description`` prints it.
        public let rawValue: String
        /// The code with this name (the constants below are the ones this library throws).
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Another process holds the writer lock of this store.
        public static let locked = Code(rawValue: "locked")
        /// A block, header or index failed its checks: the bytes on disk are damaged.
        public static let corrupt = Code(rawValue: "corrupt")
        /// A file was written by a format version this library does not read (a newer one).
        public static let unsupportedVersion = Code(rawValue: "unsupportedVersion")
        /// The file is not one of ours (wrong magic), or the directory is not a store.
        public static let notAStore = Code(rawValue: "notAStore")
        /// The operating system refused a read, write, fsync or other call.
        public static let io = Code(rawValue: "io")
        /// The caller passed something the store cannot take.
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// The store is closed, or was opened for reading only.
        public static let notWritable = Code(rawValue: "notWritable")
        /// An earlier background write or fsync failed; the writer takes no more appends.
        public static let writerFailed = Code(rawValue: "writerFailed")
        /// What was asked for does not exist.
        public static let notFound = Code(rawValue: "notFound")
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened, and what to do, in words.
    public var message: String
    /// The file concerned, when there is one.
    public var path: String?
    /// The byte offset in ``path`` concerned, when there is one.
    public var offset: UInt64?
    /// For ``Code/locked``: the process id of the lock's holder, when it could be read.
    public var holderPID: Int32?
    /// For ``Code/io``: the system's error (swift-system's `Errno`: `error.errno == .noSpace`,
    /// and a description such as "No space left on device").
    public var errno: Errno?
    /// For ``Code/corrupt``: what was wrong, without the advice ``message`` adds.
    public var reason: String?

    public init(_ code: Code, _ message: String, path: String? = nil, offset: UInt64? = nil,
                holderPID: Int32? = nil, errno: Errno? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.holderPID = holderPID
        self.errno = errno
    }

    public var description: String {
        var where_ = ""
        if let path { where_ = " [\(path)" + (offset.map { " at byte \($0)" } ?? "") + "]" }
        return message + where_
    }

    package init(_ failure: IOFailure, _ advice: String = "check the disk and the permissions of the store's directory") {
        if let offset = failure.damagedAt {
            self.init(.corrupt, failure.message, path: failure.path, offset: offset)
            reason = failure.reason
        } else if failure.refusal != nil || failure.reason != nil {
            self.init(.io, failure.message, path: failure.path)  // the refusal or the reason says what to do
        } else {
            self.init(.io, failure.message + "; " + advice, path: failure.path, errno: Errno(rawValue: failure.errno))
        }
    }
}
