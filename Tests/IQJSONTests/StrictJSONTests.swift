import IQJSON
import Testing

/// What Foundation's decoder alone would let through, refused here, with the place named.
@Suite struct StrictJSONTests {
    struct Pair: Codable, Equatable {
        var a: Int
        var b: [Int]
        enum CodingKeys: String, CodingKey, CaseIterable { case a, b }
        init(a: Int, b: [Int]) { self.a = a; self.b = b }
        init(from decoder: any Decoder) throws {
            try StrictJSON.rejectUnknownKeys(decoder, CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            a = try c.decode(Int.self, forKey: .a); b = try c.decode([Int].self, forKey: .b)
        }
    }

    func failure(_ text: String) -> String? {
        do { _ = try StrictJSON.decode(Pair.self, from: text); return nil } catch { return error.description }
    }

    @Test func goodInputDecodes() throws {
        #expect(try StrictJSON.decode(Pair.self, from: #" { "a" : -3, "b" : [1, 9007199254740993] } "#)
                == Pair(a: -3, b: [1, 9_007_199_254_740_993]))
    }

    @Test func duplicateKeysAreRefusedWithTheirOffset() {
        #expect(failure(#"{"a":1,"b":[],"a":2}"#) == #"JSON at byte 14: duplicate key "a""#)
        // The same key written with an escape is still the same key.
        #expect(failure(#"{"a":1,"\u0061":2,"b":[]}"#)?.contains("duplicate key \"a\"") == true)
    }

    @Test func grammarErrorsNameTheByte() {
        let cases: [(String, Int)] = [
            (#"{"a":1,"b":[1,2],}"#, 17), (#"{"a":1,"b":[1,]}"#, 14), (#"{"a":01,"b":[]}"#, 6),
            (#"{"a":1,"b":[]} x"#, 15), (#"{"a":1 "b":[]}"#, 7), (#"{"a":tru,"b":[]}"#, 8), ("{\"a\":\"\u{1}\",\"b\":[]}", 6),
            (#"{"a":1,"b":[]"#, 13), (#"{"a":"\x","b":[]}"#, 7),
        ]
        for (text, at) in cases {
            let e = failure(text)
            #expect(e?.hasPrefix("JSON at byte \(at):") == true, "\(text): \(e ?? "accepted")")
        }
    }

    @Test func deepNestingIsRefused() {
        let deep = #"{"a":"# + String(repeating: "[", count: 10_000)
        #expect(failure(deep)?.contains("nesting deeper") == true)
    }

    @Test func typesAndFieldsAreCheckedWithTheirPath() {
        #expect(failure(#"{"a":1.5,"b":[]}"#)?.contains("does not fit") == true)
        #expect(failure(#"{"a":1,"b":[1,"x"]}"#)?.hasPrefix("b.[1]:") == true)
        #expect(failure(#"{"a":99999999999999999999,"b":[]}"#)?.contains("does not fit") == true)
        #expect(failure(#"{"a":1}"#)?.contains("missing field \"b\"") == true)
        #expect(failure(#"{"a":1,"b":[],"c":0}"#)?.contains("unknown field \"c\"") == true)
    }

    @Test func encodingIsCompactAndSorted() throws {
        #expect(try StrictJSON.encode(["z": 1, "a": 2]) == #"{"a":2,"z":1}"#)
        #expect(try StrictJSON.encode(["s": "a\"b/c"]) == #"{"s":"a\"b/c"}"#)
    }
}
