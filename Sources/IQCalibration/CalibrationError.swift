/// A calibration problem, always naming the field (dotted path, with list indices) and,
/// when it came from a file, the file and line, so the user can fix it without guessing.
public struct CalibrationError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String?
    public var line: Int?
    /// Dotted path of the offending field, e.g. `action.channels[0].rate_limit`.
    public var field: String
    public var message: String

    public init(file: String? = nil, line: Int? = nil, field: String, message: String) {
        self.file = file; self.line = line; self.field = field; self.message = message
    }

    public var description: String {
        var location = ""
        if let file { location = line.map { "\(file):\($0): " } ?? "\(file): " }
        return "\(location)\(field): \(message)"
    }
}
