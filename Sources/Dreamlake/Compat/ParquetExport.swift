import DreamlakeParquet
import DreamlakeStore
import Foundation
import OrderedCollections

/// Sessions as Parquet files that DuckDB, polars, pandas and pyarrow read with no option (issue 32):
///
/// ```
/// <out>/runs.parquet                                  a row a session: its fields, parameters, tracks' counts and last values
/// <out>/<workspace>/<session>/tracks/<track>.parquet  a row a point
/// <out>/<workspace>/<session>/logs.parquet            a row a log entry
/// <out>/<workspace>/<session>/parameters.parquet      one row, a column a parameter
/// ```
///
/// Every file has `workspace` and `session` columns, so that a glob over many runs says which row is whose.
/// A track's file has `index`, `timestamp` (UTC microseconds), `rank` (the writing process), then a column a
/// field of its points, in the order they first appear; a field's column has the type of its values in
/// the first row group it appears in, and a value of another kind goes to a column of its own beside it
/// (README, "Your data in other tools").
public enum ParquetExport {
    /// What an export wrote.
    public struct Report: Sendable {
        /// The session's folder in the output (for `runs.parquet`: its path).
        public var directory: String
        /// Bytes of Parquet written.
        public var bytes: Int64 = 0
        /// Points written, all tracks together.
        public var points: UInt64 = 0
        /// Log entries written.
        public var logs: UInt64 = 0
    }

    /// Rows a row group holds, at most (about 1 M; a track's row groups end at block boundaries past it):
    /// what DuckDB skips by when a filter on a column rules a row group out.
    public static let rowGroupRows = 1 << 20

    /// Writes `track` (of a session open here, for reading or writing) to a Parquet file at `path`, with the
    /// columns its file in an export has: what Python's `track.to_arrow()` reads.
    ///
    /// - Throws: ``DreamlakeError`` with `.notFound` for a track never appended to, `.io` when the file cannot be
    ///   written (or `path` is a link), `.notOpen` for a remote session (its points are on its server).
    public static func write(_ track: Track, to path: String) throws(DreamlakeError) {
        let session = track.session
        let store: Store
        do { store = try session.requireStore() } catch {
            throw DreamlakeError(.notOpen, "session \(session.workspace)/\(session.name) is not open here with its store (a remote session's points are on its server): \(error.message)")
        }
        guard let info = store.trackInfo(named: track.name) else {
            throw DreamlakeError(.notFound, "session \(session.workspace)/\(session.name) has no track \(Names.quoted(track.name))")
        }
        _ = try SessionExport.track(store, info, workspace: Array(session.workspace.utf8), name: Array(session.name.utf8), to: path)
    }

    /// Exports the sessions `sessions` (workspace and name) of the folder `localPath` to `outputRoot`: each
    /// into `<outputRoot>/<workspace>/<name>/`, replaced whole, then `runs.parquet` over them all.
    public static func export(sessions: [(workspace: String, name: String)], localPath: String, to outputRoot: String,
                              progress: JSONLLayout.ProgressHandler? = nil) throws(DreamlakeError) -> [Report] {
        let root = Paths.tidy(outputRoot)
        try JSONLLayout.makeDirectory(root)
        let runs = RunsTable()
        var reports: [Report] = []
        for (workspace, name) in sessions {
            try Names.checkComponent(workspace, "workspace")
            try Names.checkComponent(name, "session")
            let session = try Session(name: name, workspace: workspace, localPath: localPath)
            try session.openForReading()
            defer { try? session.close() }
            let final = Paths.join(root, workspace, name)
            let staging = root + "/" + workspace + "/.\(name).export-\(getpid())"
            JSONLLayout.recoverAbandonedExports(of: name, in: root + "/" + workspace)
            var report = Report(directory: final)
            do throws(DreamlakeError) {
                try? FileManager.default.removeItem(atPath: staging)
                try JSONLLayout.makeDirectory(staging)
                try SessionExport(session: session, out: staging, progress: progress).run(&report, runs: runs)
                try JSONLLayout.replace(final, with: staging)
            } catch {
                try? FileManager.default.removeItem(atPath: staging)
                throw error
            }
            reports.append(report)
        }
        let path = root + "/runs.parquet"
        let staging = root + "/.runs.parquet.export-\(getpid())"
        do throws(DreamlakeError) {
            let bytes = try runs.write(to: staging)
            guard rename(staging, path) == 0 else {
                throw DreamlakeError(.io, "could not move \(staging) to \(path): \(String(cString: strerror(errno)))", path: path)
            }
            reports.append(Report(directory: path, bytes: bytes))
        } catch {
            unlink(staging)
            throw error
        }
        return reports
    }

