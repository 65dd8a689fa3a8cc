import Foundation
import IQJSON
import IQKernels

extension ModelConfig {
    /// The config as stored in `__metadata__["config"]`: compact JSON with sorted keys, so
    /// equal configs give equal bytes (and equal content hashes).
    public var canonicalJSON: String {
        // Integers and finite doubles only (validate() guarantees finiteness): cannot fail.
        try! StrictJSON.encode(self)
    }

    /// Parses the metadata config of a model of `kind`; errors name the missing, unknown or
    /// malformed field. The two-hot fields (`num_bins`, `vmin`, `vmax`) are required for
    /// TD-MPC2 and refused for IQ-MPC.
    public init(metadataJSON: String, kind: ModelKind = .iqmpc) throws {
        do { self = try StrictJSON.decode(ModelConfig.self, from: metadataJSON) } catch {
            throw WeightsError.config("config: \(error)")
        }
        self.kind = kind
        // Which two-hot fields the text has (the strict decode above already vetted it).
        let present = ((try? JSONSerialization.jsonObject(with: Data(metadataJSON.utf8))) as? [String: Any]).map { o in
            CodingKeys.twoHot.map(\.rawValue).filter { o[$0] != nil }
        } ?? []
        if kind == .tdmpc2, let missing = CodingKeys.twoHot.map(\.rawValue).first(where: { !present.contains($0) }) {
            throw WeightsError.config("config field \(missing) missing (model_kind tdmpc2)")
        }
        if kind != .tdmpc2, let extra = present.first {
            throw WeightsError.config("config field \(extra) is only valid for model_kind tdmpc2")
        }
        try validate()
    }
}

extension WorldModel {
    /// Metadata keys the model owns; `extraMetadata` may not override them.
    public static let reservedMetadataKeys: Set<String> = ["format", "format_version", "config", "model_kind"]

    /// Loads and fully validates a weights file. Returns the model and the whole
    /// `__metadata__` (including the trainer's extra keys such as calibration hashes).
    public static func load(path: String) throws -> (WorldModel, metadata: [String: String]) {
        let c = try SafeTensors.read(path: path)
        return (try WorldModel(contents: c), c.metadata)
    }

    /// The same from bytes already in memory (tests, fuzzing).
    public static func load(bytes: [UInt8]) throws -> (WorldModel, metadata: [String: String]) {
        let c = try SafeTensors.decode(bytes)
        return (try WorldModel(contents: c), c.metadata)
    }

    convenience init(contents c: SafeTensors.Contents) throws {
        guard let f = c.metadata["format"] else {
            throw WeightsError.format("__metadata__ has no \"format\" (expected \"\(WorldModel.formatName)\")")
        }
        guard f == WorldModel.formatName else {
            throw WeightsError.format("__metadata__ format is \"\(f)\", expected \"\(WorldModel.formatName)\"")
        }
        guard let v = c.metadata["format_version"] else { throw WeightsError.format("__metadata__ has no \"format_version\"") }
        guard v == WorldModel.formatVersion else {
            throw WeightsError.format("format_version \"\(v)\" is not supported (this build reads \"\(WorldModel.formatVersion)\")")
        }
        guard let cj = c.metadata["config"] else { throw WeightsError.format("__metadata__ has no \"config\"") }
        var kind = ModelKind.iqmpc
        if let k = c.metadata["model_kind"] {
            guard let known = ModelKind(rawValue: k) else {
                throw WeightsError.format("__metadata__ model_kind \"\(k)\" is not supported (expected \(ModelKind.allCases.map(\.rawValue).joined(separator: " or ")))")
            }
            kind = known
        }
        let config = try ModelConfig(metadataJSON: cj, kind: kind)
        try self.init(config: config, checked: c.tensors.mapValues { (shape: Optional($0.shape), values: $0.values) })
    }

    /// The file as bytes (safetensors, tensors in layout order).
    public func fileBytes(extraMetadata: [String: String] = [:]) throws -> [UInt8] {
        if let k = extraMetadata.keys.first(where: { WorldModel.reservedMetadataKeys.contains($0) }) {
            throw WeightsError.format("extra metadata may not set the reserved key \"\(k)\"")
        }
        var md = extraMetadata
        md["format"] = WorldModel.formatName
        md["format_version"] = WorldModel.formatVersion
        md["config"] = config.canonicalJSON
        md["model_kind"] = config.kind.rawValue
        let specs = layout.tensors
        return SafeTensors.encode(metadata: md, tensors: specs.map { s in
            (name: s.name, shape: s.shape, values: tensor(named: s.name)!)
        })
    }

    /// Writes the weights file atomically (temporary file, then rename), so a crash never
    /// leaves a half-written model where the runtime would load it.
    public func write(to path: String, extraMetadata: [String: String] = [:]) throws {
        let bytes = try fileBytes(extraMetadata: extraMetadata)
        do { try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw WeightsError.io("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// A freshly initialised model (docs/algorithm.md §1.8, `TensorLayout.initialise`).
    /// `nonzeroQ` keeps the drawn last-layer Q weights, so tests see non-zero Q; every other
    /// value is the same either way.
    /// The config must be valid (`config.validate()`); an invalid one is a programming error and traps.
    public static func initialised(config: ModelConfig, seed: UInt64, nonzeroQ: Bool = false) -> WorldModel {
        do { try config.validate() } catch { fatalError("WorldModel.initialised: \(error)") }
        let layout = TensorLayout(config)
        var g = SeededRandom(seed: seed)
        var flat = [Float](repeating: 0, count: layout.parameterCount)
        layout.initialise(rng: &g, keepValueHeads: nonzeroQ, drawZeroed: true) { flat[$0] = Float($1) }
        var t: [String: [Float]] = [:]
        var off = 0
        for s in layout.tensors { t[s.name] = Array(flat[off..<(off + s.count)]); off += s.count }
        do { return try WorldModel(config: config, tensors: t) } catch { fatalError("WorldModel.initialised: \(error)") }
    }
}
