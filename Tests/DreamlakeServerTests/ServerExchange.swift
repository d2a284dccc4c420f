import DreamlakeTestSupport
import Foundation
import Glibc
import Testing
@testable import Dreamlake
@testable import DreamlakeServer

// What the server suites share: an exchange over a plain socket, so that every header is the test's
// own (URLSession sets Host and Accept-Encoding itself), and a viewer or a server on a free port.

/// One HTTP/1.1 exchange on 127.0.0.1:`port`: `request` (its head's lines, without the blank line),
/// `body` after it. Returns the status, the head and the body bytes read until the server closed.
/// On a thread of its own: the server's handlers run on Swift's pool, which blocking calls must not hold.
func exchange(_ port: Int, _ head: [String], body: [UInt8] = []) async throws -> (status: Int, head: String, body: [UInt8]) {
    try await withCheckedThrowingContinuation { done in
        Thread { done.resume(with: Result { try blockingExchange(port, head, body: body) }) }.start()
    }
}

func blockingExchange(_ port: Int, _ head: [String], body: [UInt8]) throws -> (status: Int, head: String, body: [UInt8]) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #expect(fd >= 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    #expect(connected == 0)
    var timeout = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let lines = head + (body.isEmpty ? [] : ["Content-Length: \(body.count)"]) + ["Connection: close", "", ""]
    let bytes = Array(lines.joined(separator: "\r\n").utf8) + body
    var sent = 0
    while sent < bytes.count {
        let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }  // the server may answer and close before taking all of a body it refuses
        sent += n
    }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        received += buffer[0..<n]
    }
    // The head's end found in the bytes: a body need not be UTF-8 (a gzipped one is not).
    let blank: [UInt8] = [13, 10, 13, 10]
    guard let end = received.indices.first(where: { received[$0...].starts(with: blank) }) else {
        return (0, String(decoding: received, as: UTF8.self), [])
    }
    let headText = String(decoding: received[..<end], as: UTF8.self)
    let status = Int(headText.split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, headText, Array(received[(end + 4)...]))
}

/// The body of a chunked response, decoded; what arrived of it when it was cut.
func dechunked(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var at = 0
    while at < bytes.count {
        guard let lineEnd = (at..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }),
              let size = Int(String(decoding: bytes[at..<lineEnd], as: UTF8.self), radix: 16), size > 0 else { break }
        let start = lineEnd + 2
        out += bytes[start..<min(bytes.count, start + size)]
        at = start + size + 2
    }
    return out
}

/// A viewer (`dreamlake ui`) over `root` on a free loopback port for the length of `body`.
func withViewer(_ root: String, secret: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                allowedHosts: [String] = [], _ body: (Int) async throws -> Void) async throws {
    let viewer = try ViewerServer(root: root, port: 0, secret: secret, allowedHosts: allowedHosts, environment: environment)
    let (ports, ready) = AsyncStream.makeStream(of: Int.self)
    let serving = Task { try await viewer.run(onReady: { ready.yield($0) }) }
    defer { serving.cancel() }
    var next = ports.makeAsyncIterator()
    try await body(try #require(await next.next()))
}

/// `dreamlake serve` over `root` (Python's public secret, loopback) for the length of `body`.
func withServer(_ root: String, configure: (inout ServerConfiguration) -> Void = { _ in }, _ body: (Int) async throws -> Void) async throws {
    var configuration = ServerConfiguration(root: root, port: 0)
    configure(&configuration)
    let server = try DreamlakeServer(configuration)
    let (ports, ready) = AsyncStream.makeStream(of: Int.self)
    let serving = Task { try await server.run(onReady: { ready.yield($0) }) }
    defer { serving.cancel() }
    var next = ports.makeAsyncIterator()
    try await body(try #require(await next.next()))
}

