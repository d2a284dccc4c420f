import ArgumentParser
import Dreamlake
@_spi(Reference) import DreamlakeStore
import Foundation
import Histogram

/// `dreamlake bench`: the reference workload through the session API.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure ingest through the session API, and check what it left.",
        subcommands: [Ingest.self, Check.self, Logs.self, Remote.self, Runs.self, S3.self])

    /// Opens `bench/<name>` made anew: the last run's session is removed
    /// first, but never under a running writer: while another process writes
    /// it, this one joins it as another writer instead.
    static func freshSession(_ name: String, root: String, durability: Durability) throws -> Session {
        let session = try Session(name: name, workspace: workspace, localPath: root, durability: durability)
        // Commands started at once (two `bench logs`, say) decide under one
        // lock which makes the session anew: the first removes the last run
        // and opens the session; the others find it open and join it. Without
        // the lock, one could remove the session another has just opened.
        // The workspace's folder: under the root, or for an S3 root under its spool.
        let folder = FileSystem.directoryName(session.directory)
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw DreamlakeError(.io, "could not make \(folder): \(error.localizedDescription)")
        }
        let lockPath = folder + "/." + name + ".bench-lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0o644)
        guard fd >= 0 else { throw DreamlakeError(.io, "could not open \(lockPath): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw DreamlakeError(.io, "could not lock \(lockPath): \(String(cString: strerror(errno)))") }
        }
        if Store.liveWriter(directory: session.directory) == nil {
            // The last run goes, from its folder and, for an S3 root, from the bucket (or the new run would continue it).
            try sessionRoot(root).session(workspace: workspace, name: name).remove()
            // A new session object: the one above knows the last run's manifest, which is gone.
            let fresh = try Session(name: name, workspace: workspace, localPath: root, durability: durability)
            try fresh.open()
            return fresh
        }
        try session.open()
        return session
    }

    static let workspace = "bench"
    static let sessionName = "ingest"
    static let trackName = "loss"
}

/// `--durability buffered|interval:MS|always`.
extension Durability: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument {
        case "buffered": self = .buffered
        case "always": self = .always
        default:
            guard argument.hasPrefix("interval:"), let ms = Int(argument.dropFirst("interval:".count)), ms >= 1 else { return nil }
            self = .interval(milliseconds: ms)
        }
    }
}

/// Monotonic nanoseconds, cheap enough to read around every append.
@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

