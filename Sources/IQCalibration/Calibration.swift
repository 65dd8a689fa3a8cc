/// IQCalibration: the per-robot numbers that sit between the wire (physical units) and the
/// model (normalised units), plus the deployment settings of one robot computer.
///
/// API (see Calibration/README.md for the file format):
/// - `Calibration.load(path:)` / `Calibration.parse(yaml:source:)` read and validate a YAML
///   file; every error is a `CalibrationError` naming the offending field.
/// - `normalise(observation:into:)` maps raw sensor values to model inputs,
///   `denormalise(action:into:)` maps the model's actions in [-1, 1] to physical commands and
///   `normalise(action:into:)` is its inverse (demonstrations → model actions). The trainer
///   and the runtime both call these, so training and deployment see the same numbers.
/// - `mappingHash` / `mappingMetadata()` fingerprint that mapping for the weights file, and
///   `checkMapping(against:allowMismatch:)` refuses (or warns about) a calibration that
///   differs from the one the weights were trained with.
/// - `check(obsDim:actDim:)` validates the file against a model's dimensions.
/// Limits, rate limits and the safe action are applied by the runtime's safety supervisor.
public struct Calibration: Sendable, Equatable {
    /// Version of the file format this code reads.
    public static let formatVersion = 1

    /// One observation channel: `model input = (raw - offset) / scale`.
    public struct ObservationChannel: Sendable, Equatable {
        public var name: String
        public var unit: String
        public var offset: Float
        public var scale: Float
        /// Accepted raw range; a value outside it is refused as FAULT_OUT_OF_RANGE.
        public var low: Float
        public var high: Float
        public init(name: String, unit: String, offset: Float, scale: Float,
                    low: Float = -.infinity, high: Float = .infinity) {
            self.name = name; self.unit = unit; self.offset = offset; self.scale = scale
            self.low = low; self.high = high
        }
    }

    /// One action channel: `physical = offset + scale * a` for a model action `a` in [-1, 1].
    public struct ActionChannel: Sendable, Equatable {
        public var name: String
        public var unit: String
        public var offset: Float
        public var scale: Float
        /// Hard limits in physical units; every command sent is clamped into them.
        public var low: Float
        public var high: Float
        /// Largest change per second in physical units (`.infinity` = unlimited).
        public var rateLimit: Float
        /// Command sent on any fault, on watchdog expiry and at shutdown.
        public var safe: Float
        public init(name: String, unit: String, offset: Float, scale: Float, low: Float, high: Float,
                    rateLimit: Float = .infinity, safe: Float = 0) {
            self.name = name; self.unit = unit; self.offset = offset; self.scale = scale
            self.low = low; self.high = high; self.rateLimit = rateLimit; self.safe = safe
        }
    }

    public enum LinkMode: String, Sendable, Equatable, CaseIterable {
        case lockstep
        case freeRunning = "free-running"
    }

    /// Which clock a frame's age is measured against (Proto/README.md, "Staleness").
    public enum FrameClock: String, Sendable, Equatable, CaseIterable {
        /// The plant stamps frames with CLOCK_MONOTONIC of this same computer.
        case sameHost = "same-host"
        /// The plant's clock is unrelated: age is measured from the receive time.
        case receive
    }

    public struct Timing: Sendable, Equatable {
        public var controlPeriodNs: UInt64
        /// Time the planner may spend on one frame (its deadline is receive time + budget).
        public var planningBudgetNs: UInt64
        /// No frame for this long: the safe action is pushed (free-running) and counted.
        public var watchdogTimeoutNs: UInt64
        /// Older frames are answered with the safe action (FAULT_STALE).
        public var maxFrameAgeNs: UInt64
        public var frameClock: FrameClock
        public init(controlPeriodNs: UInt64, planningBudgetNs: UInt64, watchdogTimeoutNs: UInt64,
                    maxFrameAgeNs: UInt64, frameClock: FrameClock = .sameHost) {
            self.controlPeriodNs = controlPeriodNs; self.planningBudgetNs = planningBudgetNs
            self.watchdogTimeoutNs = watchdogTimeoutNs; self.maxFrameAgeNs = maxFrameAgeNs
            self.frameClock = frameClock
        }
    }

