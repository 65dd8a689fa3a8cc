/// The rules every calibration must satisfy, whether loaded from a file or built in code.
/// Each rule names its field, so the message points at the line to fix.
extension Calibration {
    static let maxObsDim = 256   // Bounds.MAX_OBS_DIM
    static let maxActDim = 64    // Bounds.MAX_ACT_DIM
    static let maxNameBytes = 63 // Bounds.MAX_NAME_BYTES

    func validate() throws(CalibrationError) {
        try Self.checkName(robotId, field: "robot_id")
        if observations.isEmpty || observations.count > Self.maxObsDim {
            throw CalibrationError(field: "observation.channels",
                message: "needs 1...\(Self.maxObsDim) channels, has \(observations.count)")
        }
        if actions.isEmpty || actions.count > Self.maxActDim {
            throw CalibrationError(field: "action.channels",
                message: "needs 1...\(Self.maxActDim) channels, has \(actions.count)")
        }
        var seen = Set<String>()
        for (i, c) in observations.enumerated() {
            let f = "observation.channels[\(i)]"
            try Self.checkMapping(name: c.name, unit: c.unit, offset: c.offset, scale: c.scale, field: f, seen: &seen)
            if c.low.isNaN || c.high.isNaN || !(c.low < c.high) {
                throw CalibrationError(field: f + ".low",
                    message: "accepted range needs low < high (got \(c.low) ... \(c.high))")
            }
        }
        seen.removeAll()
        for (i, c) in actions.enumerated() {
            let f = "action.channels[\(i)]"
            try Self.checkMapping(name: c.name, unit: c.unit, offset: c.offset, scale: c.scale, field: f, seen: &seen)
            try Self.finite(c.low, f + ".low")
            try Self.finite(c.high, f + ".high")
            if !(c.low < c.high) {
                throw CalibrationError(field: f + ".low", message: "hard limits need low < high (got \(c.low) ... \(c.high))")
            }
            try Self.finite(c.safe, f + ".safe")
            if c.safe < c.low || c.safe > c.high {
                throw CalibrationError(field: f + ".safe",
                    message: "safe action \(c.safe) lies outside the hard limits \(c.low) ... \(c.high)")
            }
            if c.rateLimit.isNaN || c.rateLimit <= 0 {
                throw CalibrationError(field: f + ".rate_limit",
                    message: "must be > 0 (physical units per second) or .inf for none, got \(c.rateLimit)")
            }
        }
        let t = timing
        if t.controlPeriodNs == 0 {
            throw CalibrationError(field: "timing.control_period_ms", message: "must be > 0")
        }
        if t.planningBudgetNs == 0 || t.planningBudgetNs >= t.controlPeriodNs {
            throw CalibrationError(field: "timing.planning_budget_ms",
                message: "must be > 0 and below the control period (\(Self.ms(t.controlPeriodNs)) ms), got \(Self.ms(t.planningBudgetNs)) ms")
        }
        if t.watchdogTimeoutNs < t.controlPeriodNs {
            throw CalibrationError(field: "timing.watchdog_timeout_ms",
                message: "must be at least the control period (\(Self.ms(t.controlPeriodNs)) ms), got \(Self.ms(t.watchdogTimeoutNs)) ms")
        }
        if t.maxFrameAgeNs == 0 {
            throw CalibrationError(field: "timing.max_frame_age_ms", message: "must be > 0")
        }
        try validateLink()
        if !(0...99).contains(realTime.priority) {
            throw CalibrationError(field: "realtime.priority",
                message: "SCHED_FIFO priority must be 1...99 (0 = normal scheduling), got \(realTime.priority)")
        }
        for (i, cpu) in realTime.cpuAffinity.enumerated() where cpu < 0 || cpu >= 1024 {
            throw CalibrationError(field: "realtime.cpu_affinity[\(i)]", message: "CPU index must be 0...1023, got \(cpu)")
        }
        if Set(realTime.cpuAffinity).count != realTime.cpuAffinity.count {
            throw CalibrationError(field: "realtime.cpu_affinity", message: "lists a CPU twice")
        }
        let p = planner
        for (value, name) in [(p.samples, "samples"), (p.iterations, "iterations"),
                              (p.horizon, "horizon"), (p.threads, "threads")] {
            if let v = value, v < 1 {
                throw CalibrationError(field: "planner.\(name)", message: "must be >= 1, got \(v)")
            }
        }
        if let k = p.priorAnchor, !(k.isFinite && k >= 0 && k <= 1e6) {
            throw CalibrationError(field: "planner.prior_anchor", message: "must be finite and in 0...1e6, got \(k)")
        }
        if let t = p.temperature, !(t.isFinite && t > 0 && t <= 1e6) {
            throw CalibrationError(field: "planner.temperature", message: "must be finite and in (0, 1e6], got \(t)")
        }
        if let s = p.actionSelection, s != "sample", s != "mean" {
            throw CalibrationError(field: "planner.action_selection", message: "must be \"sample\" or \"mean\", got \"\(s)\"")
        }
    }

    static func ms(_ ns: UInt64) -> Double { Double(ns) / 1e6 }

    /// What observation and action channels share: a valid, unique name and unit, and an
    /// invertible affine mapping (finite offset, finite nonzero scale).
    static func checkMapping(name: String, unit: String, offset: Float, scale: Float, field f: String,
                             seen: inout Set<String>) throws(CalibrationError) {
        try checkName(name, field: f + ".name")
        try checkName(unit, field: f + ".unit")
        if !seen.insert(name).inserted {
            throw CalibrationError(field: f + ".name", message: "duplicate channel name \"\(name)\"")
        }
        try finite(offset, f + ".offset")
        try finite(scale, f + ".scale")
        if scale == 0 { throw CalibrationError(field: f + ".scale", message: "must not be 0") }
    }

    static func finite(_ v: Float, _ field: String) throws(CalibrationError) {
        if !v.isFinite { throw CalibrationError(field: field, message: "must be a finite number, got \(v)") }
    }

    /// Names travel in RobotSpec (at most 63 bytes) and in the weights metadata as a
    /// comma-separated list, hence no commas or white space.
    static func checkName(_ s: String, field: String) throws(CalibrationError) {
        if s.isEmpty { throw CalibrationError(field: field, message: "must not be empty") }
        if s.utf8.count > maxNameBytes {
            throw CalibrationError(field: field, message: "is \(s.utf8.count) bytes, at most \(maxNameBytes) allowed")
        }
        if s.unicodeScalars.contains(where: { $0 == "," || $0.properties.isWhitespace || $0.value < 0x20 }) {
            throw CalibrationError(field: field, message: "must not contain commas, white space or control characters: \"\(s)\"")
        }
    }

}
