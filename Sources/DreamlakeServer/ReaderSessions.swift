import Dreamlake
import DreamlakeStore
import Foundation

/// Sessions of one root open for reading (``Session/openForReading()``),
/// shared by the requests that read them: the viewer's, and `serve`'s reads
/// of sessions another node writes. They stay open between requests, so that
/// their block summaries (and, for an S3 root, the blocks fetched) stay in
/// memory, at most `maxOpen` at a time: the least recently used one goes
/// first, and one a request still uses is closed when that request ends.
///
/// Each is refreshed before a request uses it, so a run being written shows
/// what its writer has written: every time for a folder (a look at its
/// files), at most once every `refreshInterval` seconds for an S3 root, where
/// a refresh is a listing and a GET.
package final class ReaderSessions: Sendable {
    /// The folder or S3 root the sessions are under (or why it cannot be reached, said to each request).
    private let root: Result<any SessionRoot, DreamlakeError>
    private let maxOpen: Int
    private let refreshNanos: UInt64

    private struct Open {
        var session: Session
        var used: UInt64
        /// Requests using the session now: it is closed only once none is.
        var users: Int
        /// When it was last refreshed (monotonic nanoseconds).
        var refreshedAt: UInt64
    }
    private struct State {
        var open: [String: Open] = [:]
        /// Sessions evicted while requests still used them, closed by the last one's release.
        var evicted: [ObjectIdentifier: Open] = [:]
        var clock: UInt64 = 0
    }
    private let state = Locked(State())
    /// The process's environment, read once: building it was a tenth of opening a thousand sessions.
    private let environment = ProcessInfo.processInfo.environment

    /// - Parameters:
    ///   - maxOpen: How many sessions stay open between requests.
    ///   - environment: Where an S3 root's endpoint and credentials come from.
    ///   - refreshInterval: For an S3 root, the fewest seconds between two refreshes of a session.
    package convenience init(root: String, maxOpen: Int, environment: [String: String], refreshInterval: Double = 1) {
        self.init(root: Result { () throws(DreamlakeError) in try sessionRoot(root, environment: environment) },
                  maxOpen: maxOpen, refreshInterval: refreshInterval)
    }

    /// - Parameters:
    ///   - maxOpen: How many sessions stay open between requests.
    ///   - refreshInterval: For an S3 root (one ``SessionRoot/isShared``), the fewest seconds between two refreshes of a session.
    package convenience init(root: any SessionRoot, maxOpen: Int, refreshInterval: Double = 1) {
        self.init(root: .success(root), maxOpen: maxOpen, refreshInterval: refreshInterval)
    }

    private init(root: Result<any SessionRoot, DreamlakeError>, maxOpen: Int, refreshInterval: Double) {
        self.root = root
        self.maxOpen = max(1, maxOpen)
        let shared = (try? root.get())?.isShared ?? false
        let interval = shared && refreshInterval.isFinite ? min(max(refreshInterval, 0), 3600) : 0
        refreshNanos = UInt64(interval * 1e9)
    }

    /// Runs `body` with session `workspace/name`, open for reading and
    /// refreshed. The session stays open while `body` runs, even if other
    /// requests evict it meanwhile.
    package func withSession<T>(_ workspace: String, _ name: String,
                                _ body: (Session) throws(DreamlakeError) -> T) throws(DreamlakeError) -> T {
        let s = try acquire(workspace, name)
        defer { release(workspace, name, s) }
        return try body(s)
    }

    /// Session `workspace/name`, open for reading and refreshed, counted as used until
    /// ``release(_:_:_:)`` is called with it.
    package func acquire(_ workspace: String, _ name: String) throws(DreamlakeError) -> Session {
        let key = workspace + "/" + name
        let now = WallClock.monotonicNanos()
        if let (s, due) = state.withLock({ (st: inout State) -> (Session, Bool)? in
            st.clock += 1
            guard var o = st.open[key] else { return nil }
            o.used = st.clock
            o.users += 1
            let due = now &- o.refreshedAt >= refreshNanos
            if due { o.refreshedAt = now }
            st.open[key] = o
            return (o.session, due)
        }) {
            if due {
                do { try s.refresh() } catch {
                    release(workspace, name, s)
                    throw error
                }
            }
            return s
        }
        let s = try Session(name: name, workspace: workspace, localPath: nil, description: nil, tags: nil, folder: nil,
                            metadataObject: nil, root: root.get(), environment: environment)
        try s.openForReading()
        // Two requests may open the same session at once: one copy is kept, the other closed.
        let (kept, closing) = state.withLock { (st: inout State) -> (Session, [Session]) in
            st.clock += 1
            if var o = st.open[key] {
                o.users += 1
                o.used = st.clock
                st.open[key] = o
                return (o.session, [s])
            }
            st.open[key] = Open(session: s, used: st.clock, users: 1, refreshedAt: now)
            var out: [Session] = []
            while st.open.count > maxOpen, let oldest = st.open.min(by: { $0.value.used < $1.value.used }) {
                st.open[oldest.key] = nil
                if oldest.value.users == 0 { out.append(oldest.value.session) } else { st.evicted[ObjectIdentifier(oldest.value.session)] = oldest.value }
            }
            return (s, out)
        }
        for e in closing { try? e.close() }
        return kept
    }

    /// Ends one use of `session` (from ``acquire(_:_:)``): one evicted meanwhile is closed by its last user.
    package func release(_ workspace: String, _ name: String, _ session: Session) {
        let key = workspace + "/" + name
        let id = ObjectIdentifier(session)
        let close = state.withLock { (st: inout State) -> Bool in
            if var o = st.open[key], ObjectIdentifier(o.session) == id {
                o.users -= 1
                st.open[key] = o
                return false
            }
            guard var o = st.evicted[id] else { return false }
            o.users -= 1
            if o.users > 0 {
                st.evicted[id] = o
                return false
            }
            st.evicted[id] = nil
            return true
        }
        if close { try? session.close() }
    }

    /// Closes every session it holds open; one a request still uses is closed when that request ends.
    package func close() {
        let sessions = state.withLock { s in
            defer { s.open = [:] }
            var idle: [Session] = []
            for o in s.open.values {
                if o.users == 0 { idle.append(o.session) } else { s.evicted[ObjectIdentifier(o.session)] = o }
            }
            return idle
        }
        for s in sessions { try? s.close() }
    }

    /// How many sessions are open (kept, or evicted and still in use): for tests.
    package var openCount: Int { state.withLock { $0.open.count + $0.evicted.count } }
}
