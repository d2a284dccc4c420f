import DreamlakeS3
import Foundation

// The bearer tokens of remote mode: JSON Web Tokens signed with HMAC-SHA256
// (HS256), as Python dreamlake 0.2.4's client signs them for `user_name=`
// (claims userId, userName, iat, exp) and as its server verifies them.
// Written here on libcrypto's HMAC: the format is three base64url parts,
// and the checks a server must make (the algorithm is HS256 and nothing else,
// the signature compared in constant time, the expiry) are few and ours to own.

/// Mints and verifies the HS256 tokens remote sessions carry (`Authorization: Bearer <token>`).
public enum RemoteToken {
    /// The secret Python dreamlake 0.2.4's client signs `user_name=` tokens with. A server
    /// should accept it only on loopback: anyone can sign with it.
    public static let pythonClientSecret = "your-secret-key-change-this-in-production"

    /// What a verified token says.
    public struct Claims: Sendable, Equatable {
        /// The user's id (`userId`).
        public var userID: String
        /// The user's name (`userName`).
        public var userName: String
        /// When it was issued, in seconds since the Unix epoch (`iat`), if it says.
        public var issuedAt: Int64?
        /// When it expires, in seconds since the Unix epoch (`exp`), if it says.
        public var expiresAt: Int64?
    }

    /// The user id Python dreamlake derives from a user name: the first ten
    /// digits of the decimal value of the first 16 hex digits of its SHA-256.
    public static func userID(for userName: String) -> String {
        let digest = SHA256Hasher.hash(Array(userName.utf8))
        let first8 = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return String(String(first8).prefix(10))
    }

    /// A token for `userName`, signed with `secret`, valid for `lifetime` seconds from `now`
    /// (30 days by default, as Python's client makes them).
    public static func mint(userName: String, secret: String, lifetime: Int64 = 30 * 24 * 3600,
                            now: Int64 = Int64(Date().timeIntervalSince1970)) -> String {
        let header = PythonFormat.json(["alg": "HS256", "typ": "JWT"])
        let payload = PythonFormat.json(["userId": .string(userID(for: userName)), "userName": .string(userName),
                                         "iat": .int(now), "exp": .int(now + lifetime)])
        let signingInput = base64URL(Data(header.utf8)) + "." + base64URL(Data(payload.utf8))
        return signingInput + "." + base64URL(signature(signingInput, secret))
    }

    /// Checks `token` against `secret` and returns its claims.
    ///
    /// - Throws: ``DreamlakeError`` with `.invalidInput` saying what is wrong:
    ///   not three base64url parts, an algorithm other than HS256, a signature
    ///   that does not match, expired (`exp` before `now`), or claims that are
    ///   not there.
    public static func verify(_ token: String, secret: String,
                              now: Int64 = Int64(Date().timeIntervalSince1970)) throws(DreamlakeError) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = unbase64URL(parts[0]), let payloadBytes = unbase64URL(parts[1]),
              let given = unbase64URL(parts[2]) else {
            throw DreamlakeError(.invalidInput, "the token is not three base64url parts")
        }
        let header: Value, payload: Value
        do {
            header = try PythonJSONReader.parse(Array(headerBytes))
            payload = try PythonJSONReader.parse(Array(payloadBytes))
        } catch {
            throw DreamlakeError(.invalidInput, "the token's header or claims are not JSON")
        }
        guard header.objectValue?["alg"]?.stringValue == "HS256" else {
            throw DreamlakeError(.invalidInput, "the token is not signed with HS256")
        }
        let expected = signature(parts[0] + "." + parts[1], secret)
        // Constant time: how much of a forged signature matches must not show in the time taken.
        guard given.count == expected.count, zip(given, expected).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw DreamlakeError(.invalidInput, "the token's signature does not match")
        }
        guard let claims = payload.objectValue else { throw DreamlakeError(.invalidInput, "the token's claims are not an object") }
        // Every claim we read must have its type: a claim of another type is refused, never skipped.
        let exp = try numericDate(claims["exp"], "exp")
        let iat = try numericDate(claims["iat"], "iat")
        if let exp, exp < Double(now) { throw DreamlakeError(.invalidInput, "the token expired at \(exp) (it is now \(now))") }
        guard case .string(let name)? = claims["userName"] else {
            throw DreamlakeError(.invalidInput, claims["userName"] == nil ? "the token names no userName" : "the token's userName is not a string")
        }
        let id: String
        switch claims["userId"] {
        case nil: id = userID(for: name)
        case .string(let s)?: id = s
        case .int(let i)?: id = String(i)
        case _?: throw DreamlakeError(.invalidInput, "the token's userId is neither a string nor an integer")
        }
        return Claims(userID: id, userName: name, issuedAt: iat.map(wholeSeconds), expiresAt: exp.map(wholeSeconds))
    }

    /// A NumericDate claim (RFC 7519: seconds since the epoch, integer or not), or nil when absent.
    private static func numericDate(_ value: Value?, _ name: String) throws(DreamlakeError) -> Double? {
        switch value {
        case nil: return nil
        case .int(let i)?: return Double(i)
        case .double(let d)? where d.isFinite: return d
        case _?: throw DreamlakeError(.invalidInput, "the token's \(name) is not a number of seconds")
        }
    }

    /// Seconds rounded down, held within Int64 (a claim may be any finite number).
    private static func wholeSeconds(_ d: Double) -> Int64 {
        let f = d.rounded(.down)
        if f <= -9.2e18 { return .min }
        if f >= 9.2e18 { return .max }
        return Int64(f)
    }

    private static func signature(_ input: some StringProtocol, _ secret: String) -> Data {
        Data(HMACSHA256.code(Array(input.utf8), key: Array(secret.utf8)))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func unbase64URL(_ part: Substring) -> Data? {
        guard part.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var s = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}
