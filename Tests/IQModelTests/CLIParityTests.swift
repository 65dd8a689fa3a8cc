import Foundation
import Testing

/// The CLI contract end to end: `iqmpc-train init` writes random weights for every preset,
/// `iqmpc-runtime eval --json` evaluates them, and Scripts/reference/eval_parity.py checks the
/// JSON against the independent numpy implementation (normwise relative error ≤ 1e-5).
@Test func evalCommandMatchesNumpyReferenceForAllPresets() throws {
    // The executables are built next to the test bundle by `swift build --build-tests`.
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let bin = URL(fileURLWithPath: exe).deletingLastPathComponent().path
    for tool in ["iqmpc-runtime", "iqmpc-train"] {
        try #require(FileManager.default.isExecutableFile(atPath: bin + "/" + tool), "\(tool) not built in \(bin)")
    }
    let out = try runProcess("/usr/bin/python3", [repositoryRoot + "/Scripts/reference/eval_parity.py", "--bin", bin])
    let text = String(decoding: out, as: UTF8.self)
    #expect(text.components(separatedBy: "\n").filter { $0.hasPrefix("ok") }.count == 24, "\(text)")
    #expect(!text.contains("FAIL"), "\(text)")
}
