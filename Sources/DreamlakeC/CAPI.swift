// The C API (Sources/CDreamlake/include/dreamlake.h): C functions over the session API, for the Python
// package and any language that calls C. Each function here is one of the header's; what it takes
// from C is checked as input from outside (a NULL where a handle belongs, text that is not UTF-8,
// JSON that is not an object), and every failure is a code and a message, never a trap.

import CDreamlake
import Dreamlake
import DreamlakeStore
import Foundation

// MARK: Handles

/// What a `dreamlake_session *` points to.
final class SessionHandle {
    let session: Session
    init(_ session: Session) { self.session = session }
}

/// What a `dreamlake_track *` points to: the track, which keeps its session alive.
final class TrackHandleBox {
    let track: Track
    init(_ track: Track) { self.track = track }
}

@inline(__always)
private func sessionOf(_ p: OpaquePointer?) -> Session? {
    guard let p else { return nil }
    return Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue().session
}

@inline(__always)
private func trackOf(_ p: OpaquePointer?) -> Track? {
    guard let p else { return nil }
    return Unmanaged<TrackHandleBox>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue().track
}

// MARK: Errors and memory

/// The header's code for `code`.
private func number(_ code: DreamlakeError.Code) -> Int32 {
    switch code {
    case .invalidName: 1
    case .notOpen: 2
    case .writeProtected: 3
    case .readOnly: 4
    case .notFound: 5
    case .checksumMismatch: 6
    case .invalidValue: 7
    case .invalidArgument: 8
    case .store: 9
    case .io: 10
    case .invalidInput: 11
    case .exists: 12
    case .remote: 13
    case .busy: 14
    default: 99
    }
}

/// A copy of `text` in memory `free` releases, NUL-terminated.
private func allocated(_ text: String) -> UnsafeMutablePointer<CChar> {
    var text = text
    return text.withUTF8 { bytes in allocated(UnsafeRawBufferPointer(bytes)) }
}

private func allocated(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutablePointer<CChar> {
    let out = malloc(bytes.count + 1)!.assumingMemoryBound(to: CChar.self)
    if let base = bytes.baseAddress { memcpy(out, base, bytes.count) }
    out[bytes.count] = 0
    return out
}

/// Fills `err` with `e` (freeing what it held) and returns its code.
private func fail(_ e: DreamlakeError, _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    let code = number(e.code)
    if let err {
        clearError(err)
        err.pointee.code = code
        err.pointee.message = allocated(e.message)
        err.pointee.path = e.path.map(allocated)
    }
    return code
}

private func clearError(_ err: UnsafeMutablePointer<dreamlake_error>) {
    free(err.pointee.message)
    free(err.pointee.path)
    err.pointee = dreamlake_error(code: 0, message: nil, path: nil)
}

/// Runs `body`, turning what it throws into a code and `err`.
@inline(__always)
private func calling(_ err: UnsafeMutablePointer<dreamlake_error>?, _ body: () throws(DreamlakeError) -> Void) -> Int32 {
    do {
        try body()
        return 0
    } catch {
        return fail(error, err)
    }
}

private func notHandle(_ what: String) -> DreamlakeError {
    DreamlakeError(.invalidArgument, "the \(what) handle is NULL")
}

/// Runs `body` on the session behind `session` as ``calling(_:_:)`` does; a NULL handle is an error.
@inline(__always)
private func onSession(_ session: OpaquePointer?, _ err: UnsafeMutablePointer<dreamlake_error>?,
                       _ body: (Session) throws(DreamlakeError) -> Void) -> Int32 {
    calling(err) { () throws(DreamlakeError) in
        guard let s = sessionOf(session) else { throw notHandle("session") }
        try body(s)
    }
}

/// Runs `body` on the track behind `track` as ``calling(_:_:)`` does; a NULL handle is an error.
@inline(__always)
private func onTrack(_ track: OpaquePointer?, _ err: UnsafeMutablePointer<dreamlake_error>?,
                     _ body: (Track) throws(DreamlakeError) -> Void) -> Int32 {
    calling(err) { () throws(DreamlakeError) in
        guard let t = trackOf(track) else { throw notHandle("track") }
        try body(t)
    }
}

/// The UTF-8 text at `p`, which must be there.
private func text(_ p: UnsafePointer<CChar>?, _ what: String) throws(DreamlakeError) -> String {
    guard let p else { throw DreamlakeError(.invalidArgument, "\(what) is NULL") }
    return try text(UnsafeRawBufferPointer(start: p, count: strlen(p)), what)
}

private func text(_ bytes: UnsafeRawBufferPointer, _ what: String) throws(DreamlakeError) -> String {
    guard let s = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) else {
        throw DreamlakeError(.invalidValue, "\(what) is not UTF-8")
    }
    return s
}

