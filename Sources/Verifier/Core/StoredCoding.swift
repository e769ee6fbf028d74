import Foundation

// How stored values are coded: what synthesized `Codable` needs to keep the result's JSON
// contract (every figure's key present, `null` when not measured) and to read what older
// versions wrote (keys they did not have), so that each field is declared once.

/// An optional field that is written as `null` when it is `nil` (synthesized `Codable` would
/// leave the key out) and read as `nil` when its key is missing (a result stored before the
/// field existed). The result's JSON is a contract: every figure's key is there, measured or not.
@propertyWrapper
public struct NullWhenAbsent<Wrapped: Codable & Sendable>: Codable, Sendable {
    /// The field's value.
    public var wrappedValue: Wrapped?

    /// Wraps `wrappedValue`.
    public init(wrappedValue: Wrapped?) {
        self.wrappedValue = wrappedValue
    }

    /// Reads the value, `nil` for `null` (a missing key is handled by the keyed container).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Wrapped.self)
    }

    /// Writes the value, or `null`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        // Through the container (not `Optional.encode(to:)`), so that the encoder's date and
        // float strategies apply to the value.
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension NullWhenAbsent: Equatable where Wrapped: Equatable {}

/// A type with the value that stands for it in a record stored before the field existed
/// (e.g. a result's `status` before runs could end otherwise than completed).
public protocol DefaultWhenAbsent: Codable, Sendable {
    /// What a record without the field means.
    static var valueWhenAbsent: Self { get }
}

/// A field that is read as its type's ``DefaultWhenAbsent/valueWhenAbsent`` when its key is
/// missing (a record stored before the field existed), and written as it is.
@propertyWrapper
public struct DefaultedWhenAbsent<Value: DefaultWhenAbsent>: Codable, Sendable {
    /// The field's value.
    public var wrappedValue: Value

    /// Wraps `wrappedValue`.
    public init(wrappedValue: Value) {
        self.wrappedValue = wrappedValue
    }

    /// Reads the value (a missing key is handled by the keyed container).
    public init(from decoder: any Decoder) throws {
        wrappedValue = try decoder.singleValueContainer().decode(Value.self)
    }

    /// Writes the value.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue)
    }
}

extension DefaultedWhenAbsent: Equatable where Value: Equatable {}

extension KeyedDecodingContainer {
    /// A missing key or `null` is `nil`: synthesized `Codable` calls this for a
    /// ``NullWhenAbsent`` field instead of the generic `decode`, which would throw `keyNotFound`.
    public func decode<Wrapped>(_ type: NullWhenAbsent<Wrapped>.Type, forKey key: Key) throws -> NullWhenAbsent<Wrapped> {
        NullWhenAbsent(wrappedValue: try decodeIfPresent(Wrapped.self, forKey: key))
    }

    /// A missing key is the type's value when absent: synthesized `Codable` calls this for a
    /// ``DefaultedWhenAbsent`` field instead of the generic `decode`.
    public func decode<Value>(_ type: DefaultedWhenAbsent<Value>.Type, forKey key: Key) throws -> DefaultedWhenAbsent<Value> {
        DefaultedWhenAbsent(wrappedValue: try decodeIfPresent(Value.self, forKey: key) ?? Value.valueWhenAbsent)
    }
}

extension KeyedDecodingContainer {
    /// memeater's counter around the migration call, as ``MemeaterObservation`` stores it: a
    /// ``Looked``, or, stored before it could say why it was not measured, the bare
    /// ``GuestLoadDuringMigration`` (read as seen). Synthesized `Codable` calls this for the
    /// optional field instead of the generic `decodeIfPresent`.
    func decodeIfPresent(_ type: Looked<GuestLoadDuringMigration>.Type, forKey key: Key) throws -> Looked<GuestLoadDuringMigration>? {
        try decodeIfPresent(StoredGuestLoad.self, forKey: key)?.value
    }
}

/// A stored ``Looked``<``GuestLoadDuringMigration``> in either of its shapes (see above).
private struct StoredGuestLoad: Decodable {
    let value: Looked<GuestLoadDuringMigration>

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        do {
            value = try container.decode(Looked<GuestLoadDuringMigration>.self)
        } catch let lookedError {
            // The older shape; when it is not that either, the error of today's shape says why.
            guard let bare = try? container.decode(GuestLoadDuringMigration.self) else { throw lookedError }
            value = .seen(bare)
        }
    }
}

// `MigrationOutcome` keeps the source daemon's log errors as a `Result`; the standard
// library gives `Result` no `Codable`, so the stored observation codes it as an object with
// one key, `success` or `failure` (as Swift codes an enum case with one value).
private enum ResultCodingKeys: String, CodingKey {
    case success, failure
}

extension Result: @retroactive Encodable where Success: Encodable, Failure: Encodable {
    /// `{"success": value}` or `{"failure": error}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: ResultCodingKeys.self)
        switch self {
        case .success(let value): try container.encode(value, forKey: .success)
        case .failure(let error): try container.encode(error, forKey: .failure)
        }
    }
}

extension Result: @retroactive Decodable where Success: Decodable, Failure: Decodable {
    /// Reads `{"success": value}` or `{"failure": error}`; anything else is corrupt data.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: ResultCodingKeys.self)
        if let value = try container.decodeIfPresent(Success.self, forKey: .success) {
            self = .success(value)
        } else if let error = try container.decodeIfPresent(Failure.self, forKey: .failure) {
            self = .failure(error)
        } else {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath,
                                                                    debugDescription: "a Result needs the key success or failure"))
        }
    }
}
