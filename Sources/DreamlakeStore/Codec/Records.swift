/// Identifies a track within one store. Ids are given out in the order
/// tracks are defined, from 0, and never reused.
public struct TrackID: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The id as stored: the stream id of the track's blocks.
    public let rawValue: UInt32
    /// The track id with this number.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static func < (a: TrackID, b: TrackID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "track#\(rawValue)" }
}

/// The level of a log entry. Persistent: the raw values are stored.
public enum LogLevel: UInt8, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// Detail for debugging.
    case debug = 0
    /// Normal progress.
    case info = 1
    /// Something unexpected that the run survives.
    case warn = 2
    /// A failure of one operation.
    case error = 3
    /// A failure that ends the run.
    case fatal = 4

    /// The level's name as Python dreamlake writes it ("debug", "info", "warn", "error", "fatal").
    public var name: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .warn: "warn"
        case .error: "error"
        case .fatal: "fatal"
        }
    }

    /// The level with this name, or nil.
    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }

    public var description: String { name }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// One log entry. `sequence` counts from 0 in the order entries were appended.
public struct LogEntry: Sendable, Equatable {
    /// The entry's number in the log, from 0.
    public var sequence: UInt64
    /// Microseconds since the Unix epoch.
    public var timestamp: Int64
    /// The entry's level.
    public var level: LogLevel
    /// The entry's text.
    public var message: String
    /// The entry's metadata; nil when it had none (which is not the same as an empty object).
    public var metadata: ValueObject?
    /// The writer slot that wrote it (a session's rank), from the block it was
    /// read from; 0 in a store only one writer has written.
    public var writer: UInt32

    /// A log entry with these fields.
    public init(sequence: UInt64, timestamp: Int64, level: LogLevel, message: String, metadata: ValueObject?, writer: UInt32 = 0) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.level = level
        self.message = message
        self.metadata = metadata
        self.writer = writer
    }

    public static func == (a: LogEntry, b: LogEntry) -> Bool {
        a.sequence == b.sequence && a.timestamp == b.timestamp && a.level == b.level && a.writer == b.writer
            && a.message.utf8.elementsEqual(b.message.utf8)
            && a.metadata.map(Value.object) == b.metadata.map(Value.object)
    }
}

/// One point of a track. `index` counts from 0 within the track.
public struct TrackPoint: Sendable, Equatable {
    /// The track the point belongs to.
    public var track: TrackID
    /// The point's index in its track, from 0.
    public var index: UInt64
    /// Microseconds since the Unix epoch.
    public var timestamp: Int64
    /// The point's fields, in the order they were given.
    public var data: ValueObject
    /// The writer slot that wrote it (a session's rank), from the block it was
    /// read from; 0 in a store only one writer has written.
    public var writer: UInt32

    /// A point with these fields.
    public init(track: TrackID, index: UInt64, timestamp: Int64, data: ValueObject, writer: UInt32 = 0) {
        self.track = track
        self.index = index
        self.timestamp = timestamp
        self.data = data
        self.writer = writer
    }

    public static func == (a: TrackPoint, b: TrackPoint) -> Bool {
        a.track == b.track && a.index == b.index && a.timestamp == b.timestamp && a.writer == b.writer
            && Value.object(a.data) == .object(b.data)
    }
}

/// A record of a stream whose records are an object each: parameter updates
/// and session metadata updates. What the fields mean is up to the layer above.
public struct ObjectRecord: Sendable, Equatable {
    /// The record's number in its stream, from 0.
    public var sequence: UInt64
    /// Microseconds since the Unix epoch.
    public var timestamp: Int64
    /// The record's fields.
    public var fields: ValueObject

    /// A record with these fields.
    public init(sequence: UInt64, timestamp: Int64, fields: ValueObject) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.fields = fields
    }

    public static func == (a: ObjectRecord, b: ObjectRecord) -> Bool {
        a.sequence == b.sequence && a.timestamp == b.timestamp && Value.object(a.fields) == .object(b.fields)
    }
}

/// A track's definition or an update of its metadata. The first record of a
/// track defines its id and name; later ones replace its fields.
public struct TrackMetadata: Sendable, Equatable {
    /// The record's number in the track metadata stream, from 0.
    public var sequence: UInt64
    /// Microseconds since the Unix epoch.
    public var timestamp: Int64
    /// The track it defines or updates.
    public var track: TrackID
    /// The track's name.
    public var name: String
    /// Description, tags, metadata and whatever else the layer above keeps.
    public var fields: ValueObject

    /// A record with these fields.
    public init(sequence: UInt64, timestamp: Int64, track: TrackID, name: String, fields: ValueObject) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.track = track
        self.name = name
        self.fields = fields
    }

    public static func == (a: TrackMetadata, b: TrackMetadata) -> Bool {
        a.sequence == b.sequence && a.timestamp == b.timestamp && a.track == b.track
            && a.name.utf8.elementsEqual(b.name.utf8) && Value.object(a.fields) == .object(b.fields)
    }
}

/// A file's record: its description when stored or updated, or its deletion.
public struct FileRecord: Sendable, Equatable {
    /// The record's number in the files stream, from 0.
    public var sequence: UInt64
    /// Microseconds since the Unix epoch.
    public var timestamp: Int64
    /// The file's id.
    public var fileID: String
    /// Whether this record deletes the file.
    public var deleted: Bool
    /// Path, name, checksum, size and whatever else the layer above keeps.
    public var fields: ValueObject

    /// A record with these fields.
    public init(sequence: UInt64, timestamp: Int64, fileID: String, deleted: Bool, fields: ValueObject) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.fileID = fileID
        self.deleted = deleted
        self.fields = fields
    }

    public static func == (a: FileRecord, b: FileRecord) -> Bool {
        a.sequence == b.sequence && a.timestamp == b.timestamp && a.fileID.utf8.elementsEqual(b.fileID.utf8)
            && a.deleted == b.deleted && Value.object(a.fields) == .object(b.fields)
    }
}
