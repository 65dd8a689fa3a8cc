import IQKernels
import IQModel
@testable import IQTrainer
import Testing

/// What is trained is what is deployed: export → import of θ is lossless (the forward passes
/// themselves are compared network by network in AllNetworksParityTests).
struct ParityTests {
    @Test func exportRoundTripIsExact() throws {
        let config = try ModelConfig.preset("tiny", obsDim: 5, actDim: 2)
        let model = WorldModel.initialised(config: config, seed: 3, nonzeroQ: true)
        let theta = Tensor<Float>(ParamLayout(config).total)
        WeightsBridge.load(model, into: theta.p)
        let back = try WeightsBridge.model(config: config, theta: theta.p)
        #expect(back.contentHash == model.contentHash)
    }
}
