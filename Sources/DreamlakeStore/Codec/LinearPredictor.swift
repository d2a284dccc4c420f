// A linear predictor for double columns, fitted per block by least squares
// (the idea FLAC uses for audio). Smooth curves, schedules and oscillations
// are sums of polynomials and sinusoids, which a short linear recurrence
// predicts to within a few units in the last place, so the residuals pack
// into a few bits where the plain delta needs forty or more. Only the
// prediction must be exact: it is computed the same way, in the same order,
// when encoding and decoding; the fit itself may be approximate.

struct LinearPredictor {
    static let maxOrder = 8
    /// Points the fit looks at; more costs time and rarely helps.
    static let fitWindow = 1024

    /// c[k] multiplies x[i - 1 - k].
    let coefficients: [Double]

    /// The order in which a prediction's products are summed: encoding 4 sums
    /// the newest value's first, encoding 5 (what this version writes) the
    /// oldest's first. Floating-point sums depend on their order, so this is
    /// part of the format, not a detail of the code.
    enum Summation {
        case newestFirst
        case oldestFirst
    }

    /// How this predictor sums its products.
    var summation: Summation = .oldestFirst

    /// The best predictor for `xs` and the bits its residuals take over the
    /// encoder's choice window, or nil when the values are too few or not all finite.
    ///
    /// Fitting the raw values is badly conditioned (a curve's level dwarfs its
    /// wiggles), so each candidate differences the values d times, fits a
    /// short autoregression of order p to the differences, and multiplies the
    /// two back into one predictor of order d + p. The candidate whose
    /// residuals pack smallest over the fit window wins.
    static func fit(_ xs: [Double]) -> (LinearPredictor, Int)? {
        let m = min(xs.count, fitWindow)
        guard m >= 64 else { return nil }
        for x in xs where !x.isFinite { return nil }
        var best: (LinearPredictor, Int)?
        var y = Array(xs[0..<m])
        let maxP = 4
        for d in 1...3 {
            y = zip(y.dropFirst(), y).map { $0 - $1 }
            // Lagged products r[j][k] = sum y[i-j] y[i-k] for j, k in 0...maxP, once
            // for every order: the order-p equations use their leading part.
            var r = [Double](repeating: 0, count: (maxP + 1) * (maxP + 1))
            y.withUnsafeBufferPointer { y in
                r.withUnsafeMutableBufferPointer { r in
                    for i in maxP..<y.count {
                        for j in 0...maxP {
                            let yj = y[i - j]
                            for k in j...maxP { r[j * (maxP + 1) + k] += yj * y[i - k] }
                        }
                    }
                }
            }
            for p in 2...maxP {
                guard let ar = solve(r, stride: maxP + 1, order: p) else { continue }
                // (1 - sum ar_k z^k) (1 - z)^d, as coefficients of the predictor.
                var poly = [1.0] + ar.map { -$0 }
                for _ in 0..<d {
                    var next = [Double](repeating: 0, count: poly.count + 1)
                    for (i, c) in poly.enumerated() { next[i] += c; next[i + 1] -= c }
                    poly = next
                }
                let candidate = LinearPredictor(coefficients: poly.dropFirst().map { -$0 })
                guard candidate.coefficients.allSatisfy(\.isFinite) else { continue }
                let cost = candidate.cost(xs, upTo: min(m, NumericColumns.choiceWindow))
                if best == nil || cost < best!.1 { best = (candidate, cost) }
            }
        }
        return best
    }

