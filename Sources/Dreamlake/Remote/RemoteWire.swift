import DreamlakeStore
import Foundation

/// What the client (``RemoteHTTP``, ``RemoteReplica``) and `dreamlake serve`
/// agree on beyond the JSON shapes of Python dreamlake's API: how tags travel
/// in a form field or a query, and how JSON is written.
package enum RemoteWire {
    /// Tags as one form field or query value: comma-joined, as Python's client
    /// sends them, unless a tag holds a comma or the list could be read as
    /// JSON: then a JSON array, which ``decodeTags(_:)`` reads back whole.
    package static func encodeTags(_ tags: [String]) -> String {
        tags.contains { $0.contains(",") } || tags.first?.hasPrefix("[") == true
            ? PythonFormat.json(.array(tags.map(Value.string))) : tags.joined(separator: ",")
    }

    /// Tags from a form field or query value: a JSON array of strings, else
    /// Python's comma-joined list (spaces around each trimmed, empty ones dropped).
    package static func decodeTags(_ text: String) -> [String] {
        if text.hasPrefix("["), case .array(let items)? = try? PythonJSONReader.parse(Array(text.utf8)),
           case let tags = items.compactMap(\.stringValue), tags.count == items.count {
            return tags
        }
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A request or response body, as Python's `json.dumps` writes it.
    package static func encode(_ value: Value) -> [UInt8] { PythonJSONWriter.compactBytes(value) }
}
