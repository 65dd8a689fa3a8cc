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

    @Option(help: "Demo run folder (demos.iqlog, weights.safetensors, metrics.jsonl, eval-*.iqlog, runtime-*.txt).")
    var dir: String?
    @Option(help: "Calibration file the runtime used.") var calibration: String?
    @Option(help: "Scripts/bench-train.sh output folder: writes <task>/report.html for every task it ran, and index.html.")
    var benchDir: String?
    @Option(help: "Task name for titles.") var task: String = "pendulum-swingup"
    @Option(help: "Output HTML path (default: <dir>/report.html).") var out: String?
    @Flag(help: "Exit non-zero if an evaluation is missing or empty, an action was non-finite or outside the calibration's limits, or the runtime allocated in steady state (misses and unanswered frames are reported, not failures).")
    var check = false

    func validate() throws {
        if (dir == nil) == (benchDir == nil) { throw ValidationError("give exactly one of --dir or --bench-dir") }
        if dir != nil && calibration == nil { throw ValidationError("--dir needs --calibration") }
    }

    func run() throws {
        if let benchDir { return try benchPages(benchDir) }
        let dir = self.dir!
        let cal = try Calibration.load(path: calibration!)
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
        let metrics = FileManager.default.fileExists(atPath: metricsPath) ? try MetricsRecord.load(path: metricsPath) : []
        let report = DemoReport(task: task, expert: expert, evaluations: evaluations, metrics: metrics,
                                calibration: cal, model: model)
        let path = out ?? "\(dir)/report.html"
        try report.html().write(toFile: path, atomically: true, encoding: .utf8)
        print(report.summary())
        print("  report: \(path)")
        if check {
            let failures = report.checkFailures(expectedEvaluations: runs.count)
            guard failures.isEmpty else {
                throw ValidationError("check failed: " + failures.joined(separator: "; "))
            }
            print("  check: \(evaluations.count) evaluations; every action finite and within limits; no steady-state allocations reported")
        }
    }

    /// One page per run folder of a bench-train run (the same report as the demo's, over the
    /// runtime evaluations bench-train.sh recorded), plus an index linking them. Folders are
    /// `<task>` (10 demonstrations) and `<task>-<N>demos`; the demonstrations are the first
    /// N episodes of `<task>/demos.iqlog`, as the run used them.
    func benchPages(_ root: String) throws {
        let fm = FileManager.default
        let folders = try fm.contentsOfDirectory(atPath: root).sorted().filter {
            fm.fileExists(atPath: "\(root)/\($0)/iqmpc.safetensors")
        }
        func split(_ folder: String) -> (task: String, demos: Int) {
            guard folder.hasSuffix("demos"), let dash = folder.lastIndex(of: "-"),
                  let n = Int(folder[folder.index(after: dash)...].dropLast("demos".count)) else { return (folder, 10) }
            return (String(folder[..<dash]), n)
        }
        let tasks = folders.filter { fm.fileExists(atPath: "\(root)/\(split($0).task)/demos.iqlog") }
        guard !tasks.isEmpty else { throw ValidationError("\(root) has no run folder with iqmpc.safetensors and demonstrations") }
        let runs: [(String, String)] = [
            ("IQ-MPC (planning)", "runtime-iqmpc.log"), ("IQ-MPC (policy prior only)", "runtime-prior.log"),
            ("behaviour cloning", "runtime-bc.log"),
        ]
        var links: [String] = []
        for folder in tasks {
            let (task, demos) = split(folder)
            let d = "\(root)/\(folder)"
            let cal = try Calibration.load(path: "Calibration/\(task).yaml")
            let (model, _) = try WorldModel.load(path: "\(d)/iqmpc.safetensors")
            let expert = Array(try EpisodeLog.load(path: "\(root)/\(task)/demos.iqlog").episodes.prefix(demos))
            var evaluations: [DemoReport.Evaluation] = []
            for (label, base) in runs where fm.fileExists(atPath: "\(d)/\(base).iqlog") {
                evaluations.append(.init(label: label, episodes: try EpisodeLog.load(path: "\(d)/\(base).iqlog").episodes,
                                         runtimeSummary: (try? String(contentsOfFile: "\(d)/\(base)", encoding: .utf8)) ?? ""))
            }
            let metrics = fm.fileExists(atPath: "\(d)/metrics.jsonl") ? try MetricsRecord.load(path: "\(d)/metrics.jsonl") : []
            let title = "\(task), \(demos) demonstrations"
            let report = DemoReport(task: title, expert: expert, evaluations: evaluations, metrics: metrics,
                                    calibration: cal, model: model)
            try report.html().write(toFile: "\(d)/report.html", atomically: true, encoding: .utf8)
            print(report.summary())
            let share = evaluations.first.map { String(format: " (IQ-MPC with planning: %.0f%% of the expert)", report.row($0).shareOfExpert * 100) } ?? ""
            links.append("<li><a href=\"\(folder)/report.html\">\(SVGChart.escape(title))</a>\(share)</li>")
        }
        let index = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>iqmpc bench-train reports</title></head>
        <body style="font-family:sans-serif;max-width:900px;margin:24px auto"><h1>iqmpc bench-train reports</h1>
        <ul>\(links.joined(separator: "\n"))</ul></body></html>
        """
        try index.write(toFile: "\(root)/index.html", atomically: true, encoding: .utf8)
        print("  reports: \(root)/index.html (\(tasks.count) runs)")
    }
}
