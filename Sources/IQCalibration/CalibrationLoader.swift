import Foundation
import Yams

/// Reading the YAML file. Parsing walks the node tree by hand (not Codable) so that every
/// error carries the dotted field path and line, and unknown keys (typos such as
/// `rate_limt`) are refused instead of silently taking a default.
extension Calibration {
    /// Largest calibration file read (a real one is a few KiB).
    public static let maxFileBytes = 1 << 20
    /// Deepest nesting accepted (a real file nests 4 levels). The YAML composer recurses
    /// once per level and overflows the stack a few thousand levels down, so depth is
    /// bounded on the text before the parser sees it.
    public static let maxNestingDepth = 64

    public static func load(path: String) throws(CalibrationError) -> Calibration {
        let data: Data
        do {
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            if size > maxFileBytes {
                throw CalibrationError(file: path, field: "(file)", message: "is \(size) bytes, more than the \(maxFileBytes) a calibration may have")
            }
            let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? h.close() }
            data = try h.read(upToCount: maxFileBytes + 1) ?? Data()
        } catch let e as CalibrationError {
            throw e
        } catch {
            throw CalibrationError(file: path, field: "(file)", message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(data: data, source: path)
    }

    /// The file's bytes as read from disk (`load` reads, this checks size and encoding, then
    /// parses): the entry point for bytes from elsewhere, and the one the fuzzer drives.
    public static func parse(data: Data, source: String? = nil) throws(CalibrationError) -> Calibration {
        if data.count > maxFileBytes {
            throw CalibrationError(file: source, field: "(file)", message: "is more than the \(maxFileBytes) bytes a calibration may have")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CalibrationError(file: source, field: "(file)", message: "is not UTF-8 text")
        }
        return try parse(yaml: text, source: source)
    }

    public static func parse(yaml text: String, source: String? = nil) throws(CalibrationError) -> Calibration {
        if text.utf8.count > maxFileBytes {
            throw CalibrationError(file: source, field: "(file)", message: "is more than the \(maxFileBytes) bytes a calibration may have")
        }
        if let (line, depth) = YAMLDepth.firstLineDeeper(than: maxNestingDepth, in: text) {
            throw CalibrationError(file: source, line: line, field: "(file)",
                                   message: "nests \(depth) or more levels deep; at most \(maxNestingDepth) are accepted")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw CalibrationError(file: source, field: "(file)", message: "not valid YAML: \(error)")
        }
        guard let root else { throw CalibrationError(file: source, field: "(file)", message: "is empty") }
        var lines: [String: Int] = [:]
        let directory = source.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        do {
            let cal = try build(root, lines: &lines, directory: directory)
            try cal.validate()
            return cal
        } catch var e {
            e.file = source
            if e.line == nil { e.line = lines[e.field] ?? lines[parentPath(e.field)] }
            throw e
        }
    }

    private static func parentPath(_ field: String) -> String {
        guard let dot = field.lastIndex(of: ".") else { return field }
        return String(field[..<dot])
    }

    private static func build(_ root: Node, lines: inout [String: Int], directory: String?) throws(CalibrationError) -> Calibration {
        let top = try YAMLFields(root, path: "", lines: &lines)
        let version = try top.int("format_version", lines: &lines)
        if version != formatVersion {
            throw CalibrationError(line: top.line("format_version"), field: "format_version",
                message: "this runtime reads format \(formatVersion), the file says \(version)")
        }
        let robotId = try top.string("robot_id", lines: &lines)

        let obsSection = try top.fields("observation", lines: &lines)
        var observations: [ObservationChannel] = []
        for item in try obsSection.list("channels", lines: &lines) {
            let c = try YAMLFields(item.node, path: item.path, lines: &lines)
            observations.append(ObservationChannel(
                name: try c.string("name", lines: &lines),
                unit: try c.string("unit", default: "1", lines: &lines),
                offset: try c.float("offset", default: 0, lines: &lines),
                scale: try c.float("scale", default: 1, lines: &lines),
                low: try c.float("low", default: -.infinity, lines: &lines),
                high: try c.float("high", default: .infinity, lines: &lines)))
            try c.finish()
        }
        try obsSection.finish()

        let actSection = try top.fields("action", lines: &lines)
        var actions: [ActionChannel] = []
        for item in try actSection.list("channels", lines: &lines) {
            let c = try YAMLFields(item.node, path: item.path, lines: &lines)
            let low = try c.float("low", lines: &lines)
            let high = try c.float("high", lines: &lines)
            actions.append(ActionChannel(
                name: try c.string("name", lines: &lines),
                unit: try c.string("unit", default: "1", lines: &lines),
                offset: try c.float("offset", default: (high + low) / 2, lines: &lines),
                scale: try c.float("scale", default: (high - low) / 2, lines: &lines),
                low: low, high: high,
                rateLimit: try c.float("rate_limit", default: .infinity, lines: &lines),
                safe: try c.float("safe", lines: &lines)))
            try c.finish()
        }
        try actSection.finish()

        let t = try top.fields("timing", lines: &lines)
        let timing = Timing(
            controlPeriodNs: try t.milliseconds("control_period_ms", lines: &lines),
            planningBudgetNs: try t.milliseconds("planning_budget_ms", lines: &lines),
            watchdogTimeoutNs: try t.milliseconds("watchdog_timeout_ms", lines: &lines),
            maxFrameAgeNs: try t.milliseconds("max_frame_age_ms", lines: &lines),
            frameClock: try t.choice("frame_clock", default: FrameClock.sameHost, lines: &lines))
        try t.finish()

        let l = try top.fields("link", lines: &lines)
        let telemetry = try l.optionalString("telemetry_endpoint", default: "tcp://127.0.0.1:5703", lines: &lines)
        var security = Security()
        if l.has("security") {
            let sec = try l.fields("security", lines: &lines)
            func path(_ f: YAMLFields, _ key: String, required: Bool) throws(CalibrationError) -> String? {
                guard let p = try f.optionalString(key, default: nil, lines: &lines) else {
                    if required { throw CalibrationError(line: f.mapping.mark?.line, field: f.sub(key), message: "is required") }
                    return nil
                }
                if p.hasPrefix("/") || directory == nil { return p }
                return URL(fileURLWithPath: directory!).appendingPathComponent(p).path
            }
            if sec.has("curve") {
                let c = try sec.fields("curve", lines: &lines)
                security.curve = Security.Curve(
                    secretKeyFile: try path(c, "secret_key", required: true)!,
                    plantPublicKeyFile: try path(c, "plant_public_key", required: true)!,
                    authorisedKeysFile: try path(c, "authorised_keys", required: false))
                try c.finish()
            }
            security.allowInsecure = try sec.bool("allow_insecure", default: false, lines: &lines)
            try sec.finish()
        }
        let link = Link(
            mode: try l.choice("mode", default: nil as LinkMode?, lines: &lines),
            observationEndpoint: try l.string("observation_endpoint", default: "tcp://127.0.0.1:5701", lines: &lines),
            actionEndpoint: try l.string("action_endpoint", default: "tcp://127.0.0.1:5702", lines: &lines),
            telemetryEndpoint: telemetry, security: security)
        try l.finish()

        var realTime = RealTime()
        if top.has("realtime") {
            let r = try top.fields("realtime", lines: &lines)
            realTime.cpuAffinity = try r.list("cpu_affinity", required: false, lines: &lines).map { item throws(CalibrationError) in
                try YAMLFields.intValue(item.node, path: item.path)
            }
            realTime.priority = try r.int("priority", default: 0, lines: &lines)
            realTime.lockMemory = try r.bool("lock_memory", default: false, lines: &lines)
            try r.finish()
        }

        var planner = PlannerSettings()
        if top.has("planner") {
            let p = try top.fields("planner", lines: &lines)
            planner.samples = try p.optionalInt("samples", lines: &lines)
            planner.iterations = try p.optionalInt("iterations", lines: &lines)
            planner.horizon = try p.optionalInt("horizon", lines: &lines)
            planner.threads = try p.optionalInt("threads", lines: &lines)
            planner.actionSelection = try p.optionalString("action_selection", default: nil, lines: &lines)
            planner.priorAnchor = try p.optionalDouble("prior_anchor", lines: &lines)
            planner.temperature = try p.optionalDouble("temperature", lines: &lines)
            if let s = try p.optionalInt("seed", lines: &lines) {
                if s < 0 { throw CalibrationError(line: p.line("seed"), field: "planner.seed", message: "must be >= 0") }
                planner.seed = UInt64(s)
            }
            try p.finish()
        }
        try top.finish()

        return Calibration(unchecked: robotId, observations, actions, timing, link, realTime, planner)
    }

    /// Builds without validating; `parse` validates once all fields are read.
    init(unchecked robotId: String, _ observations: [ObservationChannel], _ actions: [ActionChannel],
         _ timing: Timing, _ link: Link, _ realTime: RealTime, _ planner: PlannerSettings) {
        self.robotId = robotId; self.observations = observations; self.actions = actions
        self.timing = timing; self.link = link; self.realTime = realTime; self.planner = planner
    }
}

/// A YAML mapping read key by key; remembers which keys were read so that `finish()` can
/// refuse the rest, and records each field's line for error messages.
struct YAMLFields {
    let mapping: Node.Mapping
    let path: String
    private var keys: [String: (key: Node, value: Node)] = [:]
    private let consumed = Consumed()

