import Foundation
import IQCalibration
import IQPlants
import Testing
@testable import IQTrainer

/// A batch outside `TrainerLimits.batch` is refused by name before anything is allocated:
/// 0 used to give NaN behaviour-cloning losses and 10^8 the runtime's "failed to allocate" trap.
struct BatchLimitTests {
    @Test func bcAndRunRefuseABatchOutsideTheRange() throws {
        let dir = TrainingLoopTests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cal = try TrainingLoopTests.calibration()
        let d = try TrainingLoopTests.demos(cal, dir: dir)
        for bad in [0, -1, TrainerLimits.batch.upperBound + 1, 100_000_000] {
            do {
                _ = try BCRun(preset: "tiny", calibration: cal, expert: d.buffer(obsDim: 3, actDim: 1), episodeLength: 30,
                              batch: bad, seed: 1, fingerprint: d.fingerprint)
                Issue.record("bc accepted batch \(bad)")
            } catch {
                #expect("\(error)".contains("batch \(bad) is outside 1...16384"), "\(error)")
            }
        }
        let env = try WireEnvironment.inProcess(task: .pendulumSwingup)
        defer { env.close() }
        for bad in [0, 100_000_000] {
            var o = TrainingLoopTests.options(dir: dir, steps: 10)
            o.hyper.batch = bad
            let why = TrainingLoopTests.refusal(o, env: env, calibration: cal, demos: d, demosPath: dir + "/demos.iqlog")
            #expect(why.contains("batch \(bad) is outside 1...16384"), "run: \(why)")
        }
        // The bounds themselves are usable: a one-row batch trains to a finite loss.
        let bc = try BCRun(preset: "tiny", calibration: cal, expert: d.buffer(obsDim: 3, actDim: 1), episodeLength: 30,
                           batch: 1, seed: 1, fingerprint: d.fingerprint)
        #expect(bc.step().isFinite)
    }
}
