import IQKernels
import Testing

/// The packed kernels must compute the same product as OpenBLAS, and give every row the same
/// bits wherever it falls (a block of six or the tail): the planner's thread-count-independent
/// determinism rests on that.
@Suite struct PackedGemmTests {
    static func values(_ n: Int, seed: UInt32) -> [Float] {
        var s = seed
        return (0..<n).map { _ in s = s &* 1_664_525 &+ 1_013_904_223; return Float(Int32(bitPattern: s >> 8) % 2001 - 1000) / 1000 }
    }

    @Test(arguments: [(13, 16, 5), (48, 64, 64), (49, 128, 65), (7, 32, 256), (13, 2, 40), (25, 20, 33), (6, 6, 64)])
    func matchesBlasWithinRounding(shape: (Int, Int, Int)) {
        let (rows, outDim, inDim) = shape
        let ldw = inDim + 3  // a column block of a wider weight, as the first layers use
        let x = Self.values(rows * inDim, seed: 1), w = Self.values(outDim * ldw, seed: 2), b = Self.values(outDim, seed: 3)
        var packed = [Float](repeating: 0, count: PackedGemm.packedCount(inDim: inDim, outDim: outDim))
        var got = [Float](repeating: 0, count: rows * outDim), want = got
        w.withUnsafeBufferPointer { wp in packed.withUnsafeMutableBufferPointer {
            PackedGemm.pack(weight: wp.baseAddress!, ldw: ldw, inDim: inDim, outDim: outDim, into: $0.baseAddress!)
        } }
        x.withUnsafeBufferPointer { xp in packed.withUnsafeBufferPointer { pp in b.withUnsafeBufferPointer { bp in
            got.withUnsafeMutableBufferPointer {
                PackedGemm.rows(0, rows, x: xp.baseAddress!, ldx: inDim, inDim: inDim, packed: pp.baseAddress!,
                                outDim: outDim, bias: bp.baseAddress!, y: $0.baseAddress!)
            }
        } } }
        x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in want.withUnsafeMutableBufferPointer {
            Gemm.linear(x: xp.baseAddress!, ldx: inDim, rows: rows, inDim: inDim, weight: wp.baseAddress!, ldw: ldw,
                        outDim: outDim, y: $0.baseAddress!, ldy: outDim)
        } } }
        var worst: Float = 0
        for r in 0..<rows { for o in 0..<outDim {
            let ref = want[r * outDim + o] + b[o]
            worst = max(worst, abs(got[r * outDim + o] - ref) / max(1, abs(ref)))
        } }
        #expect(worst < 1e-5, "worst relative difference \(worst)")
    }

    @Test func rowBitsDoNotDependOnPosition() {
        for outDim in [48, 6] { rowBits(outDim: outDim) }
    }

    func rowBits(outDim: Int) {
        let rows = 23, inDim = 40
        let x = Self.values(rows * inDim, seed: 7), w = Self.values(outDim * inDim, seed: 8), b = Self.values(outDim, seed: 9)
        var packed = [Float](repeating: 0, count: PackedGemm.packedCount(inDim: inDim, outDim: outDim))
        w.withUnsafeBufferPointer { wp in packed.withUnsafeMutableBufferPointer {
            PackedGemm.pack(weight: wp.baseAddress!, ldw: inDim, inDim: inDim, outDim: outDim, into: $0.baseAddress!)
        } }
        func run(_ r0: Int, _ r1: Int) -> [UInt32] {
            var y = [Float](repeating: 0, count: rows * outDim)
            x.withUnsafeBufferPointer { xp in packed.withUnsafeBufferPointer { pp in b.withUnsafeBufferPointer { bp in
                y.withUnsafeMutableBufferPointer {
                    PackedGemm.rows(r0, r1, x: xp.baseAddress!, ldx: inDim, inDim: inDim, packed: pp.baseAddress!,
                                    outDim: outDim, bias: bp.baseAddress!, y: $0.baseAddress!)
                }
            } } }
            return y[(r0 * outDim)..<(r1 * outDim)].map(\.bitPattern)
        }
        let whole = run(0, rows)
        // Split at cuts that move rows between the 6-row kernel and the 1-row tail kernel.
        // Pieces of 5 (4 + 1 rows), 1, 13 (6 + 6 + 1), 3 (2 + 1) and 1 exercise every kernel.
        let split = run(0, 5) + run(5, 6) + run(6, 19) + run(19, 22) + run(22, rows)
        #expect(whole == split)
    }
}
