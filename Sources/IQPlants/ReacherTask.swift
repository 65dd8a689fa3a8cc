import CMuJoCo
import Foundation
import IQKernels

/// `reacher`: a planar 2-link arm (0.15 m + 0.12 m, 50 g + 40 g) in the horizontal plane,
/// ±0.05 N·m per joint, elbow limited to ±2.8 rad, reaching a target drawn uniformly in an
/// annulus of radius 0.05..0.25 m each episode. The robot senses its joint angles and rates
/// and the target's offset from its fingertip (e.g. a camera). Physics 10 ms RK4, action
/// repeat 2 (20 ms control), 500 control steps. Reward = tolerance(distance, 0..1.5 cm,
/// gaussian margin 10 cm).
enum ReacherTask {
    static let xml = """
    <mujoco model="iqmpc-reacher">
      <compiler angle="radian"/>
      <option timestep="0.01" integrator="RK4" gravity="0 0 -9.81">
        <flag contact="disable"/>
      </option>
      <worldbody>
        <body name="upper" pos="0 0 0.01">
          <joint name="shoulder" type="hinge" axis="0 0 1" damping="0.002" armature="0.0002"/>
          <geom name="upper" type="capsule" fromto="0 0 0 0.15 0 0" size="0.01" mass="0.05"/>
          <body name="fore" pos="0.15 0 0">
            <joint name="elbow" type="hinge" axis="0 0 1" limited="true" range="-2.8 2.8"
                   damping="0.002" armature="0.0002"/>
            <geom name="fore" type="capsule" fromto="0 0 0 0.12 0 0" size="0.01" mass="0.04"/>
            <site name="fingertip" pos="0.12 0 0" size="0.01"/>
          </body>
        </body>
      </worldbody>
      <actuator>
        <motor name="shoulder" joint="shoulder" gear="0.05" ctrllimited="true" ctrlrange="-1 1"/>
        <motor name="elbow" joint="elbow" gear="0.05" ctrllimited="true" ctrlrange="-1 1"/>
      </actuator>
    </mujoco>
    """

    static let maxTorque: Float = 0.05
    static let targetRadius = 0.015

    static func info(timestep: Double) -> TaskInfo {
        TaskInfo(
            id: .reacher,
            observations: [
                ChannelInfo("shoulder.angle.cos", "1", -1, 1),
                ChannelInfo("shoulder.angle.sin", "1", -1, 1),
                ChannelInfo("elbow.angle.cos", "1", -1, 1),
                ChannelInfo("elbow.angle.sin", "1", -1, 1),
                ChannelInfo("shoulder.angular_velocity", "rad/s", -40, 40),
                ChannelInfo("elbow.angular_velocity", "rad/s", -40, 40),
                ChannelInfo("target.offset.x", "m", -0.6, 0.6),
                ChannelInfo("target.offset.y", "m", -0.6, 0.6),
            ],
            actions: [
                ChannelInfo("shoulder.torque", "N*m", -maxTorque, maxTorque),
                ChannelInfo("elbow.torque", "N*m", -maxTorque, maxTorque),
            ],
            actionRepeat: 2, episodeLength: 500, physicsTimestep: timestep)
    }

    static func reset(_ d: UnsafeMutablePointer<mjData>, _ rng: inout SeededRandom, _ ctx: inout TaskContext) {
        d.pointee.qpos[0] = rng.uniform(-Double.pi, Double.pi)
        d.pointee.qpos[1] = rng.uniform(-2.5, 2.5)
        let r = rng.uniform(0.05, 0.25), a = rng.uniform(-Double.pi, Double.pi)
        ctx.targetX = r * cos(a)
        ctx.targetY = r * sin(a)
    }

    /// Fingertip position needs up-to-date kinematics (`mj_kinematics` after the step).
    @inline(__always)
    static func observe(_ d: UnsafeMutablePointer<mjData>, _ ctx: TaskContext, _ out: UnsafeMutablePointer<Float>) {
        let q1 = d.pointee.qpos[0], q2 = d.pointee.qpos[1]
        out[0] = Float(cos(q1)); out[1] = Float(sin(q1)); out[2] = Float(cos(q2)); out[3] = Float(sin(q2))
        out[4] = Float(d.pointee.qvel[0]); out[5] = Float(d.pointee.qvel[1])
        let tip = d.pointee.site_xpos + 3 * ctx.fingertipSite
        out[6] = Float(ctx.targetX - tip[0]); out[7] = Float(ctx.targetY - tip[1])
    }

    @inline(__always)
    static func distance(_ d: UnsafeMutablePointer<mjData>, _ ctx: TaskContext) -> Double {
        let tip = d.pointee.site_xpos + 3 * ctx.fingertipSite
        let dx = ctx.targetX - tip[0], dy = ctx.targetY - tip[1]
        return (dx * dx + dy * dy).squareRoot()
    }

    @inline(__always)
    static func reward(_ d: UnsafeMutablePointer<mjData>, _ ctx: TaskContext) -> Double {
        tolerance(distance(d, ctx), lower: 0, upper: targetRadius, margin: 0.1)
    }
}
