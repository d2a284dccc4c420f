import DreamlakeTestSupport
import Foundation
import Testing
@testable import DreamlakeS3

/// SigV4 against AWS's published answers: the signature test suite
/// (aws-sig-v4-test-suite: get-vanilla, post-vanilla, get-vanilla-query-order-key-case),
/// the documented signing-key derivation, and the S3 API reference's worked
/// examples ("Signature Calculations for the Authorization Header": GET object,
/// PUT object, GET bucket lifecycle, list objects).
@Suite struct SigV4Tests {
    static let suite = SigV4(credentials: S3Credentials(accessKeyId: "AKIDEXAMPLE",
                                                        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                             region: "us-east-1", service: "service")
    static let s3Docs = SigV4(credentials: S3Credentials(accessKeyId: "AKIAIOSFODNN7EXAMPLE",
                                                         secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                              region: "us-east-1", service: "s3")

    func authorization(_ signer: SigV4, _ method: String, _ path: String, query: [(String, String)] = [],
                       headers: [(String, String)], payload: String = SigV4.emptyPayloadHash, date: String) -> String? {
        signer.signedHeaders(method: method, path: path, query: query, headers: headers, payloadHash: payload, amzDate: date)
            .first { $0.0 == "Authorization" }?.1
    }

    @Test func theTestSuitesRequestsSignAsPublished() {
        let host = [("Host", "example.amazonaws.com")]
        #expect(authorization(Self.suite, "GET", "/", headers: host, date: "20150830T123600Z")
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, "
                + "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        #expect(authorization(Self.suite, "POST", "/", headers: host, date: "20150830T123600Z")?.hasSuffix(
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b") == true)
        // The query is signed sorted, whatever order it is sent in.
        #expect(authorization(Self.suite, "GET", "/", query: [("Param2", "value2"), ("Param1", "value1")], headers: host,
                              date: "20150830T123600Z")?.hasSuffix(
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") == true)
    }

    @Test func theSigningKeyIsDerivedAsDocumented() {
        let iam = SigV4(credentials: Self.suite.credentials, region: "us-east-1", service: "iam")
        #expect(SHA256Hasher.hex(iam.signingKey(day: "20150830")) == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    }

    @Test func theS3ReferencesExamplesSignAsPublished() {
        let host = ("Host", "examplebucket.s3.amazonaws.com")
        let empty = ("x-amz-content-sha256", SigV4.emptyPayloadHash)
        let get = authorization(Self.s3Docs, "GET", "/test.txt", headers: [host, ("Range", "bytes=0-9"), empty], date: "20130524T000000Z")
        #expect(get == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")

        let body = SHA256Hasher.hex(SHA256Hasher.hash(Array("Welcome to Amazon S3.".utf8)))
        #expect(body == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let put = authorization(Self.s3Docs, "PUT", "/" + SigV4.encode("test$file.text", keepSlash: true),
                                headers: [host, ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                                          ("x-amz-content-sha256", body)],
                                payload: body, date: "20130524T000000Z")
        #expect(put?.hasSuffix("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                               + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") == true)

        #expect(authorization(Self.s3Docs, "GET", "/", query: [("lifecycle", "")], headers: [host, empty], date: "20130524T000000Z")?
            .hasSuffix("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") == true)
        #expect(authorization(Self.s3Docs, "GET", "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [host, empty],
                              date: "20130524T000000Z")?
            .hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
    }

    @Test func aSessionTokenIsSentAndSigned() {
        var signer = Self.suite
        signer.credentials.sessionToken = "the-token"
        let added = signer.signedHeaders(method: "GET", path: "/", query: [], headers: [("host", "h")],
                                         payloadHash: SigV4.emptyPayloadHash, amzDate: "20150830T123600Z")
        #expect(added.contains { $0 == ("x-amz-security-token", "the-token") })
        #expect(added.first { $0.0 == "Authorization" }?.1.contains("SignedHeaders=host;x-amz-date;x-amz-security-token") == true)
    }

