import Foundation
import IQCalibration
import IQModel
import IQRuntime
import Logging
import Testing

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A fresh temporary directory per call.
func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("iqmpc-runtime-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// The pendulum calibration with test endpoints and timing.
/// The planner is kept small (16 samples, 1 iteration, horizon 1: about 1 ms here) so that
/// the tests run in seconds on a loaded 2-core machine.
func testCalibration(mode: String = "lockstep", observationEndpoint: String = "tcp://127.0.0.1:1",
                     actionEndpoint: String = "tcp://127.0.0.1:2", periodMs: Double = 20, budgetMs: Double = 10,
                     watchdogMs: Double = 1000, maxAgeMs: Double = 1000, threads: Int = 1,
                     samples: Int = 16, iterations: Int = 1) throws -> Calibration {
    try Calibration.parse(yaml: testCalibrationYAML(mode: mode, observationEndpoint: observationEndpoint,
        actionEndpoint: actionEndpoint, periodMs: periodMs, budgetMs: budgetMs, watchdogMs: watchdogMs,
        maxAgeMs: maxAgeMs, threads: threads, samples: samples, iterations: iterations))
}

func testCalibrationYAML(mode: String = "lockstep", observationEndpoint: String = "tcp://127.0.0.1:1",
                         actionEndpoint: String = "tcp://127.0.0.1:2", periodMs: Double = 20, budgetMs: Double = 10,
                         watchdogMs: Double = 1000, maxAgeMs: Double = 1000, threads: Int = 1,
                         samples: Int = 16, iterations: Int = 1) -> String {
    """
    format_version: 1
    robot_id: pendulum-swingup
    observation:
      channels:
        - {name: pole.angle.cos, unit: "1", offset: 0, scale: 1, low: -1.001, high: 1.001}
        - {name: pole.angle.sin, unit: "1", offset: 0, scale: 1, low: -1.001, high: 1.001}
        - {name: pole.angular_velocity, unit: rad/s, offset: 0, scale: 10, low: -100, high: 100}
    action:
      channels:
        - {name: motor.torque, unit: N*m, offset: 0, scale: 1, low: -1, high: 1, rate_limit: 100, safe: 0}
    timing:
      control_period_ms: \(periodMs)
      planning_budget_ms: \(budgetMs)
      watchdog_timeout_ms: \(watchdogMs)
      max_frame_age_ms: \(maxAgeMs)
    link:
      mode: \(mode)
      observation_endpoint: \(observationEndpoint)
      action_endpoint: \(actionEndpoint)
      telemetry_endpoint: ~
    planner:
      samples: \(samples)
      iterations: \(iterations)
      horizon: 1
      threads: \(threads)
      action_selection: mean
    """
}

/// A tiny randomly initialised model that records `calibration`'s mapping, as a trained one would.
func testSetup(_ cal: Calibration, recordMapping: Bool = true) throws -> ControllerSetup {
    let config = try ModelConfig.preset("tiny", obsDim: cal.obsDim, actDim: cal.actDim)
    let model = WorldModel.initialised(config: config, seed: 7, nonzeroQ: true)
    return try ControllerSetup(model: model, metadata: recordMapping ? cal.mappingMetadata() : [:],
                               calibration: cal, allowCalibrationMismatch: false)
}

func quietLogger() -> Logger {
    var l = Logger(label: "iqmpc-runtime-test")
    l.logLevel = .critical
    return l
}

/// Runs a ControlLoop on its own thread until `stop` or its own end.
final class LoopRunner: @unchecked Sendable {
    let loop: ControlLoop
    let stop = StopSignal()
    private let done = DispatchSemaphore(value: 0)

    init(_ loop: ControlLoop) {
        self.loop = loop
        Thread { [loop, stop, done] in loop.run(until: stop); done.signal() }.start()
    }

    /// Waits for the loop to end by itself; false on timeout (then stops it).
    @discardableResult
    func wait(seconds: Double) -> Bool {
        if done.wait(timeout: .now() + seconds) == .success { return true }
        stop.request()
        done.wait()
        return false
    }

    func stopAndWait() {
        stop.request()
        done.wait()
    }
}

/// The Python plant (PlantPeerScript.swift) as a child process.
final class PythonPeer {
    static let generated: Result<URL, Error> = Result {
        let dir = try temporaryDirectory()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/protoc")
        p.arguments = ["--python_out=\(dir.path)", "-I", repoRoot.appendingPathComponent("Proto").path, "iqmpc.proto"]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw PeerError("protoc --python_out failed") }
        try plantPeerScript.write(to: dir.appendingPathComponent("plant_peer.py"), atomically: true, encoding: .utf8)
        return dir
    }

    struct PeerError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    let process = Process()
    private let out = Pipe()
    private let err = Pipe()
    private var buffered = Data()

    /// `timeoutSeconds`: the peer is killed after this long, so a broken run fails instead of hanging.
    init(scenario: String, config: [String: Any], timeoutSeconds: Double = 120) throws {
        let dir = try Self.generated.get()
        let json = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [dir.appendingPathComponent("plant_peer.py").path, dir.path, scenario, json]
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let p = process
        DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds) { if p.isRunning { p.terminate() } }
    }

    deinit { if process.isRunning { process.terminate() } }

    /// The next line the peer prints (its endpoints first).
    func readLine() throws -> String {
        while true {
            if let nl = buffered.firstIndex(of: 0x0a) {
                let line = String(decoding: buffered[buffered.startIndex..<nl], as: UTF8.self)
                buffered.removeSubrange(buffered.startIndex...nl)
                return line
            }
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty {
                let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw PeerError("peer ended without a line; stderr: \(e)")
            }
            buffered.append(chunk)
        }
    }

    /// The JSON summary the peer prints last.
    func summary() throws -> [String: Any] {
        let line = try readLine()
        process.waitUntilExit()
        guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw PeerError("peer printed no JSON object: \(line)")
        }
        return obj
    }
}

/// Base configuration the peer needs: the spec matching `cal`.
func peerConfig(_ cal: Calibration, _ extra: [String: Any] = [:]) -> [String: Any] {
    var c: [String: Any] = [
        "robot_id": cal.robotId,
        "period_ns": cal.timing.controlPeriodNs,
        "obs": cal.observations.map { [$0.name, $0.unit, Double($0.low), Double($0.high)] as [Any] },
        "act": cal.actions.map { [$0.name, $0.unit, Double($0.low), Double($0.high)] as [Any] },
    ]
    for (k, v) in extra { c[k] = v }
    return c
}