    final class Consumed { var names = Set<String>() }

    init(_ node: Node, path: String, lines: inout [String: Int]) throws(CalibrationError) {
        guard let m = node.mapping else {
            throw CalibrationError(line: node.mark?.line, field: path.isEmpty ? "(file)" : path,
                                   message: "must be a mapping of key: value lines")
        }
        mapping = m
        self.path = path
        for (k, v) in m {
            guard let name = k.string else {
                throw CalibrationError(line: k.mark?.line, field: path.isEmpty ? "(file)" : path, message: "has a non-string key")
            }
            if keys[name] != nil {
                throw CalibrationError(line: k.mark?.line, field: sub(name), message: "appears twice")
            }
            keys[name] = (k, v)
            lines[sub(name)] = k.mark?.line
        }
        if let l = node.mark?.line, !path.isEmpty, lines[path] == nil { lines[path] = l }
    }

    func sub(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    func has(_ key: String) -> Bool { keys[key] != nil }
    func line(_ key: String) -> Int? { keys[key]?.key.mark?.line }

    private func value(_ key: String) -> Node? {
        consumed.names.insert(key)
        guard let v = keys[key]?.value else { return nil }
        if case .scalar(let s) = v, s.style == .plain || s.style == .any, ["~", "null", "Null", "NULL", ""].contains(s.string) {
            return nil
        }
        return v
    }

    private func required(_ key: String) throws(CalibrationError) -> Node {
        guard let v = value(key) else {
            throw CalibrationError(line: mapping.mark?.line, field: sub(key), message: "is required")
        }
        return v
    }

    private func scalar(_ node: Node, _ key: String) throws(CalibrationError) -> Node.Scalar {
        guard let s = node.scalar else {
            throw CalibrationError(line: node.mark?.line, field: sub(key), message: "must be a single value, not a list or mapping")
        }
        return s
    }

    func fields(_ key: String, lines: inout [String: Int]) throws(CalibrationError) -> YAMLFields {
        try YAMLFields(try required(key), path: sub(key), lines: &lines)
    }

    func list(_ key: String, required isRequired: Bool = true, lines: inout [String: Int]) throws(CalibrationError) -> [(node: Node, path: String)] {
        guard let v = isRequired ? try required(key) : value(key) else { return [] }
        guard let seq = v.sequence else {
            throw CalibrationError(line: v.mark?.line, field: sub(key), message: "must be a list")
        }
        return seq.enumerated().map { (i, n) in
            let p = "\(sub(key))[\(i)]"
            lines[p] = n.mark?.line
            return (n, p)
        }
    }

    func string(_ key: String, default d: String? = nil, lines: inout [String: Int]) throws(CalibrationError) -> String {
        guard let v = value(key) else {
            if let d { return d }
            throw CalibrationError(line: mapping.mark?.line, field: sub(key), message: "is required")
        }
        return try scalar(v, key).string
    }

    func optionalString(_ key: String, default d: String?, lines: inout [String: Int]) throws(CalibrationError) -> String? {
        if has(key) {
            guard let v = value(key) else { return nil }
            let s = try scalar(v, key).string
            return s.isEmpty || s == "none" ? nil : s
        }
        consumed.names.insert(key)
        return d
    }

    func float(_ key: String, default d: Float? = nil, lines: inout [String: Int]) throws(CalibrationError) -> Float {
        guard let v = value(key) else {
            if let d { return d }
            throw CalibrationError(line: mapping.mark?.line, field: sub(key), message: "is required")
        }
        let s = try scalar(v, key)
        guard let x = Double.construct(from: s) else {
            throw CalibrationError(line: v.mark?.line, field: sub(key), message: "must be a number, got \"\(s.string)\"")
        }
        return Float(x)
    }

    func milliseconds(_ key: String, lines: inout [String: Int]) throws(CalibrationError) -> UInt64 {
        let v = try required(key)
        let s = try scalar(v, key)
        guard let x = Double.construct(from: s), x.isFinite, x >= 0, x < 1e9 else {
            throw CalibrationError(line: v.mark?.line, field: sub(key),
                                   message: "must be a non-negative number of milliseconds, got \"\(s.string)\"")
        }
        return UInt64((x * 1e6).rounded())
    }

    static func intValue(_ v: Node, path: String) throws(CalibrationError) -> Int {
        guard let s = v.scalar, let x = Int.construct(from: s) else {
            throw CalibrationError(line: v.mark?.line, field: path, message: "must be an integer, got \"\(v.scalar?.string ?? "a list or mapping")\"")
        }
        return x
    }

    func int(_ key: String, default d: Int? = nil, lines: inout [String: Int]) throws(CalibrationError) -> Int {
        guard let v = value(key) else {
            if let d { return d }
            throw CalibrationError(line: mapping.mark?.line, field: sub(key), message: "is required")
        }
        return try Self.intValue(v, path: sub(key))
    }

    func optionalInt(_ key: String, lines: inout [String: Int]) throws(CalibrationError) -> Int? {
        guard let v = value(key) else { return nil }
        return try Self.intValue(v, path: sub(key))
    }

    func optionalDouble(_ key: String, lines: inout [String: Int]) throws(CalibrationError) -> Double? {
        guard let v = value(key) else { return nil }
        let s = try scalar(v, key)
        guard let x = Double.construct(from: s) else {
            throw CalibrationError(line: v.mark?.line, field: sub(key), message: "must be a number, got \"\(s.string)\"")
        }
        return x
    }

    func bool(_ key: String, default d: Bool, lines: inout [String: Int]) throws(CalibrationError) -> Bool {
        guard let v = value(key) else { return d }
        guard let x = Bool.construct(from: try scalar(v, key)) else {
            throw CalibrationError(line: v.mark?.line, field: sub(key), message: "must be true or false")
        }
        return x
    }

    func choice<T: RawRepresentable & CaseIterable>(_ key: String, default d: T?, lines: inout [String: Int]) throws(CalibrationError) -> T where T.RawValue == String {
        guard let v = value(key) else {
            if let d { return d }
            throw CalibrationError(line: mapping.mark?.line, field: sub(key),
                message: "is required (one of \(T.allCases.map { $0.rawValue }.joined(separator: ", ")))")
        }
        let s = try scalar(v, key).string
        guard let x = T(rawValue: s) else {
            throw CalibrationError(line: v.mark?.line, field: sub(key),
                message: "must be one of \(T.allCases.map { $0.rawValue }.joined(separator: ", ")), got \"\(s)\"")
        }
        return x
    }

    /// Refuses keys nobody read: a misspelt optional key would otherwise be ignored.
    func finish() throws(CalibrationError) {
        for (name, kv) in keys where !consumed.names.contains(name) {
            throw CalibrationError(line: kv.key.mark?.line, field: sub(name), message: "unknown key (see Calibration/README.md)")
        }
    }
}

/// A conservative bound on a YAML text's nesting depth, computed without parsing: open
/// block indentation levels, plus compact `- ` entries and `key:` openers on a line, plus
/// unclosed flow brackets outside quotes. It may over-count (never under-count), which
/// only matters for files hundreds of times deeper than a calibration.
enum YAMLDepth {
    static func firstLineDeeper(than limit: Int, in text: String) -> (line: Int, depth: Int)? {
        var indents: [Int] = []
        var flow = 0
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.utf8
            var col = 0
            for b in line { if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") { col += 1 } else { break } }
            let body = line.dropFirst(col)
            if body.isEmpty || body.first == UInt8(ascii: "#") { continue }
            if flow == 0 {
                while let top = indents.last, top >= col { indents.removeLast() }
                indents.append(col)
            }
            var compact = 0
            var quote: UInt8? = nil
            var maxFlow = flow
            let bytes = Array(body)
            for (i, b) in bytes.enumerated() {
                let next = i + 1 < bytes.count ? bytes[i + 1] : UInt8(ascii: " ")
                let previous = i > 0 ? bytes[i - 1] : UInt8(ascii: " ")
                if let q = quote {
                    if b == q { quote = nil }
                } else if b == UInt8(ascii: "#") && previous == UInt8(ascii: " ") {
                    break
                } else if b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") {
                    quote = b
                } else if b == UInt8(ascii: "[") || b == UInt8(ascii: "{") {
                    flow += 1; maxFlow = max(maxFlow, flow)
                } else if b == UInt8(ascii: "]") || b == UInt8(ascii: "}") {
                    flow = max(0, flow - 1)
                } else if (b == UInt8(ascii: "-") || b == UInt8(ascii: "?") || b == UInt8(ascii: ":"))
                            && (next == UInt8(ascii: " ") || next == UInt8(ascii: "\t")) {
                    compact += 1   // a block indicator: may open one more level
                }
            }
            let depth = indents.count + compact + maxFlow
            if depth > limit { return (lineNumber, depth) }
        }
        return nil
    }
}
