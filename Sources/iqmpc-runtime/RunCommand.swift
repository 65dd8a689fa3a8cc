import ArgumentParser
import IQCalibration
import IQRuntime
import Logging

/// `iqmpc-runtime run`: the deployed controller. Wiring only; the loop is IQRuntime.ControlLoop.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve a robot or simulator: answer every observation with a safe, planned action.",
        discussion: """
        Loads the weights and the calibration (Calibration/README.md), checks them against each
        other, applies the calibration's real-time settings, connects to the plant's endpoints
        and serves until SIGINT/SIGTERM (then sends the safe action and exits), until the plant
        shuts the session down, or until --steps observations were answered. Prints a timing
        and fault summary at exit.
        """)

    @Option(help: "Weights file (safetensors).") var weights: String
    @Option(help: "Calibration file (YAML, Calibration/README.md).") var calibration: String
    @Option(help: "Override link.mode.") var mode: Calibration.LinkMode?
    @Option(help: "Override link.observation_endpoint.") var observationEndpoint: String?
    @Option(help: "Override link.action_endpoint.") var actionEndpoint: String?
    @Option(help: "Override link.telemetry_endpoint ('none' disables telemetry).") var telemetryEndpoint: String?
    @Option(help: "Stop after answering this many observations.") var steps: UInt64?
    @Flag(help: "Keep serving after the plant sends Shutdown (wait for its next Hello).") var keepRunning = false
    @Flag(help: "Run even if the calibration's mapping differs from the one the weights were trained with (warns).")
    var allowCalibrationMismatch = false
    @Flag(help: "Answer with the policy prior's mean action and never plan (baseline; behaviour-cloning weights).")
    var policyPriorOnly = false
    @Option(help: "Log level.") var logLevel: Logger.Level = .info
    @Option(help: "Override real_time.priority: SCHED_FIFO priority 1...99 (0: normal scheduling); applied when permitted.")
    var priority: Int?
    @Option(help: "Override real_time.lock_memory (true or false); applied when permitted.") var lockMemory: Bool?

    func run() throws {
        // Log lines leave through a bounded queue drained by a low-priority thread: the
        // control thread never writes to stderr itself.
        var logger = Logger(label: "iqmpc-runtime") { LogQueue.shared.handler(label: $0) }
        defer { LogQueue.shared.flush() }
        logger.logLevel = logLevel

        if let p = priority, !(0...99).contains(p) {
            throw ValidationError("--priority must be in 0...99, got \(p)")
        }
        let cal = try Calibration.load(path: calibration).overriding { o in
            if let m = mode { o.link.mode = m }
            if let e = observationEndpoint { o.link.observationEndpoint = e }
            if let e = actionEndpoint { o.link.actionEndpoint = e }
            if let e = telemetryEndpoint { o.link.telemetryEndpoint = e == "none" ? nil : e }
            if let p = priority { o.realTime.priority = p }
            if let l = lockMemory { o.realTime.lockMemory = l }
        }
        for w in cal.securityWarnings { logger.warning("\(w)") }

        let setup = try ControllerSetup.load(weightsPath: weights, calibration: cal,
                                             allowCalibrationMismatch: allowCalibrationMismatch)
        for w in setup.warnings { logger.warning("\(w)") }

        // Scheduling before any thread exists (planner workers and ZeroMQ inherit it).
        var rt = RealTimeSetup.applyScheduling(cal.realTime, logger: logger)
        var options = ControlLoop.Options()
        options.maxSteps = steps
        options.exitOnPlantShutdown = !keepRunning
        options.policyPriorOnly = policyPriorOnly
        let loop = try ControlLoop(setup: setup, options: options, logger: logger)
        loop.warmUp()
        RealTimeSetup.lockMemory(cal.realTime, logger: logger, report: &rt)

        StopSignal.installProcessHandlers()
        loop.run(until: .process)
        LogQueue.shared.flush()
        print(loop.summary())
        print("log lines: \(LogQueue.shared.written) written, \(LogQueue.shared.dropped) dropped (queue full)")
        print(Self.realTimeLine(cal.realTime, rt))
    }

    /// One line saying which real-time settings were asked for and which took effect.
    static func realTimeLine(_ asked: Calibration.RealTime, _ r: RealTimeSetup.Report) -> String {
        let fifo = asked.priority <= 0 ? "SCHED_FIFO not requested"
            : r.priorityApplied ? "SCHED_FIFO priority \(asked.priority) applied" : "SCHED_FIFO priority \(asked.priority) not permitted"
        let lock = !asked.lockMemory ? "memory locking not requested"
            : r.memoryLocked ? "memory locked" : "memory locking not permitted"
        return "real-time: \(fifo); \(lock)"
    }
}
