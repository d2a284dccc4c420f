// What users of the session API need from the engine: values, levels,
// durability and the store's errors. The whole engine comes with them, on
// purpose: the session API's own types are built of its values (`Value`,
// `ValueObject`, `LogLevel`, `Durability`, `StoreError` inside
// `DreamlakeError.storeError`), and a user who wants the engine itself
// (`Store`, `Store.verify`) should not need a second import. Its internals
// stay `internal` or `package`: `@_exported` carries only what is public.
@_exported import DreamlakeStore
@_exported import struct OrderedCollections.OrderedDictionary
