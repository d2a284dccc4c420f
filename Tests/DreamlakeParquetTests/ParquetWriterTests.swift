import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeParquet

/// Issue 32: files of every kind of column, read back by pyarrow, DuckDB and polars with no option, every
/// value compared (a double's bits too), and by pandas.
@Suite struct ParquetWriterTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The interpreter with pyarrow, duckdb, polars and pandas (`scripts/parquet-env`, which scripts/test
    /// runs and names in DREAMLAKE_PARQUET_PYTHON); the tests fail, never skip, without it.
    static func python() throws -> String {
        let path = ProcessInfo.processInfo.environment["DREAMLAKE_PARQUET_PYTHON"] ?? repository + "/.venv-parquet/bin/python"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw PythonFailed(status: -1, stderr: "no Python with pyarrow, duckdb, polars and pandas at \(path): run scripts/parquet-env (scripts/test does)")
        }
        return path
    }

    /// What the four readers read from `path`.
    static func read(_ path: String) throws -> [String: Any] {
        let out = try runProcess(try python(), [repository + "/Tests/Parquet/read_parquet.py", path])
        return try #require(try JSONSerialization.jsonObject(with: Data(out)) as? [String: Any])
    }

    /// A file written to memory: its bytes.
    final class Memory: @unchecked Sendable {
        var bytes: [UInt8] = []
        func sink() -> ([UInt8]) throws -> Void { { self.bytes.append(contentsOf: $0) } }
    }

    static let edgeDoubles: [Double] = [.nan, Double(bitPattern: 0x7FF8_0000_DEAD_BEEF), -.nan, -0.0, 0.0, .infinity, -.infinity,
                                        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, 0.1 + 0.2, 1e300, -1e-300]
    static let edgeInts: [Int64] = [.min, .max, 0, -1, 1, .min + 1, .max - 1, 1 << 53, -(1 << 53) - 1]
    static let strings = ["", "héllo", "日本語", "😀 emoji", "a\"quote\\", "tab\tnewline\n", String(repeating: "long ", count: 300)]

    @Test func everyValueOfEveryKindReadsBackThroughEveryReader() throws {
        let root = TempRoot()
        defer { root.remove() }
        let memory = Memory()
        let w = try ParquetWriter(createdBy: "dreamlake tests", sink: memory.sink())
        let index = try w.column(ParquetColumn("index", .int64, optional: false))
        let time = try w.column(ParquetColumn("timestamp", .timestampMicros, optional: false))
        let value = try w.column(ParquetColumn("value", .double, optional: true))
        let flag = try w.column(ParquetColumn("flag", .boolean, optional: true))
        let level = try w.column(ParquetColumn("level", .string, optional: false))  // repeats: a dictionary
        let text = try w.column(ParquetColumn("text", .string, optional: true))  // distinct: PLAIN
        let wild = try w.column(ParquetColumn("wild", .int64, optional: true))

        var rng = SplitMix64(seed: 32)
        var expected: [String: [Any?]] = [:]
        func rowGroup(_ rows: Int, first: Int, late: Bool) throws {
            var idx: [Int64] = [], ts: [Int64] = [], vals: [Double] = [], valPresent: [Bool] = []
            var flags: [Bool] = [], flagPresent: [Bool] = [], levels: (bytes: [UInt8], ends: [Int]) = ([], [])
            var texts: (bytes: [UInt8], ends: [Int]) = ([], []), textPresent: [Bool] = [], wilds: [Int64] = [], wildPresent: [Bool] = []
            for r in first..<(first + rows) {
                idx.append(Int64(r))
                ts.append(1_796_630_521_300_930 + Int64(r) * 37 + Int64(rng.next() % 5))
                expected["index", default: []].append(Int64(r))
                expected["timestamp", default: []].append(ts.last!)
                if r % 7 == 3 {
                    valPresent.append(false)
                    expected["value", default: []].append(nil)
                } else {
                    let v = r < Self.edgeDoubles.count * 3 ? Self.edgeDoubles[r % Self.edgeDoubles.count]
                        : r % 2 == 0 ? Double(bitPattern: rng.next()) : 2.0 / (1.0 + Double(r) * 1e-4) + 0.01 * sin(Double(r) * 0.37)
                    valPresent.append(true)
                    vals.append(v)
                    expected["value", default: []].append(v)
                }
                let f = r % 5 != 0
                flagPresent.append(f)
                if f { flags.append(r % 3 == 0) }
                expected["flag", default: []].append(f ? r % 3 == 0 : nil)
                let l = ["debug", "info", "warn", "error", "fatal"][r % 5]
                levels.bytes.append(contentsOf: l.utf8)
                levels.ends.append(levels.bytes.count)
                expected["level", default: []].append(l)
                let t: String? = r % 11 == 0 ? nil : Self.strings[r % Self.strings.count] + " \(r)"
                textPresent.append(t != nil)
                if let t {
                    texts.bytes.append(contentsOf: t.utf8)
                    texts.ends.append(texts.bytes.count)
                }
                expected["text", default: []].append(t)
                if late {
                    let x: Int64? = r % 4 == 0 ? nil : r % 3 == 0 ? Self.edgeInts[r % Self.edgeInts.count] : Int64(bitPattern: rng.next())
                    wildPresent.append(x != nil)
                    if let x { wilds.append(x) }
                    expected["wild", default: []].append(x)
                } else {
                    expected["wild", default: []].append(nil)
                }
            }
            var values: [Int: ParquetColumnValues] = [
                index: .init(.int64(idx)), time: .init(.int64(ts)), value: .init(.double(vals), present: valPresent),
                flag: .init(.boolean(flags), present: flagPresent), level: .init(.bytes(bytes: levels.bytes, ends: levels.ends)),
                text: .init(.bytes(bytes: texts.bytes, ends: texts.ends), present: textPresent),
            ]
            if late { values[wild] = .init(.int64(wilds), present: wildPresent) }
            try w.writeRowGroup(rows: rows, values)
        }
        // Two row groups; the first spans three pages; `wild` has values in the second only.
        try rowGroup(150_000, first: 0, late: false)
        try rowGroup(70_001, first: 150_000, late: true)
        try w.finish(keyValues: [("dreamlake", "test")])
        let path = root.path + "/all.parquet"
        try Data(memory.bytes).write(to: URL(fileURLWithPath: path))

        let read = try Self.read(path)
        for reader in ["pyarrow", "duckdb", "polars"] {
            let got = try #require(read[reader] as? [String: Any])
            let columns = try #require(got["columns"] as? [String: [Any]])
            #expect(Set(columns.keys) == Set(expected.keys), "\(reader): \(columns.keys.sorted())")
            for (name, want) in expected {
                let have = try #require(columns[name], "\(reader) has no \(name)")
                #expect(have.count == want.count, "\(reader) \(name): \(have.count) rows")
                var wrong = 0
                for (k, (h, e)) in zip(have, want).enumerated() where !Self.same(h, e, exactNaN: reader == "pyarrow") {
                    wrong += 1
                    if wrong <= 3 { Issue.record("\(reader) \(name) row \(k): read \(h), wrote \(String(describing: e))") }
                }
                #expect(wrong == 0, "\(reader) \(name): \(wrong) values differ")
            }
        }
        let types = try #require((read["duckdb"] as? [String: Any])?["types"] as? [String: String])
        #expect(types == ["index": "BIGINT", "timestamp": "TIMESTAMP WITH TIME ZONE", "value": "DOUBLE", "flag": "BOOLEAN",
                          "level": "VARCHAR", "text": "VARCHAR", "wild": "BIGINT"], "\(types)")
        let arrow = try #require((read["pyarrow"] as? [String: Any])?["types"] as? [String: String])
        #expect(arrow["timestamp"] == "timestamp[us, tz=UTC]" && arrow["level"] == "string", "\(arrow)")
        #expect((read["pandas"] as? [String: Any])?["rows"] as? Int == 220_001)
    }

    /// Whether a reader's value `h` is the written `e`: a double by its bits (NaN's payload only where
    /// `exactNaN`: DuckDB and polars may hand back their own NaN), an integer, a string or a boolean as it is.
    static func same(_ h: Any, _ e: Any?, exactNaN: Bool) -> Bool {
        switch e {
        case nil: return h is NSNull
        case let d as Double:
            guard let s = h as? String, s.hasPrefix("f:"), let bits = UInt64(littleEndianHex: String(s.dropFirst(2))) else { return false }
            let r = Double(bitPattern: bits)
            return d.isNaN ? r.isNaN && (!exactNaN || r.bitPattern == d.bitPattern) : r.bitPattern == d.bitPattern
        case let i as Int64: return (h as? NSNumber).map { $0.int64Value == i && "\($0)" == "\(i)" } ?? false
        case let b as Bool: return (h as? String) == (b ? "b:1" : "b:0")
        case let s as String: return (h as? String) == s
        default: return false
        }
    }
}

extension UInt64 {
    /// Eight bytes given as little-endian hex.
    init?(littleEndianHex hex: String) {
        guard hex.count == 16 else { return nil }
        var v: UInt64 = 0
        var i = hex.startIndex
        for k in 0..<8 {
            let j = hex.index(i, offsetBy: 2)
            guard let b = UInt8(hex[i..<j], radix: 16) else { return nil }
            v |= UInt64(b) << UInt64(8 * k)
            i = j
        }
        self = v
    }
}
