import Dreamlake
import DreamlakeStore

/// The JSON bodies the remote API takes, decoded through ``ValueDecoding``
/// (the project's Codable decoder over ``Value``): a body of the wrong shape
/// is a 400 naming the key and what was found there. Keys a body may carry
/// beyond these are ignored, as Python dreamlake's server ignores them.
package enum RequestBody {
    /// `POST /workspaces/{workspace}/sessions`.
    package struct CreateSession: Decodable, Sendable {
        var name: String
        var description: String?
        var tags: [String]?
        var folder: String?
        var metadata: ValueDecoding.Object?
        var writeProtected: Bool?
    }

    /// `POST /sessions/{id}/logs`.
    struct Logs: Decodable {
        struct Entry: Decodable {
            var message: String
            /// debug, info, warn, error or fatal; info when absent.
            var level: String?
            /// ISO 8601; the server's clock when absent.
            var timestamp: String?
            /// Microseconds since the Unix epoch, which a Swift remote session sends beside
            /// `timestamp`: any time the store can hold, where ISO 8601 has four-digit years only.
            var timestampMicros: Int64?
            var metadata: ValueDecoding.Object?
        }
        var logs: [Entry]
    }

    /// `POST /sessions/{id}/parameters`.
    struct Parameters: Decodable {
        var data: ValueDecoding.Object
    }

    /// What `append` and `append-batch` say about the track, used when it is new.
    protocol TrackFields {
        var description: String? { get }
        var tags: [String]? { get }
        var metadata: ValueDecoding.Object? { get }
    }

    /// `POST /sessions/{id}/tracks/{name}/append`.
    struct Point: Decodable, TrackFields {
        var data: ValueDecoding.Object
        var description: String?
        var tags: [String]?
        var metadata: ValueDecoding.Object?
    }

    /// `POST /sessions/{id}/tracks/{name}/append-batch`. A Swift remote session
    /// also sends `timestampsMicros`, one per point (the time it was appended,
    /// in microseconds since the Unix epoch), so that the server's copy keeps the caller's times.
    struct Batch: Decodable, TrackFields {
        var dataPoints: [ValueDecoding.Object]
        var timestampsMicros: [Int64]?
        var description: String?
        var tags: [String]?
        var metadata: ValueDecoding.Object?
    }

    /// `PATCH /sessions/{id}/files/{fileId}`.
    struct FileUpdate: Decodable {
        var description: String?
        var tags: [String]?
        var metadata: ValueDecoding.Object?
    }

    /// `body` as a `T`, or a 400 saying what does not fit.
    static func decode<T: Decodable>(_ type: T.Type, _ body: Value, what: String = "the request body") throws(RemoteError) -> T {
        do { return try ValueDecoding.decode(T.self, from: body, what: what) } catch {
            throw RemoteError(400, error.message)
        }
    }
}
