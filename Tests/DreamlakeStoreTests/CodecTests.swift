import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeStore

@Suite struct CodecTests {
    @Test func varintsAndZigZagRoundTrip() throws {
        var w = ByteWriter()
        let values: [UInt64] = [0, 1, 127, 128, 16383, 16384, UInt64(UInt32.max), .max, .max - 1]
        for v in values { w.varint(v) }
        for v in edgeInts { w.signedVarint(v) }
        var r = ByteReader(w.bytes)
        for v in values { #expect(try r.varint() == v) }
        for v in edgeInts { #expect(try r.signedVarint() == v) }
        #expect(r.isAtEnd)
    }

    @Test func overlongVarintIsRejected() {
        var r = ByteReader([UInt8](repeating: 0xFF, count: 11))
        #expect(throws: DecodeError.self) { try r.varint() }
        var r2 = ByteReader([0x80, 0x80])
        #expect(throws: DecodeError.self) { try r2.varint() }
    }

    @Test func valuesRoundTripExactly() throws {
        var rng = SplitMix64(seed: 42)
        var values: [Value] = edgeDoubles.map(Value.double) + edgeInts.map(Value.int)
        values += [.null, .bool(true), .bool(false), .string(""), .string("naïve 漢字 🚀 \"q\" \\ \u{0}\u{7}"),
                   .string(String(repeating: "long", count: 100_000)), .array([]), .object([:]),
                   ["b": 1, "a": 2.0, "c": ["nested": [1, 2, [3]]]]]
        for _ in 0..<2000 { values.append(randomValue(&rng)) }
        for v in values {
            var w = ByteWriter()
            ValueCodec.encode(v, into: &w)
            var r = ByteReader(w.bytes)
            let back = try ValueCodec.decode(from: &r)
            #expect(back == v)
            #expect(r.isAtEnd)
        }
    }

    @Test func intAndDoubleStayDistinct() {
        #expect(Value.int(1) != Value.double(1.0))
        #expect(Value.double(0.0) != Value.double(-0.0))
        #expect(Value.double(.nan) == Value.double(.nan))
        let a: Value = ["x": 1, "y": 2]
        let b: Value = ["y": 2, "x": 1]
        #expect(a != b, "key order is part of an object")
    }

    @Test func hostileNestingIsRejectedNotRecursed() {
        // 100,000 nested arrays: a decoder that recursed would overflow the stack.
        var bytes: [UInt8] = []
        for _ in 0..<100_000 { bytes += [ValueTag.array.rawValue, 1] }
        var r = ByteReader(bytes)
        #expect(throws: DecodeError.self) { try ValueCodec.decode(from: &r) }
    }

    @Test func hugeDeclaredCountsAreRejected() {
        var w = ByteWriter()
        w.u8(ValueTag.array.rawValue)
        w.varint(1 << 40)
        var r = ByteReader(w.bytes)
        #expect(throws: DecodeError.self) { try ValueCodec.decode(from: &r) }
        var w2 = ByteWriter()
        w2.u8(ValueTag.string.rawValue)
        w2.varint(UInt64.max)
        var r2 = ByteReader(w2.bytes)
        #expect(throws: DecodeError.self) { try ValueCodec.decode(from: &r2) }
    }

    @Test func bitPackingRoundTripsEveryWidth() throws {
        var rng = SplitMix64(seed: 7)
        for width in 0...64 {
            for count in [1, 5, 127, 128, 129, 300] {
                let mask: UInt64 = width == 64 ? .max : (1 << UInt64(width)) - 1
                let shift = UInt64(rng.next() % UInt64(65 - max(width, 1)))
                let values = (0..<count).map { _ in (rng.next() & mask) << (width == 0 ? 0 : shift) }
                var w = ByteWriter()
                BitPacking.pack(values, into: &w)
                #expect(BitPacking.packedSize(values) == w.count)
                var r = ByteReader(w.bytes)
                #expect(try BitPacking.unpack(count: count, from: &r) == values)
                #expect(r.isAtEnd)
            }
        }
    }

    @Test func intColumnsRoundTrip() throws {
        var rng = SplitMix64(seed: 9)
        let columns: [[Int64]] = [
            Array(0..<10_000), edgeInts, (0..<5000).map { _ in Int64(bitPattern: rng.next()) },
            (0..<3000).map { 1_700_000_000_000_000 + Int64($0 / 7) }, [42], [],
        ]
        for c in columns {
            var w = ByteWriter()
            NumericColumns.encodeInts(c, into: &w)
            var r = ByteReader(w.bytes)
            #expect(try NumericColumns.decodeInts(count: c.count, from: &r) == c)
            #expect(r.isAtEnd)
        }
    }

    @Test func doubleColumnsRoundTripBitForBit() throws {
        var rng = SplitMix64(seed: 11)
        var columns: [[Double]] = [(0..<8192).map(referenceLoss), (5_000_000..<5_008_192).map(referenceLoss), edgeDoubles]
        columns.append((0..<4000).map { _ in Double(bitPattern: rng.next()) })
        columns.append((0..<4000).map { (i: Int) -> Double in Double(Float(i) * 0.001) })
        columns.append([Double](repeating: 1.0, count: 1000))
        columns.append((0..<3000).map { (i: Int) -> Double in i % 500 == 0 ? Double.nan : sin(Double(i) * 0.01) })
        columns.append((0..<2000).map { (i: Int) -> Double in (i % 2 == 0 ? 1e-300 : -1e-300) * Double(i) })
        columns.append([3.5])
        for c in columns {
            var w = ByteWriter()
            NumericColumns.encodeDoubles(c, into: &w)
            var r = ByteReader(w.bytes)
            let back = try NumericColumns.decodeDoubles(count: c.count, from: &r)
            #expect(back.map(\.bitPattern) == c.map(\.bitPattern))
            #expect(r.isAtEnd)
        }
    }

    @Test func aSmoothCurveCostsAFewBytesPerPoint() {
        // The reference workload: the linear predictor must take it well below the
        // plain delta's ~6 bytes per value.
        let xs = (0..<8192).map(referenceLoss)
        var w = ByteWriter()
        NumericColumns.encodeDoubles(xs, into: &w)
        #expect(w.bytes[0] == ColumnEncoding.doubleLinearPredictorOldestFirst.rawValue)
        #expect(Double(w.count) / Double(xs.count) < 2.5)
    }

    /// Encodings 4 and 5 hold a predictor's terms summed in opposite orders (FORMAT.md, "Numeric
    /// columns"), which round differently: a column made here by the document's rule for each
    /// decodes to its values bit for bit, and the same bytes under the other encoding do not.
    @Test func theLinearPredictorsSumInTheOrderFormatMDGives() throws {
        let c: [Double] = [1.3, -0.41, 0.37, -0.23, -0.03]
        var rng = SplitMix64(seed: 5)
        var xs = (0..<1_000).map { (i: Int) -> Double in sin(Double(i) * 0.03) + Double(rng.next() % 1_000) * 1e-9 }
        xs[300] = .infinity   // predictions of inf - inf are NaN: +0.0 is used instead
        xs[301] = -.infinity
        xs[500] = .nan
        func prediction(_ i: Int, oldestFirst: Bool) -> Double {
            let p = c.count
            if i < p { return i == 0 ? 0 : xs[i - 1] }
            var acc: Double
            if oldestFirst {
                acc = c[p - 1] * xs[i - p]
                for k in stride(from: p - 2, through: 0, by: -1) { acc = acc + c[k] * xs[i - 1 - k] }
            } else {
                acc = 0.0
                for k in 0..<p { acc = acc + c[k] * xs[i - 1 - k] }
            }
            return acc.isNaN ? 0 : acc
        }
        for (encoding, oldestFirst) in [(ColumnEncoding.doubleLinearPredictor, false), (.doubleLinearPredictorOldestFirst, true)] {
            let residuals = xs.indices.map { ZigZag.encode(Int64(bitPattern: xs[$0].bitPattern) &- Int64(bitPattern: prediction($0, oldestFirst: oldestFirst).bitPattern)) }
            var w = ByteWriter()
            w.u8(encoding.rawValue)
            w.u8(UInt8(c.count))
            for k in c { w.u64(k.bitPattern) }
            BitPacking.pack(residuals, into: &w)
            var r = ByteReader(w.bytes)
            #expect(try NumericColumns.decodeDoubles(count: xs.count, from: &r).map(\.bitPattern) == xs.map(\.bitPattern), "\(encoding)")
            #expect(r.isAtEnd)
            var other = w.bytes
            other[0] = oldestFirst ? ColumnEncoding.doubleLinearPredictor.rawValue : ColumnEncoding.doubleLinearPredictorOldestFirst.rawValue
            var o = ByteReader(other)
            #expect(try NumericColumns.decodeDoubles(count: xs.count, from: &o).map(\.bitPattern) != xs.map(\.bitPattern),
                    "the two orders must round apart on these values, or this test shows nothing")
        }
        // The encoder's residuals for either summation and every order from 1 to 8 decode to its values.
        let smooth = (0..<3_000).map { (i: Int) -> Double in exp(-Double(i) * 1e-3) + sin(Double(i) * 0.05) * 0.1 }
        for order in 1...LinearPredictor.maxOrder {
            for (encoding, summation) in [(ColumnEncoding.doubleLinearPredictor, LinearPredictor.Summation.newestFirst),
                                          (.doubleLinearPredictorOldestFirst, .oldestFirst)] {
                let coefficients = (0..<order).map { k in k < c.count ? c[k] : 0.01 * Double(k) }
                var w = ByteWriter()
                w.u8(encoding.rawValue)
                w.u8(UInt8(order))
                for k in coefficients { w.u64(k.bitPattern) }
                BitPacking.pack(LinearPredictor(coefficients: coefficients, summation: summation).residuals(smooth), into: &w)
                var r = ByteReader(w.bytes)
                #expect(try NumericColumns.decodeDoubles(count: smooth.count, from: &r).map(\.bitPattern) == smooth.map(\.bitPattern),
                        "order \(order) \(summation)")
            }
        }
    }

