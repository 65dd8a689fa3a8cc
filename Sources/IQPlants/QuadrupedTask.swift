import CMuJoCo
import Foundation
import IQKernels

/// `quadruped-run`: a four-legged runner in 3-D, written for iqmpc. An 8 kg box torso
/// (0.6 × 0.2 × 0.1 m) on a free joint carries four legs at its corners (hips at x ±0.25 m,
/// y ±0.1 m), each a thigh (0.25 m) and a shin (0.25 m) ending in a ball foot (3 cm radius),
/// with three hinges: `abduct` (about the torso's forward axis; positive rolls the foot to the
/// robot's left), `hip` and `knee` (about its lateral axis; positive swings the foot back). 12
/// motors: abduct 20, hip 35, knee 35 N·m. 13.1 kg in all. Standing (hip 0.7, knee −1.4 rad:
/// feet under the hips, knees behind them), the torso's centre is 0.41 m up. Joints carry
/// 0.05 kg·m² armature (a geared motor's reflected rotor inertia) and 1 N·m·s/rad damping:
/// without them the light legs swing further in one 20 ms control period than a 50 Hz
/// torque controller can correct. Only the floor touches the robot (no self-collision);
/// friction 1.
///
/// Observation (34 channels, physical units), only what the robot's own sensors give; all
/// of it is unchanged by where the robot stands and which way it faces (the task is too):
/// `torso.height` (altimeter: the torso's centre above the floor), `torso.up.x/y/z` (IMU
/// attitude: the world's up direction in the torso's frame, 1 on z when level; no heading,
/// no angle wrapping), the 12 joint angles (encoders), `torso.vx/vy/vz` (the torso's
/// velocity in its own frame: IMU + leg odometry), `torso.gyro.x/y/z` (angular velocity in
/// its own frame) and the 12 joint rates.
///
/// Reward, DeepMind Control Suite's quadruped-run shape on the state after the step:
/// upright = tolerance(up.z, ≥ 1, linear margin 2, 0 at the margin) = (1 + up.z) / 2;
/// move = tolerance(forward speed, ≥ 5 m/s, linear margin 5 m/s, 0 at the margin)
/// = min(max(speed, 0) / 5 m/s, 1), forward speed = `torso.vx` (along the torso's heading,
/// whichever way it faces); reward = upright · move, in [0, 1]. dm_control's move is 0.5 at
/// the margin (a robot standing still earns half the maximum); here it is 0, as in
/// `cheetah-run`: episodes start standing, so half a reward for not moving would compress
/// every comparison with the expert. Between 0 and 5 m/s dm_control's reward is (this reward
/// + upright) / 2, an affine map of this one while the robot stays upright.
///
/// Physics 10 ms (Euler), action repeat 2 (20 ms control), 500 control steps (10 s), like
/// the other tasks. Episodes start standing on the floor (lowest foot 5 mm up), facing a
/// uniformly random heading, with small random roll, pitch, joint angles and velocities; not
/// dropped in a random orientation as in dm_control (10 s leave little time for getting up).
enum QuadrupedTask {
    /// Legs in joint and actuator order, with the hip's position on the torso (m).
    static let legs: [(name: String, x: Double, y: Double)] =
        [("front_left", 0.25, 0.1), ("front_right", 0.25, -0.1), ("hind_left", -0.25, 0.1), ("hind_right", -0.25, -0.1)]
    static let legJoints = ["abduct", "hip", "knee"]
    static let jointNames = legs.flatMap { leg in legJoints.map { "\(leg.name)_\($0)" } }
    static let gears: [Float] = legs.flatMap { _ in [Float(20), 35, 35] }
    /// Standing joint angles per leg (abduct, hip, knee; rad): each foot under its hip.
    static let standingPose = [0.0, 0.7, -1.4]
    /// dm_control's quadruped run speed: `move` saturates here (m/s).
    static let targetSpeed = 5.0
    /// Height of the lowest foot above the floor at reset (m): no foot starts in it.
    static let resetClearance = 0.005

