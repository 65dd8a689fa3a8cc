import ArgumentParser
import Foundation
import IQBench
import IQCalibration
import IQRuntime
import Logging

/// `iqmpc-runtime check-budget`: does this computer hold the calibration's timing budget?
struct CheckBudgetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-budget",
        abstract: "Time the full control step on this computer against the calibration's budget.",
        discussion: BudgetCheck.criteriaText + """


        --overhead instead measures the runtime's overhead over a raw ZeroMQ round trip of the
        same message sizes on loopback TCP, interleaving both in one run.
        """)

    @Option(help: "Weights file (safetensors).") var weights: String
    @Option(help: "Calibration file (YAML).") var calibration: String
    @Option(help: "Control steps to time (after warm-up).") var steps: Int = 2000
    @Option(help: "Recorded observations (.iqlog) to replay instead of synthetic ones.") var observations: String?
    @Option(help: "Override timing.planning_budget_ms (e.g. to see how small it can go).") var budgetMs: Double?
    @Option(help: "Inject a CPU hog: spin this many ms before every plan call.") var hogMs: Double = 0
    @Flag(help: "One step per control period (sleeping between steps, as in service) instead of back to back.") var paced = false
    @Flag(help: "Measure the runtime overhead beyond a raw ZeroMQ round trip instead.") var overhead = false
    @Flag(help: "Run even if the calibration's mapping differs from the weights' (warns).") var allowCalibrationMismatch = false

    func run() throws {
        var logger = Logger(label: "iqmpc-runtime")
        logger.logLevel = .warning
        if let b = budgetMs, !(b.isFinite && b > 0) { throw ValidationError("--budget-ms must be > 0") }
        let cal = try Calibration.load(path: calibration).overriding { o in
            if let b = budgetMs { o.timing.planningBudgetNs = UInt64((b * 1e6).rounded()) }
        }
        let setup = try ControllerSetup.load(weightsPath: weights, calibration: cal,
                                             allowCalibrationMismatch: allowCalibrationMismatch)
        for w in setup.warnings { logger.warning("\(w)") }
        _ = RealTimeSetup.applyScheduling(cal.realTime, logger: logger)

        if overhead {
            let report = try OverheadBenchmark.run(setup: setup, steps: steps, logger: logger)
            print(report.text)
            return
        }
        var recorded: [RecordedObservation]?
        if let path = observations { recorded = try BudgetCheck.loadObservations(path: path) }
        let result = try BudgetCheck.run(setup: setup, steps: steps, recorded: recorded,
                                         cpuHogNs: UInt64(hogMs * 1e6), paced: paced, logger: logger)
        print(result.report)
        if !result.passed { throw ExitCode(1) }
    }
}
