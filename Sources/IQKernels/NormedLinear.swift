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

    public init(inDim: Int, outDim: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                lnGain: UnsafePointer<Float>?, lnBias: UnsafePointer<Float>?, activation: LayerActivation) {
        self.inDim = inDim; self.outDim = outDim
        self.weight = weight; self.bias = bias
        self.lnGain = lnGain; self.lnBias = lnBias
        self.activation = activation
    }

    /// Multiply-adds per row (for GFLOP/s figures).
    public var macsPerRow: Int { inDim * outDim }

    /// `y = φ(LN(x Wᵀ + b))` for `rows` rows; `x` has leading dimension `ldx`, `y` is dense
    /// `[rows, outDim]`. The GEMM runs first over the whole batch, then one fused pass per
    /// row adds the bias, normalises and activates while the row is still in cache.
    @inline(__always)
    public func forward(x: UnsafePointer<Float>, ldx: Int, rows: Int, y: UnsafeMutablePointer<Float>) {
        Gemm.linear(x: x, ldx: ldx, rows: rows, inDim: inDim,
                    weight: weight, ldw: inDim, outDim: outDim, y: y, ldy: outDim)
        epilogue(y, rows: rows)
    }

    /// Bias + LayerNorm + activation on GEMM output rows, in place.
    @inline(__always)
    public func epilogue(_ y: UnsafeMutablePointer<Float>, rows: Int) {
        let n = outDim, b = bias
        for r in 0..<rows {
            let row = y + r * n
            addBias(row, b, n)
            switch activation {
            case .none:
                break
            case .mish:
                Activations.layerNorm(row, count: n, gain: lnGain!, bias: lnBias!)
                Activations.mish(row, count: n)
            case .simNorm(let g):
                Activations.layerNorm(row, count: n, gain: lnGain!, bias: lnBias!)
                Activations.simNorm(row, count: n, group: g)
            }
        }
    }

    @inline(__always)
    private func addBias(_ row: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let raw = UnsafeMutableRawPointer(row + i)
            raw.storeBytes(of: raw.loadUnaligned(as: SIMD8<Float>.self)
                           + UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { row[i] += b[i]; i += 1 }
    }
}
