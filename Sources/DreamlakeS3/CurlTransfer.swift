import CCurl
import DreamlakeStore
import Foundation

// The S3 client's HTTP exchanges, over libcurl's easy interface on the
// calling thread. The store and the session API call S3 from their own
// threads and wait for the answer anyway; curl_easy_perform waits in poll(2)
// with curl's own timeouts. URLSession on Linux (libcurl's multi interface
// under libdispatch sources) turned a request a store kept waiting into a busy
// loop of epoll_ctl and poll, most of a core for as long as it waited, and
// followed redirects to other hosts with the signed request. Here nothing is
// followed: a 3xx is an answer like any other.

/// A request's answer: its status, headers (names as sent) and body.
struct HTTPAnswer {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: Data

    /// The value of the header `name` (any case), the first if it came several times.
    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// Why an exchange had no answer.
enum HTTPFailure: Error {
    /// The whole exchange did not end within the time it was given.
    case deadline
    /// No byte came or went for the stall time.
    case stalled(seconds: Int)
    /// The answer's body was longer than the request allowed.
    case tooLong(limit: Int)
    /// Anything else libcurl met: no connection, a reset, a TLS failure, a bad URL.
    case failed(String)
}

/// Reusable easy handles, so that requests reuse connections (each handle keeps its own): a request takes
/// one, or makes one, and gives it back. A handle is used by one thread at a time.
final class CurlHandles: @unchecked Sendable {
    // Guarded by `lock`.
    private var idle: [UnsafeMutableRawPointer] = []
    private let lock = Lock()
    /// The most handles kept idle (as many as requests that ran at once, up to this).
    private let keep = 8

    /// libcurl's one-time setup, before the first handle (thread-safe in the libcurl 7.84 and later that
    /// Debian 12 has; Foundation may have done it already, which is harmless).
    private static let initialized: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    deinit {
        for handle in idle { curl_easy_cleanup(handle) }
    }

    /// Runs `body` with a handle of its own, reset to libcurl's defaults (its connections stay open).
    func with<T>(_ body: (UnsafeMutableRawPointer) throws(HTTPFailure) -> T) throws(HTTPFailure) -> T {
        guard Self.initialized else { throw .failed("libcurl could not be initialized") }
        let reused = lock.withLock { idle.popLast() }
        guard let handle = reused ?? curl_easy_init() else { throw .failed("libcurl could not make a handle") }
        curl_easy_reset(handle)
        defer {
            let kept = lock.withLock { () -> Bool in
                guard idle.count < keep else { return false }
                idle.append(handle)
                return true
            }
            if !kept { curl_easy_cleanup(handle) }
        }
        return try body(handle)
    }
}

/// What the callbacks of one exchange fill in, passed to them as their context pointer.
private final class Exchange {
    var headers: [(name: String, value: String)] = []
    var body = Data()
    let limit: Int
    var overflowed = false

    init(limit: Int) { self.limit = limit }
}

/// The body callback: keeps the bytes, or stops the exchange (returns 0) past the limit.
private let takeBody: dreamlake_curl_data_callback = { data, size, count, context in
    guard let data, let context else { return 0 }
    let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
    let (bytes, overflow) = size.multipliedReportingOverflow(by: count)
    guard !overflow, bytes <= exchange.limit - exchange.body.count else {
        exchange.overflowed = true
        return 0
    }
    exchange.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: bytes)
    return bytes
}

/// The header callback: one line at a time; a status line starts the headers of a new answer (after a
/// `100 Continue`), so only the last answer's are kept.
private let takeHeader: dreamlake_curl_data_callback = { data, size, count, context in
    guard let data, let context else { return 0 }
    let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
    let bytes = size &* count
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: bytes), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        exchange.headers.removeAll()
    } else if let colon = line.firstIndex(of: ":") {
        let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
        let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespacesAndNewlines)
        exchange.headers.append((name, value))
    }
    return bytes
}

