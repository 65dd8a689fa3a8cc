import CMuJoCo
import Foundation
import IQKernels

/// Per-episode facts a task's observation and reward need besides the MuJoCo state
/// (the reacher's target) plus indices resolved once at load. A value type so MPC
/// rollouts can hold a copy.
public struct TaskContext: Sendable {
    public var targetX = 0.0
    public var targetY = 0.0
    public var fingertipSite = 0
}

/// The task-specific pieces, dispatched by a switch on `TaskID` (no existentials or
/// closures in the step). Shared by `Plant` and the MPC expert's rollouts so both
/// compute exactly the same transition and reward.
public enum TaskKernels {
    /// One control step: hold `d.ctrl` for `repeat` physics steps, then refresh whatever
    /// derived quantities the observation/reward read (positions after the last step).
    @inline(__always)
    public static func advance(_ task: TaskID, _ m: UnsafeMutablePointer<mjModel>,
                               _ d: UnsafeMutablePointer<mjData>, repeat n: Int) {
        for _ in 0..<n { mj_step(m, d) }
        if task == .reacher { mj_kinematics(m, d) }
    }

    @inline(__always)
    public static func reward(_ task: TaskID, _ d: UnsafeMutablePointer<mjData>, _ ctx: TaskContext) -> Double {
        switch task {
        case .pendulumSwingup: return PendulumTask.reward(d)
        case .cartpoleSwingup: return CartpoleTask.reward(d)
        case .reacher: return ReacherTask.reward(d, ctx)
        case .cheetahRun: return CheetahTask.reward(d)
        case .walkerWalk: return WalkerTask.reward(d)
        case .quadrupedRun: return QuadrupedTask.reward(d)
        }
    }

    @inline(__always)
    public static func observe(_ task: TaskID, _ d: UnsafeMutablePointer<mjData>, _ ctx: TaskContext,
                               into out: UnsafeMutablePointer<Float>) {
        switch task {
        case .pendulumSwingup: PendulumTask.observe(d, out)
        case .cartpoleSwingup: CartpoleTask.observe(d, out)
        case .reacher: ReacherTask.observe(d, ctx, out)
        case .cheetahRun: CheetahTask.observe(d, out)
        case .walkerWalk: WalkerTask.observe(d, out)
        case .quadrupedRun: QuadrupedTask.observe(d, out)
        }
    }

    /// Writes a normalised action into `ctrl`: clamped to [-1, 1]; a non-finite value
    /// becomes 0 (no torque) rather than poisoning the integrator.
    @inline(__always)
    public static func setControl(_ d: UnsafeMutablePointer<mjData>, _ a: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = Double(a[i])
            d.pointee.ctrl[i] = v.isFinite ? min(max(v, -1), 1) : 0
        }
    }

    static func xml(_ task: TaskID) -> String {
        switch task {
        case .pendulumSwingup: return PendulumTask.xml
        case .cartpoleSwingup: return CartpoleTask.xml
        case .reacher: return ReacherTask.xml
        case .cheetahRun: return CheetahTask.xml
        case .walkerWalk: return WalkerTask.xml
        case .quadrupedRun: return QuadrupedTask.xml
        }
    }

    public static func info(_ task: TaskID, timestep: Double = 0.01) -> TaskInfo {
        switch task {
        case .pendulumSwingup: return PendulumTask.info(timestep: timestep)
        case .cartpoleSwingup: return CartpoleTask.info(timestep: timestep)
        case .reacher: return ReacherTask.info(timestep: timestep)
        case .cheetahRun: return CheetahTask.info(timestep: timestep)
        case .walkerWalk: return WalkerTask.info(timestep: timestep)
        case .quadrupedRun: return QuadrupedTask.info(timestep: timestep)
        }
    }
}

/// One simulated robot: a task on its own MuJoCo model and data. After `init`, `reset`,
/// `step` and `observe` allocate nothing. Not thread-safe: one owner at a time.
///
/// Usage: `reset(seed:)`, then per control step `observe(into:)` → choose an action →
/// `step(normalized:)` (or `step(physical:)`), which returns the reward of the new state
/// (in [0, 1]); `isTerminal` after `info.episodeLength` steps.
public final class Plant {
    public let task: TaskID
    public let info: TaskInfo
    public let world: MuJoCoWorld
    public private(set) var context = TaskContext()
    /// Control steps taken in the current episode.
    public private(set) var stepIndex = 0
    /// Episodes started (the first `reset` makes it 1).
    public private(set) var episode: UInt32 = 0
    public private(set) var lastReward = 0.0
    private let scratchAction: UnsafeMutablePointer<Float>
    private let actionScale: [Float]

    public init(task: TaskID) throws(PlantError) {
        self.task = task
        world = try MuJoCoWorld(xml: TaskKernels.xml(task), name: task.rawValue)
        info = TaskKernels.info(task, timestep: world.timestep)
        guard world.nu == info.actDim else {
            throw .modelLoad(task: task.rawValue, message: "model has \(world.nu) actuators, task declares \(info.actDim)")
        }
        if task == .reacher { context.fingertipSite = try world.id(mjOBJ_SITE, "fingertip") }
        actionScale = info.actions.map { $0.high }
        scratchAction = .allocate(capacity: max(info.actDim, 1))
        reset(seed: 0)
        episode = 0
    }

    deinit { scratchAction.deallocate() }

    public var model: UnsafeMutablePointer<mjModel> { world.model }
    public var data: UnsafeMutablePointer<mjData> { world.data }
    public var isTerminal: Bool { stepIndex >= info.episodeLength }

    /// Starts an episode whose initial state (and target) is a function of `seed` alone.
    public func reset(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let m = world.model, d = world.data
        mj_resetData(m, d)
        switch task {
        case .pendulumSwingup: PendulumTask.reset(d, &rng)
        case .cartpoleSwingup: CartpoleTask.reset(d, &rng)
        case .reacher: ReacherTask.reset(d, &rng, &context)
        case .cheetahRun: CheetahTask.reset(d, &rng)
        case .walkerWalk: WalkerTask.reset(d, &rng)
        case .quadrupedRun: QuadrupedTask.reset(m, d, &rng)
        }
        mj_forward(m, d)
        stepIndex = 0
        lastReward = 0
        episode &+= 1
    }

    /// Applies a normalised action (each in [-1, 1], clamped; non-finite → 0) for one
    /// control step and returns the reward of the resulting state.
    @discardableResult
    public func step(normalized action: UnsafePointer<Float>) -> Double {
        TaskKernels.setControl(world.data, action, count: info.actDim)
        TaskKernels.advance(task, world.model, world.data, repeat: info.actionRepeat)
        stepIndex += 1
        lastReward = TaskKernels.reward(task, world.data, context)
        return lastReward
    }

    /// Applies an action in physical units (N, N·m), as it arrives on the wire.
    @discardableResult
    public func step(physical action: UnsafePointer<Float>) -> Double {
        for i in 0..<info.actDim { scratchAction[i] = action[i] / actionScale[i] }
        return step(normalized: scratchAction)
    }

    /// Writes the `info.obsDim` observation values (physical units).
    public func observe(into out: UnsafeMutablePointer<Float>) {
        TaskKernels.observe(task, world.data, context, into: out)
    }

    /// Converts a normalised action to physical units (for the wire and record files).
    public func physical(fromNormalized a: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<info.actDim { out[i] = min(max(a[i], -1), 1) * actionScale[i] }
    }
}
