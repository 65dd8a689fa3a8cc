/// One network of docs/algorithm.md §1.1, mlp (a stack of NormedLinear layers, optionally ending in a
/// plain Linear) with the activations a backward pass needs kept in an `MLPCache`.
public enum TrainActivation: Sendable, Equatable { case mish, simNorm, none }

public struct DenseLayer: Sendable, Equatable {
    public var inDim: Int
    public var outDim: Int
    /// NormedLinear (Linear, [Dropout], LayerNorm, act) when true; plain Linear otherwise.
    public var normed: Bool
    public var act: TrainActivation
    public var dropout: Bool

    /// Parameter order inside the layer: W [out, in], b [out], then gain [out], beta [out] if normed.
    public var paramCount: Int { outDim * inDim + outDim + (normed ? 2 * outDim : 0) }
}

public struct MLPSpec: Sendable, Equatable {
    public var layers: [DenseLayer]
    public var simnormGroup: Int
    public var offsets: [Int]
    public var paramCount: Int

    /// docs/algorithm.md §1.1 `mlp(in, hidden, out, φ_out, dropout)`.
    public init(input: Int, hidden: [Int], output: Int, finalAct: TrainActivation?, dropoutFirst: Bool, simnormGroup: Int) {
        var ls: [DenseLayer] = []
        var prev = input
        for (i, h) in hidden.enumerated() {
            ls.append(DenseLayer(inDim: prev, outDim: h, normed: true, act: .mish, dropout: dropoutFirst && i == 0))
            prev = h
        }
        if let finalAct {
            ls.append(DenseLayer(inDim: prev, outDim: output, normed: true, act: finalAct, dropout: false))
        } else {
            ls.append(DenseLayer(inDim: prev, outDim: output, normed: false, act: .none, dropout: false))
        }
        layers = ls
        self.simnormGroup = simnormGroup
        var off: [Int] = []
        var total = 0
        for l in ls { off.append(total); total += l.paramCount }
        offsets = off
        paramCount = total
    }

    public var inDim: Int { layers[0].inDim }
    public var outDim: Int { layers[layers.count - 1].outDim }
    public var maxWidth: Int { layers.map { max($0.inDim, $0.outDim) }.max()! }
}

/// Activations of one call site (sized once for `maxRows`) plus backward scratch.
public final class MLPCache<T: TrainScalar>: @unchecked Sendable {
    // Safety: owned and used by a single training thread.
    public let spec: MLPSpec
    public let maxRows: Int
    /// The caller writes the network input here (rows x inDim) before `forward`, unless it
    /// passes its own input buffer to `forward`.
    public let input: Tensor<T>
    /// Input gradient after `backward(wantInputGrad: true)`.
    public let dInput: Tensor<T>
    /// Whether every normed layer's LayerNorm output (the activation's input) is kept in
    /// `actIn` on the Float path too (the gradient penalty's second-order pass reads it; the
    /// Float backward pass itself only needs `deriv`).
    public let keepsPreActivation: Bool
    var xhat: [Tensor<T>] = []
    var rstd: [Tensor<T>] = []
    var actIn: [Tensor<T>] = []
    /// Float path: Mish'(LayerNorm output) of Mish layers, written by the forward pass.
    var deriv: [Tensor<T>] = []
    var out: [Tensor<T>] = []
    var mask: [Tensor<T>?] = []
    /// Whether layer i's mask multiplied the last forward pass (false when dropout was 0).
    var maskOn: [Bool] = []
    let g1: Tensor<T>, g2: Tensor<T>, scratch: Tensor<T>
    public private(set) var rows = 0
    /// The input rows of the last forward pass (`input` or the caller's buffer).
    public private(set) var inputPointer: UnsafePointer<T>
    /// After `backward`: the gradient at the first Linear's output (rows x layer-0 outDim).
    var firstLayerGrad: UnsafeMutablePointer<T>

