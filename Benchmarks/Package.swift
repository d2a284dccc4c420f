// swift-tools-version: 6.1
// The benchmark suite: a package of its own, so that users of the library
// never build the harness. Run from this folder: swift package benchmark
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which differs between
// checkouts (main, project, ...): work it out rather than spell it.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "DreamlakeBenchmarks",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "StoreBenchmarks",
            dependencies: [
                .product(name: "DreamlakeStore", package: root),
                .product(name: "Dreamlake", package: root),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/StoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