/// The JSON value at `p` (NUL-terminated), which must be there.
private func json(_ p: UnsafePointer<CChar>, _ what: String) throws(DreamlakeError) -> Value {
    let bytes = UnsafeRawBufferPointer(start: p, count: strlen(p))
    do { return try PythonJSONReader.parse(bytes) } catch {
        throw DreamlakeError(.invalidInput, "\(what) is not JSON: \(error)")
    }
}

/// The JSON object at `p`, or nil for NULL.
private func object(_ p: UnsafePointer<CChar>?, _ what: String) throws(DreamlakeError) -> ValueObject? {
    guard let p else { return nil }
    guard case .object(let o) = try json(p, what) else { throw DreamlakeError(.invalidInput, "\(what) is not a JSON object") }
    return o
}

/// Hands `value` to C as allocated JSON text.
private func give(_ value: Value, _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) throws(DreamlakeError) {
    guard let out else { throw DreamlakeError(.invalidArgument, "the place for the JSON (json_out) is NULL") }
    let bytes = PythonJSONWriter.compactBytes(value)
    out.pointee = bytes.withUnsafeBytes { allocated($0) }
}

/// The JSON object of options at `p` (an empty one for NULL), refused when it has a key none of `known`.
private func optionsObject(_ p: UnsafePointer<CChar>?, _ what: String, known: [String]) throws(DreamlakeError) -> ValueObject {
    let options = try object(p, what) ?? [:]
    if let unknown = options.keys.first(where: { !known.contains($0) }) {
        throw DreamlakeError(.invalidArgument, "\(what) have \"\(unknown)\", which is none of \(known.sorted().joined(separator: ", "))")
    }
    return options
}

/// Option `key` of `options` as `read` takes it: nil when absent or null, an error saying it is not
/// `kind` when `read` refuses it.
private func option<T>(_ options: ValueObject, _ key: String, _ kind: String, _ read: (Value) -> T?) throws(DreamlakeError) -> T? {
    guard let value = options[key] else { return nil }
    if case .null = value { return nil }
    guard let taken = read(value) else { throw DreamlakeError(.invalidArgument, "the option \"\(key)\" is not \(kind)") }
    return taken
}

private func optionalString(_ options: ValueObject, _ key: String) throws(DreamlakeError) -> String? {
    try option(options, key, "a string") { if case .string(let s) = $0 { s } else { nil } }
}

private func optionalStrings(_ options: ValueObject, _ key: String) throws(DreamlakeError) -> [String]? {
    try option(options, key, "an array of strings") { value in
        guard case .array(let items) = value else { return nil }
        let strings = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
        return strings.count == items.count ? strings : nil
    }
}

private func optionalObject(_ options: ValueObject, _ key: String) throws(DreamlakeError) -> ValueObject? {
    try option(options, key, "an object") { if case .object(let o) = $0 { o } else { nil } }
}

@_cdecl("dreamlake_error_clear")
public func dreamlakeErrorClear(_ err: UnsafeMutablePointer<dreamlake_error>?) {
    if let err { clearError(err) }
}

@_cdecl("dreamlake_free")
public func dreamlakeFree(_ pointer: UnsafeMutableRawPointer?) {
    free(pointer)
}

// MARK: Sessions

