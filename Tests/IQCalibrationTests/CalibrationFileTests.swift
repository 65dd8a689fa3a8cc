import Foundation
import Testing
@testable import IQCalibration

/// Repository root, found from this file's path (tests run from any directory).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A valid file to mutate in the error tests: one obs channel, one action channel.
let minimalYAML = """
format_version: 1
robot_id: test-bot
observation:
  channels:
    - {name: x, unit: m, offset: 1.0, scale: 2.0, low: -10, high: 10}
action:
  channels:
    - name: u
      unit: N
      low: -2
      high: 2
      rate_limit: 50
      safe: 0
timing:
  control_period_ms: 10
  planning_budget_ms: 5
  watchdog_timeout_ms: 50
  max_frame_age_ms: 10
link:
  mode: free-running
  observation_endpoint: ipc:///tmp/x-obs
  action_endpoint: ipc:///tmp/x-act
  telemetry_endpoint: ~
"""

@Suite struct CalibrationFileTests {
    @Test func pendulumExampleLoads() throws {
        let c = try Calibration.load(path: repoRoot.appendingPathComponent("Calibration/pendulum-swingup.yaml").path)
        #expect(c.robotId == "pendulum-swingup")
        #expect(c.obsDim == 3 && c.actDim == 1)
        #expect(c.observations.map(\.name) == ["pole.angle.cos", "pole.angle.sin", "pole.angular_velocity"])
        #expect(c.observations[2].scale == 10)
        #expect(c.actions[0].low == -1 && c.actions[0].high == 1 && c.actions[0].safe == 0)
        #expect(c.timing.controlPeriodNs == 20_000_000 && c.timing.planningBudgetNs == 12_000_000)
        #expect(c.timing.watchdogTimeoutNs == 100_000_000 && c.timing.maxFrameAgeNs == 20_000_000)
        #expect(c.link.mode == .lockstep && c.link.telemetryEndpoint == "tcp://127.0.0.1:5703")
        #expect(c.planner.threads == 1)
        // 100 N*m/s over 20 ms.
        #expect(abs(c.maxStepChange[0] - 2.0) < 1e-6)
        try c.check(obsDim: 3, actDim: 1)
        #expect(throws: CalibrationError.self) { try c.check(obsDim: 4, actDim: 1) }
    }

    @Test func minimalFileDefaults() throws {
        let c = try Calibration.parse(yaml: minimalYAML)
        #expect(c.link.telemetryEndpoint == nil)
        #expect(c.link.mode == .freeRunning)
        // Action offset/scale default to the hard-limit range.
        #expect(c.actions[0].offset == 0 && c.actions[0].scale == 2)
        #expect(c.realTime == Calibration.RealTime())
        #expect(c.timing.frameClock == .sameHost)
    }

    /// Each mutation must be refused with an error naming exactly the broken field and its line.
    @Test(arguments: [
        ("      safe: 0", "      safe: 3", "action.channels[0].safe", 13),
        ("      safe: 0", "      sfe: 0", "action.channels[0].safe", 8),
        ("      rate_limit: 50", "      rate_limit: -1", "action.channels[0].rate_limit", 12),
        ("scale: 2.0", "scale: 0", "observation.channels[0].scale", 5),
        ("scale: 2.0", "scale: .nan", "observation.channels[0].scale", 5),
        ("scale: 2.0", "scale: abc", "observation.channels[0].scale", 5),
        ("low: -10, high: 10", "low: 10, high: -10", "observation.channels[0].low", 5),
        ("  planning_budget_ms: 5", "  planning_budget_ms: 10", "timing.planning_budget_ms", 16),
        ("  watchdog_timeout_ms: 50", "  watchdog_timeout_ms: 5", "timing.watchdog_timeout_ms", 17),
        ("  mode: free-running", "  mode: freerunning", "link.mode", 20),
        ("  observation_endpoint: ipc:///tmp/x-obs", "  observation_endpoint: localhost:5", "link.observation_endpoint", 21),
        ("format_version: 1", "format_version: 2", "format_version", 1),
        ("robot_id: test-bot", "robot_id: test bot", "robot_id", 2),
        ("  max_frame_age_ms: 10", "  max_frame_age_ms: -3", "timing.max_frame_age_ms", 18),
        ("    - name: u", "    - name: x\n      extra: 1", "action.channels[0].extra", 9),
    ])
    func errorsNameTheField(find: String, replace: String, field: String, line: Int) {
        let yaml = minimalYAML.replacingOccurrences(of: find, with: replace)
        #expect(yaml != minimalYAML)
        do {
            _ = try Calibration.parse(yaml: yaml, source: "t.yaml")
            Issue.record("accepted a broken file (\(replace))")
        } catch {
            #expect(error.field == field, "\(error)")
            #expect(error.line == line, "\(error)")
            #expect(error.description.hasPrefix("t.yaml:\(line): \(field): "), "\(error)")
        }
    }

