import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeS3

/// The client against a real S3 implementation: the Ceph RADOS Gateway that
/// `scripts/s3-server` starts (scripts/test starts it before the suite).
@Suite struct S3ClientTests {
    let client: S3Client
    let bucket = TestS3.bucket
    let prefix = TestS3.freshPrefix("client")

    init() throws {
        guard let env = TestS3.environment else { throw S3Error(.unreachable, TestS3.missing) }
        client = S3Client(try S3Configuration.fromEnvironment(env), partSize: 5 << 20)
        try client.createBucket(bucket)
    }

    @Test func objectsArePutReadInRangesListedAndDeleted() throws {
        let key = prefix + "/a dir/obj+1é"  // a key that needs encoding, signed as sent
        let bytes = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        #expect(try client.put(bucket: bucket, key: key, body: bytes))
        #expect(try client.get(bucket: bucket, key: key) == bytes)
        #expect(try client.get(bucket: bucket, key: key, range: 100..<110) == bytes[100..<110])
        #expect(try client.get(bucket: bucket, key: key, range: 9_990..<20_000) == bytes[9_990...], "a range past the end gives what is there")
        #expect(try client.get(bucket: bucket, key: key, range: 10_000..<10_001) == Data(), "a range at the end gives nothing")
        #expect(try client.head(bucket: bucket, key: key)?.size == 10_000)
        #expect(try client.get(bucket: bucket, key: prefix + "/nothing") == nil)
        #expect(try client.head(bucket: bucket, key: prefix + "/nothing") == nil)

        let listed = try client.list(bucket: bucket, prefix: prefix + "/")
        #expect(listed.objects.map(\.key) == [key])
        #expect(listed.objects.first?.size == 10_000)
        try client.delete(bucket: bucket, key: key)
        try client.delete(bucket: bucket, key: key)  // again: not an error
        #expect(try client.get(bucket: bucket, key: key) == nil)
    }

    @Test func createIfAbsentWritesOnceAndTellsTheLoser() throws {
        let key = prefix + "/once"
        #expect(try client.put(bucket: bucket, key: key, body: Data("first".utf8), ifAbsent: true))
        #expect(try client.put(bucket: bucket, key: key, body: Data("second".utf8), ifAbsent: true) == false)
        #expect(try client.get(bucket: bucket, key: key) == Data("first".utf8))
    }

    @Test func listingPagesThroughContinuationsAndGroupsByDelimiter() throws {
        for i in 0..<7 { try client.put(bucket: bucket, key: "\(prefix)/list/k\(i)", body: Data([UInt8(i)])) }
        try client.put(bucket: bucket, key: "\(prefix)/list/sub/x", body: Data())
        let all = try client.list(bucket: bucket, prefix: "\(prefix)/list/", pageSize: 2)
        #expect(all.objects.map(\.key) == (0..<7).map { "\(prefix)/list/k\($0)" } + ["\(prefix)/list/sub/x"])
        let after = try client.list(bucket: bucket, prefix: "\(prefix)/list/", startAfter: "\(prefix)/list/k4", pageSize: 2)
        #expect(after.objects.map(\.key) == ["\(prefix)/list/k5", "\(prefix)/list/k6", "\(prefix)/list/sub/x"])
        let limited = try client.list(bucket: bucket, prefix: "\(prefix)/list/", limit: 3, pageSize: 2)
        #expect(limited.objects.count == 3)
        let grouped = try client.list(bucket: bucket, prefix: "\(prefix)/list/", delimiter: "/")
        #expect(grouped.objects.count == 7)
        #expect(grouped.prefixes == ["\(prefix)/list/sub/"])
    }

    @Test func aLargeObjectIsSentInPartsAndReadBackWhole() throws {
        let key = prefix + "/large"
        var rng = SplitMix64(seed: 7)
        let bytes = Data((0..<(12 << 20 + 123)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        var reads: [Range<Int>] = []
        try client.upload(bucket: bucket, key: key, count: bytes.count) { offset, length in
            reads.append(offset..<(offset + length))
            return bytes[offset..<(offset + length)]
        }
        #expect(reads.count == 3, "three parts of at most 5 MiB")
        #expect(try client.get(bucket: bucket, key: key) == bytes)

        // A read that fails part-way leaves no object.
        let failing = prefix + "/failing"
        #expect(throws: S3Error.self) {
            try client.upload(bucket: bucket, key: failing, count: bytes.count) { offset, length in
                guard offset == 0 else { throw CocoaError(.fileReadUnknown) }
                return bytes[offset..<(offset + length)]
            }
        }
        #expect(try client.head(bucket: bucket, key: failing) == nil)
    }

    @Test func aWrongSecretIsRefusedNamingTheObjectAndS3sCode() throws {
        var config = client.configuration
        config.credentials.secretAccessKey = "not-the-secret"
        let wrong = S3Client(config)
        let error = try #require(throws: S3Error.self) { try wrong.get(bucket: bucket, key: prefix + "/x") }
        #expect(error.kind == .refused && error.status == 403 && error.code == "SignatureDoesNotMatch")
        #expect(error.message.contains("s3://\(bucket)/\(prefix)/x") && !error.message.contains("not-the-secret"))
        #expect(!error.isRetryable)
    }

    @Test func anEndpointWhereNothingListensIsUnreachableAndRetryable() throws {
        var config = client.configuration
        config.endpoint = "http://127.0.0.1:9"
        let error = try #require(throws: S3Error.self) { try S3Client(config, timeout: 5).head(bucket: bucket, key: "k") }
        #expect(error.kind == .unreachable && error.isRetryable)
    }
}
