import Foundation
import IQLink
import Testing
@testable import IQCalibration

/// `Calibration.mismatches(with:peer:checks:)`, the one comparison of a plant's spec with a
/// calibration that the handshake, the trainer's simulator link and reward recovery share.
struct PlantSpecCheckTests {
    static func cal() throws -> Calibration {
        try Calibration.load(path: repoRoot.appendingPathComponent("Calibration/cartpole-swingup.yaml").path)
    }

    /// The calibration's own plant, described the way a live one would be (actuator limits equal
    /// to the calibration's, observations unbounded).
    static func spec(_ c: Calibration) -> PlantSpec {
        PlantSpec(robotId: c.robotId,
                  observations: c.observations.map { .init(name: $0.name, unit: $0.unit, low: -.infinity, high: .infinity) },
                  actions: c.actions.map { .init(name: $0.name, unit: $0.unit, low: $0.low, high: $0.high) },
                  controlPeriodNs: c.timing.controlPeriodNs, episodeLength: 0)
    }

    @Test func theCalibrationsOwnPlantFitsUnderEveryCheck() throws {
        let c = try Self.cal()
        #expect(c.mismatches(with: Self.spec(c), peer: "plant", checks: [.controlPeriod, .actuatorLimits]).isEmpty)
    }

    @Test func everyDifferenceIsNamedOnceAndPeriodAndLimitsOnlyWhenAsked() throws {
        let c = try Self.cal()
        var s = Self.spec(c)
        s.robotId = "other"
        s.observations[1].name = "pole.vel"
        s.observations[2].unit = "deg"
        s.actions[0].high = c.actions[0].high / 2   // an actuator weaker than the calibration allows
        s.controlPeriodNs += 1
        let logLines = c.mismatches(with: s, peer: "log")
        #expect(logLines.count == 3, "\(logLines)")
        #expect(logLines.contains("robot_id: log \"other\", calibration \"\(c.robotId)\""))
        #expect(logLines.contains("observations[1].name: log \"pole.vel\", calibration \"\(c.observations[1].name)\""))
        #expect(logLines.contains { $0.hasPrefix("observations[2].unit (\(c.observations[2].name)): log \"deg\"") })
        let live = c.mismatches(with: s, peer: "plant", checks: [.controlPeriod, .actuatorLimits])
        #expect(live.count == 5, "\(live)")
        #expect(live.contains { $0.hasPrefix("control_period_ns: plant") })
        #expect(live.contains { $0.contains("exceed the actuator limits") })
        // A stricter calibration than the actuator is fine.
        var strong = Self.spec(c)
        strong.actions[0].low *= 2; strong.actions[0].high *= 2
        #expect(c.mismatches(with: strong, peer: "plant", checks: .actuatorLimits).isEmpty)
    }

    @Test func otherChannelCountsAreNamed() throws {
        let c = try Self.cal()
        var s = Self.spec(c)
        s.observations.removeLast()
        #expect(c.mismatches(with: s, peer: "simulator").contains("obs_dim: simulator \(c.obsDim - 1), calibration \(c.obsDim)"))
    }
}
