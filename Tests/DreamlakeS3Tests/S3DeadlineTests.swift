import DreamlakeS3
import Foundation
import Glibc
import Synchronization
import Testing

/// A TCP server on 127.0.0.1 that takes every connection and never finishes an answer: it sends
/// nothing, or (`trickle`) one byte of a status line every half second.
private final class StalledServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let stopped = Atomic<Bool>(false)

    init(trickle: Bool) throws {
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
        Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { continue }
                Thread { [self] in
                    defer { close(connection) }
                    let line = Array("HTTP/1.1 200 OK\r\n".utf8)
                    var at = 0
                    while !stopped.load(ordering: .relaxed) {
                        usleep(500_000)
                        guard trickle else { continue }
                        if send(connection, [line[at % line.count]], 1, Int32(MSG_NOSIGNAL)) < 0 { return }
                        at += 1
                    }
                }.start()
            }
        }.start()
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

/// Issue 30, class 8: a store that accepts connections and never answers, or answers a byte at a
/// time, holds a request no longer than its deadline (DREAMLAKE_S3_TIMEOUT), retries included; the
/// failure says which request, where, and which setting bounds it.
@Suite struct S3DeadlineTests {
    @Test(arguments: [false, true])
    func aStoreThatNeverFinishesAnAnswerFailsTheRequestAtItsDeadline(trickle: Bool) throws {
        let server = try StalledServer(trickle: trickle)
        defer { server.stop() }
        let configuration = try S3Configuration.fromEnvironment([
            "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": "http://127.0.0.1:\(server.port)",
            "DREAMLAKE_S3_TIMEOUT": "2", "HOME": "/nonexistent",
        ])
        #expect(configuration.deadline == 2)
        let client = S3Client(configuration)
        let started = ProcessInfo.processInfo.systemUptime
        #expect {
            _ = try client.get(bucket: "b", key: "k")
        } throws: { error in
            let e = error as? S3Error
            return e?.kind == .unreachable && e?.message.contains("DREAMLAKE_S3_TIMEOUT") == true && e?.message.contains("GET s3://b/k") == true
        }
        // Not the 60 s of URLSession's idle timeout, nor for ever (a trickle resets that): the deadline, and the
        // latency of a busy test machine.
        #expect(ProcessInfo.processInfo.systemUptime - started < 15)
    }

    @Test func aDeadlineThatIsNoNumberOfSecondsIsRefused() {
        for bad in ["0", "-1", "soon", "inf"] {
            #expect(throws: S3Error.self) {
                try S3Configuration.fromEnvironment(["AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "DREAMLAKE_S3_TIMEOUT": bad])
            }
        }
    }
}
