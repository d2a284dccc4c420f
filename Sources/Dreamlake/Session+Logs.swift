extension Session {
    /// Writes a log entry.
    ///
    /// - Parameters:
    ///   - message: The text.
    ///   - level: Its level. The default is `.info`.
    ///   - metadata: Fields to keep with it, in order; nil (the default) for none.
    /// - Throws: ``DreamlakeError`` when the session is not open or is write-protected, or the store failed.
    public func log(_ message: String, level: LogLevel = .info,
                    metadata: KeyValuePairs<String, any ValueConvertible>? = nil) throws(DreamlakeError) {
        guard let metadata, metadata.count > 0 else {
            try writeLog(message, level: level, metadata: nil)
            return
        }
        let store = try requireWritableStore()
        // Encoded from the literal without building a dictionary: the usual call's biggest cost.
        do { try store.appendLog(message, level: level, metadata: metadata) } catch { throw DreamlakeError(error) }
    }

    /// Writes a log entry whose metadata is an object already built (the
    /// form other logging systems' bridges use).
    ///
    /// - Parameters:
    ///   - message: The text.
    ///   - level: Its level.
    ///   - metadata: Fields to keep with it, in order; nil or empty for none.
    /// - Throws: ``DreamlakeError`` when the session is not open or is write-protected, or the store failed.
    public func log(_ message: String, level: LogLevel = .info, object metadata: ValueObject?) throws(DreamlakeError) {
        try writeLog(message, level: level, metadata: metadata)
    }

    /// Starts a log entry in the builder form: `try session.log(metadata: ["epoch": 1]).info("Epoch complete", ["loss": loss])`.
    ///
    /// - Parameter metadata: Fields every entry written through the builder carries.
    /// - Throws: ``DreamlakeError`` when the session is not open.
    public func log(metadata: KeyValuePairs<String, any ValueConvertible> = [:]) throws(DreamlakeError) -> LogBuilder {
        _ = try requireStore()
        return LogBuilder(session: self, metadata: ValueObject(pairs: metadata))
    }

    /// Writes an entry stamped `timestamp` (microseconds since the Unix epoch; nil for now) and returns its sequence number.
    @discardableResult
    package func writeLog(_ message: String, level: LogLevel, metadata: ValueObject?, timestamp: Int64? = nil) throws(DreamlakeError) -> UInt64 {
        let store = try requireWritableStore()
        // Python writes no "metadata" key for empty metadata; nil keeps that apart from {}.
        let md = (metadata?.isEmpty ?? true) ? nil : metadata
        do { return try store.appendLog(message, level: level, metadata: md, timestamp: timestamp) } catch { throw DreamlakeError(error) }
    }
}

/// Writes log entries at a chosen level, with metadata given when the builder was made.
public struct LogBuilder: Sendable {
    let session: Session
    let metadata: ValueObject

    /// Writes an entry at `level`, its metadata the builder's merged with `extra` (`extra` wins).
    public func write(_ level: LogLevel, _ message: String,
                      _ extra: KeyValuePairs<String, any ValueConvertible> = [:]) throws(DreamlakeError) {
        var md = metadata
        for (k, v) in extra { md[k] = v.dreamlakeValue }
        try session.writeLog(message, level: level, metadata: md)
    }

    /// Writes a debug entry.
    public func debug(_ message: String, _ metadata: KeyValuePairs<String, any ValueConvertible> = [:]) throws(DreamlakeError) {
        try write(.debug, message, metadata)
    }
    /// Writes an info entry.
    public func info(_ message: String, _ metadata: KeyValuePairs<String, any ValueConvertible> = [:]) throws(DreamlakeError) {
        try write(.info, message, metadata)
    }
    /// Writes a warn entry.
    public func warn(_ message: String, _ metadata: KeyValuePairs<String, any ValueConvertible> = [:]) throws(DreamlakeError) {
        try write(.warn, message, metadata)
    }
    /// Writes an error entry.
    public func error(_ message: String, _ metadata: KeyValuePairs<String, any ValueConvertible> = [:]) throws(DreamlakeError) {
        try write(.error, message, metadata)
    }
    /// Writes a fatal entry.
    public func fatal(_ message: String, _ metadata: KeyValuePairs<String, any ValueConvertible> = [:]) throws(DreamlakeError) {
        try write(.fatal, message, metadata)
    }
}

extension Session {
    /// The session's log: `try session.logs()` reads it, `session.logs.follow()` watches it.
    public var logs: Logs { Logs(session: self) }
}

/// A session's log, to read (`try session.logs(from: 100)`) or follow
/// (`for try await entry in session.logs.follow()`).
public struct Logs: Sendable {
    let session: Session

    /// Every log entry from `start`, at most `limit` of them; with a `rank`,
    /// the first `limit` entries from `start` on that the session of that rank
    /// wrote (``LogEntry/writer`` says which rank wrote an entry).
    public func callAsFunction(from start: UInt64 = 0, limit: Int = .max, rank: UInt32? = nil) throws(DreamlakeError) -> [LogEntry] {
        let store = try session.requireStore()
        do {
            if let rank { return try store.logs(writtenBy: rank, from: start, limit: limit).entries }
            return try store.logs(from: start, limit: limit)
        } catch { throw DreamlakeError(error) }
    }
}
