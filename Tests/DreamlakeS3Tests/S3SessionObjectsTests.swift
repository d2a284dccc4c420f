@_spi(Reference) import DreamlakeStore
import DreamlakeTestSupport
import Foundation
import Glibc
import Synchronization
import Testing
@testable import DreamlakeS3

@Suite struct S3ManifestTests {
    @Test func aManifestReadsBackAsWrittenAndBadOnesAreRefusedByName() throws {
        let a = "00000000000000a1", b = "0123456789abcdef"
        let h1 = String(repeating: "0a", count: 32), h2 = String(repeating: "b7", count: 32), h3 = String(repeating: "c3", count: 32)
        let m = S3Manifest(generation: 1, spool: b, commitPieces: [.init(end: 16, spool: nil), .init(end: 300, spool: b, sha256: h1)],
                           segments: [.init(name: "w0000-00000001.dls", length: 4096, index: "w0000-00000001.dli", summary: "w0000-00000001.dlm", spool: a,
                                            sha256: h2, etag: "9b2cf535f27731c974343645a3985328-2", indexLength: 40, indexSha256: h3,
                                            summaryLength: 90, summarySha256: h1,
                                            inline: [.init(offset: 0, bytes: [1, 2, 3]), .init(offset: 100, bytes: [0xFF, 0, 0xFB, 7])]),
                                      .init(name: "w0003-00000002.dls", length: 77, index: "w0003-00000002.dli", summary: nil)])
        #expect(String(decoding: m.encoded(), as: UTF8.self) == """
            {"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[{"end":16},{"end":300,"sha256":"\(h1)","spool":"0123456789abcdef"}],\
            "segments":[{"name":"w0000-00000001.dls","length":4096,"sha256":"\(h2)","etag":"9b2cf535f27731c974343645a3985328-2",\
            "index":"w0000-00000001.dli","indexLength":40,"indexSha256":"\(h3)","summary":"w0000-00000001.dlm","summaryLength":90,\
            "summarySha256":"\(h1)","inline":[{"offset":0,"bytes":"AQID"},{"offset":100,"bytes":"/wD7Bw=="}],"spool":"00000000000000a1"},\
            {"name":"w0003-00000002.dls","length":77,"index":"w0003-00000002.dli"}]}
            """)
        #expect(try S3Manifest.decode(m.encoded(), key: "k") == m)
        // Stored files: names JSON must escape read back as they were; the key is left out when there are none.
        var withFiles = m
        withFiles.files = [.init(name: "models/17/r\u{E9}sum\u{E9} \"v1\" 学習.txt", length: 7, spool: b, sha256: h3), .init(name: "17/a", length: 0)]
        #expect(String(decoding: withFiles.encoded(), as: UTF8.self).hasSuffix(
            #",{"name":"w0003-00000002.dls","length":77,"index":"w0003-00000002.dli"}],"files":[{"name":"models/17/résumé \"v1\" 学習.txt","length":7,"sha256":"\#(h3)","spool":"0123456789abcdef"},{"name":"17/a","length":0}]}"#))
        #expect(try S3Manifest.decode(withFiles.encoded(), key: "k") == withFiles)
        // Version 2 (no checksums) is read as written.
        let v2 = try S3Manifest.decode(Data(#"{"version":2,"generation":4,"spool":"0123456789abcdef","commitPieces":[{"end":16,"spool":"0123456789abcdef"}],"segments":[]}"#.utf8), key: "k")
        #expect(v2 == S3Manifest(generation: 4, spool: b, commitPieces: [.init(end: 16, spool: b)], segments: []))
        // A version 1 manifest (an older dreamlake's): no spool ids, its objects under the fixed keys.
        let v1 = try S3Manifest.decode(Data(#"{"version":1,"generation":3,"commitPieces":[16,300],"segments":[{"name":"w0000-00000001.dls","length":4096,"index":"w0000-00000001.dli"}],"files":[{"name":"1/a","length":2}]}"#.utf8), key: "k")
        #expect(v1 == S3Manifest(generation: 3, commitPieces: [.init(end: 16), .init(end: 300)],
                                 segments: [.init(name: "w0000-00000001.dls", length: 4096, index: "w0000-00000001.dli")],
                                 files: [.init(name: "1/a", length: 2)]))
        let seg = #""name":"w0000-00000001.dls","length":1,"index":"w0000-00000001.dli""#
        let bad = [
            #"{"version":4,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[]}"#,
            // Checksums: only in version 3, 64 lowercase hex digits, ETags without quotes, backslashes or controls, lengths with digests.
            #"{"version":2,"generation":1,"spool":"0123456789abcdef","commitPieces":[{"end":5,"sha256":"\#(h1)","spool":"0123456789abcdef"}],"segments":[]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[{"end":5,"sha256":"\#(h1.uppercased())"}],"segments":[]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[{"end":5,"sha256":"abc"}],"segments":[]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{\#(seg),"etag":"a"b"}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{\#(seg),"etag":"a\u0001"}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{\#(seg),"etag":""}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{\#(seg),"indexLength":3}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{\#(seg),"summaryLength":3,"summarySha256":"\#(h1)"}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[],"files":[{"name":"1/a","length":1,"sha256":7}]}"#,
            // Inline bytes: only in version 3, base64, in increasing order, within the segment, 16 KiB at most.
            #"{"version":2,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{\#(seg),"inline":[{"offset":0,"bytes":"AQ=="}]}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{\#(seg),"inline":[{"offset":0,"bytes":"AQ!="}]}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{\#(seg),"inline":[{"offset":0,"bytes":""}]}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{\#(seg),"inline":[{"offset":0,"bytes":"AQI="}]}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{\#(seg),"inline":[{"offset":5,"bytes":"AQ=="}]}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{"name":"w0000-00000001.dls","length":99999,"index":"w0000-00000001.dli","inline":[{"offset":9,"bytes":"AQ=="},{"offset":9,"bytes":"AQ=="}]}]}"#,
            #"{"version":3,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{"name":"w0000-00000001.dls","length":99999,"index":"w0000-00000001.dli","inline":[{"offset":0,"bytes":"\#(Data(count: 16385).base64EncodedString())"}]}]}"#,
            #"{"version":2,"generation":1,"commitPieces":[],"segments":[]}"#,
            #"{"version":2,"generation":1,"spool":"0123456789ABCDEF","commitPieces":[],"segments":[]}"#,
            #"{"version":2,"generation":1,"spool":"../../../etc/x","commitPieces":[],"segments":[]}"#,
            #"{"version":2,"generation":1,"spool":"0123456789abcdef","commitPieces":[{"end":5,"spool":"0123456789abcde"}],"segments":[]}"#,
            #"{"version":2,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{"name":"w0000-00000001.dls","length":1,"index":"w0000-00000001.dli","spool":"x/../y"}]}"#,
            #"{"version":2,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[{"name":"w0000-00000001.dls","length":1,"index":"w0000-00000001.dli"},{"name":"w0000-00000001.dls","length":2,"index":"w0000-00000001.dli"}]}"#,
            #"{"version":2,"generation":1,"spool":"0123456789abcdef","commitPieces":[16],"segments":[]}"#,
            #"{"version":1,"generation":1,"spool":"0123456789abcdef","commitPieces":[],"segments":[]}"#,
            #"{"version":1,"generation":0,"commitPieces":[],"segments":[]}"#,
            #"{"version":1,"generation":18446744073709551615,"commitPieces":[],"segments":[]}"#,
            #"{"version":1,"generation":true,"commitPieces":[],"segments":[]}"#,
            #"{"version":1,"generation":1,"commitPieces":[16,16],"segments":[]}"#,
            #"{"version":1,"generation":1,"commitPieces":[-1],"segments":[]}"#,
            #"{"version":1,"generation":1,"commitPieces":[1e300],"segments":[]}"#,
            #"{"version":1,"generation":1,"commitPieces":[],"segments":[{"name":"../../etc.dls","length":1,"index":"../../etc.dli"}]}"#,
            #"{"version":1,"generation":1,"commitPieces":[],"segments":[{"name":"w0000-00000001.dls","length":1,"index":"w0000-00000002.dli"}]}"#,
            "[1,2]", "not json",
        ] + ["../x/a", "x/../a", "x//a", "/x/a", "x/a/", "lonely", "x/a\\u0001", "x/.", "x\\\\y/a"].map {
            #"{"version":1,"generation":1,"commitPieces":[],"segments":[],"files":[{"name":"\#($0)","length":1}]}"#
        }
        for text in bad {
            let error = try #require(throws: S3Error.self) { try S3Manifest.decode(Data(text.utf8), key: "s3://b/m.json") }
            #expect(error.message.contains("s3://b/m.json"), "\(text)")
        }
    }

    @Test func aSpoolsIdentityIsMadeOnceAndAHostileOneIsRefused() throws {
        let dir = TempRoot()
        defer { dir.remove() }
        #expect(try S3Spool.load(dir.path) == nil)
        let made = try S3Spool.make(dir.path, base: 7)
        #expect(S3Spool.isID(made.id) && made.base == 7)
        #expect(try S3Spool.make(dir.path, base: 9) == made, "made once: a second opening shares it")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [S3Spool.fileName])
        for text in [#"{"spool":"../x","base":1}"#, #"{"spool":"0123456789abcdef","base":-1}"#, "", "{}"] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: dir.path + "/" + S3Spool.fileName))
            #expect(throws: S3Error.self, "\(text)") { try S3Spool.load(dir.path) }
        }
        try FileManager.default.removeItem(atPath: dir.path + "/" + S3Spool.fileName)
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/" + S3Spool.fileName, withDestinationPath: dir.path + "/elsewhere")
        #expect(throws: S3Error.self) { try S3Spool.load(dir.path) }
    }
}

/// A store's sealed part uploaded to the local Ceph and downloaded into an empty folder reads back the same.
@Suite struct S3SessionObjectsTests {
    let client: S3Client
    let location: S3Location

    init() throws {
        guard let env = TestS3.environment else { throw S3Error(.unreachable, TestS3.missing) }
        client = S3Client(try S3Configuration.fromEnvironment(env), partSize: 5 << 20)
        try client.createBucket(TestS3.bucket)
        location = S3Location(bucket: TestS3.bucket, prefix: TestS3.freshPrefix("objects"))
    }

    /// A new spool at `dir/spool`, its store open for writing, and its track `loss`.
    func newSpool(in dir: TempRoot) throws -> (path: String, store: Store, track: TrackHandle) {
        let spool = dir.path + "/spool"
        let store = try Store(directory: spool)
        _ = try S3Spool.make(spool, base: 0)
        return (spool, store, try store.track(named: "loss"))
    }

    func points(_ store: Store) throws -> [TrackPoint] {
        guard let id = store.trackInfo(named: "loss")?.id else { return [] }
        return try store.points(of: id, from: 0, limit: .max)
    }

    @Test func sealedSegmentsAndTheCommitLogMakeTheSameStoreElsewhere() throws {
        let dir = TempRoot()
        defer { dir.remove() }
        var config = StoreConfiguration()
        config.segmentSize = 64 << 10  // several segments, sealed as they fill
        let store = try Store(directory: dir.path + "/spool", configuration: config)
        _ = try S3Spool.make(dir.path + "/spool", base: 0)
        let objects = S3SessionObjects(client: client, location: location, workspace: "ws", name: "run")
        #expect(try objects.upload(from: dir.path + "/spool") == nil, "nothing sealed, nothing uploaded")

        let track = try store.track(named: "loss")
        for i in 0..<200_000 { try track.append(value: 1 / Double(i + 1), step: Int64(i)) }
        try store.appendLog("half way")
        try store.sealSegment()
        let first = try #require(try objects.upload(from: dir.path + "/spool"))
        #expect(first.generation == 1 && first.segments.count >= 2)
        #expect(try objects.upload(from: dir.path + "/spool") == first, "nothing new: no new generation")

        for i in 200_000..<250_000 { try track.append(value: Double(i), step: Int64(i)) }
        try store.sealSegment()
        let second = try #require(try objects.upload(from: dir.path + "/spool"))
        // A short log goes whole, as one piece in place of the first.
        #expect(second.generation == 2 && second.commitPieces.count == 1 && second.commitLogLength > first.commitLogLength)
        let spool = try #require(try S3Spool.load(dir.path + "/spool"))
        #expect(second.spool == spool.id && second.segments.allSatisfy { $0.spool == spool.id } && second.commitPieces.allSatisfy { $0.spool == spool.id })
        let keys = try client.list(bucket: location.bucket, prefix: location.prefix + "/ws/run/segments/").objects.map(\.key)
        #expect(keys.allSatisfy { $0.hasPrefix(location.prefix + "/ws/run/segments/\(spool.id)/") } && keys.count >= 6, "\(keys)")
        // Committed but in the active segment: not uploaded until its segment is sealed.
        for i in 250_000..<255_000 { try track.append(value: Double(i), step: Int64(i)) }
        try store.flush()
        #expect(try objects.upload(from: dir.path + "/spool") == second)

        // A reader elsewhere: an empty folder made whole from the objects.
        #expect(try objects.download(into: dir.path + "/elsewhere") == second)
        let copy = try Store(directory: dir.path + "/elsewhere", access: .read)
        let written = try points(store)
        #expect(written.count == 255_000)
        #expect(try points(copy) == Array(written.prefix(250_000)), "every point sealed, bit for bit")
        #expect(try copy.logs(from: 0, limit: 10).map(\.message) == ["half way"])

        // More is uploaded; the reader's folder is extended while its store is open, and refresh sees it.
        for i in 255_000..<260_000 { try track.append(value: Double(i), step: Int64(i)) }
        try store.sealSegment()
        try objects.upload(from: dir.path + "/spool")
        try objects.download(into: dir.path + "/elsewhere")
        #expect(try copy.refresh())
        #expect(try points(copy).count == 260_000)
        try copy.close()
        try store.close()
        let listed = try client.list(bucket: location.bucket, prefix: location.prefix + "/ws/run/manifest/")
        #expect(listed.objects.count == 2, "the two newest manifests are kept, older ones removed")
    }

    @Test func aReaderReadsTheSegmentsWhereTheyAreAndADamagedObjectIsNamed() throws {
        let dir = TempRoot()
        defer { dir.remove() }
        var config = StoreConfiguration()
        config.segmentSize = 64 << 10
        let store = try Store(directory: dir.path + "/spool", configuration: config)
        let track = try store.track(named: "loss")
        for i in 0..<100_000 { try track.append(value: ReferenceWorkload.value(i), step: Int64(i)) }
        try store.sealSegment()
        let spool = try S3Spool.make(dir.path + "/spool", base: 0)
        let objects = S3SessionObjects(client: client, location: location, workspace: "ws", name: "ranges")
        let manifest = try #require(try objects.upload(from: dir.path + "/spool"))
        let written = try points(store)
        try store.close()

        func reader(_ folder: String) throws -> Store {
            // A cache of its own: the bytes an earlier reader kept are the objects as they were.
            let objects = S3SessionObjects(client: client, location: location, workspace: "ws", name: "ranges",
                                           readCache: S3ReadCache(limit: 64 << 20))
            try objects.download(into: folder, segments: false)
            var readConfig = StoreConfiguration()
            readConfig.verifySealedSegments = false
            return try Store(directory: folder, access: .read, configuration: readConfig, remoteSegments: objects)
        }
        let copy = try reader(dir.path + "/elsewhere")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/elsewhere/segments").isEmpty)
        #expect(try points(copy) == written, "every point, read by ranges")
        try copy.close()

        // A segment object that is not what the manifest says: the read fails naming the object.
        let victim = try #require(manifest.segments.dropFirst().first)
        let key = location.prefix + "/ws/ranges/segments/\(spool.id)/" + victim.name
        let original = try #require(try client.get(bucket: location.bucket, key: key))
        try client.put(bucket: location.bucket, key: key, body: original.prefix(original.count / 2))
        let damaged = try reader(dir.path + "/third")
        let error = try #require(throws: StoreError.self) { try points(damaged) }
        #expect(error.message.contains("s3://\(location.bucket)/\(key)"), "\(error)")
        try damaged.close()
        var flipped = original
        flipped[flipped.count / 2] ^= 0x10
        try client.put(bucket: location.bucket, key: key, body: flipped)
        let bitFlipped = try reader(dir.path + "/fourth")
        let corrupt = try #require(throws: StoreError.self) { try points(bitFlipped) }
        #expect(corrupt.code == .corrupt && corrupt.path == "s3://\(location.bucket)/\(key)", "\(corrupt)")
        try bitFlipped.close()
    }

    /// Issue 30, class 7: an object the manifest names that was replaced in the bucket after it was uploaded (by
    /// another session's, or another sound-looking one) is damage naming it, never read as the session: the
    /// commit log's piece is checked against the SHA-256 the manifest records, a segment read by ranges against
    /// the ETag it records, and an index downloaded whole against its SHA-256.
    @Test func anObjectReplacedInTheBucketIsDamageNamingIt() throws {
        let dir = TempRoot()
        defer { dir.remove() }
        let store = try Store(directory: dir.path + "/spool")
        let loss = try store.track(named: "loss"), lost = try store.track(named: "lost")
        for i in 0..<20_000 {
            try loss.append(value: Double(i), step: Int64(i), timestamp: 1_700_000_000_000_000)
            try lost.append(value: -Double(i), step: Int64(i), timestamp: 1_700_000_000_000_000)
        }
        try store.sealSegment()
        let spool = try S3Spool.make(dir.path + "/spool", base: 0)
        let objects = S3SessionObjects(client: client, location: location, workspace: "ws", name: "replaced")
        let manifest = try #require(try objects.upload(from: dir.path + "/spool"))
        try store.close()
        #expect(manifest.commitPieces.allSatisfy { $0.sha256 != nil } && manifest.segments.allSatisfy { $0.sha256 != nil && $0.etag != nil && $0.indexSha256 != nil })
        let session = location.prefix + "/ws/replaced"
        func reader(_ folder: String, segments: Bool = false) throws -> Store {
            let objects = S3SessionObjects(client: client, location: location, workspace: "ws", name: "replaced", readCache: S3ReadCache(limit: 64 << 20))
            try objects.download(into: folder, segments: segments)
            return try Store(directory: folder, access: .read, remoteSegments: segments ? nil : objects)
        }
        #expect(try points(try reader(dir.path + "/sound")).map(\.data["value"]) == (0..<20_000).map { .double(Double($0)) })

        // The commit log's piece replaced by a sound log of the same length that names the tracks the other way
        // round (another session's, to a reader that checks only each record's CRC): "loss" would read lost's points.
        let pieceKey = session + "/commits/\(spool.id)/" + S3SessionObjects.pad(0) + "-" + S3SessionObjects.pad(manifest.commitLogLength) + ".dlc"
        let piece = try #require(try client.get(bucket: location.bucket, key: pieceKey))
        var swapped = [UInt8](piece)
        var at = 16
        while at + 9 <= swapped.count {
            let length = Int(swapped[at]) | Int(swapped[at + 1]) << 8 | Int(swapped[at + 2]) << 16 | Int(swapped[at + 3]) << 24
            if swapped[at + 8] == 2 {  // a track name record: the name's last byte, "s" and "t" swapped
                let last = at + 8 + length - 1
                swapped[last] = swapped[last] == UInt8(ascii: "s") ? UInt8(ascii: "t") : UInt8(ascii: "s")
                let crc = swapped[(at + 8)..<(at + 8 + length)].withUnsafeBytes { CRC32C.checksum($0) }
                for k in 0..<4 { swapped[at + 4 + k] = UInt8(truncatingIfNeeded: crc >> (8 * k)) }
            }
            at += 8 + length
        }
        #expect(swapped != [UInt8](piece) && swapped.count == piece.count)
        try client.put(bucket: location.bucket, key: pieceKey, body: Data(swapped))
        let pieceError = try #require(throws: (any Error).self) { try reader(dir.path + "/piece") }
        #expect("\(pieceError)".contains("s3://\(location.bucket)/\(pieceKey) is not the object its session's manifest names"), "\(pieceError)")
        try client.put(bucket: location.bucket, key: pieceKey, body: piece)

        // A segment replaced by one of the same length whose bytes differ: a read by ranges is damage naming it.
        let segment = try #require(manifest.segments.first)
        let segmentKey = session + "/segments/\(spool.id)/" + segment.name
        let original = try #require(try client.get(bucket: location.bucket, key: segmentKey))
        var other = original
        other[other.count - 1] ^= 0x01
        try client.put(bucket: location.bucket, key: segmentKey, body: other)
        let segmentError = try #require(throws: StoreError.self) { try points(try reader(dir.path + "/ranged")) }
        #expect(segmentError.code == .corrupt && segmentError.path == "s3://\(location.bucket)/\(segmentKey)"
                && segmentError.message.contains("replaced after it was uploaded"), "\(segmentError)")
        // Downloaded whole (a writer's spool, export, verify): its SHA-256.
        let whole = try #require(throws: (any Error).self) { try reader(dir.path + "/whole", segments: true) }
        #expect("\(whole)".contains("s3://\(location.bucket)/\(segmentKey) is not the object"), "\(whole)")
        try client.put(bucket: location.bucket, key: segmentKey, body: original)

        // The index: downloaded whole, its SHA-256.
        let indexKey = session + "/segments/\(spool.id)/" + segment.index
        let index = try #require(try client.get(bucket: location.bucket, key: indexKey))
        var otherIndex = index
        otherIndex[otherIndex.count / 2] ^= 0x01
        try client.put(bucket: location.bucket, key: indexKey, body: otherIndex)
        let indexError = try #require(throws: (any Error).self) { try reader(dir.path + "/index", segments: true) }
        #expect("\(indexError)".contains("s3://\(location.bucket)/\(indexKey) is not the object"), "\(indexError)")
    }

    @Test func manyUploadRoundsMakeOnePieceAndAReaderFromBeforeCatchesUp() throws {
        let dir = TempRoot()
        defer { dir.remove() }
        let (spool, store, track) = try newSpool(in: dir)
        // Every log goes a piece a round, however short.
        let objects = S3SessionObjects(client: client, location: location, workspace: "ws", name: "pieces", wholeLogLimit: 0)
        func reader(_ folder: String) throws -> Store {
            let r = S3SessionObjects(client: client, location: location, workspace: "ws", name: "pieces")
            try r.download(into: folder, segments: false)
            var config = StoreConfiguration()
            config.verifySealedSegments = false
            return try Store(directory: folder, access: .read, configuration: config, remoteSegments: r)
        }
        var n = 0
        for round in 0..<40 {
            for _ in 0..<100 {
                try track.append(value: Double(n), step: Int64(n))
                n += 1
            }
            try store.sealSegment()
            try objects.upload(from: spool)
            if round == 20 {
                // Two readers look between uploads; one's copy of the log is then changed by a byte.
                try reader(dir.path + "/early").close()
                try reader(dir.path + "/changed").close()
            }
        }
        let written = try points(store)
        try store.close()
        let manifest = try #require(try objects.latestManifest())
        #expect(manifest.commitPieces.count == 8, "32 pieces became one at round 33; 7 rounds since: \(manifest.commitPieces)")
        let pieces = try client.list(bucket: location.bucket, prefix: location.prefix + "/ws/pieces/commits/").objects
        #expect(pieces.count == manifest.commitPieces.count, "the replaced pieces are gone: \(pieces.map(\.key))")

        let fresh = try reader(dir.path + "/fresh")
        #expect(try points(fresh) == written)
        try fresh.close()
        let early = try reader(dir.path + "/early")  // its log ends inside the piece that replaced the first 32
        #expect(try points(early) == written)
        try early.close()
        let log = dir.path + "/changed/commits.dlc"
        var bytes = try #require(FileManager.default.contents(atPath: log))
        bytes[100] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: log))
        let refused = #expect(throws: S3Error.self) {
            try S3SessionObjects(client: client, location: location, workspace: "ws", name: "pieces").download(into: dir.path + "/changed", segments: false)
        }
        #expect(refused?.message.contains("is not a part of") == true, "\(refused?.message ?? "")")
    }

    @Test func aReaderWhosePiecesWereReplacedWhileItReadStartsAgainFromTheNewestManifest() throws {
        let dir = TempRoot()
        defer { dir.remove() }
        let (spool, store, track) = try newSpool(in: dir)
        let writer = S3SessionObjects(client: client, location: location, workspace: "ws", name: "race")
        let written = Locked(0)
        @Sendable func round() throws {
            try written.withLock { n in
                for _ in 0..<100 {
                    try track.append(value: Double(n), step: Int64(n))
                    n += 1
                }
            }
            try store.sealSegment()
            try writer.upload(from: spool)
        }
        try round()
        try round()
        // The reader has read manifest 2; before it reads the piece manifest 2 names, the writer uploads twice:
        // each round's whole-log piece replaces the one before, which goes when the second manifest after it is written.
        let interruptions = Locked(0)
        let reader = S3SessionObjects(client: client, location: location, workspace: "ws", name: "race", beforeCommitLog: { manifest in
            guard interruptions.withLock({ n in
                defer { n += 1 }
                return n == 0
            }) else { return }
            #expect(manifest.generation == 2)
            #expect(throws: Never.self) {
                try round()
                try round()
            }
        })
        let manifest = try #require(try reader.download(into: dir.path + "/reader", segments: false))
        #expect(manifest.generation == 4 && interruptions.withLock { $0 } == 2, "it started again once, from manifest 4")
        var config = StoreConfiguration()
        config.verifySealedSegments = false
        let copy = try Store(directory: dir.path + "/reader", access: .read, configuration: config, remoteSegments: reader)
        #expect(try points(copy) == (try points(store)) && written.withLock { $0 } == 400, "all 400 points of manifest 4")
        try copy.close()
        try store.close()

        // A piece missing with no newer manifest is damage, named.
        let pieces = try client.list(bucket: location.bucket, prefix: location.prefix + "/ws/race/commits/").objects
        #expect(pieces.count == 2, "manifest 3's piece and manifest 4's: \(pieces.map(\.key))")
        for piece in pieces { try client.delete(bucket: location.bucket, key: piece.key) }
        let refused = #expect(throws: S3Error.self) {
            try S3SessionObjects(client: client, location: location, workspace: "ws", name: "race").download(into: dir.path + "/late", segments: false)
        }
        #expect(refused?.message.contains("which the manifest s3://\(location.bucket)/\(location.prefix)/ws/race/manifest/00000000000000000004.json names, is missing") == true,
                "\(refused?.message ?? "")")
    }

    @Test func anotherStoreOfTheSameNameIsNeverUploadedOverIt() throws {
        let dir = TempRoot()
        defer { dir.remove() }
        var stores: [String] = []
        for (k, count) in [100, 50].enumerated() {
            let path = dir.path + "/store\(k)"
            let store = try Store(directory: path)
            let t = try store.track(named: "loss")
            for i in 0..<count { try t.append(value: Double(i), step: Int64(i)) }
            try store.sealSegment()
            try store.close()
            _ = try S3Spool.make(path, base: 0)
            stores.append(path)
        }
        let objects = S3SessionObjects(client: client, location: location, workspace: "ws", name: "same")
        let first = try #require(try objects.upload(from: stores[0]))
        let other = S3SessionObjects(client: client, location: location, workspace: "ws", name: "same")
        let error = try #require(throws: S3Error.self) { try other.upload(from: stores[1]) }
        #expect(error.isSuperseded && error.message.contains(stores[1]), "\(error)")
        #expect(try other.latestManifest() == first, "the bucket's session is as it was")
    }

    /// An object already at a key of the spool's own (another process of the spool was first, or a copied
    /// spool uploaded under the same id): one of the file's length is taken as it, by a single PUT's 412
    /// or a multipart upload's look first; one of another length fails the upload and is never replaced.
    @Test func anObjectAlreadyAtASpoolsKeyIsNeverReplaced() throws {
        let dir = TempRoot()
        defer { dir.remove() }
        var config = StoreConfiguration()
        config.segmentSize = 8 << 20  // one segment over the client's 5 MiB part: uploaded in parts
        let spool = dir.path + "/spool"
        let store = try Store(directory: spool, configuration: config)
        let track = try store.track(named: "loss")
        var rng = SplitMix64(seed: 7)
        for i in 0..<700_000 { try track.append(value: Double(bitPattern: rng.next() >> 2), step: Int64(i)) }
        try store.sealSegment()
        try store.close()
        let id = try S3Spool.make(spool, base: 0).id
        let part = try Store.sealedPart(directory: spool)
        let big = try #require(part.segments.first { $0.length > 5 << 20 }, "\(part.segments)")
        let small = try #require(part.segments.first { $0.length <= 5 << 20 } ?? part.segments.last)
        let base = location.prefix + "/ws/taken/segments/\(id)/"
        for (segment, body) in [(big, Data(repeating: 1, count: 100)), (small, Data(repeating: 2, count: 3))] {
            try client.put(bucket: location.bucket, key: base + segment.name, body: body)
            let objects = S3SessionObjects(client: client, location: location, workspace: "ws", name: "taken")
            let error = try #require(throws: S3Error.self) { try objects.upload(from: spool) }
            #expect(error.message.contains("nothing was replaced"), "\(error)")
            #expect(try client.get(bucket: location.bucket, key: base + segment.name) == body, "\(segment.name) was replaced")
            #expect(try objects.latestManifest() == nil, "no manifest names what is not the spool's")
            try client.delete(bucket: location.bucket, key: base + segment.name)
        }
        // The same bytes there already (the spool's own upload, its answer lost): taken as they are.
        let bytes = try #require(FileManager.default.contents(atPath: spool + "/segments/" + small.name))
        try client.put(bucket: location.bucket, key: base + small.name, body: bytes)
        let objects = S3SessionObjects(client: client, location: location, workspace: "ws", name: "taken")
        let manifest = try #require(try objects.upload(from: spool))
        #expect(manifest.segments.count == part.segments.count)
        #expect(try objects.download(into: dir.path + "/copy") == manifest)
        #expect(try Store.verify(directory: dir.path + "/copy").isSound)
    }

    @Test func aSessionNotInTheBucketHasNoManifest() throws {
        let objects = S3SessionObjects(client: client, location: location, workspace: "ws", name: "none")
        #expect(try objects.latestManifest() == nil)
        let dir = TempRoot()
        defer { dir.remove() }
        #expect(try objects.download(into: dir.path + "/x") == nil)
    }

    /// A store that takes connections and never answers (a network that drops the answers): asking
    /// whether a spool is behind gives up after its own short timeout, not the uploads' 60 s.
    @Test func theSpoolCheckGivesUpSoonOnAStoreThatNeverAnswers() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        try #require(bound && listen(listener, 16) == 0)
        var configuration = client.configuration
        configuration.endpoint = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        let silent = S3SessionObjects(client: S3Client(configuration), location: location, workspace: "ws", name: "silent")
        let dir = TempRoot()
        defer { dir.remove() }
        let started = Date()
        #expect(silent.spoolContinuesBucket(dir.path, timeout: 1) == nil)
        #expect(Date().timeIntervalSince(started) < 10, "gave up after \(Date().timeIntervalSince(started)) s")
    }
}

@Suite struct S3ReadCacheTests {
    @Test func itKeepsAtMostItsLimitAndDropsTheLeastRecentlyUsedFirst() {
        let cache = S3ReadCache(limit: 300)
        cache.keep(Array(repeating: 1, count: 100), of: "a", at: 0)
        cache.keep(Array(repeating: 2, count: 100), of: "a", at: 1000)
        cache.keep(Array(repeating: 3, count: 100), of: "b", at: 0)
        #expect(cache.bytes(of: "a", at: 10, count: 20) == Array(repeating: 1, count: 20))
        #expect(cache.bytes(of: "a", at: 90, count: 20) == nil, "a range only partly kept is not kept")
        // Over the limit: the least recently used (a at 1000) goes; a at 0 was just read.
        cache.keep(Array(repeating: 4, count: 100), of: "c", at: 0)
        #expect(cache.bytesKept == 300)
        #expect(cache.bytes(of: "a", at: 1000, count: 1) == nil)
        #expect(cache.bytes(of: "a", at: 0, count: 100) != nil && cache.bytes(of: "b", at: 0, count: 100) != nil)
        cache.keep(Array(repeating: 5, count: 301), of: "d", at: 0)
        #expect(cache.bytes(of: "d", at: 0, count: 1) == nil && cache.bytesKept == 300, "a range over the limit is not kept")
    }
}

@Suite struct SpoolGateTests {
    /// A measure of the spool stands for a while only as long as it and the bytes handed to the writer
    /// since fit under the limit: a fast writer cannot put a stretch of blocks past the limit unmeasured.
    @Test func aMeasureStandsOnlyWhileWhatWasHandedSinceFitsUnderTheLimit() throws {
        let dir = TempRoot()
        defer { dir.remove() }
        let segments = dir.path + "/" + Store.segmentFolderName
        try FileManager.default.createDirectory(atPath: segments, withIntermediateDirectories: true)
        func segment(_ n: Int, bytes: Int) throws {
            try Data(count: bytes).write(to: URL(fileURLWithPath: segments + "/w0000-0000000\(n).dls"))
        }
        // Never asked anything: no manifest is known, so every segment counts as not uploaded.
        let client = S3Client(S3Configuration(endpoint: "http://127.0.0.1:9", region: "us-east-1",
                                              credentials: S3Credentials(accessKeyId: "k", secretAccessKey: "s")))
        let objects = S3SessionObjects(client: client, location: S3Location(bucket: "b", prefix: "p"), workspace: "ws", name: "s")
        let gate = SpoolGate(objects: objects, directory: dir.path, limit: 100_000)
        try segment(1, bytes: 50_000)
        gate.waitForRoom(handedBytes: 0)  // measures 50,000: room
        try segment(2, bytes: 60_000)  // the writer wrote the 60,000 bytes appends handed it since
        let returned = Atomic<Bool>(false)
        let waiter = Thread {
            gate.waitForRoom(handedBytes: 60_000)
            returned.store(true, ordering: .releasing)
        }
        waiter.start()
        Thread.sleep(forTimeInterval: 0.5)
        let early = returned.load(ordering: .acquiring)
        #expect(!early, "50,000 measured and 60,000 handed reach the limit: it measured again, and waits")
        gate.openForGood()
        let deadline = Date().addingTimeInterval(10)
        while !returned.load(ordering: .acquiring) && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let late = returned.load(ordering: .acquiring)
        #expect(late, "opened for good, it goes on")
    }
}
