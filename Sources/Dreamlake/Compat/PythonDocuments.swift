import DreamlakeStore
import Foundation
import OrderedCollections

/// The documents and lines of the layout, built from what the store holds.
/// Export writes them; import builds them too, to check that what it read
/// will be written back the same.
package enum PythonDocuments {
    /// session.json as Python writes it for a new session with nothing but a name.
    static func newSession(name: String, workspace: String, createdAt: Int64) -> ValueObject {
        [
            "name": .string(name), "workspace": .string(workspace), "description": .null, "tags": [],
            "folder": .null, "metadata": .null, "created_at": .string(Timestamps.iso(micros: createdAt)),
            "write_protected": false,
        ]
    }

    /// parameters.json. Python rewrites it on each set: version counts the
    /// sets, the first write has createdAt and later ones drop it. An imported
    /// file's version and times (the note) carry on, moved on by sets made since.
    package static func parameters(updates: [ObjectRecord], note: ValueObject?) -> ValueObject? {
        guard let firstUpdate = updates.first, let lastUpdate = updates.last else { return nil }
        var data = ValueObject()
        for u in updates { for (k, v) in u.fields { data[k] = v } }
        var version = Int64(updates.count)
        var createdAt = Timestamps.iso(micros: firstUpdate.timestamp)
        var updatedAt = Timestamps.iso(micros: lastUpdate.timestamp)
        if let note, let seq = note["sequence"]?.intValue, let v = note["version"]?.intValue,
           seq >= 0, seq < updates.count {
            version = v + Int64(updates.count - 1 - Int(seq))
            if let c = note["createdAt"]?.stringValue { createdAt = c }
            if seq == updates.count - 1, let u = note["updatedAt"]?.stringValue { updatedAt = u }
        }
        var doc = ValueObject()
        doc["version"] = .int(version)
        doc["data"] = .object(data)
        if version == 1 { doc["createdAt"] = .string(createdAt) }
        doc["updatedAt"] = .string(updatedAt)
        return doc
    }

    /// A track's metadata.json.
    package static func trackMetadata(_ info: TrackInfo, lastPointTimestamp: Int64?) -> ValueObject {
        var doc = ValueObject()
        doc["trackId"] = .string("local-track-" + info.name)
        doc["name"] = .string(info.name)
        doc["description"] = info.fields["description"] ?? .null
        doc["tags"] = info.fields["tags"] ?? []
        doc["metadata"] = info.fields["metadata"] ?? .null
        doc["totalDataPoints"] = .int(Int64(info.count))
        doc["nextIndex"] = .int(Int64(info.count))
        doc["createdAt"] = .string(Timestamps.iso(micros: info.createdAt))
        // Python stamps updatedAt after each append; ours is the later of the
        // last point and the last metadata update (an import's stamp).
        doc["updatedAt"] = .string(Timestamps.iso(micros: max(info.updatedAt, lastPointTimestamp ?? info.updatedAt)))
        return doc
    }

    /// The entries of files/.files_metadata.json, by id in the order the ids
    /// first appear: each id's records folded (later fields replace earlier
    /// ones in place), with Python's sessionId and deletedAt filled in.
    static func fileEntries(_ records: [FileRecord], sessionID: String) -> OrderedDictionary<String, ValueObject> {
        var entries = OrderedDictionary<String, ValueObject>()
        for r in records {
            var e = entries[r.fileID] ?? [:]
            for (k, v) in r.fields { e[k] = v }
            if r.deleted, let at = r.fields["deletedAt"], r.fields["updatedAt"] == nil { e["updatedAt"] = at }
            entries[r.fileID] = e
        }
        for (id, var e) in entries {
            if e["sessionId"] == nil || e["sessionId"] == .null { e["sessionId"] = .string(sessionID) }
            if e["deletedAt"] == nil { e["deletedAt"] = .null }
            entries[id] = e
        }
        return entries
    }

    /// One line of logs/logs.jsonl, newline included.
    static func appendLogLine(_ e: LogEntry, to w: inout PythonJSONWriter) {
        w.ascii("{\"sequenceNumber\": ")
        w.int(Int64(bitPattern: e.sequence))
        w.ascii(", \"timestamp\": \"")
        Timestamps.appendISO(micros: e.timestamp, to: &w.bytes)
        w.ascii("\", \"level\": ")
        w.string(e.level.name)
        w.ascii(", \"message\": ")
        w.string(e.message)
        if let md = e.metadata {
            w.ascii(", \"metadata\": ")
            w.compact(.object(md))
        }
        w.ascii("}\n")
    }

    /// One line of a track's data.jsonl, newline included.
    static func appendPointLine(index: UInt64, data: ValueObject, timestamp: Int64, to w: inout PythonJSONWriter) {
        appendPointLine(index: index, timestamp: timestamp, to: &w) { $0.compact(.object(data)) }
    }

    /// The line of the point `{"value": value, "step": step}`, as ``appendPointLine(index:data:timestamp:to:)``
    /// writes it, without making the object (an import checks each such line against it).
    static func appendPointLine(index: UInt64, value: Double, step: Int64, timestamp: Int64, to w: inout PythonJSONWriter) {
        appendPointLine(index: index, timestamp: timestamp, to: &w) { w in
            w.ascii("{\"value\": ")
            w.double(value)
            w.ascii(", \"step\": ")
            w.int(step)
            w.ascii("}")
        }
    }

    private static func appendPointLine(index: UInt64, timestamp: Int64, to w: inout PythonJSONWriter, data: (inout PythonJSONWriter) -> Void) {
        w.ascii("{\"index\": ")
        w.int(Int64(bitPattern: index))
        w.ascii(", \"data\": ")
        data(&w)
        w.ascii(", \"createdAt\": \"")
        Timestamps.appendISO(micros: timestamp, to: &w.bytes)
        w.ascii("\"}\n")
    }
}
