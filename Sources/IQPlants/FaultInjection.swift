import Foundation
import IQKernels

/// Faults the simulator server injects to exercise a controller's safety handling. Each
/// probability is per observation frame; all draws come from one seeded generator, so a
/// faulty session is reproducible. Everything defaults to off.
public struct FaultConfig: Sendable, Equatable {
    /// Std of Gaussian noise added to every observation value (physical units).
    public var observationNoise: Double = 0
    /// Control steps between an action's arrival and its application (a FIFO; the plant
    /// applies zero command until the first delayed action comes out).
    public var actionDelaySteps: Int = 0
    /// A frame is not sent (the plant keeps stepping with the held action; `seq` gaps).
    public var dropProbability: Double = 0
    /// A frame is sent twice with the same `seq`.
    public var duplicateProbability: Double = 0
    /// The previous frame is sent again after the current one (an older `seq` arrives late).
    public var reorderProbability: Double = 0
    /// Starts a burst of `nanBurstLength` frames whose values are all NaN.
    public var nanBurstProbability: Double = 0
    public var nanBurstLength: Int = 5
    /// Starts a stretch of `frozenLength` frames repeating the last values (seq and
    /// timestamp still advance, as with a stuck sensor).
    public var frozenProbability: Double = 0
    public var frozenLength: Int = 10
    /// The simulator stalls for `stallMs` before sending a frame.
    public var stallProbability: Double = 0
    public var stallMs: Int = 200
    public var seed: UInt64 = 0

    public init() {}

    public var isActive: Bool {
        observationNoise > 0 || actionDelaySteps > 0 || dropProbability > 0 || duplicateProbability > 0
            || reorderProbability > 0 || nanBurstProbability > 0 || frozenProbability > 0 || stallProbability > 0
    }

    public func validate() throws(PlantError) {
        for (name, p) in [("drop", dropProbability), ("duplicate", duplicateProbability), ("reorder", reorderProbability),
                          ("nan-burst", nanBurstProbability), ("frozen", frozenProbability), ("stall", stallProbability)] {
            guard p >= 0 && p <= 1 else { throw .badArgument("fault probability --\(name) must be in [0, 1], got \(p)") }
        }
        guard observationNoise >= 0 && observationNoise.isFinite else {
            throw .badArgument("--obs-noise must be a finite std >= 0, got \(observationNoise)")
        }
        guard actionDelaySteps >= 0 && actionDelaySteps <= 1000 else {
            throw .badArgument("--action-delay must be 0...1000 steps, got \(actionDelaySteps)")
        }
        guard nanBurstLength >= 1, frozenLength >= 1, stallMs >= 0 else {
            throw .badArgument("burst/frozen lengths must be >= 1 and --stall-ms >= 0")
        }
    }
}

/// Counts of injected faults (reported by the server at the end of a session).
public struct FaultCounters: Sendable, Equatable {
    public var dropped = 0, duplicated = 0, reordered = 0, nanFrames = 0, frozenFrames = 0, stalls = 0
    public init() {}
}

/// Per-frame fault decisions and the observation corruptions. Pre-allocated; nothing in
/// `corrupt` or the decisions allocates.
public final class FaultInjector {
    public let config: FaultConfig
    public private(set) var counters = FaultCounters()
    private var rng: SeededRandom
    private var nanLeft = 0
    private var frozenLeft = 0
    private let lastSent: UnsafeMutablePointer<Float>
    private var haveLast = false
    private let dim: Int

    public init(config: FaultConfig, obsDim: Int) {
        self.config = config
        dim = obsDim
        rng = SeededRandom(seed: config.seed ^ 0x4641_554C)
        lastSent = .allocate(capacity: max(obsDim, 1))
        lastSent.initialize(repeating: 0, count: max(obsDim, 1))
    }

    deinit { lastSent.deallocate() }

    @inline(__always) private func chance(_ p: Double) -> Bool { p > 0 && rng.uniform() < p }

    public func shouldDrop() -> Bool { if chance(config.dropProbability) { counters.dropped += 1; return true }; return false }
    public func shouldDuplicate() -> Bool { if chance(config.duplicateProbability) { counters.duplicated += 1; return true }; return false }
    public func shouldReorder() -> Bool { if chance(config.reorderProbability) { counters.reordered += 1; return true }; return false }
    /// Milliseconds to stall before this frame (0 = none).
    public func stallMs() -> Int { if chance(config.stallProbability) { counters.stalls += 1; return config.stallMs }; return 0 }

    /// Applies noise, frozen-sensor and NaN faults in place to the values about to be sent.
    public func corrupt(_ values: UnsafeMutablePointer<Float>) {
        if frozenLeft == 0 && haveLast && chance(config.frozenProbability) { frozenLeft = config.frozenLength }
        if frozenLeft > 0 {
            frozenLeft -= 1
            counters.frozenFrames += 1
            values.update(from: lastSent, count: dim)
        } else if config.observationNoise > 0 {
            for i in 0..<dim { values[i] += Float(config.observationNoise * rng.normal()) }
        }
        lastSent.update(from: values, count: dim)
        haveLast = true
        if nanLeft == 0 && chance(config.nanBurstProbability) { nanLeft = config.nanBurstLength }
        if nanLeft > 0 {
            nanLeft -= 1
            counters.nanFrames += 1
            for i in 0..<dim { values[i] = .nan }
        }
    }
}

/// Holds actions for `delay` control steps (a ring of fixed size). With delay 0 it passes
/// actions straight through.
public final class ActionDelayLine {
    public let delay: Int
    private let dim: Int
    private let ring: UnsafeMutablePointer<Float>
    private var head = 0

    public init(delay: Int, actDim: Int) {
        self.delay = delay
        dim = actDim
        ring = .allocate(capacity: max(delay, 1) * actDim)
        ring.initialize(repeating: 0, count: max(delay, 1) * actDim)
    }

    deinit { ring.deallocate() }

    /// Clears held actions (episode start): the first `delay` steps apply zero command.
    public func reset() { ring.update(repeating: 0, count: max(delay, 1) * dim); head = 0 }

    /// Pushes `input` and writes the action to apply now into `output`.
    public func push(_ input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        guard delay > 0 else { output.update(from: input, count: dim); return }
        let slot = ring + head * dim
        output.update(from: slot, count: dim)
        slot.update(from: input, count: dim)
        head = (head + 1) % delay
    }
}