    public init(spec: MLPSpec, maxRows: Int, keepsPreActivation: Bool = false) {
        self.spec = spec
        self.maxRows = maxRows
        self.keepsPreActivation = keepsPreActivation
        input = Tensor(maxRows * spec.inDim)
        dInput = Tensor(maxRows * spec.inDim)
        inputPointer = UnsafePointer(input.p)
        let fused = T.self == Float.self
        for l in spec.layers {
            let n = maxRows * l.outDim
            let fusedMish = fused && l.normed && l.act == .mish
            xhat.append(Tensor(l.normed ? n : 0))
            rstd.append(Tensor(l.normed ? maxRows : 0))
            actIn.append(Tensor(l.normed && (!fusedMish || keepsPreActivation) ? n : 0))
            deriv.append(Tensor(fusedMish ? n : 0))
            out.append(Tensor(n))
            mask.append(l.dropout ? Tensor(n) : nil)
            maskOn.append(false)
        }
        let w = maxRows * spec.maxWidth
        g1 = Tensor(w); g2 = Tensor(w); scratch = Tensor(w)
        firstLayerGrad = g1.p
    }

    public var output: UnsafeMutablePointer<T> { out[out.count - 1].p }

    /// Layer i's dropout mask if it was applied in the last forward pass.
    func activeMask(_ i: Int) -> Tensor<T>? { maskOn[i] ? mask[i] : nil }

    /// `dropout` > 0 draws fresh inverted-dropout masks from `rng` for layers that have dropout.
    /// `input`: rows x inDim read in place of `self.input` (it must stay unchanged until the
    /// matching `backward`). `needsBackward: false` skips what only a backward pass reads.
    @discardableResult
    public func forward(params: UnsafePointer<T>, rows: Int, dropout: Double, rng: inout TrainRNG,
                        input external: UnsafePointer<T>? = nil, needsBackward: Bool = true) -> UnsafeMutablePointer<T> {
        precondition(rows <= maxRows)
        self.rows = rows
        inputPointer = external ?? UnsafePointer(input.p)
        var x = inputPointer
        for (i, l) in spec.layers.enumerated() {
            let w = params + spec.offsets[i]
            let b = w + l.outDim * l.inDim
            let n = rows * l.outDim
            let fusedMish = T.self == Float.self && l.normed && l.act == .mish
            let pre = l.normed ? (fusedMish ? out[i].p : actIn[i].p) : out[i].p
            Ops.linearForward(x, rows: rows, inDim: l.inDim, w: w, b: b, outDim: l.outDim, y: pre)
            maskOn[i] = false
            if let m = mask[i], dropout > 0 {
                maskOn[i] = true
                let keep = 1 - dropout
                let scale = T(1 / keep)
                // Keep when a 53-bit uniform is below `keep` (as `uniform() < keep`).
                let limit = UInt64(keep * 0x1.0p53)
                let mp = m.p
                for j in 0..<n {
                    let v = (rng.next() >> 11) < limit ? scale : 0
                    mp[j] = v
                    pre[j] *= v
                }
            }
            if l.normed {
                let g = b + l.outDim
                if fusedMish {
                    // LayerNorm + Mish in place on out[i] (each row is read fully before it is written).
                    FusedKernels.layerNormMishForward(Ops.F(pre), rows: rows, n: l.outDim, gain: Ops.F(g),
                                                      bias: Ops.F(g + l.outDim),
                                                      xhat: needsBackward ? Ops.FM(xhat[i].p) : nil,
                                                      rstd: Ops.FM(rstd[i].p),
                                                      preAct: keepsPreActivation ? Ops.FM(actIn[i].p) : nil,
                                                      deriv: needsBackward ? Ops.FM(deriv[i].p) : nil,
                                                      y: Ops.FM(out[i].p))
                } else {
                    Ops.layerNormForward(pre, rows: rows, n: l.outDim, gain: g, bias: g + l.outDim,
                                         xhat: xhat[i].p, rstd: rstd[i].p, y: actIn[i].p)
                    switch l.act {
                    case .mish: Ops.mishForward(actIn[i].p, out[i].p, n)
                    case .simNorm: Ops.simNormForward(actIn[i].p, out[i].p, count: n, group: spec.simnormGroup)
                    case .none: out[i].p.update(from: actIn[i].p, count: n)
                    }
                }
            }
            x = UnsafePointer(out[i].p)
        }
        return out[out.count - 1].p
    }

