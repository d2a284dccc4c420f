// Column encodings for int64 and double fields of track points (FORMAT.md,
// "Numeric columns"). Each column turns its values into small unsigned
// residuals against a predictor and bit-packs them; the encoder tries the
// predictors it has and keeps whichever packs smallest.

enum NumericColumns {
    // MARK: int64

    static func encodeInts(_ xs: [Int64], into w: inout ByteWriter) {
        let n = xs.count
        // Choose delta or delta-of-delta on a window, then encode the whole column once.
        let m = min(n, choiceWindow)
        var deltaBits = 0
        var dodBits = 0
        xs.withUnsafeBufferPointer { x in
            var prev: Int64 = 0
            var prevDelta: Int64 = 0
            for i in 0..<m {
                let d = x[i] &- prev
                deltaBits += 64 - ZigZag.encode(d).leadingZeroBitCount
                dodBits += 64 - ZigZag.encode(d &- prevDelta).leadingZeroBitCount
                prev = x[i]
                prevDelta = d
            }
        }
        let deltaOfDelta = dodBits < deltaBits
        let residuals = [UInt64](unsafeUninitializedCapacity: n) { out, initialized in
            xs.withUnsafeBufferPointer { x in
                var prev: Int64 = 0
                var prevDelta: Int64 = 0
                for i in 0..<n {
                    let d = x[i] &- prev
                    out[i] = ZigZag.encode(deltaOfDelta ? d &- prevDelta : d)
                    prev = x[i]
                    prevDelta = d
                }
            }
            initialized = n
        }
        w.u8((deltaOfDelta ? ColumnEncoding.intDeltaOfDelta : ColumnEncoding.intDelta).rawValue)
        BitPacking.pack(residuals, into: &w)
    }

    /// An int column's encoding byte: whether it is delta of delta.
    private static func intEncoding(_ r: inout ByteReader) throws(DecodeError) -> Bool {
        let encodingByte = try r.u8()
        switch ColumnEncoding(rawValue: encodingByte) {
        case .intDelta: return false
        case .intDeltaOfDelta: return true
        default: throw DecodeError("int column has unknown encoding \(encodingByte)")
        }
    }

    /// Steps over an int column of `count` values, checking its encoding and
    /// group headers as ``decodeInts(count:from:)`` does, without its values.
    static func skipInts(count: Int, from r: inout ByteReader) throws(DecodeError) {
        _ = try intEncoding(&r)
        try BitPacking.skip(count: count, from: &r)
    }

