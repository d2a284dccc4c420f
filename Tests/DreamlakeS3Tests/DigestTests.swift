import Testing
@testable import DreamlakeS3

/// SHA-256 and HMAC-SHA256 through libcrypto, against published vectors
/// (FIPS 180-2's "abc" and a message in two pieces; RFC 4231's test case 2).
@Suite struct DigestTests {
    @Test func sha256AndHMACMatchThePublishedVectors() {
        #expect(SHA256Hasher.hex(SHA256Hasher.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let pieces = SHA256Hasher()
        pieces.update(Array("abcdbcdecdefdefgefghfghighij".utf8))
        pieces.update(Array("hijkijkljklmklmnlmnomnopnopq".utf8))
        #expect(SHA256Hasher.hex(pieces.finalize()) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256Hasher.hex(SHA256Hasher.hash([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Hasher.hex(HMACSHA256.code(Array("what do ya want for nothing?".utf8), key: Array("Jefe".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
