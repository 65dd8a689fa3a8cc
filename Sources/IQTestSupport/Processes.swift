import Foundation

/// Runs a helper process (a built executable, a reference script) to completion for a test:
/// stdout on success; on a non-zero exit an error carrying its stderr, so the test's failure
/// says what the tool said.
public func runProcess(_ exe: String, _ args: [String]) throws -> Data {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw NSError(domain: "process", code: Int(p.terminationStatus),
                      userInfo: [NSLocalizedDescriptionKey: String(decoding: e, as: UTF8.self)])
    }
    return data
}

/// The repository's root (for Scripts/), found from this source file's location
/// (Sources/IQTestSupport/Processes.swift).
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()
