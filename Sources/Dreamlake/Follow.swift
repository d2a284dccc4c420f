// Live data as async sequences: a track's points and a session's log entries
// as they arrive, for `for try await` loops. Each is pulled: the next page is
// read when the last is used up, so a slow consumer holds one page of memory,
// never a backlog. When nothing new is there, the sequence waits `interval`
// and looks again: in the writer's process it sees every append that has
// returned; through a session opened for reading (in another process, say)
// it refreshes from the files first, and sees what the writer has written
// (its flushes, and its interval durability's writes). Cancelling the task
// that iterates ends the sequence: `next()` returns nil.

/// The points of a track from some index on, as they arrive (see ``Track/follow(from:interval:)``).
public struct TrackFollower: AsyncSequence, Sendable {
    /// A point as read back.
    public typealias Element = TrackPage.Point
    let track: Track
    let start: UInt64
    let interval: Duration

    /// An iterator from the first index asked for.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(track: track, nextIndex: start, interval: interval) }

    /// Reads a page at a time; waits when there is nothing new.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let track: Track
        var nextIndex: UInt64
        let interval: Duration
        var page: [TrackPage.Point] = []
        var position = 0

        /// The next point; nil once the iterating task is cancelled.
        public mutating func next() async throws -> TrackPage.Point? {
            while true {
                if position < page.count {
                    defer { position += 1 }
                    return page[position]
                }
                if Task.isCancelled { return nil }
                if track.session.isReadOnly { _ = try track.session.refresh() }
                page = try track.read(startIndex: nextIndex, limit: 4096).points
                position = 0
                if let last = page.last {
                    nextIndex = last.index + 1
                    continue
                }
                do { try await Task.sleep(for: interval) } catch { return nil }
            }
        }
    }
}

/// A session's log entries from some sequence number on, as they arrive (see ``Logs/follow(from:interval:)``).
public struct LogFollower: AsyncSequence, Sendable {
    /// A log entry.
    public typealias Element = LogEntry
    let session: Session
    let start: UInt64
    let interval: Duration

    /// An iterator from the first sequence number asked for.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(session: session, nextSequence: start, interval: interval) }

    /// Reads a page at a time; waits when there is nothing new.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let session: Session
        var nextSequence: UInt64
        let interval: Duration
        var page: [LogEntry] = []
        var position = 0

        /// The next entry; nil once the iterating task is cancelled.
        public mutating func next() async throws -> LogEntry? {
            while true {
                if position < page.count {
                    defer { position += 1 }
                    return page[position]
                }
                if Task.isCancelled { return nil }
                if session.isReadOnly { _ = try session.refresh() }
                page = try session.logs(from: nextSequence, limit: 4096)
                position = 0
                if let last = page.last {
                    nextSequence = last.sequence + 1
                    continue
                }
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
    public func follow(from start: UInt64 = 0, interval: Duration = .milliseconds(20)) -> TrackFollower {
        TrackFollower(track: self, start: start, interval: interval)
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
    public func follow(from start: UInt64 = 0, interval: Duration = .milliseconds(20)) -> LogFollower {
        LogFollower(session: session, start: start, interval: interval)
    }
}
