import Foundation
import IQCalibration
import Testing
@testable import IQPlants

/// Every task ships a calibration file that the runtime's handshake checks would accept:
/// same robot id, channel names, units and period, action limits within the actuators.
@Suite struct TaskCalibrationFileTests {
    @Test(arguments: TaskID.allCases)
    func calibrationMatchesTheTaskSpec(task: TaskID) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let c = try Calibration.load(path: root.appendingPathComponent("Calibration/\(task.rawValue).yaml").path)
        let info = TaskKernels.info(task)
        #expect(c.robotId == task.rawValue)
        #expect(c.observations.map(\.name) == info.observations.map(\.name))
        #expect(c.observations.map(\.unit) == info.observations.map(\.unit))
        #expect(c.actions.map(\.name) == info.actions.map(\.name))
        #expect(c.actions.map(\.unit) == info.actions.map(\.unit))
        #expect(c.timing.controlPeriodNs == info.controlPeriodNs)
        for (a, s) in zip(c.actions, info.actions) {
            #expect(a.low >= s.low && a.high <= s.high, "\(a.name) limits \(a.low)...\(a.high) exceed the actuator's \(s.low)...\(s.high)")
        }
    }
}
