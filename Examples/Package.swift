// swift-tools-version: 6.1
// Programs that use Dreamlake as a user's package would: a package of its
// own, depending on the root package by path.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which differs between checkouts.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "DreamlakeExamples",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        // Every form the session API promises, written as a user writes them.
        .executableTarget(name: "SessionForms", dependencies: [.product(name: "Dreamlake", package: root)]),
    ],
    swiftLanguageModes: [.v6]
)
