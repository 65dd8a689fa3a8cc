import Foundation
import IQCalibration
import IQLink
import IQModel
@testable import IQAnalysis
import Testing

/// Reward recovery refuses weights, calibration and logs that describe different plants, by
/// name, instead of trapping in `normalise` or decoding zero transitions.
@Suite struct RecoveryInputsTests {
    static let root = RewardRecoveryTests.root
    static func cal(_ name: String) throws -> Calibration {
        try Calibration.load(path: root.appendingPathComponent("Calibration/\(name).yaml").path)
    }

    static func spec(_ c: Calibration) -> PlantSpec {
        PlantSpec(robotId: c.robotId,
                  observations: c.observations.map { .init(name: $0.name, unit: $0.unit, low: -1, high: 1) },
                  actions: c.actions.map { .init(name: $0.name, unit: $0.unit, low: $0.low, high: $0.high) },
                  controlPeriodNs: c.timing.controlPeriodNs, episodeLength: 0)
    }

    @Test func weightsMustFitTheCalibration() throws {
        let pendulum = try Self.cal("pendulum-swingup"), cartpole = try Self.cal("cartpole-swingup")
        let model = WorldModel.initialised(config: try ModelConfig.preset("tiny", obsDim: 3, actDim: 1), seed: 3)
        let stamped = pendulum.mappingMetadata()
        #expect(try RecoveryInputs.check(model: model, metadata: stamped, calibration: pendulum,
                                         weightsPath: "w.safetensors", allowMismatch: false).isEmpty)
        // Other dimensions: refused even with the override (this used to trap in normalise).
        for allow in [false, true] {
            #expect { _ = try RecoveryInputs.check(model: model, metadata: stamped, calibration: cartpole,
                                                   weightsPath: "w.safetensors", allowMismatch: allow) } throws: { e in
                "\(e)".contains("w.safetensors") && "\(e)".contains("obs_dim is 3")
            }
        }
        // Same dimensions, another mapping: refused, or a warning with the override.
        let other = try pendulum.replacingChannels(observations: pendulum.observations.map { var c = $0; c.scale *= 2; return c })
        #expect { _ = try RecoveryInputs.check(model: model, metadata: stamped, calibration: other,
                                               weightsPath: "w.safetensors", allowMismatch: false) } throws: { e in
            "\(e)".contains("observation scale")
        }
        #expect(try RecoveryInputs.check(model: model, metadata: stamped, calibration: other,
                                         weightsPath: "w.safetensors", allowMismatch: true).count > 0)
        // And decoding directly with a calibration of other dimensions no longer traps.
        let ep = RewardRecoveryTests.episode(seed: 1, steps: 5, rewardScale: 1)
        #expect(DecodedRewards.pairs(model: model, calibration: cartpole, episodes: [ep]).truth.isEmpty)
    }

    @Test func logsMustComeFromTheCalibratedPlant() throws {
        let pendulum = try Self.cal("pendulum-swingup"), cartpole = try Self.cal("cartpole-swingup")
        let dir = NSTemporaryDirectory() + "iqmpc-recovery-inputs-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var renamed = Self.spec(pendulum)
        renamed.observations[1].name = "not-" + renamed.observations[1].name
        var otherRobot = Self.spec(pendulum)
        otherRobot.robotId = "another-robot"
        let cases: [(String, PlantSpec, String?)] = [
            ("same", Self.spec(pendulum), nil),
            ("cartpole", Self.spec(cartpole), "obs_dim: log \(cartpole.obsDim), calibration 3"),
            ("renamed", renamed, "observations[1]"),
            ("robot", otherRobot, "robot_id: log \"another-robot\""),
        ]
        for (name, spec, expected) in cases {
            // A real record file, read back the way the command reads it.
            let path = dir + "/\(name).iqlog"
            let w = try RecordWriter(path: path, header: RecordHeaderInfo(spec: spec, source: "test"))
            try w.write(observation: ObservationRecord(seq: 1, timestampNs: 0, values: [Float](repeating: 0, count: spec.obsDim),
                                                       episodeStart: true), action: nil)
            try w.close()
            let (header, _) = try EpisodeLog.load(path: path)
            if let expected {
                #expect { try RecoveryInputs.check(log: path, spec: header.spec, calibration: pendulum) } throws: { e in
                    "\(e)".contains(path) && "\(e)".contains(expected)
                }
            } else {
                try RecoveryInputs.check(log: path, spec: header.spec, calibration: pendulum)
            }
        }
    }
}
