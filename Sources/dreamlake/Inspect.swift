import ArgumentParser
import Dreamlake
import Foundation

/// Opens `WORKSPACE/SESSION` under `root` to read it, without writing anything.
func openForReading(_ text: String, root: String) throws -> Session {
    let (ws, name) = try parseSessionName(text)
    guard let name else { throw DreamlakeError(.invalidName, "\(text) names a workspace; name a session as WORKSPACE/SESSION") }
    let session = try Session(name: name, workspace: ws, localPath: root)
    do { try session.openForReading() } catch {
        guard error.code == .notFound else { throw error }
        throw noSuchSession("\(ws)/\(name)", root: root)
    }
    return session
}

/// Bytes of every regular file under `path`, and the newest modification time among them.
func diskUsage(_ path: String) -> (bytes: Int64, modified: Date?) {
    var total: Int64 = 0
    var newest: Date?
    guard let walker = FileManager.default.enumerator(atPath: path) else { return (0, nil) }
    while let rel = walker.nextObject() as? String {
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path + "/" + rel),
              attrs[.type] as? FileAttributeType == .typeRegular else { continue }
        total += (attrs[.size] as? NSNumber)?.int64Value ?? 0
        if let m = attrs[.modificationDate] as? Date, rel.hasPrefix("segments/") { newest = max(newest ?? m, m) }
    }
    return (total, newest)
}

/// A value as a cell of a table: strings bare, the rest as JSON.
func cell(_ v: Value?) -> String {
    guard let v else { return "" }
    if case .string(let s) = v { return s }
    return PythonFormat.json(v)
}

/// Columns padded to their widest cell; the last column is not padded.
func table(_ header: [String], _ rows: [[String]]) -> String {
    var measured = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() where i < measured.count { measured[i] = max(measured[i], c.count) } }
    let widths = measured
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in
            i == cells.count - 1 ? c : c + String(repeating: " ", count: max(0, widths[i] - c.count))
        }.joined(separator: "  ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}

func isoDate(_ d: Date?) -> String {
    guard let d else { return "-" }
    return PythonFormat.timestamp(micros: Int64(d.timeIntervalSince1970 * 1_000_000) / 1_000_000 * 1_000_000)
}

/// `dreamlake ls`: the sessions under the root.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List workspaces and sessions.")

    @OptionGroup var root: RootOption

    @Flag(help: "Print one JSON document.")
    var json = false

    func run() throws {
        try reportingErrors {
            var entries: [Value] = []
            var rows: [[String]] = []
            for (ws, name) in try Session.all(localPath: try root.existing()) {
                let s: Session
                let tracks: [TrackStats]
                let logs: UInt64
                do {
                    s = try openForReading(ws + "/" + name, root: root.path)
                    do {
                        tracks = try s.tracks()
                        logs = try s.logCount()
                    } catch {
                        try? s.close()
                        throw error
                    }
                } catch let e as DreamlakeError {
                    // One unreadable session (opening it, or reading the blocks its figures come from) does not
                    // hide the others; `dreamlake verify` says more.
                    entries.append(["workspace": .string(ws), "session": .string(name), "error": .string(e.message)])
                    rows.append(["\(ws)/\(name)", "-", "-", "-", "-", "-", "", "", "cannot be read: " + e.message])
                    continue
                }
                defer { try? s.close() }
                let points = tracks.reduce(UInt64(0)) { $0 + $1.count }
                let (bytes, modified) = diskUsage(s.directory)
                var e = ValueObject()
                e["workspace"] = .string(ws)
                e["session"] = .string(name)
                e["description"] = s.description.map(Value.string) ?? .null
                e["tags"] = .array(s.tags.map(Value.string))
                e["folder"] = s.folder.map(Value.string) ?? .null
                e["logs"] = .int(Int64(logs))
                e["tracks"] = .int(Int64(tracks.count))
                e["points"] = .int(Int64(points))
                e["bytes"] = .int(bytes)
                e["last_write"] = modified.map { .string(isoDate($0)) } ?? .null
                entries.append(.object(e))
                rows.append(["\(ws)/\(name)", String(tracks.count), String(points), String(logs), String(bytes), isoDate(modified),
                             s.tags.joined(separator: ","), s.folder ?? "", s.description ?? ""])
            }
            if json {
                print(PythonFormat.json(["sessions": .array(entries)]))
            } else if rows.isEmpty {
                print("no sessions under \(root.path)")
            } else {
                print(table(["SESSION", "TRACKS", "POINTS", "LOGS", "BYTES", "LAST WRITE", "TAGS", "FOLDER", "DESCRIPTION"], rows))
            }
        }
    }
}