@_cdecl("dreamlake_session_new")
public func dreamlakeSessionNew(_ name: UnsafePointer<CChar>?, _ workspace: UnsafePointer<CChar>?, _ localPath: UnsafePointer<CChar>?,
                                _ optionsJSON: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                                _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    calling(err) { () throws(DreamlakeError) in
        guard let out else { throw DreamlakeError(.invalidArgument, "the place for the session (out) is NULL") }
        out.pointee = nil
        let name = try text(name, "the session's name")
        let workspace = try text(workspace, "the workspace's name")
        let root = try localPath.map { (p) throws(DreamlakeError) in try text(p, "the local path") }
        let options = try optionsObject(optionsJSON, "the options",
                                        known: ["description", "tags", "folder", "metadata", "write_protected", "rank", "durability",
                                                "remote", "api_key", "user_name"])
        let writeProtected = try option(options, "write_protected", "true or false") { if case .bool(let b) = $0 { b } else { nil } }
        let rank = try option(options, "rank", "a whole number") { if case .int(let r) = $0 { Int(exactly: r) ?? -1 } else { nil } }
        let durability = try option(options, "durability", "\"buffered\", \"always\" or milliseconds from 1 to 86400000") {
            (value) -> Durability? in
            switch value {
            case .string("buffered"): .buffered
            case .string("always"): .always
            case .int(let ms) where ms > 0 && ms <= 86_400_000: .interval(milliseconds: Int(ms))
            default: nil
            }
        }
        let (description, tags, folder) = (try optionalString(options, "description"), try optionalStrings(options, "tags"),
                                            try optionalString(options, "folder"))
        let metadata = try optionalObject(options, "metadata")
        let session: Session
        if let remote = try optionalString(options, "remote") {
            // Python dreamlake's remote mode: a token given, else one minted for the user name.
            guard rank == nil else { throw DreamlakeError(.invalidArgument, "a remote session takes no rank: its server orders the writes") }
            let token: String
            if let apiKey = try optionalString(options, "api_key") {
                token = apiKey
            } else if let user = try optionalString(options, "user_name") {
                guard !user.isEmpty else { throw DreamlakeError(.invalidArgument, "the user name is empty") }
                token = RemoteToken.mint(userName: user, secret: RemoteToken.pythonClientSecret)
            } else {
                throw DreamlakeError(.invalidArgument, "Either api_key or user_name is required for remote mode")
            }
            session = try Session(name: name, workspace: workspace, remote: remote, apiKey: token, localPath: root, spool: nil,
                                  description: description, tags: tags, folder: folder, metadataObject: metadata,
                                  writeProtected: writeProtected ?? false, durability: durability ?? StoreConfiguration().durability)
        } else {
            session = try Session(name: name, workspace: workspace, localPath: root, description: description, tags: tags, folder: folder,
                                  metadataObject: metadata, writeProtected: writeProtected ?? false,
                                  durability: durability ?? StoreConfiguration().durability, rank: rank)
        }
        out.pointee = OpaquePointer(Unmanaged.passRetained(SessionHandle(session)).toOpaque())
    }
}

@_cdecl("dreamlake_session_free")
public func dreamlakeSessionFree(_ session: OpaquePointer?) {
    guard let session else { return }
    let handle = Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(session))
    try? handle.takeUnretainedValue().session.close()
    handle.release()
}

@_cdecl("dreamlake_session_open")
public func dreamlakeSessionOpen(_ session: OpaquePointer?, _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        try s.open()
    }
}

@_cdecl("dreamlake_session_open_for_reading")
public func dreamlakeSessionOpenForReading(_ session: OpaquePointer?, _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        try s.openForReading()
    }
}

@_cdecl("dreamlake_session_flush")
public func dreamlakeSessionFlush(_ session: OpaquePointer?, _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        try s.flush()
    }
}

@_cdecl("dreamlake_session_close")
public func dreamlakeSessionClose(_ session: OpaquePointer?, _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        try s.close()
    }
}

