import CMuJoCo
import Foundation

/// Energy-pumping swing-up plus LQR balance for `pendulum-swingup`. Energy is measured
/// relative to resting upright; the pump drives it to a small positive margin, so the
/// pole arrives at the top with a little speed, where the LQR (designed on the true
/// MuJoCo transition) takes over. Reads the plant's state directly (an expert is a
/// demonstrator, not a deployed controller).
final class PendulumExpert {
    let inertia: Double   // about the hinge, N·m·s²
    let mgl: Double       // gravity torque scale, N·m
    let gear: Double
    let k: [Double]
    /// Switch to LQR inside this angle from upright (the 1 N·m motor can hold about 0.2 rad against gravity).
    let catchAngle = 0.3
    let energyMargin: Double

    init() throws(PlantError) {
        let w = try MuJoCoWorld(xml: PendulumTask.xml, name: "pendulum-expert")
        mj_resetData(w.model, w.data)
        w.data.pointee.qpos[0] = 0
        mj_forward(w.model, w.data)
        inertia = w.data.pointee.qM[0]
        let mass = w.model.pointee.body_mass[1]
        let lc = w.data.pointee.xipos[5] - w.data.pointee.xpos[5]
        mgl = mass * 9.81 * lc
        gear = w.model.pointee.actuator_gear[0]
        energyMargin = 0.02 * mgl
        k = try LQRDesign.design(task: .pendulumSwingup, qpos0: [0], q: [20, 1], r: [0.2]).gain
    }

    func act(_ plant: Plant, _ out: UnsafeMutablePointer<Float>) {
        let d = plant.data
        let th = wrapAngle(d.pointee.qpos[0]), w = d.pointee.qvel[0]
        var u: Double
        if abs(th) < catchAngle && abs(w) < 3 {
            u = -(k[0] * th + k[1] * w)
        } else {
            let e = 0.5 * inertia * w * w + mgl * (cos(th) - 1)
            // dE/dt = gear·u·θdot: push along the velocity while short of energy.
            u = 20 * (energyMargin - e) * w
            if abs(w) < 0.05 && cos(th) < -0.99 { u = 1 }  // at rest at the bottom: kick
        }
        out[0] = Float(min(max(u, -1), 1))
    }
}

/// Energy-based swing-up (cart acceleration chosen so dE/dt ≥ 0, with cart centring) plus
/// LQR balance for `cartpole-swingup`. With θ from upright, the cart's acceleration a puts
/// a torque −m·lc·a·cos θ on the pole, so a = −k (E* − E) θdot cos θ adds energy.
final class CartpoleExpert {
    let poleInertia: Double
    let mgl: Double
    let mlc: Double
    let totalMass: Double
    let gear: Double
    let k: [Double]
    let catchCos = 0.85

    init() throws(PlantError) {
        let w = try MuJoCoWorld(xml: CartpoleTask.xml, name: "cartpole-expert")
        mj_resetData(w.model, w.data)
        mj_forward(w.model, w.data)
        var full = [Double](repeating: 0, count: 4)
        mj_fullM(w.model, &full, w.data.pointee.qM)
        poleInertia = full[3]
        let mp = w.model.pointee.body_mass[2]
        let lc = w.data.pointee.xipos[8] - w.data.pointee.xpos[8]
        mgl = mp * 9.81 * lc
        mlc = mp * lc
        totalMass = w.model.pointee.body_mass[1] + mp
        gear = w.model.pointee.actuator_gear[0]
        k = try LQRDesign.design(task: .cartpoleSwingup, qpos0: [0, 0], q: [2, 20, 0.5, 1], r: [0.1]).gain
    }

    func act(_ plant: Plant, _ out: UnsafeMutablePointer<Float>) {
        let d = plant.data
        let x = d.pointee.qpos[0], th = wrapAngle(d.pointee.qpos[1])
        let v = d.pointee.qvel[0], w = d.pointee.qvel[1]
        var u: Double
        if cos(th) > catchCos {
            u = -(k[0] * x + k[1] * th + k[2] * v + k[3] * w)
        } else {
            let e = 0.5 * poleInertia * w * w + mgl * (cos(th) - 1)
            let target = 0.02 * mgl
            var a = -15 * (target - e) * w * cos(th)
            a -= 1.5 * x + 1.5 * v
            if abs(w) < 0.05 && cos(th) < -0.99 { a = 5 }
            u = a * totalMass / gear
        }
        out[0] = Float(min(max(u, -1), 1))
    }
}
