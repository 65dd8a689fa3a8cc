import Foundation
import IQKernels
import IQModel
import IQPlanner

/// Latency and throughput of `Planner.plan` (used by `iqmpc-runtime bench`). Not a hot path.
///
/// `sgemm_gflops` is the machine's single-thread sgemm rate on exactly the GEMMs one plan
/// makes (same shapes and row counts, the model's own weights), timed in the same run, so a
/// busy machine slows both alike; `efficiency` = gflops / (sgemm_gflops · partitions).
public enum PlannerBenchmark {
    /// `--json` keys are the property names in snake_case.
    public struct Result: Sendable, Encodable {
        public var steps: Int
        public var threads: Int
        public var iterations: Int
        public var p50Us: Double, p99Us: Double, p999Us: Double, maxUs: Double, meanUs: Double
        public var gflopPerPlan: Double
        public var gflops: Double
        public var sgemmGflops: Double
        public var efficiency: Double
        public var allocationsPerStep: Double
        public var policyPriorUs: Double
        public var rowAlignment: Int
        /// Median CPU time of the calling thread per plan: with threads = 1 the whole plan, and
        /// unlike the wall-clock figures not stretched by other processes sharing the core.
        public var cpuP50Us: Double
    }

    /// Plans `steps` consecutive steps on a fixed pseudo-random observation walk.
    /// `allocationCount` reads the allocation counter of the calling thread's group, which the
    /// planner's workers join (the CLI links the counter; nil = not counted).
    public static func run(model: WorldModel, config: PlannerConfig, steps: Int, seed: UInt64 = 1,
                           allocationCount: (() -> UInt64)?) throws -> Result {
        let planner = try Planner(model: model, config: config, seed: seed)
        defer { planner.shutdown() }
        let D = model.config.obsDim, A = model.config.actDim
        let obs = UnsafeMutableBufferPointer<Float>.allocate(capacity: D)
        let act = UnsafeMutableBufferPointer<Float>.allocate(capacity: A)
        let lat = UnsafeMutablePointer<UInt64>.allocate(capacity: max(steps, 1))
        let cpu = UnsafeMutablePointer<UInt64>.allocate(capacity: max(steps, 1))
        defer { obs.deallocate(); act.deallocate(); lat.deallocate(); cpu.deallocate() }
        func threadCPU() -> UInt64 {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
        }
        let rng = Philox(seed: seed ^ 0x0B5)
        func observe(_ i: Int) {
            for d in 0..<D { obs[d] = 2 * rng.uniform(stream: 3, element: UInt64(i * D + d)) - 1 }
        }
        for i in 0..<5 {
            observe(i)
            _ = planner.plan(observation: UnsafeBufferPointer(obs), episodeStart: i == 0, deadline: .max, trainingNoise: false, action: act)
        }
        // Observations are precomputed per step outside the timed region.
        let allObs = UnsafeMutablePointer<Float>.allocate(capacity: max(steps, 1) * D)
        defer { allObs.deallocate() }
        for i in 0..<steps { observe(i + 5); (allObs + i * D).update(from: obs.baseAddress!, count: D) }
        let alloc0 = allocationCount?() ?? 0
        let shared0 = planner.workSplit.sharedLatentRows
        for i in 0..<steps {
            let o = UnsafeBufferPointer(start: allObs + i * D, count: D)
            let c0 = threadCPU(), t0 = MonotonicClock.nanoseconds()
            _ = planner.plan(observation: o, episodeStart: false, deadline: .max, trainingNoise: false, action: act)
            lat[i] = MonotonicClock.nanoseconds() &- t0
            cpu[i] = threadCPU() &- c0
        }
        let alloc1 = allocationCount?() ?? 0
        let split = planner.workSplit
        let sharedRows = split.sharedLatentRows - shared0
        var sorted = UnsafeMutableBufferPointer(start: lat, count: steps)
        sorted.sort()
        func pct(_ p: Double) -> Double {
            Double(sorted[min(steps - 1, Int((p * Double(steps)).rounded(.up)) - 1)]) / 1000
        }
        let mean = Double(sorted.reduce(0, +)) / Double(steps) / 1000
        var cpuSorted = UnsafeMutableBufferPointer(start: cpu, count: steps)
        cpuSorted.sort()

        // Policy prior latency (median of many single calls).
        var prior: [UInt64] = []
        prior.reserveCapacity(501)
        for i in 0..<501 {
            let o = UnsafeBufferPointer(start: allObs + (i % steps) * D, count: D)
            let t0 = MonotonicClock.nanoseconds()
            planner.policyPrior(observation: o, action: act)
            prior.append(MonotonicClock.nanoseconds() &- t0)
        }
        prior.sort()

        let parts = split.partitionRows
        let cached = split.cachedPolicyRows
        let calls = PlannerCost.calls(model: model, config: config, partitionRows: parts, iterations: config.iterations,
                                      cachedRows: cached)
        // Latent products that two Q calls shared were computed once: count them once.
        let firstQ = model.layout.q[0].layers[0]
        let skipped = 2 * Double(sharedRows) * Double(model.config.latentDim * firstQ.outDim) / Double(steps)
        let flops = PlannerCost.flops(calls) - skipped
        let sgemmSeconds = sgemmTime(calls)
        let p50 = pct(0.5)
        let gflops = flops / (p50 * 1e3)
        let sgemm = flops / sgemmSeconds / 1e9
        return Result(steps: steps, threads: parts.count, iterations: config.iterations,
                      p50Us: p50, p99Us: pct(0.99), p999Us: pct(0.999), maxUs: Double(sorted[steps - 1]) / 1000,
                      meanUs: mean, gflopPerPlan: flops / 1e9, gflops: gflops, sgemmGflops: sgemm,
                      efficiency: gflops / (sgemm * Double(parts.count)),
                      allocationsPerStep: allocationCount == nil ? .nan : Double(alloc1 &- alloc0) / Double(steps),
                      policyPriorUs: Double(prior[prior.count / 2]) / 1000, rowAlignment: split.rowAlignment,
                      cpuP50Us: Double(cpuSorted[(steps - 1) / 2]) / 1000)
    }

