import Foundation
import IQCalibration
@testable import IQRuntime
import Testing

@Suite(.serialized) struct BudgetCheckTests {
    /// Generous: a 150 ms budget for a plan of about 1 ms (the margin absorbs this shared
    /// machine's scheduling spikes, which reach tens of ms).
    @Test func generousBudgetPasses() throws {
        let cal = try testCalibration(periodMs: 200, budgetMs: 150)
        let r = try BudgetCheck.run(setup: try testSetup(cal), steps: 300, logger: quietLogger())
        #expect(r.passed, "\(r.report)")
        #expect(r.allocations == 0)
        #expect(r.report.contains("PASS"))
    }

    @Test func impossibleBudgetFails() throws {
        let cal = try testCalibration(budgetMs: 0.001)
        let r = try BudgetCheck.run(setup: try testSetup(cal), steps: 100, logger: quietLogger())
        #expect(!r.passed, "\(r.report)")
        #expect(r.fallbacks == 100, "nothing plans in 1 µs: \(r.report)")
        #expect(r.report.contains("[FAIL] policy-prior fallbacks") && r.report.contains("FAIL: the budget does not hold"))
    }

    @Test func weightsTrainedWithAnotherMappingAreRefused() throws {
        let cal = try testCalibration()
        var other = cal
        other.observations[2].scale = 5
        let setup = try testSetup(other)   // the weights record scale 5
        #expect(throws: CalibrationError.self) {
            _ = try ControllerSetup(model: setup.model, metadata: setup.modelMetadata, calibration: cal,
                                    allowCalibrationMismatch: false)
        }
        let warned = try ControllerSetup(model: setup.model, metadata: setup.modelMetadata, calibration: cal,
                                         allowCalibrationMismatch: true)
        #expect(warned.warnings.count == 1 && warned.warnings[0].contains("pole.angular_velocity"))
        // Wrong dimensions are refused before any mapping comparison.
        var wide = cal
        wide.observations.append(.init(name: "extra", unit: "1", offset: 0, scale: 1))
        #expect(throws: ControllerSetup.SetupError.self) {
            _ = try ControllerSetup(model: setup.model, metadata: setup.modelMetadata, calibration: wide,
                                    allowCalibrationMismatch: true)
        }
    }
}
