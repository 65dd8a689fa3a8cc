import IQTestSupport
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

/// Bad input to the CLI gives a clear error and a failing exit status, never a crash.
@Test func cliRejectsBadInputClearly() throws {
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let bin = URL(fileURLWithPath: exe).deletingLastPathComponent().path
    let w = temporaryPath(".safetensors")
    defer { try? FileManager.default.removeItem(atPath: w); try? FileManager.default.removeItem(atPath: w + ".cut") }
    _ = try runProcess(bin + "/iqmpc-train", ["init", "--obs-dim", "3", "--act-dim", "2", "--preset", "tiny", "--out", w])
    let bytes = try Data(contentsOf: URL(fileURLWithPath: w))
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: w + ".cut"))
    // Exit status 1 for bad data; 64 (EX_USAGE) for a choice outside its set, refused by the parser.
    let cases: [([String], String, Int)] = [
        ([bin + "/iqmpc-runtime", "eval", "--weights", w, "--obs", "1,2", "--json"], "--obs has 2 values", 1),
        ([bin + "/iqmpc-runtime", "eval", "--weights", w, "--obs", "1,2,x", "--json"], "not a finite number", 1),
        ([bin + "/iqmpc-runtime", "eval", "--weights", w, "--obs", "1,2,3", "--action", "1", "--json"], "--action has 1 values", 1),
        ([bin + "/iqmpc-runtime", "inspect", "--weights", w + ".cut"], "truncated", 1),
        ([bin + "/iqmpc-runtime", "plan", "--weights", w, "--obs", "3e38,-3e38,3e38", "--samples", "16", "--iterations", "1"],
         "the planned action is not finite", 64),
        ([bin + "/iqmpc-train", "init", "--obs-dim", "3", "--act-dim", "2", "--preset", "huge", "--out", w + ".x"],
         "'huge' is invalid for '--preset <preset>'. Please provide one of 'tiny', 'small' or 'paper'", 64),
    ]
    for (args, message, status) in cases {
        do {
            _ = try runProcess(args[0], Array(args.dropFirst()))
            Issue.record("accepted: \(args.dropFirst().joined(separator: " "))")
        } catch {
            let e = error as NSError
            #expect(e.code == status, "exit status \(e.code) for \(args[1])")
            #expect(e.localizedDescription.contains(message), "\(e.localizedDescription)")
        }
    }
}