@_cdecl("dreamlake_session_is_open")
public func dreamlakeSessionIsOpen(_ session: OpaquePointer?) -> Int32 {
    sessionOf(session)?.isOpen == true ? 1 : 0
}

@_cdecl("dreamlake_session_info")
public func dreamlakeSessionInfo(_ session: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                 _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        var fields = s.storedFields
        if fields.isEmpty {
            fields["name"] = .string(s.name)
            fields["workspace"] = .string(s.workspace)
            fields["description"] = s.description.map(Value.string) ?? .null
            fields["tags"] = .array(s.tags.map(Value.string))
            fields["folder"] = s.folder.map(Value.string) ?? .null
            fields["write_protected"] = .bool(s.isWriteProtected)
        }
        fields["directory"] = .string(s.directory)
        fields["is_open"] = .bool(s.isOpen)
        try give(.object(fields), out)
    }
}

// MARK: Logs and parameters

@_cdecl("dreamlake_session_log")
public func dreamlakeSessionLog(_ session: OpaquePointer?, _ level: UnsafePointer<CChar>?, _ message: UnsafePointer<CChar>?,
                                _ messageLength: Int, _ metadataJSON: UnsafePointer<CChar>?,
                                _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        guard let message else { throw DreamlakeError(.invalidArgument, "the message is NULL") }
        let text = try text(UnsafeRawBufferPointer(start: message, count: max(0, messageLength)), "the message")
        var logLevel = LogLevel.info
        if let level {
            let name = try DreamlakeC.text(level, "the level")
            guard let l = LogLevel(name: name) else {
                throw DreamlakeError(.invalidArgument, "the level \"\(name)\" is none of debug, info, warn, error, fatal")
            }
            logLevel = l
        }
        try s.log(text, level: logLevel, object: try object(metadataJSON, "the metadata"))
    }
}

@_cdecl("dreamlake_session_read_logs")
public func dreamlakeSessionReadLogs(_ session: OpaquePointer?, _ start: UInt64, _ limit: UInt64,
                                     _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                     _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        let entries = try s.logs(from: start, limit: Int(min(limit, UInt64(Int.max))))
        var array: [Value] = []
        array.reserveCapacity(entries.count)
        for e in entries {
            var o: ValueObject = ["index": .int(Int64(clamping: e.sequence)), "timestamp": .int(e.timestamp),
                                  "level": .string(e.level.description), "message": .string(e.message)]
            if let m = e.metadata { o["metadata"] = .object(m) }
            o["rank"] = .int(Int64(e.writer))
            array.append(.object(o))
        }
        try give(.array(array), out)
    }
}

@_cdecl("dreamlake_session_set_parameters")
public func dreamlakeSessionSetParameters(_ session: OpaquePointer?, _ json: UnsafePointer<CChar>?,
                                          _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        guard let values = try object(json, "the parameters") else { throw DreamlakeError(.invalidArgument, "the parameters are NULL") }
        try s.parameters.set(object: values)
    }
}

@_cdecl("dreamlake_session_get_parameters")
public func dreamlakeSessionGetParameters(_ session: OpaquePointer?, _ flatten: Int32,
                                          _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                          _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        try give(.object(try s.parameters.get(flatten: flatten != 0)), out)
    }
}

// MARK: Tracks

/// A track's statistics as the header describes them.
private func statsValue(_ t: TrackStats) -> Value {
    func optional(_ v: UInt64?) -> Value { v.map { .int(Int64(clamping: $0)) } ?? .null }
    return .object([
        "name": .string(t.name), "count": .int(Int64(clamping: t.count)),
        "firstIndex": optional(t.firstIndex), "lastIndex": optional(t.lastIndex),
        "firstTimestamp": t.firstTimestamp.map(Value.int) ?? .null, "lastTimestamp": t.lastTimestamp.map(Value.int) ?? .null,
        "description": t.description.map(Value.string) ?? .null, "tags": .array(t.tags.map(Value.string)),
        "metadata": t.metadata.map(Value.object) ?? .null, "createdAt": .int(t.createdAt), "updatedAt": .int(t.updatedAt),
    ])
}

