import DreamlakeTestSupport
import Foundation
import Testing
@testable import Dreamlake

/// Runs `python3` (the system's, which scripts/setup installs) with `script`,
/// feeding `input` on stdin, and returns its stdout.
func runPython(_ script: String, input: [UInt8] = []) throws -> [UInt8] {
    try runProcess("/usr/bin/env", ["python3", "-c", script], input: input)
}

@Suite struct PythonJSONTests {
    /// Doubles of every kind: random bit patterns, short decimals, the edges.
    static func sampleDoubles() -> [Double] {
        var rng = SplitMix64(seed: 42)
        var out: [Double] = [0, -0.0, 1, -1, 0.1, 0.1 + 0.2, 1e15, 1e16, 1e-5, 1e-4, 1e22, .leastNonzeroMagnitude, 2.2250738585072014e-308,
                             1.7976931348623157e308, 9_007_199_254_740_992, 9_007_199_254_740_994, 9_999_999_999_999_998, 123456789012345680, 0.5, 100, 1e300, -1e-300]
        for _ in 0..<3000 {
            let d = Double(bitPattern: rng.next())
            if d.isFinite { out.append(d) }
        }
        for _ in 0..<3000 {
            let digits = Double(Int64.random(in: -999_999...999_999, using: &rng))
            let scale = Double(sign: .plus, exponent: 0, significand: 1) * pow(10, Double(Int.random(in: -12...20, using: &rng)))
            out.append(digits * scale)
        }
        return out
    }

    @Test func doublesAreWrittenAsPythonsReprWritesThem() throws {
        let doubles = Self.sampleDoubles()
        let bits = doubles.map { String($0.bitPattern) }.joined(separator: "\n")
        let script = """
        import json, struct, sys
        for line in sys.stdin.read().split():
            print(json.dumps(struct.unpack('<d', struct.pack('<Q', int(line)))[0]))
        """
        let expected = String(decoding: try runPython(script, input: Array(bits.utf8)), as: UTF8.self).split(separator: "\n")
        #expect(expected.count == doubles.count)
        var mismatches: [String] = []
        for (d, e) in zip(doubles, expected) {
            let ours = String(decoding: PythonJSONWriter.compactBytes(.double(d)), as: UTF8.self)
            if ours != e { mismatches.append("\(d.bitPattern): ours \(ours), Python \(e)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    static let edgeValue: Value = [
        "ascii": "plain text",
        "accents": "café naïve Ærøskøbing",
        "cjk": "学習率 損失",
        "emoji": "🚀 done 👍🏽",
        "controls": "tab\tnewline\ncr\rbell\u{07}nul\u{00}del\u{7F}esc\u{1B}",
        "quotes": "she said \"hi\" \\ back/slash",
        "long": .string(String(repeating: "long line ", count: 2000)),
        "negzero": -0.0, "nan": .double(.nan), "inf": .double(.infinity), "ninf": .double(-.infinity),
        "big": 1e16, "small": 1e-05, "twoTo53Plus1": .int(9_007_199_254_740_993),
        "imax": .int(.max), "imin": .int(.min), "t": true, "f": false, "none": nil,
        "emptyObject": [:], "emptyArray": [],
        "nested": ["a": [1, 2.5, ["b": nil]], "c": [[], [:]]],
        "ünïcödé kéy 🔑": "value",
    ]

    @Test func compactAndIndentedTextMatchPythonsJSONModule() throws {
        // Python reads our text and writes it again in both forms: the bytes must agree.
        let compact = PythonJSONWriter.compactBytes(Self.edgeValue)
        let script = """
        import json, sys
        v = json.loads(sys.stdin.read())
        sys.stdout.write(json.dumps(v) + "\\n=====\\n" + json.dumps(v, indent=2))
        """
        let out = try runPython(script, input: compact)
        let separator = Array("\n=====\n".utf8)
        guard let cut = (0...(out.count - separator.count)).first(where: { Array(out[$0..<$0 + separator.count]) == separator }) else {
            Issue.record("no separator in Python's output")
            return
        }
        #expect(Array(out[..<cut]) == compact)
        #expect(Array(out[(cut + separator.count)...]) == PythonJSONWriter.indentedBytes(Self.edgeValue))
    }

    @Test func readingGivesBackTheSameValue() throws {
        for value in [Self.edgeValue, .array([1, 1.0, "x", nil, true])] {
            let text = PythonJSONWriter.compactBytes(value)
            #expect(try PythonJSONReader.parse(text) == value)
            #expect(try PythonJSONReader.parse(PythonJSONWriter.indentedBytes(value)) == value)
        }
        // An int stays an int, a float a float, keys keep their order, a repeated key keeps its first place and last value.
        let v = try PythonJSONReader.parse(Array(#"{"b": 1, "a": 1.0, "b": 2, "e": -0, "x": 1E2}"#.utf8))
        #expect(v == ["b": 2, "a": 1.0, "e": 0, "x": 100.0])
        #expect(try PythonJSONReader.parse(Array(#""\ud83d\ude80 \u00e9""#.utf8)) == "🚀 é")
    }

    @Test func malformedTextIsRefusedWithItsPlace() {
        let cases: [(String, String)] = [
            (#"{"a": 1,}"#, "expected a key"),
            (#"{"a" 1}"#, "expected ':'"),
            (#"[1, 2"#, "expected ',' or ']'"),
            (#"{"a": 01}"#, "cannot start with 0"),
            (#""abc"#, "not closed"),
            ("\"a\u{01}b\"", "control character"),
            (#"{"a": 99999999999999999999}"#, "does not fit in 64 bits"),
            (#""\ud800""#, "lone surrogate"),
            (#"{"a": tru}"#, "unexpected character"),
            (#"{} x"#, "extra text"),
            (String(repeating: "[", count: 70) + String(repeating: "]", count: 70), "nesting deeper"),
        ]
        for (text, expected) in cases {
            do {
                _ = try PythonJSONReader.parse(Array(text.utf8))
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.message.contains(expected), "\(text): \(error.message)")
            }
        }
    }

    @Test func timestampsRoundTripInPythonsForm() throws {
        for text in ["2026-11-25T11:17:49.610107Z", "2026-11-25T11:17:49Z", "1970-01-01T00:00:00Z", "2024-02-29T23:59:59.000001Z",
                     "1969-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"] {
            let micros = try #require(Timestamps.parse(text), "\(text)")
            #expect(Timestamps.iso(micros: micros) == text)
        }
        for bad in ["2026-11-25T11:17:49.000000Z", "2026-11-25T11:17:49.61Z", "2026-11-25 11:17:49Z", "2026-11-25T11:17:49",
                    "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T11:17:49+00:00Z"] {
            #expect(Timestamps.parse(bad) == nil, "\(bad)")
        }
        // The same text Python's datetime writes for these instants.
        let micros: [Int64] = [0, 1, 999_999, 1_000_000, 1_764_069_469_610_107, 951_782_400_000_000, -1]
        let script = """
        import sys, datetime
        for line in sys.stdin.read().split():
            m = int(line)
            print((datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=m)).isoformat() + "Z")
        """
        let python = String(decoding: try runPython(script, input: Array(micros.map(String.init).joined(separator: "\n").utf8)),
                            as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(python == micros.map(Timestamps.iso))
    }
}