/// `dreamlake show`: one session in full.
struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a session: metadata, parameters, tracks with sparklines, files and the last logs.")

    @Argument(help: "WORKSPACE/SESSION")
    var session: String

    @OptionGroup var root: RootOption

    @Flag(help: "Print one JSON document.")
    var json = false

    @Option(help: "How many of the last log entries to show.")
    var logs: Int = 5

    func run() throws {
        try reportingErrors {
            let s = try openForReading(session, root: root.path)
            defer { try? s.close() }
            let params = try s.parameters.get()
            let logCount = try s.logCount()
            let lastLogs = try s.logs(from: logCount > UInt64(max(0, logs)) ? logCount - UInt64(max(0, logs)) : 0)
            let files = try s.files.list()
            var trackValues: [Value] = []
            var trackRows: [[String]] = []
            for t in try s.tracks() {
                let last = t.count > 0 ? try s.track(t.name).read(startIndex: t.count - 1, limit: 1).points.first : nil
                let spark = Sparkline.render(try sampledValues(s.track(t.name), count: t.count))
                var o = ValueObject()
                o["name"] = .string(t.name)
                o["count"] = .int(Int64(t.count))
                o["first_index"] = t.firstIndex.map { .int(Int64($0)) } ?? .null
                o["last_index"] = t.lastIndex.map { .int(Int64($0)) } ?? .null
                o["last"] = last.map { .object($0.data) } ?? .null
                o["description"] = t.description.map(Value.string) ?? .null
                o["tags"] = .array(t.tags.map(Value.string))
                trackValues.append(.object(o))
                let range = t.count > 0 ? "\(t.firstIndex ?? 0)...\(t.lastIndex ?? 0)" : "-"
                trackRows.append([t.name, String(t.count), range, spark, last.map { PythonFormat.json(.object($0.data)) } ?? "-"])
            }
            if json {
                var doc = ValueObject()
                doc["session"] = .object(s.storedFields)
                doc["parameters"] = .object(params)
                doc["tracks"] = .array(trackValues)
                doc["files"] = .array(files.map { f in
                    ["id": .string(f.id), "path": .string(f.path), "filename": .string(f.filename),
                     "size_bytes": .int(f.sizeBytes), "checksum": .string(f.checksum)]
                })
                doc["log_count"] = .int(Int64(logCount))
                doc["last_logs"] = .array(lastLogs.map { e in
                    ["sequence": .int(Int64(e.sequence)), "timestamp": .string(PythonFormat.timestamp(micros: e.timestamp)),
                     "level": .string(e.level.name), "message": .string(e.message), "metadata": e.metadata.map(Value.object) ?? .null]
                })
                print(PythonFormat.json(.object(doc)))
                return
            }
            print("session \(s.workspace)/\(s.name)  (\(s.directory))")
            // Fields never given (null, no tags) are left out.
            for (k, v) in s.storedFields where k != "name" && k != "workspace" && !v.isNull && v != .array([]) {
                print("  \(k): \(cell(v))")
            }
            print("parameters:" + (params.isEmpty ? " none" : ""))
            for (k, v) in params { print("  \(k) = \(cell(v))") }
            print("tracks:" + (trackRows.isEmpty ? " none" : ""))
            if !trackRows.isEmpty {
                print(table(["TRACK", "POINTS", "INDEXES", "SHAPE", "LAST"], trackRows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            }
            print("files:" + (files.isEmpty ? " none" : ""))
            for f in files { print("  \(f.id)  \(f.path == "/" ? "" : f.path)/\(f.filename)  \(f.sizeBytes) bytes  sha256 \(f.checksum.prefix(16))") }
            print("logs: \(logCount)" + (lastLogs.isEmpty ? "" : ", the last \(lastLogs.count):"))
            for e in lastLogs {
                print("  \(PythonFormat.timestamp(micros: e.timestamp)) [\(e.level.name)] \(e.message)"
                      + (e.metadata.map { " " + PythonFormat.json(.object($0)) } ?? ""))
            }
        }
    }
}

/// Up to 32 values of a track's "value" field (else its first numeric field), evenly spread.
func sampledValues(_ track: Track, count: UInt64) throws -> [Double] {
    let samples: UInt64 = 32
    let stride = max(1, count / samples)
    var out: [Double] = []
    var i: UInt64 = 0
    while i < count && out.count < Int(samples) {
        if let p = try track.read(startIndex: i, limit: 1).points.first {
            if let v = p.data["value"]?.doubleValue ?? p.data.values.lazy.compactMap(\.doubleValue).first { out.append(v) }
        }
        i += stride
    }
    return out
}

/// How `cat` and `tail` print entries.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, csv, table
}

