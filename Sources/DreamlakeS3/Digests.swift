import CCrypto
import Foundation

// SHA-256 (stored files' checksums, ids derived from names, S3 payload hashes)
// and HMAC-SHA256 (remote mode's tokens, S3 request signatures) from the system's OpenSSL libcrypto (apt:
// libssl-dev), as LZ4 comes from the system's liblz4: compiling a copy of
// BoringSSL (swift-crypto) cost a fresh build several minutes for two functions.

/// SHA-256 of bytes given in pieces: `update` with each, then `finalize` once.
package final class SHA256Hasher {
    private let context: OpaquePointer

    /// A hasher with nothing hashed yet.
    package init() {
        // Fails only when memory runs out; nothing hostile reaches it.
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            fatalError("libcrypto could not start a SHA-256 digest")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Hashes `bytes` after what was hashed before.
    package func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return }
            _ = EVP_DigestUpdate(context, base, raw.count)
        }
    }

    /// The 32-byte digest of everything hashed; the hasher is done after it.
    package func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = EVP_DigestFinal_ex(context, &digest, &length)
        return digest
    }

    /// A digest as lowercase hex, as a stored file's checksum is kept and as S3 requests are signed.
    package static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The SHA-256 digest of `bytes`.
    package static func hash(_ bytes: some ContiguousBytes) -> [UInt8] {
        let h = SHA256Hasher()
        h.update(bytes)
        return h.finalize()
    }
}

/// HMAC-SHA256, the signature of remote mode's tokens (HS256).
package enum HMACSHA256 {
    /// The 32-byte authentication code of `message` under `key`.
    package static func code(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        // A key longer than an Int32 cannot be given to libcrypto; HMAC hashes a key longer
        // than its block first, so such a key is given as its SHA-256, which is the same code.
        let key = key.count > Int(Int32.max) ? SHA256Hasher.hash(key) : key
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count,
                         &out, &length)
            }
        }
        return out
    }
}
