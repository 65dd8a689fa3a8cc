/// One network of SPEC 1.1 item 7 (a stack of NormedLinear layers, optionally ending in a
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

    /// SPEC 1.1 `mlp(in, hidden, out, φ_out, dropout)`.
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
    /// The caller writes the network input here (rows x inDim) before `forward`.
    public let input: Tensor<T>
    /// Input gradient after `backward(wantInputGrad: true)`.
    public let dInput: Tensor<T>
    var xhat: [Tensor<T>] = []
    var rstd: [Tensor<T>] = []
    var actIn: [Tensor<T>] = []
    var out: [Tensor<T>] = []
    var mask: [Tensor<T>?] = []
    let g1: Tensor<T>, g2: Tensor<T>, scratch: Tensor<T>
    public private(set) var rows = 0

    public init(spec: MLPSpec, maxRows: Int) {
        self.spec = spec
        self.maxRows = maxRows
        input = Tensor(maxRows * spec.inDim)
        dInput = Tensor(maxRows * spec.inDim)
        for l in spec.layers {
            let n = maxRows * l.outDim
            xhat.append(Tensor(l.normed ? n : 0))
            rstd.append(Tensor(l.normed ? maxRows : 0))
            actIn.append(Tensor(l.normed ? n : 0))
            out.append(Tensor(n))
            mask.append(l.dropout ? Tensor(n) : nil)
        }
        let w = maxRows * spec.maxWidth
        g1 = Tensor(w); g2 = Tensor(w); scratch = Tensor(w)
    }

    public var output: UnsafeMutablePointer<T> { out[out.count - 1].p }

    /// `dropout` > 0 draws fresh inverted-dropout masks from `rng` for layers that have dropout.
    @discardableResult
    public func forward(params: UnsafePointer<T>, rows: Int, dropout: Double, rng: inout TrainRNG) -> UnsafeMutablePointer<T> {
        precondition(rows <= maxRows)
        self.rows = rows
        var x = UnsafePointer(input.p)
        for (i, l) in spec.layers.enumerated() {
            let w = params + spec.offsets[i]
            let b = w + l.outDim * l.inDim
            let n = rows * l.outDim
            let pre = l.normed ? actIn[i].p : out[i].p
            Ops.linearForward(x, rows: rows, inDim: l.inDim, w: w, b: b, outDim: l.outDim, y: pre)
            if let m = mask[i] {
                if dropout > 0 {
                    let keep = 1 - dropout
                    let scale = T(1 / keep)
                    // Keep when a 53-bit uniform is below `keep` (as `uniform() < keep`).
                    let limit = UInt64(keep * 0x1.0p53)
                    for j in 0..<n { m.p[j] = (rng.next() >> 11) < limit ? scale : 0 }
                } else {
                    m.p.update(repeating: 1, count: n)
                }
                if T.self == Float.self { FloatKernels.multiply(Ops.FM(pre), by: Ops.F(m.p), n) } else { for j in 0..<n { pre[j] *= m.p[j] } }
            }
            if l.normed {
                let g = b + l.outDim
                Ops.layerNormForward(pre, rows: rows, n: l.outDim, gain: g, bias: g + l.outDim,
                                     xhat: xhat[i].p, rstd: rstd[i].p, y: actIn[i].p)
                switch l.act {
                case .mish: Ops.mishForward(actIn[i].p, out[i].p, n)
                case .simNorm: Ops.simNormForward(actIn[i].p, out[i].p, count: n, group: spec.simnormGroup)
                case .none: out[i].p.update(from: actIn[i].p, count: n)
                }
            }
            x = UnsafePointer(out[i].p)
        }
        return out[out.count - 1].p
    }

    /// Back-propagates `dOut` (rows x outDim) through the stored activations. Parameter
    /// gradients are added into `grads` (nil: parameters frozen, only the input gradient).
    /// `rows` may be smaller than the forward's rows: the first rows are used.
    public func backward(params: UnsafePointer<T>, grads: UnsafeMutablePointer<T>?, dOut: UnsafePointer<T>,
                         rows: Int, wantInputGrad: Bool) {
        precondition(rows <= self.rows)
        var dy = g1.p
        var other = g2.p
        dy.update(from: dOut, count: rows * spec.outDim)
        for i in stride(from: spec.layers.count - 1, through: 0, by: -1) {
            let l = spec.layers[i]
            let w = params + spec.offsets[i]
            let n = rows * l.outDim
            if l.normed {
                switch l.act {
                case .mish: Ops.mishBackward(x: actIn[i].p, dy: dy, dx: dy, scratch: scratch.p, n)
                case .simNorm: Ops.simNormBackward(y: out[i].p, dy: dy, dx: dy, count: n, group: spec.simnormGroup)
                case .none: break
                }
                let g = w + l.outDim * l.inDim + l.outDim
                let gg = grads.map { $0 + spec.offsets[i] + l.outDim * l.inDim + l.outDim }
                Ops.layerNormBackward(dy: dy, rows: rows, n: l.outDim, xhat: xhat[i].p, rstd: rstd[i].p, gain: g,
                                      dgain: gg, dbias: gg.map { $0 + l.outDim }, dx: dy)
            }
            if let m = mask[i] {
                if T.self == Float.self { FloatKernels.multiply(Ops.FM(dy), by: Ops.F(m.p), n) } else { for j in 0..<n { dy[j] *= m.p[j] } }
            }
            let xin = i == 0 ? input.p : out[i - 1].p
            let dw = grads.map { $0 + spec.offsets[i] }
            let needDx = i > 0 || wantInputGrad
            let dxTarget: UnsafeMutablePointer<T>? = needDx ? (i == 0 ? dInput.p : other) : nil
            Ops.linearBackward(dy: dy, x: xin, rows: rows, inDim: l.inDim, outDim: l.outDim, w: w,
                               dw: dw, db: dw.map { $0 + l.outDim * l.inDim }, dx: dxTarget, accumulateDx: false)
            swap(&dy, &other)
        }
    }
}