/// Prints track points or log entries in one of the formats.
struct EntryPrinter {
    let format: OutputFormat
    /// The CSV and table columns of track points (after index and createdAt).
    var keys: [String] = []

    func header(logs: Bool) -> String? {
        switch format {
        case .jsonl: return nil
        case .csv: return (logs ? ["sequenceNumber", "timestamp", "level", "message", "metadata"] : ["index", "createdAt"] + keys)
            .map(csvField).joined(separator: ",")
        case .table: return nil
        }
    }

    func point(_ p: TrackPage.Point) -> [String] {
        switch format {
        case .jsonl: return [PythonFormat.pointLine(index: p.index, data: p.data, timestamp: p.timestamp)]
        case .csv: return [([String(p.index), PythonFormat.timestamp(micros: p.timestamp)] + keys.map { csvCell(p.data[$0]) }).joined(separator: ",")]
        case .table: return [String(p.index), PythonFormat.timestamp(micros: p.timestamp)] + keys.map { cell(p.data[$0]) }
        }
    }

    func log(_ e: LogEntry) -> [String] {
        switch format {
        case .jsonl: return [PythonFormat.logLine(e)]
        case .csv:
            return [[String(e.sequence), PythonFormat.timestamp(micros: e.timestamp), e.level.name, csvField(e.message),
                     e.metadata.map { csvField(PythonFormat.json(.object($0))) } ?? ""].joined(separator: ",")]
        case .table:
            return [String(e.sequence), PythonFormat.timestamp(micros: e.timestamp), e.level.name,
                    e.message + (e.metadata.map { " " + PythonFormat.json(.object($0)) } ?? "")]
        }
    }

    func csvCell(_ v: Value?) -> String {
        guard let v, !v.isNull else { return "" }
        if case .string(let s) = v { return csvField(s) }
        return csvField(PythonFormat.json(v))
    }

    func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

/// What `cat` and `tail` read: a track's points or the logs.
struct EntrySource: ParsableArguments {
    @Argument(help: "WORKSPACE/SESSION")
    var session: String

    @Option(help: "The track to print.")
    var track: String?

    @Flag(help: "Print the log entries.")
    var logs = false

    @Option(help: "Only log entries at this level or above (debug, info, warn, error, fatal).")
    var level: String?

    func validate() throws {
        guard (track != nil) != logs else { throw ValidationError("give either --track NAME or --logs") }
        if let level, LogLevel(name: level) == nil {
            throw ValidationError("--level must be one of debug, info, warn, error, fatal, not \(level)")
        }
        if level != nil && !logs { throw ValidationError("--level goes with --logs") }
    }

