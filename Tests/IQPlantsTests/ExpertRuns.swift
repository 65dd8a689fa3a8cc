import Foundation
@testable import IQPlants

/// Runs `kind` (expert seed 11) for one episode of `steps` per seed on a fresh plant and
/// returns the mean return and the plant as the last episode left it (for checks on its state).
func runEpisodes(_ task: TaskID, _ kind: ExpertKind, seeds: ClosedRange<UInt64>, steps: Int? = nil,
                 mpc: SamplingMPCConfig? = nil) throws -> (mean: Double, plant: Plant) {
    let plant = try Plant(task: task)
    let expert = try Expert(task: task, kind: kind, seed: 11, mpc: mpc)
    var total = 0.0
    for s in seeds { total += EpisodeRunner.run(plant: plant, expert: expert, seed: s, steps: steps) }
    return (total / Double(seeds.count), plant)
}

/// The bit patterns of `steps` control steps of `kind` (expert seed 5) on a fresh plant from
/// episode seed 9: each step's reward, observation and action. Equal arrays from two calls
/// mean the episode is a function of the seeds alone.
func expertTrace(_ task: TaskID, _ kind: ExpertKind, mpc: SamplingMPCConfig, steps: Int = 40) throws -> [UInt32] {
    let plant = try Plant(task: task)
    let expert = try Expert(task: task, kind: kind, seed: 5, mpc: mpc)
    plant.reset(seed: 9); expert.reset(seed: 9)
    var obs = [Float](repeating: 0, count: plant.info.obsDim), a = [Float](repeating: 0, count: plant.info.actDim)
    var out: [UInt32] = []
    for _ in 0..<steps {
        expert.act(plant, into: &a)
        let r = plant.step(normalized: a).bitPattern
        out += [UInt32(truncatingIfNeeded: r), UInt32(truncatingIfNeeded: r >> 32)]
        plant.observe(into: &obs)
        out += obs.map(\.bitPattern) + a.map(\.bitPattern)
    }
    return out
}

/// Steps `task` with zero torque for `steps` control steps from seed 2 and returns the lowest
/// and the final torso height (read by `height`) and the plant as it ends: a limp robot must
/// fall onto the floor and rest there, not through it.
func limpFall(_ task: TaskID, steps: Int = 250, height: (Plant) -> Double) throws
    -> (lowest: Double, final: Double, plant: Plant) {
    let plant = try Plant(task: task)
    plant.reset(seed: 2)
    let zero = [Float](repeating: 0, count: plant.info.actDim)
    var lowest = Double.infinity
    for _ in 0..<steps {
        plant.step(normalized: zero)
        lowest = min(lowest, height(plant))
    }
    return (lowest, height(plant), plant)
}
