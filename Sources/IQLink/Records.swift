import IQProto

/// `iqmpc.v1.RecordHeader`: the first record of a log or demonstration file.
public struct RecordHeaderInfo: Equatable, Sendable {
    public static let currentFormatVersion: UInt32 = 1
    public var formatVersion: UInt32
    public var spec: PlantSpec
    /// Who recorded it, e.g. "iqmpc-sim record --expert".
    public var source: String
    public var seed: UInt64
    public var annotations: [String: String]

    public init(formatVersion: UInt32 = RecordHeaderInfo.currentFormatVersion, spec: PlantSpec, source: String,
                seed: UInt64 = 0, annotations: [String: String] = [:]) {
        self.formatVersion = formatVersion
        self.spec = spec
        self.source = source
        self.seed = seed
        self.annotations = annotations
    }
}

/// An `iqmpc.v1.Observation` held in Swift memory (records, tests, peers).
public struct ObservationRecord: Equatable, Sendable {
    public var seq: UInt64
    public var timestampNs: UInt64
    public var values: [Float]
    public var episodeStart: Bool
    public var terminal: Bool
    public var reward: Float?
    public var episode: UInt32

    public init(seq: UInt64, timestampNs: UInt64, values: [Float], episodeStart: Bool = false,
                terminal: Bool = false, reward: Float? = nil, episode: UInt32 = 0) {
        self.seq = seq
        self.timestampNs = timestampNs
        self.values = values
        self.episodeStart = episodeStart
        self.terminal = terminal
        self.reward = reward
        self.episode = episode
    }

    /// Copies a decoded view out of the arena.
    public init(_ v: ObservationView) {
        self.init(seq: v.seq, timestampNs: v.timestampNs, values: Array(v.values), episodeStart: v.episodeStart,
                  terminal: v.terminal, reward: v.reward, episode: v.episode)
    }

    /// Bitwise equality, so that NaN payloads compare equal to themselves in round-trip tests.
    public func bitwiseEqual(_ o: ObservationRecord) -> Bool {
        seq == o.seq && timestampNs == o.timestampNs && episodeStart == o.episodeStart && terminal == o.terminal
            && reward?.bitPattern == o.reward?.bitPattern && episode == o.episode
            && values.map(\.bitPattern) == o.values.map(\.bitPattern)
    }
}

/// An `iqmpc.v1.Action` held in Swift memory.
public struct ActionRecord: Equatable, Sendable {
    public var seq: UInt64
    public var observationSeq: UInt64
    public var timestampNs: UInt64
    public var values: [Float]
    public var diagnostics: PlanDiagnostics

    public init(seq: UInt64, observationSeq: UInt64, timestampNs: UInt64, values: [Float],
                diagnostics: PlanDiagnostics = PlanDiagnostics()) {
        self.seq = seq
        self.observationSeq = observationSeq
        self.timestampNs = timestampNs
        self.values = values
        self.diagnostics = diagnostics
    }

    public init(_ v: ActionView) {
        self.init(seq: v.seq, observationSeq: v.observationSeq, timestampNs: v.timestampNs,
                  values: Array(v.values), diagnostics: v.diagnostics)
    }
}

/// `iqmpc.v1.RecordStep`: an observation and the action applied after it (absent on the
/// final observation of an episode).
public struct StepRecord: Equatable, Sendable {
    public var observation: ObservationRecord
    public var action: ActionRecord?
    public init(observation: ObservationRecord, action: ActionRecord?) {
        self.observation = observation
        self.action = action
    }
}

// MARK: - protobuf-c conversion (records are not hot path; these allocate)

