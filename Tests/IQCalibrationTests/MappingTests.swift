import CAllocCounter
import Foundation
import Testing
@testable import IQCalibration
import IQTestSupport

@Suite struct MappingTests {
    let cal = try! Calibration.parse(yaml: minimalYAML.replacingOccurrences(of: "      unit: N\n", with: "      unit: N\n      offset: 0.5\n      scale: 1.5\n"))

    @Test func normaliseAndDenormaliseAreTheDocumentedAffineMaps() {
        #expect(cal.normalise(observation: [5]) == [(5 - 1) / 2])
        #expect(cal.denormalise(action: [1]) == [0.5 + 1.5])
        #expect(cal.denormalise(action: [-0.5]) == [0.5 - 0.75])
        // Inverse, clamped to what a tanh policy can express.
        #expect(cal.normalise(action: [0.5 + 0.75]) == [0.5])
        #expect(cal.normalise(action: [100]) == [1])
        #expect(cal.normalise(action: [-100]) == [-1])
    }

    @Test func pointerVersionsAllocateNothing() throws {
        let raw = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4); raw.initialize(repeating: 3)
        let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4); out.initialize(repeating: 0)
        defer { raw.deallocate(); out.deallocate() }
        let c = cal
        // One exact window; heapAllocations' positive control shows the counter sees a malloc.
        let n = try heapAllocations {
            for _ in 0..<1000 {
                c.normalise(observation: UnsafeBufferPointer(raw), into: out)
                c.denormalise(action: UnsafeBufferPointer(raw), into: out)
                c.normalise(action: UnsafeBufferPointer(raw), into: out)
            }
        }
        #expect(n == 0)
        #expect(out[0] == 1)
    }

    /// The fingerprint recomputed by an independent implementation (Python's struct + hashlib)
    /// from the documented recipe in Calibration/README.md.
    @Test func hashMatchesTheDocumentedRecipeInPython() throws {
        let c = try Calibration.load(path: repoRoot.appendingPathComponent("Calibration/pendulum-swingup.yaml").path)
        let script = """
        import hashlib, struct, sys
        obs = [(0.0, 1.0), (0.0, 1.0), (0.0, 10.0)]
        act = [(0.0, 1.0)]
        h = lambda x: struct.pack(">f", x).hex()
        s = "iqmpc-calibration-mapping 1\\nobs_dim %d\\nact_dim %d\\n" % (len(obs), len(act))
        s += "".join("obs %d %s %s\\n" % (i, h(o), h(k)) for i, (o, k) in enumerate(obs))
        s += "".join("act %d %s %s\\n" % (i, h(o), h(k)) for i, (o, k) in enumerate(act))
        sys.stdout.write(hashlib.sha256(s.encode()).hexdigest())
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", script]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        p.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0)
        #expect(out == c.mappingHash)
    }

    @Test func mappingCheckRefusesDifferencesAndNamesTheChannel() throws {
        let trained = try Calibration.load(path: repoRoot.appendingPathComponent("Calibration/pendulum-swingup.yaml").path)
        let meta = trained.mappingMetadata()
        #expect(meta[Calibration.MetadataKey.hash] == trained.mappingHash)
        #expect(meta[Calibration.MetadataKey.observationScale] == "1.0,1.0,10.0")
        #expect(try trained.checkMapping(against: meta, allowMismatch: false).isEmpty)

        // Tuning limits or timing on the robot keeps the mapping.
        var acts = trained.actions
        acts[0].low = -0.5
        var timing = trained.timing
        timing.planningBudgetNs = 5_000_000
        let tuned = try Calibration(robotId: trained.robotId, observations: trained.observations, actions: acts,
                                    timing: timing, link: trained.link, realTime: trained.realTime, planner: trained.planner)
        #expect(tuned.mappingHash == trained.mappingHash)

        var obs = trained.observations
        obs[2].scale = 8
        let changed = try Calibration(robotId: trained.robotId, observations: obs, actions: trained.actions,
                                      timing: trained.timing, link: trained.link, realTime: trained.realTime, planner: trained.planner)
        #expect(changed.mappingHash != trained.mappingHash)
        do {
            _ = try changed.checkMapping(against: meta, allowMismatch: false)
            Issue.record("accepted a different mapping")
        } catch {
            #expect(error.field == "mapping")
            #expect(error.message.contains("observation scale of channel 2 (pole.angular_velocity): weights 10.0, calibration 8.0"), "\(error)")
        }
        let warnings = try changed.checkMapping(against: meta, allowMismatch: true)
        #expect(warnings.count == 1 && warnings[0].contains("pole.angular_velocity"))

        do {
            _ = try trained.checkMapping(against: [:], allowMismatch: false)
            Issue.record("accepted weights without a recorded calibration")
        } catch {
            #expect(error.message.contains("record no calibration"))
        }
    }
}
