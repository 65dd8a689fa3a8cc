/// `y = x Wᵀ + b` for the narrow layers a real-time planner runs (out 64–512, K 64–512, a
/// few hundred rows), over weights packed once at load time.
///
/// Why not OpenBLAS here: for these shapes sgemm spends a sixth of its time re-packing both
/// operands and zeroing C on every call (measured with `perf` on the tiny planner: packing 9%,
/// beta 6.5%), because it cannot know the weights never change. Packing the weights once
/// into 16-wide column panels lets a 6×16 register kernel read x rows in place, start its
/// accumulators from the bias, and hand each block of finished rows to the layer's
/// LayerNorm pass while they are still in cache.
///
/// Panel layout (`packedCount` floats): panel p holds outputs 16p..<16p+16 (the last one
/// zero-padded); within it, `[k][16]` for k in 0..<inDim.
public enum PackedGemm {
    /// Rows per block handed to the epilogue: the x block and the panel both stay in L1/L2.
    public static let blockRows = 48

    /// Where the packed path pays: operands no wider than 256, and more than one output (a
    /// single output is a matrix-vector product, left to `sgemv`). Measured with
    /// `iqmpc-runtime bench-forward` (field `packed_speedup`, same-run A/B, batch 512): tiny
    /// (128-wide) 1.08×, small (256) 1.00×, paper (512) 0.91×: at 512 OpenBLAS's cache blocking
    /// wins back more than its per-call packing costs. Narrow outputs (π's last layer, 2A wide)
    /// are where OpenBLAS is worst: perf showed its N = 2 product at 10% of a tiny plan.
    public static func canPack(inDim: Int, outDim: Int) -> Bool {
        outDim >= 2 && outDim <= 256 && inDim <= 256
    }

    /// Floats of the packed copy: the last panel is zero-padded to 16 outputs.
    public static func packedCount(inDim: Int, outDim: Int) -> Int { inDim * ((outDim + 15) / 16 * 16) }

    /// Packs the `[outDim, inDim]` block of a row-major weight with leading dimension `ldw`.
    public static func pack(weight: UnsafePointer<Float>, ldw: Int, inDim: Int, outDim: Int,
                            into dst: UnsafeMutablePointer<Float>) {
        for p in 0..<((outDim + 15) / 16) {
            let panel = dst + p * 16 * inDim
            for k in 0..<inDim {
                for j in 0..<16 {
                    let o = p * 16 + j
                    panel[k * 16 + j] = o < outDim ? weight[o * ldw + k] : 0
                }
            }
        }
    }

    /// Rows `r0..<r1` of `y[r, :] = x[r, :] · Wᵀ + bias` (`y` dense with leading dimension `outDim`;
    /// nil `bias` starts from zero). Summation order per output is fixed (bias, then k ascending),
    /// so results are bit-identical for identical inputs whatever the row count or partition.
    @inline(__always)
    public static func rows(_ r0: Int, _ r1: Int, x: UnsafePointer<Float>, ldx: Int, inDim K: Int,
                            packed: UnsafePointer<Float>, outDim N: Int, bias: UnsafePointer<Float>?,
                            y: UnsafeMutablePointer<Float>) {
        let panels = (N + 15) / 16
        let full = r0 + (r1 - r0) / 6 * 6
        for p in 0..<panels {
            let w = packed + p * 16 * K, b = bias.map { $0 + p * 16 }, width = min(16, N - p * 16)
            var r = r0
            while r < full {
                kernel6x16(x + r * ldx, ldx, w, K, b, y + r * N + p * 16, N, width)
                r += 6
            }
            // Tail rows: the widest kernels that fit (the 1-row kernel is latency-bound).
            if r1 - r >= 4 { kernel4x16(x + r * ldx, ldx, w, K, b, y + r * N + p * 16, N, width); r += 4 }
            if r1 - r >= 2 { kernel2x16(x + r * ldx, ldx, w, K, b, y + r * N + p * 16, N, width); r += 2 }
            if r < r1 { kernel1x16(x + r * ldx, w, K, b, y + r * N + p * 16, width) }
        }
    }

