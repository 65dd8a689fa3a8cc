import Foundation
import IQJSON

/// One line of the trainer's metrics file (JSON Lines): what the line is (`kind`: "update" or
/// "eval") and its numbers by name. The trainer writes it and the report reads it, through
/// this one type. A non-finite number is written as null and read back as absent.
public struct MetricsRecord: Codable, Sendable, Equatable {
    public var kind: String
    public var values: [String: Double]

    public init(kind: String, values: [String: Double]) {
        self.kind = kind
        self.values = values
    }

    static let kindKey = "kind"

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: StrictJSON.AnyKey.self)
        kind = try c.decode(String.self, forKey: .init(Self.kindKey))
        values = [:]
        for k in c.allKeys where k.stringValue != Self.kindKey {
            if let v = try c.decodeIfPresent(Double.self, forKey: k) { values[k.stringValue] = v }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: StrictJSON.AnyKey.self)
        try c.encode(kind, forKey: .init(Self.kindKey))
        for (k, v) in values where k != Self.kindKey {
            if v.isFinite { try c.encode(v, forKey: .init(k)) } else { try c.encodeNil(forKey: .init(k)) }
        }
    }

    /// The record as one line (no trailing newline).
    public var line: String {
        // Strings and finite numbers only: cannot fail.
        try! StrictJSON.encode(self)
    }

    /// Every record of a metrics file. A malformed line is an error naming it, except a last
    /// line without its newline, which an interrupted run may have left half-written.
    public static func load(path: String) throws -> [MetricsRecord] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw StrictJSON.Failure("cannot read \(path): \(error.localizedDescription)")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var out: [MetricsRecord] = []
        for (i, line) in lines.enumerated() where !line.isEmpty {
            do { out.append(try StrictJSON.decode(MetricsRecord.self, from: String(line))) } catch {
                if i == lines.count - 1 { break }
                throw StrictJSON.Failure("\(path) line \(i + 1): \(error)")
            }
        }
        return out
    }
}