    /// A block decoded for some of its fields (what an envelope reads) keeps those columns as a
    /// whole decode has them, and steps over the others still checking their encodings and
    /// group headers: damage there is an error, not a shorter read.
    @Test func aBlockDecodedForSomeFieldsKeepsThemAndStillChecksTheOthers() throws {
        let n = 1_000
        let values = (0..<n).map(referenceLoss)
        let block = PointBlock(track: TrackID(rawValue: 3), firstIndex: 0, timestamps: (0..<n).map { 1_764_000_000_000_000 + Int64($0) },
                               layout: .columns(keys: ["step", "value", "lr"],
                                                columns: [.int((0..<n).map(Int64.init)), .double(values), .double((0..<n).map { 0.1 / Double($0 + 1) })]))
        let payload = BlockPayload.encode(.points(block))
        func decode(_ bytes: [UInt8], _ fields: Set<String>?) throws -> PointBlock {
            guard case .points(let b) = try BlockPayload.decode(bytes, stream: .track(TrackID(rawValue: 3)), count: n, firstSequence: 0, fields: fields) else {
                throw DecodeError("not points")
            }
            return b
        }
        let whole = try decode(payload, nil)
        let part = try decode(payload, ["value", "absent"])
        #expect(part.timestamps == whole.timestamps)
        guard case .columns(let keys, let columns) = part.layout, case .double(let v)? = whole.column(named: "value") else {
            Issue.record("not columns")
            return
        }
        #expect(keys == ["value"] && columns.count == 1)
        #expect(part.column(named: "value").map { if case .double(let x) = $0 { x.map(\.bitPattern) } else { [] } } == v.map(\.bitPattern))
        #expect(try decode(payload, []).column(named: "value") == nil)
        // The "step" column's first group says shift 64 (at most 63): the whole decode and a decode of "value" alone
        // both refuse it, though stepping over the group's bits would not need the shift.
        let stepHeader: [UInt8] = [4, 115, 116, 101, 112, ColumnType.int.rawValue]  // 4 "step", int
        let found = (0..<payload.count - 6).first { (i: Int) -> Bool in Array(payload[i..<i + 6]) == stepHeader }
        let stepAt = try #require(found)
        var damaged = payload
        damaged[stepAt + 6 + 2] = 64  // after the name and type: the encoding byte, the group's width, its shift
        #expect(throws: DecodeError.self) { try decode(damaged, nil) }
        #expect(throws: DecodeError.self) { try decode(damaged, ["value"]) }
    }

    @Test func lz4RejectsLiesAboutSize() throws {
        let data = [UInt8](repeating: 7, count: 10_000)
        let c = try #require(LZ4.compress(data))
        #expect(try LZ4.decompress(c[...], uncompressedSize: data.count) == data)
        #expect(throws: DecodeError.self) { try LZ4.decompress(c[...], uncompressedSize: data.count - 1) }
        #expect(throws: DecodeError.self) { try LZ4.decompress(c[...], uncompressedSize: Int(UInt32.max)) }
        var garbage = c
        for i in garbage.indices where i % 3 == 0 { garbage[i] = 0xFF }
        #expect(throws: DecodeError.self) { try LZ4.decompress(garbage[...], uncompressedSize: data.count) }
        #expect(LZ4.compress((0..<100).map { UInt8(truncatingIfNeeded: $0 &* 97) }) == nil, "incompressible data is stored raw")
    }
}