    /// Least-squares coefficients a with y[i] ≈ sum a[k] y[i-1-k], from the
    /// lagged products `r` (r[j][k] = sum y[i-j] y[i-k]) with a small ridge,
    /// by Gaussian elimination with partial pivoting.
    private static func solve(_ r: [Double], stride: Int, order p: Int) -> [Double]? {
        let w = p + 1
        var a = [Double](repeating: 0, count: p * w)
        var trace = 0.0
        for j in 0..<p { trace += r[(j + 1) * stride + (j + 1)] }
        let ridge = max(trace / Double(p) * 1e-14, Double.leastNormalMagnitude)
        for j in 0..<p {
            for k in 0..<p {
                let (lo, hi) = (min(j, k) + 1, max(j, k) + 1)
                a[j * w + k] = r[lo * stride + hi] + (j == k ? ridge : 0)
            }
            a[j * w + p] = r[0 * stride + (j + 1)]
        }
        for col in 0..<p {
            var pivot = col
            for row in col + 1..<p where abs(a[row * w + col]) > abs(a[pivot * w + col]) { pivot = row }
            guard a[pivot * w + col] != 0 else { return nil }
            if pivot != col { for k in 0..<w { a.swapAt(pivot * w + k, col * w + k) } }
            let d = a[col * w + col]
            for row in col + 1..<p {
                let f = a[row * w + col] / d
                if f == 0 { continue }
                for k in col..<w { a[row * w + k] -= f * a[col * w + k] }
            }
        }
        var c = [Double](repeating: 0, count: p)
        for row in Swift.stride(from: p - 1, through: 0, by: -1) {
            var s = a[row * w + p]
            for k in row + 1..<p { s -= a[row * w + k] * c[k] }
            c[row] = s / a[row * w + row]
        }
        return c.allSatisfy(\.isFinite) ? c : nil
    }

    @inline(__always)
    private func predict(_ x: UnsafeBufferPointer<Double>, _ i: Int, _ c: UnsafeBufferPointer<Double>) -> Double {
        let p = c.count
        if i < p { return i == 0 ? 0 : x[i - 1] }
        switch summation {
        case .newestFirst: return LinearPredictor.sumNewestFirst(c, x, i, p)
        case .oldestFirst: return LinearPredictor.sumOldestFirst(c, x, i, p)
        }
    }

    /// The prediction of x[i] for i >= p in encoding 4: `acc = 0.0`, then for k = 0..<p in that
    /// order `acc = acc + c[k] * x[i-1-k]`, each product and sum rounded (FORMAT.md).
    @inline(__always)
    static func sumNewestFirst(_ c: UnsafeBufferPointer<Double>, _ x: UnsafeBufferPointer<Double>, _ i: Int, _ p: Int) -> Double {
        var acc = 0.0
        for k in 0..<p { acc = acc + c[k] * x[i - 1 - k] }
        return NumericColumns.canonical(acc)
    }

    /// The prediction of x[i] for i >= p in encoding 5: `acc = c[p-1] * x[i-p]`, then for
    /// k = p-2 down to 0 `acc = acc + c[k] * x[i-1-k]`, each product and sum rounded (FORMAT.md).
    @inline(__always)
    static func sumOldestFirst(_ c: UnsafeBufferPointer<Double>, _ x: UnsafeBufferPointer<Double>, _ i: Int, _ p: Int) -> Double {
        var acc = c[p - 1] * x[i - p]
        var k = p - 2
        while k >= 0 {
            acc = acc + c[k] * x[i - 1 - k]
            k -= 1
        }
        return NumericColumns.canonical(acc)
    }

    /// Runs `body` with `p` as a constant where it can, so that the
    /// compiler unrolls the prediction's loop for each order.
    @inline(__always)
    static func withConstantOrder(_ p: Int, _ body: (Int) -> Void) {
        switch p {
        case 1: body(1)
        case 2: body(2)
        case 3: body(3)
        case 4: body(4)
        case 5: body(5)
        case 6: body(6)
        case 7: body(7)
        case 8: body(8)
        default: body(p)
        }
    }

    /// Bits the residuals of the first `m` points take, to compare orders.
    func cost(_ xs: [Double], upTo m: Int) -> Int {
        var bits = 0
        xs.withUnsafeBufferPointer { x in
            coefficients.withUnsafeBufferPointer { c in
                for i in 0..<m {
                    let res = NumericColumns.residual(x[i], predict(x, i, c))
                    bits += 64 - res.leadingZeroBitCount
                }
            }
        }
        return bits
    }

