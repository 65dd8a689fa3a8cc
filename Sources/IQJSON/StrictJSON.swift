import Foundation

/// JSON read from files this program did not necessarily write (weights headers, metrics,
/// benchmark output): Foundation's `JSONDecoder` builds the typed value, and this adds the
/// checks it leaves out. Foundation accepts duplicate keys (keeping one silently), trailing
/// commas, and reports syntax errors without a position; a weights file that shows one
/// tensor to this reader and another to a Python reader must be refused instead.
///
/// So before decoding, one pass over the bytes checks the JSON grammar (RFC 8259), rejects
/// duplicate object keys and nesting deeper than `maxDepth`, and names the byte offset of
/// the first problem. Types that must refuse unknown keys call `rejectUnknownKeys`.
/// Integers decode exactly (Foundation parses integer literals without going through Double
/// and refuses fractions and out-of-range values for `Int`).
public enum StrictJSON {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    public static let maxDepth = 32

    /// Validates, then decodes. Errors say where: a byte offset for syntax, the key path for types.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(Failure) -> T {
        try validate(bytes)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let e as DecodingError {
            throw Failure(describe(e))
        } catch let e as Failure {
            throw e
        } catch {
            throw Failure("\(error)")
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws(Failure) -> T {
        try decode(type, from: Array(text.utf8))
    }

    /// One line of compact JSON with sorted keys: the same value always gives the same bytes.
    public static func encode<T: Encodable>(_ value: T) throws(Failure) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return String(decoding: try e.encode(value), as: UTF8.self) } catch {
            throw Failure("cannot encode \(T.self) as JSON: \(error)")
        }
    }

    /// A command's `--json` output: `encode` with camelCase property names written in
    /// snake_case and non-finite numbers as the strings "nan", "inf", "-inf" (JSON has none).
    public static func output<T: Encodable>(_ value: T) throws(Failure) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.keyEncodingStrategy = .convertToSnakeCase
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return String(decoding: try e.encode(value), as: UTF8.self) } catch {
            throw Failure("cannot encode \(T.self) as JSON: \(error)")
        }
    }

    /// Throws unless every key of the object being decoded is one of `keys`: for types whose
    /// input must not carry fields this build would silently ignore.
    public static func rejectUnknownKeys<K: CodingKey & CaseIterable>(_ decoder: any Decoder, _ keys: K.Type) throws {
        let known = Set(K.allCases.map(\.stringValue))
        let all = try decoder.container(keyedBy: AnyKey.self)
        if let bad = all.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [AnyKey(bad)],
                                                    debugDescription: "unknown field \"\(bad)\""))
        }
    }

    /// A measured figure that may be undefined (a correlation of a constant series): written
    /// as null when not finite, where readers expect a number or nothing.
    public struct Figure: Encodable, Equatable {
        public let value: Double
        public init(_ value: Double) { self.value = value }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            if value.isFinite { try c.encode(value) } else { try c.encodeNil() }
        }
    }

    /// A key with any name, for objects whose keys are data (tensor names, metric names).
    public struct AnyKey: CodingKey, Hashable {
        public let stringValue: String
        public var intValue: Int? { nil }
        public init(_ s: String) { stringValue = s }
        public init?(stringValue: String) { self.stringValue = stringValue }
        public init?(intValue: Int) { nil }
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.isEmpty ? "top level" : c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch e {
        case .typeMismatch(let t, let c): return "\(path(c)): expected \(t) (\(c.debugDescription))"
        case .valueNotFound(let t, let c): return "\(path(c)): missing \(t) value"
        case .keyNotFound(let k, let c): return "\(path(c)): missing field \"\(k.stringValue)\""
        case .dataCorrupted(let c) where c.codingPath.isEmpty && c.underlyingError == nil:
            // The grammar already passed, so Foundation is refusing a number for its type.
            return "a number does not fit its field (a fraction or an out-of-range value where an integer belongs)"
        case .dataCorrupted(let c): return "\(path(c)): \(c.debugDescription)"
        @unknown default: return "\(e)"
        }
    }

    // MARK: Grammar check

    public static func validate(_ bytes: [UInt8]) throws(Failure) {
        var s = Scanner(b: bytes)
        s.space()
        try s.value(depth: 0)
        s.space()
        if s.i != bytes.count { throw s.fail("unexpected bytes after the JSON value") }
    }

    struct Scanner {
        let b: [UInt8]
        var i = 0

        func fail(_ m: String) -> Failure { Failure("JSON at byte \(i): \(m)") }

        mutating func space() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ c: UInt8, _ what: String) throws(Failure) {
            guard i < b.count, b[i] == c else { throw fail(i < b.count ? "expected \(what)" : "unexpected end, expected \(what)") }
            i += 1
        }

        mutating func value(depth: Int) throws(Failure) {
            guard depth < StrictJSON.maxDepth else { throw fail("nesting deeper than \(StrictJSON.maxDepth)") }
            guard i < b.count else { throw fail("unexpected end, expected a value") }
            switch b[i] {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["):
                i += 1; space()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return }
                while true {
                    try value(depth: depth + 1); space()
                    if i < b.count, b[i] == UInt8(ascii: ",") { i += 1; space(); continue }
                    try expect(UInt8(ascii: "]"), "',' or ']'"); return
                }
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default: throw fail("unexpected character")
            }
        }

        mutating func object(depth: Int) throws(Failure) {
            i += 1; space()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return }
            var keys = Set<String>()
            while true {
                let at = i
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                guard keys.insert(key).inserted else { throw Failure("JSON at byte \(at): duplicate key \"\(key)\"") }
                space(); try expect(UInt8(ascii: ":"), "':'"); space()
                try value(depth: depth + 1); space()
                if i < b.count, b[i] == UInt8(ascii: ",") { i += 1; space(); continue }
                try expect(UInt8(ascii: "}"), "',' or '}'"); return
            }
        }

        mutating func literal(_ word: String) throws(Failure) {
            for c in word.utf8 {
                guard i < b.count, b[i] == c else { throw fail("invalid literal (expected \(word))") }
                i += 1
            }
        }

        mutating func digits() throws(Failure) {
            guard i < b.count, b[i] >= 0x30 && b[i] <= 0x39 else { throw fail("expected a digit") }
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
        }

        mutating func number() throws(Failure) {
            if b[i] == UInt8(ascii: "-") { i += 1 }
            if i < b.count, b[i] == UInt8(ascii: "0") { i += 1 } else { try digits() }
            if i < b.count, b[i] == UInt8(ascii: ".") { i += 1; try digits() }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                try digits()
            }
        }

        /// A string literal starting at the opening quote; returns its decoded value (keys
        /// written with different escapes are still the same key).
        mutating func string() throws(Failure) -> String {
            i += 1
            var run = i
            var units = [UInt16]()
            func flush(_ end: Int) { units.append(contentsOf: String(decoding: b[run..<end], as: UTF8.self).utf16) }
            while true {
                guard i < b.count else { throw fail("unterminated string") }
                let c = b[i]
                if c == UInt8(ascii: "\"") { flush(i); i += 1; break }
                if c < 0x20 { throw fail("control character in a string") }
                if c != UInt8(ascii: "\\") { i += 1; continue }
                flush(i); i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                switch b[i] {
                case UInt8(ascii: "\""): units.append(0x22)
                case UInt8(ascii: "\\"): units.append(0x5C)
                case UInt8(ascii: "/"): units.append(0x2F)
                case UInt8(ascii: "b"): units.append(0x08)
                case UInt8(ascii: "f"): units.append(0x0C)
                case UInt8(ascii: "n"): units.append(0x0A)
                case UInt8(ascii: "r"): units.append(0x0D)
                case UInt8(ascii: "t"): units.append(0x09)
                case UInt8(ascii: "u"):
                    let hex = i + 4 < b.count ? b[(i + 1)...(i + 4)] : []
                    guard hex.count == 4, hex.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }),
                          let v = UInt16(String(decoding: hex, as: UTF8.self), radix: 16) else {
                        throw fail("invalid \\u escape")
                    }
                    units.append(v); i += 4
                default: throw fail("invalid escape")
                }
                i += 1; run = i
            }
            return String(decoding: units, as: UTF16.self)
        }
    }
}
