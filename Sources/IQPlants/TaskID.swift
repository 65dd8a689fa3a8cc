/// The simulated robots this project ships. Each task is one MuJoCo model written for
/// iqmpc (the XML lives beside its task definition), an observation layout in physical
/// units, actions in [-1, 1] scaled to the actuator limits, and a dm_control-style smooth
/// reward in [0, 1] per control step, sent only in the evaluation field.
public enum TaskID: String, CaseIterable, Sendable {
    /// Single pendulum with a torque-limited motor: obs [cos θ, sin θ, θdot], θ = 0 upright.
    case pendulumSwingup = "pendulum-swingup"
    /// Cart on an unbounded rail with a free pole: obs [x, cos θ, sin θ, xdot, θdot].
    case cartpoleSwingup = "cartpole-swingup"
    /// Planar 2-link arm reaching a random target.
    case reacher
    /// Planar 6-actuator runner with ground contacts, rewarded for forward speed.
    case cheetahRun = "cheetah-run"
    /// Planar 6-actuator biped with ground contacts, rewarded for walking upright at 1 m/s.
    case walkerWalk = "walker-walk"
    /// 3-D 12-actuator quadruped with ground contacts, rewarded for running upright at 5 m/s.
    case quadrupedRun = "quadruped-run"
}

/// One observation or action channel, in physical units. Actions: `low`/`high` are the
/// actuator limits that the normalised action [-1, 1] maps to (linearly).
public struct ChannelInfo: Equatable, Sendable {
    public var name: String
    public var unit: String
    public var low: Float
    public var high: Float
    public init(_ name: String, _ unit: String, _ low: Float, _ high: Float) {
        self.name = name; self.unit = unit; self.low = low; self.high = high
    }
}

/// Static facts about a task (what a `PlantSpec` is built from).
public struct TaskInfo: Sendable {
    public let id: TaskID
    public let observations: [ChannelInfo]
    public let actions: [ChannelInfo]
    /// Physics steps per control step (the action is held for this many MuJoCo steps).
    public let actionRepeat: Int
    /// Control steps (actions) per episode.
    public let episodeLength: Int
    /// MuJoCo timestep in seconds (from the model).
    public let physicsTimestep: Double

    public var obsDim: Int { observations.count }
    public var actDim: Int { actions.count }
    public var controlPeriod: Double { physicsTimestep * Double(actionRepeat) }
    public var controlPeriodNs: UInt64 { UInt64((controlPeriod * 1e9).rounded()) }
    /// Upper bound of the episode return: every task's reward is at most 1 per control step.
    public var returnUpperBound: Double { Double(episodeLength) }
}