    @Test func datesKeysAndValuesAreWrittenAsSigV4WantsThem() {
        #expect(SigV4.amzDate(secondsSince1970: 1_440_938_160) == "20150830T123600Z")
        #expect(SigV4.amzDate(secondsSince1970: 0) == "19700101T000000Z")
        #expect(SigV4.encode("a b/c~d*é", keepSlash: true) == "a%20b/c~d%2A%C3%A9")
        #expect(SigV4.encode("a/b") == "a%2Fb")
        #expect(SigV4.trimmed("  a   b  ") == "a b")
    }
}

@Suite struct S3ConfigurationTests {
    @Test func s3URLsAreParsedAndBadOnesRefused() {
        #expect(S3Location("s3://bucket/some/prefix/") == S3Location(bucket: "bucket", prefix: "some/prefix"))
        #expect(S3Location("s3://my.bucket-1") == S3Location(bucket: "my.bucket-1", prefix: ""))
        #expect(S3Location("s3://my.bucket-1")?.key("ws/s/manifest") == "ws/s/manifest")
        #expect(S3Location("s3://bucket/p")?.key("x") == "p/x")
        for bad in ["s3://", "s3://Upper", "s3://a?b/x", "s3://ab", "s3://b/p", "/local/path", "s3://bucket/../x", "s3://bucket/a/./b", "s3://bucket%2F/x"] {
            #expect(S3Location(bad) == nil, "\(bad)")
        }
        #expect(S3Location("s3://bucket/a//b")?.description == "s3://bucket/a/b")
    }

    @Test func configurationComesFromTheEnvironmentThenTheSharedFiles() throws {
        let dir = TempRoot()
        defer { dir.remove() }
        try "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n[other]\naws_access_key_id=O\naws_secret_access_key=os\n"
            .write(toFile: dir.path + "/credentials", atomically: true, encoding: .utf8)
        try "[profile other]\nregion = eu-west-3\nendpoint_url = http://127.0.0.1:9000\n"
            .write(toFile: dir.path + "/config", atomically: true, encoding: .utf8)
        let files = ["AWS_SHARED_CREDENTIALS_FILE": dir.path + "/credentials", "AWS_CONFIG_FILE": dir.path + "/config"]

        let fromFile = try S3Configuration.fromEnvironment(files)
        #expect(fromFile.credentials == S3Credentials(accessKeyId: "FILEKEY", secretAccessKey: "filesecret"))
        #expect(fromFile.region == "us-east-1")
        #expect(fromFile.endpoint == "https://s3.us-east-1.amazonaws.com")

        let profile = try S3Configuration.fromEnvironment(files.merging(["AWS_PROFILE": "other"]) { $1 })
        #expect(profile.credentials.accessKeyId == "O")
        #expect(profile.region == "eu-west-3")
        #expect(profile.endpoint == "http://127.0.0.1:9000")

        let env = try S3Configuration.fromEnvironment(files.merging([
            "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_SESSION_TOKEN": "tok",
            "AWS_REGION": "ap-south-1", "AWS_ENDPOINT_URL": "http://localhost:7480/"]) { $1 })
        #expect(env.credentials == S3Credentials(accessKeyId: "ENVKEY", secretAccessKey: "envsecret", sessionToken: "tok"))
        #expect(env.region == "ap-south-1")
        #expect(env.endpoint == "http://localhost:7480")

        #expect(throws: S3Error.self) { try S3Configuration.fromEnvironment(["HOME": dir.path]) }
        // A FIFO where the credentials file should be is not read (nor waited on).
        mkfifo(dir.path + "/fifo", 0o600)
        #expect(throws: S3Error.self) { try S3Configuration.fromEnvironment(["AWS_SHARED_CREDENTIALS_FILE": dir.path + "/fifo"]) }
    }
}
