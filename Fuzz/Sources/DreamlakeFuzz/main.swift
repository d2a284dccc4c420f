import CFuzzer
@_spi(Fuzzing) import DreamlakeParquet
@_spi(Fuzzing) import DreamlakeServer
@_spi(Fuzzing) import DreamlakeStore
import Glibc

// libFuzzer calls this with each input; DREAMLAKE_FUZZ_TARGET (block,
// segment, index, records, store for the whole read path, or parquet for the
// Parquet writer's encoders) says where it goes.

/// The target's name.
private let name = getenv("DREAMLAKE_FUZZ_TARGET").flatMap { String(validatingCString: $0) } ?? ""

/// The decoders' target, or nil for `store` and `parquet`.
private let target: FuzzEntry.Target? = {
    if name == "store" || name == "parquet" { return nil }
    guard let t = FuzzEntry.Target(rawValue: name) else {
        let names = (FuzzEntry.Target.allCases.map(\.rawValue) + ["store", "parquet"]).joined(separator: ", ")
        let message = Array("DreamlakeFuzz: set DREAMLAKE_FUZZ_TARGET to one of \(names)\n".utf8)
        _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(2)
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let target { FuzzEntry.run(target, bytes) } else if name == "parquet" { ParquetFuzzEntry.run(bytes) } else { StoreFuzzEntry.run(bytes) }
    return 0
}

// The executable's main (SwiftPM names it, so libFuzzer's own main is not the one linked): libFuzzer runs here.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
