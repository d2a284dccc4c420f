// AWS Signature Version 4, as S3 and every S3-compatible store check it:
// a canonical form of the request, hashed, and signed with a key derived
// from the secret, the day, the region and the service. Written here because
// it is forty lines over the two digests we already link, and the one
// library that does it (Soto) is not in this machine's package set.

import Glibc

/// The keys a request is signed with.
public struct S3Credentials: Sendable, Equatable {
    /// The access key id (`AWS_ACCESS_KEY_ID`).
    public var accessKeyId: String
    /// The secret access key (`AWS_SECRET_ACCESS_KEY`); never printed.
    public var secretAccessKey: String
    /// A temporary session's token (`AWS_SESSION_TOKEN`), sent as `x-amz-security-token`.
    public var sessionToken: String?

    /// Credentials from their three parts.
    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// Signs requests with AWS Signature Version 4 (header form).
package struct SigV4: Sendable {
    package var credentials: S3Credentials
    package var region: String
    package var service: String

    package init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The SHA-256 of an empty body, in hex: what a request without a body signs.
    package static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The headers to add to a request so that it is signed: `Authorization`,
    /// `x-amz-date`, and `x-amz-security-token` when there is a session token.
    ///
    /// - Parameters:
    ///   - path: The request's path as sent, already percent-encoded (S3 encodes each key once).
    ///   - query: The query's parameters, not encoded.
    ///   - headers: Every other header that is to be signed, `host` among them; names in any case.
    ///   - payloadHash: The body's SHA-256 in hex (also sent as `x-amz-content-sha256` to S3).
    ///   - amzDate: The time of signing, `YYYYMMDDTHHMMSSZ`.
    package func signedHeaders(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                               payloadHash: String, amzDate: String) -> [(String, String)] {
        var signed = headers.map { ($0.0.lowercased(), Self.trimmed($0.1)) }
        signed.append(("x-amz-date", amzDate))
        if let token = credentials.sessionToken { signed.append(("x-amz-security-token", token)) }
        signed.sort { $0.0 < $1.0 }
        let names = signed.map(\.0).joined(separator: ";")
        let canonical = canonicalRequest(method: method, path: path, query: query, sortedHeaders: signed,
                                         signedNames: names, payloadHash: payloadHash)
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n" + SHA256Hasher.hex(SHA256Hasher.hash(Array(canonical.utf8)))
        let signature = SHA256Hasher.hex(HMACSHA256.code(Array(toSign.utf8), key: signingKey(day: day)))
        var added = [("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(names), Signature=\(signature)"),
                     ("x-amz-date", amzDate)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        return added
    }

    /// The canonical request of SigV4: method, path, sorted encoded query, headers, their names, payload hash.
    package func canonicalRequest(method: String, path: String, query: [(String, String)], sortedHeaders: [(String, String)],
                                  signedNames: String, payloadHash: String) -> String {
        let encodedQuery = query.map { (Self.encode($0.0), Self.encode($0.1)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let headerLines = sortedHeaders.map { "\($0.0):\($0.1)\n" }.joined()
        return "\(method)\n\(path.isEmpty ? "/" : path)\n\(encodedQuery)\n\(headerLines)\n\(signedNames)\n\(payloadHash)"
    }

    /// The key of one day, region and service: four HMACs from the secret.
    package func signingKey(day: String) -> [UInt8] {
        var key = HMACSHA256.code(Array(day.utf8), key: Array(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [region, service, "aws4_request"] { key = HMACSHA256.code(Array(part.utf8), key: key) }
        return key
    }

    /// `s` percent-encoded as SigV4 wants: every byte but A-Z a-z 0-9 - . _ ~ as %XX (upper case).
    /// With `keepSlash`, "/" stays (an object key in a path).
    package static func encode(_ s: String, keepSlash: Bool = false) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: "/") where keepSlash:
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A header value as signed: spaces at either end removed, runs of spaces inside made one.
    static func trimmed(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// `seconds` since 1970 as SigV4's `YYYYMMDDTHHMMSSZ`, in UTC.
    package static func amzDate(secondsSince1970 seconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }
}
