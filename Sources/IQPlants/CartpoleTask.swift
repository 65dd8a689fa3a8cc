import CMuJoCo
import Foundation
import IQKernels

/// `cartpole-swingup`: a 1 kg cart on a frictionless, unbounded rail pushed by a ±10 N
/// motor, carrying a 0.2 kg, 0.8 m uniform pole on a free hinge. θ = 0 is upright;
/// episodes start hanging (θ ≈ π) near x = 0. Physics 10 ms RK4, action repeat 2
/// (20 ms control), 500 control steps. Reward = upright · centered · small_control ·
/// small_velocity (dm_control's cartpole shape).
enum CartpoleTask {
    static let xml = """
    <mujoco model="iqmpc-cartpole">
      <compiler angle="radian"/>
      <option timestep="0.01" integrator="RK4" gravity="0 0 -9.81">
        <flag contact="disable"/>
      </option>
      <worldbody>
        <body name="cart" pos="0 0 1">
          <joint name="slider" type="slide" axis="1 0 0" damping="0.05"/>
          <geom name="cart" type="box" size="0.15 0.1 0.06" mass="1"/>
          <body name="pole" pos="0 0 0">
            <joint name="hinge" type="hinge" axis="0 1 0" damping="0.002"/>
            <geom name="pole" type="capsule" fromto="0 0 0 0 0 0.8" size="0.02" mass="0.2"/>
          </body>
        </body>
      </worldbody>
      <actuator>
        <motor name="force" joint="slider" gear="10" ctrllimited="true" ctrlrange="-1 1"/>
      </actuator>
    </mujoco>
    """

    static let maxForce: Float = 10

    static func info(timestep: Double) -> TaskInfo {
        TaskInfo(
            id: .cartpoleSwingup,
            observations: [
                ChannelInfo("cart.position", "m", -1000, 1000),
                ChannelInfo("pole.angle.cos", "1", -1, 1),
                ChannelInfo("pole.angle.sin", "1", -1, 1),
                ChannelInfo("cart.velocity", "m/s", -200, 200),
                ChannelInfo("pole.angular_velocity", "rad/s", -30, 30),
            ],
            actions: [ChannelInfo("cart.force", "N", -maxForce, maxForce)],
            actionRepeat: 2, episodeLength: 500, physicsTimestep: timestep)
    }

    static func reset(_ d: UnsafeMutablePointer<mjData>, _ rng: inout SeededRandom) {
        d.pointee.qpos[0] = rng.uniform(-0.1, 0.1)
        d.pointee.qpos[1] = Double.pi + rng.uniform(-0.1, 0.1)
        d.pointee.qvel[0] = rng.uniform(-0.05, 0.05)
        d.pointee.qvel[1] = rng.uniform(-0.05, 0.05)
    }

    @inline(__always)
    static func observe(_ d: UnsafeMutablePointer<mjData>, _ out: UnsafeMutablePointer<Float>) {
        let th = d.pointee.qpos[1]
        out[0] = Float(d.pointee.qpos[0]); out[1] = Float(cos(th)); out[2] = Float(sin(th))
        out[3] = Float(d.pointee.qvel[0]); out[4] = Float(d.pointee.qvel[1])
    }

    @inline(__always)
    static func reward(_ d: UnsafeMutablePointer<mjData>) -> Double {
        let upright = (1 + cos(d.pointee.qpos[1])) / 2
        let centered = (1 + tolerance(d.pointee.qpos[0], lower: 0, upper: 0, margin: 2)) / 2
        let control = (4 + tolerance(d.pointee.ctrl[0], lower: 0, upper: 0, margin: 1,
                                     sigmoid: .quadratic, valueAtMargin: 0)) / 5
        let velocity = (1 + tolerance(d.pointee.qvel[1], lower: 0, upper: 0, margin: 5)) / 2
        return upright * centered * control * velocity
    }
}
