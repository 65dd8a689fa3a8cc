import CMuJoCo
import Foundation
import Testing
@testable import IQPlants

/// The pendulum model against textbook physics, with constants taken from the MJCF text
/// (1 kg sphere of radius 0.04 m at 0.5 m on a massless rod), not from MuJoCo.
@Suite(.serialized) struct PhysicsSanityTests {
    let mass = 1.0, length = 0.5, radius = 0.04, g = 9.81
    var inertia: Double { mass * length * length + 0.4 * mass * radius * radius }

    /// Unactuated and undamped, from horizontal: total energy drifts < 0.01 % of m·g·l over 20 s (RK4).
    @Test func undampedPendulumConservesEnergy() throws {
        let plant = try Plant(task: .pendulumSwingup)
        plant.model.pointee.dof_damping[0] = 0
        plant.reset(seed: 0)
        plant.data.pointee.qpos[0] = Double.pi / 2
        plant.data.pointee.qvel[0] = 0
        func energy() -> Double {
            let th = plant.data.pointee.qpos[0], w = plant.data.pointee.qvel[0]
            return 0.5 * inertia * w * w + mass * g * length * cos(th)
        }
        let e0 = energy()
        var worst = 0.0
        var zero: Float = 0
        for _ in 0..<1000 {
            plant.step(normalized: &zero)
            worst = max(worst, abs(energy() - e0))
        }
        #expect(worst < 1e-4 * mass * g * length, "energy drift \(worst) J")
        // The motion was real: the pole swung through the bottom.
        #expect(abs(plant.data.pointee.qvel[0]) > 0 || abs(plant.data.pointee.qpos[0]) > 0.1)
    }

    /// Small oscillations about hanging have period 2π·sqrt(I / (m·g·l)) within 0.2 %.
    @Test func smallAnglePeriodMatchesTheory() throws {
        let plant = try Plant(task: .pendulumSwingup)
        plant.model.pointee.dof_damping[0] = 0
        plant.reset(seed: 0)
        plant.data.pointee.qpos[0] = Double.pi + 0.02
        plant.data.pointee.qvel[0] = 0
        let m = plant.model, d = plant.data
        var crossings: [Double] = []
        var prev = d.pointee.qpos[0] - Double.pi
        while crossings.count < 9 && d.pointee.time < 20 {
            mj_step(m, d)
            let x = d.pointee.qpos[0] - Double.pi
            if prev > 0 && x <= 0 || prev < 0 && x >= 0 {
                // Linear interpolation of the crossing time within the step.
                let dt = m.pointee.opt.timestep
                crossings.append(d.pointee.time - dt * abs(x) / (abs(x) + abs(prev)))
            }
            prev = x
        }
        #expect(crossings.count == 9)
        let measured = (crossings[8] - crossings[0]) / 4
        let theory = 2 * Double.pi * (inertia / (mass * g * length)).squareRoot()
        #expect(abs(measured - theory) / theory < 0.002, "period \(measured) s vs theory \(theory) s")
    }
}