    var minimumLevel: LogLevel { level.flatMap(LogLevel.init(name:)) ?? .debug }

    /// How many points the track holds; with `orNoneYet`, 0 for a track not
    /// defined yet (that a follower waits for) instead of an error.
    func trackCount(_ s: Session, root: String, orNoneYet: Bool = false) throws -> UInt64 {
        guard let track else { return 0 }
        guard let stats = try s.tracks().first(where: { $0.name == track }) else {
            if orNoneYet { return 0 }
            throw DreamlakeError(.notFound, "session \(s.workspace)/\(s.name) has no track \(track); `\(invokedCommand) show \(s.workspace)/\(s.name) --root \(absolutePath(root))` lists its tracks")
        }
        return stats.count
    }
}

/// `dreamlake cat`: a track's points or the logs, in order.
struct Cat: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a track's points or a session's logs.")

    @OptionGroup var source: EntrySource
    @OptionGroup var root: RootOption

    @Option(help: "The first index (or log sequence number) to print.")
    var start: UInt64 = 0

    @Option(help: "At most this many entries (default: all).")
    var limit: Int?

    @Option(help: "jsonl (the lines Python dreamlake writes), csv (a header of every field) or table.")
    var format: OutputFormat = .jsonl

    @Option(help: ArgumentHelp("With --track: print the envelope of the points in N buckets instead of the points (each bucket's first, last, min and max value, with their indexes, and its counts), as a chart of N pixel columns would draw them.", valueName: "N"))
    var buckets: Int?

    @Option(help: "With --buckets: the numeric field to summarize.")
    var field = "value"

    @Option(help: ArgumentHelp("Only the points or log entries the process of rank K wrote (when several wrote the session; a session one process wrote is all rank 0). --limit counts what is printed; indexes stay the track's.", valueName: "K"))
    var rank: UInt32?

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit cannot be negative") }
        if let buckets {
            guard source.track != nil else { throw ValidationError("--buckets goes with --track") }
            guard rank == nil else { throw ValidationError("--buckets summarizes every rank's points; it does not go with --rank") }
            guard EnvelopeBuilder.bucketLimit.contains(buckets) else { throw ValidationError("--buckets must be 1 to 1,000,000, not \(buckets)") }
        }
    }

    func run() throws {
        try reportingErrors {
            let s = try openForReading(source.session, root: root.path)
            defer { try? s.close() }
            var printer = EntryPrinter(format: format)
            let out = StandardOutput()
            let rows = TableRows(format == .table ? nil : out)
            let remaining = limit.map(UInt64.init) ?? .max
            if let name = source.track {
                let count = try source.trackCount(s, root: root.path)
                let end = start + min(remaining, count > start ? count - start : 0)
                let track = s.track(name)
                if let buckets {
                    let rows = try track.envelope(field: field, range: start..<end, buckets: buckets).map(EnvelopeRow.init)
                    switch format {
                    case .jsonl: for r in rows { out.write(PythonFormat.json(.object(r.object))) }
                    case .csv:
                        out.write(EnvelopeRow.columns.joined(separator: ","))
                        for r in rows { out.write(r.cells.joined(separator: ",")) }
                    case .table: out.write(table(EnvelopeRow.columns.map { $0.uppercased() }, rows.map(\.cells)))
                    }
                    out.flush()
                    return
                }
                if format != .jsonl { printer.keys = try fieldNames(track, from: start, to: count, rank: rank, limit: remaining) }
                if let h = printer.header(logs: false) { out.write(h) }
                let p = printer
                try forEachPoint(track, from: start, to: count, rank: rank, limit: remaining) { rows.add(p.point($0)) }
                if format == .table { out.write(table(["INDEX", "CREATED AT"] + printer.keys, rows.rows)) }
            } else {
                if let h = printer.header(logs: true) { out.write(h) }
                var printed: UInt64 = 0
                var next = start
                let count = try s.logCount()
                while next < count && printed < remaining {
                    let page = try s.logs(from: next, limit: 4096, rank: rank)
                    guard let last = page.last else { break }
                    for e in page where e.level >= source.minimumLevel && printed < remaining {
                        rows.add(printer.log(e))
                        printed += 1
                    }
                    // A sequence is below 2^64 - 1 in a sound store; past it there is nothing to read.
                    guard last.sequence < .max else { break }
                    next = last.sequence + 1
                }
                if format == .table { out.write(table(["SEQ", "TIMESTAMP", "LEVEL", "MESSAGE"], rows.rows)) }
            }
            out.flush()
        }
    }
}

