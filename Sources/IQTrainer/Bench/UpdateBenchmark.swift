import COpenBLAS
import Foundation
import IQModel

/// Training throughput on random data (the update's cost does not depend on the values):
/// updates/s for a preset at batch B + B, horizon H, K heads, one thread, with the GEMM
/// share and the same-run sgemm rate on the update's dominant shape.
public struct UpdateBenchmarkResult: Sendable, Codable {
    public var preset: String
    public var updatesPerSecond: Double
    /// Updates per second of this thread's CPU time: what the update costs on one core even
    /// when other processes share the machine (wall-clock rates then mostly measure the share).
    public var updatesPerCPUSecond: Double
    public var sgemmGflopsCPU: Double
    public var gemmGflopPerUpdate: Double
    public var effectiveGflops: Double
    public var sgemmGflops: Double
    public var parameters: Int
}

public enum UpdateBenchmark {
    public static func run(preset: String, obsDim: Int, actDim: Int, batch: Int, horizon: Int,
                           updates: Int, warmup: Int = 2) throws -> UpdateBenchmarkResult {
        openblas_set_num_threads(1)
        let config = try ModelConfig.preset(preset, obsDim: obsDim, actDim: actDim)
        let layout = ParamLayout(NetShape(config))
        var hyper = Hyper()
        hyper.batch = batch
        hyper.horizon = horizon
        let state = TrainState<Float>(layout: layout, seed: 1)
        let updater = IQUpdater<Float>(layout: layout, hyper: hyper)
        let b = Batch<Float>(horizon: horizon, batch: batch, obsDim: obsDim, actDim: actDim)
        var r = TrainRNG(seed: 2)
        for i in 0..<b.obs.count { b.obs.p[i] = Float(r.normal()) }
        for i in 0..<b.act.count { b.act.p[i] = Float(r.uniform() * 2 - 1) }
        for _ in 0..<warmup { _ = updater.update(state, batch: b) }
        GemmMeter.flops = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        let c0 = threadCPUSeconds()
        for _ in 0..<updates { _ = updater.update(state, batch: b) }
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        let dc = threadCPUSeconds() - c0
        let flopsPer = GemmMeter.flops / Double(updates)
        let sg = sgemmRate(m: horizon * 2 * batch, n: config.mlpDim, k: config.mlpDim)
        return UpdateBenchmarkResult(preset: preset, updatesPerSecond: Double(updates) / dt,
                                     updatesPerCPUSecond: Double(updates) / dc, sgemmGflopsCPU: sg.cpu,
                                     gemmGflopPerUpdate: flopsPer * 1e-9,
                                     effectiveGflops: GemmMeter.flops / dt * 1e-9,
                                     sgemmGflops: sg.wall,
                                     parameters: layout.total)
    }

    /// Raw sgemm GFLOP/s on [m, k] x [n, k]^T, the update's most common product.
    public static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// (wall-clock, thread-CPU-time) GFLOP/s.
    public static func sgemmRate(m: Int, n: Int, k: Int) -> (wall: Double, cpu: Double) {
        let a = Tensor<Float>(m * k), b = Tensor<Float>(n * k), c = Tensor<Float>(m * n)
        for i in 0..<a.count { a.p[i] = Float(i % 7) * 0.1 }
        for i in 0..<b.count { b.p[i] = Float(i % 5) * 0.1 }
        var reps = 0
        let c0 = threadCPUSeconds()
        let t0 = DispatchTime.now().uptimeNanoseconds
        var t = t0
        while t - t0 < 500_000_000 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a.p, Int32(k),
                        b.p, Int32(k), 0, c.p, Int32(n))
            reps += 1
            t = DispatchTime.now().uptimeNanoseconds
        }
        let flop = 2 * Double(m) * Double(n) * Double(k) * Double(reps)
        return (flop / (Double(t - t0) * 1e-9) * 1e-9, flop / (threadCPUSeconds() - c0) * 1e-9)
    }
}
