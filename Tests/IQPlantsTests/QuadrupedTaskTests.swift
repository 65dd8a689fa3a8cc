import CMuJoCo
import Foundation
import IQKernels
import Testing
@testable import IQPlants

/// `quadruped-run`: layout, observations against MuJoCo's own frame computations, the reward
/// at hand-computed states, the standing reset, a whole random episode, and the MPC expert
/// far above random on a short episode.
@Suite(.serialized) struct QuadrupedTaskTests {
    static let joints = ["front_left", "front_right", "hind_left", "hind_right"]
        .flatMap { leg in ["abduct", "hip", "knee"].map { "\(leg)_\($0)" } }

    /// Sets the torso's attitude from yaw, pitch and roll (z-y-x) and returns the quaternion.
    static func setAttitude(_ d: UnsafeMutablePointer<mjData>, yaw: Double, pitch: Double, roll: Double) {
        let (cy, sy, cp, sp, cr, sr) = (cos(yaw / 2), sin(yaw / 2), cos(pitch / 2), sin(pitch / 2), cos(roll / 2), sin(roll / 2))
        d.pointee.qpos[3] = cr * cp * cy + sr * sp * sy
        d.pointee.qpos[4] = sr * cp * cy - cr * sp * sy
        d.pointee.qpos[5] = cr * sp * cy + sr * cp * sy
        d.pointee.qpos[6] = cr * cp * sy - sr * sp * cy
    }

