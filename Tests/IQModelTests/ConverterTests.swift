import IQTestSupport
import Foundation
import Testing

/// The Python interpreter with PyTorch for the checkpoint converters: `$IQMPC_TORCH_PYTHON`,
/// else the venv `Scripts/reference/setup-venv.sh` makes by default (`.venv-torch`), else
/// `$IQMPC_TORCH_VENV/bin/python`. Nil when none of them imports torch: those tests are skipped
/// (shown as skipped with the reason), the rest of the suite does not need torch.
let torchPython: String? = {
    let env = ProcessInfo.processInfo.environment
    var candidates: [String] = []
    if let p = env["IQMPC_TORCH_PYTHON"] { candidates.append(p) }
    candidates.append(repositoryRoot + "/.venv-torch/bin/python")
    if let v = env["IQMPC_TORCH_VENV"] { candidates.append(v + "/bin/python") }
    for p in candidates where FileManager.default.isExecutableFile(atPath: p) {
        if (try? runProcess(p, ["-c", "import torch, numpy"])) != nil { return p }
    }
    return nil
}()

private func builtBinaries() throws -> String {
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let bin = URL(fileURLWithPath: exe).deletingLastPathComponent().path
    for tool in ["iqmpc-runtime", "iqmpc-train"] {
        try #require(FileManager.default.isExecutableFile(atPath: bin + "/" + tool), "\(tool) not built in \(bin)")
    }
    return bin
}

/// Scripts/convert/test_convert.py: PyTorch module trees in the IQ-MPC layout and TD-MPC2's three
/// layouts, small and paper size, converted and evaluated by `iqmpc-runtime eval` against
/// PyTorch's forward pass (≤ 1e-5 relative); the Swift → torch → Swift round trip bit-identical;
/// malformed checkpoints refused naming the key, with no output file left; converted TD-MPC2
/// models plan with the same actions on 1 and 2 threads and allocate nothing per plan call.
@Test(.enabled(if: torchPython != nil,
               "PyTorch not found: run Scripts/reference/setup-venv.sh or set IQMPC_TORCH_PYTHON to test the converters"))
func torchCheckpointsConvertAndMatchPyTorch() throws {
    let bin = try builtBinaries()
    let out = try runProcess(torchPython!, [repositoryRoot + "/Scripts/convert/test_convert.py", "--bin", bin])
    let text = String(decoding: out, as: UTF8.self)
    let lines = text.components(separatedBy: "\n")
    #expect(!text.contains("FAIL"), "\(text)")
    // 4 layouts × 2 sizes × 2 probes × (4 or 5 outputs) + set-up lines; 15 bad inputs; 2 round trips.
    #expect(lines.filter { $0.hasPrefix("ok") && $0.contains("rel err") }.count == 2 * 2 * (4 + 5 * 3), "\(text)")
    #expect(lines.filter { $0.hasPrefix("ok   bad input") }.count == 15, "\(text)")
    #expect(lines.filter { $0.hasPrefix("ok   round trip") }.count == 2 * 7, "\(text)")
    // Converted TD-MPC2 models plan deterministically across threads without allocating.
    #expect(lines.filter { $0.hasPrefix("ok") && ($0.contains("same actions") || $0.contains(" 0 heap allocations")) }.count == 3 * 3,
            "\(text)")
}

/// Scripts/convert/test_demos.py: a dataset in the reference's pickled layout becomes a record
/// file with the same numbers; malformed or code-carrying pickles are refused. Needs no torch.
@Test func referenceDemonstrationPicklesConvertToRecords() throws {
    let out = try runProcess("/usr/bin/python3", [repositoryRoot + "/Scripts/convert/test_demos.py"])
    let text = String(decoding: out, as: UTF8.self)
    #expect(!text.contains("FAIL"), "\(text)")
    #expect(text.contains(" passed, 0 failed"), "\(text)")
}
