import IQModel
import Testing
@testable import IQTrainer

/// The reward-recovery metric reads transitions out of the docs/algorithm.md §3.1 row layout, where the
/// action and reward of step j live on row j+1: an off-by-one there would pair each
/// observation with the next step's action and silently ruin the correlation.
struct EvaluationTests {
    /// Episode with obs_j = [j, -j], a_j = 100 + j, r_j = 1000 + j (j = step index).
    static func episode(steps: Int) -> Episode {
        var e = Episode(obsDim: 2, actDim: 1, firstObservation: [0, 0])
        for j in 0..<steps {
            e.append(action: [Float(100 + j)], reward: Float(1000 + j), nextObservation: [Float(j + 1), Float(-(j + 1))])
        }
        return e
    }

    @Test func transitionsPairEachObservationWithItsOwnActionRewardAndSuccessor() {
        let b = ReplayBuffer(obsDim: 2, actDim: 1, capacityRows: 1000)
        b.add(Self.episode(steps: 4))
        b.add(Self.episode(steps: 2))
        let t = Evaluator.transitions(of: b)
        #expect(t.reward.count == 6)
        #expect(t.obs.count == 12 && t.next.count == 12 && t.act.count == 6)
        let steps = [0, 1, 2, 3, 0, 1]
        for (i, j) in steps.enumerated() {
            #expect(t.obs[2 * i] == Float(j) && t.obs[2 * i + 1] == Float(-j))
            #expect(t.next[2 * i] == Float(j + 1))
            #expect(t.act[i] == Float(100 + j))
            #expect(t.reward[i] == Double(1000 + j))
        }
    }

    @Test func rewardCorrelationIsNaNWhenUndefined() throws {
        let c = try ModelConfig.preset("tiny", obsDim: 2, actDim: 1)
        let model = WorldModel.initialised(config: c, seed: 3)
        let b = ReplayBuffer(obsDim: 2, actDim: 1, capacityRows: 1000)
        var e = Episode(obsDim: 2, actDim: 1, firstObservation: [0, 0])
        for j in 0..<20 { e.append(action: [Float(j % 3) - 1], reward: Float(j % 5), nextObservation: [Float(j) * 0.1, 1]) }
        b.add(e)
        // Fresh Q heads output exactly 0 (docs/algorithm.md §1.8): the decoded reward is constant, so no correlation.
        #expect(Evaluator.rewardCorrelation(model: model, buffer: b).isNaN)
        let noReward = ReplayBuffer(obsDim: 2, actDim: 1, capacityRows: 1000)
        var f = Episode(obsDim: 2, actDim: 1, firstObservation: [0, 0])
        f.append(action: [0], reward: .nan, nextObservation: [1, 1])
        noReward.add(f)
        #expect(Evaluator.rewardCorrelation(model: model, buffer: noReward).isNaN)
    }
}
