// What users of the session API need from the engine: values, levels,
// durability and the store's errors.
@_exported import DreamlakeStore
@_exported import struct OrderedCollections.OrderedDictionary
