import CMuJoCo
import Foundation

/// Operational-space control for `reacher`: a critically damped spring pulls the fingertip
/// to the target in Cartesian space, mapped to joint torques through the task-space
/// inertia Λ = (J M⁻¹ Jᵀ + εI)⁻¹ (ε keeps it finite at the stretched-arm singularity), plus
/// bias and damping compensation. Works on a private copy of the plant's state so the
/// plant's derived quantities are never touched. Allocation-free after init.
final class ReacherExpert {
    let world: MuJoCoWorld
    let state: StateBuffer
    let site: Int
    let gear: Double
    let jac: UnsafeMutablePointer<Double>    // 3 x nv
    let mass: UnsafeMutablePointer<Double>   // nv x nv
    let omega = 12.0

    init() throws(PlantError) {
        world = try MuJoCoWorld(xml: ReacherTask.xml, name: "reacher-expert")
        state = StateBuffer(world: world)
        site = try world.id(mjOBJ_SITE, "fingertip")
        gear = world.model.pointee.actuator_gear[0]
        jac = .allocate(capacity: 3 * world.nv)
        mass = .allocate(capacity: world.nv * world.nv)
    }

    deinit { state.free(); jac.deallocate(); mass.deallocate() }

    func act(_ plant: Plant, _ out: UnsafeMutablePointer<Float>) {
        let m = world.model, d = world.data
        state.save(from: plant.data)
        state.restore(into: d)
        mj_forward(m, d)
        mj_jacSite(m, d, jac, nil, Int32(site))
        mj_fullM(m, mass, d.pointee.qM)
        // J rows x, y (nv = 2).
        let j00 = jac[0], j01 = jac[1], j10 = jac[2], j11 = jac[3]
        let qd0 = d.pointee.qvel[0], qd1 = d.pointee.qvel[1]
        let tip = d.pointee.site_xpos + 3 * site
        let ex = plant.context.targetX - tip[0], ey = plant.context.targetY - tip[1]
        let vx = j00 * qd0 + j01 * qd1, vy = j10 * qd0 + j11 * qd1
        let kp = omega * omega, kd = 2 * omega
        let ax = kp * ex - kd * vx, ay = kp * ey - kd * vy
        // M⁻¹ (2x2).
        let m00 = mass[0], m01 = mass[1], m11 = mass[3]
        let det = m00 * m11 - m01 * m01
        let i00 = m11 / det, i01 = -m01 / det, i11 = m00 / det
        // A = J M⁻¹ Jᵀ + εI
        let t00 = j00 * i00 + j01 * i01, t01 = j00 * i01 + j01 * i11
        let t10 = j10 * i00 + j11 * i01, t11 = j10 * i01 + j11 * i11
        let eps = 1e-3
        let a00 = t00 * j00 + t01 * j01 + eps, a01 = t00 * j10 + t01 * j11
        let a10 = t10 * j00 + t11 * j01, a11 = t10 * j10 + t11 * j11 + eps
        let adet = a00 * a11 - a01 * a10
        let l00 = a11 / adet, l01 = -a01 / adet, l10 = -a10 / adet, l11 = a00 / adet
        let fx = l00 * ax + l01 * ay, fy = l10 * ax + l11 * ay
        let tau0 = j00 * fx + j10 * fy + d.pointee.qfrc_bias[0] - d.pointee.qfrc_passive[0]
        let tau1 = j01 * fx + j11 * fy + d.pointee.qfrc_bias[1] - d.pointee.qfrc_passive[1]
        // Saturate by scaling both torques together, keeping the commanded direction.
        let s = max(1, abs(tau0) / gear, abs(tau1) / gear)
        out[0] = Float(tau0 / gear / s)
        out[1] = Float(tau1 / gear / s)
    }
}