    public struct Link: Sendable, Equatable {
        public var mode: LinkMode
        /// Observations (free-running) or the lockstep REQ/REP pair; bound by the plant.
        public var observationEndpoint: String
        /// Actions (free-running only); bound by the plant.
        public var actionEndpoint: String
        /// Telemetry PUB socket bound by the runtime; nil = no telemetry socket.
        public var telemetryEndpoint: String?
        public var security: Security
        public init(mode: LinkMode, observationEndpoint: String, actionEndpoint: String,
                    telemetryEndpoint: String?, security: Security = Security()) {
            self.mode = mode; self.observationEndpoint = observationEndpoint
            self.actionEndpoint = actionEndpoint; self.telemetryEndpoint = telemetryEndpoint
            self.security = security
        }

        /// The endpoints this mode uses, with their calibration field names.
        public var usedEndpoints: [(field: String, endpoint: String, bound: Bool)] {
            var out = [("link.observation_endpoint", observationEndpoint, false)]
            if mode == .freeRunning { out.append(("link.action_endpoint", actionEndpoint, false)) }
            if let t = telemetryEndpoint { out.append(("link.telemetry_endpoint", t, true)) }
            return out.map { (field: $0.0, endpoint: $0.1, bound: $0.2) }
        }
    }

    /// `link.security`: CURVE (libzmq's authenticated encryption) on every socket of the
    /// link. The runtime is a CURVE client of the plant (which binds) and the CURVE server of
    /// its telemetry socket (which it binds). Paths are resolved against the calibration
    /// file's directory at load.
    public struct Security: Sendable, Equatable {
        public struct Curve: Sendable, Equatable {
            /// This computer's secret key, Z85 (`iqmpc-runtime keygen`); its public key is derived.
            public var secretKeyFile: String
            /// The plant's public key, Z85: the runtime connects only to a plant holding its secret.
            public var plantPublicKeyFile: String
            /// Public keys (Z85, one per line) allowed to subscribe to telemetry; required
            /// when a telemetry endpoint is set.
            public var authorisedKeysFile: String?
            public init(secretKeyFile: String, plantPublicKeyFile: String, authorisedKeysFile: String? = nil) {
                self.secretKeyFile = secretKeyFile; self.plantPublicKeyFile = plantPublicKeyFile
                self.authorisedKeysFile = authorisedKeysFile
            }
        }
        /// nil: no encryption or authentication (allowed on loopback, ipc:// and inproc://).
        public var curve: Curve?
        /// Permits a non-loopback tcp:// endpoint without CURVE (warned at start-up and
        /// flagged in every telemetry sample).
        public var allowInsecure: Bool
        public init(curve: Curve? = nil, allowInsecure: Bool = false) {
            self.curve = curve; self.allowInsecure = allowInsecure
        }
    }

    public struct RealTime: Sendable, Equatable {
        /// CPUs the runtime (and the threads it starts) may run on; empty = no pinning.
        public var cpuAffinity: [Int]
        /// SCHED_FIFO priority 1...99; 0 = leave the default scheduler.
        public var priority: Int
        /// mlockall at start-up, so page faults never stall a control step.
        public var lockMemory: Bool
        public init(cpuAffinity: [Int] = [], priority: Int = 0, lockMemory: Bool = false) {
            self.cpuAffinity = cpuAffinity; self.priority = priority; self.lockMemory = lockMemory
        }
    }

