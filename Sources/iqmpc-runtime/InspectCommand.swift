import ArgumentParser
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
            let extra = metadata.keys.sorted().filter { !WorldModel.reservedMetadataKeys.contains($0) }
            let md = extra.map { "\"\($0)\":\"\(metadata[$0]!.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"" }
            print("{\"config\":\(model.config.canonicalJSON),\"parameters\":\(model.parameterCount),"
                  + "\"content_hash\":\"\(model.contentHash)\",\"metadata\":{\(md.joined(separator: ","))}}")
        } else {
            print(model.summary, terminator: "")
            for k in metadata.keys.sorted() where !WorldModel.reservedMetadataKeys.contains(k) {
                print("metadata.\(k): \(metadata[k]!)")
            }
        }
    }
}
