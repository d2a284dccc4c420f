import DreamlakeTestSupport
import Foundation
import Testing
@testable @_spi(Fuzzing) import DreamlakeParquet

/// Issue 32: files of every kind of column, read back by pyarrow, DuckDB and polars with no option, every
/// value compared (a double's bits too), and by pandas.
@Suite struct ParquetWriterTests {
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

        let read = try ParquetReaders.read(path)
        for reader in ["pyarrow", "duckdb", "polars"] {
            let got = try #require(read[reader] as? [String: Any])
            let columns = try #require(got["columns"] as? [String: [Any]])
            #expect(Set(columns.keys) == Set(expected.keys), "\(reader): \(columns.keys.sorted())")
            for (name, want) in expected {
                let have = try #require(columns[name], "\(reader) has no \(name)")
                #expect(have.count == want.count, "\(reader) \(name): \(have.count) rows")
                var wrong = 0
                for (k, (h, e)) in zip(have, want).enumerated() where !ParquetReaders.same(h, e, exactNaN: reader == "pyarrow") {
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
}

/// The fuzz target's checks (scripts/fuzz parquet runs them on the fuzzer's inputs), on inputs of our own:
/// every kind of Int64 run through DELTA_BINARY_PACKED, the hybrid at every width, BYTE_STREAM_SPLIT, and a
/// file's frame, decoded back and compared (a difference stops the process).
@Suite struct ParquetEncodingTests {
    @Test func arbitraryValuesEncodeAndDecodeBack() {
        var rng = SplitMix64(seed: 7)
        for size in [0, 1, 2, 9, 64, 300, 2_000, 20_000] {
            for _ in 0..<40 {
                ParquetFuzzEntry.run((0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            }
        }
        ParquetFuzzEntry.run([UInt8](repeating: 0xFF, count: 5_000))
        ParquetFuzzEntry.run([UInt8](repeating: 0x01, count: 5_000))
    }

    /// The extremes DELTA_BINARY_PACKED must wrap over: Int64.min after Int64.max and back, at full width.
    @Test func deltasOfTheExtremesWrap() {
        let values: [Int64] = (0..<300).map { $0 % 2 == 0 ? .max : .min } + [0, -1, 1, .min, .min, .max]
        var out: [UInt8] = []
        Encode.deltaBinaryPacked(values[...], to: &out)
        #expect(Decode.deltaBinaryPacked(out) == values)
    }
}