    @Test func layoutIsTheDocumentedOne() throws {
        let plant = try Plant(task: .quadrupedRun)
        #expect(plant.world.nq == 19 && plant.world.nv == 18 && plant.world.nu == 12)
        let j = Self.joints
        #expect(plant.info.observations.map(\.name)
            == ["torso.height", "torso.up.x", "torso.up.y", "torso.up.z"] + j.map { "\($0).angle" }
            + ["torso.vx", "torso.vy", "torso.vz", "torso.gyro.x", "torso.gyro.y", "torso.gyro.z"]
            + j.map { "\($0).angular_velocity" })
        #expect(plant.info.actions.map(\.name) == j.map { "\($0).torque" })
        #expect(plant.info.actions.map(\.high) == Array(repeating: [Float(20), 35, 35], count: 4).flatMap { $0 })
        #expect(plant.info.controlPeriodNs == 20_000_000 && plant.info.episodeLength == 500)
        var mass = 0.0
        for b in 0..<Int(plant.model.pointee.nbody) { mass += plant.model.pointee.body_mass[b] }
        #expect(abs(mass - 13.1) < 0.1, "total mass \(mass) kg")
    }

    /// The observation is what an IMU, odometry and encoders give, checked against MuJoCo's
    /// own frame and velocity computations in an arbitrary tumbling state.
    @Test func observationMatchesMuJoCosFrames() throws {
        let plant = try Plant(task: .quadrupedRun)
        plant.reset(seed: 1)
        let m = plant.model, d = plant.data
        var rng = SeededRandom(seed: 4)
        for _ in 0..<5 {
            d.pointee.qpos[0] = rng.uniform(-5, 5); d.pointee.qpos[1] = rng.uniform(-5, 5); d.pointee.qpos[2] = rng.uniform(0.1, 1)
            Self.setAttitude(d, yaw: rng.uniform(-3, 3), pitch: rng.uniform(-1.5, 1.5), roll: rng.uniform(-3, 3))
            for i in 7..<19 { d.pointee.qpos[i] = rng.uniform(-1, 1) }
            for i in 0..<18 { d.pointee.qvel[i] = rng.uniform(-3, 3) }
            mj_forward(m, d)
            var obs = [Float](repeating: .nan, count: 34)
            plant.observe(into: &obs)
            let torso = try plant.world.id(mjOBJ_BODY, "torso")
            let xmat = d.pointee.xmat + 9 * torso   // row-major, body to world
            var vel = [Double](repeating: 0, count: 6)   // [angular, linear], torso frame, at its origin
            mj_objectVelocity(m, d, Int32(mjOBJ_XBODY.rawValue), Int32(torso), &vel, 1)
            #expect(abs(Double(obs[0]) - d.pointee.xpos[3 * torso + 2]) < 1e-6, "height")
            for i in 0..<3 {
                #expect(abs(Double(obs[1 + i]) - xmat[6 + i]) < 1e-5, "up[\(i)] \(obs[1 + i]) vs \(xmat[6 + i])")
                #expect(abs(Double(obs[16 + i]) - vel[3 + i]) < 1e-5, "velocity[\(i)] \(obs[16 + i]) vs \(vel[3 + i])")
                #expect(abs(Double(obs[19 + i]) - vel[i]) < 1e-5, "gyro[\(i)] \(obs[19 + i]) vs \(vel[i])")
            }
            #expect(Array(obs[4..<16]) == (7..<19).map { Float(d.pointee.qpos[$0]) })
            #expect(Array(obs[22..<34]) == (6..<18).map { Float(d.pointee.qvel[$0]) })
        }
    }

    /// Where the robot stands and which way it faces change nothing it senses.
    @Test func observationIgnoresPositionAndHeading() throws {
        let plant = try Plant(task: .quadrupedRun)
        plant.reset(seed: 3)
        let d = plant.data
        func observe(x: Double, y: Double, yaw: Double) -> [Float] {
            d.pointee.qpos[0] = x; d.pointee.qpos[1] = y
            Self.setAttitude(d, yaw: yaw, pitch: 0.2, roll: -0.3)
            // The same velocity in the torso's frame: 1 m/s forward, 0.5 m/s to its left.
            d.pointee.qvel[0] = cos(yaw) - 0.5 * sin(yaw); d.pointee.qvel[1] = sin(yaw) + 0.5 * cos(yaw)
            var obs = [Float](repeating: .nan, count: 34)
            plant.observe(into: &obs)
            return obs
        }
        d.pointee.qvel[2] = 0
        let a = observe(x: 0, y: 0, yaw: 0), b = observe(x: 7, y: -3, yaw: 2.1)
        for i in 0..<34 { #expect(abs(a[i] - b[i]) < 1e-5, "channel \(i): \(a[i]) vs \(b[i])") }
    }

    /// The reward at states whose value follows from the definition by hand.
    @Test func rewardMatchesTheDefinition() throws {
        let plant = try Plant(task: .quadrupedRun)
        plant.reset(seed: 1)
        let d = plant.data
        func reward(yaw: Double = 0, pitch: Double = 0, roll: Double = 0, vx: Double, vy: Double = 0) -> Double {
            Self.setAttitude(d, yaw: yaw, pitch: pitch, roll: roll)
            d.pointee.qvel[0] = vx; d.pointee.qvel[1] = vy; d.pointee.qvel[2] = 0
            return TaskKernels.reward(.quadrupedRun, d, plant.context)
        }
        #expect(reward(vx: 0) == 0, "standing still upright: upright 1 x move 0")
        #expect(abs(reward(vx: 2.5) - 0.5) < 1e-12, "half the run speed")
        #expect(reward(vx: 5) == 1 && reward(vx: 9) == 1, "at and above the run speed")
        #expect(reward(vx: -3) == 0, "backwards earns nothing")
        #expect(abs(reward(yaw: .pi / 2, vx: 0, vy: 2.5) - 0.5) < 1e-12, "forward is along the torso's heading")
        #expect(abs(reward(yaw: .pi / 2, vx: 2.5)) < 1e-12, "sideways is not forward")
        #expect(abs(reward(roll: .pi / 2, vx: 5) - 0.5) < 1e-12, "on its side: upright = 1/2")
        #expect(abs(reward(pitch: .pi / 3, vx: 5) - 0.75 * 0.5) < 1e-12,
                "nose down 60° at 5 m/s level: upright = (1 + cos 60°)/2, along the torso 5 cos 60° m/s")
        #expect(reward(roll: .pi, vx: 5) < 1e-12, "upside down earns nothing")
    }

    @Test func rewardStaysInTheUnitIntervalOverRandomStates() throws {
        let plant = try Plant(task: .quadrupedRun)
        let d = plant.data
        var rng = SeededRandom(seed: 5)
        for _ in 0..<2000 {
            for i in 3..<7 { d.pointee.qpos[i] = rng.uniform(-1, 1) }   // any (unnormalised) quaternion
            for i in 0..<3 { d.pointee.qvel[i] = rng.uniform(-20, 20) }
            let r = TaskKernels.reward(.quadrupedRun, d, plant.context)
            #expect(r >= 0 && r <= 1, "reward \(r)")
        }
    }

    /// Each episode starts standing just above the floor, level, in the standing pose; the
    /// same seed gives the same state, another seed another one.
    @Test func resetStandsOnTheFloorDeterministically() throws {
        let plant = try Plant(task: .quadrupedRun)
        func state(_ seed: UInt64) -> [Double] {
            plant.reset(seed: seed)
            return Array(UnsafeBufferPointer(start: plant.data.pointee.qpos, count: 19))
                + Array(UnsafeBufferPointer(start: plant.data.pointee.qvel, count: 18))
        }
        #expect(state(8) == state(8))
        #expect(state(8) != state(9))
        var headings: [Double] = []
        for seed in UInt64(1)...20 {
            plant.reset(seed: seed)
            let m = plant.model, d = plant.data
            let foot = QuadrupedTask.lowestFootHeight(m, d)
            #expect(abs(foot - QuadrupedTask.resetClearance) < 1e-9, "lowest foot at \(foot) m")
            #expect(d.pointee.ncon == 0, "nothing starts in contact with the floor")
            let f = TorsoFrame(d.pointee.qpos + 3)
            #expect(f.z.z > cos(0.08), "starts level (up.z \(f.z.z))")
            #expect(abs(d.pointee.qpos[2] - 0.41) < 0.06, "torso at \(d.pointee.qpos[2]) m")
            for leg in 0..<4 {
                for j in 0..<3 {
                    #expect(abs(d.pointee.qpos[7 + 3 * leg + j] - QuadrupedTask.standingPose[j]) <= 0.1)
                }
            }
            headings.append(atan2(f.x.y, f.x.x))
        }
        #expect(headings.max()! - headings.min()! > 3, "headings are drawn around the circle: \(headings)")
    }

    /// A whole episode of random torques: finite observations, rewards in [0, 1], the
    /// bodies kept above the floor by contacts, speeds physically bounded.
    @Test func randomEpisodeStaysPhysical() throws {
        let plant = try Plant(task: .quadrupedRun)
        let random = try Expert(task: .quadrupedRun, kind: .random, seed: 2)
        plant.reset(seed: 2); random.reset(seed: 2)
        var obs = [Float](repeating: 0, count: 34), a = [Float](repeating: 0, count: 12)
        var lowest = Double.infinity, fastest = 0.0, contacts = 0
        while !plant.isTerminal {
            random.act(plant, into: &a)
            let r = plant.step(normalized: a)
            #expect(r >= 0 && r <= 1)
            plant.observe(into: &obs)
            #expect(obs.allSatisfy { $0.isFinite })
            lowest = min(lowest, plant.data.pointee.qpos[2])
            fastest = max(fastest, (0..<3).map { abs(Double(obs[16 + $0])) }.max()!)
            contacts += Int(plant.data.pointee.ncon)
        }
        #expect(plant.stepIndex == 500)
        #expect(lowest > 0.04, "the torso (half-height 5 cm) went to \(lowest) m: through the floor")
        #expect(fastest < 10, "random torques drove the torso to \(fastest) m/s")
        #expect(contacts > 500, "the robot must stand on the floor")
    }

    /// Unactuated, the quadruped folds onto the floor and rests there.
    @Test func collapsesOntoTheFloorWithoutFallingThrough() throws {
        let (lowest, height, plant) = try limpFall(.quadrupedRun) { $0.data.pointee.qpos[2] }
        #expect(lowest > 0.04, "the torso went to \(lowest) m: through the floor")
        #expect(height < 0.3, "a limp quadruped cannot stay standing (torso at \(height) m)")
        #expect(plant.data.pointee.ncon >= 4, "resting on the floor means contacts")
        #expect(abs(plant.data.pointee.qvel[0]) < 0.1 && abs(plant.data.pointee.qvel[1]) < 0.1, "at rest after 5 s")
    }

    /// A short episode with a reduced budget keeps this to seconds; the documented
    /// full-budget figures come from `iqmpc-sim eval --task quadruped-run` (README).
    @Test func samplingMPCRunsFarAboveRandom() throws {
        let cfg = SamplingMPCConfig(samples: 32, horizon: 15, knots: 3, noise: 0.5, temperature: 0.1)
        let (expert, plant) = try runEpisodes(.quadrupedRun, .mpc, seeds: 1...1, steps: 100, mpc: cfg)
        let f = TorsoFrame(plant.data.pointee.qpos + 3)
        let randomMean = try runEpisodes(.quadrupedRun, .random, seeds: 1...3, steps: 100).mean
        #expect(expert > 3 * randomMean + 10, "mpc \(expert) vs random \(randomMean) over 100 steps")
        #expect(f.z.z > 0.5, "still upright after 2 s (up.z \(f.z.z))")
    }
}
