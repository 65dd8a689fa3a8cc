import Foundation
import IQCalibration
import IQModel
@testable import IQRuntime
import Testing

/// The built `iqmpc-runtime` executable (next to the test bundle, built by `swift build --build-tests`).
func runtimeExecutable() throws -> URL {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("iqmpc-runtime"),
        repoRoot.appendingPathComponent(".build/debug/iqmpc-runtime"),
    ]
    guard let bin = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw PythonPeer.PeerError("iqmpc-runtime is not built (run swift build --build-tests); looked at \(candidates.map(\.path))")
    }
    return bin
}

/// Writes a weights file recording `cal`'s mapping and the calibration as YAML; returns their paths.
func writeDeployment(_ cal: Calibration, yaml: String, in dir: URL) throws -> (weights: String, calibration: String) {
    let config = try ModelConfig.preset("tiny", obsDim: cal.obsDim, actDim: cal.actDim)
    let weights = dir.appendingPathComponent("w.safetensors").path
    try WorldModel.initialised(config: config, seed: 3, nonzeroQ: true).write(to: weights, extraMetadata: cal.mappingMetadata())
    let calPath = dir.appendingPathComponent("cal.yaml").path
    try yaml.write(toFile: calPath, atomically: true, encoding: .utf8)
    return (weights, calPath)
}

/// Starts `bin` with its stdout and stderr on pipes.
func start(_ bin: URL, _ args: [String]) throws -> (process: Process, out: Pipe, err: Pipe) {
    let p = Process()
    p.executableURL = bin
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    return (p, out, err)
}

/// Runs `bin` to its end.
func run(_ bin: URL, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let (p, out, err) = try start(bin, args)
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite(.serialized) struct ProcessTests {
    /// SIGTERM while serving a free-running plant: the runtime pushes the safe action
    /// (FAULT_SHUTDOWN), prints its summary and exits 0.
    @Test func sigtermSendsTheSafeActionAndExitsCleanly() throws {
        let bin = try runtimeExecutable()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cal0 = try testCalibration(mode: "free-running")
        let peer = try PythonPeer(scenario: "free-stream", config: peerConfig(cal0, ["period_ms": 20, "duration_ms": 2500]))
        let eps = try peer.readLine().split(separator: " ").map(String.init)
        let yaml = try String(contentsOf: repoRoot.appendingPathComponent("Calibration/pendulum-swingup.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "mode: lockstep", with: "mode: free-running")
            .replacingOccurrences(of: "tcp://127.0.0.1:5701", with: eps[0])
            .replacingOccurrences(of: "tcp://127.0.0.1:5702", with: eps[1])
            .replacingOccurrences(of: "telemetry_endpoint: tcp://127.0.0.1:5703", with: "telemetry_endpoint: ~")
            .replacingOccurrences(of: "max_frame_age_ms: 20 ", with: "max_frame_age_ms: 500 ")
        let cal = try Calibration.parse(yaml: yaml)
        let files = try writeDeployment(cal, yaml: yaml, in: dir)

        let (p, out, err) = try start(bin, ["run", "--weights", files.weights, "--calibration", files.calibration])
        #expect(try peer.readLine() == "streaming")
        Thread.sleep(forTimeInterval: 0.5)
        kill(p.processIdentifier, SIGTERM)
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let summary = try peer.summary()

        #expect(p.terminationReason == .exit && p.terminationStatus == 0, "stderr: \(e)")
        #expect(o.contains("steps answered"), "exit summary: \(o)")
        #expect(e.contains("stopped: signal 15"), "\(e)")
        let shutdown = summary["shutdown"] as? [[String: Any]] ?? []
        #expect(shutdown.count == 1, "\(summary)")
        #expect(shutdown.first?["source"] as? Int == 3 && shutdown.first?["values"] as? [Double] == [0], "\(shutdown)")
        #expect((summary["answered"] as? Int ?? 0) >= 10, "\(summary)")
        #expect(summary["duplicates"] as? Int == 0, "each frame answered at most once: \(summary)")
    }

    @Test func versionAndRefusals() throws {
        let bin = try runtimeExecutable()
        let v = try run(bin, ["version"])
        #expect(v.status == 0 && v.out.contains("protocol version 1") && v.out.contains("iqmpc-runtime "))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A calibration whose mapping differs from the weights' is refused, naming the channel…
        let yaml = try String(contentsOf: repoRoot.appendingPathComponent("Calibration/pendulum-swingup.yaml"), encoding: .utf8)
        let files = try writeDeployment(try Calibration.parse(yaml: yaml), yaml: yaml, in: dir)
        let changed = dir.appendingPathComponent("changed.yaml").path
        try yaml.replacingOccurrences(of: "scale: 10.0", with: "scale: 12.0").write(toFile: changed, atomically: true, encoding: .utf8)
        let refused = try run(bin, ["check-budget", "--weights", files.weights, "--calibration", changed, "--steps", "20"])
        #expect(refused.status != 0 && refused.err.contains("pole.angular_velocity"), "\(refused)")
        // …and runs with a warning when overridden.
        let overridden = try run(bin, ["check-budget", "--weights", files.weights, "--calibration", changed, "--steps", "20",
                                       "--budget-ms", "19", "--allow-calibration-mismatch"])
        #expect(overridden.out.contains("check-budget:"), "\(overridden)")
        #expect(overridden.err.contains("override given"), "\(overridden)")
        // check-budget exits non-zero with an impossible budget.
        let impossible = try run(bin, ["check-budget", "--weights", files.weights, "--calibration", files.calibration,
                                       "--steps", "50", "--budget-ms", "0.001"])
        #expect(impossible.status != 0 && impossible.out.contains("FAIL"), "\(impossible)")
    }

    /// Options with a closed set of values are refused, with the values, before anything runs.
    @Test func choiceOptionsAreRefusedWithTheirValues() throws {
        let bin = try runtimeExecutable()
        let mode = try run(bin, ["run", "--weights", "none", "--calibration", "none", "--mode", "bogus"])
        #expect(mode.status != 0 && mode.err.contains("'lockstep'") && mode.err.contains("'free-running'"), "\(mode)")
        let level = try run(bin, ["run", "--weights", "none", "--calibration", "none", "--log-level", "loud"])
        #expect(level.status != 0 && level.err.contains("trace") && level.err.contains("critical"), "\(level)")
    }
}
