/// A count and its noun, for messages: "1 segment", "2 segments", "1 entry"
/// with `plural: "entries"`.
package func counted<N: BinaryInteger>(_ n: N, _ singular: String, plural: String? = nil) -> String {
    "\(n) " + (n == 1 ? singular : plural ?? singular + "s")
}
