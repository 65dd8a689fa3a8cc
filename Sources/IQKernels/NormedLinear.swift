/// What follows the Linear in one layer.
public enum LayerActivation: Sendable, Equatable {
    /// Plain Linear, no norm (the last layer of π and Q).
    case none
    /// Linear → LayerNorm → Mish (every hidden layer).
    case mish
    /// Linear → LayerNorm → SimNorm(group) (the last layer of encoder and dynamics).
    case simNorm(group: Int)
}

/// One layer over weights owned elsewhere (the model's single weight block).
///
/// `@unchecked Sendable`: the pointers refer to weights that are written once while the
/// owning model is built and only read afterwards, so sharing across threads is safe.
public struct NormedLinear: @unchecked Sendable {
    public let inDim: Int
    public let outDim: Int
    /// `[outDim, inDim]` row-major (PyTorch `nn.Linear.weight`).
    public let weight: UnsafePointer<Float>
    public let bias: UnsafePointer<Float>
    /// LayerNorm gain and bias; nil for `.none`.
    public let lnGain: UnsafePointer<Float>?
    public let lnBias: UnsafePointer<Float>?
    public let activation: LayerActivation
    /// `weight` in `PackedGemm`'s panel layout (built once by the model), or nil when the
    /// output width does not fit 16-wide panels (the last layers of π and Q): then OpenBLAS.
    public let packed: UnsafePointer<Float>?

    public init(inDim: Int, outDim: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                lnGain: UnsafePointer<Float>?, lnBias: UnsafePointer<Float>?, activation: LayerActivation,
                packed: UnsafePointer<Float>? = nil) {
        self.inDim = inDim; self.outDim = outDim
        self.weight = weight; self.bias = bias
        self.lnGain = lnGain; self.lnBias = lnBias
        self.activation = activation
        self.packed = packed
    }

    /// Multiply-adds per row (for GFLOP/s figures).
    public var macsPerRow: Int { inDim * outDim }

    /// `y = φ(LN(x Wᵀ + b))` for `rows` rows; `x` has leading dimension `ldx`, `y` is dense
    /// `[rows, outDim]`. The GEMM runs first over the whole batch, then one fused pass per
    /// row adds the bias, normalises and activates while the row is still in cache.
    @inline(__always)
    public func forward(x: UnsafePointer<Float>, ldx: Int, rows: Int, y: UnsafeMutablePointer<Float>) {
        if let packed {
            // Block by block, so each block's rows are normalised while still in cache.
            var r0 = 0
            while r0 < rows {
                let r1 = min(rows, r0 + PackedGemm.blockRows)
                PackedGemm.rows(r0, r1, x: x, ldx: ldx, inDim: inDim, packed: packed, outDim: outDim, bias: bias, y: y)
                epilogue(y + r0 * outDim, rows: r1 - r0, biasIncluded: true)
                r0 = r1
            }
            return
        }
        Gemm.linear(x: x, ldx: ldx, rows: rows, inDim: inDim,
                    weight: weight, ldw: inDim, outDim: outDim, y: y, ldy: outDim)
        epilogue(y, rows: rows)
    }

    /// Bias + LayerNorm + activation on GEMM output rows, in place (one fused pass per row).
    /// `biasIncluded`: the product already started from the bias (packed kernels).
    @inline(__always)
    public func epilogue(_ y: UnsafeMutablePointer<Float>, rows: Int, biasIncluded: Bool = false) {
        let n = outDim, b = bias
        let term: Activations.RowTerm = biasIncluded ? .biasIncluded : .none
        switch activation {
        case .none:
            if !biasIncluded { for r in 0..<rows { Activations.addBias(y + r * n, count: n, bias: b) } }
        case .mish:
            let g = lnGain!, lb = lnBias!
            for r in 0..<rows {
                Activations.biasLayerNorm(y + r * n, count: n, bias: b, gain: g, lnBias: lb, then: .mish, term: term)
            }
        case .simNorm(let group):
            let g = lnGain!, lb = lnBias!
            if group == 8 && n % 8 == 0 {
                for r in 0..<rows {
                    Activations.biasLayerNorm(y + r * n, count: n, bias: b, gain: g, lnBias: lb, then: .simNorm8, term: term)
                }
            } else {
                for r in 0..<rows {
                    let row = y + r * n
                    if !biasIncluded { Activations.addBias(row, count: n, bias: b) }
                    Activations.layerNorm(row, count: n, gain: g, bias: lb, into: row)
                    Activations.simNorm(row, into: row, count: n, group: group)
                }
            }
        }
    }
}
