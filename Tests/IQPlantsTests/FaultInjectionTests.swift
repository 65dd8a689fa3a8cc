import Testing
@testable import IQPlants

@Suite struct FaultInjectionTests {
    @Test func actionDelayLineHoldsActionsForKSteps() {
        let line = ActionDelayLine(delay: 2, actDim: 2)
        var out: [Float] = [9, 9]
        let inputs: [[Float]] = [[1, -1], [2, -2], [3, -3], [4, -4]]
        var seen: [[Float]] = []
        for var a in inputs { line.push(&a, output: &out); seen.append(out) }
        #expect(seen == [[0, 0], [0, 0], [1, -1], [2, -2]])
        line.reset()
        var a: [Float] = [5, 5]
        line.push(&a, output: &out)
        #expect(out == [0, 0])
        let passThrough = ActionDelayLine(delay: 0, actDim: 2)
        passThrough.push(&a, output: &out)
        #expect(out == [5, 5])
    }

    @Test func frozenSensorRepeatsTheLastValues() {
        var c = FaultConfig()
        c.frozenProbability = 1
        c.frozenLength = 3
        let f = FaultInjector(config: c, obsDim: 2)
        var frames: [[Float]] = []
        for i in 0..<5 {
            var v: [Float] = [Float(i), Float(10 * i)]
            f.corrupt(&v)
            frames.append(v)
        }
        // Frame 0 goes out as measured; with probability 1 every later frame starts (or
        // continues) a freeze on the last values sent, so the sensor stays stuck at frame 0.
        #expect(frames.allSatisfy { $0 == [0, 0] })
        #expect(f.counters.frozenFrames == 4)
    }

    @Test func nanBurstsHaveTheirLength() {
        var c = FaultConfig()
        c.nanBurstProbability = 0.05
        c.nanBurstLength = 4
        c.seed = 3
        let f = FaultInjector(config: c, obsDim: 3)
        var runs: [Int] = [], current = 0
        for _ in 0..<2000 {
            var v: [Float] = [1, 2, 3]
            f.corrupt(&v)
            if v.allSatisfy(\.isNaN) { current += 1 } else {
                #expect(v == [1, 2, 3])
                if current > 0 { runs.append(current); current = 0 }
            }
        }
        #expect(!runs.isEmpty)
        #expect(runs.allSatisfy { $0 % 4 == 0 }, "bursts are whole multiples of the length (back-to-back bursts merge): \(runs)")
        #expect(runs.reduce(0, +) + current == f.counters.nanFrames)
    }

    @Test func observationNoiseHasTheRequestedSpread() {
        var c = FaultConfig()
        c.observationNoise = 0.1
        let f = FaultInjector(config: c, obsDim: 1)
        var sum = 0.0, sq = 0.0
        let n = 20000
        for _ in 0..<n {
            var v: [Float] = [5]
            f.corrupt(&v)
            let e = Double(v[0]) - 5
            sum += e; sq += e * e
        }
        let mean = sum / Double(n), sd = (sq / Double(n) - mean * mean).squareRoot()
        #expect(abs(mean) < 0.005 && abs(sd - 0.1) < 0.005, "mean \(mean) sd \(sd)")
    }

    @Test func probabilitiesAreDrawnPerFrameAndCounted() {
        var c = FaultConfig()
        c.dropProbability = 0.2
        c.stallProbability = 0.1
        c.stallMs = 7
        c.seed = 5
        let f = FaultInjector(config: c, obsDim: 1)
        var drops = 0, stalls = 0
        for _ in 0..<5000 {
            if f.shouldDrop() { drops += 1 }
            let ms = f.stallMs()
            if ms > 0 { #expect(ms == 7); stalls += 1 }
        }
        #expect(drops == f.counters.dropped && abs(Double(drops) / 5000 - 0.2) < 0.03)
        #expect(stalls == f.counters.stalls && abs(Double(stalls) / 5000 - 0.1) < 0.03)
        var off = FaultConfig()
        off.seed = 1
        #expect(!off.isActive)
    }
}
