// swift-tools-version: 6.1
// The fuzzers: one executable whose libFuzzer entry point feeds the format's
// decoders (DreamlakeStore's FuzzEntry), the Parquet writer's encoders (ParquetFuzzEntry) or the whole read path (DreamlakeServer's StoreFuzzEntry, which goes as far as the server's answers). A package of its own, so that no
// user builds it; scripts/fuzz builds it with AddressSanitizer and libFuzzer's coverage, and runs it.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which differs between checkouts.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "DreamlakeFuzz",
    dependencies: [.package(path: "..")],
    targets: [
        // libFuzzer's driver, declared for Swift.
        .target(name: "CFuzzer"),
        .executableTarget(
            name: "DreamlakeFuzz",
            dependencies: ["CFuzzer", .product(name: "DreamlakeStore", package: root), .product(name: "DreamlakeServer", package: root),
                           .product(name: "DreamlakeParquet", package: root)],
            // libFuzzer, linked into this executable alone (its main calls LLVMFuzzerRunDriver); scripts/fuzz
            // instruments every module.
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