@_cdecl("dreamlake_session_list_tracks")
public func dreamlakeSessionListTracks(_ session: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                       _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        try give(.array(try s.tracks().map(statsValue)), out)
    }
}

@_cdecl("dreamlake_track_new")
public func dreamlakeTrackNew(_ session: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ optionsJSON: UnsafePointer<CChar>?,
                              _ out: UnsafeMutablePointer<OpaquePointer?>?, _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    calling(err) { () throws(DreamlakeError) in
        guard let out else { throw DreamlakeError(.invalidArgument, "the place for the track (out) is NULL") }
        out.pointee = nil
        guard let s = sessionOf(session) else { throw notHandle("session") }
        let options = try optionsObject(optionsJSON, "the track's options", known: ["description", "tags", "metadata"])
        let track = s.track(try text(name, "the track's name"), description: try optionalString(options, "description"),
                            tags: try optionalStrings(options, "tags"), metadataObject: try optionalObject(options, "metadata"))
        out.pointee = OpaquePointer(Unmanaged.passRetained(TrackHandleBox(track)).toOpaque())
    }
}

@_cdecl("dreamlake_track_free")
public func dreamlakeTrackFree(_ track: OpaquePointer?) {
    guard let track else { return }
    Unmanaged<TrackHandleBox>.fromOpaque(UnsafeRawPointer(track)).release()
}

@_cdecl("dreamlake_track_append_value")
public func dreamlakeTrackAppendValue(_ track: OpaquePointer?, _ value: Double, _ step: Int64, _ index: UnsafeMutablePointer<UInt64>?,
                                      _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    guard let t = trackOf(track) else { return fail(notHandle("track"), err) }
    do {
        let i = try t.append(value: value, step: Int(step))
        index?.pointee = i
        return 0
    } catch {
        return fail(error, err)
    }
}

@_cdecl("dreamlake_track_append_fields")
public func dreamlakeTrackAppendFields(_ track: OpaquePointer?, _ fields: UnsafePointer<dreamlake_field>?, _ count: Int,
                                       _ index: UnsafeMutablePointer<UInt64>?, _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onTrack(track, err) { (t) throws(DreamlakeError) in
        guard count >= 0, count == 0 || fields != nil else { throw DreamlakeError(.invalidArgument, "the fields are NULL") }
        var point = ValueObject(minimumCapacity: count)
        for f in UnsafeBufferPointer(start: fields, count: count) {
            guard let key = f.key else { throw DreamlakeError(.invalidArgument, "a field's key is NULL") }
            let name = try text(UnsafeRawBufferPointer(start: key, count: f.key_length), "a field's key")
            let value: Value
            switch Int(f.kind) {
            case DREAMLAKE_FIELD_NULL: value = .null
            case DREAMLAKE_FIELD_BOOL: value = .bool(f.integer != 0)
            case DREAMLAKE_FIELD_INT: value = .int(f.integer)
            case DREAMLAKE_FIELD_DOUBLE: value = .double(f.number)
            case DREAMLAKE_FIELD_STRING, DREAMLAKE_FIELD_JSON:
                guard let p = f.text, f.text_length >= 0 else { throw DreamlakeError(.invalidArgument, "field \(name)'s text is NULL") }
                let bytes = UnsafeRawBufferPointer(start: p, count: f.text_length)
                if Int(f.kind) == DREAMLAKE_FIELD_STRING {
                    value = .string(try text(bytes, "field \(name)"))
                } else {
                    do { value = try PythonJSONReader.parse(bytes) } catch {
                        throw DreamlakeError(.invalidInput, "field \(name) is not JSON: \(error)")
                    }
                }
            default:
                throw DreamlakeError(.invalidArgument, "field \(name) has kind \(f.kind), none of the header's DREAMLAKE_FIELD_*")
            }
            point[name] = value
        }
        let i = try t.append(object: point)
        index?.pointee = i
    }
}

