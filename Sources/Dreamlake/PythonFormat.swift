import DreamlakeStore

/// Values and times as Python dreamlake writes them, for tools that print
/// what a session holds in the same form as its JSONL files.
public enum PythonFormat {
    /// `value` as Python's `json.dumps` writes it: `{"value": 0.5, "step": 1}`.
    public static func json(_ value: Value) -> String {
        String(decoding: PythonJSONWriter.compactBytes(value), as: UTF8.self)
    }

    /// `value` as Python's `json.dump(value, f, indent=2)` writes it.
    public static func indentedJSON(_ value: Value) -> String {
        String(decoding: PythonJSONWriter.indentedBytes(value), as: UTF8.self)
    }

    /// A time (microseconds since the Unix epoch) as Python dreamlake writes
    /// it: `2026-11-25T11:17:49.610107Z`.
    public static func timestamp(micros: Int64) -> String { Timestamps.iso(micros: micros) }

    /// One line of `logs/logs.jsonl` for `entry`, without the newline.
    public static func logLine(_ entry: LogEntry) -> String {
        var w = PythonJSONWriter()
        PythonDocuments.appendLogLine(entry, to: &w)
        return String(decoding: w.bytes.dropLast(), as: UTF8.self)
    }

    /// One line of a track's `data.jsonl`, without the newline.
    public static func pointLine(index: UInt64, data: ValueObject, timestamp: Int64) -> String {
        var w = PythonJSONWriter()
        PythonDocuments.appendPointLine(index: index, data: data, timestamp: timestamp, to: &w)
        return String(decoding: w.bytes.dropLast(), as: UTF8.self)
    }
}