    @Test func missingSectionsAndWrongShapes() {
        for (yaml, field) in [
            (minimalYAML.replacingOccurrences(of: "      safe: 0\n", with: ""), "action.channels[0].safe"),
            ("format_version: 1\nrobot_id: a\n", "observation"),
            (minimalYAML.replacingOccurrences(of: "  channels:\n    - {name: x", with: "  channels: 3\n    #"), "observation.channels"),
            ("- 1\n- 2\n", "(file)"),
            ("a: [\n", "(file)"),
            (minimalYAML + "\nrealtime:\n  priority: 120\n", "realtime.priority"),
            (minimalYAML + "\nrealtime:\n  cpu_affinity: [0, x]\n", "realtime.cpu_affinity[1]"),
            (minimalYAML + "\nplanner:\n  action_selection: best\n", "planner.action_selection"),
            (minimalYAML + "\nplanner:\n  samples: 0\n", "planner.samples"),
            (minimalYAML + "\nplanner:\n  prior_anchor: -1\n", "planner.prior_anchor"),
            (minimalYAML + "\nplanner:\n  prior_anchor: .nan\n", "planner.prior_anchor"),
            (minimalYAML + "\nplanner:\n  prior_anchor: strong\n", "planner.prior_anchor"),
            (minimalYAML + "\nplanner:\n  temperature: 0\n", "planner.temperature"),
            (minimalYAML + "\nplanner:\n  temperature: .inf\n", "planner.temperature"),
            (minimalYAML + "\nplanner:\n  temperature: hot\n", "planner.temperature"),
            (minimalYAML + "\nrobot_id: again\n", "robot_id"),
        ] {
            do {
                _ = try Calibration.parse(yaml: yaml)
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.field == field, "\(error)")
            }
        }
    }

    /// `planner.prior_anchor` and `planner.temperature` are read (docs/algorithm.md §2.1, §2.3);
    /// `BudgetCheckTests.calibrationPlannerSectionReachesThePlanner` follows them into the planner.
    @Test func priorAnchorAndTemperatureAreRead() throws {
        let c = try Calibration.parse(yaml: minimalYAML + "\nplanner:\n  prior_anchor: 4\n  temperature: 0.125\n")
        #expect(c.planner.priorAnchor == 4 && c.planner.temperature == 0.125)
        let plain = try Calibration.parse(yaml: minimalYAML)
        #expect(plain.planner.priorAnchor == nil && plain.planner.temperature == nil)
    }

    @Test func unreadableFileIsAClearError() {
        do {
            _ = try Calibration.load(path: "/nonexistent/cal.yaml")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.description.contains("/nonexistent/cal.yaml"))
        }
    }
}

/// Every calibration file shipped in Calibration/ (other helpers write theirs in this format)
/// must load and validate.
@Test func everyShippedCalibrationLoads() throws {
    let dir = repoRoot.appendingPathComponent("Calibration")
    let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
    #expect(files.contains("pendulum-swingup.yaml"))
    for f in files {
        do {
            let c = try Calibration.load(path: dir.appendingPathComponent(f).path)
            #expect(f == c.robotId + ".yaml", "file name should be <robot_id>.yaml: \(f) has robot_id \(c.robotId)")
        } catch {
            Issue.record("\(error)")
        }
    }
}