@_cdecl("dreamlake_track_append_json")
public func dreamlakeTrackAppendJSON(_ track: OpaquePointer?, _ json: UnsafePointer<CChar>?, _ index: UnsafeMutablePointer<UInt64>?,
                                     _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onTrack(track, err) { (t) throws(DreamlakeError) in
        guard let point = try object(json, "the point") else { throw DreamlakeError(.invalidArgument, "the point is NULL") }
        let i = try t.append(object: point)
        index?.pointee = i
    }
}

@_cdecl("dreamlake_track_append_batch_json")
public func dreamlakeTrackAppendBatchJSON(_ track: OpaquePointer?, _ json: UnsafePointer<CChar>?, _ index: UnsafeMutablePointer<UInt64>?,
                                          _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onTrack(track, err) { (t) throws(DreamlakeError) in
        guard let json else { throw DreamlakeError(.invalidArgument, "the points are NULL") }
        guard case .array(let items) = try DreamlakeC.json(json, "the points") else {
            throw DreamlakeError(.invalidInput, "the points are not a JSON array")
        }
        var points: [ValueObject] = []
        points.reserveCapacity(items.count)
        for (k, item) in items.enumerated() {
            guard case .object(let o) = item else { throw DreamlakeError(.invalidInput, "point \(k) of the batch is not a JSON object") }
            points.append(o)
        }
        let range = try t.appendBatch(objects: points)
        index?.pointee = range.lowerBound
    }
}

@_cdecl("dreamlake_track_read")
public func dreamlakeTrackRead(_ track: OpaquePointer?, _ start: UInt64, _ limit: UInt64,
                               _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                               _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onTrack(track, err) { (t) throws(DreamlakeError) in
        let page = try t.read(startIndex: start, limit: Int(min(limit, 1 << 40)))
        var points: [Value] = []
        points.reserveCapacity(page.points.count)
        for p in page.points {
            var o: ValueObject = ["index": .int(Int64(clamping: p.index)), "timestamp": .int(p.timestamp), "data": .object(p.data)]
            if let r = p.rank { o["rank"] = .int(Int64(r)) }
            points.append(.object(o))
        }
        try give(.object(["points": .array(points), "startIndex": .int(Int64(clamping: page.startIndex)), "hasMore": .bool(page.hasMore)]), out)
    }
}

@_cdecl("dreamlake_track_stats")
public func dreamlakeTrackStats(_ track: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onTrack(track, err) { (t) throws(DreamlakeError) in
        try give(statsValue(try t.stats()), out)
    }
}

// MARK: Files

@_cdecl("dreamlake_files_upload")
public func dreamlakeFilesUpload(_ session: OpaquePointer?, _ localFile: UnsafePointer<CChar>?, _ optionsJSON: UnsafePointer<CChar>?,
                                 _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                 _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        let file = try text(localFile, "the file to upload")
        let options = try optionsObject(optionsJSON, "the file's options", known: ["path", "description", "tags", "metadata"])
        let stored = try s.files.upload(file, path: try optionalString(options, "path") ?? "/",
                                        description: try optionalString(options, "description"),
                                        tags: try optionalStrings(options, "tags") ?? [], metadataObject: try optionalObject(options, "metadata"))
        try give(.object(stored.fields), out)
    }
}

@_cdecl("dreamlake_files_list")
public func dreamlakeFilesList(_ session: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ tagsJSON: UnsafePointer<CChar>?,
                               _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                               _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        let folder = try path.map { (p) throws(DreamlakeError) in try text(p, "the path") }
        var tags: [String]?
        if let tagsJSON {
            guard case .array(let items) = try json(tagsJSON, "the tags") else { throw DreamlakeError(.invalidInput, "the tags are not a JSON array") }
            tags = try optionalStrings(["tags": .array(items)], "tags")
        }
        try give(.array(try s.files.list(path: folder, tags: tags).map { .object($0.fields) }), out)
    }
}

