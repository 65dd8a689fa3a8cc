import CMuJoCo
import Foundation
import IQKernels
import Testing
@testable import IQPlants

/// `walker-walk`: layout, the dm_control reward at hand-computed states, contacts with the
/// floor, and the MPC expert far above random on a short episode.
@Suite(.serialized) struct WalkerTaskTests {
    @Test func layoutIsTheDocumentedOne() throws {
        let plant = try Plant(task: .walkerWalk)
        #expect(plant.world.nq == 9 && plant.world.nv == 9 && plant.world.nu == 6)
        let joints = ["right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle"]
        #expect(plant.info.observations.map(\.name)
            == ["torso.height", "torso.pitch.cos", "torso.pitch.sin"] + joints.map { "\($0).angle" }
            + ["torso.vx", "torso.vz", "torso.pitch_rate"] + joints.map { "\($0).angular_velocity" })
        #expect(plant.info.actions.map(\.name) == joints.map { "\($0).torque" })
        #expect(plant.info.actions.map(\.high) == [100, 50, 20, 100, 50, 20])
        #expect(plant.info.controlPeriodNs == 20_000_000 && plant.info.episodeLength == 500)

        plant.reset(seed: 1)
        let d = plant.data
        for i in 0..<9 { d.pointee.qpos[i] = 0.1 * Double(i + 1); d.pointee.qvel[i] = -0.2 * Double(i + 1) }
        var obs = [Float](repeating: .nan, count: 18)
        plant.observe(into: &obs)
        #expect(obs[0] == Float(1.3 + 0.2), "height = standing height + rootz")
        #expect(obs[1] == Float(cos(0.3)) && obs[2] == Float(sin(0.3)))
        #expect(Array(obs[3..<9]) == (3..<9).map { Float(0.1 * Double($0 + 1)) })
        #expect(Array(obs[9..<18]) == (0..<9).map { Float(-0.2 * Double($0 + 1)) })
    }

    /// The reward at states whose value follows from the definition by hand.
    @Test func rewardMatchesTheDefinition() throws {
        let plant = try Plant(task: .walkerWalk)
        plant.reset(seed: 1)
        let d = plant.data
        func reward(height: Double, pitch: Double, vx: Double) -> Double {
            d.pointee.qpos[1] = height - 1.3
            d.pointee.qpos[2] = pitch
            d.pointee.qvel[0] = vx
            return TaskKernels.reward(.walkerWalk, d, plant.context)
        }
        #expect(abs(reward(height: 1.3, pitch: 0, vx: 0) - 1.0 / 6) < 1e-12, "standing still earns 1/6")
        #expect(reward(height: 1.25, pitch: 0, vx: 1.0) == 1)
        #expect(reward(height: 1.25, pitch: 0, vx: 3.0) == 1, "no penalty above the target speed")
        #expect(abs(reward(height: 1.3, pitch: 0, vx: 0.5) - 3.5 / 6) < 1e-12, "half speed: move = 0.5")
        #expect(abs(reward(height: 1.3, pitch: 0, vx: -1) - 1.0 / 6) < 1e-12, "backwards earns no move credit")
        // 0.6 m below the stand height: standing = 0.1 (gaussian value at the margin).
        #expect(abs(reward(height: 0.6, pitch: 0, vx: 1) - (3 * 0.1 + 1) / 4) < 1e-12)
        // Upside down at full height: upright = 0.
        #expect(abs(reward(height: 1.3, pitch: Double.pi, vx: 1) - 0.75) < 1e-12)
        // Lying flat on the floor, still: about 0.02 per step (what a fallen walker gets).
        let lying = reward(height: 0.07, pitch: Double.pi / 2, vx: 0)
        #expect(lying > 0.01 && lying < 0.03, "lying \(lying)")
    }

    @Test func rewardStaysInTheUnitIntervalOverRandomStates() throws {
        let plant = try Plant(task: .walkerWalk)
        let d = plant.data
        var rng = SeededRandom(seed: 5)
        for _ in 0..<2000 {
            d.pointee.qpos[1] = rng.uniform(-1.5, 2)
            d.pointee.qpos[2] = rng.uniform(-10, 10)
            d.pointee.qvel[0] = rng.uniform(-20, 20)
            let r = TaskKernels.reward(.walkerWalk, d, plant.context)
            #expect(r >= 0 && r <= 1, "reward \(r)")
        }
    }

    /// Unactuated, the walker collapses onto the floor and rests on it: contacts hold the
    /// bodies above the plane and the torso ends lying, low, nearly still.
    @Test func collapsesOntoTheFloorWithoutFallingThrough() throws {
        let (lowest, height, plant) = try limpFall(.walkerWalk) { 1.3 + $0.data.pointee.qpos[1] }
        #expect(lowest > 0.05, "the torso (radius 0.07 m) went to \(lowest) m: through the floor")
        #expect(height < 1.0, "a limp walker cannot stay standing (torso at \(height) m)")
        #expect(plant.data.pointee.ncon > 0, "resting on the floor means contacts")
        #expect(abs(plant.data.pointee.qvel[0]) < 0.5, "at rest after 5 s, vx \(plant.data.pointee.qvel[0])")
    }

    /// A short episode with a reduced budget keeps this to seconds; the documented
    /// full-budget figures come from `iqmpc-sim eval --task walker-walk` (README).
    @Test func samplingMPCWalksFarAboveRandom() throws {
        let cfg = SamplingMPCConfig(samples: 32, horizon: 25, knots: 4, noise: 0.5, temperature: 0.1)
        let (expert, plant) = try runEpisodes(.walkerWalk, .mpc, seeds: 1...1, steps: 150, mpc: cfg)
        let distance = plant.data.pointee.qpos[0]
        let randomMean = try runEpisodes(.walkerWalk, .random, seeds: 1...3, steps: 150).mean
        #expect(expert > 3 * randomMean + 30, "mpc \(expert) vs random \(randomMean) over 150 steps")
        #expect(distance > 1.0, "walked \(distance) m in 3 s")
    }
}
