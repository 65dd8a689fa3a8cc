import CMuJoCo
import Foundation
import IQKernels

/// `walker-walk`: a planar biped written for iqmpc. A 0.6 m capsule torso, free in x, z and
/// pitch, carries two legs of thigh (0.45 m), shin (0.5 m) and foot (0.2 m), hinged at hip,
/// knee and ankle (6 motors: 100 / 50 / 20 N·m), on a frictional floor. Standing straight,
/// the torso's centre is 1.3 m above the ground.
///
/// Observation (18 channels, physical units), only what the robot's own sensors give: the
/// torso's height above the ground (altimeter), its pitch as cos/sin (IMU attitude; wrap-free
/// through falls), the 6 joint angles (encoders), the torso's horizontal and vertical
/// velocity in the world frame (IMU + leg odometry), its pitch rate (gyro) and the 6 joint
/// rates. No forward position: the task is the same everywhere on the floor.
///
/// Reward, dm_control's walker-walk definition on the state after the step: standing =
/// tolerance(height, ≥ 1.2 m, gaussian margin 0.6 m), upright = (1 + cos pitch) / 2,
/// stand = (3 · standing + upright) / 4, move = tolerance(forward speed, ≥ 1 m/s, linear
/// margin 0.5 m/s, 0.5 at the margin), reward = stand · (5 · move + 1) / 6, in [0, 1].
/// Forward speed is the torso's (what the robot's odometry reports), where dm_control uses
/// the whole body's centre of mass; over a stride the two agree on average.
///
/// Physics 10 ms (Euler), action repeat 2 (20 ms control), 500 control steps (10 s), like the
/// other tasks. Episodes start standing (small random joint angles and velocities), not
/// dropped from a random pose as in dm_control: 10 s leave little time for getting up.
enum WalkerTask {
    static let xml = """
    <mujoco model="iqmpc-walker">
      <compiler angle="radian"/>
      <option timestep="0.01" gravity="0 0 -9.81"/>
      <default>
        <joint type="hinge" axis="0 -1 0" limited="true" armature="0.02" damping="0.2"/>
        <geom type="capsule" contype="1" conaffinity="0" condim="3" friction="0.7 0.1 0.1"/>
        <motor ctrllimited="true" ctrlrange="-1 1"/>
      </default>
      <worldbody>
        <geom name="floor" type="plane" size="0 0 1" contype="0" conaffinity="1"/>
        <body name="torso" pos="0 0 1.3">
          <joint name="rootx" type="slide" axis="1 0 0" limited="false" armature="0" damping="0"/>
          <joint name="rootz" type="slide" axis="0 0 1" limited="false" armature="0" damping="0"/>
          <joint name="rooty" type="hinge" axis="0 1 0" limited="false" armature="0" damping="0"/>
          <geom name="torso" fromto="0 0 -0.3 0 0 0.3" size="0.07"/>
          <body name="right_thigh" pos="0 -0.05 -0.3">
            <joint name="right_hip" range="-0.35 1.75"/>
            <geom name="right_thigh" fromto="0 0 0 0 0 -0.45" size="0.05"/>
            <body name="right_shin" pos="0 0 -0.45">
              <joint name="right_knee" range="-2.6 0"/>
              <geom name="right_shin" fromto="0 0 0 0 0 -0.5" size="0.04"/>
              <body name="right_foot" pos="0 0 -0.5">
                <joint name="right_ankle" range="-0.785 0.785"/>
                <geom name="right_foot" fromto="-0.04 0 0 0.16 0 0" size="0.05"/>
              </body>
            </body>
          </body>
          <body name="left_thigh" pos="0 0.05 -0.3">
            <joint name="left_hip" range="-0.35 1.75"/>
            <geom name="left_thigh" fromto="0 0 0 0 0 -0.45" size="0.05"/>
            <body name="left_shin" pos="0 0 -0.45">
              <joint name="left_knee" range="-2.6 0"/>
              <geom name="left_shin" fromto="0 0 0 0 0 -0.5" size="0.04"/>
              <body name="left_foot" pos="0 0 -0.5">
                <joint name="left_ankle" range="-0.785 0.785"/>
                <geom name="left_foot" fromto="-0.04 0 0 0.16 0 0" size="0.05"/>
              </body>
            </body>
          </body>
        </body>
      </worldbody>
      <actuator>
        <motor name="right_hip" joint="right_hip" gear="100"/>
        <motor name="right_knee" joint="right_knee" gear="50"/>
        <motor name="right_ankle" joint="right_ankle" gear="20"/>
        <motor name="left_hip" joint="left_hip" gear="100"/>
        <motor name="left_knee" joint="left_knee" gear="50"/>
        <motor name="left_ankle" joint="left_ankle" gear="20"/>
      </actuator>
    </mujoco>
    """