@_cdecl("dreamlake_files_download")
public func dreamlakeFilesDownload(_ session: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ destination: UnsafePointer<CChar>?,
                                   _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                   _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        guard let out else { throw DreamlakeError(.invalidArgument, "the place for the path (path_out) is NULL") }
        let target = try destination.map { (p) throws(DreamlakeError) in try text(p, "the destination") } ?? "."
        let written = try s.files.download(try text(id, "the file's id"), to: target)
        out.pointee = allocated(written)
    }
}

@_cdecl("dreamlake_files_update")
public func dreamlakeFilesUpdate(_ session: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ optionsJSON: UnsafePointer<CChar>?,
                                 _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                 _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        let options = try optionsObject(optionsJSON, "the file's changes", known: ["description", "tags", "metadata"])
        let stored = try s.files.update(try text(id, "the file's id"), description: try optionalString(options, "description"),
                                        tags: try optionalStrings(options, "tags"), metadataObject: try optionalObject(options, "metadata"))
        try give(.object(stored.fields), out)
    }
}

@_cdecl("dreamlake_files_delete")
public func dreamlakeFilesDelete(_ session: OpaquePointer?, _ id: UnsafePointer<CChar>?,
                                 _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                 _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onSession(session, err) { (s) throws(DreamlakeError) in
        let fileID = try text(id, "the file's id")
        let when = try s.files.deleteReturningTime(fileID)
        try give(.object(["id": .string(fileID), "deletedAt": .string(when)]), out)
    }
}

// MARK: Columns (NumPy)

@_cdecl("dreamlake_track_append_columns")
public func dreamlakeTrackAppendColumns(_ track: OpaquePointer?, _ columns: UnsafePointer<dreamlake_column>?, _ columnCount: Int,
                                        _ count: Int, _ first: UnsafeMutablePointer<UInt64>?,
                                        _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onTrack(track, err) { (t) throws(DreamlakeError) in
        guard columnCount >= 0, count >= 0, columnCount == 0 || columns != nil else {
            throw DreamlakeError(.invalidArgument, "the columns are NULL, or a count is below 0")
        }
        let cols = UnsafeBufferPointer(start: columns, count: columnCount)
        var keys: [String] = []
        for c in cols {
            guard let key = c.key else { throw DreamlakeError(.invalidArgument, "a column's key is NULL") }
            let name = try text(UnsafeRawBufferPointer(start: key, count: c.key_length), "a column's key")
            guard count == 0 || c.values != nil else { throw DreamlakeError(.invalidArgument, "column \(name)'s values are NULL") }
            guard [DREAMLAKE_FIELD_DOUBLE, DREAMLAKE_FIELD_INT, DREAMLAKE_FIELD_BOOL].contains(Int(c.kind)) else {
                throw DreamlakeError(.invalidArgument, "column \(name) has kind \(c.kind), not DREAMLAKE_FIELD_DOUBLE, _INT or _BOOL")
            }
            keys.append(name)
        }
        guard count > 0 else {
            first?.pointee = 0
            return
        }
        // The engine's batch path: value (doubles), then step (integers).
        if keys == ["value", "step"], Int(cols[0].kind) == DREAMLAKE_FIELD_DOUBLE, Int(cols[1].kind) == DREAMLAKE_FIELD_INT,
           let v = cols[0].values, let s = cols[1].values {
            let range = try t.append(values: UnsafeBufferPointer(start: v.assumingMemoryBound(to: Double.self), count: count),
                                     steps: UnsafeBufferPointer(start: s.assumingMemoryBound(to: Int64.self), count: count))
            first?.pointee = range.lowerBound
            return
        }
        var points: [ValueObject] = []
        points.reserveCapacity(count)
        for k in 0..<count {
            var point = ValueObject(minimumCapacity: keys.count)
            for (j, c) in cols.enumerated() {
                let base = c.values!
                switch Int(c.kind) {
                case DREAMLAKE_FIELD_DOUBLE: point[keys[j]] = .double(base.load(fromByteOffset: k * 8, as: Double.self))
                case DREAMLAKE_FIELD_INT: point[keys[j]] = .int(base.load(fromByteOffset: k * 8, as: Int64.self))
                default: point[keys[j]] = .bool(base.load(fromByteOffset: k, as: UInt8.self) != 0)
                }
            }
            points.append(point)
        }
        first?.pointee = try t.appendBatch(objects: points).lowerBound
    }
}

