import Foundation
import Testing
@testable import IQModel

/// The loader treats every file as hostile: each malformed input must give a `WeightsError`
/// that names the problem (and the tensor, where there is one), never a crash.
struct LoaderValidationTests {
    static let config = try! ModelConfig.preset("tiny", obsDim: 3, actDim: 2)
    static let model = WorldModel.initialised(config: config, seed: 2, nonzeroQ: true)
    static let good = try! model.fileBytes(extraMetadata: ["note": "x"])

    /// Builds a file from a header edited as text, over the good file's data section.
    static func withHeader(_ edit: (String) -> String, data: [UInt8]? = nil) -> [UInt8] {
        let n = Int(good[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = edit(String(decoding: good[8..<(8 + n)], as: UTF8.self))
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        var len = UInt64(h.count)
        for _ in 0..<8 { out.append(UInt8(len & 0xFF)); len >>= 8 }
        return out + h + (data ?? Array(good[(8 + n)...]))
    }

    static func error(_ bytes: [UInt8]) -> String? {
        do { _ = try WorldModel.load(bytes: bytes); return nil } catch { return "\(error)" }
    }

    @Test func goodFileLoads() throws {
        let (m, md) = try WorldModel.load(bytes: Self.good)
        #expect(m.contentHash == Self.model.contentHash)
        #expect(md["note"] == "x")
    }

    @Test func truncatedFilesAreRejected() {
        for cut in [0, 3, 7, 8, 9, 100, Self.good.count / 2, Self.good.count - 1] {
            let e = Self.error(Array(Self.good[0..<cut]))
            #expect(e != nil, "cut at \(cut) was accepted")
        }
    }

    @Test func hostileHeaderLengthsAreRejected() {
        var huge = Self.good
        for k in 0..<8 { huge[k] = 0xFF }
        #expect(Self.error(huge)?.contains("header length") == true)
        var past = Self.good
        past[0] = 0; past[1] = 0; past[2] = 0x80; past[3] = 0  // 8 MiB, beyond the file
        #expect(Self.error(past)?.contains("runs past the end") == true)
    }

    @Test func wrongDtypeNamesTheTensor() {
        let f = Self.withHeader { $0.replacingOccurrences(of: #"("policy\.1\.bias":\{"data_offsets":\[\d+,\d+\],"dtype":)"F32""#, with: #"$1"F16""#, options: .regularExpression) }
        let e = Self.error(f)
        #expect(e?.contains("policy.1.bias") == true && e?.contains("F16") == true, "\(e ?? "accepted")")
    }

    @Test func wrongShapeNamesTheTensor() {
        // Same byte count, different shape: [128, 3] → [3, 128].
        let f = Self.withHeader { $0.replacingOccurrences(of: #"("encoder\.0\.weight":\{"data_offsets":\[\d+,\d+\],"dtype":"F32","shape":)\[128,3\]"#, with: "$1[3,128]", options: .regularExpression) }
        let e = Self.error(f)
        #expect(e?.contains("encoder.0.weight") == true && e?.contains("shape") == true, "\(e ?? "accepted")")
    }

    @Test func sizeMismatchNamesTheTensor() {
        let f = Self.withHeader { $0.replacingOccurrences(of: #"("encoder\.0\.bias":\{"data_offsets":\[\d+,\d+\],"dtype":"F32","shape":)\[128\]"#, with: "$1[127]", options: .regularExpression) }
        #expect(Self.error(f)?.contains("encoder.0.bias") == true)
    }

    @Test func missingAndExtraTensorsAreNamed() throws {
        var t = Self.model.tensorValues()
        t["q.4.2.bias"] = nil
        #expect(throws: WeightsError.tensor(name: "q.4.2.bias", problem: "missing (expected shape [1])")) {
            try WorldModel(config: Self.config, tensors: t)
        }
        t = Self.model.tensorValues()
        t["q.5.0.weight"] = [1]
        let e = Self.error(Self.withHeader { $0.replacingOccurrences(of: "\"q.4.2.bias\"", with: "\"q.9.2.bias\"") })
        #expect(e?.contains("q.9.2.bias") == true && e?.contains("extra") == true, "\(e ?? "accepted")")
        #expect(throws: WeightsError.self) { try WorldModel(config: Self.config, tensors: t) }
    }

    @Test func nonFiniteValuesNameTheTensor() throws {
        for bad in [Float.nan, .infinity, -.infinity] {
            var t = Self.model.tensorValues()
            t["dynamics.2.ln.bias"]![5] = bad
            let m = try? WorldModel(config: Self.config, tensors: t)
            #expect(m == nil)
            do { _ = try WorldModel(config: Self.config, tensors: t) } catch {
                #expect("\(error)".contains("dynamics.2.ln.bias") && "\(error)".contains("index 5"))
            }
        }
    }

    @Test func metadataProblemsAreReported() {
        let cases: [(String, String) -> String] = [
            { h, _ in h.replacingOccurrences(of: "\"format\":\"iqmpc.weights\"", with: "\"format\":\"other\"") },
            { h, _ in h.replacingOccurrences(of: "\"format_version\":\"1\"", with: "\"format_version\":\"99\"") },
            { h, _ in h.replacingOccurrences(of: "\\\"mlp_dim\\\":128,", with: "") },
            { h, _ in h.replacingOccurrences(of: "\\\"mlp_dim\\\":128", with: "\\\"mlp_dim\\\":-4") },
            { h, _ in h.replacingOccurrences(of: "\\\"num_q\\\":5", with: "\\\"num_q\\\":\\\"five\\\"") },
            { h, _ in h.replacingOccurrences(of: "\\\"latent_dim\\\":64", with: "\\\"latent_dim\\\":63") },
            { h, _ in h.replacingOccurrences(of: "{\"__metadata__\":{", with: "{\"__metadata__\":{\"x\":1,") },
        ]
        let expected = ["format", "format_version", "mlp_dim", "mlp_dim", "num_q", "simnorm_group", "__metadata__"]
        for (i, c) in cases.enumerated() {
            let e = Self.error(Self.withHeader { c($0, "") })
            #expect(e?.contains(expected[i]) == true, "case \(i): \(e ?? "accepted")")
        }
    }

    @Test func overlappingAndOutOfRangeOffsetsAreRejected() {
        let n = Self.good.count
        var e = Self.error(Self.withHeader { $0.replacingOccurrences(of: "\"data_offsets\":[0,", with: "\"data_offsets\":[\(n * 4),") })
        #expect(e != nil)
        // Point the second tensor at the first one's bytes (same length: both encoder.0 bias-sized? use ln.bias/ln.weight).
        let h = String(decoding: Self.good[8..<(8 + 4096)], as: UTF8.self)
        if let r = h.range(of: "\"encoder.0.ln.bias\":{\"data_offsets\":["),
           let r2 = h.range(of: "\"encoder.0.ln.weight\":{\"data_offsets\":[") {
            let offs = String(h[r.upperBound...].prefix { $0 != "]" })
            let offs2 = String(h[r2.upperBound...].prefix { $0 != "]" })
            e = Self.error(Self.withHeader { $0.replacingOccurrences(of: "\"encoder.0.ln.weight\":{\"data_offsets\":[\(offs2)]",
                                                                     with: "\"encoder.0.ln.weight\":{\"data_offsets\":[\(offs)]") })
            #expect(e?.contains("overlaps") == true, "\(e ?? "accepted")")
        } else {
            Issue.record("header layout changed; update the test")
        }
    }

    @Test func hostileJSONIsRejected() {
        for header in ["{", "[]", "{\"a\":" + String(repeating: "[", count: 100_000), "\u{0}\u{1}", "{\"__metadata__\":{\"format\":\"iqmpc.weights\"}} trailing",
                       "{\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,0]}}",
                       "{\"x\":{\"dtype\":\"F32\",\"shape\":[1073741824,1073741824],\"data_offsets\":[0,0]}}",
                       "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}",
                       "{\"a\":1,\"a\":2}", "{\"s\":\"\\ud800\"}"] {
            var h = Array(header.utf8)
            var bytes: [UInt8] = []
            var len = UInt64(h.count)
            for _ in 0..<8 { bytes.append(UInt8(len & 0xFF)); len >>= 8 }
            h += [UInt8](repeating: 0, count: 16)
            #expect(Self.error(bytes + h) != nil, "accepted header \(header.prefix(60))")
        }
    }

    /// Bounded mutation fuzzing: random byte flips, insertions, deletions and truncations,
    /// mostly inside the header where the parser lives. Each outcome must be a clean load or
    /// a thrown error; a crash would kill the test process.
    @Test func mutatedFilesNeverCrash() {
        var r = TestRandom(s: 12345)
        let n = Int(Self.good[0]) | Int(Self.good[1]) << 8 | Int(Self.good[2]) << 16
        var accepted = 0, rejected = 0
        for _ in 0..<1500 {
            var f = Self.good
            let edits = 1 + Int((r.next() + 1) * 2)
            for _ in 0..<edits {
                let inHeader = r.next() < 0.6
                let span = inHeader ? n + 8 : f.count
                let pos = min(f.count - 1, max(0, Int((r.next() + 1) / 2 * Float(span))))
                switch Int((r.next() + 1) * 2.5) {
                case 0: f[pos] ^= UInt8(1 << Int((r.next() + 1) * 3.9))
                case 1: f[pos] = UInt8(truncatingIfNeeded: Int((r.next() + 1) * 127))
                case 2: f.insert("\"{[,:0-e".randomElementDeterministic(&r).asciiValue!, at: pos)
                case 3: f.remove(at: pos)
                default: f = Array(f[0..<pos])
                }
                if f.isEmpty { break }
            }
            if Self.error(f) == nil { accepted += 1 } else { rejected += 1 }
        }
        print("fuzz: \(accepted) accepted, \(rejected) rejected")
        #expect(rejected > 500, "fuzzing barely exercised the error paths (\(accepted) accepted)")
    }
}

extension String {
    fileprivate func randomElementDeterministic(_ r: inout TestRandom) -> Character {
        let chars = Array(self)
        return chars[min(chars.count - 1, Int((r.next() + 1) / 2 * Float(chars.count)))]
    }
}

extension LoaderValidationTests {
    /// A NaN planted in the file's data section (not via the Swift API) is caught by name.
    @Test func nanInFileDataIsCaught() throws {
        let h = String(decoding: Self.good[8..<4096], as: UTF8.self)
        let key = "\"policy.2.bias\":{\"data_offsets\":["
        let r = try #require(h.range(of: key))
        let begin = Int(h[r.upperBound...].prefix { $0 != "," })!
        let n = Int(Self.good[0]) | Int(Self.good[1]) << 8 | Int(Self.good[2]) << 16
        var f = Self.good
        let nan = Float.nan.bitPattern
        for k in 0..<4 { f[8 + n + begin + 4 + k] = UInt8(truncatingIfNeeded: nan >> (8 * UInt32(k))) }
        let e = Self.error(f)
        #expect(e?.contains("policy.2.bias") == true && e?.contains("index 1") == true, "\(e ?? "accepted")")
    }
}
