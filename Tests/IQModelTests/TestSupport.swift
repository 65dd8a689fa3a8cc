import Foundation
import IQTestSupport
@testable import IQModel

/// Small deterministic generator for test inputs (independent of the model's init generator).
struct TestRandom {
    var s: UInt64
    mutating func next() -> Float {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Float(Double(s >> 40) / Double(1 << 24)) * 2 - 1
    }
    mutating func vector(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in next() * scale } }
    /// Roughly normal (sum of uniforms), for policy noise.
    mutating func normals(_ n: Int) -> [Float] {
        (0..<n).map { _ in (0..<6).reduce(Float(0)) { a, _ in a + next() } * 0.7 }
    }
}

func temporaryPath(_ suffix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("iqmodel-\(UUID().uuidString)\(suffix)").path
}

