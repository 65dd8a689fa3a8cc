import Foundation
import IQCalibration
import IQLink
import IQPlanner
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

    /// Recorded observations (an .iqlog) are replayed in order, episode starts included.
    @Test func recordedObservationsAreReplayed() throws {
        let cal = try testCalibration(periodMs: 200, budgetMs: 150)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("obs.iqlog").path
        let writer = try RecordWriter(path: path, header: RecordHeaderInfo(spec: cal.plantSpec(), source: "test"))
        for i in 0..<50 {
            let th = Float(i) * 0.1
            try writer.write(observation: ObservationRecord(seq: UInt64(i + 1), timestampNs: 0, values: [cos(th), sin(th), 0.5],
                                                            episodeStart: i % 25 == 0), action: nil)
        }
        try writer.close()
        let recorded = try BudgetCheck.loadObservations(path: path)
        #expect(recorded.count == 50 && recorded.filter(\.episodeStart).count == 2)
        let th3 = Float(3) * 0.1
        #expect(recorded[3].values == [cos(th3), sin(th3), 0.5])
        let r = try BudgetCheck.run(setup: try testSetup(cal), steps: 100, recorded: recorded, logger: quietLogger())
        #expect(r.report.contains("recorded observations"), "\(r.report)")
        #expect(r.allocations == 0)
        // A log of another robot is refused, naming the dimensions.
        let wide = try cal.replacingChannels(observations: cal.observations + [.init(name: "extra", unit: "1", offset: 0, scale: 1)])
        #expect(throws: ControllerSetup.SetupError.self) {
            _ = try BudgetCheck.run(setup: try testSetup(wide), steps: 10, recorded: recorded, logger: quietLogger())
        }
    }

    /// The calibration's planner section is what the runtime plans with: samples through
    /// `setSamples` (the elite and prior fractions), κ and the temperature as written; the
    /// paper's temperature when the file leaves it out.
    @Test func calibrationPlannerSectionReachesThePlanner() throws {
        let cal = try testCalibration()
        let plain = try testSetup(cal).plannerConfig
        #expect(plain.temperature == PlannerConfig.paper(actDim: 1).temperature && plain.priorAnchor == 0)
        let tuned = try cal.overriding { $0.planner.temperature = 0.125; $0.planner.priorAnchor = 4; $0.planner.samples = 64 }
        let p = try testSetup(tuned).plannerConfig
        #expect(p.temperature == 0.125 && p.priorAnchor == 4)
        #expect(p.samples == 64 && p.elites == 8 && p.policyTrajectories == 3)
        #expect(throws: CalibrationError.self) { _ = try cal.overriding { $0.planner.temperature = -1 } }
    }

    @Test func weightsTrainedWithAnotherMappingAreRefused() throws {
        let cal = try testCalibration()
        var otherObs = cal.observations
        otherObs[2].scale = 5
        let other = try cal.replacingChannels(observations: otherObs)
        let setup = try testSetup(other)   // the weights record scale 5
        #expect(throws: CalibrationError.self) {
            _ = try ControllerSetup(model: setup.model, metadata: setup.modelMetadata, calibration: cal,
                                    allowCalibrationMismatch: false)
        }
        let warned = try ControllerSetup(model: setup.model, metadata: setup.modelMetadata, calibration: cal,
                                         allowCalibrationMismatch: true)
        #expect(warned.warnings.count == 1 && warned.warnings[0].contains("pole.angular_velocity"))
        // Wrong dimensions are refused before any mapping comparison.
        let wide = try cal.replacingChannels(observations: cal.observations + [.init(name: "extra", unit: "1", offset: 0, scale: 1)])
        #expect(throws: ControllerSetup.SetupError.self) {
            _ = try ControllerSetup(model: setup.model, metadata: setup.modelMetadata, calibration: wide,
                                    allowCalibrationMismatch: true)
        }
    }
}
