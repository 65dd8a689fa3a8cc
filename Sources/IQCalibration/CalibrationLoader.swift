import Foundation
import Yams

/// Reading the YAML file. Parsing walks the node tree by hand (not Codable) so that every
/// error carries the dotted field path and line, and unknown keys (typos such as
/// `rate_limt`) are refused instead of silently taking a default.
extension Calibration {
    public static func load(path: String) throws(CalibrationError) -> Calibration {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw CalibrationError(file: path, field: "(file)", message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(yaml: text, source: path)
    }

    public static func parse(yaml text: String, source: String? = nil) throws(CalibrationError) -> Calibration {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw CalibrationError(file: source, field: "(file)", message: "not valid YAML: \(error)")
        }
        guard let root else { throw CalibrationError(file: source, field: "(file)", message: "is empty") }
        var lines: [String: Int] = [:]
        do {
            let cal = try build(root, lines: &lines)
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

    private static func build(_ root: Node, lines: inout [String: Int]) throws(CalibrationError) -> Calibration {
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
        let link = Link(
            mode: try l.choice("mode", default: nil as LinkMode?, lines: &lines),
            observationEndpoint: try l.string("observation_endpoint", default: "tcp://127.0.0.1:5701", lines: &lines),
            actionEndpoint: try l.string("action_endpoint", default: "tcp://127.0.0.1:5702", lines: &lines),
            telemetryEndpoint: telemetry)
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
