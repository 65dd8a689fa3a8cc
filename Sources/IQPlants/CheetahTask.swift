import CMuJoCo
import Foundation
import IQKernels

/// `cheetah-run`: a planar runner written for iqmpc: a 1 m capsule torso (free in x, z and
/// pitch) with a back and a front leg of three hinged segments each (6 motors, springy
/// damped joints), on a frictional floor. Observation: everything but the forward position
/// (8 positions: root height offset, pitch, 6 joint angles; 9 velocities), i.e. what joint
/// encoders, an IMU and leg odometry give. Physics 10 ms (Euler), action repeat 2 (20 ms
/// control), 500 control steps. Reward: DeepMind Control Suite's Cheetah Run definition,
/// tolerance(forward speed, bounds (10 m/s, ∞), margin 10 m/s, linear, 0 at the margin), i.e.
/// min(max(speed, 0) / 10, 1): linear in speed, so it does not saturate at this body's
/// speeds and a per-step reward correlation can be compared with the paper's.
enum CheetahTask {
    static let xml = """
    <mujoco model="iqmpc-cheetah">
      <compiler angle="radian"/>
      <option timestep="0.01" gravity="0 0 -9.81"/>
      <default>
        <joint type="hinge" axis="0 1 0" limited="true" armature="0.1" damping="4" stiffness="100"/>
        <geom type="capsule" size="0.046" contype="1" conaffinity="0" condim="3" friction="0.8 0.1 0.1"/>
        <motor ctrllimited="true" ctrlrange="-1 1"/>
      </default>
      <worldbody>
        <geom name="floor" type="plane" size="0 0 1" pos="0 0 0" contype="0" conaffinity="1"/>
        <body name="torso" pos="0 0 0.7">
          <joint name="rootx" type="slide" axis="1 0 0" limited="false" armature="0" damping="0" stiffness="0"/>
          <joint name="rootz" type="slide" axis="0 0 1" limited="false" armature="0" damping="0" stiffness="0"/>
          <joint name="rooty" type="hinge" axis="0 1 0" limited="false" armature="0" damping="0" stiffness="0"/>
          <geom name="torso" fromto="-0.5 0 0 0.5 0 0"/>
          <geom name="head" fromto="0.5 0 0 0.62 0 0.12" size="0.04"/>
          <body name="bthigh" pos="-0.5 0 0">
            <joint name="bthigh" range="-0.55 1.0" stiffness="160" damping="5"/>
            <geom name="bthigh" fromto="0 0 0 -0.12 0 -0.2"/>
            <body name="bshin" pos="-0.12 0 -0.2">
              <joint name="bshin" range="-0.8 0.8" stiffness="110" damping="4"/>
              <geom name="bshin" fromto="0 0 0 0.15 0 -0.25"/>
              <body name="bfoot" pos="0.15 0 -0.25">
                <joint name="bfoot" range="-0.4 0.8" stiffness="70" damping="3"/>
                <geom name="bfoot" fromto="0 0 0 -0.05 0 -0.17"/>
              </body>
            </body>
          </body>
          <body name="fthigh" pos="0.5 0 0">
            <joint name="fthigh" range="-1.0 0.7" stiffness="160" damping="5"/>
            <geom name="fthigh" fromto="0 0 0 0.1 0 -0.2"/>
            <body name="fshin" pos="0.1 0 -0.2">
              <joint name="fshin" range="-1.2 0.9" stiffness="110" damping="4"/>
              <geom name="fshin" fromto="0 0 0 -0.12 0 -0.2"/>
              <body name="ffoot" pos="-0.12 0 -0.2">
                <joint name="ffoot" range="-0.5 0.5" stiffness="70" damping="3"/>
                <geom name="ffoot" fromto="0 0 0 0.05 0 -0.12"/>
              </body>
            </body>
          </body>
        </body>
      </worldbody>
      <actuator>
        <motor name="bthigh" joint="bthigh" gear="110"/>
        <motor name="bshin" joint="bshin" gear="80"/>
        <motor name="bfoot" joint="bfoot" gear="50"/>
        <motor name="fthigh" joint="fthigh" gear="110"/>
        <motor name="fshin" joint="fshin" gear="60"/>
        <motor name="ffoot" joint="ffoot" gear="30"/>
      </actuator>
    </mujoco>
    """

    /// Speed at which the reward reaches 1 (m/s), as DeepMind Control Suite's cheetah run.
    static let targetSpeed = 10.0
    static let gears: [Float] = [110, 80, 50, 110, 60, 30]
    static let jointNames = ["bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"]

    static func info(timestep: Double) -> TaskInfo {
        var obs = [ChannelInfo("root.z", "m", -1, 1), ChannelInfo("root.pitch", "rad", -20, 20)]
        obs += jointNames.map { ChannelInfo("\($0).angle", "rad", -1.5, 1.5) }
        obs += [ChannelInfo("root.vx", "m/s", -20, 20), ChannelInfo("root.vz", "m/s", -20, 20),
                ChannelInfo("root.pitch_rate", "rad/s", -50, 50)]
        obs += jointNames.map { ChannelInfo("\($0).angular_velocity", "rad/s", -60, 60) }
        let acts = zip(jointNames, gears).map { ChannelInfo("\($0.0).torque", "N*m", -$0.1, $0.1) }
        return TaskInfo(id: .cheetahRun, observations: obs, actions: acts,
                        actionRepeat: 2, episodeLength: 500, physicsTimestep: timestep)
    }

    static func reset(_ d: UnsafeMutablePointer<mjData>, _ rng: inout SeededRandom) {
        for j in 3..<9 { d.pointee.qpos[j] = rng.uniform(-0.1, 0.1) }
        for j in 0..<9 { d.pointee.qvel[j] = rng.uniform(-0.05, 0.05) }
    }

    @inline(__always)
    static func observe(_ d: UnsafeMutablePointer<mjData>, _ out: UnsafeMutablePointer<Float>) {
        for i in 0..<8 { out[i] = Float(d.pointee.qpos[i + 1]) }
        for i in 0..<9 { out[8 + i] = Float(d.pointee.qvel[i]) }
    }

    @inline(__always)
    static func reward(_ d: UnsafeMutablePointer<mjData>) -> Double {
        // The torso's forward velocity (DMControl reads the whole body's centre of mass; the
        // torso carries most of the mass here). No posture term, as in DMControl.
        tolerance(d.pointee.qvel[0], lower: targetSpeed, upper: .infinity, margin: targetSpeed,
                  sigmoid: .linear, valueAtMargin: 0)
    }
}
