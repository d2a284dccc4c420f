import DreamlakeTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import Dreamlake
import DreamlakeS3
@testable import DreamlakeServer
import DreamlakeStore

// Issue 16: the viewer's JSON API (items 2 to 6), over HTTP against a viewer
// on a free port, as the page, curl or pandas read it.

/// A viewer serving `root` for the length of `body`, and a GET helper.
private func withViewerClient(_ root: String, secret: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                              _ body: (_ get: @escaping (String, [String: String]) async throws -> (Int, Data, HTTPURLResponse)) async throws -> Void) async throws {
    try await withViewer(root, secret: secret, environment: environment) { port in
        try await body { path, headers in
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
            let (data, response) = try await client.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            return (http.statusCode, data, http)
        }
    }
}

private func json(_ data: Data) throws -> Value { try PythonJSONReader.parse(Array(data)) }

/// A client that keeps no cookies: each request carries exactly the ones a test gives it
/// (URLSession.shared would add those another test's server set on 127.0.0.1, whatever the port).
private let client: URLSession = {
    let c = URLSessionConfiguration.ephemeral
    c.httpShouldSetCookies = false
    c.httpCookieStorage = nil
    return URLSession(configuration: c)
}()

@Suite struct ViewerTests {
    /// Where a test's sessions are: a folder, or an S3 root (the local Ceph) that the writers and the
    /// viewer reach from machines of their own (cache folders), so the viewer has only the bucket.
    struct Root {
        let folder = TempRoot()
        let path: String
        let writer: [String: String]
        let viewer: [String: String]

        init(_ kind: String) throws {
            guard kind == "s3" else {
                path = folder.path
                writer = ProcessInfo.processInfo.environment
                viewer = writer
                return
            }
            let env = try #require(TestS3.environment, "\(TestS3.missing)")
            try S3Client(try S3Configuration.fromEnvironment(env)).createBucket(TestS3.bucket)
            path = "s3://\(TestS3.bucket)/\(TestS3.freshPrefix("viewer"))"
            writer = env.merging(["DREAMLAKE_S3_CACHE": folder.path + "/writer"]) { $1 }
            viewer = env.merging(["DREAMLAKE_S3_CACHE": folder.path + "/viewer"]) { $1 }
        }

        func session(_ name: String, tags: [String]? = nil, folder: String? = nil, reader: Bool = false) throws -> Session {
            try Session(name: name, workspace: "vision", localPath: path, description: nil, tags: tags, folder: folder,
                        metadataObject: nil, environment: reader ? viewer : writer)
        }

        func remove() { folder.remove() }
    }

