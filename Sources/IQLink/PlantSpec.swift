import IQProto

/// Swift mirror of `iqmpc.v1.RobotSpec`: what a plant is, and the contract the controller's
/// model and calibration must match. Plants build it, the handshake carries it, record
/// headers store it. Against a calibration it is compared by `Calibration.mismatches(with:peer:checks:)`
/// (IQCalibration), field by field, so that a refusal says exactly what differs; spec against
/// spec, by `mismatches(against:)` below.
public struct PlantSpec: Equatable, Sendable, CustomStringConvertible {
    /// One named observation or action channel.
    public struct Channel: Equatable, Sendable {
        public var name: String
        public var unit: String
        /// Physical lower bound; for actions the hard actuator limit.
        public var low: Float
        /// Physical upper bound; for actions the hard actuator limit.
        public var high: Float
        public init(name: String, unit: String, low: Float, high: Float) {
            self.name = name
            self.unit = unit
            self.low = low
            self.high = high
        }
    }

    public var robotId: String
    public var observations: [Channel]
    public var actions: [Channel]
    public var controlPeriodNs: UInt64
    /// Agent steps per episode; 0 = unbounded (a real robot).
    public var episodeLength: UInt32

    public var obsDim: Int { observations.count }
    public var actDim: Int { actions.count }

    public init(robotId: String, observations: [Channel], actions: [Channel],
                controlPeriodNs: UInt64, episodeLength: UInt32) {
        self.robotId = robotId
        self.observations = observations
        self.actions = actions
        self.controlPeriodNs = controlPeriodNs
        self.episodeLength = episodeLength
    }

    public var description: String {
        "\(robotId) (obs \(obsDim), act \(actDim), period \(controlPeriodNs) ns, episode \(episodeLength))"
    }

    /// Checks the protocol's structural rules; every problem found is listed.
    public func validationProblems() -> [String] {
        var problems: [String] = []
        if robotId.isEmpty { problems.append("robotId is empty") }
        if obsDim < 1 || obsDim > LinkBounds.maxObsDim {
            problems.append("obsDim \(obsDim) is outside 1...\(LinkBounds.maxObsDim)")
        }
        if actDim < 1 || actDim > LinkBounds.maxActDim {
            problems.append("actDim \(actDim) is outside 1...\(LinkBounds.maxActDim)")
        }
        if controlPeriodNs == 0 { problems.append("controlPeriodNs is 0") }
        for (label, channels) in [("observations", observations), ("actions", actions)] {
            for (i, c) in channels.enumerated() {
                let at = "\(label)[\(i)]"
                if c.name.isEmpty { problems.append("\(at).name is empty") }
                if c.name.utf8.count > LinkBounds.maxNameBytes {
                    problems.append("\(at).name is \(c.name.utf8.count) bytes (max \(LinkBounds.maxNameBytes))")
                }
                if c.unit.utf8.count > LinkBounds.maxNameBytes {
                    problems.append("\(at).unit is \(c.unit.utf8.count) bytes (max \(LinkBounds.maxNameBytes))")
                }
                // Observation bounds may be infinite ("unbounded", the calibration's default);
                // actuator limits may not. NaN never (Proto/iqmpc.proto, Channel).
                if c.low.isNaN || c.high.isNaN { problems.append("\(at) bounds are NaN (\(c.low), \(c.high))") }
                else if label == "actions" && (!c.low.isFinite || !c.high.isFinite) {
                    problems.append("\(at) actuator limits are not finite (\(c.low), \(c.high))")
                } else if c.low > c.high { problems.append("\(at).low \(c.low) > high \(c.high)") }
            }
        }
        return problems
    }

    /// Throws `LinkError.invalidSpec` listing every structural problem.
    public func validate() throws(LinkError) {
        let problems = validationProblems()
        if !problems.isEmpty { throw .invalidSpec(problems.joined(separator: "; ")) }
    }

    /// Field-by-field differences between this (the plant's) spec and `expected` (the
    /// controller's), one human-readable line each, empty when they match.
    /// Bounds are compared with a relative `tolerance` because they travel as float32 and
    /// may come from YAML; names, units, dimensions and the period must match exactly.
    public func mismatches(against expected: PlantSpec, tolerance: Float = 1e-6) -> [String] {
        var out: [String] = []
        if robotId != expected.robotId { out.append("robotId: plant \"\(robotId)\", expected \"\(expected.robotId)\"") }
        if obsDim != expected.obsDim { out.append("obsDim: plant \(obsDim), expected \(expected.obsDim)") }
        if actDim != expected.actDim { out.append("actDim: plant \(actDim), expected \(expected.actDim)") }
        if controlPeriodNs != expected.controlPeriodNs {
            out.append("controlPeriodNs: plant \(controlPeriodNs), expected \(expected.controlPeriodNs)")
        }
        if episodeLength != expected.episodeLength {
            out.append("episodeLength: plant \(episodeLength), expected \(expected.episodeLength)")
        }
        func close(_ a: Float, _ b: Float) -> Bool {
            a == b || abs(a - b) <= tolerance * max(1, max(abs(a), abs(b)))
        }
        for (label, mine, theirs) in [("observations", observations, expected.observations),
                                      ("actions", actions, expected.actions)] {
            for i in 0..<min(mine.count, theirs.count) {
                let a = mine[i], b = theirs[i]
                let at = "\(label)[\(i)]"
                if a.name != b.name { out.append("\(at).name: plant \"\(a.name)\", expected \"\(b.name)\"") }
                if a.unit != b.unit { out.append("\(at).unit (\(b.name)): plant \"\(a.unit)\", expected \"\(b.unit)\"") }
                if !close(a.low, b.low) { out.append("\(at).low (\(b.name)): plant \(a.low), expected \(b.low)") }
                if !close(a.high, b.high) { out.append("\(at).high (\(b.name)): plant \(a.high), expected \(b.high)") }
            }
        }
        return out
    }

