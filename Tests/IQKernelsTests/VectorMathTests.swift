import Foundation
import IQKernels
import Testing

/// The vector tanh and log against libm in Double, over the ranges the policy head feeds them.
@Suite struct VectorMathTests {
    @Test func tanhIsAccurateAndSaturates() {
        var worstAbs = 0.0, worstRel = 0.0
        var x: Float = -30
        while x <= 30 {
            let v = vtanh(SIMD8(repeating: x))
            let ref = Foundation.tanh(Double(x))
            let err = abs(Double(v[0]) - ref)
            worstAbs = max(worstAbs, err)
            if abs(ref) > 1e-30 { worstRel = max(worstRel, err / abs(ref)) }
            x = x.nextUp + abs(x) * 0.0007 + 1e-7
        }
        #expect(worstRel < 5e-7, "worst relative \(worstRel)")
        #expect(worstAbs < 2e-7, "worst absolute \(worstAbs)")
        let s = vtanh(SIMD8(-100, -20, -9, 0, 9, 20, 100, 1e-30))
        #expect(s[0] == -1 && s[1] == -1 && s[5] == 1 && s[6] == 1 && s[3] == 0 && s[7] == 1e-30)
    }

    @Test func logIsAccurate() {
        var worst = 0.0
        var x: Float = 1e-7
        while x < 4 {
            let v = vlog(SIMD8(repeating: x))
            let ref = Foundation.log(Double(x))
            worst = max(worst, abs(Double(v[0]) - ref) / max(1e-3, abs(ref)))
            x *= 1.0013
        }
        #expect(worst < 3e-7, "worst relative \(worst)")
        #expect(vlog(SIMD8(repeating: 1))[0] == 0)
    }
}
