import Foundation
import IQCalibration
import IQLink
import IQPlants
import IQTestSupport
import Testing
@testable import IQTrainer

/// The trainer's simulator client against a real `SimServer` on loopback TCP: a simulator
/// that re-sends Hello after a late answer is re-acknowledged (not a fatal error), and a
/// simulator whose spec differs from the calibration is refused before training starts.
@Suite(.serialized) struct WireEnvironmentTests {
    final class Served: @unchecked Sendable {
        let server: SimServer
        let done = DispatchSemaphore(value: 0)
        init(_ task: TaskID, replyTimeoutMs: Int32) throws {
            var c = SimServerConfig(task: task)
            c.observationEndpoint = "tcp://127.0.0.1:*"
            c.replyTimeoutMs = replyTimeoutMs
            server = try SimServer(config: c)
            let s = server, d = done
            Thread { _ = try? s.run(); d.signal() }.start()
        }
        func stop() { server.stop(); _ = done.wait(timeout: .now() + 10) }
    }

    @Test func aResentHelloIsReacknowledgedAndTheMissedAnswerRepeated() throws {
        let sim = try Served(.pendulumSwingup, replyTimeoutMs: 150)
        defer { sim.stop() }
        let env = try WireEnvironment(connect: sim.server.observationEndpoint, timeoutMs: 10_000)
        defer { env.close() }
        let obs = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3)
        defer { obs.deallocate() }
        let act: [Float] = [1.5]
        try env.reset(seed: 3, observation: obs)
        for _ in 0..<5 { _ = try act.withUnsafeBufferPointer { try env.step(action: $0, observation: obs) } }
        // A burst of updates: longer than the simulator's reply timeout, so it gives up on
        // the pending frame, says Hello again and then repeats the frame.
        usleep(600_000)
        let before = Array(obs)
        let r = try act.withUnsafeBufferPointer { try env.step(action: $0, observation: obs) }
        #expect(env.rehandshakes >= 1)
        #expect(r.reward.isFinite)
        #expect(Array(obs) != before, "the simulator must have applied the action and stepped")
        for _ in 0..<5 { _ = try act.withUnsafeBufferPointer { try env.step(action: $0, observation: obs) } }
    }

    @Test func theWholeSpecIsCheckedAgainstTheCalibration() throws {
        let sim = try Served(.pendulumSwingup, replyTimeoutMs: 1000)
        defer { sim.stop() }
        let env = try WireEnvironment(connect: sim.server.observationEndpoint, timeoutMs: 10_000)
        defer { env.close() }
        try env.check(against: try Calibration.load(path: "Calibration/pendulum-swingup.yaml"))
        let pendulum = try Calibration.load(path: "Calibration/pendulum-swingup.yaml")
        // Same dimensions, another name: refused, naming the channel.
        var obs = pendulum.observations
        obs[2].name = "pole.velocity"
        let renamed = try pendulum.replacingChannels(observations: obs)
        #expect { try env.check(against: renamed) } throws: { "\($0)".contains("observations[2]") }
        let slower = try pendulum.overriding { $0.timing.controlPeriodNs *= 2; $0.timing.watchdogTimeoutNs *= 2 }
        #expect { try env.check(against: slower) } throws: { "\($0)".contains("control_period_ns") }
        #expect { try env.check(against: try Calibration.load(path: "Calibration/cartpole-swingup.yaml")) } throws: {
            "\($0)".contains("robot_id")
        }
    }

    /// A plant that sends one bad frame: NaN, or a value outside the calibration's accepted
    /// range (the runtime's rule), or a reward that is not finite. The run stops at that frame, naming channel, value and step,
    /// and the plant is not left waiting.
    @Test func aNonFiniteOrOutOfRangeObservationStopsTheRunAtThatStep() throws {
        let cal = try Calibration.load(path: "Calibration/pendulum-swingup.yaml")
        let spec = try Plant(task: .pendulumSwingup).info.plantSpec
        final class Finished: @unchecked Sendable {
            var report: ScriptedPlantReport?
            let done = DispatchSemaphore(value: 0)
        }
        // (value of pole.angular_velocity, reward, expected message)
        let cases: [(Float, Float, String)] = [
            (.nan, 0, "channel pole.angular_velocity is nan"),
            (150, 0, "channel pole.angular_velocity = 150.0 is outside the accepted range -100.0 ... 100.0"),
            (1e30, 0, "channel pole.angular_velocity = 1e+30 is outside the accepted range"),
            (0.5, .infinity, "reward is inf"),
            (0.5, .nan, "reward is nan"),
        ]
        for (bad, badReward, expected) in cases {
            let plant = try ScriptedPlant(mode: .lockstep, spec: spec, observations: "tcp://127.0.0.1:*")
            defer { plant.close() }
            plant.values = { seq, out in
                out[0] = 1; out[1] = 0; out[2] = seq == 5 ? bad : 0.5
            }
            plant.reward = { seq in seq == 5 ? badReward : 0.25 }
            let finished = Finished()
            Thread { finished.report = try? plant.runLockstep(frames: 20); finished.done.signal() }.start()
            let env = try WireEnvironment(connect: plant.observationEndpoint, timeoutMs: 10_000)
            try env.check(against: cal)
            let obs = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3)
            defer { obs.deallocate() }
            let act: [Float] = [0.2]
            try env.reset(seed: 1, observation: obs)      // frames 1 and 2
            var refusal: String?
            for _ in 0..<10 {
                do { _ = try act.withUnsafeBufferPointer { try env.step(action: $0, observation: obs) } } catch {
                    refusal = "\(error)"
                    break
                }
            }
            env.close()
            #expect(refusal?.contains("observation seq 5 (after 3 env steps)") == true, "\(refusal ?? "accepted")")
            #expect(refusal?.contains(expected) == true, "\(refusal ?? "accepted")")
            #expect(finished.done.wait(timeout: .now() + 20) == .success, "the plant was left waiting")
        }
    }

    @Test func nonFiniteDemonstrationsAreRefusedAtLoadWithTheirPlace() throws {
        let dir = NSTemporaryDirectory() + "iqmpc-demos-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cal = try Calibration.load(path: "Calibration/pendulum-swingup.yaml")
        let spec = try Plant(task: .pendulumSwingup).info.plantSpec
        for (name, o2, a1) in [("nan-obs", [Float(1), .nan, 0], [Float(0.5)]), ("inf-act", [Float(1), 0, 0], [Float.infinity])] {
            let path = dir + "/\(name).iqlog"
            let w = try RecordWriter(path: path, header: RecordHeaderInfo(spec: spec, source: "test"))
            try w.write(observation: ObservationRecord(seq: 1, timestampNs: 0, values: [1, 0, 0], episodeStart: true),
                        action: ActionRecord(seq: 1, observationSeq: 1, timestampNs: 0, values: [0.1], diagnostics: PlanDiagnostics()))
            try w.write(observation: ObservationRecord(seq: 2, timestampNs: 0, values: o2, reward: 0.5),
                        action: ActionRecord(seq: 2, observationSeq: 2, timestampNs: 0, values: a1, diagnostics: PlanDiagnostics()))
            try w.close()
            #expect { _ = try Demonstrations.load(path: path, calibration: cal) } throws: { e in
                let s = "\(e)"
                return s.contains("byte offset") && s.contains("seq 2") && s.contains(name == "nan-obs" ? "nan" : "inf")
            }
        }
    }
}
