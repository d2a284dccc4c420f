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
    static let fitWindow = 2048

    /// c[k] multiplies x[i - 1 - k].
    let coefficients: [Double]

    /// The best predictor for `xs`, or nil when the values are too few or not all finite.
    static func fit(_ xs: [Double]) -> LinearPredictor? {
        let m = min(xs.count, fitWindow)
        let maxP = maxOrder
        guard m >= 4 * maxP else { return nil }
        for x in xs where !x.isFinite { return nil }
        // Lagged products over the window, for the largest order; the smaller
        // orders use the leading part of the same matrix.
        var r = [Double](repeating: 0, count: maxP * maxP)
        var b = [Double](repeating: 0, count: maxP)
        xs.withUnsafeBufferPointer { x in
            for i in maxP..<m {
                for j in 0..<maxP {
                    let xj = x[i - 1 - j]
                    b[j] += x[i] * xj
                    for k in j..<maxP { r[j * maxP + k] += xj * x[i - 1 - k] }
                }
            }
        }
        for j in 0..<maxP { for k in 0..<j { r[j * maxP + k] = r[k * maxP + j] } }

        var best: (LinearPredictor, Int)?
        for p in [2, 3, 4, 5, 6, 8] {
            guard let c = solve(r, b, stride: maxP, order: p) else { continue }
            let candidate = LinearPredictor(coefficients: c)
            let cost = candidate.cost(xs, upTo: m)
            if best == nil || cost < best!.1 { best = (candidate, cost) }
        }
        return best?.0
    }

    /// Solves the order-p normal equations with a small ridge, by Gaussian
    /// elimination with partial pivoting.
    private static func solve(_ r: [Double], _ b: [Double], stride: Int, order p: Int) -> [Double]? {
        var a = [Double](repeating: 0, count: p * (p + 1))
        var trace = 0.0
        for j in 0..<p { trace += r[j * stride + j] }
        let ridge = max(trace / Double(p) * 1e-13, Double.leastNormalMagnitude)
        for j in 0..<p {
            for k in 0..<p { a[j * (p + 1) + k] = r[j * stride + k] + (j == k ? ridge : 0) }
            a[j * (p + 1) + p] = b[j]
        }
        let w = p + 1
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
        var acc = 0.0
        for k in 0..<p { acc = acc + c[k] * x[i - 1 - k] }
        return NumericColumns.canonical(acc)
    }

    /// Bits the residuals of the first `m` points take, to compare orders.
    private func cost(_ xs: [Double], upTo m: Int) -> Int {
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
        var out = [UInt64](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { x in
            coefficients.withUnsafeBufferPointer { c in
                for i in 0..<x.count { out[i] = NumericColumns.residual(x[i], predict(x, i, c)) }
            }
        }
        return out
    }

    func reconstruct(_ residuals: [UInt64]) -> [Double] {
        var out = [Double](repeating: 0, count: residuals.count)
        out.withUnsafeMutableBufferPointer { o in
            coefficients.withUnsafeBufferPointer { c in
                let x = UnsafeBufferPointer(o)
                for i in 0..<residuals.count { o[i] = NumericColumns.apply(residuals[i], predict(x, i, c)) }
            }
        }
        return out
    }
}
