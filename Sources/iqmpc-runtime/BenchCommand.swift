import ArgumentParser
import CAllocCounter
import Foundation
import IQBench
import IQJSON
import IQModel
import IQPlanner
import IQRuntime

/// `iqmpc-runtime bench`: plan-call latency percentiles, achieved GFLOP/s beside the machine's
/// same-run sgemm rate on the planner's own GEMMs, allocations per step, policy-prior latency.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the MPPI planner on a weights file.")

    @Option(help: "Weights file (safetensors, iqmpc.weights).") var weights: String
    @Option(help: "Samples per iteration.") var samples = 512
    @Option(help: "MPPI iterations (default: 6, 8 when actDim >= 20).") var iterations: Int?
    @Option(help: "Horizon.") var horizon = 3
    @Option(help: "Scoring threads (calling thread included).") var threads = 1
    @Option(help: "Timed plan calls.") var steps = 200
    @Option(help: "Elites (default: samples/8, the paper's 64 of 512).") var elites: Int?
    @Option(name: .customLong("policy-trajectories"), help: "Policy-prior trajectories (default: 3·samples/64, the paper's 24 of 512).")
    var policyTrajectories: Int?
    @Flag(inversion: .prefixedNo, help: "Pin worker threads to distinct allowed CPUs.") var pin = true
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(name: .customLong("compare-kernels"),
          help: "Also time the packed kernels against OpenBLAS on the same weights (alternating plan calls).")
    var compareKernels = false

    func run() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be >= 1") }
        let (model, _) = try WorldModel.load(path: weights)
        var config = PlannerConfig.paper(actDim: model.config.actDim)
        config.setSamples(samples)
        if let elites { config.elites = elites }
        if let policyTrajectories { config.policyTrajectories = policyTrajectories }
        config.horizon = horizon
        config.threads = threads
        config.pinWorkers = pin
        if let iterations { config.iterations = iterations }
        do { try config.validate() } catch { throw ValidationError(error.description) }
        // Counted over one allocation group (this thread and the planner workers it starts),
        // so nothing else in the process lands in the figure.
        let window = AllocationWindow()
        let r = try window.within {
            try PlannerBenchmark.run(model: model, config: config, steps: steps,
                                     allocationCount: { iq_alloc_group_count(window.group) })
        }
        let c = model.config
        let ab = compareKernels ? try PlannerBenchmark.compareKernels(model: model, config: config, steps: steps) : nil
        if json {
            // One flat object: the model's shape, the benchmark's own fields, the kernel A/B if run.
            struct Shape: Encodable { var obsDim, actDim, latentDim, mlpDim, samples, horizon: Int; var kernels: String }
            struct AB: Encodable { var abPackedP50Us, abBlasP50Us, abSpeedup: Double; var abIdenticalActions: Bool }
            struct Output: Encodable {
                var shape: Shape, result: PlannerBenchmark.Result, ab: AB?
                func encode(to encoder: any Encoder) throws {
                    try shape.encode(to: encoder); try result.encode(to: encoder); try ab?.encode(to: encoder)
                }
            }
            print(try StrictJSON.output(Output(
                shape: Shape(obsDim: c.obsDim, actDim: c.actDim, latentDim: c.latentDim, mlpDim: c.mlpDim, samples: samples,
                             horizon: horizon, kernels: model.kernels.rawValue),
                result: r,
                ab: ab.map { AB(abPackedP50Us: $0.packedP50Us, abBlasP50Us: $0.blasP50Us, abSpeedup: $0.speedup,
                                abIdenticalActions: $0.identicalActions) })))
        } else {
            print(String(format: "obs %d act %d latent %d mlp %d | N %d H %d I %d T %d | p50 %.0f us p99 %.0f us p99.9 %.0f us max %.0f us | %.1f GFLOP/s vs sgemm %.1f (eff %.2f) | alloc/step %.2f | prior %.1f us",
                         c.obsDim, c.actDim, c.latentDim, c.mlpDim, samples, horizon, r.iterations, r.threads,
                         r.p50Us, r.p99Us, r.p999Us, r.maxUs, r.gflops, r.sgemmGflops, r.efficiency, r.allocationsPerStep, r.policyPriorUs))
            if let ab {
                print(String(format: "kernels A/B (alternating calls): packed p50 %.0f us, OpenBLAS p50 %.0f us, speedup %.2fx",
                             ab.packedP50Us, ab.blasP50Us, ab.speedup))
            }
        }
    }
}
