import Foundation
import IQKernels
import IQModel
import IQPlants
@testable import IQTrainer
import Testing

/// The update split over threads (`IQUpdater(threads:)`): reproducible bit for bit for a given
/// seed and thread count, and the same gradients as one thread up to the order of the sums.
struct ThreadedUpdateTests {
    /// A tiny model on random data, batch large enough that every network pass is split
    /// (rows >= 32 per partition), plus one odd size so partitions differ in length.
    static func setup(batch: Int, seed: UInt64 = 1) throws -> (ParamLayout, Hyper, TrainState<Float>, Batch<Float>) {
        let config = try ModelConfig.preset("tiny", obsDim: 5, actDim: 2)
        let layout = ParamLayout(config)
        var hyper = Hyper()
        hyper.batch = batch
        let state = TrainState<Float>(layout: layout, seed: seed)
        let b = Batch<Float>(horizon: hyper.horizon, batch: batch, obsDim: 5, actDim: 2)
        var r = SeededRandom(seed: 2)
        for i in 0..<b.obs.count { b.obs.p[i] = Float(r.normal()) }
        for i in 0..<b.act.count { b.act.p[i] = Float(r.uniform() * 2 - 1) }
        return (layout, hyper, state, b)
    }

    static func bits(_ t: Tensor<Float>) -> [UInt32] { t.array.map(\.bitPattern) }

    /// θ, θ̄ and Adam's moments after `updates` updates with `threads` threads.
    static func train(threads: Int, batch: Int, updates: Int) throws -> (theta: [UInt32], target: [UInt32], v: [UInt32]) {
        let (layout, hyper, state, b) = try setup(batch: batch)
        let u = IQUpdater<Float>(layout: layout, hyper: hyper, threads: threads)
        for _ in 0..<updates { _ = u.update(state, batch: b) }
        return (bits(state.theta), bits(state.target), bits(state.adamV))
    }

    @Test(arguments: [(1, 32), (2, 32), (2, 37), (3, 37)])
    func runsWithTheSameThreadCountAreIdentical(threads: Int, batch: Int) throws {
        let a = try Self.train(threads: threads, batch: batch, updates: 3)
        let b = try Self.train(threads: threads, batch: batch, updates: 3)
        #expect(a.theta == b.theta)
        #expect(a.target == b.target)
        #expect(a.v == b.v)
    }

    /// One thread is the plain single-threaded update, written out here step by step with the
    /// losses and `Optimiser` (docs/algorithm.md §4.2): the same bits.
    @Test func oneThreadIsTheReferenceUpdate() throws {
        let (layout, hyper, s1, b) = try Self.setup(batch: 32)
        let (_, _, s2, _) = try Self.setup(batch: 32)
        let one = IQUpdater<Float>(layout: layout, hyper: hyper, threads: 1)
        let loss = IQLoss<Float>(layout: layout, hyper: hyper)
        for _ in 0..<2 {
            _ = one.update(s1, batch: b)
            let th = s2.theta.p, g = s2.grad.p
            loss.prepareTargets(theta: th, target: s2.target.p, batch: b, rng: &s2.rng)
            s2.grad.zero()
            loss.modelLoss(theta: th, grad: g, batch: b, rng: &s2.rng)
            Optimiser.clipGlobalNorm(g, ranges: [0..<layout.total], maxNorm: hyper.gradClip)
            s2.modelSteps += 1
            for (r, lr) in [(layout.encoderRange, hyper.lr * hyper.encoderLrScale), (layout.dynamicsRange, hyper.lr),
                            (layout.qRange, hyper.lr)] {
                Optimiser.adam(theta: th, grad: g, m: s2.adamM.p, v: s2.adamV.p, range: r, lr: lr,
                               step: s2.modelSteps, eps: hyper.modelAdamEps)
            }
            (g + layout.policyOffset).update(repeating: 0, count: layout.policyRange.count)
            loss.policyLoss(theta: th, grad: g, rng: &s2.rng)
            Optimiser.clipGlobalNorm(g, ranges: [layout.policyRange], maxNorm: hyper.gradClip)
            s2.policySteps += 1
            Optimiser.adam(theta: th, grad: g, m: s2.adamM.p, v: s2.adamV.p, range: layout.policyRange, lr: hyper.lr,
                           step: s2.policySteps, eps: hyper.policyAdamEps)
            Optimiser.polyak(target: s2.target.p, online: th + layout.qOffset, count: layout.qCount, tau: hyper.tau)
        }
        #expect(Self.bits(s1.theta) == Self.bits(s2.theta))
        #expect(Self.bits(s1.target) == Self.bits(s2.target))
        #expect(Self.bits(s1.adamV) == Self.bits(s2.adamV))
    }

