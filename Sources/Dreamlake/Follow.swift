// Live data as async sequences: a track's points and a session's log entries
// as they arrive, for `for try await` loops. Each is pulled: the next page is
// read when the last is used up, so a slow consumer holds one page of memory,
// never a backlog. When nothing new is there, the sequence waits `interval`
// and looks again: in the writer's process it sees every append that has
// returned; through a session opened for reading (in another process, say)
// it refreshes from the files first, and sees what the writer has written
// (its flushes, and its interval durability's writes). Cancelling the task
// that iterates ends the sequence: `next()` returns nil.

/// Records of a stream from some position on, as they arrive: a track's
/// points (``Track/follow(from:interval:)``) or a session's log entries
/// (``Logs/follow(from:interval:)``).
public struct Follower<Element: Sendable>: AsyncSequence, Sendable {
    /// Reads a page from a position: the records, and the position after the last of them.
    typealias Fetch = @Sendable (UInt64) throws(DreamlakeError) -> (records: [Element], next: UInt64)
    let session: Session
    let start: UInt64
    let interval: Duration
    let fetch: Fetch

    /// An iterator from the first position asked for.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(session: session, next: start, interval: interval, fetch: fetch)
    }

    /// Reads a page at a time; waits when there is nothing new.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let session: Session
        var next: UInt64
        let interval: Duration
        let fetch: Fetch
        var page: [Element] = []
        var position = 0

        /// The next record; nil once the iterating task is cancelled.
        public mutating func next() async throws -> Element? {
            while true {
                if position < page.count {
                    defer { position += 1 }
                    return page[position]
                }
                if Task.isCancelled { return nil }
                if session.isReadOnly { _ = try session.refresh() }
                (page, next) = try fetch(next)
                position = 0
                if !page.isEmpty { continue }
                do { try await Task.sleep(for: interval) } catch { return nil }
            }
        }
    }
}

extension Track {
    /// The track's points from index `start` on, as they arrive:
    /// `for try await point in track.follow(from: 0) { ... }`. The sequence
    /// ends when the iterating task is cancelled; it throws when the session
    /// is closed or the store fails.
    ///
    /// - Parameters:
    ///   - start: The first index.
    ///   - interval: How long to wait before looking again when nothing new is there.
    public func follow(from start: UInt64 = 0, interval: Duration = .milliseconds(20)) -> Follower<TrackPage.Point> {
        Follower(session: session, start: start, interval: interval) { (from) throws(DreamlakeError) in
            let points = try read(startIndex: from, limit: 4096).points
            return (points, points.last.map { $0.index + 1 } ?? from)
        }
    }
}

extension Logs {
    /// The log's entries from sequence number `start` on, as they arrive:
    /// `for try await entry in session.logs.follow() { ... }`. The sequence
    /// ends when the iterating task is cancelled; it throws when the session
    /// is closed or the store fails.
    ///
    /// - Parameters:
    ///   - start: The first sequence number.
    ///   - interval: How long to wait before looking again when nothing new is there.
    public func follow(from start: UInt64 = 0, interval: Duration = .milliseconds(20)) -> Follower<LogEntry> {
        Follower(session: session, start: start, interval: interval) { (from) throws(DreamlakeError) in
            let entries = try self(from: from, limit: 4096)
            return (entries, entries.last.map { $0.sequence + 1 } ?? from)
        }
    }
}
