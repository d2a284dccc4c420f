// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "dreamlake",
    products: [
        .library(name: "DreamlakeStore", targets: ["DreamlakeStore"]),
        .library(name: "Dreamlake", targets: ["Dreamlake"]),
        .library(name: "DreamlakeS3", targets: ["DreamlakeS3"]),
        // Parquet files, written: what `dreamlake export --format parquet` writes with.
        .library(name: "DreamlakeParquet", targets: ["DreamlakeParquet"]),
        // Backends for swift-log and swift-metrics, products of their own so
        // that Dreamlake itself never pulls those packages in.
        .library(name: "DreamlakeLogging", targets: ["DreamlakeLogging"]),
        .library(name: "DreamlakeMetrics", targets: ["DreamlakeMetrics"]),
        // `dreamlake serve`: the remote API over a store.
        .library(name: "DreamlakeServer", targets: ["DreamlakeServer"]),
        .executable(name: "dreamlake", targets: ["dreamlake"]),
        // The C API (Sources/CDreamlake/include/dreamlake.h) as a shared library, libdreamlakec.so: the
        // Python package's engine, and C, C++ and Rust programs'.
        .library(name: "dreamlakec", type: .dynamic, targets: ["DreamlakeC"]),
    ],
    dependencies: [
        // Ordered JSON objects (key order is part of what we store and export).
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // Append latency percentiles in `dreamlake bench`.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // HTTP for `dreamlake serve`; its configuration-file and full-Foundation traits are not needed.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        // Streaming multipart/form-data parsing for file uploads.
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        // FilePath (the paths users give, read by their components) and Errno (StoreError.errno).
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // NIOThreadPool, where the server's store and file work runs (Hummingbird's own dependency).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Gzip of the viewer's and the API's answers (zlib; Hummingbird's own compression middleware uses it).
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
    ],
    targets: [
        // LZ4 from the system's liblz4 (apt: liblz4-dev); never vendored.
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        // SHA-256 and HMAC-SHA256 from the system's OpenSSL libcrypto (apt: libssl-dev);
        // swift-crypto would compile a copy of BoringSSL into every fresh build.
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // The S3 client's HTTP from the system's libcurl (apt: libcurl4-openssl-dev), the library the
        // toolchain's Foundation already links: its easy interface waits on the calling thread in poll(2),
        // where URLSession on Linux spun a core while a store kept a request waiting, and follows no redirect.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // CRC-32C with the processor's instruction (crc32.c says why it is written here).
        .target(name: "CCRC32C"),
        .target(
            name: "DreamlakeStore",
            dependencies: [
                "CLZ4",
                "CCRC32C",
                .product(name: "OrderedCollections", package: "swift-collections"),
                // Errno, the type of StoreError.errno.
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // S3-compatible object storage as a root: SigV4 signing and the few requests the store makes.
        .target(
            name: "DreamlakeS3",
            dependencies: ["CCrypto", "CCurl", "DreamlakeStore"]
        ),
        // Parquet files, written (parquet-format 2.x): Thrift's compact footer, DELTA_BINARY_PACKED,
        // BYTE_STREAM_SPLIT, dictionaries, LZ4_RAW. No Swift Parquet library is in this machine's package set.
        .target(name: "DreamlakeParquet", dependencies: ["CLZ4"]),
        .target(
            name: "Dreamlake",
            dependencies: [
                "DreamlakeStore",
                "DreamlakeParquet",
                "DreamlakeS3",
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "DreamlakeLogging",
            dependencies: ["Dreamlake", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "DreamlakeMetrics",
            dependencies: ["Dreamlake", .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
        // Writes the viewer's page (Sources/DreamlakeServer/Viewer/Assets) into a Swift file at build time.
        .executableTarget(name: "EmbedAssets"),
        .plugin(name: "EmbedViewerAssets", capability: .buildTool(), dependencies: ["EmbedAssets"]),
        .target(
            name: "DreamlakeServer",
            dependencies: [
                "Dreamlake",
                "DreamlakeS3",
                "DreamlakeStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            // The page's files are embedded by the plugin, not copied as resources.
            exclude: ["Viewer/Assets"],
            plugins: ["EmbedViewerAssets"]
        ),
        // The C API's header, and the types it shares with its Swift implementation.
        .target(name: "CDreamlake"),
        .target(
            name: "DreamlakeC",
            dependencies: ["CDreamlake", "Dreamlake", "DreamlakeStore"]
        ),
        .executableTarget(
            name: "dreamlake",
            dependencies: [
                "Dreamlake",
                "DreamlakeS3",
                "DreamlakeServer",
                "DreamlakeStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // What the test targets share (a temporary folder, a seeded generator).
        .target(name: "DreamlakeTestSupport", path: "Tests/Support"),
        .testTarget(
            name: "DreamlakeStoreTests",
            dependencies: ["DreamlakeStore", "DreamlakeTestSupport", .product(name: "SystemPackage", package: "swift-system")],
            exclude: ["Golden", "FuzzRegressions"]  // read by path (#filePath), not bundled
        ),
        .testTarget(
            name: "DreamlakeParquetTests",
            dependencies: ["DreamlakeParquet", "DreamlakeTestSupport"]
        ),
        .testTarget(
            name: "DreamlakeS3Tests",
            dependencies: ["DreamlakeS3", "DreamlakeTestSupport"]
        ),
        .testTarget(
            name: "DreamlakeTests",
            dependencies: ["Dreamlake", "DreamlakeS3", "DreamlakeTestSupport"]
        ),
        .testTarget(
            name: "DreamlakeServerTests",
            dependencies: ["DreamlakeServer", "Dreamlake", "DreamlakeS3", "DreamlakeTestSupport",
                           .product(name: "CompressNIO", package: "compress-nio")]
        ),
        .testTarget(
            name: "DreamlakeIntegrationTests",
            dependencies: [
                "DreamlakeLogging",
                "DreamlakeMetrics",
                "DreamlakeTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
