import CMuJoCo
import Foundation
import IQKernels
import Testing
@testable import IQPlants

/// Every task's model compiles, steps, and exposes the declared layout in physical units.
@Suite(.serialized) struct TaskModelTests {
    @Test(arguments: TaskID.allCases)
    func loadsAndSteps(task: TaskID) throws {
        let plant = try Plant(task: task)
        #expect(plant.world.nu == plant.info.actDim)
        #expect(plant.info.episodeLength == 500)
        #expect(plant.info.controlPeriodNs == 20_000_000)
        plant.reset(seed: 7)
        var obs = [Float](repeating: .nan, count: plant.info.obsDim)
        var act = [Float](repeating: 0, count: plant.info.actDim)
        var rng = SeededRandom(seed: 3)
        let q0 = Array(UnsafeBufferPointer(start: plant.data.pointee.qpos, count: plant.world.nq))
        for _ in 0..<50 {
            for i in act.indices { act[i] = Float(rng.uniform(-1, 1)) }
            let r = plant.step(normalized: act)
            #expect(r >= 0 && r <= 1)
            plant.observe(into: &obs)
            #expect(obs.allSatisfy { $0.isFinite })
        }
        let q1 = Array(UnsafeBufferPointer(start: plant.data.pointee.qpos, count: plant.world.nq))
        #expect(q0 != q1, "the state must move under random actions")
        #expect(plant.stepIndex == 50)
    }

    @Test func pendulumObservationLayoutIsCosSinRate() throws {
        let plant = try Plant(task: .pendulumSwingup)
        plant.reset(seed: 1)
        plant.data.pointee.qpos[0] = 0.3
        plant.data.pointee.qvel[0] = -1.25
        var obs = [Float](repeating: 0, count: 3)
        plant.observe(into: &obs)
        #expect(abs(obs[0] - Float(cos(0.3))) < 1e-6)
        #expect(abs(obs[1] - Float(sin(0.3))) < 1e-6)
        #expect(obs[2] == -1.25)
        #expect(plant.info.observations.map(\.name) == ["pole.angle.cos", "pole.angle.sin", "pole.angular_velocity"])
        #expect(plant.info.actions.map(\.name) == ["motor.torque"] && plant.info.actions[0].high == 1)
    }

    @Test func physicalActionsMapToNormalisedControl() throws {
        let plant = try Plant(task: .cartpoleSwingup)
        plant.reset(seed: 1)
        var a: [Float] = [5]   // 5 N of 10 N
        plant.step(physical: &a)
        #expect(plant.data.pointee.ctrl[0] == 0.5)
        a = [.nan]
        plant.step(physical: &a)
        #expect(plant.data.pointee.ctrl[0] == 0, "a non-finite action must become no force")
        a = [100]
        plant.step(physical: &a)
        #expect(plant.data.pointee.ctrl[0] == 1)
    }

    @Test func badModelTextIsAnErrorNotACrash() {
        #expect(throws: PlantError.self) { try MuJoCoWorld(xml: "<mujoco><worldbody><body>", name: "broken") }
    }

    @Test func toleranceShapes() {
        #expect(tolerance(0.5, lower: 0, upper: 1) == 1)
        #expect(abs(tolerance(2, lower: 0, upper: 1, margin: 1) - 0.1) < 1e-12)
        #expect(abs(tolerance(-1, lower: 0, upper: 0, margin: 2, sigmoid: .linear, valueAtMargin: 0) - 0.5) < 1e-12)
        #expect(tolerance(3, lower: 0, upper: 0, margin: 1, sigmoid: .quadratic, valueAtMargin: 0) == 0)
        #expect(tolerance(5, lower: 0, upper: 1) == 0)
    }
}
