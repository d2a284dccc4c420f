import DreamlakeStore
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

// The client's HTTP is libcurl's easy interface (CurlTransfer.swift), on the
// calling thread, rather than async-http-client: that one brings swift-nio-ssl,
// whose BoringSSL copy costs every fresh build minutes (issue 18), for calls
// that the store makes from its own threads and waits for anyway; and rather
// than URLSession, which on Linux spun a core while a request waited and
// followed redirects to other hosts.

/// Why an S3 request failed.
public struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure it was.
    public enum Kind: Sendable, Equatable {
        /// No answer: the network, DNS, a timeout. Retrying may help.
        case unreachable
        /// The store answered 4xx: retrying the same request will not help (but 408 and 429, which may).
        case refused
        /// The store answered 5xx. Retrying may help.
        case failed
        /// The answer is not what S3 sends (a body that is not the XML asked for, a missing header).
        case badAnswer
    }

    /// What kind of failure it was.
    public let kind: Kind
    /// The HTTP status, when there was an answer.
    public let status: Int?
    /// S3's error code (`NoSuchBucket`, `SlowDown`, ...), when the answer had one.
    public let code: String?
    /// One line saying what was asked and what went wrong.
    public let message: String
    /// The seconds the store asked to wait before trying again (`Retry-After`), when it did.
    public var retryAfter: Double?

    /// Whether sending the same request again may succeed.
    public var isRetryable: Bool { kind == .unreachable || kind == .failed || status == 408 || status == 429 }

    /// The message.
    public var description: String { message }

    /// S3's code for a refusal of ours: a manifest another spool wrote is the newest, so this spool's
    /// writing of the session has ended (another machine took it over).
    public static let supersededCode = "DreamlakeSpoolSuperseded"

    /// Whether this is the end of a spool's writing: another spool wrote the newest manifest.
    public var isSuperseded: Bool { code == Self.supersededCode }

    /// Our code for an object that is not the one its session's manifest names (its ETag or SHA-256 differs:
    /// it was replaced after it was uploaded). The session is damaged there.
    public static let replacedCode = "DreamlakeObjectReplaced"

    /// Whether an object read is not the one its session's manifest names.
    public var isReplaced: Bool { code == Self.replacedCode }

    static func superseded(url: String, directory: String, generation: UInt64, by other: String?, base: UInt64) -> S3Error {
        S3Error(.refused, "\(url) was written from another machine since this one's copy was made (manifest \(generation), by spool "
                + "\(other ?? "of an older dreamlake"); this spool was made from manifest \(base)): this machine no longer writes it, "
                + "and what it holds past its last upload stays in the spool \(directory)", code: supersededCode)
    }

    package init(_ kind: Kind, _ message: String, status: Int? = nil, code: String? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
        self.code = code
    }
}

/// An object as a listing or a HEAD gives it.
public struct S3Object: Sendable, Equatable {
    /// Its full key.
    public var key: String
    /// Its size in bytes.
    public var size: UInt64
    /// Its ETag, without quotes.
    public var etag: String
}

/// The S3 requests dreamlake makes, signed with SigV4 and sent one at a time
/// from the calling thread, which waits for the answer.
public final class S3Client: Sendable {
    /// The endpoint, region and credentials.
    public let configuration: S3Configuration
    /// Signs with the credentials as last read (``S3Configuration/currentCredentials()`` replaces them
    /// when the store says they expired).
    private let signer: Locked<SigV4>
    /// libcurl handles, reused so that requests reuse connections.
    private let handles = CurlHandles()
    /// The most seconds a request may go without a byte either way.
    private let stall: Int
    /// Objects larger than this are sent in parts of this size (multipart upload).
    public let partSize: Int
    private let sent = Locked(0)
    /// Requests sent so far (each one round trip), for benchmarks.
    public var requestCount: Int { sent.withLock { $0 } }

    /// Attempts each request gets: the first and the retries of what S3 clients retry.
    public let attempts: Int

    /// A client for `configuration`; each request fails after `timeout` seconds without progress, and
    /// is sent at most `attempts` times (5: the first and up to four retries).
    public init(_ configuration: S3Configuration, timeout: TimeInterval = 60, partSize: Int = 16 << 20, attempts: Int = 5) {
        self.configuration = configuration
        self.attempts = max(1, attempts)
        self.signer = Locked(SigV4(credentials: configuration.credentials, region: configuration.region))
        self.partSize = max(partSize, 5 << 20)  // S3's smallest part but the last
        self.stall = Int(max(1, min(timeout.rounded(.up), 86_400)))
    }