    /// Two runs as a training script leaves them; every endpoint answers what was stored, read from a
    /// folder or from an S3 root.
    @Test(arguments: ["folder", "s3"]) func theAPIAnswersWhatWasStored(_ kind: String) async throws {
        let root = try Root(kind)
        defer { root.remove() }
        let a = try root.session("a", tags: ["baseline"], folder: "/resnet")
        try a.open()
        try a.parameters.set(["lr": 0.01, "model": ["layers": 4]])
        let loss = a.track("loss")
        for i in 0..<10_000 { try loss.append(["value": i == 5_000 ? 1e6 : i == 7_000 ? .nan : 1 / Double(i + 1), "step": i]) }
        try a.log("starting", level: .info)
        try a.log("loss is NaN at 7000", level: .warn)
        try a.log("done", level: .info)
        let local = root.folder.path + "/weights.bin"
        try Data((0..<3_000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: local))
        let stored = try a.files.upload(local, path: "/models", tags: ["best"])
        try a.close()
        let b = try root.session("b")
        try b.open()
        try b.parameters.set(["lr": 0.001])
        for i in 0..<10 { try b.track("loss").append(value: Double(i), step: i) }
        try b.close()

        try await withViewerClient(root.path, environment: root.viewer) { get in
            // The runs table.
            let (status, body, _) = try await get("/api/runs", [:])
            #expect(status == 200)
            let runs = try #require(try json(body).objectValue?["runs"]?.arrayValue)
            #expect(runs.map { $0.objectValue?["session"]?.stringValue } == ["a", "b"])
            let rowA = try #require(runs[0].objectValue)
            #expect(rowA["folder"] == "/resnet" && rowA["tags"] == ["baseline"] && rowA["live"] == false)
            #expect(rowA["points"] == 10_000 && rowA["logs"] == 3)
            #expect(rowA["parameters"] == ["lr": 0.01, "model.layers": 4])
            #expect(rowA["tracks"]?.arrayValue?.first?.objectValue?["last"] == .double(1 / 10_000.0))

            // A run.
            let run = try #require(try json(try await get("/api/run?workspace=vision&session=a", [:]).1).objectValue)
            #expect(run["parametersNested"] == ["lr": 0.01, "model": ["layers": 4]])
            #expect(run["tracks"]?.arrayValue?.first?.objectValue?["numericFields"] == ["value", "step"])
            let file = try #require(run["files"]?.arrayValue?.first?.objectValue)
            #expect(file["checksum"]?.stringValue == stored.checksum)

            // The envelope is the session API's, and keeps the spike and the NaN.
            let env = try #require(try json(try await get("/api/envelope?workspace=vision&session=a&track=loss&buckets=20", [:]).1).objectValue)
            let buckets = try #require(env["buckets"]?.arrayValue)
            let reader = try root.session("a", reader: true)
            try reader.openForReading()
            defer { try? reader.close() }
            let want = try reader.track("loss").envelope(buckets: 20)
            #expect(buckets.count == want.count)
            for (got, w) in zip(buckets, want) {
                let o = try #require(got.objectValue)
                #expect(o["from"] == .int(Int64(w.range.lowerBound)) && o["to"] == .int(Int64(w.range.upperBound)))
                #expect(o["max"] == .array([.int(Int64(w.max!.index)), .double(w.max!.value)]))
                #expect(o["min"] == .array([.int(Int64(w.min!.index)), .double(w.min!.value)]) && o["nan"] == .int(Int64(w.nanCount)))
                // Where a chart with a time axis puts the bucket: its first and last point's timestamps.
                #expect(o["t"] == .array([.int(w.firstTimestamp!), .int(w.lastTimestamp!)]))
            }
            let stamps = try reader.track("loss").read(startIndex: 0, limit: 10_000).points.map(\.timestamp)
            #expect(buckets.first?.objectValue?["t"]?.arrayValue?.first == .int(stamps[0]))
            #expect(buckets.last?.objectValue?["t"]?.arrayValue?.last == .int(stamps[9_999]))

            // The point under the pointer, by step, time or index: found by bisection, exact.
            func nearest(_ query: String) async throws -> Int64? {
                let o = try json(try await get("/api/nearest?workspace=vision&session=a&track=loss&" + query, [:]).1)
                return o.objectValue?["point"]?.objectValue?["index"]?.intValue
            }
            #expect(try await nearest("x=step&at=4321.5") == 4_321)
            #expect(try await nearest("x=step&at=4321") == 4_321)
            #expect(try await nearest("x=step&at=-5") == 0, "before every point: the first")
            #expect(try await nearest("x=step&at=1e300") == 9_999)
            #expect(try await nearest("x=index&at=777") == 777)
            #expect(try await nearest("x=time&at=\(stamps[1_234])") == Int64(stamps.lastIndex(of: stamps[1_234])!))
            #expect(try await nearest("x=step&at=4321&from=5000&to=6000") == 5_000, "within the range asked")
            let spike = try json(try await get("/api/nearest?workspace=vision&session=a&track=loss&x=step&at=5000", [:]).1)
            #expect(spike.objectValue?["point"]?.objectValue?["data"]?.objectValue?["value"] == 1e6)
            #expect(try await get("/api/nearest?workspace=vision&session=a&track=loss&x=step&at=NaN", [:]).0 == 400)
            #expect(buckets.contains { $0.objectValue?["max"]?.arrayValue?.last == 1e6 })
            #expect(buckets.contains { $0.objectValue?["nan"] == 1 })
            // With x=step, each bucket says where its first and last step are.
            let withSteps = try #require(try json(try await get("/api/envelope?workspace=vision&session=a&track=loss&buckets=20&x=step", [:]).1)
                .objectValue?["buckets"]?.arrayValue)
            let steps = try reader.track("loss").envelope(field: "step", buckets: 20)
            #expect(withSteps.count == steps.count && withSteps.first?.objectValue?["max"] == buckets.first?.objectValue?["max"])
            for (got, w) in zip(withSteps, steps) {
                #expect(got.objectValue?["x"] == .array([.array([.int(Int64(w.first!.index)), .double(w.first!.value)]),
                                                         .array([.int(Int64(w.last!.index)), .double(w.last!.value)])]))
            }
            let zoomed = try json(try await get("/api/envelope?workspace=vision&session=a&track=loss&from=6990&to=7010&buckets=100", [:]).1)
            #expect(zoomed.objectValue?["buckets"]?.arrayValue?.count == 20, "down to every single point")

            // Points: a NaN is the string "NaN", which every JSON parser reads.
            let (_, pointsBody, _) = try await get("/api/points?workspace=vision&session=a&track=loss&from=6999&limit=2", [:])
            #expect(try JSONSerialization.jsonObject(with: pointsBody) is [String: Any])
            let points = try #require(try json(pointsBody).objectValue?["points"]?.arrayValue)
            #expect(points.map { $0.objectValue?["data"]?.objectValue?["value"] } == [.double(1 / 7_000.0), "NaN"])

            // Logs, by level and by text.
            let warn = try json(try await get("/api/logs?workspace=vision&session=a&level=warn", [:]).1)
            #expect(warn.objectValue?["entries"]?.arrayValue?.map { $0.objectValue?["message"] } == ["loss is NaN at 7000"])
            let text = try json(try await get("/api/logs?workspace=vision&session=a&q=DONE", [:]).1)
            #expect(text.objectValue?["entries"]?.arrayValue?.map { $0.objectValue?["message"] } == ["done"])

            // A file, with its checksum.
            let (fileStatus, bytes, response) = try await get("/api/file?workspace=vision&session=a&id=\(stored.id)", [:])
            let original = try Data(contentsOf: URL(fileURLWithPath: local))
            #expect(fileStatus == 200 && bytes == original)
            #expect(response.value(forHTTPHeaderField: "X-Checksum-SHA256") == stored.checksum)

            // The page, and clear errors.
            let (pageStatus, page, _) = try await get("/", [:])
            #expect(pageStatus == 200 && String(decoding: page, as: UTF8.self).contains("/app.js"))
            let (missing, missingBody, _) = try await get("/api/run?workspace=vision&session=nope", [:])
            let missingError = try json(missingBody).objectValue?["error"]?.stringValue
            #expect(missing == 404 && missingError?.contains("nope") == true)
            #expect(try await get("/api/envelope?workspace=vision&session=a&track=loss&buckets=0", [:]).0 == 400)
            #expect(try await get("/api/envelope?workspace=vision&session=a&track=loss&from=-1", [:]).0 == 400)
        }
    }

    /// A session of an S3 root is refreshed (a listing and a GET) at most once every `refreshInterval`
    /// seconds, however many requests read it; one of a folder, at every request.
    @Test(arguments: ["folder", "s3"]) func readersOfAnS3RootRefreshAtMostOnceAnInterval(_ kind: String) throws {
        let root = try Root(kind)
        defer { root.remove() }
        let writer = try root.session("a")
        try writer.open()
        try writer.track("loss").append(value: 1, step: 0)
        try writer.flush(uploading: true)
        let readers = ReaderSessions(root: root.path, maxOpen: 4, environment: root.viewer, refreshInterval: 2)
        defer { readers.close() }
        func count() throws -> UInt64 { try readers.withSession("vision", "a") { (s) throws(DreamlakeError) in try s.track("loss").stats().count } }
        #expect(try count() == 1)
        try writer.track("loss").append(value: 2, step: 1)
        try writer.flush(uploading: true)
        #expect(try count() == (kind == "s3" ? 1 : 2), "an S3 reader refreshed within its interval")
        Thread.sleep(forTimeInterval: 2.1)
        #expect(try count() == 2)
        try writer.close()
    }

    /// Issue 33: the runs table's rows are kept in a file between starts, so that the first answer after a
    /// start is the same bytes and opens only the sessions written since; a file that is not one this viewer
    /// wrote for this root is ignored.
    @Test func theRunsTableIsKeptBetweenStartsAndOnlySessionsWrittenSinceAreOpened() throws {
        let root = TempRoot(), cache = TempRoot()
        defer { root.remove(); cache.remove() }
        func write(_ name: String, points: Range<Int>) throws {
            let s = try Session(name: name, workspace: "w", localPath: root.path)
            try s.open()
            try s.parameters.set(["lr": 0.5, "name": name, "model": ["layers": 4]])
            for i in points { try s.track("loss").append(value: 1 / Double(i + 1), step: i) }
            try s.close()
        }
        for name in ["a", "b", "c"] { try write(name, points: 0..<100) }
        let file = cache.path + "/viewer/rows.json"
        func answer(_ service: ViewerService) throws -> [UInt8] { RemoteWire.encode(try service.runs()) }
        func started(_ body: (ViewerService) throws -> Void) throws {
            let service = try ViewerService(root: root.path, rowFile: file)
            defer { service.close() }
            try body(service)
        }
        var fresh: [UInt8] = []
        try started { service in
            fresh = try answer(service)
            #expect(service.openSessionCount == 3)
        }
        #expect(FileSystem.kind(file) == .regular, "written at close")
        try started { service in
            let body = try answer(service)
            #expect(body == fresh, "the same answer, byte for byte")
            #expect(service.openSessionCount == 0, "from the file: no session opened")
        }
        try write("b", points: 100..<150)
        try started { service in
            let runs = try #require(try service.runs().objectValue?["runs"]?.arrayValue)
            #expect(service.openSessionCount == 1, "b alone is read again")
            #expect(runs.map { $0.objectValue?["points"] } == [100, 150, 100])
            fresh = try answer(service)
        }
        // What is not this viewer's file for this root is ignored: every session is read, the answer is right.
        let kept = try #require(FileManager.default.contents(atPath: file))
        let text = String(decoding: kept, as: UTF8.self)
        for bad in [text.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 2"),
                    text.replacingOccurrences(of: root.path, with: root.path + "x"), String(text.dropLast(3)), ""] {
            #expect(bad != text)
            try Data(bad.utf8).write(to: URL(fileURLWithPath: file))
            try started { service in
                let body = try answer(service)
                #expect(body == fresh && service.openSessionCount == 3, "\(bad.prefix(40))")
            }
        }
        try FileManager.default.removeItem(atPath: file)
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: cache.path + "/elsewhere.json")
        try kept.write(to: URL(fileURLWithPath: cache.path + "/elsewhere.json"))
        try started { service in
            let body = try answer(service)
            #expect(body == fresh && service.openSessionCount == 3, "a link is not read")
        }
        try FileManager.default.removeItem(atPath: file)
        #expect(mkfifo(file, 0o600) == 0)
        try started { service in
            let body = try answer(service)
            #expect(body == fresh && service.openSessionCount == 3, "a FIFO is not read (nor waited on)")
        }
        // A session removed: its row goes from the file too.
        try FileManager.default.removeItem(atPath: file)
        try started { service in _ = try service.runs() }
        #expect(String(decoding: try #require(FileManager.default.contents(atPath: file)), as: UTF8.self).contains("\"w/c\""))
        try FileManager.default.removeItem(atPath: root.path + "/w/c")
        try started { service in
            let runs = try service.runs().objectValue?["runs"]?.arrayValue
            #expect(runs?.count == 2)
        }
        #expect(!String(decoding: try #require(FileManager.default.contents(atPath: file)), as: UTF8.self).contains("\"w/c\""))
    }

    /// Two viewers of one root write its row file at the same time (each with a temporary file of its own,
    /// renamed over it): every write lands, and a reader meanwhile always finds one of them whole, never a
    /// half or a mix.
    @Test func twoViewersWritingTheRowFileAtOnceLeaveAWholeOne() throws {
        let cache = TempRoot()
        defer { cache.remove() }
        let path = cache.path + "/rows.json"
        func rows(_ tag: String) -> RowFile.Rows {
            Dictionary(uniqueKeysWithValues: (0..<300).map { i in
                ("w/run-\(i)", (fingerprint: "f \(i)", row: Value.object(["session": .string("run-\(i)"), "by": .string(tag)])))
            })
        }
        let writers = [RowFile(path: path, root: "/root"), RowFile(path: path, root: "/root")]
        let (a, b) = (rows("a"), rows("b"))
        writers[0].changed()
        writers[0].write(a, force: true)
        DispatchQueue.concurrentPerform(iterations: 3) { k in
            for _ in 0..<200 {
                if k < 2 {
                    writers[k].changed()
                    #expect(writers[k].write(k == 0 ? a : b, force: true), "each write lands, whatever the other does")
                } else {
                    let read = RowFile(path: path, root: "/root").read()
                    let by = Set((read ?? [:]).values.map { $0.row.objectValue?["by"] })
                    #expect(read?.count == 300 && by.count == 1, "a whole file of one writer")
                }
            }
        }
        #expect(RowFile(path: path, root: "/root").read()?.count == 300)
        let left = try FileManager.default.contentsOfDirectory(atPath: cache.path)
        #expect(left == ["rows.json"], "no temporary file is left: \(left)")
    }

    /// A session evicted from the ones kept open while a request still uses
    /// it stays open for that request, and is closed when it ends.
    @Test func aSessionInUseIsNotClosedUnderItsRequest() throws {
        let root = TempRoot()
        defer { root.remove() }
        for name in ["a", "b"] {
            let s = try Session(name: name, workspace: "w", localPath: root.path)
            try s.open()
            for i in 0..<100 { try s.track("loss").append(value: Double(i), step: i) }
            try s.close()
        }
        let service = try ViewerService(root: root.path, maxOpenSessions: 1)
        defer { service.close() }
        let count = try service.withSession("w", "a") { (a) throws(DreamlakeError) -> UInt64 in
            // Another request opens b meanwhile: a is evicted, but this request still reads it.
            _ = try service.envelope("w", "b", track: "loss", field: "value", range: nil, buckets: 10)
            return try a.track("loss").read(startIndex: 0, limit: 1_000).points.count == 100 ? try a.track("loss").stats().count : 0
        }
        #expect(count == 100)
        #expect(service.openSessionCount == 1, "a was closed once its request ended")
    }

    /// Issue 31: the page's envelopes (`precision=chart`) send their values in under half the bytes, yet every
    /// value is within 1/65,536 of the chart's span or of itself, every bucket's extremes are the same points,
    /// and what a chart marks (NaN, infinities, zero, the spike) is unchanged; zoomed into a flat stretch, the
    /// values keep the digits that tell them apart. An unknown precision is refused.
    @Test func aChartsEnvelopeLosesOnlyDigitsNoChartCanShow() async throws {
        let root = TempRoot()
        defer { root.remove() }
        let s = try Session(name: "r", workspace: "w", localPath: root.path)
        try s.open()
        for i in 0..<100_000 {
            let v: Double = switch i {
            case 5_000: 1e6  // a spike
            case 6_000: .nan
            case 7_000: -.infinity
            case 8_000: 0
            case 9_000: 3.0e-9  // small beside the rest: kept to its own size, not the span's
            case 90_000..<90_100: 1.0 + Double(i - 90_000) * 1e-12  // a flat stretch, to zoom into
            default: 2.0 / (1.0 + Double(i) * 1e-4) + 0.01 * sin(Double(i) * 0.37)
            }
            try s.track("loss").append(value: v, step: i)
        }
        try s.close()
        try await withViewerClient(root.path) { get in
            func envelope(_ query: String) async throws -> (ValueObject, Int) {
                let (status, data, _) = try await get("/api/envelope?workspace=w&session=r&track=loss&form=columns&" + query, [:])
                #expect(status == 200, "\(String(decoding: data, as: UTF8.self))")
                return (try #require(try json(data).objectValue), data.count)
            }
            func values(_ e: ValueObject, _ name: String) -> [Double?] {
                (e[name]?.arrayValue ?? []).map { v in if case .null = v { return nil }; return v.doubleValue }
            }
            let (exact, exactBytes) = try await envelope("buckets=600")
            let (chart, chartBytes) = try await envelope("buckets=600&precision=chart")
            #expect(chartBytes * 3 < exactBytes * 2, "the chart's envelope is \(chartBytes) bytes, the exact one \(exactBytes)")
            func valueBytes(_ e: ValueObject) -> Int { ["first", "last", "min", "max"].reduce(0) { $0 + RemoteWire.encode(e[$1] ?? .null).count } }
            #expect(valueBytes(chart) * 2 < valueBytes(exact), "its values are \(valueBytes(chart)) bytes, the exact ones \(valueBytes(exact))")
            for key in ["gap", "width", "firstAt", "lastAt", "minAt", "maxAt", "n", "nan", "posInf", "negInf", "missing", "t0", "t1"] {
                #expect(exact[key] == chart[key], "\(key) is the same")
            }
            let extremes = ["first", "last", "min", "max"].flatMap { values(exact, $0) }.compactMap { $0 }.filter(\.isFinite)
            let sorted = extremes.sorted()
            #expect(sorted.count > 2_000)
            let span = min(sorted.last! - sorted.first!, sorted[Int((Double(sorted.count) * 0.99).rounded(.up)) - 1] - sorted[Int(Double(sorted.count) * 0.01)])
            var shorter = 0
            for name in ["first", "last", "min", "max"] {
                for (e, c) in zip(values(exact, name), values(chart, name)) {
                    guard let e, let c else { #expect(e == nil && c == nil); continue }
                    guard e.isFinite, e != 0 else { #expect(c == e || (c.isNaN && e.isNaN)); continue }
                    #expect(abs(c - e) <= min(abs(e), span) * 0x1p-16, "\(c) stands for \(e)")
                    if "\(c)".count < "\(e)".count { shorter += 1 }
                }
            }
            #expect(shorter > 2_000, "most values lose digits: \(shorter)")
            // The spike and the small value are there, each exact to its own size.
            #expect(values(chart, "max").contains(1e6))
            #expect(values(chart, "min").contains { $0.map { abs($0 - 3.0e-9) <= 3.0e-9 * 0x1p-16 } ?? false })
            // Zoomed into the flat stretch, 100 values 1e-12 apart stay 100 distinct values, in order.
            let (zoomed, _) = try await envelope("buckets=200&from=90000&to=90100&precision=chart")
            let flat = values(zoomed, "first").compactMap { $0 }
            #expect(flat.count == 100 && flat == flat.sorted() && Set(flat).count == 100, "\(flat.prefix(4))")
            #expect(try await get("/api/envelope?workspace=w&session=r&track=loss&precision=pixels", [:]).0 == 400)
        }
    }

    /// A run being written shows as live, and each request sees what its writer flushed.
    @Test func aRunBeingWrittenShowsWhatItsWriterFlushed() async throws {
        let root = TempRoot()
        defer { root.remove() }
        let s = try Session(name: "live", workspace: "w", localPath: root.path)
        try s.open()
        defer { try? s.close() }
        let t = s.track("loss")
        for i in 0..<100 { try t.append(value: Double(i), step: i) }
        try s.flush()
        try await withViewerClient(root.path) { get in
            func row() async throws -> ValueObject? {
                try json(try await get("/api/runs", [:]).1).objectValue?["runs"]?.arrayValue?.first?.objectValue
            }
            let first = try await row()
            #expect(first?["live"] == true && first?["points"] == 100)
            for i in 100..<250 { try t.append(value: Double(i), step: i) }
            try s.flush()
            #expect(try await row()?["points"] == 250)
            let env = try json(try await get("/api/envelope?workspace=w&session=live&track=loss&buckets=1", [:]).1)
            #expect(env.objectValue?["buckets"]?.arrayValue?.first?.objectValue?["last"] == [249, 249.0])
            try s.close()
            #expect(try await row()?["live"] == false)
        }
    }

    /// A run two ranks write shows as one: live while either writes, every
    /// point both flushed, in the one order.
    @Test func aRunTwoRanksWriteShowsAsOne() async throws {
        let root = TempRoot()
        defer { root.remove() }
        let ranks = try (0..<2).map { try Session(name: "live", workspace: "w", localPath: root.path, rank: $0) }
        for s in ranks { try s.open() }
        defer { for s in ranks { try? s.close() } }
        for i in 0..<100 {
            for (k, s) in ranks.enumerated() { try s.track("loss").append(value: Double(k * 1000 + i), step: i) }
        }
        for s in ranks { try s.flush() }
        try await withViewerClient(root.path) { get in
            func row() async throws -> ValueObject? {
                try json(try await get("/api/runs", [:]).1).objectValue?["runs"]?.arrayValue?.first?.objectValue
            }
            let first = try await row()
            #expect(first?["live"] == true && first?["points"] == 200)
            try ranks[0].close()
            #expect(try await row()?["live"] == true, "rank 1 still writes")
            for i in 100..<150 { try ranks[1].track("loss").append(value: Double(1000 + i), step: i) }
            try ranks[1].flush()
            #expect(try await row()?["points"] == 250)
            let env = try json(try await get("/api/envelope?workspace=w&session=live&track=loss&buckets=1", [:]).1)
            let bucket = env.objectValue?["buckets"]?.arrayValue?.first?.objectValue
            #expect(bucket?["last"] == [249, 1149.0] && bucket?["max"] == [249, 1149.0] && bucket?["count"] == 250)
            try ranks[1].close()
            #expect(try await row()?["live"] == false)
        }
    }

    /// Off loopback the viewer needs a secret of its own, then a token for every API request.
    @Test func offLoopbackItNeedsASecretAndTokens() async throws {
        let root = TempRoot()
        defer { root.remove() }
        #expect(throws: DreamlakeError.self) { try ViewerServer(root: root.path, host: "0.0.0.0") }
        #expect(throws: DreamlakeError.self) { try ViewerServer(root: root.path, host: "0.0.0.0", secret: RemoteToken.pythonClientSecret) }
        #expect(throws: Never.self) { try ViewerServer(root: root.path, host: "0.0.0.0", secret: "ours") }
        try await withViewerClient(root.path, secret: "ours") { get in
            let token = RemoteToken.mint(userName: "ana", secret: "ours")
            let statuses = [
                try await get("/api/runs", [:]).0,
                try await get("/", [:]).0,  // the page itself, which asks for a token
                try await get("/api/runs", ["Authorization": "Bearer " + token]).0,
                try await get("/api/runs", ["Authorization": "Bearer " + RemoteToken.mint(userName: "ana", secret: "theirs")]).0,
                try await get("/api/runs", ["Cookie": "dreamlake_token=" + token]).0,
            ]
            #expect(statuses == [401, 200, 200, 401, 200])
        }
    }

    /// `dreamlake serve` serves the same page and API at `/`, behind its tokens:
    /// each user sees the workspaces they may read, and looking claims none.
    @Test func serveShowsTheViewerToEachUserWhatTheyMayRead() async throws {
        let root = TempRoot()
        defer { root.remove() }
        for (ws, name) in [("shared", "s1"), ("bobs", "s2")] {
            let s = try Session(name: name, workspace: ws, localPath: root.path)
            try s.open()
            try s.track("loss").append(value: 1, step: 0)
            try s.close()
        }
        try Data(#"{"owner": "bob"}"#.utf8).write(to: URL(fileURLWithPath: root.path + "/bobs/.owner"))
        let server = try DreamlakeServer(ServerConfiguration(root: root.path, port: 0))  // Python's public secret, loopback
        let (ports, ready) = AsyncStream.makeStream(of: Int.self)
        let serving = Task { try await server.run(onReady: { ready.yield($0) }) }
        defer { serving.cancel() }
        var next = ports.makeAsyncIterator()
        let port = try #require(await next.next())
        func request(_ path: String, method: String = "GET", body: String? = nil, cookie: String? = nil) async throws -> (Int, Data, HTTPURLResponse) {
            var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            r.httpMethod = method
            if let body { r.httpBody = Data(body.utf8) }
            if let cookie { r.setValue(cookie, forHTTPHeaderField: "Cookie") }
            let (data, response) = try await client.data(for: r)
            let http = try #require(response as? HTTPURLResponse)
            return (http.statusCode, data, http)
        }
        func sessions(_ cookie: String) async throws -> [String?] {
            try json(try await request("/api/runs", cookie: cookie).1).objectValue?["runs"]?.arrayValue?.map { $0.objectValue?["session"]?.stringValue } ?? []
        }
        let page = try await request("/")
        #expect(page.0 == 200 && String(decoding: page.1, as: UTF8.self).contains("app.js"))
        let anonymous = try await request("/api/runs")
        #expect(anonymous.0 == 401)
        // On loopback with the public secret, a user name signs in; the cookie is HttpOnly and SameSite.
        let login = try await request("/api/login", method: "POST", body: #"{"user": "ana"}"#)
        #expect(login.0 == 200)
        let setCookie = try #require(login.2.value(forHTTPHeaderField: "Set-Cookie"))
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"))
        let ana = try #require(setCookie.split(separator: ";").first.map(String.init))
        #expect(try await sessions(ana) == ["s1"])
        let forbidden = try await request("/api/run?workspace=bobs&session=s2", cookie: ana)
        #expect(forbidden.0 == 403)
        #expect(!FileManager.default.fileExists(atPath: root.path + "/shared/.owner"), "reading claims no workspace")
        let bob = ViewerRoutes.cookieName + "=" + RemoteToken.mint(userName: "bob", secret: RemoteToken.pythonClientSecret)
        let bobs = try await sessions(bob)
        #expect(Set(bobs.compactMap { $0 }) == ["s1", "s2"])
        let bobsRun = try await request("/api/run?workspace=bobs&session=s2", cookie: bob)
        #expect(bobsRun.0 == 200)
        // The remote API is where it was.
        let health = try await request("/health")
        #expect(health.0 == 200)
    }
}