    static let xml: String = {
        let leg = { (name: String, x: Double, y: Double) in
            """
                  <body name="\(name)_thigh" pos="\(x) \(y) 0">
                    <joint name="\(name)_abduct" axis="1 0 0" range="-0.6 0.6"/>
                    <joint name="\(name)_hip" range="-1.2 2.0"/>
                    <geom name="\(name)_thigh" fromto="0 0 0 0 0 -0.25" size="0.03"/>
                    <body name="\(name)_shin" pos="0 0 -0.25">
                      <joint name="\(name)_knee" range="-2.7 0"/>
                      <geom name="\(name)_shin" fromto="0 0 0 0 0 -0.25" size="0.02"/>
                      <geom name="\(name)_foot" type="sphere" pos="0 0 -0.25" size="0.03"/>
                    </body>
                  </body>

            """
        }
        let motors = zip(jointNames, gears).map { "    <motor name=\"\($0.0)\" joint=\"\($0.0)\" gear=\"\(Int($0.1))\"/>\n" }
        return """
        <mujoco model="iqmpc-quadruped">
          <compiler angle="radian"/>
          <option timestep="0.01" gravity="0 0 -9.81"/>
          <default>
            <joint type="hinge" axis="0 1 0" limited="true" armature="0.05" damping="1"/>
            <geom type="capsule" contype="1" conaffinity="0" condim="3" friction="1 0.05 0.05"/>
            <motor ctrllimited="true" ctrlrange="-1 1"/>
          </default>
          <worldbody>
            <geom name="floor" type="plane" size="0 0 1" contype="0" conaffinity="1"/>
            <body name="torso" pos="0 0 0.412">
              <freejoint name="root"/>
              <geom name="torso" type="box" size="0.3 0.1 0.05" mass="8"/>
        \(legs.map { leg($0.name, $0.x, $0.y) }.joined())    </body>
          </worldbody>
          <actuator>
        \(motors.joined())  </actuator>
        </mujoco>
        """
    }()

    static func info(timestep: Double) -> TaskInfo {
        var obs = [ChannelInfo("torso.height", "m", 0, 3)]
        obs += ["x", "y", "z"].map { ChannelInfo("torso.up.\($0)", "1", -1, 1) }
        obs += jointNames.map { ChannelInfo("\($0).angle", "rad", -3.2, 3.2) }
        obs += ["vx", "vy", "vz"].map { ChannelInfo("torso.\($0)", "m/s", -20, 20) }
        obs += ["x", "y", "z"].map { ChannelInfo("torso.gyro.\($0)", "rad/s", -60, 60) }
        obs += jointNames.map { ChannelInfo("\($0).angular_velocity", "rad/s", -100, 100) }
        let acts = zip(jointNames, gears).map { ChannelInfo("\($0.0).torque", "N*m", -$0.1, $0.1) }
        return TaskInfo(id: .quadrupedRun, observations: obs, actions: acts,
                        actionRepeat: 2, episodeLength: 500, physicsTimestep: timestep)
    }

    /// Standing, slightly perturbed, facing a random heading: roll and pitch ±0.05 rad,
    /// joints ±0.1 rad about `standingPose`, all velocities ±0.05; then raised or lowered
    /// so the lowest foot is `resetClearance` above the floor.
    static func reset(_ m: UnsafeMutablePointer<mjModel>, _ d: UnsafeMutablePointer<mjData>, _ rng: inout SeededRandom) {
        let yaw = rng.uniform(-Double.pi, Double.pi), pitch = rng.uniform(-0.05, 0.05), roll = rng.uniform(-0.05, 0.05)
        let (cy, sy) = (cos(yaw / 2), sin(yaw / 2)), (cp, sp) = (cos(pitch / 2), sin(pitch / 2))
        let (cr, sr) = (cos(roll / 2), sin(roll / 2))
        let q: UnsafeMutablePointer<Double> = d.pointee.qpos
        q[3] = cr * cp * cy + sr * sp * sy
        q[4] = sr * cp * cy - cr * sp * sy
        q[5] = cr * sp * cy + sr * cp * sy
        q[6] = cr * cp * sy - sr * sp * cy
        for leg in 0..<4 {
            for j in 0..<3 { q[7 + 3 * leg + j] = standingPose[j] + rng.uniform(-0.1, 0.1) }
        }
        for j in 0..<18 { d.pointee.qvel[j] = rng.uniform(-0.05, 0.05) }
        q[2] = 0
        mj_kinematics(m, d)
        q[2] = resetClearance - lowestFootHeight(m, d)
    }