extension Bench {
    struct Ingest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append the reference workload, one call a point, to session bench/ingest (made anew), and report the speed.",
            discussion: """
            Point i is {"value": 2.0/(1.0 + i*1e-4) + 0.01*sin(i*0.37), "step": i}, appended with track.append(value:step:). \
            The rate is the whole run's: points over seconds, with no clock read of the benchmark's own between appends; \
            --latency times each append instead (a clock read each, which the rate then includes). \
            --resume appends --points more points to the session as it is (after a kill -9, say), point i at index i. \
            With --print-durable, a line `durable N` is printed (and flushed) on stdout each time the first N points have become durable. \
            --processes N starts N processes of this command at once on the one session, each its own writer (rank k), \
            each appending --points points to its own track loss-k, or all to track loss with --shared-track; \
            it reports the total rate (all points over the time from the first start to the last exit) and each process's.
            """)

        @OptionGroup var root: RootOption

        @Option(help: "How many points to append.")
        var points: Int

        @Option(help: "buffered, interval:MS or always (default: the library's, interval:1000).")
        var durability: Durability = StoreConfiguration().durability

        @Flag(help: "Print `durable N` each time the first N points are durable.")
        var printDurable = false

        @Flag(help: "Time each append and report latency percentiles.")
        var latency = false

        @Flag(help: "Continue session bench/ingest from its last point (after a kill, say) instead of making it anew.")
        var resume = false

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        @Option(help: "Write with this many processes at once, each its own writer of the one session.")
        var processes = 1

        @Flag(help: "With --processes: every process appends to track loss (else each to its own, loss-RANK).")
        var sharedTrack = false

        @Option(help: .hidden)
        var rank: Int?

        func validate() throws {
            guard points > 0 else { throw ValidationError("--points must be positive") }
            guard processes >= 1, processes <= 10_000 else { throw ValidationError("--processes must be from 1 to 10000") }
            guard rank == nil || processes == 1 else { throw ValidationError("--rank is for the processes --processes starts") }
        }

        func run() throws {
            try reportingErrors {
                if processes > 1 { return try runProcesses() }
                let session: Session
                if resume || rank != nil {
                    session = try Session(name: Bench.sessionName, workspace: Bench.workspace, localPath: root.path, durability: durability,
                                          rank: rank)
                    try session.open()
                } else {
                    session = try Bench.freshSession(Bench.sessionName, root: root.path, durability: durability)
                }
                let trackName = rank.map { sharedTrack ? Bench.trackName : "\(Bench.trackName)-\($0)" } ?? Bench.trackName
                let track = session.track(trackName, description: "the reference workload")
                // Point i of the workload goes to index i: a resumed run starts where the track ends.
                let first = resume ? ((try? track.stats().count) ?? 0) : 0
                let out = DurableReporter(enabled: printDurable)
                let watcher = printDurable ? Thread { out.watch(track) } : nil
                watcher?.start()

                var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
                // The values are computed a chunk at a time. The rate counts
                // that, as Python's loop counts computing its values; with
                // --latency each append's latency is the time from the previous
                // append's return to its own (one clock read per append instead
                // of two), the chunk's values computed outside the timed stretches.
                let chunk = 4096
                var values = [Double](repeating: 0, count: chunk)
                let start = monotonicNanos()
                let end = Int(first) + points
                var base = Int(first)
                while base < end {
                    let n = min(chunk, end - base)
                    for k in 0..<n { values[k] = ReferenceWorkload.value(base + k) }
                    if latency {
                        var last = monotonicNanos()
                        for k in 0..<n {
                            try track.append(value: values[k], step: base + k)
                            let now = monotonicNanos()
                            _ = histogram.record(now - last)
                            last = now
                        }
                    } else {
                        for k in 0..<n { try track.append(value: values[k], step: base + k) }
                    }
                    base += n
                }
                let seconds = Double(monotonicNanos() - start) / 1e9
                try session.close()
                out.finish(total: UInt64(end))
                if rank != nil {
                    // One of --processes: the parent reads this line.
                    print(PythonFormat.json(.object(["points": .int(Int64(points)), "seconds": .double(seconds)])))
                    return
                }
                let bytes = diskUsage(Store.segmentsDirectory(of: session.directory)).bytes
                let perPoint = Double(bytes) / Double(end)  // the session holds `end` points
                if json {
                    var doc: ValueObject = [
                        "points": .int(Int64(points)), "seconds": .double(seconds),
                        "points_per_second": .double(Double(points) / seconds),
                        "bytes_on_disk": .int(bytes), "bytes_per_point": .double(perPoint),
                    ]
                    if latency {
                        doc["p50_ns"] = .int(Int64(histogram.valueAtPercentile(50)))
                        doc["p99_ns"] = .int(Int64(histogram.valueAtPercentile(99)))
                        doc["p999_ns"] = .int(Int64(histogram.valueAtPercentile(99.9)))
                        doc["max_ns"] = .int(Int64(histogram.maxRecorded))
                    }
                    print(PythonFormat.json(.object(doc)))
                } else {
                    print("\(Bench.workspace)/\(Bench.sessionName): \(points) points in \(String(format: "%.3f", seconds)) s: "
                          + "\(String(format: "%.2f", Double(points) / seconds / 1e6)) M points/s (durability \(durability))"
                          + (latency ? ", each append timed" : ""))
                    if latency {
                        print("append latency: p50 \(histogram.valueAtPercentile(50)) ns, p99 \(histogram.valueAtPercentile(99)) ns, "
                              + "p999 \(histogram.valueAtPercentile(99.9)) ns, max \(histogram.maxRecorded) ns")
                    }
                    print("on disk: \(bytes) bytes, \(String(format: "%.2f", perPoint)) bytes a point")
                }
            }
        }
    }

}