    func residuals(_ xs: [Double]) -> [UInt64] {
        let n = xs.count
        return [UInt64](unsafeUninitializedCapacity: n) { out, initialized in
            xs.withUnsafeBufferPointer { x in
                coefficients.withUnsafeBufferPointer { c in
                    let p = c.count
                    for i in 0..<min(p, n) { out[i] = NumericColumns.residual(x[i], i == 0 ? 0 : x[i - 1]) }
                    let oldestFirst = summation == .oldestFirst
                    LinearPredictor.withConstantOrder(p) { p in
                        var i = p
                        while i < n {
                            let prediction = oldestFirst ? LinearPredictor.sumOldestFirst(c, x, i, p)
                                                         : LinearPredictor.sumNewestFirst(c, x, i, p)
                            out[i] = NumericColumns.residual(x[i], prediction)
                            i += 1
                        }
                    }
                }
            }
            initialized = n
        }
    }

    /// Decodes `count` packed residuals from `r` and rebuilds the values into `out`.
    ///
    /// Each value depends on the one before, so the time a value takes is the
    /// length of that chain: the last values and the coefficients are kept in
    /// registers (`Window`), never reloaded from `out`, and in encoding 5 the
    /// newest value enters the sum last, so one product and one sum stand
    /// between it and the next value (in encoding 4, all of them do).
    func reconstruct(count: Int, from r: inout ByteReader, into out: UnsafeMutableBufferPointer<Double>) throws(DecodeError) {
        let p = coefficients.count
        precondition((1...Window.size).contains(p), "the column's decoder checks the order")
        var c = Window()
        for (k, x) in coefficients.enumerated() { c[k] = x }
        var history = Window()  // history[0] is the newest value
        let oldestFirst = summation == .oldestFirst
        try BitPacking.forEachGroup(count: count, from: &r) { residuals, start in
            var j = 0
            // The first p values have too little history: they repeat the last value.
            while j < residuals.count && start + j < p {
                let v = NumericColumns.apply(residuals[j], start + j == 0 ? 0 : history[0])
                out[start + j] = v
                history.push(v)
                j += 1
            }
            let first = j
            LinearPredictor.withConstantOrder(p) { p in
                var h = history
                if oldestFirst {
                    for j in first..<residuals.count {
                        var acc = c[p - 1] * h[p - 1]
                        var k = p - 2
                        while k >= 0 {
                            acc = acc + c[k] * h[k]
                            k -= 1
                        }
                        let v = NumericColumns.apply(residuals[j], NumericColumns.canonical(acc))
                        out[start + j] = v
                        h.push(v)
                    }
                } else {
                    for j in first..<residuals.count {
                        var acc = 0.0
                        for k in 0..<p { acc = acc + c[k] * h[k] }
                        let v = NumericColumns.apply(residuals[j], NumericColumns.canonical(acc))
                        out[start + j] = v
                        h.push(v)
                    }
                }
                history = h
            }
        }
    }

    /// Eight doubles as separate stored properties, which the compiler keeps
    /// in registers where an array's elements would be loaded from memory:
    /// a predictor's coefficients, or the last values decoded (newest at 0).
    struct Window {
        static let size = 8
        private var v0 = 0.0, v1 = 0.0, v2 = 0.0, v3 = 0.0, v4 = 0.0, v5 = 0.0, v6 = 0.0, v7 = 0.0

        /// `k` in 0..<8; a constant `k` (an unrolled loop's) folds to one property.
        @inline(__always)
        subscript(k: Int) -> Double {
            get {
                switch k {
                case 0: v0
                case 1: v1
                case 2: v2
                case 3: v3
                case 4: v4
                case 5: v5
                case 6: v6
                default: v7
                }
            }
            set {
                switch k {
                case 0: v0 = newValue
                case 1: v1 = newValue
                case 2: v2 = newValue
                case 3: v3 = newValue
                case 4: v4 = newValue
                case 5: v5 = newValue
                case 6: v6 = newValue
                default: v7 = newValue
                }
            }
        }

        /// `x` becomes the newest value; the oldest falls off.
        @inline(__always)
        mutating func push(_ x: Double) {
            (v7, v6, v5, v4, v3, v2, v1, v0) = (v6, v5, v4, v3, v2, v1, v0, x)
        }
    }
}
