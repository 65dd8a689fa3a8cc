import COpenBLAS
import Foundation
import IQKernels
import IQModel
import IQTrainer

/// Training throughput on random data (the update's cost does not depend on the values):
/// updates/s for a preset at batch B + B, horizon H, K heads, one thread, beside the
/// same-run sgemm rate on the update's dominant shape. Two GEMM figures, both against that
/// sgemm rate:
///  - `effectiveGflops` (whole-update GEMM-effective): the update's GEMM flops divided by the
///    whole update's wall time, i.e. the sgemm share the update would have if everything but
///    the products were free;
///  - `productGflops` (product rate): the same flops divided by the wall time spent inside
///    the products themselves (`GemmMeter.timing`), i.e. how fast the update's own matrix
///    products run compared with sgemm on a large square-ish shape.
public struct UpdateBenchmarkResult: Sendable, Codable {
    public var preset: String
    public var updatesPerSecond: Double
    /// Updates per second of this thread's CPU time: what the update costs on one core even
    /// when other processes share the machine (wall-clock rates then mostly measure the share).
    public var updatesPerCPUSecond: Double
    public var sgemmGflopsCPU: Double
    public var gemmGflopPerUpdate: Double
    /// GEMM flops / whole-update wall time (GFLOP/s).
    public var effectiveGflops: Double
    /// GEMM flops / wall time inside the GEMM calls (GFLOP/s).
    public var productGflops: Double
    /// Share of the update's wall time spent inside GEMM calls.
    public var productTimeShare: Double
    /// GEMM calls per update.
    public var gemmCallsPerUpdate: Double
    public var sgemmGflops: Double
    public var parameters: Int
    /// FNV-1a over θ's bits after warm-up + timed updates: equal values across builds show
    /// a code change left the update's arithmetic bit for bit unchanged (same BLAS, same
    /// options).
    public var thetaChecksum: String
    /// With `threads` > 1: the split update against the single-threaded one, measured in
    /// alternating rounds of the same run (fresh states, same seed, GEMM meter off), so a
    /// change in the machine's load during the run shifts both alike.
    public var threads = 1
    public var singleUpdatesPerSecond: Double?
    public var threadedUpdatesPerSecond: Double?
    /// threaded / single updates per second.
    public var speedup: Double?
    /// θ after the threaded run's warm-up + timed updates: equal across runs with the same
    /// thread count (the split fixes the order of every sum).
    public var threadedThetaChecksum: String?
    /// /proc/loadavg's 1-minute load average at the start and at the end of the run.
    public var loadAverage: [Double] = []
}

public enum UpdateBenchmark {
    public static func run(preset: String, obsDim: Int, actDim: Int, batch: Int, horizon: Int,
                           updates: Int, warmup: Int = 2, threads: Int = 1, rounds: Int = 4,
                           offDataWeight: Double = 0) throws -> UpdateBenchmarkResult {
        openblas_set_num_threads(1)
        let load0 = loadAverage()
        let config = try ModelConfig.preset(preset, obsDim: obsDim, actDim: actDim)
        let layout = ParamLayout(config)
        var hyper = Hyper()
        hyper.batch = batch
        hyper.horizon = horizon
        hyper.offDataWeight = offDataWeight
        let state = TrainState<Float>(layout: layout, seed: 1)
        let updater = IQUpdater<Float>(layout: layout, hyper: hyper)
        let b = Batch<Float>(horizon: horizon, batch: batch, obsDim: obsDim, actDim: actDim)
        var r = SeededRandom(seed: 2)
        for i in 0..<b.obs.count { b.obs.p[i] = Float(r.normal()) }
        for i in 0..<b.act.count { b.act.p[i] = Float(r.uniform() * 2 - 1) }
        for _ in 0..<warmup { _ = updater.updateFloat(state, batch: b) }
        // The sgemm reference is measured half before and half after the timed updates, so a
        // change in the other core's load during the run shifts both sides alike.
        let sgShape = (m: horizon * 2 * batch, n: config.mlpDim, k: config.mlpDim)
        let sgBefore = sgemmRate(m: sgShape.m, n: sgShape.n, k: sgShape.k, seconds: 0.25)
        GemmMeter.flops = 0
        GemmMeter.calls = 0
        GemmMeter.nanoseconds = 0
        // Two clock reads per product (~150-250 per update, ~25 ns each): < 0.1% of an update.
        GemmMeter.timing = true
        defer { GemmMeter.timing = false }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let c0 = threadCPUSeconds()
        for _ in 0..<updates { _ = updater.updateFloat(state, batch: b) }
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        let dc = threadCPUSeconds() - c0
        GemmMeter.timing = false
        let inGemm = Double(GemmMeter.nanoseconds) * 1e-9
        let flopsPer = GemmMeter.flops / Double(updates)
        let sgAfter = sgemmRate(m: sgShape.m, n: sgShape.n, k: sgShape.k, seconds: 0.25)
        let sg = (wall: (sgBefore.wall + sgAfter.wall) / 2, cpu: (sgBefore.cpu + sgAfter.cpu) / 2)
        var result = UpdateBenchmarkResult(preset: preset, updatesPerSecond: Double(updates) / dt,
                                     updatesPerCPUSecond: Double(updates) / dc, sgemmGflopsCPU: sg.cpu,
                                     gemmGflopPerUpdate: flopsPer * 1e-9,
                                     effectiveGflops: GemmMeter.flops / dt * 1e-9,
                                     productGflops: GemmMeter.flops / inGemm * 1e-9,
                                     productTimeShare: inGemm / dt,
                                     gemmCallsPerUpdate: Double(GemmMeter.calls) / Double(updates),
                                     sgemmGflops: sg.wall,
                                     parameters: layout.total,
                                     thetaChecksum: checksum(state.theta.p, count: layout.total))
        if threads > 1 {
            let single = Side(layout: layout, hyper: hyper, threads: 1, batch: b)
            let split = Side(layout: layout, hyper: hyper, threads: threads, batch: b)
            single.run(warmup)
            split.run(warmup)
            let per = max(1, updates / max(1, rounds))
            for r in 0..<max(1, rounds) {
                // Alternate which side goes first, so neither always follows the other's cache state.
                if r % 2 == 0 { single.run(per, timed: true); split.run(per, timed: true) } else {
                    split.run(per, timed: true); single.run(per, timed: true)
                }
            }
            result.threads = threads
            result.singleUpdatesPerSecond = Double(single.timedUpdates) / single.seconds
            result.threadedUpdatesPerSecond = Double(split.timedUpdates) / split.seconds
            result.speedup = result.threadedUpdatesPerSecond! / result.singleUpdatesPerSecond!
            result.threadedThetaChecksum = checksum(split.state.theta.p, count: layout.total)
        }
        result.loadAverage = [load0, loadAverage()]
        return result
    }