extension CurlHandles {
    /// Sets a request's options on handle `h`: the first failure's code, or CURLE_OK.
    private static func configure(_ h: UnsafeMutableRawPointer, url: UnsafePointer<CChar>, method: String, methodName: UnsafePointer<CChar>,
                                  headers: UnsafeMutablePointer<curl_slist>?, errorText: UnsafeMutablePointer<CChar>,
                                  context: UnsafeMutableRawPointer, milliseconds: Int, stall: Int) -> CURLcode {
        var set = CURLE_OK
        func check(_ result: CURLcode) { if set == CURLE_OK { set = result } }
        check(dreamlake_curl_set_pointer(h, CURLOPT_URL, url))
        check(dreamlake_curl_set_pointer(h, CURLOPT_ERRORBUFFER, errorText))
        // http and https only; a redirect is answered to the caller, never followed.
        check(dreamlake_curl_set_pointer(h, CURLOPT_PROTOCOLS_STR, "http,https"))
        check(dreamlake_curl_set_long(h, CURLOPT_FOLLOWLOCATION, 0))
        check(dreamlake_curl_set_long(h, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1)))
        // No signals from curl's timeouts: other threads of this process run meanwhile.
        check(dreamlake_curl_set_long(h, CURLOPT_NOSIGNAL, 1))
        check(dreamlake_curl_set_long(h, CURLOPT_TIMEOUT_MS, milliseconds))
        check(dreamlake_curl_set_long(h, CURLOPT_CONNECTTIMEOUT_MS, min(milliseconds, max(1, stall) * 1000)))
        check(dreamlake_curl_set_long(h, CURLOPT_LOW_SPEED_LIMIT, 1))
        check(dreamlake_curl_set_long(h, CURLOPT_LOW_SPEED_TIME, max(1, stall)))
        check(dreamlake_curl_set_pointer(h, CURLOPT_HTTPHEADER, headers))
        check(dreamlake_curl_set_callback(h, CURLOPT_WRITEFUNCTION, takeBody))
        check(dreamlake_curl_set_pointer(h, CURLOPT_WRITEDATA, context))
        check(dreamlake_curl_set_callback(h, CURLOPT_HEADERFUNCTION, takeHeader))
        check(dreamlake_curl_set_pointer(h, CURLOPT_HEADERDATA, context))
        switch method {
        case "GET": break
        case "HEAD": check(dreamlake_curl_set_long(h, CURLOPT_NOBODY, 1))
        default: check(dreamlake_curl_set_pointer(h, CURLOPT_CUSTOMREQUEST, methodName))
        }
        return set
    }

    /// Sends one request and waits for its whole answer, on this thread.
    /// - Parameters:
    ///   - method: `GET`, `HEAD`, `PUT`, `POST` or `DELETE`.
    ///   - headers: sent as given (the client adds none of its own: no `Expect`, no `Content-Type`).
    ///   - body: the request's body, if any.
    ///   - seconds: the most the whole exchange may take, connecting included.
    ///   - stall: the most seconds without a byte either way.
    ///   - limit: the most bytes of answer body taken; a longer one fails the exchange.
    func perform(_ method: String, url: String, headers: [(String, String)], body: Data?, within seconds: TimeInterval,
                 stall: Int, limit: Int) throws(HTTPFailure) -> HTTPAnswer {
        try with { (h) throws(HTTPFailure) -> HTTPAnswer in
            let exchange = Exchange(limit: limit)
            let context = Unmanaged.passUnretained(exchange).toOpaque()
            var list: UnsafeMutablePointer<curl_slist>?
            // curl adds these to a request with a body unless told not to: S3 needs neither.
            for line in headers.map({ "\($0.0): \($0.1)" }) + ["Expect:", "Content-Type:", "Accept:"] {
                guard let next = curl_slist_append(list, line) else {
                    curl_slist_free_all(list)
                    throw .failed("libcurl could not take a header")
                }
                list = next
            }
            defer { curl_slist_free_all(list) }
            let milliseconds = Int(max(1, min(seconds * 1000, Double(Int32.max))))
            let errorText = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
            errorText.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
            defer { errorText.deallocate() }
            let started = ProcessInfo.processInfo.systemUptime
            // libcurl copies the strings it is given (the URL, the method): they need to live only while set.
            var code = url.withCString { url in
                method.withCString { name in
                    Self.configure(h, url: url, method: method, methodName: name, headers: list, errorText: errorText, context: context,
                                   milliseconds: milliseconds, stall: stall)
                }
            }
            if code == CURLE_OK {
                if let body {
                    // The body from memory, sent as it is: curl copies nothing, so it is set and sent while it lives.
                    code = body.withUnsafeBytes { bytes in
                        var set = dreamlake_curl_set_offset(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count))
                        if set == CURLE_OK { set = dreamlake_curl_set_pointer(h, CURLOPT_POSTFIELDS, bytes.baseAddress ?? UnsafeRawPointer(errorText)) }
                        return set == CURLE_OK ? curl_easy_perform(h) : set
                    }
                } else {
                    code = curl_easy_perform(h)
                }
            }
            if exchange.overflowed { throw .tooLong(limit: limit) }
            guard code == CURLE_OK else {
                if code == CURLE_OPERATION_TIMEDOUT {
                    if ProcessInfo.processInfo.systemUptime - started >= seconds - 0.05 { throw .deadline }
                    throw .stalled(seconds: stall)
                }
                let detail = String(cString: errorText)
                throw .failed(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
            }
            var status = 0
            _ = dreamlake_curl_response_code(h, &status)
            return HTTPAnswer(status: status, headers: exchange.headers, body: exchange.body)
        }
    }
}
