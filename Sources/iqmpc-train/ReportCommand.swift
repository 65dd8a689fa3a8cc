import ArgumentParser
import Foundation
import IQAnalysis
import IQCalibration
import IQModel
import IQReport

/// Builds the demo's terminal summary and HTML report from the files a demo run leaves in
/// one folder (Scripts/demo.sh writes them; names below are its contract).
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Summarise a demo run folder and write its self-contained HTML report.")

    @Option(help: "Demo run folder (demos.iqlog, weights.safetensors, metrics.jsonl, eval-*.iqlog, runtime-*.json).")
    var dir: String
    @Option(help: "Calibration file the runtime used.") var calibration: String
    @Option(help: "Task name for titles.") var task: String = "pendulum-swingup"
    @Option(help: "Output HTML path (default: <dir>/report.html).") var out: String?
    @Flag(help: "Exit non-zero unless every evaluation frame was answered and all three evaluations are present.")
    var check = false

    func run() throws {
        let cal = try Calibration.load(path: calibration)
        let (model, _) = try WorldModel.load(path: "\(dir)/weights.safetensors")
        let expert = try EpisodeLog.load(path: "\(dir)/demos.iqlog").episodes
        let runs: [(String, String)] = [
            ("IQ-MPC (planning)", "planner"), ("IQ-MPC (policy prior only)", "prior"), ("behaviour cloning", "bc"),
        ]
        var evaluations: [DemoReport.Evaluation] = []
        for (label, key) in runs where FileManager.default.fileExists(atPath: "\(dir)/eval-\(key).iqlog") {
            let episodes = try EpisodeLog.load(path: "\(dir)/eval-\(key).iqlog").episodes
            evaluations.append(.init(label: label, episodes: episodes,
                                     runtimeSummary: (try? String(contentsOfFile: "\(dir)/runtime-\(key).txt", encoding: .utf8)) ?? ""))
        }
        let metricsPath = "\(dir)/metrics.jsonl"
        let metrics = FileManager.default.fileExists(atPath: metricsPath) ? try DemoReport.loadJSONLines(path: metricsPath) : []
        let report = DemoReport(task: task, expert: expert, evaluations: evaluations, metrics: metrics,
                                calibration: cal, model: model)
        let path = out ?? "\(dir)/report.html"
        try report.html().write(toFile: path, atomically: true, encoding: .utf8)
        print(report.summary())
        print("  report: \(path)")
        if check {
            let unanswered = evaluations.reduce(0) { total, e in
                total + e.episodes.reduce(0) { $0 + $1.steps.count - $1.answered }
            }
            guard evaluations.count == runs.count, unanswered == 0,
                  evaluations.allSatisfy({ !$0.episodes.isEmpty }) else {
                throw ValidationError("check failed: \(evaluations.count) of \(runs.count) evaluations, \(unanswered) unanswered frames")
            }
            print("  check: \(evaluations.count) evaluations, every frame answered")
        }
    }
}