    /// The 64-bit integers of a file's bytes: the kinds a field's values have, and what a column holds.
    enum Kind: UInt8, CaseIterable {
        case int = 1, double, string, bool, json

        var suffix: String {
            switch self {
            case .int: "int"
            case .double: "double"
            case .string: "string"
            case .bool: "bool"
            case .json: "json"
            }
        }

        var column: ParquetColumn.Kind {
            switch self {
            case .int: .int64
            case .double: .double
            case .string, .json: .string
            case .bool: .boolean
            }
        }
    }
}

/// One session's files.
final class SessionExport {
    let session: Session
    let out: String
    let progress: JSONLLayout.ProgressHandler?
    let workspace: [UInt8], name: [UInt8]

    init(session: Session, out: String, progress: JSONLLayout.ProgressHandler?) {
        self.session = session
        self.out = out
        self.progress = progress
        workspace = Array(session.workspace.utf8)
        name = Array(session.name.utf8)
    }

    func catching<T>(_ body: () throws(StoreError) -> T) throws(DreamlakeError) -> T {
        do { return try body() } catch { throw DreamlakeError(error) }
    }

    func run(_ report: inout ParquetExport.Report, runs: RunsTable) throws(DreamlakeError) {
        let store = try session.requireStore()
        try JSONLLayout.makeDirectory(out + "/tracks")
        let parameters = try session.parameters.get(flatten: true)
        report.bytes += try self.parameters(parameters)
        let (logCount, logBytes) = try logs(store)
        report.logs = logCount
        report.bytes += logBytes
        var summary: [(name: String, count: UInt64, last: Value?, min: Double?, max: Double?)] = []
        for t in store.tracks() {
            try Names.checkTrackName(t.name)
            let (bytes, last) = try track(store, t)
            report.points += t.count
            report.bytes += bytes
            var lo: Double?, hi: Double?
            if t.count > 0, let field = last.flatMap({ Self.primaryField($0) }) {
                let b = try catching { () throws(StoreError) in try store.envelope(of: t.id, field: field, range: 0..<t.count, buckets: 1) }.first
                lo = b?.min?.value
                hi = b?.max?.value
            }
            let lastValue = last.flatMap { point in Self.primaryField(point).flatMap { point[$0] } }
            summary.append((t.name, t.count, lastValue, lo, hi))
        }
        runs.add(workspace: session.workspace, name: session.name, fields: session.storedFields, parameters: parameters,
                 tracks: summary, logs: logCount)
    }

    /// The field a track's summary reads: `value`, else its first number.
    static func primaryField(_ point: ValueObject) -> String? {
        func number(_ v: Value) -> Bool { if case .int = v { return true }; if case .double = v { return true }; return false }
        if let v = point["value"], number(v) { return "value" }
        return point.first(where: { number($0.value) })?.key
    }

    /// A Parquet file at `path`, written through an ``OutputFile`` (never through a link).
    static func file(_ path: String) throws(DreamlakeError) -> (OutputFile, ParquetWriter) {
        let file = try OutputFile(path: path)
        do {
            let writer = try ParquetWriter(createdBy: "dreamlake (Swift)") { bytes in
                file.buffer.append(contentsOf: bytes)
                try file.flushIfFull()
            }
            return (file, writer)
        } catch {
            throw DreamlakeError(.io, "could not write \(path): \(error)", path: path)
        }
    }

    static func finish(_ file: OutputFile, _ table: FieldTable) throws(DreamlakeError) -> Int64 {
        do {
            try table.declareNullFields()
            try table.writer.finish()
        } catch let e as DreamlakeError { throw e } catch {
            throw DreamlakeError(.io, "could not write \(file.path): \(error)", path: file.path)
        }
        try file.close()
        return file.size
    }

    // MARK: A track

    func track(_ store: Store, _ info: TrackInfo) throws(DreamlakeError) -> (bytes: Int64, last: ValueObject?) {
        let path = out + "/tracks/" + info.name + ".parquet"
        try JSONLLayout.makeDirectory((path as NSString).deletingLastPathComponent)
        return try Self.track(store, info, workspace: workspace, name: name, to: path)
    }

