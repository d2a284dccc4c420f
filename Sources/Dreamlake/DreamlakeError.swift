import DreamlakeS3

/// An error from the session API: what happened, and what to do about it.
public struct DreamlakeError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The kinds of failure, for callers that handle some of them. A struct of
    /// constants rather than an enum, so that a later version may add a kind
    /// without breaking a caller's `switch`, which ends with `default`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code's name, as ``description`` prints it.
        public let rawValue: String
        /// The code with this name (the constants below are the ones this library throws).
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A workspace, session, track, file or path name was refused.
        public static let invalidName = Code(rawValue: "invalidName")
        /// The session is not open (never opened, or closed).
        public static let notOpen = Code(rawValue: "notOpen")
        /// The session is write-protected: nothing may be written to it.
        public static let writeProtected = Code(rawValue: "writeProtected")
        /// The session was opened for reading only (``Session/openForReading()``).
        public static let readOnly = Code(rawValue: "readOnly")
        /// What was asked for does not exist.
        public static let notFound = Code(rawValue: "notFound")
        /// A stored file's bytes no longer match their checksum, or an object of an S3 root is not the one
        /// its session's manifest names (its SHA-256 or ETag differs: it was replaced in the bucket).
        public static let checksumMismatch = Code(rawValue: "checksumMismatch")
        /// A value could not be turned into parameters or points.
        public static let invalidValue = Code(rawValue: "invalidValue")
        /// An argument is out of its range (a rank over 9999, say).
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// The storage engine failed; ``storeError`` says how.
        public static let store = Code(rawValue: "store")
        /// A file could not be read or written.
        public static let io = Code(rawValue: "io")
        /// Input to import is not what it should be: malformed JSON, a missing
        /// or wrong field, a name that would escape the store. ``path`` and
        /// ``line`` say where.
        public static let invalidInput = Code(rawValue: "invalidInput")
        /// The target already exists and would be overwritten.
        public static let exists = Code(rawValue: "exists")
        /// A remote session's server refused something, or could not be
        /// reached in time; the message says what was not delivered (it stays
        /// in the local store and is sent when the session is opened again).
        public static let remote = Code(rawValue: "remote")
        /// Another machine writes what this call would write (a session of an S3 root, opened for
        /// writing elsewhere): the message says which, and when to try again.
        public static let busy = Code(rawValue: "busy")
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened, and what to do, in words.
    public var message: String
    /// The engine's error, when the engine failed.
    public var storeError: StoreError?
    /// The file the error is about, when there is one.
    public var path: String?
    /// The line of ``path`` (from 1), when the error is about one line.
    public var line: Int?
    /// For a session of an S3 root: the HTTP status of the store's answer that failed the call, when
    /// there was one (after the retries S3 clients make).
    public var httpStatus: Int? { s3Answer?.status }
    /// For a session of an S3 root: S3's error code in that answer (`SlowDown`, `AccessDenied`, ...),
    /// when it had one (an answer to HEAD has none).
    public var s3Code: String? { s3Answer?.code }
    /// For a session of an S3 root: whether calling again later may succeed (the store was unreachable,
    /// or answered 5xx, 429 or 408); nil for a failure that was not a request to the store.
    public var isRetryable: Bool? { s3Answer?.isRetryable }

    /// What the S3 store answered, in a box of its own, so that this error keeps the size it had: with
    /// the three fields stored inline, Swift 6.3.1's debug build jumped to address 0 when a log handler
    /// caught the error (`LoggingAndMetricsTests.writesAfterCloseAreReportedNotLost`), a toolchain fault
    /// not reduced further; one reference more does not.
    private final class S3Answer: Sendable, Equatable {
        let status: Int?
        let code: String?
        let isRetryable: Bool
        init(status: Int?, code: String?, isRetryable: Bool) {
            self.status = status
            self.code = code
            self.isRetryable = isRetryable
        }
        static func == (a: S3Answer, b: S3Answer) -> Bool { a.status == b.status && a.code == b.code && a.isRetryable == b.isRetryable }
    }
    private var s3Answer: S3Answer?

    /// An error of `code` with `message`.
    public init(_ code: Code, _ message: String, storeError: StoreError? = nil, path: String? = nil, line: Int? = nil) {
        self.code = code
        self.message = message
        self.storeError = storeError
        self.path = path
        self.line = line
    }

    package init(_ e: StoreError) {
        self.init(.store, e.description, storeError: e)
    }

    /// A failed request to an S3 root, its answer kept in ``httpStatus``, ``s3Code`` and
    /// ``isRetryable``; `message` says what failed (the S3 error's own message when nil).
    /// An object that is not the one its manifest names (replaced in the bucket) is ``Code/checksumMismatch``.
    package init(_ e: S3Error, _ message: String? = nil, path: String? = nil) {
        self.init(e.isReplaced ? .checksumMismatch : .io, message ?? e.message, path: path)
        s3Answer = S3Answer(status: e.status, code: e.code, isRetryable: e.isRetryable)
    }

    /// This error with `message` (and `path`, when given) in place of its own, the rest kept.
    package func saying(_ message: String, path: String? = nil) -> DreamlakeError {
        var e = self
        e.message = message
        if let path { e.path = path }
        return e
    }

    public var description: String { message }
}
