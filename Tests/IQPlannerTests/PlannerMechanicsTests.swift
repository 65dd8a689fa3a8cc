#if canImport(Glibc)
import Glibc
#endif
import CAllocCounter
import IQKernels
import IQModel
@testable import IQPlanner
import Synchronization
import Testing
import IQTestSupport

@Suite(.serialized) struct PlannerMechanicsTests {
    @Test func paperDefaults() throws {
        let c = PlannerConfig()
        #expect(c.horizon == 3 && c.samples == 512 && c.elites == 64 && c.policyTrajectories == 24)
        #expect(c.iterations == 6 && c.temperature == 0.5 && c.minStd == 0.05 && c.maxStd == 2)
        #expect(c.actionSelection == .sample && c.threads == 1)
        #expect(PlannerConfig.paper(actDim: 19).iterations == 6)
        #expect(PlannerConfig.paper(actDim: 20).iterations == 8)
        #expect(PlannerConfig.paper(actDim: 39).iterations == 8)
        try c.validate()
    }

    @Test func badConfigsNameTheField() {
        func message(_ edit: (inout PlannerConfig) -> Void) -> String {
            var c = PlannerConfig()
            edit(&c)
            do { try c.validate(); return "" } catch { return error.description }
        }
        #expect(message { $0.elites = 0 }.contains("elites"))
        #expect(message { $0.elites = 513 }.contains("elites"))
        #expect(message { $0.samples = 0 }.contains("samples"))
        #expect(message { $0.policyTrajectories = 600 }.contains("policyTrajectories"))
        #expect(message { $0.temperature = .nan }.contains("temperature"))
        #expect(message { $0.minStd = 3 }.contains("minStd"))
        #expect(message { $0.threads = 0 }.contains("threads"))
        #expect(message { $0.iterations = 0 }.contains("iterations"))
        #expect(message { $0.horizon = 0 }.contains("horizon"))
        #expect(throws: PlannerError.self) {
            var c = PlannerConfig(); c.samples = 4; c.elites = 2; c.policyTrajectories = 1; c.threads = 5
            _ = try Planner(model: Fixture.model(), config: c, seed: 1)
        }
    }

    @Test func actionsInRangeAndPlannerMode() throws {
        let model = Fixture.model()
        let planner = try Planner(model: model, config: Fixture.config(), seed: 3)
        defer { planner.shutdown() }
        for a in Fixture.run(planner, Fixture.observations(count: 10, dim: 5), trainingNoise: true) {
            #expect(a.allSatisfy { $0 >= -1 && $0 <= 1 })
        }
    }

    /// Same weights, observations and seed → the same bits: across planner instances, and
    /// with 1, 2 and 3 threads (rows are partitioned differently each time).
    @Test func bitIdenticalAcrossRunsAndThreadCounts() throws {
        let model = Fixture.model(act: 3)
        let obs = Fixture.observations(count: 12, dim: 5)
        func actions(threads: Int, seed: UInt64 = 11, anchor: Double = 0) throws -> [[UInt32]] {
            var c = Fixture.config(samples: 100, elites: 10, policy: 6, threads: threads)
            c.priorAnchor = anchor
            let p = try Planner(model: model, config: c, seed: seed)
            defer { p.shutdown() }
            #expect(p.core.partitions.count == threads, "rows really are split across \(threads) threads")
            return Fixture.bits(Fixture.run(p, obs, restartAt: 6, trainingNoise: true))
        }
        let reference = try actions(threads: 1)
        #expect(try actions(threads: 1) == reference)
        #expect(try actions(threads: 2) == reference)
        #expect(try actions(threads: 3) == reference)
        #expect(try actions(threads: 1, seed: 12) != reference)
        // With the prior anchor (docs/algorithm.md §2.3): the same bits at any thread count,
        // and not the unanchored plan.
        let anchored = try actions(threads: 1, anchor: 2)
        #expect(try actions(threads: 2, anchor: 2) == anchored)
        #expect(try actions(threads: 3, anchor: 2) == anchored)
        #expect(anchored != reference)
    }

    /// Policy-prior trajectories whose rollout is cached after iteration 0, spread over three
    /// partitions: same bits as one thread, and as a model whose rollout cannot be cached.
    @Test func cachedPolicyRolloutAcrossPartitions() throws {
        let model = Fixture.model(act: 2)
        #expect(model.rolloutRowsIndependent, "tiny packs every dynamics and policy layer")
        let obs = Fixture.observations(count: 6, dim: 5)
        func actions(_ m: WorldModel, threads: Int, cache: Bool = true) throws -> [[UInt32]] {
            let p = try Planner(model: m, config: Fixture.config(samples: 30, elites: 6, policy: 24, iterations: 3, threads: threads), seed: 4)
            defer { p.shutdown() }
            #expect(p.core.cacheRollout == m.rolloutRowsIndependent)
            if !cache { p.core.cacheRollout = false }
            return Fixture.bits(Fixture.run(p, obs, restartAt: 3, trainingNoise: false))
        }
        let reference = try actions(model, threads: 1, cache: false)
        #expect(try actions(model, threads: 1) == reference, "the cache changes no bit")
        #expect(try actions(model, threads: 3) == reference)
        // OpenBLAS products: no cache; different rounding, so only the mechanics are compared.
        let blas = model.withKernels(.blas)
        #expect(!blas.rolloutRowsIndependent)
        #expect(try actions(blas, threads: 1).count == reference.count)
    }

    /// Zero heap allocations over 1000 plans (1 and 2 threads; without and with the prior
    /// anchor), with the counter's positive control.
    @Test func noAllocationsPerPlan() throws {
        let model = Fixture.model()
        for (threads, anchor) in [(1, 0.0), (2, 0.0), (1, 2.0), (2, 2.0)] {
            // The planner is built in a fresh allocation group that its workers join, so one
            // window over it is exact (threads other suites leave behind cannot land in it).
            var plannerModes = 0
            let allocations = try Fixture.allocationsWhilePlanning(model: model, threads: threads, priorAnchor: anchor) { planner, obs, act in
                for i in 0..<1000 {
                    obs[i % 5] = Float(i % 7) / 7
                    let o = planner.plan(observation: UnsafeBufferPointer(obs), episodeStart: i % 100 == 0,
                                         deadline: i % 3 == 0 ? .max : MonotonicClock.nanoseconds() + 1_000_000_000,
                                         trainingNoise: i & 1 == 0, action: act)
                    if o.source == .planner { plannerModes += 1 }
                    planner.policyPrior(observation: UnsafeBufferPointer(obs), action: act)
                }
            }
            #expect(allocations == 0, "threads \(threads), anchor \(anchor)")
            #expect(plannerModes == 1000)
        }
    }

    /// Estimates inflated by a slow spell relax towards the fastest measurement while falling
    /// back; a start-up pass that was itself slow sets that floor too high, and only the
    /// probe (a plan regardless of the estimate, after a run of fallbacks) re-measures it.
    @Test func costModelProbesAfterARunOfFallbacks() {
        // Start-up pass 50x slower than the machine really is (10 µs set-up, 20 µs iteration).
        var m = PlanCostModel(setupNs: 500_000, iterationNs: 1_000_000)
        for _ in 0..<(PlanCostModel.firstProbeInterval - 1) {
            #expect(!m.isProbeDue)
            m.fellBack(probe: false)
        }
        // Relaxing cannot go below the slowed floor: without the probe, never again a plan.
        #expect(m.firstIterationNs == 1_500_000)
        m.fellBack(probe: false)
        #expect(m.isProbeDue)
        m.measured(setup: 10_000, perIteration: 20_000, probe: true)
        #expect(m.firstIterationNs == 30_000 && !m.isProbeDue)
        // A probe that cannot finish backs off: twice as many fallbacks before the next one.
        for _ in 0..<PlanCostModel.firstProbeInterval { m.fellBack(probe: false) }
        #expect(m.isProbeDue)
        m.fellBack(probe: true)
        for _ in 0..<(2 * PlanCostModel.firstProbeInterval - 1) { m.fellBack(probe: false) }
        #expect(!m.isProbeDue)
        m.fellBack(probe: false)
        #expect(m.isProbeDue)
        for _ in 0..<20 { m.fellBack(probe: true) }
        for _ in 0..<PlanCostModel.maxProbeInterval { m.fellBack(probe: false) }
        #expect(m.isProbeDue, "the interval is capped")
    }

    /// The deployment finding: the core was loaded only while the planner started, so its
    /// start-up pass measured a slow machine; before the probe, every later frame was answered
    /// by the prior. Reproduced with real contention (spinning threads during init only);
    /// planning must resume once the load is gone.
    @Test func slowedStartUpPassDoesNotDisablePlanning() throws {
        let model = Fixture.model()
        // Wide enough that one timed piece of the start-up pass outlasts a scheduler slice, so
        // spinning threads can slow it (a sub-millisecond piece often runs unpreempted).
        let config = Fixture.config(samples: 256, iterations: 2)
        let reference = try Planner(model: model, config: config, seed: 3)
        let unloaded = reference.estimatedSetupNs + reference.estimatedIterationNs
        reference.shutdown()
        var slowed: Planner?
        for _ in 0..<10 where slowed == nil {
            let hogs = (0..<24).map { _ in Hog() }
            let candidate = try Planner(model: model, config: config, seed: 3)
            hogs.forEach { $0.stop() }
            if candidate.estimatedSetupNs + candidate.estimatedIterationNs >= 6 * unloaded { slowed = candidate } else { candidate.shutdown() }
        }
        // The scheduler decides whether spinning threads slow a start-up; where it never did,
        // the reproduction is not possible here and the test says so (the mechanism itself is
        // checked deterministically by costModelProbesAfterARunOfFallbacks).
        guard let planner = slowed else {
            try Test.cancel("10 start-ups under 24 spinning threads were never 6x slower than unloaded on this machine")
        }
        defer { planner.shutdown() }
        // A budget of half the slowed estimate: at least 3x what planning really costs.
        let budget = (planner.estimatedSetupNs + planner.estimatedIterationNs) / 2
        let obs = Fixture.observations(count: 1, dim: 5)[0]
        var a = [Float](repeating: 0, count: 2)
        var modes: [PlanOutcome.Source] = []
        for _ in 0..<300 {
            let o = obs.withUnsafeBufferPointer { ob in a.withUnsafeMutableBufferPointer { ab in
                planner.plan(observation: ob, episodeStart: false, deadline: MonotonicClock.nanoseconds() + budget,
                             trainingNoise: false, action: ab)
            } }
            modes.append(o.source)
        }
        #expect(modes.first == .policyPrior, "the slowed estimate makes the first plans fall back")
        let planned = modes.suffix(100).filter { $0 == .planner }.count
        #expect(planned >= 80, "planning resumed: \(planned) of the last 100 plans")
    }

    /// A deadline that passes inside an iteration abandons it at the next horizon step: the
    /// plan returns within about one block of the deadline, with the iterations completed
    /// before (or the prior), never a partial iteration's action.
    @Test func deadlineInsideAnIterationAbandonsIt() throws {
        let model = Fixture.model()
        let planner = try Planner(model: model, config: Fixture.config(samples: 512, iterations: 6, horizon: 5), seed: 4)
        defer { planner.shutdown() }
        let obs = Fixture.observations(count: 1, dim: 5)[0]
        var a = [Float](repeating: 0, count: 2), prior = [Float](repeating: 0, count: 2)
        obs.withUnsafeBufferPointer { ob in prior.withUnsafeMutableBufferPointer { planner.policyPrior(observation: ob, action: $0) } }
        let iteration = planner.estimatedIterationNs
        var abandonedSome = false
        for i in 0..<40 {
            // Deadlines a fraction of one iteration past its start: the estimate says it fits
            // only when the check inside is what stops it.
            let o = obs.withUnsafeBufferPointer { ob in a.withUnsafeMutableBufferPointer { ab in
                planner.plan(observation: ob, episodeStart: true,
                             deadline: MonotonicClock.nanoseconds() + iteration * UInt64(1 + i % 4) / 2,
                             trainingNoise: false, action: ab)
            } }
            #expect(a.allSatisfy { $0.isFinite && abs($0) <= 1 })
            if o.source == .policyPrior { #expect(a == prior) }
            if o.iterations < 6 { abandonedSome = true }
        }
        #expect(abandonedSome)
    }

    /// A deadline shorter than one iteration: every call answers with the policy prior,
    /// 0 iterations, and exactly the prior's action. (Asserts the mode, not wall-clock times.)
    @Test func deadlineShorterThanOneIterationGivesPolicyPrior() throws {
        let model = Fixture.model()
        let planner = try Planner(model: model, config: Fixture.config(samples: 256, iterations: 4), seed: 8)
        defer { planner.shutdown() }
        #expect(planner.estimatedIterationNs > 0)
        for (i, o) in Fixture.observations(count: 50, dim: 5).enumerated() {
            var a = [Float](repeating: .nan, count: 2), prior = [Float](repeating: .nan, count: 2)
            let oc = o.withUnsafeBufferPointer { ob in
                a.withUnsafeMutableBufferPointer { ab in
                    // Half of the calls: deadline already past; half: 1 µs away.
                    planner.plan(observation: ob, episodeStart: i == 0,
                                 deadline: MonotonicClock.nanoseconds() + (i & 1 == 0 ? 0 : 1000),
                                 trainingNoise: false, action: ab)
                }
            }
            o.withUnsafeBufferPointer { ob in prior.withUnsafeMutableBufferPointer { planner.policyPrior(observation: ob, action: $0) } }
            #expect(oc.source == .policyPrior && oc.iterations == 0)
            #expect(a == prior)
        }
        // And with no deadline, all iterations run.
        var a = [Float](repeating: 0, count: 2)
        let obs: [Float] = [0.1, 0.2, 0.3, 0.4, 0.5]
        let oc = obs.withUnsafeBufferPointer { ob in
            a.withUnsafeMutableBufferPointer { planner.plan(observation: ob, episodeStart: false, deadline: .max, trainingNoise: false, action: $0) }
        }
        #expect(oc.source == .planner && oc.iterations == 4 && !oc.deadlineMissed)
    }

    /// The policy-prior fallback equals tanh(μ) from the model's own policy head.
    @Test func policyPriorIsPolicyMean() throws {
        let model = Fixture.model(act: 3)
        let planner = try Planner(model: model, config: Fixture.config(), seed: 1)
        defer { planner.shutdown() }
        let obs: [Float] = [0.3, -0.2, 0.9, 0, -1]
        var a = [Float](repeating: 0, count: 3), z = [Float](repeating: 0, count: 64), mean = [Float](repeating: 0, count: 3)
        let ws = ForwardWorkspace(model: model, maxRows: 1)
        obs.withUnsafeBufferPointer { ob in
            a.withUnsafeMutableBufferPointer { planner.policyPrior(observation: ob, action: $0) }
            z.withUnsafeMutableBufferPointer { model.encode(obs: ob.baseAddress!, rows: 1, into: $0.baseAddress!, workspace: ws) }
        }
        z.withUnsafeBufferPointer { zp in
            mean.withUnsafeMutableBufferPointer {
                model.policy(z: zp.baseAddress!, rows: 1, noise: nil, meanOut: $0.baseAddress!, actionOut: nil,
                             logProbOut: nil, logStdOut: nil, workspace: ws)
            }
        }
        #expect(a == mean)
    }

    /// Warm start is reset by episodeStart and by reset(): the plan after a reset equals the
    /// plan of a planner that never saw the earlier steps (same plan index → same streams).
    @Test func resetClearsWarmStart() throws {
        let model = Fixture.model()
        let obs = Fixture.observations(count: 6, dim: 5)
        let p1 = try Planner(model: model, config: Fixture.config(), seed: 21)
        let p2 = try Planner(model: model, config: Fixture.config(), seed: 21)
        defer { p1.shutdown(); p2.shutdown() }
        let a1 = Fixture.run(p1, Array(obs[0..<3]))
        p1.reset()
        // p2 sees different history for its first 3 plans, then a reset.
        _ = Fixture.run(p2, Array(obs[3..<6]))
        p2.reset()
        var x = [Float](repeating: 0, count: 2), y = [Float](repeating: 0, count: 2)
        obs[0].withUnsafeBufferPointer { ob in
            _ = x.withUnsafeMutableBufferPointer { p1.plan(observation: ob, episodeStart: false, deadline: .max, trainingNoise: false, action: $0) }
            _ = y.withUnsafeMutableBufferPointer { p2.plan(observation: ob, episodeStart: false, deadline: .max, trainingNoise: false, action: $0) }
        }
        #expect(x == y)
        #expect(a1.count == 3)
        // Without reset, history matters (warm start shifts the previous mean).
        var u = [Float](repeating: 0, count: 2), v = [Float](repeating: 0, count: 2)
        obs[1].withUnsafeBufferPointer { ob in
            _ = u.withUnsafeMutableBufferPointer { p1.plan(observation: ob, episodeStart: false, deadline: .max, trainingNoise: false, action: $0) }
            _ = v.withUnsafeMutableBufferPointer { p2.plan(observation: ob, episodeStart: true, deadline: .max, trainingNoise: false, action: $0) }
        }
        #expect(p1.core.prevMean[0] != 0 || u != v)
    }

    @Test func meanSelectionReturnsEliteMean() throws {
        var c = Fixture.config()
        c.actionSelection = .mean
        let planner = try Planner(model: Fixture.model(), config: c, seed: 4)
        defer { planner.shutdown() }
        let a = Fixture.run(planner, Fixture.observations(count: 1, dim: 5))[0]
        #expect(a[0] == min(max(planner.core.mean[0], -1), 1) && a[1] == min(max(planner.core.mean[1], -1), 1))
    }
}

/// A thread that spins until stopped: contention for the start-up test.
final class Hog: @unchecked Sendable {
    let stopFlag = Atomic<Bool>(false)
    private var thread = pthread_t()

    init() {
        let rc = pthread_create(&thread, nil, { raw in
            let hog = Unmanaged<Hog>.fromOpaque(raw!).takeUnretainedValue()
            var spins = 0
            while !hog.stopFlag.load(ordering: .relaxed) { spins &+= 1 }
            return nil
        }, Unmanaged.passUnretained(self).toOpaque())
        precondition(rc == 0)
    }

    func stop() {
        stopFlag.store(true, ordering: .relaxed)
        pthread_join(thread, nil)
    }
}
