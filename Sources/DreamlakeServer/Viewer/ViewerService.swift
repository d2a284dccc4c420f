import Dreamlake
import DreamlakeStore
import Foundation

/// What the viewer shows, read from a root of sessions and never written:
/// every session is opened with ``Session/openForReading()`` (no writer lock,
/// nothing written), so the viewer runs beside training that writes. The root
/// is a folder or an S3 root (read as any reader of one reads it: the newest
/// manifest, then the blocks each answer needs).
///
/// Each answer is a JSON value (``ViewerAPI`` documents them). Sessions stay
/// open between requests, a few at a time, and are refreshed before they
/// answer (``ReaderSessions``), so a run being written shows what its writer
/// has written. The runs table is cached per session until its commit log or
/// segment files (or, in an S3 root, its newest manifest) change, and, given a
/// `rowFile`, kept there between starts, so that a viewer started again opens
/// only the sessions written since.
package final class ViewerService: Sendable {
    /// The folder or S3 root sessions are stored under.
    package let root: String
    /// Where the sessions live.
    private let sessionRoot: any SessionRoot
    /// The sessions open for reading, shared by the requests.
    private let sessions: ReaderSessions
    /// A row of the runs table per session, with the fingerprint of what it was read from.
    private let cachedRows = Locked<[String: (fingerprint: String, row: Value)]>([:])
    /// Where the rows are kept between starts (``RowFile``), and whether they changed since last written there.
    private let rowFile: RowFile?

    /// A viewer of the sessions under `root`, keeping at most `maxOpenSessions` open.
    /// - Parameter rowFile: A file to keep the runs table's rows in between starts (read at once, written
    ///   when rows change, at most every few seconds, and at ``close()``); nil to keep them in memory only.
    /// - Throws: For an S3 root whose URL or configuration is not usable.
    package init(root: String, maxOpenSessions: Int = 256, rowFile: String? = nil,
                 environment: [String: String] = ProcessInfo.processInfo.environment) throws(DreamlakeError) {
        self.root = root
        sessionRoot = try Dreamlake.sessionRoot(root, environment: environment)
        sessions = ReaderSessions(root: sessionRoot, maxOpen: maxOpenSessions)
        self.rowFile = rowFile.map { RowFile(path: $0, root: root) }
        if let kept = self.rowFile?.read() { cachedRows.withLock { $0 = kept } }
    }

    /// The viewer of what `service` serves (`dreamlake serve`'s page), reading through the service's own pool of
    /// sessions open for reading (``RemoteService/readers``), so that one bound holds for the page and the API.
    package init(sharing service: RemoteService) {
        root = service.root
        sessionRoot = service.sessionRoot
        sessions = service.readers
        rowFile = nil
    }

    /// Closes every session it holds open (one a request still uses is
    /// closed when that request ends), and writes the rows to its row file if they changed.
    package func close() {
        sessions.close()
        rowFile?.write(cachedRows.withLock { $0 }, force: true)
    }

    // MARK: Sessions

    /// Runs `body` with the session `workspace/name`, open for reading and
    /// refreshed (``ReaderSessions``).
    package func withSession<T>(_ workspace: String, _ name: String,
                                _ body: (Session) throws(DreamlakeError) -> T) throws(DreamlakeError) -> T {
        try sessions.withSession(workspace, name, body)
    }

    /// How many sessions are open (kept, or evicted and still in use): for tests.
    package var openSessionCount: Int { sessions.openCount }

    /// What changes when anything is written to session `workspace/name`: the
    /// names, sizes and change times of its commit log and segment files, or in an S3 root
    /// its newest manifest as listed (one listing, no read).
    private func fingerprint(_ workspace: String, _ name: String) -> String {
        sessionRoot.session(workspace: workspace, name: name).fingerprint()
    }

    // MARK: Answers

    /// Whether a writer has session `workspace/name` open now: a process of
    /// this machine with the session's folder (for an S3 root, its spool) open
    /// to write, or, in an S3 root, a `serve` node holding its lease. (A writer
    /// on another machine without a lease shows as not live.)
    private func isLive(_ workspace: String, _ name: String, locks: HeldFlocks? = nil) -> Bool {
        sessionRoot.session(workspace: workspace, name: name).isLive(locks: locks)
    }

    /// `GET /api/runs`: a row for every session under the root in a workspace `include` lets through.
    package func runs(include: (String) -> Bool = { _ in true }) throws(DreamlakeError) -> Value {
        let all = try sessionRoot.sessions()
        let names = all.filter { include($0.workspace) }
        let filtered = names.count != all.count
        // On every core at once: opening and reading a thousand sessions was the whole of the first answer
        // after a start (the caller is on the server's thread pool, never its event loop).
        let locks = HeldFlocks.current()  // read once for every row
        let rows = concurrentMap(count: names.count) { i in self.row(names[i].workspace, names[i].name, locks: locks) }
        if !filtered {
            // The rows of sessions removed since are dropped (here and from the row file).
            let listed = Set(names.map { $0.workspace + "/" + $0.name })
            cachedRows.withLock { rows in
                guard rows.keys.contains(where: { !listed.contains($0) }) else { return }
                rows = rows.filter { listed.contains($0.key) }
                rowFile?.changed()
            }
        }
        rowFile?.write(cachedRows.withLock { $0 }, force: false)
        return .object(["root": .string(root), "runs": .array(rows)])
    }

    /// Session `ws/name`'s row: kept from the last answer while its files are as they were.
    private func row(_ ws: String, _ name: String, locks: HeldFlocks?) -> Value {
        let key = ws + "/" + name
        let print = fingerprint(ws, name)
        let live = isLive(ws, name, locks: locks)
        if let cached = cachedRows.withLock({ $0[key] }), cached.fingerprint == print {
            return with(cached.row, "live", .bool(live))
        }
        var row: Value
        do {
            row = try withSession(ws, name, runRow)
        } catch {
            // One unreadable session does not hide the others.
            row = .object(["workspace": .string(ws), "session": .string(name), "error": .string(error.message)])
        }
        let fixed = row
        if !print.isEmpty {
            cachedRows.withLock { $0[key] = (print, fixed) }
            rowFile?.changed()
        }
        return with(row, "live", .bool(live))
    }

    private func with(_ row: Value, _ key: String, _ value: Value) -> Value {
        guard case .object(var o) = row else { return row }
        o[key] = value
        return .object(o)
    }

    private func runRow(_ s: Session) throws(DreamlakeError) -> Value {
        var o = ValueObject()
        o["workspace"] = .string(s.workspace)
        o["session"] = .string(s.name)
        o["folder"] = s.folder.map(Value.string) ?? .null
        o["tags"] = .array(s.tags.map(Value.string))
        o["description"] = s.description.map(Value.string) ?? .null
        o["createdAt"] = s.storedFields["created_at"] ?? .null
        let tracks = try s.tracks()
        var lastWrite: Int64?
        var summaries: [Value] = []
        for t in tracks {
            if let ts = t.lastTimestamp { lastWrite = max(lastWrite ?? ts, ts) }
            // The last finite value, from the block summaries: no decoding for a track that ended.
            let last = try s.track(t.name).envelope(field: "value", buckets: 1).first?.last
            summaries.append(.object(["name": .string(t.name), "count": .int(Int64(t.count)),
                                      "last": last.map { .double($0.value) } ?? .null,
                                      "lastIndex": last.map { .int(Int64($0.index)) } ?? .null]))
        }
        let logs = try s.logCount()
        if logs > 0, let entry = try s.logs(from: logs - 1, limit: 1).first { lastWrite = max(lastWrite ?? entry.timestamp, entry.timestamp) }
        o["lastWrite"] = lastWrite.map { .string(PythonFormat.timestamp(micros: $0)) } ?? .null
        o["points"] = .int(Int64(tracks.reduce(UInt64(0)) { $0 + $1.count }))
        o["logs"] = .int(Int64(logs))
        o["tracks"] = .array(summaries)
        o["parameters"] = .object(try s.parameters.get(flatten: true))
        return ViewerService.browserSafe(.object(o))
    }

    /// `GET /api/run?workspace=W&session=S`: one session in full, but its points and logs.
    package func run(_ workspace: String, _ name: String) throws(DreamlakeError) -> Value {
        try withSession(workspace, name, runPage)
    }

    private func runPage(_ s: Session) throws(DreamlakeError) -> Value {
        var o = ValueObject()
        o["workspace"] = .string(s.workspace)
        o["session"] = .string(s.name)
        o["fields"] = .object(s.storedFields)
        o["live"] = .bool(isLive(s.workspace, s.name))
        o["parameters"] = .object(try s.parameters.get(flatten: true))
        o["parametersNested"] = .object(try s.parameters.get(flatten: false))
        var tracks: [Value] = []
        for t in try s.tracks() {
            var fields: [Value] = []
            if t.count > 0, let last = try s.track(t.name).read(startIndex: t.count - 1, limit: 1).points.first {
                for (k, v) in last.data {
                    switch v {
                    case .int, .double: fields.append(.string(k))
                    default: break
                    }
                }
            }
            tracks.append(.object([
                "name": .string(t.name), "count": .int(Int64(t.count)),
                "firstTimestamp": t.firstTimestamp.map { .int($0) } ?? .null,
                "lastTimestamp": t.lastTimestamp.map { .int($0) } ?? .null,
                "description": t.description.map(Value.string) ?? .null,
                "tags": .array(t.tags.map(Value.string)),
                "numericFields": .array(fields),
            ]))
        }
        o["tracks"] = .array(tracks)
        o["logs"] = .int(Int64(try s.logCount()))
        o["files"] = .array(try s.files.list().map { .object($0.responseFields) })
        return ViewerService.browserSafe(.object(o))
    }

    /// `GET /api/envelope?workspace&session&track&field&x&from&to&buckets`:
    /// the track's envelope of `field` (``Track/envelope(field:range:buckets:)``)
    /// and, when `x` names a field (a step), that field's first and last
    /// point in each bucket: where a chart with that x axis puts the bucket. `forChart`
    /// (`precision=chart`) rounds the values to what a chart can show (``ChartPrecision``).
    package func envelope(_ workspace: String, _ name: String, track: String, field: String, x: String? = nil,
                          range: Range<UInt64>?, buckets: Int, columns: Bool = false, forChart: Bool = false) throws(DreamlakeError) -> Value {
        var (count, all) = try withSession(workspace, name) { (s) throws(DreamlakeError) in
            (try s.track(track).stats().count,
             try s.track(track).envelopes(fields: [field] + (x.map { [$0] } ?? []), range: range, buckets: buckets))
        }
        if forChart { all[0] = ChartPrecision.rounded(all[0]) }
        if columns { return Self.envelopeColumns(track: track, field: field, count: count, all) }
        let out = all[0]
        func point(_ p: EnvelopePoint?) -> Value { p.map { .array([.int(Int64($0.index)), .double($0.value)]) } ?? .null }
        return .object([
            "track": .string(track), "field": .string(field), "count": .int(Int64(count)),
            "buckets": .array(out.enumerated().map { k, b in
                var o: ValueObject = [
                    "from": .int(Int64(b.range.lowerBound)), "to": .int(Int64(b.range.upperBound)),
                    "first": point(b.first), "last": point(b.last), "min": point(b.min), "max": point(b.max),
                    "count": .int(Int64(b.count)), "nan": .int(Int64(b.nanCount)),
                    "posInf": .int(Int64(b.positiveInfinityCount)), "negInf": .int(Int64(b.negativeInfinityCount)),
                    "missing": .int(Int64(b.missingCount)),
                    "t": .array([b.firstTimestamp.map { .int($0) } ?? .null, b.lastTimestamp.map { .int($0) } ?? .null]),
                ]
                if all.count > 1 { o["x"] = .array([point(all[1][k].first), point(all[1][k].last)]) }
                return .object(o)
            }),
        ])
    }

    /// The envelope in columns (`form=columns`): one array a bucket field, the numbers that grow along the
    /// track as differences, so that an envelope of a chart's width is a third smaller before gzip and
    /// half the size after it, every value as exact as in rows (README, "The viewer's JSON API").
    static func envelopeColumns(track: String, field: String, count: UInt64, _ all: [[EnvelopeBucket]]) -> Value {
        let out = all[0]
        func int(_ v: Int64) -> Value { .int(v) }
        func array(_ f: (EnvelopeBucket) -> Value) -> Value { .array(out.map(f)) }
        // Differences of UInt64 indexes read as Int64 two's complement, which never traps.
        func offset(_ p: EnvelopePoint?, from b: EnvelopeBucket) -> Value { p.map { int(Int64(bitPattern: $0.index &- b.range.lowerBound)) } ?? .null }
        func value(_ p: EnvelopePoint?) -> Value { p.map { .double($0.value) } ?? .null }
        var o: ValueObject = ["track": .string(track), "field": .string(field), "count": int(Int64(count)), "form": .string("columns")]
        // Where each bucket starts past the last one's end (0 when they touch), and how many indexes it covers.
        var end: UInt64 = 0
        o["gap"] = array { b in defer { end = b.range.upperBound }; return int(Int64(bitPattern: b.range.lowerBound &- end)) }
        o["width"] = array { int(Int64(bitPattern: $0.range.upperBound &- $0.range.lowerBound)) }
        for (name, pick) in [("first", \EnvelopeBucket.first), ("last", \.last), ("min", \.min), ("max", \.max)] {
            o[name + "At"] = array { offset($0[keyPath: pick], from: $0) }
            o[name] = array { value($0[keyPath: pick]) }
        }
        o["n"] = array { int(Int64($0.count)) }
        o["nan"] = array { int(Int64($0.nanCount)) }
        o["posInf"] = array { int(Int64($0.positiveInfinityCount)) }
        o["negInf"] = array { int(Int64($0.negativeInfinityCount)) }
        o["missing"] = array { int(Int64($0.missingCount)) }
        // Times: the first point's as a difference from the last bucket's last point's, the last's from its first's.
        var lastTime: Int64 = 0
        o["t0"] = array { b in
            guard let t = b.firstTimestamp else { return .null }
            defer { lastTime = b.lastTimestamp ?? t }
            return int(t &- lastTime)
        }
        o["t1"] = array { b in b.lastTimestamp.map { int($0 &- (b.firstTimestamp ?? $0)) } ?? .null }
        if all.count > 1 {
            let xs = all[1]
            o["xFirstAt"] = .array(zip(out, xs).map { offset($1.first, from: $0) })
            o["xLastAt"] = .array(zip(out, xs).map { offset($1.last, from: $0) })
            // Whole steps (below 2^52, not -0) go as differences, as times do, and are as exact: a difference of
            // two of them is a whole number below 2^53. Any other x goes as it is.
            let whole = xs.allSatisfy { b in
                [b.first, b.last].allSatisfy { p in
                    p.map { $0.value.rounded() == $0.value && abs($0.value) < 0x1p52 && !($0.value == 0 && $0.value.sign == .minus) } ?? true
                }
            }
            if whole {
                var lastX: Double = 0
                o["xFirstDelta"] = .array(xs.map { b in
                    guard let f = b.first?.value else { return .null }
                    defer { lastX = b.last?.value ?? f }
                    return int(Int64(f - lastX))
                })
                o["xLastDelta"] = .array(xs.map { b in b.last.map { int(Int64($0.value - (b.first?.value ?? $0.value))) } ?? .null })
            } else {
                o["xFirst"] = .array(xs.map { value($0.first) })
                o["xLast"] = .array(xs.map { value($0.last) })
            }
        }
        return .object(o)
    }

    /// `GET /api/points?workspace&session&track&from&limit`: points as stored.
    package func points(_ workspace: String, _ name: String, track: String, from: UInt64, limit: Int) throws(DreamlakeError) -> Value {
        let page = try withSession(workspace, name) { (s) throws(DreamlakeError) in try s.track(track).read(startIndex: from, limit: limit) }
        return ViewerService.browserSafe(.object([
            "track": .string(track),
            "points": .array(page.points.map { .object(["index": .int(Int64($0.index)), "timestamp": .int($0.timestamp), "data": .object($0.data)]) }),
        ]))
    }

    /// What a chart's x axis measures.
    package enum XAxis: Sendable, Equatable {
        /// The point's index in the track.
        case index
        /// The point's timestamp, in microseconds since 1970.
        case time
        /// A numeric field of the point, such as `step` or `epoch`.
        case field(String)
    }

    /// `GET /api/nearest?workspace&session&track&x&at&from&to`: the point of
    /// `range` (nil: all) at x = `at`, or the last one before it: what a
    /// chart shows when the pointer is at `at`. The x values are taken not
    /// to decrease along the track (a step, a clock) and the point is found by
    /// bisection, reading a handful of blocks however long the track is; a
    /// point with no number in the x field counts as before `at`. When every
    /// point is past `at`, the first one.
    package func nearest(_ workspace: String, _ name: String, track: String, x axis: XAxis, at: Double,
                         range: Range<UInt64>?) throws(DreamlakeError) -> Value {
        func x(_ p: TrackPage.Point) -> Double? {
            switch axis {
            case .index: Double(p.index)
            case .time: Double(p.timestamp)
            case .field(let f): EnvelopeBuilder.number(p.data[f])
            }
        }
        let point = try withSession(workspace, name) { (s) throws(DreamlakeError) -> TrackPage.Point? in
            let t = s.track(track)
            let r = EnvelopeBuilder.clip(range, to: try t.stats().count)
            var lo = r.lowerBound, hi = r.upperBound
            while hi - lo > 256 {
                let mid = lo + (hi - lo) / 2
                guard let p = try t.read(startIndex: mid, limit: 1).points.first else { break }
                if let v = x(p), v > at { hi = mid } else { lo = mid }
            }
            var best: TrackPage.Point?
            for p in try t.read(startIndex: lo, limit: Int(hi - lo)).points {
                if let v = x(p), v > at {
                    if best == nil { best = p }
                    break
                }
                best = p
            }
            return best
        }
        return ViewerService.browserSafe(.object([
            "track": .string(track),
            "point": point.map { Value.object(["index": .int(Int64($0.index)), "timestamp": .int($0.timestamp), "data": .object($0.data)]) } ?? .null,
        ]))
    }

    /// `GET /api/logs?workspace&session&from&limit&level&q`: log entries from
    /// `from`, at `level` or above, holding `q` in their message; `next` is
    /// where the next page starts.
    package func logs(_ workspace: String, _ name: String, from: UInt64, limit: Int, level: LogLevel?, text: String?) throws(DreamlakeError) -> Value {
        try withSession(workspace, name) { (s) throws(DreamlakeError) in try logs(s, from: from, limit: limit, level: level, text: text) }
    }

    private func logs(_ s: Session, from: UInt64, limit: Int, level: LogLevel?, text: String?) throws(DreamlakeError) -> Value {
        let total = try s.logCount()
        var out: [Value] = []
        var next = from
        // Pages of the stream until enough match: work stays bounded by the entries read.
        while next < total && out.count < limit {
            let page = try s.logs(from: next, limit: 4096)
            guard !page.isEmpty else { break }
            for e in page where out.count < limit {
                next = e.sequence + 1
                if let level, e.level.rawValue < level.rawValue { continue }
                if let text, !text.isEmpty, !e.message.localizedCaseInsensitiveContains(text) { continue }
                out.append(.object(["sequence": .int(Int64(e.sequence)), "time": .string(PythonFormat.timestamp(micros: e.timestamp)),
                                    "level": .string(e.level.name), "message": .string(e.message),
                                    "metadata": e.metadata.map(Value.object) ?? .null]))
            }
            if page.count < 4096 { next = max(next, page.last.map { $0.sequence + 1 } ?? next) }
        }
        return ViewerService.browserSafe(.object(["total": .int(Int64(total)), "next": .int(Int64(next)), "entries": .array(out)]))
    }

    /// The stored file `id` of a session: open, and its record.
    package func file(_ workspace: String, _ name: String, id: String) throws(DreamlakeError) -> (bytes: File, file: StoredFile) {
        try withSession(workspace, name) { (s) throws(DreamlakeError) in try s.files.open(id) }
    }

    /// `value` with every NaN and infinity as the strings "NaN", "Infinity"
    /// and "-Infinity": JSON has no such numbers, and a browser's parser
    /// refuses them.
    static func browserSafe(_ value: Value) -> Value {
        switch value {
        case .double(let d) where !d.isFinite: .string(d.isNaN ? "NaN" : d > 0 ? "Infinity" : "-Infinity")
        case .array(let a): .array(a.map(browserSafe))
        case .object(let o): .object(ValueObject(uniqueKeysWithValues: o.map { ($0.key, browserSafe($0.value)) }))
        default: value
        }
    }
}
