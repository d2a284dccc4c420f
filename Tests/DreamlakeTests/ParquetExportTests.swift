import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake
import DreamlakeStore

/// Issue 32: every point, log entry and parameter of a session as Parquet rows, read back by pyarrow, DuckDB and
/// polars (and pandas) with no option, every value compared with what the session API reads (what
/// `dreamlake cat --format jsonl` prints).
@Suite struct ParquetExportTests {
    static let edgeDoubles: [Double] = [.nan, -0.0, 0.0, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 0.1 + 0.2, -1e-300]

    @Test func everyValueOfASessionReadsBackThroughEveryReader() throws {
        let root = TempRoot()
        defer { root.remove() }
        let s = try Session(name: "edge", workspace: "w", localPath: root.path)
        try s.open()
        try s.parameters.set(object: ["lr": .double(0.001), "model": .object(["layers": .array([.int(64), .int(32)]), "act": .string("relu")]),
                                      "seed": .int(.max), "note": .string("é ✓")])
        var rng = SplitMix64(seed: 32)
        for i in 0..<3_000 {
            var p = ValueObject()
            // A field of numbers with strings among them, an int now and then, every edge double.
            p["value"] = i % 10 == 0 ? .string("n/a \(i)") : i % 10 == 1 ? .int(Int64(i)) : .double(i < 90 ? Self.edgeDoubles[i % Self.edgeDoubles.count] : Double(bitPattern: rng.next()))
            p["step"] = .int(Int64(i))
            if i % 2 == 0 { p["flag"] = .bool(i % 4 == 0) }
            p["big"] = .int(i % 3 == 0 ? .min : i % 3 == 1 ? .max : Int64(bitPattern: rng.next()))
            p["text"] = .string(["", "héllo", "日本語", "😀", "tab\t\"q\""][i % 5] + "\(i % 7)")
            if i >= 2_000 { p["extra"] = i % 2 == 0 ? .array([.int(Int64(i)), .string("x")]) : .object(["k": .null]) }
            if i % 5 == 0 { p["maybe"] = .null }
            try s.track("mixed").append(object: p)
        }
        for i in 0..<200_000 { try s.track("train/loss").append(value: 2.0 / (1.0 + Double(i) * 1e-4) + 0.01 * sin(Double(i) * 0.37), step: i) }
        try s.log("started", metadata: ["steps": 200_000])
        try s.log("plain")
        try s.log("bad ✗", level: .error, metadata: ["nested": ["a": [1, 2]]])
        try s.close()
        let empty = try Session(name: "nothing", workspace: "w", localPath: root.path)
        try empty.open()
        try empty.close()

        let out = root.path + "/out"
        let reports = try ParquetExport.export(sessions: [("w", "edge"), ("w", "nothing")], localPath: root.path, to: out)
        #expect(reports.map(\.points) == [203_000, 0, 0])

        let reader = try Session(name: "edge", workspace: "w", localPath: root.path)
        try reader.openForReading()
        defer { try? reader.close() }
        for track in ["mixed", "train/loss"] {
            let points = try reader.track(track).read(startIndex: 0, limit: 1_000_000).points
            let read = try ParquetReaders.read(out + "/w/edge/tracks/\(track).parquet")
            for name in ["pyarrow", "duckdb", "polars"] {
                let columns = ParquetReaders.columns(read, name)
                #expect(columns["index"]?.count == points.count, "\(name) \(track)")
                var wrong = 0
                func check(_ ok: Bool, _ what: @autoclosure () -> String) {
                    if !ok {
                        wrong += 1
                        if wrong <= 5 { Issue.record("\(name) \(track): \(what())") }
                    }
                }
                for (k, p) in points.enumerated() {
                    check(ParquetReaders.same(columns["index"]?[k] as Any, Int64(p.index), exactNaN: true), "row \(k) index")
                    check(ParquetReaders.same(columns["timestamp"]?[k] as Any, p.timestamp, exactNaN: true), "row \(k) timestamp")
                    check(ParquetReaders.same(columns["session"]?[k] as Any, "edge", exactNaN: true), "row \(k) session")
                    // Each field's value is in exactly one of its columns (FIELD, or FIELD:KIND beside it), exactly.
                    let fieldNames = Set(columns.keys.filter { !["workspace", "session", "index", "timestamp", "rank"].contains($0) }
                        .map { String($0.split(separator: ":", maxSplits: 1)[0]) })
                    for field in fieldNames {
                        let held = columns.filter { $0.key == field || $0.key.hasPrefix(field + ":") }.compactMap { c -> (String, Any)? in
                            c.value[k] is NSNull ? nil : (c.key, c.value[k])
                        }
                        switch p.data[field] {
                        case nil, .null?: check(held.isEmpty, "row \(k) \(field) should be null: \(held)")
                        case let v?:
                            guard held.count == 1, let (column, h) = held.first else {
                                check(false, "row \(k) \(field) = \(v) is in \(held.count) columns: \(held)")
                                continue
                            }
                            check(Self.holds(h, v, exactNaN: name == "pyarrow"), "row \(k) \(field) = \(v): \(column) read \(h)")
                        }
                    }
                }
                #expect(wrong == 0, "\(name) \(track): \(wrong) values differ")
            }
        }
        // The columns a track of mixed kinds becomes, as README says.
        let mixed = ParquetReaders.columns(try ParquetReaders.read(out + "/w/edge/tracks/mixed.parquet"), "pyarrow")
        #expect(Set(mixed.keys) == ["workspace", "session", "index", "timestamp", "rank", "value", "value:string", "step", "flag", "big",
                                    "text", "extra", "maybe"], "\(mixed.keys.sorted())")

        let logs = try ParquetReaders.read(out + "/w/edge/logs.parquet")
        for name in ["pyarrow", "duckdb", "polars"] {
            let c = ParquetReaders.columns(logs, name)
            #expect(c["message"]?.compactMap { $0 as? String } == ["started", "plain", "bad ✗"], "\(name)")
            #expect(c["level"]?.compactMap { $0 as? String } == ["info", "info", "error"], "\(name)")
            #expect(c["metadata"]?[1] is NSNull && c["metadata"]?[2] as? String == #"{"nested": {"a": [1, 2]}}"#, "\(name): \(c["metadata"] ?? [])")
        }
        let params = ParquetReaders.columns(try ParquetReaders.read(out + "/w/edge/parameters.parquet"), "duckdb")
        #expect(ParquetReaders.double(params["lr"]?.first as Any) == 0.001 && params["model.act"]?.first as? String == "relu"
                && ParquetReaders.same(params["seed"]?.first as Any, Int64.max, exactNaN: true)
                && params["model.layers"]?.first as? String == "[64, 32]" && params["note"]?.first as? String == "é ✓", "\(params)")

        // runs.parquet: a row a session, its parameters and its tracks' counts beside its name.
        let runs = ParquetReaders.columns(try ParquetReaders.read(out + "/runs.parquet"), "duckdb")
        #expect(runs["session"]?.compactMap { $0 as? String } == ["edge", "nothing"])
        #expect(runs["points"]?.compactMap { ($0 as? NSNumber)?.intValue } == [203_000, 0])
        #expect(ParquetReaders.double(runs["lr"]?.first as Any) == 0.001 && runs["lr"]?.last is NSNull)
        #expect((runs["train/loss:count"]?.first as? NSNumber)?.intValue == 200_000)
        let last = 2.0 / (1.0 + 199_999 * 1e-4) + 0.01 * sin(199_999 * 0.37)
        #expect(ParquetReaders.double(runs["train/loss:last"]?.first as Any) == last)
        // The empty session has its files, with no rows of points or logs.
        let nothing = try ParquetReaders.read(out + "/w/nothing/logs.parquet")
        #expect(ParquetReaders.columns(nothing, "pyarrow")["index"]?.isEmpty == true)
        #expect(((nothing["pandas"] as? [String: Any])?["rows"] as? Int) == 0)
    }

    /// Whether a reader's `h` holds the point's value `v`: an integer as itself or, in a DOUBLE column, as the
    /// double it equals; arrays and objects as their JSON text.
    static func holds(_ h: Any, _ v: Value, exactNaN: Bool) -> Bool {
        switch v {
        case .int(let i): ParquetReaders.same(h, i, exactNaN: true) || ParquetReaders.double(h).map { $0 == Double(i) && Int64(exactly: $0) == i } == true
        case .double(let d): ParquetReaders.same(h, d, exactNaN: exactNaN)
        case .bool(let b): ParquetReaders.same(h, b, exactNaN: true)
        case .string(let s): ParquetReaders.same(h, s, exactNaN: true)
        case .array, .object: ParquetReaders.same(h, String(decoding: PythonJSONWriter.compactBytes(v), as: UTF8.self), exactNaN: true)
        case .null: h is NSNull
        }
    }
}