    /// Height of the torso's centre above the floor when `rootz` = 0 (the body's `pos`).
    static let standingHeight = 1.3
    /// dm_control's walker constants: the torso height that counts as standing, and the
    /// walking speed at which `move` saturates.
    static let standHeight = 1.2
    static let targetSpeed = 1.0
    static let gears: [Float] = [100, 50, 20, 100, 50, 20]
    static let jointNames = ["right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle"]

    static func info(timestep: Double) -> TaskInfo {
        var obs = [ChannelInfo("torso.height", "m", 0, 3),
                   ChannelInfo("torso.pitch.cos", "1", -1, 1), ChannelInfo("torso.pitch.sin", "1", -1, 1)]
        obs += jointNames.map { ChannelInfo("\($0).angle", "rad", -3.2, 3.2) }
        obs += [ChannelInfo("torso.vx", "m/s", -20, 20), ChannelInfo("torso.vz", "m/s", -20, 20),
                ChannelInfo("torso.pitch_rate", "rad/s", -60, 60)]
        obs += jointNames.map { ChannelInfo("\($0).angular_velocity", "rad/s", -100, 100) }
        let acts = zip(jointNames, gears).map { ChannelInfo("\($0.0).torque", "N*m", -$0.1, $0.1) }
        return TaskInfo(id: .walkerWalk, observations: obs, actions: acts,
                        actionRepeat: 2, episodeLength: 500, physicsTimestep: timestep)
    }

    /// Standing, slightly perturbed: hips and ankles ±0.1 rad, knees bent up to 0.2 rad,
    /// torso pitch ±0.05 rad, all rates ±0.05; raised 2 cm so no foot starts in the floor.
    static func reset(_ d: UnsafeMutablePointer<mjData>, _ rng: inout SeededRandom) {
        d.pointee.qpos[1] = 0.02
        d.pointee.qpos[2] = rng.uniform(-0.05, 0.05)
        for leg in 0..<2 {
            d.pointee.qpos[3 + 3 * leg] = rng.uniform(-0.1, 0.1)
            d.pointee.qpos[4 + 3 * leg] = rng.uniform(-0.2, 0)
            d.pointee.qpos[5 + 3 * leg] = rng.uniform(-0.1, 0.1)
        }
        for j in 0..<9 { d.pointee.qvel[j] = rng.uniform(-0.05, 0.05) }
    }

    @inline(__always)
    static func observe(_ d: UnsafeMutablePointer<mjData>, _ out: UnsafeMutablePointer<Float>) {
        let pitch = d.pointee.qpos[2]
        out[0] = Float(standingHeight + d.pointee.qpos[1])
        out[1] = Float(cos(pitch))
        out[2] = Float(sin(pitch))
        for i in 0..<6 { out[3 + i] = Float(d.pointee.qpos[3 + i]) }
        for i in 0..<9 { out[9 + i] = Float(d.pointee.qvel[i]) }
    }

    @inline(__always)
    static func reward(_ d: UnsafeMutablePointer<mjData>) -> Double {
        let height = standingHeight + d.pointee.qpos[1]
        let standing = tolerance(height, lower: standHeight, upper: .infinity, margin: standHeight / 2)
        let upright = (1 + cos(d.pointee.qpos[2])) / 2
        let stand = (3 * standing + upright) / 4
        let move = tolerance(d.pointee.qvel[0], lower: targetSpeed, upper: .infinity, margin: targetSpeed / 2,
                             sigmoid: .linear, valueAtMargin: 0.5)
        return stand * (5 * move + 1) / 6
    }
}
