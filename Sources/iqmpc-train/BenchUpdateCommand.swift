import ArgumentParser
import Foundation
import IQModel
import IQTrainer
import IQTrainerBench

/// `iqmpc-train bench-update`: training updates per second for a preset (one thread), and
/// with `--threads N` the split update against one thread in the same run.
struct BenchUpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-update",
        abstract: "Measure IQ-MPC training updates/s (batch B expert + B behavioural) beside the sgemm rate.")

    @Option(help: "Model preset.") var preset: ModelConfig.Preset = .tiny
    @Option(help: "Observation dimension.") var obsDim = 24
    @Option(help: "Action dimension.") var actDim = 6
    @Option(help: "Slices per buffer (2B rows per update).") var batch = 256
    @Option(help: "Horizon H.") var horizon = 3
    @Option(help: "Timed updates.") var updates = 20
    @Option(help: "Also time the update split over this many threads against one thread, in alternating rounds.")
    var threads = 1
    @Option(help: "Weight of the off-data action term (docs/algorithm.md §4.2 step 6b; 0 = off), to time its cost.")
    var offDataWeight = 0.0
    @Flag(help: "Print JSON instead of a sentence.") var json = false

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be in 1...64") }
        guard updates >= 1 else { throw ValidationError("--updates must be at least 1") }
        try requireRange("batch", batch, TrainerLimits.batch, whyUpper: batchBoundWhy)
        guard (1...64).contains(horizon) else { throw ValidationError("--horizon must be in 1...64") }
        guard (1...4096).contains(obsDim), (1...1024).contains(actDim) else {
            throw ValidationError("--obs-dim must be in 1...4096 and --act-dim in 1...1024")
        }
        guard offDataWeight >= 0 && offDataWeight.isFinite else { throw ValidationError("--off-data-weight must be a finite number >= 0") }
    }

    func run() throws {
        let r = try UpdateBenchmark.run(preset: preset.rawValue, obsDim: obsDim, actDim: actDim, batch: batch,
                                        horizon: horizon, updates: updates, threads: threads,
                                        offDataWeight: offDataWeight)
        if json {
            let data = try JSONEncoder().encode(r)
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "%@: %.2f updates/s wall, %.2f updates per CPU-second; %.2f GFLOP of GEMM per update in %.0f calls; products run at %.1f GFLOP/s (%.0f%% of sgemm, %.0f%% of the update's time); whole-update GEMM-effective %.1f GFLOP/s (%.0f%% of sgemm); sgemm %.1f GFLOP/s wall, %.1f per CPU-second; %d parameters; theta checksum %@",
                         r.preset, r.updatesPerSecond, r.updatesPerCPUSecond, r.gemmGflopPerUpdate, r.gemmCallsPerUpdate,
                         r.productGflops, 100 * r.productGflops / r.sgemmGflops, 100 * r.productTimeShare,
                         r.effectiveGflops, 100 * r.effectiveGflops / r.sgemmGflops,
                         r.sgemmGflops, r.sgemmGflopsCPU, r.parameters, r.thetaChecksum))
            if let one = r.singleUpdatesPerSecond, let many = r.threadedUpdatesPerSecond, let x = r.speedup {
                print(String(format: "%@, %d threads vs 1 (alternating rounds, same run): %.2f vs %.2f updates/s = %.2fx; threaded theta checksum %@; load average %.2f -> %.2f",
                             r.preset, r.threads, many, one, x, r.threadedThetaChecksum ?? "-",
                             r.loadAverage.first ?? .nan, r.loadAverage.last ?? .nan))
            }
        }
    }
}
