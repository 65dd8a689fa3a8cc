import Foundation
import IQAnalysis

/// Appends one JSON object per line to the metrics file (flushed per line so a crashed or
/// interrupted run keeps everything up to its last line).
public final class MetricsLog: @unchecked Sendable {
    // Safety: written only by the training thread.
    let handle: FileHandle?

    public init(path: String?, append: Bool) throws {
        guard let path else { handle = nil; return }
        if !append || !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw TrainError.io("cannot create metrics file \(path)")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw TrainError.io("cannot open metrics file \(path)") }
        h.seekToEndOfFile()
        handle = h
    }

    public func write(_ fields: [String: Double], kind: String) {
        guard let handle else { return }
        handle.write(Data((MetricsRecord(kind: kind, values: fields).line + "\n").utf8))
    }

    deinit { try? handle?.close() }
}

public enum TrainError: Error, CustomStringConvertible {
    case io(String)
    case badInput(String)
    case environment(String)
    public var description: String {
        switch self {
        case .io(let s): return "I/O error: \(s)"
        case .badInput(let s): return "bad input: \(s)"
        case .environment(let s): return "environment: \(s)"
        }
    }
}
