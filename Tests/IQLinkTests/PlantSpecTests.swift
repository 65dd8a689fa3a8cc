import Testing
@testable import IQLink

@Suite struct PlantSpecTests {
    /// One rule for channel bounds in the .proto, Proto/README.md and the calibration format:
    /// observation channels may be unbounded (the calibration's default is ±.inf), actuator
    /// limits must be finite, NaN never.
    @Test func infiniteObservationBoundsAreAcceptedActuatorLimitsMustBeFinite() {
        var s = sampleSpec()
        s.observations[0].low = -.infinity
        s.observations[0].high = .infinity
        #expect(s.validationProblems().isEmpty, "\(s.validationProblems())")
        var nan = sampleSpec()
        nan.observations[1].high = .nan
        #expect(nan.validationProblems().count == 1)
        var act = sampleSpec()
        act.actions[0].high = .infinity
        #expect(act.validationProblems().first?.contains("actuator limits are not finite") == true)
    }

    @Test func identicalSpecsMatch() {
        #expect(sampleSpec().mismatches(against: sampleSpec()).isEmpty)
        #expect(sampleSpec().mismatchSummary(against: sampleSpec()) == nil)
    }

    @Test func mismatchesAreExplainedFieldByField() {
        var plant = sampleSpec()
        plant.robotId = "cartpole"
        plant.observations[1].name = "pole.velocity"
        plant.observations[2].unit = "deg"
        plant.actions[0].high = 3
        plant.controlPeriodNs = 10_000_000
        let m = plant.mismatches(against: sampleSpec())
        #expect(m.contains("robotId: plant \"cartpole\", expected \"pendulum-swingup\""))
        #expect(m.contains("observations[1].name: plant \"pole.velocity\", expected \"obs.1\""))
        #expect(m.contains("observations[2].unit (obs.2): plant \"deg\", expected \"rad\""))
        #expect(m.contains("actions[0].high (motor.0): plant 3.0, expected 2.0"))
        #expect(m.contains("controlPeriodNs: plant 10000000, expected 20000000"))
        #expect(m.count == 5)
        let dims = sampleSpec(obs: 6, act: 1).mismatches(against: sampleSpec())
        #expect(dims.contains("obsDim: plant 6, expected 4") && dims.contains("actDim: plant 1, expected 2"))
    }

    @Test func boundsCompareWithTolerance() {
        var plant = sampleSpec()
        plant.observations[0].low = -1.0000001
        #expect(plant.mismatches(against: sampleSpec()).isEmpty)
        #expect(!plant.mismatches(against: sampleSpec(), tolerance: 0).isEmpty)
    }

    @Test func validationListsEveryProblem() {
        var s = sampleSpec()
        s.observations[0].name = String(repeating: "n", count: 64)
        s.actions[1].low = 5
        s.observations[1].high = .nan
        s.controlPeriodNs = 0
        let p = s.validationProblems()
        #expect(p.count == 4, "\(p)")
        #expect(throws: LinkError.self) { try s.validate() }
        #expect(!sampleSpec(obs: 0).validationProblems().isEmpty)
        #expect(!sampleSpec(obs: 257).validationProblems().isEmpty)
        #expect(!sampleSpec(act: 65).validationProblems().isEmpty)
        #expect(sampleSpec(obs: 256, act: 64).validationProblems().isEmpty)
    }

    @Test func maximalSpecSurvivesTheHandshake() throws {
        // 256 + 64 channels with 63-byte names: the largest legal Hello.
        var spec = sampleSpec(obs: 256, act: 64)
        for i in spec.observations.indices { spec.observations[i].name = String(repeating: "o", count: 60) + "\(i % 10)" + "xy" }
        let codec = FrameCodec()
        let bytes = Array(try codec.encodeHello(HelloMessage(role: .robot, spec: spec, software: "max", mode: .freeRunning)))
        #expect(bytes.count > LinkBounds.maxFrameBytes && bytes.count <= LinkBounds.maxControlBytes)
        guard case .hello = try bytes.withUnsafeBytes({ try codec.decode($0) }) else { Issue.record("kind"); return }
        #expect(try codec.hello().spec == spec)
    }

    @Test func inconsistentWireSpecIsRefused() throws {
        // Hand-built Hello whose obs_dim disagrees with its channel list.
        var channel: [UInt8] = []
        channel += lengthDelimited(field: 1, Array("a".utf8))
        var spec: [UInt8] = lengthDelimited(field: 1, Array("r".utf8))
        spec += [0x10, 0x03, 0x18, 0x01]          // obs_dim 3, act_dim 1
        spec += lengthDelimited(field: 4, channel) // one observation channel
        spec += lengthDelimited(field: 5, channel)
        spec += [0x30, 0x01]                      // control_period_ns 1
        let hello = lengthDelimited(field: 3, spec)
        let env = lengthDelimited(field: 1, hello)
        let codec = FrameCodec()
        guard case .hello = try env.withUnsafeBytes({ try codec.decode($0) }) else { Issue.record("kind"); return }
        #expect(throws: LinkError.invalidSpec("obs_dim is 3 but 1 observation channels are described")) { try codec.hello() }
    }
}