    /// The lowest point of any foot (the model's only spheres) after `mj_kinematics`.
    static func lowestFootHeight(_ m: UnsafeMutablePointer<mjModel>, _ d: UnsafeMutablePointer<mjData>) -> Double {
        var lowest = Double.infinity
        for g in 0..<Int(m.pointee.ngeom) where m.pointee.geom_type[g] == Int32(mjGEOM_SPHERE.rawValue) {
            lowest = min(lowest, d.pointee.geom_xpos[3 * g + 2] - m.pointee.geom_size[3 * g])
        }
        return lowest
    }

    @inline(__always)
    static func observe(_ d: UnsafeMutablePointer<mjData>, _ out: UnsafeMutablePointer<Float>) {
        let q: UnsafeMutablePointer<Double> = d.pointee.qpos, v: UnsafeMutablePointer<Double> = d.pointee.qvel
        let f = TorsoFrame(q + 3)
        let vel = SIMD3(v[0], v[1], v[2])
        out[0] = Float(q[2])
        out[1] = Float(f.x.z); out[2] = Float(f.y.z); out[3] = Float(f.z.z)
        for i in 0..<12 { out[4 + i] = Float(q[7 + i]) }
        out[16] = Float((f.x * vel).sum()); out[17] = Float((f.y * vel).sum()); out[18] = Float((f.z * vel).sum())
        // A free joint's angular velocity is already in the body's frame (what a gyro reads).
        for i in 0..<3 { out[19 + i] = Float(v[3 + i]) }
        for i in 0..<12 { out[22 + i] = Float(v[6 + i]) }
    }

    @inline(__always)
    static func reward(_ d: UnsafeMutablePointer<mjData>) -> Double {
        let f = TorsoFrame(d.pointee.qpos + 3)
        let v: UnsafeMutablePointer<Double> = d.pointee.qvel
        let forward = (f.x * SIMD3(v[0], v[1], v[2])).sum()
        let upright = tolerance(f.z.z, lower: 1, upper: .infinity, margin: 2, sigmoid: .linear, valueAtMargin: 0)
        let move = tolerance(forward, lower: targetSpeed, upper: .infinity, margin: targetSpeed,
                             sigmoid: .linear, valueAtMargin: 0)
        return upright * move
    }
}

/// The torso's axes in world coordinates (the columns of its rotation matrix), from the free
/// joint's quaternion (w, x, y, z), normalised here because integration lets it drift.
struct TorsoFrame {
    let x: SIMD3<Double>, y: SIMD3<Double>, z: SIMD3<Double>

    @inline(__always)
    init(_ quat: UnsafePointer<Double>) {
        let n = 1 / (quat[0] * quat[0] + quat[1] * quat[1] + quat[2] * quat[2] + quat[3] * quat[3]).squareRoot()
        let w = quat[0] * n, a = quat[1] * n, b = quat[2] * n, c = quat[3] * n
        x = SIMD3(1 - 2 * (b * b + c * c), 2 * (a * b + w * c), 2 * (a * c - w * b))
        y = SIMD3(2 * (a * b - w * c), 1 - 2 * (a * a + c * c), 2 * (b * c + w * a))
        z = SIMD3(2 * (a * c + w * b), 2 * (b * c - w * a), 1 - 2 * (a * a + b * b))
    }
}
