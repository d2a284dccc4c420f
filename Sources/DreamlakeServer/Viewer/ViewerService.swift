import Dreamlake
import DreamlakeStore
import Foundation

/// What the viewer shows, read from a root of sessions and never written:
/// every session is opened with ``Session/openForReading()`` (no writer lock,
/// nothing written), so the viewer runs beside training that writes.
///
/// Each answer is a JSON value (``ViewerAPI`` documents them). Sessions stay
/// open between requests, a few at a time, so that their block summaries stay
/// in memory; each is refreshed before it answers, so a run being written
/// shows what its writer has written. The runs table is cached per session
/// until its segment files change.
package final class ViewerService: Sendable {
    /// The folder sessions are stored under.
    package let root: String
    private let maxOpen: Int

    private struct Open {
        var session: Session
        var used: UInt64
    }
    private struct State {
        var open: [String: Open] = [:]
        var clock: UInt64 = 0
        /// A row of the runs table per session, with the fingerprint of the files it was read from.
        var rows: [String: (fingerprint: [UInt64], row: Value)] = [:]
    }
    private let state = Locked(State())

    /// A viewer of the sessions under `root`, keeping at most `maxOpenSessions` open.
    package init(root: String, maxOpenSessions: Int = 32) {
        self.root = root
        self.maxOpen = max(1, maxOpenSessions)
    }

    /// Closes every session it holds open.
    package func close() {
        let sessions = state.withLock { s in
            defer { s.open = [:] }
            return s.open.values.map(\.session)
        }
        for s in sessions { try? s.close() }
    }

    // MARK: Sessions

    /// The session `workspace/name`, open for reading and refreshed.
    package func session(_ workspace: String, _ name: String) throws(DreamlakeError) -> Session {
        let key = workspace + "/" + name
        if let s = state.withLock({ (st: inout State) -> Session? in
            st.clock += 1
            guard var o = st.open[key] else { return nil }
            o.used = st.clock
            st.open[key] = o
            return o.session
        }) {
            try s.refresh()
            return s
        }
        let s = try Session(name: name, workspace: workspace, localPath: root)
        try s.openForReading()
        // Two requests may open the same session at once: one copy is kept, the other closed.
        let (kept, evicted) = state.withLock { (st: inout State) -> (Session, [Session]) in
            if let o = st.open[key] { return (o.session, [s]) }
            st.clock += 1
            st.open[key] = Open(session: s, used: st.clock)
            var out: [Session] = []
            while st.open.count > maxOpen, let oldest = st.open.min(by: { $0.value.used < $1.value.used }) {
                st.open[oldest.key] = nil
                out.append(oldest.value.session)
            }
            return (s, out)
        }
        for e in evicted { try? e.close() }
        return kept
    }

    /// The sizes of a session's segment files (and the summary and lock
    /// files' presence): what changes when anything is written.
    private func fingerprint(_ directory: String) -> [UInt64] {
        let segments = Store.segmentsDirectory(of: directory)
        guard let names = try? FileSystem.list(segments) else { return [] }
        var out: [UInt64] = []
        for name in names.sorted() {
            guard let f = try? File.open(segments + "/" + name, .readOnly) else { continue }
            out.append(UInt64(name.hashValue & 0xFFFF_FFFF))
            out.append((try? f.size()) ?? 0)
            try? f.close()
        }
        return out
    }

    // MARK: Answers

    /// `GET /api/runs`: a row for every session under the root in a workspace `include` lets through.
    package func runs(include: (String) -> Bool = { _ in true }) throws(DreamlakeError) -> Value {
        var rows: [Value] = []
        for (ws, name) in try Session.all(localPath: root) where include(ws) {
            let key = ws + "/" + name
            let directory = root + "/" + key
            let print = fingerprint(directory)
            let live = Store.liveWriter(directory: directory) != nil
            if let cached = state.withLock({ $0.rows[key] }), cached.fingerprint == print {
                rows.append(with(cached.row, "live", .bool(live)))
                continue
            }
            var row: Value
            do {
                row = try runRow(try session(ws, name))
            } catch {
                // One unreadable session does not hide the others.
                row = .object(["workspace": .string(ws), "session": .string(name), "error": .string(error.message)])
            }
            let fixed = row
            state.withLock { $0.rows[key] = (print, fixed) }
            rows.append(with(row, "live", .bool(live)))
        }
        return .object(["root": .string(root), "runs": .array(rows)])
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
        let s = try session(workspace, name)
        var o = ValueObject()
        o["workspace"] = .string(s.workspace)
        o["session"] = .string(s.name)
        o["fields"] = .object(s.storedFields)
        o["live"] = .bool(Store.liveWriter(directory: s.directory) != nil)
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

    /// `GET /api/envelope?workspace&session&track&field&from&to&buckets`: the
    /// track's envelope (``Track/envelope(field:range:buckets:)``).
    package func envelope(_ workspace: String, _ name: String, track: String, field: String,
                          range: Range<UInt64>?, buckets: Int) throws(DreamlakeError) -> Value {
        let s = try session(workspace, name)
        let count = try s.track(track).stats().count
        let out = try s.track(track).envelope(field: field, range: range, buckets: buckets)
        func point(_ p: EnvelopePoint?) -> Value { p.map { .array([.int(Int64($0.index)), .double($0.value)]) } ?? .null }
        return .object([
            "track": .string(track), "field": .string(field), "count": .int(Int64(count)),
            "buckets": .array(out.map { b in
                .object([
                    "from": .int(Int64(b.range.lowerBound)), "to": .int(Int64(b.range.upperBound)),
                    "first": point(b.first), "last": point(b.last), "min": point(b.min), "max": point(b.max),
                    "count": .int(Int64(b.count)), "nan": .int(Int64(b.nanCount)),
                    "posInf": .int(Int64(b.positiveInfinityCount)), "negInf": .int(Int64(b.negativeInfinityCount)),
                    "missing": .int(Int64(b.missingCount)),
                ])
            }),
        ])
    }

    /// `GET /api/points?workspace&session&track&from&limit`: points as stored.
    package func points(_ workspace: String, _ name: String, track: String, from: UInt64, limit: Int) throws(DreamlakeError) -> Value {
        let page = try session(workspace, name).track(track).read(startIndex: from, limit: limit)
        return ViewerService.browserSafe(.object([
            "track": .string(track),
            "points": .array(page.points.map { .object(["index": .int(Int64($0.index)), "timestamp": .int($0.timestamp), "data": .object($0.data)]) }),
        ]))
    }

    /// `GET /api/logs?workspace&session&from&limit&level&q`: log entries from
    /// `from`, at `level` or above, holding `q` in their message; `next` is
    /// where the next page starts.
    package func logs(_ workspace: String, _ name: String, from: UInt64, limit: Int, level: LogLevel?, text: String?) throws(DreamlakeError) -> Value {
        let s = try session(workspace, name)
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
        let s = try session(workspace, name)
        guard let file = try s.files.list().first(where: { $0.id == id }) else {
            throw DreamlakeError(.notFound, "session \(workspace)/\(name) has no file \(id)")
        }
        guard let relative = Files.relativeLocation(id: file.id, path: file.path, filename: file.filename) else {
            throw DreamlakeError(.invalidInput, "file \(id) has a path or name that would leave the session's folder")
        }
        do {
            return (try FileSystem.openInside(s.directory, "files/" + relative), file)
        } catch {
            throw DreamlakeError(.io, "the stored bytes of file \(id) cannot be read: \(error.message)")
        }
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