    /// Writes track `info` of `store` to a Parquet file at `path` (the columns README's "Your data in other
    /// tools" lists); returns the file's size and the track's last point.
    static func track(_ store: Store, _ info: TrackInfo, workspace: [UInt8], name: [UInt8],
                      to path: String) throws(DreamlakeError) -> (bytes: Int64, last: ValueObject?) {
        let (file, writer) = try Self.file(path)
        let table = FieldTable(writer: writer, path: path)
        let ws = try table.fixed("workspace", .string, optional: false)
        let sn = try table.fixed("session", .string, optional: false)
        let ix = try table.fixed("index", .int64, optional: false)
        let ts = try table.fixed("timestamp", .timestampMicros, optional: false)
        let rk = try table.fixed("rank", .int64, optional: false)
        var index: [Int64] = [], times: [Int64] = [], ranks: [Int64] = []
        var last: ValueObject?
        func flush() throws(DreamlakeError) {
            try table.flush(fixed: [ws: .init(.repeatedBytes(workspace, count: index.count)), sn: .init(.repeatedBytes(name, count: index.count)),
                                    ix: .init(.int64(index)), ts: .init(.int64(times)), rk: .init(.int64(ranks))])
            index.removeAll(keepingCapacity: true)
            times.removeAll(keepingCapacity: true)
            ranks.removeAll(keepingCapacity: true)
        }
        var failure: DreamlakeError?
        do {
            try store.forEachPointBlock(of: info.id, from: 0, to: info.count) { block in
                // Blocks are whole: the points a writer added since the track's count was read are left for later.
                let hi = block.firstIndex >= info.count ? 0 : Int(min(UInt64(block.count), info.count - block.firstIndex))
                guard hi > 0 else { return true }
                // A block at a time (appending point by point would check exclusive access to each array per point).
                let first = Int64(bitPattern: block.firstIndex)
                index.append(contentsOf: (0..<Int64(hi)).lazy.map { first &+ $0 })
                times.append(contentsOf: block.timestamps[0..<hi])
                ranks.append(contentsOf: repeatElement(Int64(block.writer), count: hi))
                table.append(block, rows: 0..<hi)
                last = block.point(at: hi - 1).data
                if index.count >= ParquetExport.rowGroupRows {
                    do throws(DreamlakeError) { try flush() } catch {
                        failure = error
                        return false
                    }
                }
                return true
            }
        } catch let e as DreamlakeError {
            throw e
        } catch let e as StoreError {
            throw DreamlakeError(e)
        } catch {
            throw DreamlakeError(.io, "could not read track \(info.name): \(error)")
        }
        if let failure { throw failure }
        if !index.isEmpty { try flush() }
        return (try Self.finish(file, table), last)
    }

    // MARK: Logs

    func logs(_ store: Store) throws(DreamlakeError) -> (count: UInt64, bytes: Int64) {
        let path = out + "/logs.parquet"
        let (file, writer) = try Self.file(path)
        let table = FieldTable(writer: writer, path: path)
        let ws = try table.fixed("workspace", .string, optional: false)
        let sn = try table.fixed("session", .string, optional: false)
        let ix = try table.fixed("index", .int64, optional: false)
        let ts = try table.fixed("timestamp", .timestampMicros, optional: false)
        let lv = try table.fixed("level", .string, optional: false)
        let ms = try table.fixed("message", .string, optional: false)
        let md = try table.fixed("metadata", .string, optional: true)
        let rk = try table.fixed("rank", .int64, optional: false)
        let count = store.count(of: .logs)
        var next: UInt64 = 0
        var index: [Int64] = [], times: [Int64] = [], ranks: [Int64] = []
        var levels = ByteStrings(), messages = ByteStrings(), metadata = ByteStrings(), hasMetadata: [Bool] = []
        func flush() throws(DreamlakeError) {
            guard !index.isEmpty else { return }
            try table.flush(fixed: [ws: .init(.repeatedBytes(workspace, count: index.count)), sn: .init(.repeatedBytes(name, count: index.count)),
                                    ix: .init(.int64(index)), ts: .init(.int64(times)), lv: levels.values, ms: messages.values,
                                    md: .init(metadata.values.values, present: hasMetadata), rk: .init(.int64(ranks))])
            index = []; times = []; ranks = []; hasMetadata = []
            levels = ByteStrings(); messages = ByteStrings(); metadata = ByteStrings()
        }
        while next < count {
            let page = try catching { () throws(StoreError) in try store.logs(from: next, limit: 4096) }
            guard !page.isEmpty else { break }
            for e in page {
                index.append(Int64(bitPattern: e.sequence))
                times.append(e.timestamp)
                ranks.append(Int64(e.writer))
                levels.append(Array(e.level.name.utf8))
                messages.append(Array(e.message.utf8))
                hasMetadata.append(e.metadata != nil)
                if let m = e.metadata { metadata.append(PythonJSONWriter.compactBytes(.object(m))) }
            }
            table.advance(page.count)
            next += UInt64(page.count)
            if index.count >= ParquetExport.rowGroupRows { try flush() }
        }
        try flush()
        return (next, try Self.finish(file, table))
    }

