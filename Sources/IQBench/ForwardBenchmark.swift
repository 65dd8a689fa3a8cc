import Foundation
import IQKernels
import IQModel

/// Forward-pass throughput beside the machine's own sgemm rate on the same shapes, measured
/// in the same run (so a busy shared machine slows both alike). Not a hot path; used by
/// `iqmpc-runtime bench-forward`.
public enum ForwardBenchmark {
    public struct Report: Sendable, Encodable {
        public var preset: String
        public var rows: Int, parameters: Int
        public var gflopPerPass: Double, forwardGflops: Double, sgemmGflops: Double, ratio: Double
        public var forwardMs: Double, sgemmMs: Double, iterations: Int, singleRowPolicyUs: Double
        public var blasForwardMs: Double, packedSpeedup: Double
    }

    public struct Result: Sendable {
        public var preset: String
        public var rows: Int
        public var parameters: Int
        /// FLOPs (2 per multiply-add) of one full pass over `rows`: encoder, dynamics, π, all K Q heads.
        public var flops: Double
        /// Median seconds per full pass, and per the same GEMMs alone.
        public var forwardSeconds: Double
        public var sgemmSeconds: Double
        /// Median seconds per full pass of the same weights with every product in OpenBLAS
        /// (`WorldModel.Kernels.blas`), timed in the same alternation.
        public var blasForwardSeconds: Double
        /// Paired iterations measured.
        public var iterations: Int
        /// Median latency of encode + policy mean for one row (the policy-prior fallback).
        public var singleRowPolicySeconds: Double
        public var forwardGflops: Double { flops / forwardSeconds / 1e9 }
        public var sgemmGflops: Double { flops / sgemmSeconds / 1e9 }
        public var ratio: Double { sgemmSeconds / forwardSeconds }

        /// What `--json` prints (keys in snake_case): the measurements and the rates derived from them.
        public var report: Report {
            Report(preset: preset, rows: rows, parameters: parameters, gflopPerPass: flops / 1e9, forwardGflops: forwardGflops,
                   sgemmGflops: sgemmGflops, ratio: ratio, forwardMs: forwardSeconds * 1e3, sgemmMs: sgemmSeconds * 1e3,
                   iterations: iterations, singleRowPolicyUs: singleRowPolicySeconds * 1e6,
                   blasForwardMs: blasForwardSeconds * 1e3, packedSpeedup: blasForwardSeconds / forwardSeconds)
        }
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Times paired iterations (one model pass, then the same BLAS calls alone) for about
    /// `trials × minSeconds` seconds (at least 5 pairs) and reports the median of each.
    public static func run(preset: String, obsDim: Int, actDim: Int, rows: Int,
                           trials: Int = 7, minSeconds: Double = 0.3) throws -> Result {
        let config = try ModelConfig.preset(preset, obsDim: obsDim, actDim: actDim)
        let model = WorldModel.initialised(config: config, seed: 1, nonzeroQ: true)
        let ws = ForwardWorkspace(model: model, maxRows: rows)
        Gemm.useSingleThread()
        let L = config.latentDim, A = config.actDim
        func buf(_ n: Int, _ v: Float = 0.1) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            for i in 0..<n { p[i] = v * Float((i * 7919) % 17 - 8) / 8 }
            return p
        }
        let obs = buf(rows * obsDim), z = buf(rows * L), next = buf(rows * L), act = buf(rows * A)
        let q = buf(rows)
        defer { [obs, z, next, act, q].forEach { $0.deallocate() } }

        let blasModel = model.withKernels(.blas)
        func pass(_ model: WorldModel) {
            model.encode(obs: obs, rows: rows, into: z, workspace: ws)
            model.policy(z: z, rows: rows, noise: nil, meanOut: act, actionOut: nil, logProbOut: nil,
                         logStdOut: nil, workspace: ws)
            model.dynamics(z: z, actions: act, rows: rows, into: next, workspace: ws)
            for k in 0..<config.numQ { model.q(head: k, z: z, actions: act, rows: rows, into: q, workspace: ws) }
        }

        // The same BLAS calls the forward pass makes (same shapes, same sgemm/sgemv dispatch,
        // operands from the model's own weights), without anything else.
        let layout = model.layout
        let specs = ([layout.encoder, layout.policy, layout.dynamics] + layout.q).flatMap(\.layers)
        let maxIn = specs.map(\.inDim).max()!, maxOut = specs.map(\.outDim).max()!
        let ga = buf(rows * maxIn), gc = buf(rows * maxOut)
        defer { ga.deallocate(); gc.deallocate() }
        let weights = specs.map { model.tensor(named: $0.prefix + ".weight")!.baseAddress! }
        func gemms() {
            for (i, s) in specs.enumerated() {
                Gemm.linear(x: ga, ldx: s.inDim, rows: rows, inDim: s.inDim, weight: weights[i], ldw: s.inDim,
                            outDim: s.outDim, y: gc, ldy: s.outDim)
            }
        }
        let flops = Double(specs.reduce(0) { $0 + $1.inDim * $1.outDim }) * 2 * Double(rows)

        // Paired alternation: each iteration times one full pass and then the bare BLAS calls,
        // so on a shared machine both see the same load; medians of the per-iteration times.
        pass(model); pass(blasModel); gemms()
        var f: [Double] = [], g: [Double] = [], fb: [Double] = []
        let start = now()
        while f.count < 5 || (now() - start < minSeconds * Double(trials) && f.count < 10_000) {
            let t0 = now()
            pass(model)
            let t1 = now()
            gemms()
            let t2 = now()
            pass(blasModel)
            let t3 = now()
            f.append(t1 - t0); g.append(t2 - t1); fb.append(t3 - t2)
        }
        f.sort(); g.sort(); fb.sort()
        // The policy-prior fallback: encode + policy mean for one observation.
        var single: [Double] = []
        for _ in 0..<200 {
            let t0 = now()
            model.encode(obs: obs, rows: 1, into: z, workspace: ws)
            model.policy(z: z, rows: 1, noise: nil, meanOut: act, actionOut: nil, logProbOut: nil,
                         logStdOut: nil, workspace: ws)
            single.append(now() - t0)
        }
        single.sort()
        return Result(preset: preset, rows: rows, parameters: model.parameterCount, flops: flops,
                      forwardSeconds: f[f.count / 2], sgemmSeconds: g[g.count / 2], blasForwardSeconds: fb[fb.count / 2],
                      iterations: f.count,
                      singleRowPolicySeconds: single[single.count / 2])
    }
}