    /// The gradients of one update's losses with 2 threads against 1 thread: every element
    /// within a tight tolerance of the largest gradient (only the order of row sums differs),
    /// and the split actually ran (the two are not bit-identical everywhere).
    @Test(arguments: [2, 3])
    func splitGradientsMatchOneThread(threads: Int) throws {
        func gradients(_ n: Int) throws -> (model: [Float], policy: [Float], loss: Float) {
            let (layout, hyper, state, b) = try Self.setup(batch: 37)
            let u = IQUpdater<Float>(layout: layout, hyper: hyper, threads: n)
            var rng = SeededRandom(seed: 11)
            u.loss.prepareTargets(theta: state.theta.p, target: state.target.p, batch: b, rng: &rng)
            state.grad.zero()
            let loss = u.loss.modelLoss(theta: state.theta.p, grad: state.grad.p, batch: b, rng: &rng)
            let model = state.grad.array
            state.grad.zero()
            u.loss.policyLoss(theta: state.theta.p, grad: state.grad.p, rng: &rng)
            return (model, state.grad.array, loss)
        }
        let one = try gradients(1), many = try gradients(threads)
        // sgemm on a block of rows may round differently from the whole matrix: a few ulps.
        #expect(abs(one.loss - many.loss) <= 1e-5 * abs(one.loss))
        for (a, b) in [(one.model, many.model), (one.policy, many.policy)] {
            let scale = a.map(abs).max()!
            #expect(scale > 0)
            var worst: Float = 0
            for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i])) }
            #expect(worst <= 1e-5 * scale, "largest difference \(worst) against largest gradient \(scale)")
        }
        #expect(one.model.map(\.bitPattern) != many.model.map(\.bitPattern), "the weight gradients were not split")
    }

    /// `iqmpc-train run --threads 2` twice with one seed: the same weights file, byte for byte.
    @Test func twoThreadTrainingRunsWriteIdenticalWeights() throws {
        let cal = try TrainingLoopTests.calibration()
        let dir = TrainingLoopTests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let d = try TrainingLoopTests.demos(cal, dir: dir)
        func train(_ name: String) throws -> Data {
            var o = TrainingLoopTests.options(dir: dir + "/" + name, steps: 100)
            o.hyper.batch = 32
            o.threads = 2
            o.checkpointDir = nil
            o.metricsPath = nil
            try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
            let env = try WireEnvironment.inProcess(task: .pendulumSwingup)
            defer { env.close() }
            let run = try TrainingRun(options: o, env: env, calibration: cal, expert: d.buffer(obsDim: 3, actDim: 1),
                                      expertReturn: d.meanReturn, demosPath: dir + "/demos.iqlog",
                                      demosFingerprint: d.fingerprint)
            let s = try run.run()
            #expect(s.updates > 40)
            return try Data(contentsOf: URL(fileURLWithPath: o.outPath))
        }
        let a = try train("a"), b = try train("b")
        #expect(a == b)
    }

    /// Planner options are checked when the run is built, not after the seed phase.
    @Test func badPlannerOptionsFailAtStart() throws {
        let cal = try TrainingLoopTests.calibration()
        let dir = TrainingLoopTests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let d = try TrainingLoopTests.demos(cal, dir: dir)
        var o = TrainingLoopTests.options(dir: dir, steps: 100)
        o.planner.samples = 32
        o.planner.elites = 64
        let env = try WireEnvironment.inProcess(task: .pendulumSwingup)
        defer { env.close() }
        #expect(throws: TrainError.self) {
            _ = try TrainingRun(options: o, env: env, calibration: cal, expert: d.buffer(obsDim: 3, actDim: 1),
                                expertReturn: d.meanReturn, demosPath: dir + "/demos.iqlog",
                                demosFingerprint: d.fingerprint)
        }
    }
}
