/// An error from the session API: what happened, and what to do about it.
public struct DreamlakeError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The kinds of failure, for callers that handle some of them.
    public enum Code: String, Sendable {
        /// A workspace, session, track, file or path name was refused.
        case invalidName
        /// The session is not open (never opened, or closed).
        case notOpen
        /// The session is write-protected: nothing may be written to it.
        case writeProtected
        /// The session was opened for reading only (``Session/openForReading()``).
        case readOnly
        /// What was asked for does not exist.
        case notFound
        /// A stored file's bytes no longer match their checksum.
        case checksumMismatch
        /// A value could not be turned into parameters or points.
        case invalidValue
        /// The storage engine failed; ``storeError`` says how.
        case store
        /// A file could not be read or written.
        case io
        /// Input to import is not what it should be: malformed JSON, a missing
        /// or wrong field, a name that would escape the store. ``path`` and
        /// ``line`` say where.
        case invalidInput
        /// The target already exists and would be overwritten.
        case exists
        /// A remote session's server refused something, or could not be
        /// reached in time; the message says what was not delivered (it stays
        /// in the local store and is sent when the session is opened again).
        case remote
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

    /// An error of `code` with `message`.
    public init(_ code: Code, _ message: String, storeError: StoreError? = nil, path: String? = nil, line: Int? = nil) {
        self.code = code
        self.message = message
        self.storeError = storeError
        self.path = path
        self.line = line
    }

    init(_ e: StoreError) {
        self.init(.store, e.description, storeError: e)
    }

    public var description: String { message }
}
