import ArgumentParser
import IQJSON
import IQModel

/// `iqmpc-runtime inspect --weights W`: what a weights file contains, after full validation.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Validate a weights file and print its config, parameter count and content hash.")

    @Option(help: "Weights file (safetensors, format iqmpc.weights).") var weights: String
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func run() throws {
        let (model, metadata) = try WorldModel.load(path: weights)
        if json {
            struct Output: Encodable {
                var modelKind: String, config: ModelConfig, parameters: Int, contentHash: String, metadata: [String: String]
                enum CodingKeys: String, CodingKey {
                    case modelKind = "model_kind", config, parameters, contentHash = "content_hash", metadata
                }
            }
            print(try StrictJSON.encode(Output(modelKind: model.config.kind.rawValue, config: model.config, parameters: model.parameterCount, contentHash: model.contentHash,
                                               metadata: metadata.filter { !WorldModel.reservedMetadataKeys.contains($0.key) })))
        } else {
            print(model.summary, terminator: "")
            for k in metadata.keys.sorted() where !WorldModel.reservedMetadataKeys.contains(k) {
                print("metadata.\(k): \(metadata[k]!)")
            }
        }
    }
}
