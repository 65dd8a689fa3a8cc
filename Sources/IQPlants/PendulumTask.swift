import CMuJoCo
import Foundation
import IQKernels

/// `pendulum-swingup`: a 1 kg bob on a 0.5 m massless rod, hinge at 1 m height, motor
/// limited to ±1 N·m (a fifth of the 4.9 N·m gravity torque at horizontal, so it must pump
/// energy over a few swings). θ = 0 is upright; episodes start hanging (θ ≈ π).
/// Physics 10 ms RK4, action repeat 2 (20 ms control), 500 control steps = 10 s.
/// Reward = upright · small_control · small_velocity with upright = (1 + cos θ)/2.
enum PendulumTask {
    static let xml = """
    <mujoco model="iqmpc-pendulum">
      <compiler angle="radian"/>
      <option timestep="0.01" integrator="RK4" gravity="0 0 -9.81">
        <flag contact="disable" energy="enable"/>
      </option>
      <worldbody>
        <body name="pole" pos="0 0 1">
          <joint name="hinge" type="hinge" axis="0 1 0" damping="0.01"/>
          <geom name="rod" type="capsule" fromto="0 0 0 0 0 0.5" size="0.01" mass="0"/>
          <geom name="bob" type="sphere" pos="0 0 0.5" size="0.04" mass="1"/>
        </body>
      </worldbody>
      <actuator>
        <motor name="torque" joint="hinge" gear="1" ctrllimited="true" ctrlrange="-1 1"/>
      </actuator>
    </mujoco>
    """

    static let maxTorque: Float = 1

    static func info(timestep: Double) -> TaskInfo {
        TaskInfo(
            id: .pendulumSwingup,
            observations: [
                ChannelInfo("pole.angle.cos", "1", -1, 1),
                ChannelInfo("pole.angle.sin", "1", -1, 1),
                ChannelInfo("pole.angular_velocity", "rad/s", -20, 20),
            ],
            actions: [ChannelInfo("motor.torque", "N*m", -maxTorque, maxTorque)],
            actionRepeat: 2, episodeLength: 500, physicsTimestep: timestep)
    }

    static func reset(_ d: UnsafeMutablePointer<mjData>, _ rng: inout SeededRandom) {
        d.pointee.qpos[0] = Double.pi + rng.uniform(-0.2, 0.2)
        d.pointee.qvel[0] = rng.uniform(-0.2, 0.2)
    }

    @inline(__always)
    static func observe(_ d: UnsafeMutablePointer<mjData>, _ out: UnsafeMutablePointer<Float>) {
        let th = d.pointee.qpos[0]
        out[0] = Float(cos(th)); out[1] = Float(sin(th)); out[2] = Float(d.pointee.qvel[0])
    }

    @inline(__always)
    static func reward(_ d: UnsafeMutablePointer<mjData>) -> Double {
        let upright = (1 + cos(d.pointee.qpos[0])) / 2
        let control = (4 + tolerance(d.pointee.ctrl[0], lower: 0, upper: 0, margin: 1,
                                     sigmoid: .quadratic, valueAtMargin: 0)) / 5
        let velocity = (1 + tolerance(d.pointee.qvel[0], lower: 0, upper: 0, margin: 5)) / 2
        return upright * control * velocity
    }
}
