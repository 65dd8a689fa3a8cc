import Foundation
import IQAnalysis
import IQCalibration
import IQLink
import IQModel

/// Everything the end-to-end demo measured, turned into a terminal summary and one
/// self-contained HTML file (inline SVG, no scripts, no network).
public struct DemoReport {
    /// One evaluation run of the deployed runtime against the real-time simulator.
    public struct Evaluation {
        public var label: String
        public var episodes: [Episode]
        /// The runtime's own exit summary (its stdout), if captured.
        public var runtimeSummary: String
        public init(label: String, episodes: [Episode], runtimeSummary: String) {
            self.label = label; self.episodes = episodes; self.runtimeSummary = runtimeSummary
        }
    }

    public var task: String
    public var expert: [Episode]
    public var evaluations: [Evaluation]
    /// Trainer metrics, one JSON object per line.
    public var metrics: [MetricsRecord]
    public var calibration: Calibration
    public var model: WorldModel
    public var notes: [String] = []

    public init(task: String, expert: [Episode], evaluations: [Evaluation], metrics: [MetricsRecord],
                calibration: Calibration, model: WorldModel) {
        self.task = task; self.expert = expert; self.evaluations = evaluations
        self.metrics = metrics; self.calibration = calibration; self.model = model
    }

    // MARK: - Derived figures

    public var expertReturn: Stats { Stats(expert.map(\.totalReward)) }

    /// Observation-sample to action-send latency per answered frame, in microseconds
    /// (both clocks are CLOCK_MONOTONIC on one host).
    public func latenciesUs(_ e: Evaluation) -> [Double] {
        e.episodes.flatMap { ep in
            ep.steps.compactMap { s -> Double? in
                guard let a = s.action, a.timestampNs >= s.observation.timestampNs else { return nil }
                return Double(a.timestampNs - s.observation.timestampNs) / 1000
            }
        }
    }

    func diagnostics(_ e: Evaluation) -> [PlanDiagnostics] {
        e.episodes.flatMap { $0.steps.compactMap { $0.action?.diagnostics } }
    }

    /// What one evaluation measured, as the summary table shows it.
    public struct Row {
        public var label: String
        public var returns: Stats
        /// Mean return / the expert's mean return.
        public var shareOfExpert: Double
        public var latencyP50Us: Double, latencyP99Us: Double, latencyMaxUs: Double
        public var overBudget: Int, frames: Int
        public var deadlineMisses: Int, priorFallbacks: Int, safeActions: Int, unanswered: Int
        /// The runtime's "real-time: ..." line (SCHED_FIFO / memory locking applied or not).
        public var realTime: String?
        /// Heap allocations the runtime counted in steady state (nil: not reported).
        public var steadyStateAllocations: Int?
    }

    public func row(_ e: Evaluation) -> Row {
        let s = Stats(e.episodes.map(\.totalReward))
        let ex = expertReturn.mean
        let lat = latenciesUs(e)
        let d = diagnostics(e)
        let summaryLines = e.runtimeSummary.split(separator: "\n").map(String.init)
        let rt = summaryLines.first { $0.hasPrefix("real-time:") }.map { String($0.dropFirst("real-time:".count)).trimmingCharacters(in: .whitespaces) }
        // The runtime's own count: with --policy-prior-only every answer is the prior's, which
        // the per-frame source would count as a fallback.
        var fallbacks = d.filter { $0.source == .policyPrior }.count
        if let line = summaryLines.first(where: { $0.hasPrefix("counters:") }),
           let r = line.range(of: "policy-prior fallbacks "),
           let n = Int(line[r.upperBound...].prefix { $0.isNumber }) {
            fallbacks = n
        }
        var allocations: Int?
        if let line = summaryLines.first(where: { $0.hasPrefix("heap allocations in control steps:") }) {
            allocations = Int(line.dropFirst("heap allocations in control steps:".count).split(separator: " ").first ?? "")
        }
        return Row(label: e.label, returns: s, shareOfExpert: ex > 0 ? s.mean / ex : .nan,
                   latencyP50Us: Stats.percentile(lat, 50), latencyP99Us: Stats.percentile(lat, 99),
                   latencyMaxUs: lat.max() ?? .nan, overBudget: lat.filter { $0 > budgetUs }.count, frames: lat.count,
                   deadlineMisses: d.filter(\.deadlineMissed).count,
                   priorFallbacks: fallbacks,
                   safeActions: d.filter { $0.source == .safe }.count,
                   unanswered: e.episodes.reduce(0) { $0 + $1.steps.count - $1.answered },
                   realTime: rt, steadyStateAllocations: allocations)
    }