    // MARK: Parameters

    func parameters(_ parameters: ValueObject) throws(DreamlakeError) -> Int64 {
        let path = out + "/parameters.parquet"
        let (file, writer) = try Self.file(path)
        let table = FieldTable(writer: writer, path: path)
        let ws = try table.fixed("workspace", .string, optional: false)
        let sn = try table.fixed("session", .string, optional: false)
        table.set(parameters, row: 0)
        table.advance(1)
        try table.flush(fixed: [ws: .init(.repeatedBytes(workspace, count: 1)), sn: .init(.repeatedBytes(name, count: 1))])
        return try Self.finish(file, table)
    }
}

/// Byte strings one after another, as a string column's values.
struct ByteStrings {
    var bytes: [UInt8] = []
    var ends: [Int] = []

    mutating func append(_ s: [UInt8]) {
        bytes.append(contentsOf: s)
        ends.append(bytes.count)
    }

    var values: ParquetColumnValues { .init(.bytes(bytes: bytes, ends: ends)) }
}

/// `runs.parquet`: a row a session.
final class RunsTable {
    private var rows: [(workspace: String, name: String, fields: ValueObject, parameters: ValueObject,
                        tracks: [(name: String, count: UInt64, last: Value?, min: Double?, max: Double?)], logs: UInt64)] = []

    func add(workspace: String, name: String, fields: ValueObject, parameters: ValueObject,
             tracks: [(name: String, count: UInt64, last: Value?, min: Double?, max: Double?)], logs: UInt64) {
        rows.append((workspace, name, fields, parameters, tracks, logs))
    }

    /// Writes the table to `path`; returns its size.
    func write(to path: String) throws(DreamlakeError) -> Int64 {
        let (file, writer) = try SessionExport.file(path)
        let table = FieldTable(writer: writer, path: path)
        let ws = try table.fixed("workspace", .string, optional: false)
        let sn = try table.fixed("session", .string, optional: false)
        let pt = try table.fixed("points", .int64, optional: false)
        let lg = try table.fixed("logs", .int64, optional: false)
        var workspaces = ByteStrings(), names = ByteStrings(), points: [Int64] = [], logs: [Int64] = []
        for (k, r) in rows.enumerated() {
            workspaces.append(Array(r.workspace.utf8))
            names.append(Array(r.name.utf8))
            points.append(Int64(clamping: r.tracks.reduce(UInt64(0)) { $0 &+ $1.count }))
            logs.append(Int64(clamping: r.logs))
            // The session's own fields, then its parameters, then each track's count, last value, smallest and largest:
            // a name taken already (by a field, or the columns above) is written as `param:NAME`.
            var row = ValueObject()
            for (key, v) in r.fields where !key.hasPrefix("_") && !["workspace", "session", "points", "logs", "name"].contains(key) { row[key] = v }
            for (key, v) in r.parameters {
                let taken = row[key] != nil || ["workspace", "session", "points", "logs"].contains(key)
                row[taken ? "param:" + key : key] = v
            }
            for t in r.tracks {
                row[t.name + ":count"] = .int(Int64(clamping: t.count))
                row[t.name + ":last"] = t.last ?? .null
                row[t.name + ":min"] = t.min.map(Value.double) ?? .null
                row[t.name + ":max"] = t.max.map(Value.double) ?? .null
            }
            table.set(row, row: k)
            table.advance(1)
        }
        if !rows.isEmpty {
            try table.flush(fixed: [ws: workspaces.values, sn: names.values, pt: .init(.int64(points)), lg: .init(.int64(logs))])
        }
        return try SessionExport.finish(file, table)
    }
}

