import Foundation
import IQCalibration
import IQModel
import IQPlants
import Testing
@testable import IQTrainer

/// End-to-end training on the in-process pendulum over the wire protocol, kept to seconds:
/// short episodes, small batch, a small planner rebuilt every 25 steps.
struct TrainingLoopTests {
    static func calibration() throws -> Calibration {
        // Tests run from the package root.
        try Calibration.load(path: "Calibration/pendulum-swingup.yaml")
    }

    static func demos(_ cal: Calibration, dir: String) throws -> Demonstrations {
        let path = dir + "/demos.iqlog"
        _ = try DemoRecorder.record(task: .pendulumSwingup, expert: .analytic, episodes: 3, seed: 1, path: path)
        return try Demonstrations.load(path: path, calibration: cal)
    }

    /// Builds a run that must be refused and returns the refusal ("accepted" if none came).
    static func refusal(_ o: RunOptions, env: WireEnvironment, calibration cal: Calibration, demos d: Demonstrations,
                        demosPath: String) -> String {
        do {
            _ = try TrainingRun(options: o, env: env, calibration: cal, expert: d.buffer(obsDim: 3, actDim: 1),
                                expertReturn: d.meanReturn, demosPath: demosPath, demosFingerprint: d.fingerprint)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    static func options(dir: String, steps: Int) -> RunOptions {
        var o = RunOptions()
        o.preset = "tiny"
        o.steps = steps
        o.seed = 7
        o.seedSteps = 60
        o.episodeSteps = 30
        o.evalEvery = 1_000_000
        o.evalEpisodes = 0
        o.hyper.batch = 8
        o.planner.samples = 32
        o.planner.elites = 8
        o.planner.policyTrajectories = 8
        o.planner.iterations = 2
        o.plannerRefresh = 25
        o.logEvery = 10
        o.outPath = dir + "/w.safetensors"
        o.checkpointDir = dir + "/ck"
        o.metricsPath = dir + "/metrics.jsonl"
        o.progress = false
        return o
    }

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "iqmpc-train-test-\(UInt64.random(in: 0...UInt64.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// A temporary directory with three pendulum demonstrations and an in-process simulator.
    struct Fixture {
        let dir: String, cal: Calibration, demos: Demonstrations, env: WireEnvironment
        init() throws {
            dir = TrainingLoopTests.tempDir()
            cal = try TrainingLoopTests.calibration()
            demos = try TrainingLoopTests.demos(cal, dir: dir)
            env = try WireEnvironment.inProcess(task: .pendulumSwingup)
        }
        func run(_ o: RunOptions) throws -> TrainingRun {
            try TrainingRun(options: o, env: env, calibration: cal, expert: demos.buffer(obsDim: 3, actDim: 1),
                            expertReturn: demos.meanReturn, demosPath: dir + "/demos.iqlog", demosFingerprint: demos.fingerprint)
        }
        func close() {
            env.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    @Test func smokeTrainingLossesFallAndWeightsLoad() throws {
        let f = try Fixture()
        defer { f.close() }
        let dir = f.dir, cal = f.cal
        let s = try f.run(Self.options(dir: dir, steps: 150)).run()
        #expect(s.envSteps == 150)
        #expect(s.updates == 60 + 90 - 1)
        let h = s.statsHistory
        #expect(h.count >= 10)
        for st in h {
            #expect(st.modelLoss.isFinite && st.policyLoss.isFinite && st.consistency.isFinite)
        }
        // Falling: the model loss of the last logged updates is below the first ones'.
        let first = h.prefix(3).map(\.modelLoss).reduce(0, +) / 3
        let last = h.suffix(3).map(\.modelLoss).reduce(0, +) / 3
        #expect(last < first, "model loss \(first) -> \(last)")
        // Expert Q rises above behavioural Q (the IQ critic separates the two).
        #expect(h.last!.qExpert > h.last!.qBehavioural)
        // The deployable file loads and carries the calibration fingerprint.
        let (model, md) = try WorldModel.load(path: dir + "/w.safetensors")
        #expect(model.config.obsDim == 3)
        #expect(md[Calibration.MetadataKey.hash] == cal.mappingHash)
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 10)
    }

    /// `--discount` reaches both the loss and the model the runtime plans with; without it the
    /// episode-length rule of docs/algorithm.md §4.5 applies (30-step episodes: 0.95).
    @Test func discountOverrideReachesTheLossAndTheWrittenModel() throws {
        let f = try Fixture()
        defer { f.close() }
        let dir = f.dir
        var o = Self.options(dir: dir, steps: 61)
        #expect(try f.run(o).hyper.discount == Hyper.discount(episodeLength: 30))
        o.discount = 0.8
        let run = try f.run(o)
        #expect(run.hyper.discount == 0.8 && run.config.discount == 0.8)
        _ = try run.run()
        let (model, _) = try WorldModel.load(path: dir + "/w.safetensors")
        #expect(model.config.discount == 0.8)
    }

    /// `updatesPerStep` multiplies the updates after the seed phase's burst (which stays one per
    /// seed step), and a checkpoint written with one count is not resumed with another.
    @Test func updatesPerStepMultipliesTheUpdatesAfterTheBurst() throws {
        let f = try Fixture()
        defer { f.close() }
        var o = Self.options(dir: f.dir, steps: 150)
        o.hyper.updatesPerStep = 2
        let s = try f.run(o).run()
        #expect(s.envSteps == 150)
        #expect(s.updates == 60 + 2 * (90 - 1))
        var again = Self.options(dir: f.dir, steps: 150)
        again.resume = true
        let refused = Self.refusal(again, env: f.env, calibration: f.cal, demos: f.demos, demosPath: f.dir + "/demos.iqlog")
        #expect(refused.contains("other hyperparameters"), "\(refused)")
        o.hyper.updatesPerStep = 0
        let zero = Self.refusal(o, env: f.env, calibration: f.cal, demos: f.demos, demosPath: f.dir + "/demos.iqlog")
        #expect(zero.contains("updates per step 0"), "\(zero)")
    }

    /// `bcWeight` reaches the update (other weights than without it, from the same seed), a
    /// checkpoint written with it is not resumed without it, and a negative or NaN weight is refused.
    @Test func bcWeightReachesTheUpdateAndIsCheckedOnResume() throws {
        let f = try Fixture()
        defer { f.close() }
        var o = Self.options(dir: f.dir, steps: 90)
        _ = try f.run(o).run()
        let (plain, _) = try WorldModel.load(path: f.dir + "/w.safetensors")
        o.hyper.bcWeight = 0.5
        _ = try f.run(o).run()
        let (cloned, _) = try WorldModel.load(path: f.dir + "/w.safetensors")
        #expect(plain.contentHash != cloned.contentHash)
        var again = Self.options(dir: f.dir, steps: 90)
        again.resume = true
        let refused = Self.refusal(again, env: f.env, calibration: f.cal, demos: f.demos, demosPath: f.dir + "/demos.iqlog")
        #expect(refused.contains("other hyperparameters"), "\(refused)")
        for bad in [-0.1, Double.nan] {
            o.hyper.bcWeight = bad
            let r = Self.refusal(o, env: f.env, calibration: f.cal, demos: f.demos, demosPath: f.dir + "/demos.iqlog")
            #expect(r.contains("bc weight"), "\(r)")
        }
    }

    @Test func resumeReproducesUninterruptedRunBitForBit() throws {
        let cal = try Self.calibration()
        let dirA = Self.tempDir(), dirB = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dirA); try? FileManager.default.removeItem(atPath: dirB) }
        let d = try Self.demos(cal, dir: dirA)
        let steps = 120
        func make(_ dir: String, _ o: RunOptions) throws -> (TrainingRun, WireEnvironment) {
            let env = try WireEnvironment.inProcess(task: .pendulumSwingup)
            let r = try TrainingRun(options: o, env: env, calibration: cal, expert: d.buffer(obsDim: 3, actDim: 1),
                                    expertReturn: d.meanReturn, demosPath: dirA + "/demos.iqlog", demosFingerprint: d.fingerprint)
            return (r, env)
        }
        // Uninterrupted.
        let (a, envA) = try make(dirA, Self.options(dir: dirA, steps: steps))
        _ = try a.run()
        envA.close()
        // Interrupted after 90 steps (an episode boundary past the burst), then resumed.
        var o1 = Self.options(dir: dirB, steps: steps)
        o1.stopAfter = 90
        let (b1, envB1) = try make(dirB, o1)
        let s1 = try b1.run()
        envB1.close()
        #expect(s1.envSteps == 90)
        var o2 = Self.options(dir: dirB, steps: steps)
        o2.resume = true
        let (b2, envB2) = try make(dirB, o2)
        _ = try b2.run()
        envB2.close()
        #expect(a.state.modelSteps == b2.state.modelSteps)
        #expect(a.state.rng == b2.state.rng)
        var same = true
        for i in 0..<a.state.theta.count where a.state.theta.p[i].bitPattern != b2.state.theta.p[i].bitPattern { same = false; break }
        for i in 0..<a.state.target.count where a.state.target.p[i].bitPattern != b2.state.target.p[i].bitPattern { same = false; break }
        for i in 0..<a.state.adamM.count where a.state.adamM.p[i].bitPattern != b2.state.adamM.p[i].bitPattern { same = false; break }
        for i in 0..<a.state.adamV.count where a.state.adamV.p[i].bitPattern != b2.state.adamV.p[i].bitPattern { same = false; break }
        #expect(same)
        #expect(a.online.episodes.map { $0.obs.map(\.bitPattern) + $0.act.map(\.bitPattern) + $0.reward.map(\.bitPattern) }
                == b2.online.episodes.map { $0.obs.map(\.bitPattern) + $0.act.map(\.bitPattern) + $0.reward.map(\.bitPattern) })
        // The checkpoint is a safetensors file; a resume with another seed is refused.
        #expect(FileManager.default.fileExists(atPath: dirB + "/ck/checkpoint.safetensors"))
        var o3 = Self.options(dir: dirB, steps: steps)
        o3.resume = true
        o3.seed = 8
        let envC = try WireEnvironment.inProcess(task: .pendulumSwingup)
        defer { envC.close() }
        #expect(throws: TrainError.self) {
            _ = try TrainingRun(options: o3, env: envC, calibration: cal, expert: d.buffer(obsDim: 3, actDim: 1),
                                expertReturn: d.meanReturn, demosPath: dirA + "/demos.iqlog", demosFingerprint: d.fingerprint)
        }
        // A checkpoint further on than this run's --steps (e.g. a doctored envStep): refused by name.
        var o5 = Self.options(dir: dirB, steps: 50)
        o5.resume = true
        let beyond = Self.refusal(o5, env: envC, calibration: cal, demos: d, demosPath: dirA + "/demos.iqlog")
        #expect(beyond.contains("position.envStep") && beyond.contains("--steps 50"), "\(beyond)")
        // A directory holding only a checkpoint of the old format: named, not "file not found".
        var o4 = Self.options(dir: dirB, steps: steps)
        o4.resume = true
        o4.checkpointDir = dirB + "/old"
        try FileManager.default.createDirectory(atPath: dirB + "/old", withIntermediateDirectories: true)
        try Data("IQMPCCK1".utf8 + [UInt8](repeating: 0, count: 64)).write(to: URL(fileURLWithPath: dirB + "/old/checkpoint.iqckpt"))
        let old = Self.refusal(o4, env: envC, calibration: cal, demos: d, demosPath: dirA + "/demos.iqlog")
        #expect(old.contains("old-format checkpoint"), "\(old)")
        // And the run is not trivially constant: training moved the weights.
        let fresh = WorldModel.initialised(config: a.config, seed: 7)
        let t0 = Tensor<Float>(a.layout.total)
        WeightsBridge.load(fresh, into: t0.p)
        #expect((0..<t0.count).contains { t0.p[$0] != a.state.theta.p[$0] })
    }

    /// With a second task instance, evaluations fall at exactly every `evalEvery` steps
    /// (mid-episode too), never before the first update, plus the final one.
    @Test func evaluationsStartAfterTheFirstUpdateAtTheirInterval() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cal = try Self.calibration()
        let d = try Self.demos(cal, dir: dir)
        let env = try WireEnvironment.inProcess(task: .pendulumSwingup)
        let evalEnv = try WireEnvironment.inProcess(task: .pendulumSwingup)
        defer { env.close(); evalEnv.close() }
        /// Runs to `steps` (resuming the checkpoint if asked) and returns every evaluation's step.
        func evaluatedSteps(to steps: Int, resume: Bool) throws -> [Int] {
            var o = Self.options(dir: dir, steps: steps)
            o.evalEvery = 25
            o.evalEpisodes = 1
            o.resume = resume
            _ = try TrainingRun(options: o, env: env, calibration: cal, expert: d.buffer(obsDim: 3, actDim: 1),
                                expertReturn: d.meanReturn, demosPath: dir + "/demos.iqlog",
                                demosFingerprint: d.fingerprint, evaluationEnv: evalEnv).run()
            let evals = try DemoReportLines.load(dir + "/metrics.jsonl").filter { $0["kind"] as? String == "eval" }
            #expect(evals.allSatisfy { ($0["updates"] as? Double ?? 0) > 0 })
            return evals.compactMap { $0["env_step"] as? Double }.map(Int.init)
        }
        // Seed phase 60 steps: the first update comes with step 61; then every 25 steps; 130 is the final one.
        let steps = try evaluatedSteps(to: 130, resume: false)
        #expect(steps == [61, 75, 100, 125, 130], "\(steps)")
        // Extended from its final checkpoint twice (`--steps 150 --resume`, then `--steps 170
        // --resume`): the second extension starts where an evaluation (150) was due and done, and
        // must not repeat it at 151.
        _ = try evaluatedSteps(to: 150, resume: true)
        let allSteps = try evaluatedSteps(to: 170, resume: true)
        #expect(allSteps == [61, 75, 100, 125, 130, 150, 170], "\(allSteps)")
    }

    /// Without a second task instance evaluations wait for episode boundaries; extending a
    /// finished run must not open with a repeat of its final evaluation either.
    @Test func extendingAFinishedRunDoesNotRepeatItsFinalEvaluation() throws {
        let f = try Fixture()
        defer { f.close() }
        var o = Self.options(dir: f.dir, steps: 120)
        o.evalEvery = 40
        o.evalEpisodes = 1
        _ = try f.run(o).run()
        o.steps = 150
        o.resume = true
        _ = try f.run(o).run()
        let evals = try DemoReportLines.load(f.dir + "/metrics.jsonl").filter { $0["kind"] as? String == "eval" }
        let steps = evals.compactMap { $0["env_step"] as? Double }.map(Int.init)
        // Episodes of 30 steps: boundaries at 60 (before any update: skipped), 90, 120 (final);
        // resumed: 150 is the new final. Before the fix the resumed run evaluated at 120 again.
        #expect(steps == [90, 120, 150], "\(steps)")
    }
}

/// Metrics lines as dictionaries (the report's reader).
enum DemoReportLines {
    static func load(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }
}
