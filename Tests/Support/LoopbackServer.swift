import Foundation
import Glibc
import Synchronization

/// A TCP server on 127.0.0.1 for tests of what a client does with a store that misbehaves: it takes
/// every connection and, as `behaviour` says, never answers, answers one byte of a status line every
/// half second, or sends one fixed answer and closes.
public final class LoopbackServer: @unchecked Sendable {
    public enum Behaviour: Sendable {
        /// Reads nothing and sends nothing.
        case silent
        /// Sends one byte of `HTTP/1.1 200 OK\r\n` every half second, for ever.
        case trickle
        /// Sends these bytes as soon as a request's head has come, then closes.
        case answer(String)
    }

    /// The port it listens on.
    public let port: Int
    private let fd: Int32
    private let stopped = Atomic<Bool>(false)
    private let accepted = Atomic<Int>(0)

    /// Connections taken so far.
    public var connections: Int { accepted.load(ordering: .relaxed) }

    public init(_ behaviour: Behaviour) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw CocoaError(.fileWriteUnknown) }  // the test machine cannot listen on loopback
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        // Threads of their own: blocking socket calls never run on Swift's shared pool.
        Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { continue }
                accepted.add(1, ordering: .relaxed)
                Thread { [self] in
                    defer { close(connection) }
                    switch behaviour {
                    case .silent, .trickle:
                        let line = Array("HTTP/1.1 200 OK\r\n".utf8)
                        var at = 0
                        while !stopped.load(ordering: .relaxed) {
                            usleep(500_000)
                            guard case .trickle = behaviour else { continue }
                            if send(connection, [line[at % line.count]], 1, Int32(MSG_NOSIGNAL)) < 0 { return }
                            at += 1
                        }
                    case .answer(let text):
                        var head: [UInt8] = []
                        var byte: UInt8 = 0
                        while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)), recv(connection, &byte, 1, 0) == 1 { head.append(byte) }
                        let bytes = Array(text.utf8)
                        _ = send(connection, bytes, bytes.count, Int32(MSG_NOSIGNAL))
                        usleep(100_000)
                    }
                }.start()
            }
        }.start()
    }

    public func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