/// One bucket of an envelope as `cat --buckets` prints it.
struct EnvelopeRow {
    let bucket: EnvelopeBucket

    init(_ bucket: EnvelopeBucket) { self.bucket = bucket }

    /// The CSV and table columns, and the JSON keys but for the points (`first` is `{"index", "value"}` in JSON).
    static let columns = ["start", "end", "count", "first_index", "first", "last_index", "last", "min_index", "min",
                          "max_index", "max", "nan", "inf", "-inf", "missing"]

    var cells: [String] {
        func point(_ p: EnvelopePoint?) -> [String] { p.map { [String($0.index), PythonFormat.json(.double($0.value))] } ?? ["", ""] }
        let b = bucket
        return [String(b.range.lowerBound), String(b.range.upperBound), String(b.count)] + point(b.first) + point(b.last)
            + point(b.min) + point(b.max)
            + [String(b.nanCount), String(b.positiveInfinityCount), String(b.negativeInfinityCount), String(b.missingCount)]
    }

    var object: ValueObject {
        func point(_ p: EnvelopePoint?) -> Value {
            p.map { ["index": .int(Int64(clamping: $0.index)), "value": .double($0.value)] } ?? .null
        }
        let b = bucket
        return [
            "start": .int(Int64(clamping: b.range.lowerBound)), "end": .int(Int64(clamping: b.range.upperBound)),
            "count": .int(Int64(clamping: b.count)), "first": point(b.first), "last": point(b.last), "min": point(b.min),
            "max": point(b.max), "nan": .int(Int64(clamping: b.nanCount)), "inf": .int(Int64(clamping: b.positiveInfinityCount)),
            "-inf": .int(Int64(clamping: b.negativeInfinityCount)), "missing": .int(Int64(clamping: b.missingCount)),
        ]
    }
}

/// Entries on their way out: kept as table rows, or written as lines at once.
final class TableRows {
    private let out: StandardOutput?
    private(set) var rows: [[String]] = []

    /// Rows are kept when `out` is nil, else each entry's first cell is written to it.
    init(_ out: StandardOutput?) { self.out = out }

    func add(_ cells: [String]) {
        if let out { out.write(cells[0]) } else { rows.append(cells) }
    }
}

/// Every field any of points `from ..< to` has, in the order they first appear: the columns of a CSV or table.
func fieldNames(_ track: Track, from: UInt64, to: UInt64, rank: UInt32? = nil, limit: UInt64 = .max) throws -> [String] {
    final class Names {
        var keys: [String] = []
        var seen = Set<String>()
    }
    let names = Names()
    try forEachPoint(track, from: from, to: to, rank: rank, limit: limit) { p in
        for k in p.data.keys where names.seen.insert(k).inserted { names.keys.append(k) }
    }
    return names.keys
}

/// The points of a track with indexes in `from ..< to` (only `rank`'s, when
/// one is given), at most `limit` of them, page by page.
func forEachPoint(_ track: Track, from: UInt64, to: UInt64, rank: UInt32? = nil, limit: UInt64 = .max,
                  _ body: (TrackPage.Point) throws -> Void) throws {
    var next = from
    var seen: UInt64 = 0
    while next < to && seen < limit {
        let page = try track.read(startIndex: next, limit: Int(min(to - next, 65_536, limit - seen)), rank: rank)
        guard let last = page.points.last else { break }
        for p in page.points where p.index < to && seen < limit {
            try body(p)
            seen += 1
        }
        guard last.index < .max else { break }
        next = last.index + 1
    }
}