    /// Why the run must fail, if it must: an evaluation missing or empty (a crash), an action
    /// that is not finite or outside the calibration's limits, heap allocations in the
    /// runtime's steady state. Deadline misses and unanswered frames are not failures: on a
    /// loaded machine they are what the runtime's fallbacks are for, and the summary shows them.
    public func checkFailures(expectedEvaluations: Int) -> [String] {
        var failures: [String] = []
        if evaluations.count < expectedEvaluations {
            failures.append("\(evaluations.count) of \(expectedEvaluations) evaluations present")
        }
        for e in evaluations {
            if e.episodes.isEmpty { failures.append("[\(e.label)] no episode recorded") }
            var nonFinite = 0, outside = 0
            for ep in e.episodes {
                for st in ep.steps {
                    guard let a = st.action else { continue }
                    for (i, v) in a.values.enumerated() {
                        guard v.isFinite else { nonFinite += 1; continue }
                        if let ch = calibration.actions[safe: i] {
                            let tol = 1e-5 * max(1, abs(ch.high - ch.low))
                            if v < ch.low - tol || v > ch.high + tol { outside += 1 }
                        }
                    }
                }
            }
            if nonFinite > 0 { failures.append("[\(e.label)] \(nonFinite) non-finite action values") }
            if outside > 0 { failures.append("[\(e.label)] \(outside) action values outside the calibration's limits") }
            // Counted from the first answered step, none tolerated: libzmq's one-time queue
            // growth is provoked before it (the runtime's queue warm-up, Proto/README.md).
            if let a = row(e).steadyStateAllocations, a > 0 {
                failures.append("[\(e.label)] \(a) heap allocations in the runtime's control steps (none allowed from the first answered step)")
            }
        }
        return failures
    }

    public var budgetUs: Double { Double(calibration.timing.planningBudgetNs) / 1000 }
    public var periodUs: Double { Double(calibration.timing.controlPeriodNs) / 1000 }

    // MARK: - Terminal summary

