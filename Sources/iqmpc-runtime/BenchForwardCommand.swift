import ArgumentParser
import IQBench
import IQJSON
import IQModel

/// `iqmpc-runtime bench-forward`: world-model forward GFLOP/s per preset beside the same-run
/// single-threaded sgemm GFLOP/s on identical shapes (the ratio is the figure of merit).
struct BenchForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-forward",
        abstract: "Benchmark batched forward passes against raw sgemm on the same shapes.")

    @Option(help: "Preset; default: all three.") var preset: ModelConfig.Preset?
    @Option(help: "Batch rows.") var rows = 512
    @Option(name: .customLong("obs-dim"), help: "Observation dimension.") var obsDim = 67
    @Option(name: .customLong("act-dim"), help: "Action dimension.") var actDim = 21
    @Option(help: "Timing trials per measurement (median reported).") var trials = 7
    @Flag(help: "One JSON object per line.") var json = false

    func run() throws {
        guard rows >= 1, trials >= 1 else { throw ValidationError("--rows and --trials must be ≥ 1") }
        for p in preset.map({ [$0.rawValue] }) ?? ModelConfig.presetNames {
            let r = try ForwardBenchmark.run(preset: p, obsDim: obsDim, actDim: actDim, rows: rows, trials: trials)
            if json {
                print(try StrictJSON.output(r.report))
            } else {
                print("\(p): \(r.parameters) params, batch \(rows): forward \(String(format: "%.1f", r.forwardGflops)) GFLOP/s, "
                      + "sgemm same shapes \(String(format: "%.1f", r.sgemmGflops)) GFLOP/s, ratio \(String(format: "%.2f", r.ratio)); "
                      + "single-row encode+policy \(String(format: "%.1f", r.singleRowPolicySeconds * 1e6)) us")
            }
        }
    }
}