extension Bench.Ingest {
    /// Starts `processes` copies of this command, each writing the session as rank k.
    fileprivate func runProcesses() throws {
        _ = try Bench.freshSession(Bench.sessionName, root: root.path, durability: durability).close()
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let start = monotonicNanos()
        var children: [(Process, Pipe)] = []
        for k in 0..<processes {
            let p = Process()
            p.executableURL = executable
            p.arguments = ["bench", "ingest", "--root", root.path, "--points", String(points), "--durability", durability.argument,
                           "--rank", String(k)] + (sharedTrack ? ["--shared-track"] : [])
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            children.append((p, out))
        }
        var rates: [Double] = []
        var failed: [String] = []
        for (k, (p, out)) in children.enumerated() {
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            guard p.terminationStatus == 0, let doc = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let seconds = doc["seconds"] as? Double, seconds > 0 else {
                failed.append("process \(k) (exit \(p.terminationStatus))")
                continue
            }
            rates.append(Double(points) / seconds)
        }
        let seconds = Double(monotonicNanos() - start) / 1e9
        guard failed.isEmpty else { throw DreamlakeError(.io, "bench ingest: \(failed.joined(separator: ", ")) failed") }
        let total = Double(points * processes)
        let session = try Session(name: Bench.sessionName, workspace: Bench.workspace, localPath: root.path)
        let bytes = diskUsage(Store.segmentsDirectory(of: session.directory)).bytes
        if json {
            print(PythonFormat.json(.object([
                "processes": .int(Int64(processes)), "points_each": .int(Int64(points)), "shared_track": .bool(sharedTrack),
                "seconds": .double(seconds), "points_per_second": .double(total / seconds),
                "process_points_per_second": .array(rates.map { .double($0) }), "bytes_on_disk": .int(bytes),
            ])))
        } else {
            print("\(Bench.workspace)/\(Bench.sessionName): \(processes) processes of \(points) points" + (sharedTrack ? " into one track" : " each into its own track")
                  + " in \(String(format: "%.3f", seconds)) s: \(String(format: "%.2f", total / seconds / 1e6)) M points/s in all (durability \(durability))")
            print("each process: " + rates.map { String(format: "%.2f", $0 / 1e6) }.joined(separator: ", ") + " M points/s")
            print("on disk: \(bytes) bytes, \(String(format: "%.2f", Double(bytes) / total)) bytes a point")
        }
    }
}

extension Durability {
    /// The form `--durability` takes.
    var argument: String {
        switch self {
        case .buffered: "buffered"
        case .always: "always"
        case .interval(let ms): "interval:\(ms)"
        }
    }
}