    /// Median time of the plan's GEMM list through bare sgemm on one thread.
    static func sgemmTime(_ calls: [PlannerCost.Call]) -> Double {
        let maxIn = calls.map { $0.rows * $0.inDim }.max() ?? 1
        let maxOut = calls.map { $0.rows * $0.outDim }.max() ?? 1
        let x = UnsafeMutablePointer<Float>.allocate(capacity: maxIn)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: maxOut)
        defer { x.deallocate(); y.deallocate() }
        for i in 0..<maxIn { x[i] = Float(i % 13) * 0.01 - 0.06 }
        func once() {
            for c in calls {
                Gemm.linear(x: x, ldx: c.inDim, rows: c.rows, inDim: c.inDim,
                            weight: c.weight, ldw: c.ldw, outDim: c.outDim, y: y, ldy: c.outDim)
            }
        }
        let first = MonotonicClock.nanoseconds()
        once()
        // 3-15 trials, about a second in all (the paper preset's list takes seconds per pass).
        let trials = max(3, min(15, Int(1e9 / Double(max(MonotonicClock.nanoseconds() &- first, 1)))))
        var times: [UInt64] = []
        for _ in 0..<trials {
            let t0 = MonotonicClock.nanoseconds()
            once()
            times.append(MonotonicClock.nanoseconds() &- t0)
        }
        times.sort()
        return Double(times[times.count / 2]) / 1e9
    }
}

extension PlannerBenchmark {
    /// The packed kernels against OpenBLAS on the same weights, config and observations, plan
    /// calls alternating between the two so that a shared, noisy machine slows both alike.
    public struct KernelComparison: Sendable {
        public var packedP50Us: Double
        public var blasP50Us: Double
        /// blas / packed: above 1 means the packed path is faster.
        public var speedup: Double { blasP50Us / packedP50Us }
        /// Whether both planners chose the same actions (they differ only in rounding, so
        /// this may be false; it is reported, not required).
        public var identicalActions: Bool
    }

    public static func compareKernels(model: WorldModel, config: PlannerConfig, steps: Int, seed: UInt64 = 1) throws -> KernelComparison {
        let packed = try Planner(model: model.withKernels(.packed), config: config, seed: seed)
        let blas = try Planner(model: model.withKernels(.blas), config: config, seed: seed)
        defer { packed.shutdown(); blas.shutdown() }
        let D = model.config.obsDim, A = model.config.actDim
        var obs = [Float](repeating: 0, count: D)
        var a1 = [Float](repeating: 0, count: A), a2 = a1
        var t1: [UInt64] = [], t2: [UInt64] = []
        var same = true
        let rng = Philox(seed: seed ^ 0xAB)
        for i in 0..<(steps + 5) {
            for d in 0..<D { obs[d] = 2 * rng.uniform(stream: 3, element: UInt64(i * D + d)) - 1 }
            let s0 = MonotonicClock.nanoseconds()
            _ = obs.withUnsafeBufferPointer { o in a1.withUnsafeMutableBufferPointer {
                packed.plan(observation: o, episodeStart: i == 0, deadline: .max, trainingNoise: false, action: $0) } }
            let s1 = MonotonicClock.nanoseconds()
            _ = obs.withUnsafeBufferPointer { o in a2.withUnsafeMutableBufferPointer {
                blas.plan(observation: o, episodeStart: i == 0, deadline: .max, trainingNoise: false, action: $0) } }
            let s2 = MonotonicClock.nanoseconds()
            if i >= 5 { t1.append(s1 &- s0); t2.append(s2 &- s1) }
            if a1 != a2 { same = false }
        }
        t1.sort(); t2.sort()
        return KernelComparison(packedP50Us: Double(t1[t1.count / 2]) / 1000, blasP50Us: Double(t2[t2.count / 2]) / 1000,
                                identicalActions: same)
    }
}