extension RecordHeaderInfo {
    init(c h: UnsafePointer<Iqmpc__V1__RecordHeader>) throws(LinkError) {
        guard let spec = h.pointee.spec else { throw .invalidSpec("RecordHeader carries no spec") }
        var ann: [String: String] = [:]
        if let entries = h.pointee.annotations {
            for i in 0..<h.pointee.n_annotations {
                if let e = entries[i] { ann[cString(e.pointee.key)] = cString(e.pointee.value) }
            }
        }
        self.init(formatVersion: h.pointee.format_version, spec: try PlantSpec(c: spec),
                  source: cString(h.pointee.source), seed: h.pointee.seed, annotations: ann)
    }

    func buildC(_ scope: CScope, _ body: (UnsafeMutablePointer<Iqmpc__V1__Record>) -> Result<Int, LinkError>) -> Result<Int, LinkError> {
        spec.withC(scope) { specPtr in
            let h = scope.make(Iqmpc__V1__RecordHeader.self)
            iqmpc__v1__record_header__init(h)
            h.pointee.format_version = formatVersion
            h.pointee.spec = specPtr
            h.pointee.source = scope.string(source)
            h.pointee.seed = seed
            let keys = annotations.keys.sorted()
            if !keys.isEmpty {
                let arr = scope.array(UnsafeMutablePointer<Iqmpc__V1__RecordHeader__AnnotationsEntry>?.self, count: keys.count)
                for (i, k) in keys.enumerated() {
                    let e = scope.make(Iqmpc__V1__RecordHeader__AnnotationsEntry.self)
                    iqmpc__v1__record_header__annotations_entry__init(e)
                    e.pointee.key = scope.string(k)
                    e.pointee.value = scope.string(annotations[k] ?? "")
                    arr[i] = e
                }
                h.pointee.n_annotations = keys.count
                h.pointee.annotations = arr
            }
            let r = scope.make(Iqmpc__V1__Record.self)
            iqmpc__v1__record__init(r)
            r.pointee.body_case = IQMPC__V1__RECORD__BODY_HEADER
            r.pointee.header = h
            return body(r)
        }
    }
}

extension StepRecord {
    func buildC(_ scope: CScope, _ body: (UnsafeMutablePointer<Iqmpc__V1__Record>) -> Result<Int, LinkError>) -> Result<Int, LinkError> {
        let o = scope.make(Iqmpc__V1__Observation.self)
        iqmpc__v1__observation__init(o)
        o.pointee.seq = observation.seq
        o.pointee.timestamp_ns = observation.timestampNs
        o.pointee.n_values = observation.values.count
        o.pointee.values = scope.floats(observation.values)
        o.pointee.episode_start = observation.episodeStart ? 1 : 0
        o.pointee.terminal = observation.terminal ? 1 : 0
        o.pointee.reward_present = observation.reward == nil ? 0 : 1
        o.pointee.reward = observation.reward ?? 0
        o.pointee.episode = observation.episode
        let s = scope.make(Iqmpc__V1__RecordStep.self)
        iqmpc__v1__record_step__init(s)
        s.pointee.observation = o
        if let action {
            let d = scope.make(Iqmpc__V1__PlanDiagnostics.self)
            iqmpc__v1__plan_diagnostics__init(d)
            d.pointee.source = action.diagnostics.source.wire
            d.pointee.iterations = action.diagnostics.iterations
            d.pointee.plan_time_us = action.diagnostics.planTimeUs
            d.pointee.deadline_missed = action.diagnostics.deadlineMissed ? 1 : 0
            d.pointee.fault = action.diagnostics.fault.wire
            let a = scope.make(Iqmpc__V1__Action.self)
            iqmpc__v1__action__init(a)
            a.pointee.seq = action.seq
            a.pointee.observation_seq = action.observationSeq
            a.pointee.timestamp_ns = action.timestampNs
            a.pointee.n_values = action.values.count
            a.pointee.values = scope.floats(action.values)
            a.pointee.diagnostics = d
            s.pointee.action = a
        }
        let r = scope.make(Iqmpc__V1__Record.self)
        iqmpc__v1__record__init(r)
        r.pointee.body_case = IQMPC__V1__RECORD__BODY_STEP
        r.pointee.step = s
        return body(r)
    }
}
