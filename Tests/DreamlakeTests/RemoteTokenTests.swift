import DreamlakeTestSupport
import DreamlakeS3
import Foundation
import Testing
@testable import Dreamlake

/// The bearer tokens of remote mode, against what Python dreamlake 0.2.4's
/// client signs (`user_name=`) and what PyJWT (its dependency) verifies.
@Suite struct RemoteTokenTests {
    /// Runs Python code with the interop interpreter, `args` in sys.argv[1:]; returns its standard output, trimmed.
    static func python(_ code: String, _ args: [String] = []) throws -> String {
        let out = try runProcess(try InteropTests.python(), ["-c", code] + args)
        return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func theTokenPythonsClientSignsVerifiesWithItsSecret() throws {
        // The token the real client makes for Session(..., user_name="alice"), without a server.
        let made = try Self.python("""
            from dreamlake.session import Session
            print(Session._generate_api_key_from_username("alice"))
            """)
        let claims = try RemoteToken.verify(made, secret: RemoteToken.pythonClientSecret)
        #expect(claims.userName == "alice")
        #expect(claims.userID == RemoteToken.userID(for: "alice"))
        // Python reads the clock twice (iat, then exp): a second may pass between.
        #expect(abs((claims.expiresAt ?? 0) - (claims.issuedAt ?? 0) - 30 * 24 * 3600) <= 1)
        #expect { try RemoteToken.verify(made, secret: "another secret") } throws: {
            ($0 as? DreamlakeError)?.message.contains("signature") == true
        }
    }

    @Test func ourTokensVerifyWithPyJWTAndBadOnesAreRefused() throws {
        let secret = "s3cret-for-tests"
        let token = RemoteToken.mint(userName: "bob é", secret: secret, lifetime: 3600)
        let decoded = try Self.python("""
            import jwt, sys
            c = jwt.decode(sys.argv[1], sys.argv[2], algorithms=["HS256"])
            print(c["userName"], c["userId"], c["exp"] - c["iat"])
            """, [token, secret])
        #expect(decoded == "bob é \(RemoteToken.userID(for: "bob é")) 3600")
        #expect(try RemoteToken.verify(token, secret: secret).userName == "bob é")

        func refused(_ t: String, _ why: String, now: Int64 = Int64(Date().timeIntervalSince1970)) {
            #expect(throws: DreamlakeError.self, "\(why)") { try RemoteToken.verify(t, secret: secret, now: now) }
        }
        let parts = token.split(separator: ".").map(String.init)
        refused(token, "expired", now: Int64(Date().timeIntervalSince1970) + 7200)
        refused(parts[0] + "." + parts[1], "two parts")
        refused("", "empty")
        refused(parts[0] + "." + RemoteToken.base64URL(Data(#"{"userName":"mallory","exp":99999999999}"#.utf8)) + "." + parts[2], "claims changed")
        let none = RemoteToken.base64URL(Data(#"{"alg":"none","typ":"JWT"}"#.utf8))
        refused(none + "." + parts[1] + ".", "alg none")
        // The first character: all six of its bits are the signature's (the last one's lowest two are padding).
        refused(parts[0] + "." + parts[1] + "." + (parts[2].first == "A" ? "B" : "A") + parts[2].dropFirst(), "signature changed")
        refused(parts[0] + "." + parts[1] + ".!!!", "not base64url")
    }

    /// A token with these claims, signed right with `secret`.
    static func signed(_ claims: String, secret: String) -> String {
        let input = RemoteToken.base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8)) + "." + RemoteToken.base64URL(Data(claims.utf8))
        let mac = HMACSHA256.code(Array(input.utf8), key: Array(secret.utf8))
        return input + "." + RemoteToken.base64URL(Data(mac))
    }

    @Test func claimsAreComparedAndTypedNotSkipped() throws {
        let secret = "k"
        let far = Int64(Date().timeIntervalSince1970) + 3600
        #expect(try RemoteToken.verify(Self.signed(#"{"userName":"a","exp":\#(far).5}"#, secret: secret), secret: secret).expiresAt == far)
        for (claims, why) in [
            (#"{"userName":"a","exp":1.5}"#, "a fractional exp in 1970"),
            (#"{"userName":"a","exp":"99999999999"}"#, "exp as a string"),
            (#"{"userName":"a","exp":true}"#, "exp as a boolean"),
            (#"{"userName":"a","exp":null}"#, "exp as null"),
            (#"{"userName":"a","iat":"x"}"#, "iat as a string"),
            (#"{"userName":7}"#, "userName as a number"),
            (#"{"userName":"a","userId":[1]}"#, "userId as an array"),
            (#"{"userName":"a","exp":1e400}"#, "exp beyond a double"),
        ] {
            #expect(throws: DreamlakeError.self, "\(why)") { try RemoteToken.verify(Self.signed(claims, secret: secret), secret: secret) }
        }
    }

    @Test func theTokenCommandMintsWithTheGivenOrEnvironmentSecret() throws {
        let minted = try runCommand(["token", "--user", "carol", "--secret", "k", "--days", "2"])
        #expect(minted.status == 0, "\(minted.err)")
        let claims = try RemoteToken.verify(minted.out.trimmingCharacters(in: .whitespacesAndNewlines), secret: "k")
        #expect(claims.userName == "carol" && (claims.expiresAt ?? 0) - (claims.issuedAt ?? 0) == 2 * 24 * 3600)
        let missing = try runCommand(["token", "--user", "carol"])
        #expect(missing.status != 0 && missing.err.contains("DREAMLAKE_JWT_SECRET"), "\(missing.err)")
    }
}