    /// One side of the single vs split comparison: its own state (seed 1) and updater.
    final class Side {
        let state: TrainState<Float>
        let updater: IQUpdater<Float>
        let batch: Batch<Float>
        var seconds = 0.0
        var timedUpdates = 0

        init(layout: ParamLayout, hyper: Hyper, threads: Int, batch: Batch<Float>) {
            state = TrainState<Float>(layout: layout, seed: 1)
            updater = IQUpdater<Float>(layout: layout, hyper: hyper, threads: threads)
            self.batch = batch
        }

        func run(_ n: Int, timed: Bool = false) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<n { _ = updater.updateFloat(state, batch: batch) }
            if timed {
                seconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                timedUpdates += n
            }
        }
    }

    /// The 1-minute load average (the machine is shared: the figure says how busy it was).
    static func loadAverage() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
              let first = text.split(separator: " ").first, let v = Double(first) else { return .nan }
        return v
    }

    static func checksum(_ p: UnsafePointer<Float>, count: Int) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<count {
            h ^= UInt64(p[i].bitPattern)
            h = h &* 0x100_0000_01b3
        }
        return String(h, radix: 16)
    }

    /// Raw sgemm GFLOP/s on [m, k] x [n, k]^T, the update's most common product.
    public static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// (wall-clock, thread-CPU-time) GFLOP/s.
    public static func sgemmRate(m: Int, n: Int, k: Int, seconds: Double = 0.5) -> (wall: Double, cpu: Double) {
        let a = Tensor<Float>(m * k), b = Tensor<Float>(n * k), c = Tensor<Float>(m * n)
        for i in 0..<a.count { a.p[i] = Float(i % 7) * 0.1 }
        for i in 0..<b.count { b.p[i] = Float(i % 5) * 0.1 }
        // One untimed call first: page faults on the fresh buffers are not sgemm's rate.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a.p, Int32(k),
                    b.p, Int32(k), 0, c.p, Int32(n))
        var reps = 0
        let c0 = threadCPUSeconds()
        let t0 = DispatchTime.now().uptimeNanoseconds
        var t = t0
        let budget = UInt64(seconds * 1e9)
        while t - t0 < budget {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a.p, Int32(k),
                        b.p, Int32(k), 0, c.p, Int32(n))
            reps += 1
            t = DispatchTime.now().uptimeNanoseconds
        }
        let flop = 2 * Double(m) * Double(n) * Double(k) * Double(reps)
        return (flop / (Double(t - t0) * 1e-9) * 1e-9, flop / (threadCPUSeconds() - c0) * 1e-9)
    }
}