extension Bench {
    struct Logs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write log entries through the session API to session bench/logs (made anew) and report the rate.",
            discussion: "Entry i is log(\"step i\", level: .info, metadata: [\"step\": i]), as the peers comparison does in Python.")

        @OptionGroup var root: RootOption

        @Option(help: "How many log entries to write.")
        var count: Int

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func validate() throws {
            guard count > 0 else { throw ValidationError("--count must be positive") }
        }

        func run() throws {
            try reportingErrors {
                let session = try Bench.freshSession("logs", root: root.path, durability: StoreConfiguration().durability)
                let start = monotonicNanos()
                for i in 0..<count { try session.log("step \(i)", level: .info, metadata: ["step": i]) }
                let seconds = Double(monotonicNanos() - start) / 1e9
                try session.close()
                let bytes = diskUsage(Store.segmentsDirectory(of: session.directory)).bytes
                if json {
                    print(PythonFormat.json(["entries": .int(Int64(count)), "seconds": .double(seconds),
                                             "entries_per_second": .double(Double(count) / seconds),
                                             "bytes_on_disk": .int(bytes), "bytes_per_entry": .double(Double(bytes) / Double(count))]))
                } else {
                    print("\(Bench.workspace)/logs: \(count) entries in \(String(format: "%.3f", seconds)) s: "
                          + "\(String(format: "%.0f", Double(count) / seconds)) entries/s, \(bytes) bytes on disk")
                }
            }
        }
    }

    /// `dreamlake bench runs`: the viewer's workloads (issue 16's targets).
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write many sessions for the viewer's measurements: workspace bench-runs (made anew).",
            discussion: """
            Session k (run-0000, run-0001, ...) has --parameters parameters (p0 ... , p0 = k / count) and --tracks             tracks (t0 ...) of --points points each, point i = {"value": the reference workload's value i + k/count,             "step": i}. 1,000 sessions of 20 parameters and 5 tracks is the runs table's target; one session of 10             tracks of 10,000,000 points is the run page's.
            """)

        @OptionGroup var root: RootOption

        @Option(help: "How many sessions.")
        var sessions = 1

        @Option(help: "Parameters per session.")
        var parameters = 20

        @Option(help: "Tracks per session.")
        var tracks = 5

        @Option(help: "Points per track.")
        var points = 100

        func validate() throws {
            guard sessions > 0, parameters >= 0, tracks >= 0, points >= 0 else {
                throw ValidationError("--sessions must be positive; --parameters, --tracks and --points at least 0")
            }
        }

        func run() throws {
            try reportingErrors {
                let workspace = root.path + "/bench-runs"
                if FileManager.default.fileExists(atPath: workspace) {
                    do { try FileManager.default.removeItem(atPath: workspace) } catch {
                        throw DreamlakeError(.io, "could not remove the last run at \(workspace): \(error.localizedDescription)")
                    }
                }
                let start = monotonicNanos()
                for k in 0..<sessions {
                    let name = "run-" + String(repeating: "0", count: max(0, 4 - String(k).count)) + String(k)
                    let session = try Session(name: name, workspace: "bench-runs", localPath: root.path, tags: [k % 2 == 0 ? "even" : "odd"],
                                              folder: "/sweep/\(k % 10)", durability: .buffered)
                    try session.open()
                    var object = ValueObject()
                    for p in 0..<parameters { object["p\(p)"] = .double(Double(k) / Double(sessions) + Double(p)) }
                    try session.parameters.set(object: object)
                    let shift = Double(k) / Double(sessions)
                    for t in 0..<tracks {
                        let track = session.track("t\(t)")
                        for i in 0..<points { try track.append(value: ReferenceWorkload.value(i) + shift, step: i) }
                    }
                    try session.log("run \(k) done")
                    try session.close()
                }
                let seconds = Double(monotonicNanos() - start) / 1e9
                print("bench-runs: \(sessions) sessions, \(parameters) parameters and \(tracks) tracks of \(points) points each, in \(String(format: "%.1f", seconds)) s")
            }
        }
    }

    struct S3: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "s3",
            abstract: "Append the reference workload to a session of an S3 root, upload it, and read 1,000 points from its middle elsewhere.",
            discussion: """
            Appends --points points to session bench/s3 (made anew) under --root, an S3 root, and reports: the \
            append rate (appends go to the local spool); the upload (flush(uploading:): the last segment sealed, \
            then every segment, index and the manifest sent) in MB/s of segments; then, on an empty cache \
            folder as another machine would, the time and the requests to open the session (the manifest and \
            the commit log) and then to read 1,000 points from the middle (the blocks, by ranges).
            """)

        @OptionGroup var root: RootOption

        @Option(help: "How many points to append.")
        var points = 10_000_000

        func validate() throws {
            guard points >= 2_000 else { throw ValidationError("--points must be at least 2000") }
        }

        func run() throws {
            try reportingErrors {
                guard ObjectStoreRoot.isObjectStore(root.path) else { throw DreamlakeError(.invalidArgument, "--root must be an S3 root, s3://BUCKET/PREFIX") }
                let session = try Bench.freshSession("s3", root: root.path, durability: StoreConfiguration().durability)
                let track = session.track(Bench.trackName)
                let start = monotonicNanos()
                for i in 0..<points { try track.append(value: ReferenceWorkload.value(i), step: i) }
                let appended = Double(monotonicNanos() - start) / 1e9
                let uploadStart = monotonicNanos()
                try session.flush(uploading: true)
                let uploaded = Double(monotonicNanos() - uploadStart) / 1e9
                // What was uploaded: the sealed segments (all of them, after the upload above).
                let part: SealedPart
                do throws(StoreError) { part = try Store.sealedPart(directory: session.directory) } catch { throw DreamlakeError(error) }
                let bytes = part.segments.reduce(UInt64(0)) { $0 + $1.length }
                try session.close()

                // Another machine: an empty cache folder.
                let cache = NSTemporaryDirectory() + "dreamlake-bench-s3-" + UUID().uuidString
                defer { try? FileManager.default.removeItem(atPath: cache) }
                var env = ProcessInfo.processInfo.environment
                env["DREAMLAKE_S3_CACHE"] = cache
                let reader = try Session(name: "s3", workspace: Bench.workspace, localPath: root.path, description: nil, tags: nil,
                                         folder: nil, metadataObject: nil, environment: env)
                let openStart = monotonicNanos()
                try reader.openForReading()
                let readTrack = reader.track(Bench.trackName)
                let opened = Double(monotonicNanos() - openStart) / 1e9
                let openRequests = (reader.root as? ObjectStoreRoot)?.bucket.client.requestCount ?? 0
                let readStart = monotonicNanos()
                let page = try readTrack.read(startIndex: UInt64(points / 2), limit: 1000)
                let read = Double(monotonicNanos() - readStart) / 1e9
                let readRequests = ((reader.root as? ObjectStoreRoot)?.bucket.client.requestCount ?? 0) - openRequests
                try reader.close()
                guard page.points.count == 1000, page.points.first?.index == UInt64(points / 2) else {
                    throw DreamlakeError(.io, "the read from the middle gave \(page.points.count) points")
                }
                print("\(Bench.workspace)/s3 at \(root.path): \(points) points appended in \(String(format: "%.3f", appended)) s "
                      + "(\(String(format: "%.2f", Double(points) / appended / 1e6)) M/s)")
                print("upload: \(bytes) bytes of segments in \(String(format: "%.3f", uploaded)) s "
                      + "(\(String(format: "%.1f", Double(bytes) / uploaded / 1e6)) MB/s, \(String(format: "%.2f", Double(points) / uploaded / 1e6)) M points/s)")
                print("elsewhere: opened in \(String(format: "%.1f", opened * 1000)) ms, \(openRequests) requests; "
                      + "1000 points from index \(points / 2) read in \(String(format: "%.1f", read * 1000)) ms, \(readRequests) requests")
            }
        }
    }

    struct Remote: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append the reference workload to a remote session and report how fast it is appended and delivered.",
            discussion: """
            Appends --points points to session bench/remote-<time> on the server (a remote session: appends go to a \
            spool in a temporary folder and are sent in the background), then closes it, which waits until the \
            server has them all. Reports the append rate (what a training loop sees) and the delivery rate.
            """)

        @Option(help: "The server's URL (dreamlake serve).")
        var url: String

        @Option(help: "A token for it (default: one signed for --user with the Python client's secret, as user_name= does).")
        var token: String?

        @Option(help: "The user name, when no --token is given.")
        var user = "bench"

        @Option(help: "How many points to append.")
        var points = 1_000_000

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func validate() throws {
            guard points > 0 else { throw ValidationError("--points must be positive") }
        }

        func run() throws {
            try reportingErrors {
                let spool = NSTemporaryDirectory() + "dreamlake-bench-remote-" + UUID().uuidString
                defer { try? FileManager.default.removeItem(atPath: spool) }
                let name = "remote-\(Int(Date().timeIntervalSince1970))"
                let session = try token.map {
                    try Session(name: name, workspace: Bench.workspace, remote: url, apiKey: $0, spool: spool, deliveryTimeout: 600)
                } ?? Session(name: name, workspace: Bench.workspace, remote: url, userName: user, spool: spool, deliveryTimeout: 600)
                try session.open()
                let track = session.track(Bench.trackName)
                let start = monotonicNanos()
                for i in 0..<points { try track.append(value: ReferenceWorkload.value(i), step: i) }
                let appended = Double(monotonicNanos() - start) / 1e9
                try session.close()
                let delivered = Double(monotonicNanos() - start) / 1e9
                if json {
                    print(PythonFormat.json(["points": .int(Int64(points)), "append_seconds": .double(appended),
                                             "appends_per_second": .double(Double(points) / appended),
                                             "delivered_seconds": .double(delivered),
                                             "delivered_per_second": .double(Double(points) / delivered)]))
                } else {
                    print("\(Bench.workspace)/\(name) at \(url): \(points) points appended in \(String(format: "%.3f", appended)) s "
                          + "(\(String(format: "%.0f", Double(points) / appended))/s), all on the server after "
                          + "\(String(format: "%.3f", delivered)) s (\(String(format: "%.0f", Double(points) / delivered))/s)")
                }
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check that track loss of session bench/ingest (or --track) holds exactly points 0..<n of the reference workload; print n.",
            discussion: "With --from K, only points K..<n are read and checked (n must be at least K): for a caller that checked the others already.")

        @OptionGroup var root: RootOption

        @Option(help: "The first point to check.")
        var from: UInt64 = 0

        @Option(help: "The track to check (loss-K is what rank K of `bench ingest --processes` writes).")
        var track = Bench.trackName

        func run() throws {
            try reportingErrors {
                let session = try Session(name: Bench.sessionName, workspace: Bench.workspace, localPath: root.path)
                do throws(DreamlakeError) { try session.openForReading() } catch {
                    guard error.code == .notFound else { throw error }
                    throw DreamlakeError(.notFound, "there is no bench/ingest session under \(root.path); run `\(invokedCommand) bench ingest --root \(absolutePath(root.path))` first")
                }
                defer { try? session.close() }
                let track = session.track(self.track)
                let count = (try? track.stats().count) ?? 0
                guard count >= from else {
                    throw DreamlakeError(.invalidValue, "the session holds \(count) points, fewer than --from \(from)")
                }
                var expected = from
                try forEachPoint(track, from: from, to: count) { p in
                    let i = Int(p.index)
                    let want: ValueObject = ["value": .double(ReferenceWorkload.value(i)), "step": .int(Int64(i))]
                    guard p.index == expected else {
                        throw DreamlakeError(.invalidValue, "point \(expected) is missing: the next point read has index \(p.index)")
                    }
                    guard Value.object(p.data) == .object(want) else {
                        throw DreamlakeError(.invalidValue, "point \(i) is \(PythonFormat.json(.object(p.data))), not \(PythonFormat.json(.object(want)))")
                    }
                    expected += 1
                }
                guard expected == count else {
                    throw DreamlakeError(.invalidValue, "the track says it holds \(count) points but \(expected - from) of \(count - from) were read from \(from)")
                }
                print(count)
            }
        }
    }
}

/// Prints `durable N` lines as a track's durable count grows.
final class DurableReporter: Sendable {
    private let enabled: Bool
    private let state = Locked<(last: UInt64, done: Bool)>((0, false))

    init(enabled: Bool) { self.enabled = enabled }

    /// Looks every 2 ms until ``finish(total:)``.
    func watch(_ track: Track) {
        while true {
            if let n = try? track.durableCount() { report(n) }
            if state.withLock({ $0.done }) { return }
            Thread.sleep(forTimeInterval: 0.002)
        }
    }

    /// Everything is durable once the session is closed.
    func finish(total: UInt64) {
        report(total)
        state.withLock { $0.done = true }
    }

    private func report(_ n: UInt64) {
        guard enabled else { return }
        state.withLock { s in
            guard n > s.last else { return }
            s.last = n
            // Written straight to the descriptor (no buffer to lose if the
            // process is killed next), while holding the lock, so lines come out in order.
            var line = Array("durable \(n)\n".utf8)
            var done = 0
            while done < line.count {
                let w = line.withUnsafeMutableBytes { Glibc.write(1, $0.baseAddress! + done, $0.count - done) }
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { return }
                done += w
            }
        }
    }
}
