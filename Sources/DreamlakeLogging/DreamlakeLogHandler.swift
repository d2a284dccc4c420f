import Dreamlake
import Glibc
import Logging

/// A swift-log backend that writes every message of a `Logger` into a
/// session's log.
///
/// ```swift
/// LoggingSystem.bootstrap { label in DreamlakeLogHandler(label: label, session: session) }
/// let logger = Logger(label: "trainer")
/// logger.info("epoch done", metadata: ["epoch": "3"])
/// ```
///
/// Levels map to the session's: trace and debug to `debug`, info and notice
/// to `info`, warning to `warn`, error to `error`, critical to `fatal`. An
/// entry's metadata is the handler's, the metadata provider's and the
/// message's (in that order of precedence, the message's winning), sorted by
/// key, followed by `source` (the module that logged) and `label` (the
/// logger's) unless the metadata has keys of those names already.
public struct DreamlakeLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    /// The session entries are written to.
    public let session: Session
    /// Entries below this level are not written. The default is `.trace`: the
    /// session keeps everything a `Logger` lets through.
    public var logLevel: Logger.Level = .trace
    /// Metadata written with every entry.
    public var metadata: Logger.Metadata = [:]
    /// Contributes metadata to every entry, as `Logger` asks.
    public var metadataProvider: Logger.MetadataProvider?
    private let onFailure: @Sendable (DreamlakeError) -> Void

    /// A handler writing into `session`'s log.
    ///
    /// - Parameters:
    ///   - label: The logger's label (`LoggingSystem.bootstrap` passes it).
    ///   - session: An open session.
    ///   - metadataProvider: Metadata to add to every entry; nil for none.
    ///   - onFailure: Called when an entry could not be written (the session
    ///     closed, write-protected, or the disk failed): a `LogHandler` cannot
    ///     throw. The default prints one line to standard error.
    public init(label: String, session: Session, metadataProvider: Logger.MetadataProvider? = nil,
                onFailure: @escaping @Sendable (DreamlakeError) -> Void = DreamlakeLogHandler.printFailure) {
        self.label = label
        self.session = session
        self.metadataProvider = metadataProvider
        self.onFailure = onFailure
    }

    /// The default failure report: one line on standard error.
    public static let printFailure: @Sendable (DreamlakeError) -> Void = { error in
        let line = Array("DreamlakeLogHandler: a log entry was not written: \(error)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// The metadata value of `key`.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one entry.
    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let given = event.metadata { merged.merge(given) { _, new in new } }
        var fields = ValueObject(minimumCapacity: merged.count + 2)
        for key in merged.keys.sorted() { fields[key] = DreamlakeLogHandler.value(merged[key] ?? .string("")) }
        if fields["source"] == nil { fields["source"] = .string(event.source) }
        if fields["label"] == nil { fields["label"] = .string(label) }
        do {
            try session.log(event.message.description, level: DreamlakeLogHandler.level(event.level), object: fields)
        } catch {
            onFailure(error)
        }
    }

    /// The session's level for a swift-log level.
    public static func level(_ level: Logger.Level) -> LogLevel {
        switch level {
        case .trace, .debug: .debug
        case .info, .notice: .info
        case .warning: .warn
        case .error: .error
        case .critical: .fatal
        }
    }

    /// A swift-log metadata value as a stored value; dictionaries keep their keys sorted.
    static func value(_ v: Logger.Metadata.Value) -> Value {
        switch v {
        case .string(let s): .string(s)
        case .stringConvertible(let c): .string(c.description)
        case .array(let a): .array(a.map(value))
        case .dictionary(let d):
            .object(ValueObject(uniqueKeysWithValues: d.keys.sorted().map { ($0, value(d[$0] ?? .string(""))) }))
        }
    }
}