/// Lines to stdout through a buffer (print() per line is slow for millions of lines).
final class StandardOutput {
    private var buffer: [UInt8] = []

    func write(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}

/// `dreamlake tail`: the last entries, and with --follow the new ones as a writer flushes them.
struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the last points of a track or the last log entries; with --follow, new ones as they are written.")

    @OptionGroup var source: EntrySource
    @OptionGroup var root: RootOption

    @Option(name: [.customShort("n"), .long], help: "How many of the last entries to print first.")
    var lines: Int = 10

    @Flag(name: .shortAndLong, help: "Keep printing new entries as a running writer flushes them, until interrupted.")
    var follow = false

    @Option(help: "How often to look for new entries when following, in milliseconds.")
    var interval: Int = 200

    @Option(help: "jsonl (the lines Python dreamlake writes), csv (a header, then a row an entry: a track's columns are the fields of the first points printed) or table (not with --follow).")
    var format: OutputFormat = .jsonl

    func validate() throws {
        guard lines >= 0 else { throw ValidationError("--lines cannot be negative") }
        guard interval >= 10 else { throw ValidationError("--interval must be at least 10 ms") }
        guard !(follow && format == .table) else {
            throw ValidationError("--format table lines up columns once every row is known, so it cannot --follow: use jsonl or csv")
        }
    }

    func run() throws {
        try reportingErrors {
            let s = try openForReading(source.session, root: root.path)
            defer { try? s.close() }
            var printer = EntryPrinter(format: format)
            let out = StandardOutput()
            let rows = TableRows(format == .table ? nil : out)
            // A CSV's header comes before its first row; a track's columns are
            // the fields of the first points printed (a later field has no column).
            var headed = format != .csv
            var next: UInt64
            if let name = source.track {
                // A track that does not exist yet is waited for when following.
                let count = try source.trackCount(s, root: root.path, orNoneYet: follow)
                next = count > UInt64(lines) ? count - UInt64(lines) : 0
                if format != .jsonl && next < count {
                    printer.keys = try fieldNames(s.track(name), from: next, to: count)
                    if let h = printer.header(logs: false) { out.write(h) }
                    headed = true
                }
                let p = printer
                try forEachPoint(s.track(name), from: next, to: count) { rows.add(p.point($0)) }
                next = max(next, count)
                if format == .table { out.write(table(["INDEX", "CREATED AT"] + printer.keys, rows.rows)) }
            } else {
                if !headed, let h = printer.header(logs: true) { out.write(h) }
                headed = true
                let count = try s.logCount()
                // The last `lines` entries at the level asked for.
                var start = count
                var kept: [LogEntry] = []
                while start > 0 && kept.count < lines {
                    let from = start > 4096 ? start - 4096 : 0
                    let page = try s.logs(from: from, limit: Int(start - from))
                    kept = page.filter { $0.level >= source.minimumLevel } + kept
                    start = from
                }
                for e in kept.suffix(lines) { rows.add(printer.log(e)) }
                next = count
                if format == .table { out.write(table(["SEQ", "TIMESTAMP", "LEVEL", "MESSAGE"], rows.rows)) }
            }
            out.flush()
            guard follow else { return }
            while true {
                Thread.sleep(forTimeInterval: Double(interval) / 1000)
                guard try s.refresh() else { continue }
                if let name = source.track {
                    let count = try source.trackCount(s, root: root.path, orNoneYet: true)
                    if !headed && next < count {
                        printer.keys = try fieldNames(s.track(name), from: next, to: count)
                        if let h = printer.header(logs: false) { out.write(h) }
                        headed = true
                    }
                    let p = printer
                    try forEachPoint(s.track(name), from: next, to: count) { out.write(p.point($0)[0]) }
                    next = max(next, count)
                } else {
                    let page = try s.logs(from: next)
                    for e in page where e.level >= source.minimumLevel { out.write(printer.log(e)[0]) }
                    next += UInt64(page.count)
                }
                out.flush()
            }
        }
    }
}