/// Rows of flexible fields, written to a Parquet file a row group at a time, beside fixed columns the
/// caller fills.
///
/// A field's column is typed by its values in the first row group that has any: INT64 when they are all
/// integers, DOUBLE when any is a fraction (integers beside them as doubles, exactly, up to 2^53 in
/// magnitude), else STRING (text, or arrays and objects as JSON text) or BOOLEAN. A value that does not
/// fit the column (a string among numbers, a fraction in an INT64 column, an integer past 2^53 in a DOUBLE
/// one) goes to a column of its own beside it, named `FIELD:string`, `FIELD:double`, `FIELD:int`,
/// `FIELD:bool` or `FIELD:json`, null in the rows that fit. So nothing is lost, and a field of one kind is
/// one column.
final class FieldTable {
    let writer: ParquetWriter
    let path: String
    /// Rows of the row group being built.
    private(set) var rows = 0
    private var stages = OrderedDictionary<String, FieldStage>()
    /// Each field's column type, once its first values decided it.
    private var mains: [String: ParquetExport.Kind] = [:]

    init(writer: ParquetWriter, path: String) {
        self.writer = writer
        self.path = path
    }

    func fixed(_ name: String, _ kind: ParquetColumn.Kind, optional: Bool) throws(DreamlakeError) -> Int {
        do { return try writer.column(ParquetColumn(name, kind, optional: optional)) } catch {
            throw DreamlakeError(.io, "\(path): \(error)", path: path)
        }
    }

    /// The values of `object` for row `row` (of the group being built).
    func set(_ object: ValueObject, row: Int) {
        for (key, v) in object { stages[key, default: FieldStage()].add(v, row: row) }
    }

    /// The rows `rows` of `block`'s points, as the group's next rows.
    func append(_ block: PointBlock, rows range: Range<Int>) {
        switch block.layout {
        case let .columns(keys, columns):
            for (key, column) in zip(keys, columns) { stages[key, default: FieldStage()].add(column, range, at: rows) }
        case .rows(let points):
            for i in range { set(points[i], row: rows + i - range.lowerBound) }
        }
        rows += range.count
    }

    /// Counts `n` more rows (their fields set with ``set(_:row:)``).
    func advance(_ n: Int) { rows += n }

    /// Fields seen with nothing but nulls, which have no column yet.
    private var nullFields = OrderedSet<String>()

    /// Gives each field that only ever held null a column (STRING, null in every row): the field is there.
    func declareNullFields() throws {
        for key in nullFields where mains[key] == nil {
            _ = try writer.column(ParquetColumn(key, .string, optional: true))
        }
    }

    /// Writes the group: the fixed columns' values, and each field's.
    func flush(fixed: [Int: ParquetColumnValues]) throws(DreamlakeError) {
        guard rows > 0 else { return }
        var values = fixed
        do {
            for (key, var stage) in stages {
                stage.pad(to: rows)
                let main = mains[key] ?? stage.mainKind
                guard let main else {  // nothing but nulls yet: the column waits for a value
                    nullFields.append(key)
                    continue
                }
                mains[key] = main
                for (suffix, kind, v) in stage.columns(main: main) {
                    let name = suffix.map { key + ":" + $0 } ?? key
                    let i = try writer.column(ParquetColumn(name, kind.column, optional: true))
                    values[i] = v
                }
            }
            try writer.writeRowGroup(rows: rows, values) { n, body in DispatchQueue.concurrentPerform(iterations: n, execute: body) }
        } catch let e as DreamlakeError {
            throw e
        } catch {
            throw DreamlakeError(.io, "\(path): \(error)", path: path)
        }
        rows = 0
        stages.removeAll(keepingCapacity: true)
    }
}

/// One field's values in the row group being built: a kind a row (0: none), and each kind's values in order.
struct FieldStage {
    var tags: [UInt8] = []
    var ints: [Int64] = []
    var doubles: [Double] = []
    var bools: [Bool] = []
    var strings = ByteStrings()
    var jsons = ByteStrings()
    var kinds: Set<ParquetExport.Kind> = []

    mutating func pad(to row: Int) {
        if tags.count < row { tags.append(contentsOf: repeatElement(0, count: row - tags.count)) }
    }

    mutating func add(_ v: Value, row: Int) {
        pad(to: row)
        let kind: ParquetExport.Kind?
        switch v {
        case .null: kind = nil
        case .int(let x): ints.append(x); kind = .int
        case .double(let x): doubles.append(x); kind = .double
        case .bool(let x): bools.append(x); kind = .bool
        case .string(let x): strings.append(Array(x.utf8)); kind = .string
        case .array, .object: jsons.append(PythonJSONWriter.compactBytes(v)); kind = .json
        }
        tags.append(kind?.rawValue ?? 0)
        if let kind { kinds.insert(kind) }
    }

