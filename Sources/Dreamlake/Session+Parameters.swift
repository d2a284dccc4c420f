extension Session {
    /// The session's parameters (hyperparameters, configuration).
    public var parameters: Parameters { Parameters(session: self) }
}

/// Sets and reads a session's parameters. Nested input is flattened to dot
/// keys (`["model": ["lr": 0.01]]` is stored as `"model.lr": 0.01`); each
/// `set` merges into what is there, as Python dreamlake does.
public struct Parameters: Sendable {
    let session: Session

    /// Merges `values` into the parameters, flattening nested objects to dot keys.
    public func set(_ values: KeyValuePairs<String, any ValueConvertible>) throws(DreamlakeError) {
        try set(object: ValueObject(pairs: values))
    }

    /// Merges an object of values into the parameters, flattening nested objects to dot keys.
    public func set(object values: ValueObject) throws(DreamlakeError) {
        let store = try session.requireWritableStore()
        let flat = Parameters.flatten(values)
        guard !flat.isEmpty else { return }
        do { try store.appendParameters(flat) } catch { throw DreamlakeError(error) }
    }

    /// Merges any `Encodable` value (a configuration struct, say) into the
    /// parameters: its properties, in the order it encodes them, flattened to dot keys.
    public func set<T: Encodable>(_ config: T) throws(DreamlakeError) {
        guard case .object(let o) = try ValueEncoding.encode(config) else {
            throw DreamlakeError(.invalidValue, "\(T.self) does not encode as an object of named values, so it cannot be parameters")
        }
        try set(object: o)
    }

    /// The parameters: flat with dot keys (the default), or nested back into objects.
    public func get(flatten: Bool = true) throws(DreamlakeError) -> ValueObject {
        let merged = try session.backend().parameters()
        return flatten ? merged : Parameters.unflatten(merged)
    }

    /// The parameters as a `Decodable` type (the configuration struct given to
    /// ``set(_:)-(T)``, say): dot keys are nested back into objects first.
    ///
    /// - Throws: ``DreamlakeError`` with `.invalidValue` naming the key that is
    ///   missing or of the wrong type; `.notOpen` when the session is not open.
    public func get<T: Decodable>(as type: T.Type) throws(DreamlakeError) -> T {
        try ValueDecoding.decode(T.self, from: .object(get(flatten: false)))
    }

    /// `{"a": {"b": 1}, "c": 2}` becomes `{"a.b": 1, "c": 2}`, in order, as Python's `flatten_dict` does.
    static func flatten(_ o: ValueObject, prefix: String = "") -> ValueObject {
        var out = ValueObject()
        for (k, v) in o {
            let key = prefix.isEmpty ? k : prefix + "." + k
            if case .object(let inner) = v, !inner.isEmpty {
                for (ik, iv) in flatten(inner, prefix: key) { out[ik] = iv }
            } else {
                out[key] = v
            }
        }
        return out
    }

    /// `{"a.b": 1, "c": 2}` becomes `{"a": {"b": 1}, "c": 2}`.
    static func unflatten(_ flat: ValueObject) -> ValueObject {
        var out = ValueObject()
        for (k, v) in flat {
            insert(&out, path: k.split(separator: ".", omittingEmptySubsequences: false).map(String.init)[...], value: v)
        }
        return out
    }

    private static func insert(_ o: inout ValueObject, path: ArraySlice<String>, value: Value) {
        guard let head = path.first else { return }
        if path.count == 1 {
            o[head] = value
            return
        }
        var inner = o[head]?.objectValue ?? [:]
        insert(&inner, path: path.dropFirst(), value: value)
        o[head] = .object(inner)
    }
}
