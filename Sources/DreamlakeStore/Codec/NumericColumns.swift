// Column encodings for int64 and double fields of track points (FORMAT.md,
// "Numeric columns"). Each column turns its values into small unsigned
// residuals against a predictor and bit-packs them; the encoder tries the
// predictors it has and keeps whichever packs smallest.

enum NumericColumns {
    // MARK: int64

    static func encodeInts(_ xs: [Int64], into w: inout ByteWriter) {
        let n = xs.count
        var dod = [UInt64]()
        let delta = [UInt64](unsafeUninitializedCapacity: n) { delta, initialized in
            dod = [UInt64](unsafeUninitializedCapacity: n) { dod, dodInitialized in
                xs.withUnsafeBufferPointer { x in
                    var prev: Int64 = 0
                    var prevDelta: Int64 = 0
                    for i in 0..<n {
                        let d = x[i] &- prev
                        delta[i] = ZigZag.encode(d)
                        dod[i] = ZigZag.encode(d &- prevDelta)
                        prev = x[i]
                        prevDelta = d
                    }
                }
                dodInitialized = n
            }
            initialized = n
        }
        if BitPacking.packedSize(dod) < BitPacking.packedSize(delta) {
            w.u8(ColumnEncoding.intDeltaOfDelta.rawValue)
            BitPacking.pack(dod, into: &w)
        } else {
            w.u8(ColumnEncoding.intDelta.rawValue)
            BitPacking.pack(delta, into: &w)
        }
    }

    static func decodeInts(count: Int, from r: inout ByteReader) throws(DecodeError) -> [Int64] {
        let encodingByte = try r.u8()
        let residuals = try BitPacking.unpack(count: count, from: &r)
        var out = [Int64](repeating: 0, count: count)
        switch ColumnEncoding(rawValue: encodingByte) {
        case .intDelta:
            var prev: Int64 = 0
            for i in 0..<count {
                prev = prev &+ ZigZag.decode(residuals[i])
                out[i] = prev
            }
        case .intDeltaOfDelta:
            var prev: Int64 = 0
            var prevDelta: Int64 = 0
            for i in 0..<count {
                prevDelta = prevDelta &+ ZigZag.decode(residuals[i])
                prev = prev &+ prevDelta
                out[i] = prev
            }
        default:
            throw DecodeError("int column has unknown encoding \(encodingByte)")
        }
        return out
    }

    // MARK: double

    /// Predictions never feed a NaN forward: which NaN an operation returns
    /// differs between processors, and the decoder must compute the same bits.
    @inline(__always) static func canonical(_ p: Double) -> Double { p.isNaN ? 0 : p }

    @inline(__always) static func residual(_ x: Double, _ p: Double) -> UInt64 {
        ZigZag.encode(Int64(bitPattern: x.bitPattern) &- Int64(bitPattern: p.bitPattern))
    }

    @inline(__always) static func apply(_ r: UInt64, _ p: Double) -> Double {
        Double(bitPattern: UInt64(bitPattern: ZigZag.decode(r) &+ Int64(bitPattern: p.bitPattern)))
    }

    /// The fixed predictors: order 1 repeats the last value, order 2 extends
    /// a line through the last two, order 3 a parabola through the last three.
    /// The first points use the highest order their history allows.
    @inline(__always)
    static func fixedPrediction(_ x: UnsafeBufferPointer<Double>, _ i: Int, order: Int) -> Double {
        let k = min(order, i)
        switch k {
        case 0: return 0
        case 1: return x[i - 1]
        case 2: return canonical(2 * x[i - 1] - x[i - 2])
        default: return canonical(3 * x[i - 1] - 3 * x[i - 2] + x[i - 3])
        }
    }

    static func fixedResiduals(_ xs: [Double], order: Int) -> [UInt64] {
        [UInt64](unsafeUninitializedCapacity: xs.count) { out, initialized in
            xs.withUnsafeBufferPointer { x in
                for i in 0..<x.count { out[i] = residual(x[i], fixedPrediction(x, i, order: order)) }
            }
            initialized = xs.count
        }
    }

    /// Values the encoder looks at to choose a predictor; the winner then encodes the whole column.
    static let choiceWindow = 512

    /// Bits the residuals of the first `m` values take under the fixed predictor of `order`.
    static func fixedCost(_ xs: [Double], order: Int, upTo m: Int) -> Int {
        xs.withUnsafeBufferPointer { x in
            var bits = 0
            for i in 0..<m { bits += 64 - residual(x[i], fixedPrediction(x, i, order: order)).leadingZeroBitCount }
            return bits
        }
    }

    static func encodeDoubles(_ xs: [Double], into w: inout ByteWriter) {
        let m = min(xs.count, choiceWindow)
        var bestOrder = 1
        var bestCost = fixedCost(xs, order: 1, upTo: m)
        for order in 2...3 {
            let cost = fixedCost(xs, order: order, upTo: m)
            if cost < bestCost { (bestOrder, bestCost) = (order, cost) }
        }
        if let (lpc, cost) = LinearPredictor.fit(xs), cost < bestCost {
            w.u8(ColumnEncoding.doubleLinearPredictor.rawValue)
            w.u8(UInt8(lpc.coefficients.count))
            for c in lpc.coefficients { w.u64(c.bitPattern) }
            BitPacking.pack(lpc.residuals(xs), into: &w)
            return
        }
        w.u8(ColumnEncoding.doubleFixedPredictor.rawValue)
        w.u8(UInt8(bestOrder))
        BitPacking.pack(fixedResiduals(xs, order: bestOrder), into: &w)
    }

    static func decodeDoubles(count: Int, from r: inout ByteReader) throws(DecodeError) -> [Double] {
        let encodingByte = try r.u8()
        switch ColumnEncoding(rawValue: encodingByte) {
        case .doubleFixedPredictor:
            let order = Int(try r.u8())
            guard (1...3).contains(order) else { throw DecodeError("fixed predictor of order \(order)") }
            let residuals = try BitPacking.unpack(count: count, from: &r)
            var out = [Double](repeating: 0, count: count)
            out.withUnsafeMutableBufferPointer { o in
                let x = UnsafeBufferPointer(o)
                for i in 0..<count { o[i] = apply(residuals[i], fixedPrediction(x, i, order: order)) }
            }
            return out
        case .doubleLinearPredictor:
            let order = Int(try r.u8())
            guard (1...LinearPredictor.maxOrder).contains(order) else {
                throw DecodeError("linear predictor of order \(order)")
            }
            var coefficients: [Double] = []
            for _ in 0..<order { coefficients.append(Double(bitPattern: try r.u64())) }
            let residuals = try BitPacking.unpack(count: count, from: &r)
            return LinearPredictor(coefficients: coefficients).reconstruct(residuals)
        default:
            throw DecodeError("double column has unknown encoding \(encodingByte)")
        }
    }
}
