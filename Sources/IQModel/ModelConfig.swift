import IQJSON

/// Shape and constants of one IQ-MPC world model (docs/algorithm.md §1).
///
/// Stored in the weights file's `__metadata__["config"]` as a JSON object with the
/// snake_case keys below, so that external exporters can write it by hand.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var obsDim: Int
    public var actDim: Int
    public var latentDim: Int
    /// Hidden widths of the encoder (docs/algorithm.md §1.2; every preset has one).
    public var encoderHidden: [Int]
    /// Hidden width of dynamics, π and every Q member (two hidden layers each).
    public var mlpDim: Int
    public var numQ: Int
    public var simnormGroup: Int
    public var logStdMin: Double
    public var logStdMax: Double
    public var discount: Double
    public var entropyCoef: Double
    /// The model family (not part of the config JSON: `__metadata__["model_kind"]`).
    public var kind: ModelKind = .iqmpc
    /// TD-MPC2 only: two-hot bins, evenly spaced over [vMin, vMax] in symlog space.
    public var numBins: Int = 101
    public var vMin: Double = -10
    public var vMax: Double = 10

    /// Width of each Q head's (and the reward head's) output layer.
    public var valueOutputs: Int { kind == .tdmpc2 ? numBins : 1 }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case obsDim = "obs_dim", actDim = "act_dim", latentDim = "latent_dim"
        case encoderHidden = "encoder_hidden", mlpDim = "mlp_dim", numQ = "num_q"
        case simnormGroup = "simnorm_group", logStdMin = "log_std_min", logStdMax = "log_std_max"
        case discount, entropyCoef = "entropy_coef"
        /// TD-MPC2 only (and then required): see `kind`.
        case numBins = "num_bins", vMin = "vmin", vMax = "vmax"

        static let twoHot: [CodingKeys] = [.numBins, .vMin, .vMax]
    }

    /// Strict: a field this build does not know is an error, not silently dropped.
    public init(from decoder: any Decoder) throws {
        try StrictJSON.rejectUnknownKeys(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(obsDim: try c.decode(Int.self, forKey: .obsDim), actDim: try c.decode(Int.self, forKey: .actDim),
                  latentDim: try c.decode(Int.self, forKey: .latentDim),
                  encoderHidden: try c.decode([Int].self, forKey: .encoderHidden), mlpDim: try c.decode(Int.self, forKey: .mlpDim),
                  numQ: try c.decode(Int.self, forKey: .numQ), simnormGroup: try c.decode(Int.self, forKey: .simnormGroup),
                  logStdMin: try c.decode(Double.self, forKey: .logStdMin), logStdMax: try c.decode(Double.self, forKey: .logStdMax),
                  discount: try c.decode(Double.self, forKey: .discount), entropyCoef: try c.decode(Double.self, forKey: .entropyCoef))
        // Read when present; whether they may be present depends on the kind, which the
        // config JSON does not carry (`init(metadataJSON:kind:)` checks).
        numBins = try c.decodeIfPresent(Int.self, forKey: .numBins) ?? numBins
        vMin = try c.decodeIfPresent(Double.self, forKey: .vMin) ?? vMin
        vMax = try c.decodeIfPresent(Double.self, forKey: .vMax) ?? vMax
    }

    /// The two-hot fields are written only for TD-MPC2, so IQ-MPC configs (and their content
    /// hashes) are what they were before TD-MPC2 models existed.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(obsDim, forKey: .obsDim); try c.encode(actDim, forKey: .actDim)
        try c.encode(latentDim, forKey: .latentDim); try c.encode(encoderHidden, forKey: .encoderHidden)
        try c.encode(mlpDim, forKey: .mlpDim); try c.encode(numQ, forKey: .numQ)
        try c.encode(simnormGroup, forKey: .simnormGroup)
        try c.encode(logStdMin, forKey: .logStdMin); try c.encode(logStdMax, forKey: .logStdMax)
        try c.encode(discount, forKey: .discount); try c.encode(entropyCoef, forKey: .entropyCoef)
        if kind == .tdmpc2 {
            try c.encode(numBins, forKey: .numBins); try c.encode(vMin, forKey: .vMin); try c.encode(vMax, forKey: .vMax)
        }
    }

    public init(obsDim: Int, actDim: Int, latentDim: Int, encoderHidden: [Int], mlpDim: Int,
                numQ: Int = 5, simnormGroup: Int = 8, logStdMin: Double = -10, logStdMax: Double = 2,
                discount: Double = 0.99, entropyCoef: Double = 1e-4) {
        self.obsDim = obsDim; self.actDim = actDim; self.latentDim = latentDim
        self.encoderHidden = encoderHidden; self.mlpDim = mlpDim; self.numQ = numQ
        self.simnormGroup = simnormGroup; self.logStdMin = logStdMin; self.logStdMax = logStdMax
        self.discount = discount; self.entropyCoef = entropyCoef
    }

    /// The named presets (a command-line choice: the executables make it an argument type).
    public enum Preset: String, CaseIterable, Sendable, Codable {
        case tiny, small, paper
    }

    /// The named presets: `paper` is the reference 5M model (latent 512, mlp 512, encoder 256);
    /// `small` (128/256/256) and `tiny` (64/128/128) plan in real time on a CPU.
    public static func preset(_ name: String, obsDim: Int, actDim: Int) throws -> ModelConfig {
        let c: ModelConfig
        switch name {
        case "paper": c = ModelConfig(obsDim: obsDim, actDim: actDim, latentDim: 512, encoderHidden: [256], mlpDim: 512)
        case "small": c = ModelConfig(obsDim: obsDim, actDim: actDim, latentDim: 128, encoderHidden: [256], mlpDim: 256)
        case "tiny": c = ModelConfig(obsDim: obsDim, actDim: actDim, latentDim: 64, encoderHidden: [128], mlpDim: 128)
        default: throw WeightsError.config("unknown preset \"\(name)\" (expected tiny, small or paper)")
        }
        try c.validate()
        return c
    }

    public static let presetNames = Preset.allCases.map(\.rawValue)

    /// Largest width accepted anywhere: keeps hostile configs from requesting absurd memory.
    public static let maxWidth = 16_384

    /// Checks the numbers are usable; errors name the field.
    public func validate() throws {
        func dim(_ v: Int, _ name: String) throws {
            guard v >= 1 && v <= ModelConfig.maxWidth else {
                throw WeightsError.config("\(name) = \(v) is outside 1...\(ModelConfig.maxWidth)")
            }
        }
        try dim(obsDim, "obs_dim"); try dim(actDim, "act_dim"); try dim(latentDim, "latent_dim")
        try dim(mlpDim, "mlp_dim")
        guard !encoderHidden.isEmpty && encoderHidden.count <= 8 else {
            throw WeightsError.config("encoder_hidden must list 1...8 widths, has \(encoderHidden.count)")
        }
        for (i, w) in encoderHidden.enumerated() { try dim(w, "encoder_hidden[\(i)]") }
        guard numQ >= 2 && numQ <= 64 else { throw WeightsError.config("num_q = \(numQ) is outside 2...64") }
        guard simnormGroup >= 1 && simnormGroup <= latentDim && latentDim % simnormGroup == 0 else {
            throw WeightsError.config("simnorm_group = \(simnormGroup) must divide latent_dim = \(latentDim)")
        }
        guard logStdMin.isFinite && logStdMax.isFinite && logStdMin < logStdMax else {
            throw WeightsError.config("log_std_min (\(logStdMin)) must be finite and below log_std_max (\(logStdMax))")
        }
        guard discount.isFinite && discount > 0 && discount <= 1 else {
            throw WeightsError.config("discount = \(discount) is outside (0, 1]")
        }
        guard entropyCoef.isFinite && entropyCoef >= 0 else {
            throw WeightsError.config("entropy_coef = \(entropyCoef) must be finite and ≥ 0")
        }
        if kind == .tdmpc2 {
            guard numBins >= 2 && numBins <= 1024 else { throw WeightsError.config("num_bins = \(numBins) is outside 2...1024") }
            guard vMin.isFinite && vMax.isFinite && vMin < vMax else {
                throw WeightsError.config("vmin (\(vMin)) must be finite and below vmax (\(vMax))")
            }
        }
    }
}
