import DreamlakeS3
import DreamlakeTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

/// Issue 30, class 8: a store that accepts connections and never answers, or answers a byte at a
/// time, holds a request no longer than its deadline (DREAMLAKE_S3_TIMEOUT), retries included; the
/// failure says which request, where, and which setting bounds it.
@Suite struct S3DeadlineTests {
    @Test(arguments: [false, true])
    func aStoreThatNeverFinishesAnAnswerFailsTheRequestAtItsDeadline(trickle: Bool) throws {
        let server = try LoopbackServer(trickle ? .trickle : .silent)
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
        // Not the 60 s of an idle timeout, nor for ever (a trickle resets that): the deadline, and the
        // latency of a busy test machine.
        #expect(ProcessInfo.processInfo.systemUptime - started < 15)
    }

    /// A redirect (S3 answers 301 PermanentRedirect for a bucket of another region) is never followed: the
    /// request is signed, and AWS's SDKs send it to no other host. The error names the status and where it pointed.
    @Test func aRedirectToAnotherHostIsNotFollowed() throws {
        let elsewhere = try LoopbackServer(.answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        defer { elsewhere.stop() }
        let location = "http://127.0.0.1:\(elsewhere.port)/b/k"
        let body = "<Error><Code>PermanentRedirect</Code><Message>Use the other</Message></Error>"
        let redirecting = try LoopbackServer(.answer("HTTP/1.1 301 Moved Permanently\r\nLocation: \(location)\r\nContent-Type: application/xml\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n" + body))
        defer { redirecting.stop() }
        let configuration = try S3Configuration.fromEnvironment([
            "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": "http://127.0.0.1:\(redirecting.port)", "HOME": "/nonexistent",
        ])
        let error = try #require(throws: S3Error.self) { try S3Client(configuration).get(bucket: "b", key: "k") }
        #expect(error.status == 301 && error.code == "PermanentRedirect" && error.message.contains("not followed") && error.message.contains(location),
                "\(error)")
        #expect(redirecting.connections == 1 && elsewhere.connections == 0, "the other host was never asked")
    }

    @Test func aDeadlineThatIsNoNumberOfSecondsIsRefused() {
        for bad in ["0", "-1", "soon", "inf"] {
            #expect(throws: S3Error.self) {
                try S3Configuration.fromEnvironment(["AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "DREAMLAKE_S3_TIMEOUT": bad])
            }
        }
    }
}