    static func decodeInts(count: Int, from r: inout ByteReader) throws(DecodeError) -> [Int64] {
        let deltaOfDelta = try intEncoding(&r)
        var failure: DecodeError?
        let out = [Int64](unsafeUninitializedCapacity: max(0, count)) { out, initialized in
            var prev: Int64 = 0
            var prevDelta: Int64 = 0
            do throws(DecodeError) {
                try BitPacking.forEachGroup(count: count, from: &r) { residuals, start in
                    if deltaOfDelta {
                        for j in residuals.indices {
                            prevDelta = prevDelta &+ ZigZag.decode(residuals[j])
                            prev = prev &+ prevDelta
                            out[start + j] = prev
                        }
                    } else {
                        for j in residuals.indices {
                            prev = prev &+ ZigZag.decode(residuals[j])
                            out[start + j] = prev
                        }
                    }
                }
            } catch { failure = error }
            initialized = max(0, count)  // Int64 is trivial: on failure the array is dropped unread
        }
        if let failure { throw failure }
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

    /// What an encoder remembers of a column between blocks: the linear
    /// predictor it last fitted and what it cost then. Fitting is the dearest
    /// step of encoding and a stream's character changes slowly, so a
    /// remembered predictor is reused while it stays nearly as good.
    struct PredictorHint {
        var predictor: LinearPredictor
        var cost: Int
        var uses: Int
        /// How many values `cost` was measured over.
        var predictorWindow: Int
        /// Blocks after which a predictor is fitted anew even if it still does well.
        static let maxUses = 16
    }

    static func encodeDoubles(_ xs: [Double], into w: inout ByteWriter) {
        var hint: PredictorHint?
        encodeDoubles(xs, into: &w, hint: &hint)
    }

    static func encodeDoubles(_ xs: [Double], into w: inout ByteWriter, hint: inout PredictorHint?) {
        let m = min(xs.count, choiceWindow)
        var bestOrder = 1
        var bestCost = fixedCost(xs, order: 1, upTo: m)
        for order in 2...3 {
            let cost = fixedCost(xs, order: order, upTo: m)
            if cost < bestCost { (bestOrder, bestCost) = (order, cost) }
        }
        var lpc: (LinearPredictor, Int)?
        if var h = hint, h.uses < PredictorHint.maxUses, xs.allSatisfy(\.isFinite) {
            let cost = h.predictor.cost(xs, upTo: m)
            // Still within an eighth of what it cost when fitted (per value): keep it.
            if cost * h.predictorWindow <= (h.cost + h.cost / 8) * m {
                lpc = (h.predictor, cost)
                h.uses += 1
                hint = h
            }
        }
        if lpc == nil, let fitted = LinearPredictor.fit(xs) {
            lpc = fitted
            hint = PredictorHint(predictor: fitted.0, cost: fitted.1, uses: 1, predictorWindow: m)
        }
        if let (predictor, cost) = lpc, cost < bestCost {
            switch predictor.summation {
            case .oldestFirst: w.u8(ColumnEncoding.doubleLinearPredictorOldestFirst.rawValue)
            case .newestFirst: w.u8(ColumnEncoding.doubleLinearPredictor.rawValue)  // format version 1's; tests write it
            }
            w.u8(UInt8(predictor.coefficients.count))
            for c in predictor.coefficients { w.u64(c.bitPattern) }
            BitPacking.pack(predictor.residuals(xs), into: &w)
            return
        }
        w.u8(ColumnEncoding.doubleFixedPredictor.rawValue)
        w.u8(UInt8(bestOrder))
        BitPacking.pack(fixedResiduals(xs, order: bestOrder), into: &w)
    }

    /// A double column's encoding, checked: the fixed predictor's order (coefficients empty),
    /// or the linear predictor's coefficients and summation.
    private static func doubleEncoding(_ r: inout ByteReader)
        throws(DecodeError) -> (order: Int, coefficients: [Double], summation: LinearPredictor.Summation) {
        let encodingByte = try r.u8()
        let order = Int(try r.u8())
        var coefficients: [Double] = []
        var summation = LinearPredictor.Summation.oldestFirst
        switch ColumnEncoding(rawValue: encodingByte) {
        case .doubleFixedPredictor:
            guard (1...3).contains(order) else { throw DecodeError("fixed predictor of order \(order)") }
        case .doubleLinearPredictor, .doubleLinearPredictorOldestFirst:
            if encodingByte == ColumnEncoding.doubleLinearPredictor.rawValue { summation = .newestFirst }
            guard (1...LinearPredictor.maxOrder).contains(order) else {
                throw DecodeError("linear predictor of order \(order)")
            }
            for _ in 0..<order { coefficients.append(Double(bitPattern: try r.u64())) }
        default:
            throw DecodeError("double column has unknown encoding \(encodingByte)")
        }
        return (order, coefficients, summation)
    }

    /// Steps over a double column of `count` values, checking its encoding and
    /// group headers as ``decodeDoubles(count:from:)`` does, without its values.
    static func skipDoubles(count: Int, from r: inout ByteReader) throws(DecodeError) {
        _ = try doubleEncoding(&r)
        try BitPacking.skip(count: count, from: &r)
    }

    static func decodeDoubles(count: Int, from r: inout ByteReader) throws(DecodeError) -> [Double] {
        let (order, coefficients, summation) = try doubleEncoding(&r)
        var failure: DecodeError?
        let out = [Double](unsafeUninitializedCapacity: max(0, count)) { out, initialized in
            do throws(DecodeError) {
                if coefficients.isEmpty {
                    let x = UnsafeBufferPointer(out)
                    try BitPacking.forEachGroup(count: count, from: &r) { residuals, start in
                        for j in residuals.indices {
                            let i = start + j
                            out[i] = apply(residuals[j], fixedPrediction(x, i, order: order))
                        }
                    }
                } else {
                    try LinearPredictor(coefficients: coefficients, summation: summation).reconstruct(count: count, from: &r, into: out)
                }
            } catch { failure = error }
            initialized = max(0, count)  // Double is trivial: on failure the array is dropped unread
        }
        if let failure { throw failure }
        return out
    }
}
