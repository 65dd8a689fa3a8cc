/// The first layer of the dynamics and of each Q head: `Linear(concat(z, a))`, computed as a
/// latent product plus an action term so that the input never has to be concatenated.
///
/// Why split: the action is a few columns (1 for a pendulum) beside a latent of 64–512, and
/// the planner evaluates these layers at step 0 where every row shares the same z. There the
/// latent part is one matrix-vector product for the whole batch and each row only adds its
/// action's columns: the layer costs O(out·A) per row instead of O(out·(L+A)). Elsewhere the
/// GEMM runs with K = L (a multiple of 8) and small actions fold into the LayerNorm pass.
///
/// `@unchecked Sendable`: all pointers refer to weights owned by the model, written once
/// before the layer is built and only read afterwards.
public struct LatentActionLinear: @unchecked Sendable {
    public let layer: NormedLinear
    public let latentDim: Int
    public let actDim: Int
    /// The action columns of `layer.weight`, transposed to `[actDim, outDim]` (built by the
    /// model once at load time) so each action value scales one contiguous row.
    public let actionColumns: UnsafePointer<Float>
    /// The latent columns `[outDim, latentDim]` in `PackedGemm`'s panel layout, or nil (OpenBLAS).
    public let packedLatent: UnsafePointer<Float>?

    /// Actions up to this width are added in the LayerNorm pass; wider ones get their own
    /// accumulating GEMM (for A = 39 the epilogue loop would be slower than BLAS).
    public static let foldedActionLimit = 8

    public init(layer: NormedLinear, latentDim: Int, actDim: Int, actionColumns: UnsafePointer<Float>,
                packedLatent: UnsafePointer<Float>? = nil) {
        if layer.inDim != latentDim + actDim { fatalError("LatentActionLinear: inDim \(layer.inDim) != \(latentDim) + \(actDim)") }
        if case .mish = layer.activation {} else { fatalError("LatentActionLinear: first layers are LayerNorm + Mish") }
        self.layer = layer; self.latentDim = latentDim; self.actDim = actDim; self.actionColumns = actionColumns
        self.packedLatent = packedLatent
    }