    /// Optional planner settings for this robot computer; nil keeps the planner's default.
    public struct PlannerSettings: Sendable, Equatable {
        public var samples: Int?
        public var iterations: Int?
        public var horizon: Int?
        public var threads: Int?
        /// "sample" or "mean".
        public var actionSelection: String?
        /// κ of the planner's prior anchor (`PlannerConfig.priorAnchor`); nil keeps 0.
        public var priorAnchor: Double?
        /// MPPI temperature (`PlannerConfig.temperature`, in the value's units); nil keeps 0.5.
        public var temperature: Double?
        public var seed: UInt64?
        public init(samples: Int? = nil, iterations: Int? = nil, horizon: Int? = nil, threads: Int? = nil,
                    actionSelection: String? = nil, priorAnchor: Double? = nil, temperature: Double? = nil,
                    seed: UInt64? = nil) {
            self.samples = samples; self.iterations = iterations; self.horizon = horizon
            self.threads = threads; self.actionSelection = actionSelection; self.priorAnchor = priorAnchor
            self.temperature = temperature; self.seed = seed
        }
    }

    // Immutable once validated: a change goes through `overriding(_:)`, which validates the copy.
    public let robotId: String
    public let observations: [ObservationChannel]
    public let actions: [ActionChannel]
    public let timing: Timing
    public let link: Link
    public let realTime: RealTime
    public let planner: PlannerSettings

    public var obsDim: Int { observations.count }
    public var actDim: Int { actions.count }

    /// Builds and validates a calibration in code (tests, generated files); the same rules as
    /// loading a file apply.
    public init(robotId: String, observations: [ObservationChannel], actions: [ActionChannel],
                timing: Timing, link: Link, realTime: RealTime = RealTime(),
                planner: PlannerSettings = PlannerSettings()) throws {
        self.robotId = robotId; self.observations = observations; self.actions = actions
        self.timing = timing; self.link = link; self.realTime = realTime; self.planner = planner
        try validate()
    }

    /// The deployment settings a command line, a benchmark or a test may change on top of
    /// a loaded file. The mapping (channels, robot id) is not among them: it is fixed by the
    /// weights the file was trained with.
    public struct Overrides: Sendable {
        public var timing: Timing
        public var link: Link
        public var realTime: RealTime
        public var planner: PlannerSettings
    }

    /// A validated copy with `edit` applied: overrides obey the same rules as the file.
    public func overriding(_ edit: (inout Overrides) -> Void) throws(CalibrationError) -> Calibration {
        var o = Overrides(timing: timing, link: link, realTime: realTime, planner: planner)
        edit(&o)
        let c = Calibration(unchecked: robotId, observations, actions, o.timing, o.link, o.realTime, o.planner)
        try c.validate()
        return c
    }

    /// A validated copy with other channels (a different mapping: weights trained with this
    /// file will refuse it unless told otherwise).
    public func replacingChannels(observations: [ObservationChannel]? = nil,
                                  actions: [ActionChannel]? = nil) throws(CalibrationError) -> Calibration {
        let c = Calibration(unchecked: robotId, observations ?? self.observations, actions ?? self.actions,
                            timing, link, realTime, planner)
        try c.validate()
        return c
    }

    /// The safe action, physical units.
    public var safeAction: [Float] { actions.map(\.safe) }

    /// Largest change of each action channel between two consecutive commands: the rate limit
    /// times the nominal control period (so skipped frames only make the limit stricter).
    public var maxStepChange: [Float] {
        let seconds = Float(Double(timing.controlPeriodNs) * 1e-9)
        return actions.map { $0.rateLimit.isFinite ? $0.rateLimit * seconds : .infinity }
    }

    /// Refuses a calibration whose channel counts differ from the model's.
    public func check(obsDim: Int, actDim: Int) throws(CalibrationError) {
        if observations.count != obsDim {
            throw CalibrationError(field: "observation.channels",
                message: "has \(observations.count) channels but the model's obs_dim is \(obsDim)")
        }
        if actions.count != actDim {
            throw CalibrationError(field: "action.channels",
                message: "has \(actions.count) channels but the model's act_dim is \(actDim)")
        }
    }
}
