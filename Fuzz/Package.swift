// swift-tools-version: 6.1
import PackageDescription

// The fuzzers: one executable whose libFuzzer entry point feeds the format's
// decoders (DreamlakeStore's FuzzEntry). A package of its own, so that no
// user builds it; scripts/fuzz builds it with `--sanitize=fuzzer` and runs it.
let package = Package(
    name: "DreamlakeFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "dreamlake", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "DreamlakeFuzz",
            dependencies: [.product(name: "DreamlakeStore", package: "dreamlake")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