    /// Back-propagates `dOut` (rows x outDim) through the stored activations. Parameter
    /// gradients are added into `grads` (nil: parameters frozen, only the input gradient).
    /// `rows` may be smaller than the forward's rows: the first rows are used.
    /// With `wantInputGrad: false` the input gradient can still be taken afterwards, for a
    /// block of rows and columns, with `addInputGrad`.
    public func backward(params: UnsafePointer<T>, grads: UnsafeMutablePointer<T>?, dOut: UnsafePointer<T>,
                         rows: Int, wantInputGrad: Bool) {
        precondition(rows <= self.rows)
        var dy = g1.p
        var other = g2.p
        dy.update(from: dOut, count: rows * spec.outDim)
        // (per-row gradient, weight row) of a 1-output last Linear whose input gradient the
        // fused backward of the layer below forms on the fly (a Q head's last layer).
        var outer: (s: UnsafePointer<Float>, w: UnsafePointer<Float>)? = nil
        for i in stride(from: spec.layers.count - 1, through: 0, by: -1) {
            let l = spec.layers[i]
            let w = params + spec.offsets[i]
            let n = rows * l.outDim
            let dw = grads.map { $0 + spec.offsets[i] }
            var biasDone = false
            if l.normed {
                let g = w + l.outDim * l.inDim + l.outDim
                let gg = grads.map { $0 + spec.offsets[i] + l.outDim * l.inDim + l.outDim }
                if T.self == Float.self && l.act == .mish {
                    FusedKernels.normedBackward(dy: Ops.FM(dy), rows: rows, n: l.outDim, deriv: Ops.F(deriv[i].p),
                                                xhat: Ops.F(xhat[i].p), rstd: Ops.F(rstd[i].p), gain: Ops.F(g),
                                                dgain: gg.map(Ops.FM), dbias: gg.map { Ops.FM($0 + l.outDim) },
                                                mask: activeMask(i).map { Ops.F($0.p) },
                                                db: dw.map { Ops.FM($0 + l.outDim * l.inDim) }, outer: outer)
                    outer = nil
                    biasDone = true
                } else {
                    switch l.act {
                    case .mish: Ops.mishBackward(x: actIn[i].p, dy: dy, dx: dy, scratch: scratch.p, n)
                    case .simNorm: Ops.simNormBackward(y: out[i].p, dy: dy, dx: dy, count: n, group: spec.simnormGroup)
                    case .none: break
                    }
                    Ops.layerNormBackward(dy: dy, rows: rows, n: l.outDim, xhat: xhat[i].p, rstd: rstd[i].p, gain: g,
                                          dgain: gg, dbias: gg.map { $0 + l.outDim }, dx: dy)
                }
            }
            if !biasDone, let m = activeMask(i) {
                if T.self == Float.self { FloatKernels.multiply(Ops.FM(dy), by: Ops.F(m.p), n) } else { for j in 0..<n { dy[j] *= m.p[j] } }
            }
            let xin = i == 0 ? inputPointer : UnsafePointer(out[i - 1].p)
            var needDx = i > 0 || wantInputGrad
            if T.self == Float.self, i > 0, i == spec.layers.count - 1, !l.normed, l.outDim == 1,
               spec.layers[i - 1].normed, spec.layers[i - 1].act == .mish {
                outer = (Ops.F(dy), Ops.F(w))
                needDx = false
            }
            let dxTarget: UnsafeMutablePointer<T>? = needDx ? (i == 0 ? dInput.p : other) : nil
            Ops.linearBackward(dy: dy, x: xin, rows: rows, inDim: l.inDim, outDim: l.outDim, w: w,
                               dw: dw, db: biasDone ? nil : dw.map { $0 + l.outDim * l.inDim }, dx: dxTarget,
                               accumulateDx: false)
            if i == 0 { firstLayerGrad = dy }
            swap(&dy, &other)
        }
    }

    /// After `backward`: dst[r, c] (+)= ∂/∂input[rowStart + r, columns.lowerBound + c] for a block
    /// of the input gradient, straight into the caller's buffer (row stride `ld`), so a caller
    /// that only needs some columns (the latent part of [z | a], or the action part) neither
    /// computes the others nor copies. `accumulate` adds into dst (sgemm beta = 1).
    public func addInputGrad(params: UnsafePointer<T>, rowStart: Int, rows: Int, columns: Range<Int>,
                             into dst: UnsafeMutablePointer<T>, ld: Int, accumulate: Bool) {
        let l = spec.layers[0]
        T.gemm(transA: false, transB: false, m: rows, n: columns.count, k: l.outDim, alpha: 1,
               a: firstLayerGrad + rowStart * l.outDim, lda: l.outDim, b: params + spec.offsets[0] + columns.lowerBound,
               ldb: l.inDim, beta: accumulate ? 1 : 0, c: dst, ldc: ld)
    }
}