    /// All mismatches as one sentence for an `Error.message`, or `nil` when the specs match.
    public func mismatchSummary(against expected: PlantSpec, tolerance: Float = 1e-6) -> String? {
        let m = mismatches(against: expected, tolerance: tolerance)
        return m.isEmpty ? nil : m.joined(separator: "; ")
    }
}

// MARK: - Conversion to and from protobuf-c (handshake and record headers; allocates).

extension PlantSpec {
    /// Reads a decoded `RobotSpec`. Strict: dimensions must agree with the channel lists
    /// and lie within the protocol bounds, so nothing downstream needs to re-check.
    init(c spec: UnsafePointer<Iqmpc__V1__RobotSpec>) throws(LinkError) {
        let s = spec.pointee
        func channels(_ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<Iqmpc__V1__Channel>?>?) -> [Channel] {
            guard n > 0, let p else { return [] }
            return (0..<n).map { i in
                guard let c = p[i] else { return Channel(name: "", unit: "", low: 0, high: 0) }
                return Channel(name: cString(c.pointee.name), unit: cString(c.pointee.unit),
                               low: c.pointee.low, high: c.pointee.high)
            }
        }
        if s.n_observations > LinkBounds.maxObsDim {
            throw .dimensionOutOfBounds(field: .observationChannels, count: s.n_observations, limit: LinkBounds.maxObsDim)
        }
        if s.n_actions > LinkBounds.maxActDim {
            throw .dimensionOutOfBounds(field: .actionChannels, count: s.n_actions, limit: LinkBounds.maxActDim)
        }
        self.init(robotId: cString(s.robot_id),
                  observations: channels(s.n_observations, s.observations),
                  actions: channels(s.n_actions, s.actions),
                  controlPeriodNs: s.control_period_ns, episodeLength: s.episode_length)
        if Int(s.obs_dim) != s.n_observations {
            throw .invalidSpec("obs_dim is \(s.obs_dim) but \(s.n_observations) observation channels are described")
        }
        if Int(s.act_dim) != s.n_actions {
            throw .invalidSpec("act_dim is \(s.act_dim) but \(s.n_actions) action channels are described")
        }
        try validate()
    }

    /// Builds a protobuf-c `RobotSpec` in memory owned by `scope` and returns it.
    func withC<R>(_ scope: CScope, _ body: (UnsafeMutablePointer<Iqmpc__V1__RobotSpec>) throws -> R) rethrows -> R {
        let spec = scope.make(Iqmpc__V1__RobotSpec.self)
        iqmpc__v1__robot_spec__init(spec)
        spec.pointee.robot_id = scope.string(robotId)
        spec.pointee.obs_dim = UInt32(obsDim)
        spec.pointee.act_dim = UInt32(actDim)
        spec.pointee.control_period_ns = controlPeriodNs
        spec.pointee.episode_length = episodeLength
        func build(_ chans: [Channel]) -> UnsafeMutablePointer<UnsafeMutablePointer<Iqmpc__V1__Channel>?>? {
            guard !chans.isEmpty else { return nil }
            let array = scope.array(UnsafeMutablePointer<Iqmpc__V1__Channel>?.self, count: chans.count)
            for (i, ch) in chans.enumerated() {
                let c = scope.make(Iqmpc__V1__Channel.self)
                iqmpc__v1__channel__init(c)
                c.pointee.name = scope.string(ch.name)
                c.pointee.unit = scope.string(ch.unit)
                c.pointee.low = ch.low
                c.pointee.high = ch.high
                array[i] = c
            }
            return array
        }
        spec.pointee.n_observations = observations.count
        spec.pointee.observations = build(observations)
        spec.pointee.n_actions = actions.count
        spec.pointee.actions = build(actions)
        return try body(spec)
    }
}

/// protobuf-c's empty-string default is a shared static; NULL also means empty.
func cString(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    return String(cString: p)
}

/// Owns the C memory behind a message being built for packing (handshake, records), and
/// frees it all at once. Not for the hot path: every call allocates.
final class CScope {
    private var blocks: [UnsafeMutableRawPointer] = []

    func make<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.stride, alignment: MemoryLayout<T>.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.stride)
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: 1)
    }

    func array<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let bytes = MemoryLayout<T>.stride * max(count, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: MemoryLayout<T>.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: count)
    }

    func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(s.utf8)
        let p = array(CChar.self, count: utf8.count + 1)
        for (i, b) in utf8.enumerated() { p[i] = CChar(bitPattern: b) }
        p[utf8.count] = 0
        return p
    }

    func floats(_ values: [Float]) -> UnsafeMutablePointer<Float>? {
        guard !values.isEmpty else { return nil }
        let p = array(Float.self, count: values.count)
        for (i, v) in values.enumerated() { p[i] = v }
        return p
    }

    deinit { for b in blocks { b.deallocate() } }
}