    mutating func add(_ column: PointBlock.Column, _ range: Range<Int>, at row: Int) {
        pad(to: row)
        switch column {
        case .int(let x):
            ints.append(contentsOf: x[range])
            tags.append(contentsOf: repeatElement(ParquetExport.Kind.int.rawValue, count: range.count))
            kinds.insert(.int)
        case .double(let x):
            doubles.append(contentsOf: x[range])
            tags.append(contentsOf: repeatElement(ParquetExport.Kind.double.rawValue, count: range.count))
            kinds.insert(.double)
        }
    }

    /// The column type its values call for: DOUBLE before INT64 before STRING before BOOLEAN before JSON text.
    var mainKind: ParquetExport.Kind? {
        for k in [ParquetExport.Kind.double, .int, .string, .bool, .json] where kinds.contains(k) { return k }
        return nil
    }

    /// Whether a value of `kind` (an int: `int`) goes in a `main` column.
    static func fits(_ kind: ParquetExport.Kind, _ int: Int64, in main: ParquetExport.Kind) -> Bool {
        kind == main || (main == .double && kind == .int && int.magnitude <= 1 << 53)
    }

    /// The field's columns for this group: the main one (suffix nil) and one a kind that does not fit it.
    func columns(main: ParquetExport.Kind) -> [(suffix: String?, kind: ParquetExport.Kind, values: ParquetColumnValues)] {
        // The common case: every value fits, and is of the column's kind.
        if kinds.isEmpty || kinds == [main] {
            let present = tags.contains(0) ? tags.map { $0 != 0 } : nil
            return [(nil, main, ParquetColumnValues(Self.values(main, self), present: present))]
        }
        var out: [ParquetExport.Kind: FieldStage] = [:]
        var cursor: [ParquetExport.Kind: Int] = [:]
        var mainStage = FieldStage()
        for t in tags {
            guard let kind = ParquetExport.Kind(rawValue: t) else {
                mainStage.tags.append(0)
                for k in out.keys { out[k]!.tags.append(0) }
                continue
            }
            let at = cursor[kind, default: 0]
            cursor[kind] = at + 1
            let int = kind == .int ? ints[at] : 0
            let into: ParquetExport.Kind = Self.fits(kind, int, in: main) ? main : kind
            var target = into == main ? mainStage : (out[kind] ?? FieldStage(tags: [UInt8](repeating: 0, count: mainStage.tags.count)))
            switch kind {
            case .int: if into == .double { target.doubles.append(Double(int)) } else { target.ints.append(int) }
            case .double: target.doubles.append(doubles[at])
            case .bool: target.bools.append(bools[at])
            case .string: target.strings.append(Array(strings.bytes[(at == 0 ? 0 : strings.ends[at - 1])..<strings.ends[at]]))
            case .json: target.jsons.append(Array(jsons.bytes[(at == 0 ? 0 : jsons.ends[at - 1])..<jsons.ends[at]]))
            }
            target.tags.append(1)
            if into == main { mainStage = target } else { out[kind] = target }
            if into == main { for k in out.keys { out[k]!.tags.append(0) } } else {
                mainStage.tags.append(0)
                for k in out.keys where k != kind { out[k]!.tags.append(0) }
            }
        }
        var result: [(String?, ParquetExport.Kind, ParquetColumnValues)] = [
            (nil, main, ParquetColumnValues(Self.values(main, mainStage), present: mainStage.tags.map { $0 != 0 })),
        ]
        for k in ParquetExport.Kind.allCases where k != main {
            guard let s = out[k] else { continue }
            result.append((k.suffix, k, ParquetColumnValues(Self.values(k, s), present: s.tags.map { $0 != 0 })))
        }
        return result
    }

    static func values(_ kind: ParquetExport.Kind, _ s: FieldStage) -> ParquetColumnValues.Values {
        switch kind {
        case .int: .int64(s.ints)
        case .double: .double(s.doubles)
        case .bool: .boolean(s.bools)
        case .string: .bytes(bytes: s.strings.bytes, ends: s.strings.ends)
        case .json: .bytes(bytes: s.jsons.bytes, ends: s.jsons.ends)
        }
    }
}