    /// `y = Mish(LN(W [z_r, a_r] + b))` for `rows` rows, `y` dense `[rows, outDim]`.
    ///
    /// - `ldz`: leading dimension of `z`; **0 means every row uses the same latent `z[0..<L]`**.
    /// - `sharedRow`: scratch of `outDim` floats (used only when `ldz == 0`).
    @inline(__always)
    public func forward(z: UnsafePointer<Float>, ldz: Int, actions: UnsafePointer<Float>, rows: Int,
                        y: UnsafeMutablePointer<Float>, sharedRow: UnsafeMutablePointer<Float>) {
        let L = latentDim, A = actDim, n = layer.outDim, ldw = L + A
        let g = layer.lnGain!, lb = layer.lnBias!
        let folded = A <= Self.foldedActionLimit
        if ldz == 0 {
            // Latent part once: sharedRow = W_z z + b.
            Gemm.linear(x: z, ldx: L, rows: 1, inDim: L, weight: layer.weight, ldw: ldw, outDim: n, y: sharedRow, ldy: n)
            Activations.addBias(sharedRow, count: n, bias: layer.bias)
            let base = UnsafePointer(sharedRow)
            if folded {
                for r in 0..<rows {
                    Activations.biasLayerNorm(y + r * n, count: n, bias: base, gain: g, lnBias: lb, then: .mish,
                                              term: .actionsOnly(actions + r * A, columns: actionColumns, count: A))
                }
            } else {
                Gemm.linear(x: actions, ldx: A, rows: rows, inDim: A, weight: layer.weight + L, ldw: ldw,
                            outDim: n, y: y, ldy: n)
                for r in 0..<rows {
                    Activations.biasLayerNorm(y + r * n, count: n, bias: base, gain: g, lnBias: lb, then: .mish)
                }
            }
            return
        }
        if let packedLatent, folded {
            // Block by block: latent product, then bias + action term + LayerNorm + Mish in cache.
            var r0 = 0
            while r0 < rows {
                let r1 = min(rows, r0 + PackedGemm.blockRows)
                PackedGemm.rows(r0, r1, x: z, ldx: ldz, inDim: L, packed: packedLatent, outDim: n, bias: nil, y: y)
                for r in r0..<r1 {
                    Activations.biasLayerNorm(y + r * n, count: n, bias: layer.bias, gain: g, lnBias: lb, then: .mish,
                                              term: .actions(actions + r * A, columns: actionColumns, count: A))
                }
                r0 = r1
            }
            return
        }
        if let packedLatent {
            PackedGemm.rows(0, rows, x: z, ldx: ldz, inDim: L, packed: packedLatent, outDim: n, bias: layer.bias, y: y)
            Gemm.linear(x: actions, ldx: A, rows: rows, inDim: A, weight: layer.weight + L, ldw: ldw,
                        outDim: n, y: y, ldy: n, accumulate: true)
            layer.epilogue(y, rows: rows, biasIncluded: true)
            return
        }
        Gemm.linear(x: z, ldx: ldz, rows: rows, inDim: L, weight: layer.weight, ldw: ldw, outDim: n, y: y, ldy: n)
        if folded {
            for r in 0..<rows {
                Activations.biasLayerNorm(y + r * n, count: n, bias: layer.bias, gain: g, lnBias: lb, then: .mish,
                                          term: .actions(actions + r * A, columns: actionColumns, count: A))
            }
        } else {
            Gemm.linear(x: actions, ldx: A, rows: rows, inDim: A, weight: layer.weight + L, ldw: ldw,
                        outDim: n, y: y, ldy: n, accumulate: true)
            layer.epilogue(y, rows: rows)
        }
    }

    /// Whether `forwardTwo` can share the latent product (packed latent columns, folded actions).
    public var canShareLatent: Bool { packedLatent != nil && actDim <= Self.foldedActionLimit }

    /// Two calls on the same latents with different actions (the planner's V_{t+1} and q_{t+1}
    /// at z_{t+1} when both drew this Q head): the latent product is computed once per block
    /// and each call adds its own action term. Bit-identical to two `forward` calls.
    /// `block` is scratch of `PackedGemm.blockRows · outDim` floats. Needs `canShareLatent`.
    @inline(__always)
    public func forwardTwo(z: UnsafePointer<Float>, ldz: Int, rows: Int,
                           actionsX: UnsafePointer<Float>, yX: UnsafeMutablePointer<Float>,
                           actionsY: UnsafePointer<Float>, yY: UnsafeMutablePointer<Float>,
                           block: UnsafeMutablePointer<Float>) {
        guard let packedLatent, actDim <= Self.foldedActionLimit else {
            fatalError("LatentActionLinear.forwardTwo needs packed latent columns and a folded action")
        }
        let L = latentDim, A = actDim, n = layer.outDim
        let g = layer.lnGain!, lb = layer.lnBias!
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + PackedGemm.blockRows)
            PackedGemm.rows(0, r1 - r0, x: z + r0 * ldz, ldx: ldz, inDim: L, packed: packedLatent, outDim: n, bias: nil, y: block)
            for r in r0..<r1 {
                let src = UnsafePointer(block + (r - r0) * n)
                Activations.biasLayerNorm(yX + r * n, count: n, bias: layer.bias, gain: g, lnBias: lb, then: .mish,
                                          term: .actionsFrom(source: src, actionsX + r * A, columns: actionColumns, count: A))
                Activations.biasLayerNorm(yY + r * n, count: n, bias: layer.bias, gain: g, lnBias: lb, then: .mish,
                                          term: .actionsFrom(source: src, actionsY + r * A, columns: actionColumns, count: A))
            }
            r0 = r1
        }
    }
}