    /// Six rows by sixteen outputs: 12 accumulators, two panel loads and six broadcasts per k.
    @inline(__always)
    static func kernel6x16(_ x: UnsafePointer<Float>, _ ldx: Int, _ w: UnsafePointer<Float>, _ K: Int,
                           _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ width: Int) {
        let (b0, b1) = biasPair(bias, width)
        var c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1
        var c30 = b0, c31 = b1, c40 = b0, c41 = b1, c50 = b0, c51 = b1
        let x0 = x, x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx, x4 = x + 4 * ldx, x5 = x + 5 * ldx
        var wp = w
        for k in 0..<K {
            let w0 = load8(wp), w1 = load8(wp + 8)
            var a = SIMD8<Float>(repeating: x0[k]); c00 = c00.addingProduct(a, w0); c01 = c01.addingProduct(a, w1)
            a = SIMD8<Float>(repeating: x1[k]); c10 = c10.addingProduct(a, w0); c11 = c11.addingProduct(a, w1)
            a = SIMD8<Float>(repeating: x2[k]); c20 = c20.addingProduct(a, w0); c21 = c21.addingProduct(a, w1)
            a = SIMD8<Float>(repeating: x3[k]); c30 = c30.addingProduct(a, w0); c31 = c31.addingProduct(a, w1)
            a = SIMD8<Float>(repeating: x4[k]); c40 = c40.addingProduct(a, w0); c41 = c41.addingProduct(a, w1)
            a = SIMD8<Float>(repeating: x5[k]); c50 = c50.addingProduct(a, w0); c51 = c51.addingProduct(a, w1)
            wp += 16
        }
        if width == 16 {
            store8(c00, y); store8(c01, y + 8)
            store8(c10, y + ldy); store8(c11, y + ldy + 8)
            store8(c20, y + 2 * ldy); store8(c21, y + 2 * ldy + 8)
            store8(c30, y + 3 * ldy); store8(c31, y + 3 * ldy + 8)
            store8(c40, y + 4 * ldy); store8(c41, y + 4 * ldy + 8)
            store8(c50, y + 5 * ldy); store8(c51, y + 5 * ldy + 8)
        } else {
            storePanel(c00, c01, y, width); storePanel(c10, c11, y + ldy, width)
            storePanel(c20, c21, y + 2 * ldy, width); storePanel(c30, c31, y + 3 * ldy, width)
            storePanel(c40, c41, y + 4 * ldy, width); storePanel(c50, c51, y + 5 * ldy, width)
        }
    }

    /// Four rows (tails), same per-output order as the others.
    @inline(__always)
    static func kernel4x16(_ x: UnsafePointer<Float>, _ ldx: Int, _ w: UnsafePointer<Float>, _ K: Int,
                           _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ width: Int) {
        let (b0, b1) = biasPair(bias, width)
        var c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1
        let x0 = x, x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx
        var wp = w
        for k in 0..<K {
            let w0 = load8(wp), w1 = load8(wp + 8)
            var a = SIMD8<Float>(repeating: x0[k]); c00 = c00.addingProduct(a, w0); c01 = c01.addingProduct(a, w1)
            a = SIMD8<Float>(repeating: x1[k]); c10 = c10.addingProduct(a, w0); c11 = c11.addingProduct(a, w1)
            a = SIMD8<Float>(repeating: x2[k]); c20 = c20.addingProduct(a, w0); c21 = c21.addingProduct(a, w1)
            a = SIMD8<Float>(repeating: x3[k]); c30 = c30.addingProduct(a, w0); c31 = c31.addingProduct(a, w1)
            wp += 16
        }
        storePanel(c00, c01, y, width); storePanel(c10, c11, y + ldy, width)
        storePanel(c20, c21, y + 2 * ldy, width); storePanel(c30, c31, y + 3 * ldy, width)
    }

    /// Two rows (tails), same per-output order as the others.
    @inline(__always)
    static func kernel2x16(_ x: UnsafePointer<Float>, _ ldx: Int, _ w: UnsafePointer<Float>, _ K: Int,
                           _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ width: Int) {
        let (b0, b1) = biasPair(bias, width)
        var c00 = b0, c01 = b1, c10 = b0, c11 = b1
        let x0 = x, x1 = x + ldx
        var wp = w
        for k in 0..<K {
            let w0 = load8(wp), w1 = load8(wp + 8)
            var a = SIMD8<Float>(repeating: x0[k]); c00 = c00.addingProduct(a, w0); c01 = c01.addingProduct(a, w1)
            a = SIMD8<Float>(repeating: x1[k]); c10 = c10.addingProduct(a, w0); c11 = c11.addingProduct(a, w1)
            wp += 16
        }
        storePanel(c00, c01, y, width); storePanel(c10, c11, y + ldy, width)
    }

    /// Bias lanes of one panel (zeros when nil; only `width` values are read).
    @inline(__always)
    static func biasPair(_ bias: UnsafePointer<Float>?, _ width: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        guard let bias else { return (SIMD8(repeating: 0), SIMD8(repeating: 0)) }
        if width == 16 { return (load8(bias), load8(bias + 8)) }
        return (loadPartial(bias, min(8, width)), width > 8 ? loadPartial(bias + 8, width - 8) : SIMD8(repeating: 0))
    }

    /// Stores the first `width` (≤ 16) outputs of a panel row.
    @inline(__always)
    static func storePanel(_ lo: SIMD8<Float>, _ hi: SIMD8<Float>, _ y: UnsafeMutablePointer<Float>, _ width: Int) {
        if width == 16 { store8(lo, y); store8(hi, y + 8); return }
        storePartial(lo, y, min(8, width))
        if width > 8 { storePartial(hi, y + 8, width - 8) }
    }

    /// One row by sixteen outputs, same per-output summation order as `kernel6x16` (so a row's
    /// result does not depend on whether it fell in a block of six or in the tail).
    @inline(__always)
    static func kernel1x16(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ K: Int,
                           _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ width: Int) {
        var (c0, c1) = biasPair(bias, width)
        var wp = w
        for k in 0..<K {
            let a = SIMD8<Float>(repeating: x[k])
            c0 = c0.addingProduct(a, load8(wp)); c1 = c1.addingProduct(a, load8(wp + 8))
            wp += 16
        }
        if width == 16 { store8(c0, y); store8(c1, y + 8) } else { storePanel(c0, c1, y, width) }
    }
}