    public func summary() -> String {
        var lines: [String] = []
        let ex = expertReturn
        lines.append("iqmpc demo: \(task)")
        lines.append(String(format: "  %-28@ %9.1f ± %.1f  (%d episodes)", "expert return" as NSString, ex.mean, ex.std, ex.count))
        let rows = evaluations.map(row)
        // Padded in Swift: Foundation's %-28@ does not pad on Linux.
        func cell(_ v: String, _ w: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, w - v.count))
            return left ? v + fill : fill + v
        }
        let widths = [28, 15, 10, 8, 8, 8, 7, 10, 11]
        func line(_ values: [String]) -> String {
            "  " + zip(values, widths).enumerated().map { cell($0.element.0, $0.element.1, left: $0.offset == 0) }
                .joined(separator: " ")
        }
        lines.append(line(["controller", "return", "of expert", "p50 us", "p99 us", "max us", "misses", "fallbacks",
                           "unanswered"]))
        for r in rows {
            lines.append(line([r.label, String(format: "%.1f ± %.1f", r.returns.mean, r.returns.std),
                               String(format: "%.0f%%", r.shareOfExpert * 100), String(format: "%.0f", r.latencyP50Us),
                               String(format: "%.0f", r.latencyP99Us), String(format: "%.0f", r.latencyMaxUs),
                               "\(r.deadlineMisses)", "\(r.priorFallbacks)", "\(r.unanswered)"]))
        }
        lines.append("  (latency: frame sampled -> action sent; planning budget \(Int(budgetUs)) us, period \(Int(periodUs)) us; misses: plans past the budget; fallbacks: policy-prior answers)")
        for (e, r) in zip(evaluations, rows) {
            if r.unanswered > 0 || r.deadlineMisses > 0 || r.overBudget > 0 {
                lines.append("  [\(e.label)] \(r.unanswered) unanswered frames, \(r.deadlineMisses) deadline misses, \(r.overBudget) of \(r.frames) answers over the budget: the machine was busy (these are reported, not failures)")
            }
            if let rt = r.realTime { lines.append("  [\(e.label)] real-time: \(rt)") }
            let rs = e.runtimeSummary.split(separator: "\n").filter {
                $0.hasPrefix("counters") || $0.hasPrefix("faults") || $0.hasPrefix("heap allocations") || $0.hasPrefix("mode ")
            }
            lines += rs.map { "    runtime: " + $0 }
        }
        if let planner = evaluations.first {
            let (dec, tru) = DecodedRewards.pairs(model: model, calibration: calibration, episodes: planner.episodes)
            lines.append(String(format: "  decoded vs ground-truth reward (Pearson, %d transitions): %.3f",
                                dec.count, Stats.pearson(dec, tru)))
        }
        if !evaluations.isEmpty {
            // Reward recovery across behaviours of different quality (expert, planner, prior, BC).
            let r = RewardRecovery.evaluate(model: model, calibration: calibration,
                                            sources: [("expert", expert)] + evaluations.map { ($0.label, $0.episodes) })
            lines.append(String(format: "  reward recovery over %d episodes (expert + evaluations): Pearson per step %.3f, per episode %.3f",
                                r.sources.reduce(0) { $0 + $1.episodes }, r.stepCorrelation, r.episodeCorrelation))
        }
        lines += notes.map { "  note: \($0)" }
        return lines.joined(separator: "\n")
    }

    // MARK: - HTML

    /// Legend text for a trainer evaluation series: what a reader compares, not the metrics key.
    static func curveLabel(_ key: String) -> String {
        switch key {
        case "eval_return_plan": return "with planning"
        case "eval_return_prior": return "policy prior alone"
        default: return key.replacingOccurrences(of: "_", with: " ")
        }
    }

    public func html() -> String {
        let colors = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#d62728"]
        var sections: [String] = []

        // 1. Learning curves: every evaluation-return series the trainer logged, against env steps.
        let curveKeys = Set(metrics.flatMap { $0.values.keys }).filter { $0.hasPrefix("eval_return") }.sorted()
        var series: [SVGChart.Series] = []
        for (i, key) in curveKeys.enumerated() {
            let pts = metrics.compactMap { m -> (x: Double, y: Double)? in
                guard let y = m.values[key], let x = m.values["env_step"] ?? m.values["step"] else { return nil }
                return (x, y)
            }
            if !pts.isEmpty { series.append(.init(name: Self.curveLabel(key), points: pts, color: colors[i % colors.count])) }
        }
        // One panel per loss: their scales differ by orders of magnitude.
        let lossKeys = Set(metrics.flatMap { $0.values.keys })
            .filter { $0.hasPrefix("loss") || $0.hasSuffix("_loss") || $0 == "consistency" }.sorted()
        var lossPanels: [String] = []
        for (i, key) in lossKeys.enumerated() {
            let pts = metrics.compactMap { m -> (x: Double, y: Double)? in
                guard let y = m.values[key], let x = m.values["updates"] ?? m.values["update"] ?? m.values["env_step"] ?? m.values["step"] else { return nil }
                return (x, y)
            }
            if !pts.isEmpty {
                lossPanels.append(SVGChart.lines(title: key.replacingOccurrences(of: "_", with: " "), xLabel: "updates",
                                                 yLabel: "loss", series: [.init(name: key, points: pts, color: colors[i % colors.count])]))
            }
        }
        sections.append(section("Learning curves",
            "Evaluation return logged by the trainer against environment steps, with the expert's mean return as a dashed line. Training never sees the reward: it is the simulator's evaluation signal.",
            SVGChart.lines(title: "Evaluation return during training", xLabel: "environment steps", yLabel: "return",
                           series: series, horizontalRules: [.init(value: expertReturn.mean, label: "expert")], markers: true)
            + lossPanels.joined()))

        // 2. Latency histogram with the budget line.
        if let e = evaluations.first {
            let lat = latenciesUs(e)
            sections.append(section("Control-step latency",
                "Time from the simulator sampling a frame to the runtime sending its action, every step of the \(e.label) evaluation, against the planning budget (dashed). Both ends read CLOCK_MONOTONIC on this machine.",
                SVGChart.histogram(title: "Frame sampled → action sent (\(e.label))", xLabel: "microseconds", values: lat,
                                   verticalRules: [.init(value: budgetUs, label: "budget \(Int(budgetUs)) us")])))
        }

        // 3. Decoded vs ground-truth reward.
        if let e = evaluations.first {
            let (dec, tru) = DecodedRewards.pairs(model: model, calibration: calibration, episodes: e.episodes)
            sections.append(section("Recovered reward",
                "The reward IQ-MPC plans with is decoded from its critic, r = Q(z,a) − γ·V(z'). Each point is one transition of the evaluation episodes.",
                SVGChart.scatter(title: "Decoded vs ground-truth reward", xLabel: "ground-truth reward (simulator)",
                                 yLabel: "decoded reward", x: tru, y: dec,
                                 note: String(format: "Pearson r = %.3f (n = %d)", Stats.pearson(dec, tru), dec.count))))
        }

        // 4. A short trajectory of the controlled plant.
        if let e = evaluations.first, let ep = e.episodes.first {
            let steps = Array(ep.steps.prefix(250))
            let dt = periodUs / 1e6
            var tr: [SVGChart.Series] = []
            let names = calibration.observations.map(\.name)
            for ch in 0..<min(names.count, 4) {
                tr.append(.init(name: names[ch], points: steps.enumerated().map { (Double($0.offset) * dt, Double($0.element.observation.values[safe: ch] ?? .nan)) },
                                color: colors[ch % colors.count]))
            }
            for ch in 0..<min(calibration.actions.count, 2) {
                tr.append(.init(name: calibration.actions[ch].name + " (command)",
                                points: steps.enumerated().compactMap { s in s.element.action.map { (Double(s.offset) * dt, Double($0.values[safe: ch] ?? .nan)) } },
                                color: colors[(4 + ch) % colors.count], dashed: true))
            }
            sections.append(section("Trajectory",
                "The first evaluation episode (\(e.label)): observation channels and the commanded action over the first \(steps.count) control steps.",
                SVGChart.lines(title: "Controlled plant", xLabel: "seconds", yLabel: "value", series: tr)))
        }

        let summaryText = SVGChart.escape(summary())
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>iqmpc demo report: \(SVGChart.escape(task))</title>
        <style>body{font-family:sans-serif;max-width:1320px;margin:24px auto;color:#222}
        section{margin:28px 0}svg{margin:6px;border:1px solid #ddd}pre{background:#f6f6f6;padding:12px;overflow-x:auto}
        table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:4px 8px}th{background:#f0f0f0}
        td.n{text-align:right;font-variant-numeric:tabular-nums}.note{color:#555;font-size:90%}</style>
        </head><body>
        <h1>iqmpc demo report: \(SVGChart.escape(task))</h1>
        <p>IQ-MPC learned a reward-free world model from expert demonstrations plus its own interaction, the
        frozen weights were deployed to <code>iqmpc-runtime</code>, and the runtime controlled the MuJoCo
        simulator in real time over ZeroMQ. Figures below were measured in this run.</p>
        \(summaryTable())
        <details><summary>Terminal summary</summary><pre>\(summaryText)</pre></details>
        \(sections.joined(separator: "\n"))
        </body></html>
        """
    }

    /// The results as an HTML table: one row per controller, the expert first.
    func summaryTable() -> String {
        func td(_ v: String, num: Bool = true) -> String { "<td\(num ? " class=\"n\"" : "")>\(SVGChart.escape(v))</td>" }
        let ex = expertReturn
        var rows = "<tr>" + td("expert (demonstrations)", num: false) + td(String(format: "%.1f ± %.1f", ex.mean, ex.std))
            + td("\(ex.count)") + td("100%") + String(repeating: td("–"), count: 6) + td("", num: false) + "</tr>"
        for e in evaluations {
            let r = row(e)
            rows += "<tr>" + td(r.label, num: false) + td(String(format: "%.1f ± %.1f", r.returns.mean, r.returns.std))
                + td("\(r.returns.count)") + td(String(format: "%.0f%%", r.shareOfExpert * 100))
                + td(String(format: "%.0f", r.latencyP50Us)) + td(String(format: "%.0f", r.latencyP99Us))
                + td(String(format: "%.0f", r.latencyMaxUs)) + td("\(r.deadlineMisses)") + td("\(r.priorFallbacks)")
                + td("\(r.unanswered)") + td(r.realTime ?? "not reported", num: false) + "</tr>"
        }
        return """
        <table><thead><tr><th>controller</th><th>return (mean ± sd)</th><th>episodes</th><th>share of expert</th>\
        <th>latency p50 (µs)</th><th>p99 (µs)</th><th>max (µs)</th><th>deadline misses</th><th>policy-prior fallbacks</th>\
        <th>unanswered frames</th><th>real-time settings</th></tr></thead><tbody>\(rows)</tbody></table>
        <p class="note">Latency: frame sampled by the simulator → action sent by the runtime, planning budget \(Int(budgetUs)) µs, control period \(Int(periodUs)) µs. Misses and unanswered frames come from CPU contention; they are reported, not hidden.</p>
        """
    }

    func section(_ title: String, _ text: String, _ svg: String) -> String {
        "<section><h2>\(SVGChart.escape(title))</h2><p>\(SVGChart.escape(text))</p>\(svg)</section>"
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
