import Glibc

/// The reference workload, written once: point `i` of its track is
/// `{"value": ReferenceWorkload.value(i), "step": i}`, a decaying loss with a
/// little noise. `dreamlake bench` appends it and `bench check` verifies it,
/// `dreamlake demo` shows it, and the benchmarks and the tests measure and
/// check it; they agree because they share this. (The Python peers,
/// `Benchmarks/peers/compare.py`, spell the same formula in Python.)
/// Behind an SPI: no part of the library's API.
@_spi(Reference)
public enum ReferenceWorkload {
    /// The value of point `i`: `2 / (1 + i·10⁻⁴) + 0.01·sin(0.37·i)`.
    @inline(__always)
    public static func value(_ i: Int) -> Double {
        let x = Double(i)
        return 2.0 / (1.0 + x * 1e-4) + 0.01 * sin(x * 0.37)
    }
}