@_cdecl("dreamlake_track_read_columns")
public func dreamlakeTrackReadColumns(_ track: OpaquePointer?, _ start: UInt64, _ limit: UInt64, _ keys: UnsafePointer<UnsafePointer<CChar>?>?,
                                      _ keyCount: Int, _ columns: UnsafePointer<UnsafeMutablePointer<Double>?>?,
                                      _ indexes: UnsafeMutablePointer<UInt64>?, _ countOut: UnsafeMutablePointer<UInt64>?,
                                      _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onTrack(track, err) { (t) throws(DreamlakeError) in
        guard let countOut else { throw DreamlakeError(.invalidArgument, "the place for the count (count_out) is NULL") }
        countOut.pointee = 0
        guard keyCount >= 0, keyCount == 0 || (keys != nil && columns != nil) else {
            throw DreamlakeError(.invalidArgument, "the keys or the columns are NULL")
        }
        var names: [String] = []
        var outs: [UnsafeMutablePointer<Double>] = []
        for j in 0..<keyCount {
            names.append(try text(keys![j], "key \(j)"))
            guard let column = columns![j] else { throw DreamlakeError(.invalidArgument, "column \(j) is NULL") }
            outs.append(column)
        }
        var read: UInt64 = 0
        // By pages, so that a large range never holds all its points as objects at once.
        while read < limit {
            let page = try t.read(startIndex: start &+ read, limit: Int(min(limit - read, 65_536)))
            for p in page.points {
                let at = Int(read)
                indexes?[at] = p.index
                for (j, name) in names.enumerated() {
                    switch p.data[name] {
                    case .double(let d)?: outs[j][at] = d
                    case .int(let i)?: outs[j][at] = Double(i)
                    case .bool(let b)?: outs[j][at] = b ? 1 : 0
                    default: outs[j][at] = .nan
                    }
                }
                read += 1
            }
            if !page.hasMore || page.points.isEmpty { break }
        }
        countOut.pointee = read
    }
}

@_cdecl("dreamlake_track_write_parquet")
public func dreamlakeTrackWriteParquet(_ track: OpaquePointer?, _ path: UnsafePointer<CChar>?,
                                       _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onTrack(track, err) { (t) throws(DreamlakeError) in
        try ParquetExport.write(t, to: try text(path, "the path"))
    }
}

@_cdecl("dreamlake_track_envelope")
public func dreamlakeTrackEnvelope(_ track: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ buckets: UInt32,
                                   _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                   _ err: UnsafeMutablePointer<dreamlake_error>?) -> Int32 {
    onTrack(track, err) { (t) throws(DreamlakeError) in
        let field = try key.map { (k) throws(DreamlakeError) in try text(k, "the field") } ?? "value"
        guard buckets > 0, buckets <= 1_000_000 else { throw DreamlakeError(.invalidArgument, "buckets is \(buckets); it is from 1 to 1000000") }
        func point(_ p: EnvelopePoint?) -> Value {
            p.map { .object(["index": .int(Int64(clamping: $0.index)), "value": .double($0.value)]) } ?? .null
        }
        let list = try t.envelope(field: field, buckets: Int(buckets)).map { b -> Value in
            .object(["start": .int(Int64(clamping: b.range.lowerBound)), "end": .int(Int64(clamping: b.range.upperBound)),
                     "count": .int(Int64(clamping: b.count)), "first": point(b.first), "last": point(b.last),
                     "min": point(b.min), "max": point(b.max), "nan": .int(Int64(clamping: b.nanCount)),
                     "inf": .int(Int64(clamping: b.positiveInfinityCount)), "-inf": .int(Int64(clamping: b.negativeInfinityCount)),
                     "missing": .int(Int64(clamping: b.missingCount))])
        }
        try give(.array(list), out)
    }
}