    // MARK: Objects

    /// Stores `body` at `key`. With `ifAbsent`, only when no object is there (`If-None-Match: *`):
    /// then false means one already was, and nothing was written.
    @discardableResult
    public func put(bucket: String, key: String, body: Data, ifAbsent: Bool = false) throws(S3Error) -> Bool {
        try store(bucket: bucket, key: key, body: body, ifAbsent: ifAbsent) != nil
    }

    /// ``put(bucket:key:body:ifAbsent:)`` that returns the ETag of the object written (without quotes; empty
    /// when the store sent none), or nil when `ifAbsent` found one there and nothing was written.
    private func store(bucket: String, key: String, body: Data, ifAbsent: Bool) throws(S3Error) -> String? {
        var headers: [(String, String)] = []
        if ifAbsent { headers.append(("If-None-Match", "*")) }
        let answer = try send("PUT", bucket: bucket, key: key, headers: headers, body: body, accept: ifAbsent ? [412] : [])
        return answer.status == 412 ? nil : Self.unquoted(answer.header("ETag") ?? "")
    }

    /// The object at `key`, or the bytes `range` of it; nil when there is no such object.
    /// A range that runs past the end gives the bytes that are there.
    /// With `etag`, the answer must be of the object that has that ETag (as ``upload(bucket:key:count:ifAbsent:read:)``
    /// returned it when it was written): another object at the key (one replaced since) is an error naming it.
    public func get(bucket: String, key: String, range: Range<UInt64>? = nil, etag: String? = nil) throws(S3Error) -> Data? {
        var headers: [(String, String)] = []
        if let range {
            guard !range.isEmpty else { return Data() }
            headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
        }
        // An answer is never longer than the range asked for (plus an error's few bytes).
        let limit = range.map { Int(clamping: $0.upperBound - $0.lowerBound) &+ (64 << 10) } ?? (256 << 20)
        let answer = try send("GET", bucket: bucket, key: key, headers: headers, accept: [404, 416], limit: max(limit, 64 << 10))
        switch answer.status {
        case 404: return nil
        case 416: return Data()  // the range starts at or past the end
        default:
            if let range, UInt64(answer.body.count) > range.upperBound - range.lowerBound {
                throw S3Error(.badAnswer, "GET \(describe(bucket, key)) \(range) answered \(answer.body.count) bytes")
            }
            // (A store that sends no ETag with a ranged answer cannot be checked this way; every one we know sends it.)
            if let etag, !etag.isEmpty, let answered = answer.header("ETag"), Self.unquoted(answered) != etag {
                throw S3Error(.badAnswer, "\(describe(bucket, key)) is not the object its session's manifest names: its ETag is "
                              + "\(String(reflecting: Self.unquoted(answered))), the manifest's \(String(reflecting: etag)) "
                              + "(it was replaced after it was uploaded); the session is damaged there", code: S3Error.replacedCode)
            }
            return answer.body
        }
    }

    /// The object's size and ETag; nil when there is no such object.
    public func head(bucket: String, key: String) throws(S3Error) -> S3Object? {
        let answer = try send("HEAD", bucket: bucket, key: key, accept: [404])
        if answer.status == 404 { return nil }
        guard let length = answer.header("Content-Length").flatMap({ UInt64($0) }) else {
            throw S3Error(.badAnswer, "HEAD \(describe(bucket, key)) answered without a Content-Length")
        }
        return S3Object(key: key, size: length, etag: Self.unquoted(answer.header("ETag") ?? ""))
    }

    /// Removes the object at `key`; removing one that is not there is not an error.
    public func delete(bucket: String, key: String) throws(S3Error) {
        _ = try send("DELETE", bucket: bucket, key: key, accept: [404])
    }

