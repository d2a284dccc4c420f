// swift-tools-version: 6.1
// Programs that use Dreamlake as a user's package would: a package of its
// own, depending on the root package by path.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which differs between checkouts.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "DreamlakeExamples",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        // Every form the session API promises, written as a user writes them.
        .executableTarget(name: "SessionForms", dependencies: [.product(name: "Dreamlake", package: root)]),
        // A small training loop (plain Swift, no ML framework) that logs
        // through swift-log, counts through swift-metrics and tracks its loss.
        .executableTarget(
            name: "TrainingLoop",
            dependencies: [
                .product(name: "Dreamlake", package: root),
                .product(name: "DreamlakeLogging", package: root),
                .product(name: "DreamlakeMetrics", package: root),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
