/// Consecutive points of one track as they are stored: a block's worth,
/// column by column when every point has the same numeric fields, else as rows.
///
/// Reading columns directly is the fast way through a long track; ``point(at:)``
/// gives one point in the general form.
public struct PointBlock: Sendable {
    /// One field's values, one per point.
    public enum Column: Sendable, Equatable {
        case int([Int64])
        case double([Double])

        public static func == (a: Column, b: Column) -> Bool {
            switch (a, b) {
            case let (.int(x), .int(y)): x == y
            case let (.double(x), .double(y)): x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }
            default: false
            }
        }

        var count: Int {
            switch self {
            case .int(let v): v.count
            case .double(let v): v.count
            }
        }

        func value(at i: Int) -> Value {
            switch self {
            case .int(let v): .int(v[i])
            case .double(let v): .double(v[i])
            }
        }
    }

    /// How the points' data is held.
    public enum Layout: Sendable {
        /// Every point has exactly these keys, in this order, with these columns.
        case columns(keys: [String], columns: [Column])
        /// Points of any shape.
        case rows([ValueObject])
    }

    /// The track the points belong to.
    public let track: TrackID
    /// The index of the first point.
    public let firstIndex: UInt64
    /// Each point's time, in microseconds since the Unix epoch.
    public let timestamps: [Int64]
    /// The points' data.
    public let layout: Layout
    /// The writer slot that wrote the block (a session's rank); 0 in a store
    /// only one writer has written.
    public internal(set) var writer: UInt32 = 0

    init(track: TrackID, firstIndex: UInt64, timestamps: [Int64], layout: Layout) {
        self.track = track
        self.firstIndex = firstIndex
        self.timestamps = timestamps
        self.layout = layout
    }

    /// How many points the block holds.
    public var count: Int { timestamps.count }

    /// The index one past the last point.
    public var endIndex: UInt64 { firstIndex + UInt64(count) }

    /// The point at position `i` (0 ..< count) of this block.
    public func point(at i: Int) -> TrackPoint {
        var data = ValueObject()
        switch layout {
        case let .columns(keys, columns):
            data.reserveCapacity(keys.count)
            for (k, c) in zip(keys, columns) { data[k] = c.value(at: i) }
        case .rows(let rows):
            data = rows[i]
        }
        return TrackPoint(track: track, index: firstIndex + UInt64(i), timestamp: timestamps[i], data: data, writer: writer)
    }

    /// The column of the field named `key`, when the block is columnar and has it.
    public func column(named key: String) -> Column? {
        guard case let .columns(keys, columns) = layout, let i = keys.firstIndex(of: key) else { return nil }
        return columns[i]
    }

    /// Checks that every column holds one value per point; decoded blocks
    /// must pass before anyone indexes into them.
    var isConsistent: Bool {
        switch layout {
        case let .columns(keys, columns):
            keys.count == columns.count && columns.allSatisfy { $0.count == count }
        case .rows(let rows):
            rows.count == count
        }
    }
}