    /// The objects whose keys begin with `prefix`, in key order, after `startAfter` if given, at most `limit`.
    /// With a `delimiter`, keys that go on past it after the prefix are given once each as a common prefix instead.
    /// Each request asks for at most `pageSize` keys (S3 gives at most 1,000).
    public func list(bucket: String, prefix: String, startAfter: String? = nil, delimiter: String? = nil,
                     limit: Int = .max, pageSize: Int = 1000) throws(S3Error) -> (objects: [S3Object], prefixes: [String]) {
        var objects: [S3Object] = []
        var prefixes: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(min(pageSize, max(1, limit - objects.count))))]
            if let token { query.append(("continuation-token", token)) } else if let startAfter { query.append(("start-after", startAfter)) }
            if let delimiter { query.append(("delimiter", delimiter)) }
            let answer = try send("GET", bucket: bucket, key: nil, query: query)
            guard let root = XMLElementNode.parse(answer.body), root.name == "ListBucketResult" else {
                throw S3Error(.badAnswer, "listing \(describe(bucket, prefix)) answered something that is not a ListBucketResult")
            }
            for entry in root.children where entry.name == "Contents" {
                guard let key = entry.child("Key")?.text, let size = entry.child("Size").flatMap({ UInt64($0.text) }) else {
                    throw S3Error(.badAnswer, "listing \(describe(bucket, prefix)) gave an entry without a key or size")
                }
                objects.append(S3Object(key: key, size: size, etag: Self.unquoted(entry.child("ETag")?.text ?? "")))
            }
            prefixes += root.children.filter { $0.name == "CommonPrefixes" }.compactMap { $0.child("Prefix")?.text }
            let truncated = root.child("IsTruncated")?.text == "true"
            let next = root.child("NextContinuationToken")?.text
            // A truncated page without a token, or one that repeats, would loop for ever.
            guard truncated, let next, !next.isEmpty, next != token else { break }
            token = next
        } while objects.count < limit
        return (objects, prefixes)
    }

    /// Creates `bucket`; one that exists already and is ours is not an error.
    public func createBucket(_ bucket: String) throws(S3Error) {
        let answer = try send("PUT", bucket: bucket, key: nil, accept: [409])
        if answer.status == 409, answer.code != "BucketAlreadyOwnedByYou" {
            throw S3Error(.refused, "cannot create bucket \(bucket): \(answer.code ?? "409")", status: 409, code: answer.code)
        }
    }

    /// Stores the `count` bytes that `read(offset, length)` gives at `key`: in one PUT up to
    /// ``partSize``, else as a multipart upload of parts of that size (which S3 assembles only when
    /// every part arrived, so a failure leaves no object, and the parts are removed).
    /// With `ifAbsent`, a single PUT writes only when no object is there (a multipart upload cannot ask it).
    /// `read` is asked for each part once, in order. Returns the ETag the store gave the object (without
    /// quotes; empty when it sent none), or nil when `ifAbsent` found an object there (412) and nothing was written.
    @discardableResult
    public func upload(bucket: String, key: String, count: Int, ifAbsent: Bool = false, read: (Int, Int) throws -> Data) throws(S3Error) -> String? {
        func chunk(_ offset: Int, _ length: Int) throws(S3Error) -> Data {
            do {
                let data = try read(offset, length)
                guard data.count == length else { throw S3Error(.refused, "\(key): \(length) bytes wanted at \(offset), \(data.count) read") }
                return data
            } catch let e as S3Error { throw e } catch {
                throw S3Error(.refused, "cannot read what is to be stored at \(self.describe(bucket, key)): \(error)")
            }
        }
        if count <= partSize {
            return try store(bucket: bucket, key: key, body: chunk(0, count), ifAbsent: ifAbsent)
        }
        let started = try send("POST", bucket: bucket, key: key, query: [("uploads", "")])
        guard let uploadId = XMLElementNode.parse(started.body)?.child("UploadId")?.text, !uploadId.isEmpty else {
            throw S3Error(.badAnswer, "starting a multipart upload of \(describe(bucket, key)) gave no UploadId")
        }
        do throws(S3Error) {
            var etags: [String] = []
            var offset = 0
            while offset < count {
                let length = min(partSize, count - offset)
                let part = try send("PUT", bucket: bucket, key: key,
                                    query: [("partNumber", String(etags.count + 1)), ("uploadId", uploadId)], body: chunk(offset, length))
                guard let etag = part.header("ETag") else {
                    throw S3Error(.badAnswer, "part \(etags.count + 1) of \(describe(bucket, key)) was answered without an ETag")
                }
                etags.append(etag)
                offset += length
            }
            var xml = "<CompleteMultipartUpload>"
            for (i, etag) in etags.enumerated() {
                xml += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(Self.escaped(etag))</ETag></Part>"
            }
            xml += "</CompleteMultipartUpload>"
            let done = try send("POST", bucket: bucket, key: key, query: [("uploadId", uploadId)], body: Data(xml.utf8))
            // CompleteMultipartUpload may fail after its 200 status, in the body.
            let root = XMLElementNode.parse(done.body)
            if let root, root.name == "Error" {
                throw S3Error(.failed, "completing the upload of \(describe(bucket, key)) failed: \(root.child("Code")?.text ?? "")",
                              code: root.child("Code")?.text)
            }
            return Self.unquoted(root?.child("ETag")?.text ?? done.header("ETag") ?? "")
        } catch {
            _ = try? send("DELETE", bucket: bucket, key: key, query: [("uploadId", uploadId)], accept: [404])
            throw error
        }
    }

    // MARK: Requests

    /// A finished request's answer.
    struct Answer {
        var status: Int
        var body: Data
        var headers: [(name: String, value: String)]
        var code: String?

        func header(_ name: String) -> String? {
            headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        }
    }

    /// Signs and sends a request and waits; a status outside 2xx and `accept` throws. What S3 clients
    /// retry is retried, up to ``attempts`` times in all: no answer (a timeout, a reset or refused connection),
    /// 5xx, 429 and 408, after a backoff of up to 0.1 s, 0.2 s, 0.4 s, 0.8 s (full jitter), or the
    /// `Retry-After` the store asks for (up to 20 s). Credentials the store calls expired or unknown are
    /// read again from where they came from, and the request is sent again once with new ones. The whole
    /// of it, retries included, ends within the configuration's ``S3Configuration/deadline``.
    func send(_ method: String, bucket: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
              body: Data? = nil, accept: Set<Int> = [], limit: Int = 256 << 20) throws(S3Error) -> Answer {
        var refreshed = false
        var attempt = 1
        let deadline = ProcessInfo.processInfo.systemUptime + configuration.deadline
        while true {
            let remaining = deadline - ProcessInfo.processInfo.systemUptime
            let outcome = Result { () throws(S3Error) in
                guard remaining > 0 else { throw timedOut(method, bucket: bucket, key: key) }
                return try sendOnce(method, bucket: bucket, key: key, query: query, headers: headers, body: body, accept: accept,
                                    limit: limit, within: remaining)
            }
            guard case .failure(let error) = outcome else { return try outcome.get() }
            // (An answer to HEAD has no body, so no code: a bare 400 or 403 may be the same.)
            let credentialsRefused = Self.credentialCodes.contains(error.code ?? "") || (error.code == nil && (error.status == 400 || error.status == 403))
            if !refreshed, credentialsRefused, let fresh = configuration.currentCredentials(),
               fresh != signer.withLock({ $0.credentials }) {
                refreshed = true
                signer.withLock { $0.credentials = fresh }
                continue
            }
            guard error.isRetryable, attempt < attempts else { throw error }
            let backoff = Double.random(in: 0...(0.1 * Double(1 << (attempt - 1))))
            let pause = error.retryAfter.map { min($0, 20) } ?? backoff
            guard pause < deadline - ProcessInfo.processInfo.systemUptime else { throw error }
            Thread.sleep(forTimeInterval: pause)
            attempt += 1
        }
    }

    /// S3's codes for credentials that ran out or that it does not know (rotated ones).
    static let credentialCodes: Set<String> = ["ExpiredToken", "TokenRefreshRequired", "InvalidToken", "InvalidAccessKeyId", "RequestExpired"]

    /// The failure of a request that had no whole answer within the deadline.
    private func timedOut(_ method: String, bucket: String, key: String?) -> S3Error {
        S3Error(.unreachable, "\(method) \(describe(bucket, key ?? "")) had no whole answer from \(configuration.endpoint) within "
                + "\(configuration.deadline) s, the most a request may take (DREAMLAKE_S3_TIMEOUT)")
    }

    private func sendOnce(_ method: String, bucket: String, key: String?, query: [(String, String)], headers: [(String, String)],
                          body: Data?, accept: Set<Int>, limit: Int, within seconds: TimeInterval) throws(S3Error) -> Answer {
        let path = "/" + bucket + (key.map { "/" + SigV4.encode($0, keepSlash: true) } ?? "")
        let encodedQuery = query.map { "\(SigV4.encode($0.0))=\(SigV4.encode($0.1))" }.joined(separator: "&")
        // A listing is named by its query (its prefix), an object by its key.
        let what = "\(method) \(describe(bucket, key ?? ""))" + (key == nil && !encodedQuery.isEmpty ? "?" + encodedQuery : "")
        let address = configuration.endpoint + path + (encodedQuery.isEmpty ? "" : "?" + encodedQuery)
        guard let url = URL(string: address), let host = url.host else {
            throw S3Error(.refused, "\(what): \(configuration.endpoint) is not a URL")
        }
        let payloadHash = body.map { SHA256Hasher.hex(SHA256Hasher.hash($0)) } ?? SigV4.emptyPayloadHash
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host
        var signed = headers + [("host", hostHeader), ("x-amz-content-sha256", payloadHash)]
        let now = Int(Date().timeIntervalSince1970)
        signed += signer.withLock { $0 }.signedHeaders(method: method, path: path, query: query, headers: signed, payloadHash: payloadHash,
                                                       amzDate: SigV4.amzDate(secondsSince1970: now))
        sent.withLock { $0 += 1 }
        let exchanged: HTTPAnswer
        do {
            // libcurl sends the Host header it derives from the URL, the one signed.
            exchanged = try handles.perform(method, url: address, headers: signed.filter { $0.0.lowercased() != "host" }, body: body,
                                            within: seconds, stall: stall, limit: limit)
        } catch {
            switch error {
            case .deadline: throw timedOut(method, bucket: bucket, key: key)
            case .stalled(let seconds): throw S3Error(.unreachable, "\(what) failed: nothing came from \(configuration.endpoint) for \(seconds) s")
            case .tooLong(let limit): throw S3Error(.badAnswer, "\(what) answered more than the \(limit) bytes it may")
            case .failed(let why): throw S3Error(.unreachable, "\(what) failed: \(why)")
            }
        }
        let status = exchanged.status
        let errorBody = (200..<300).contains(status) ? nil : XMLElementNode.parse(exchanged.body)
        let answer = Answer(status: status, body: exchanged.body, headers: exchanged.headers, code: errorBody?.child("Code")?.text)
        if (200..<300).contains(status) || accept.contains(status) { return answer }
        let detail = [answer.code, errorBody?.child("Message")?.text].compactMap { $0 }.joined(separator: ": ")
        var message = "\(what) answered \(status)" + (detail.isEmpty ? "" : " (\(detail))")
        if (300..<400).contains(status) {
            // Never followed: the request is signed for this endpoint, and AWS's SDKs follow no redirect to another host.
            message += "; redirects are not followed: set the endpoint (AWS_ENDPOINT_URL_S3) or region (AWS_REGION) the store names"
                + (answer.header("Location").map { " (it points to \($0))" } ?? "")
        }
        var failure = S3Error(status >= 500 ? .failed : .refused, message, status: status, code: answer.code)
        failure.retryAfter = answer.header("Retry-After").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        throw failure
    }

    private func describe(_ bucket: String, _ key: String) -> String { "s3://\(bucket)/\(key)" }

    static func unquoted(_ etag: String) -> String {
        etag.count >= 2 && etag.hasPrefix("\"") && etag.hasSuffix("\"") ? String(etag.dropFirst().dropLast()) : etag
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// An XML element with its text and child elements: S3's answers are small documents read whole.
struct XMLElementNode {
    var name: String
    var text = ""
    var children: [XMLElementNode] = []

    func child(_ name: String) -> XMLElementNode? { children.first { $0.name == name } }

    /// The document's root element; nil when `data` is not well-formed XML.
    static func parse(_ data: Data) -> XMLElementNode? {
        guard !data.isEmpty else { return nil }
        let parser = XMLParser(data: data)
        let builder = Builder()
        parser.delegate = builder
        parser.shouldResolveExternalEntities = false
        guard parser.parse() else { return nil }
        return builder.root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [XMLElementNode] = []
        var root: XMLElementNode?

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            stack.append(XMLElementNode(name: name))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !stack.isEmpty { stack[stack.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard let done = stack.popLast() else { return }
            if stack.isEmpty { root = done } else { stack[stack.count - 1].children.append(done) }
        }
    }
}
