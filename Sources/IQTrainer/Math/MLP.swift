import IQKernels
import IQModel

/// Activations of one call site (sized once for `maxRows`) plus backward scratch.
///
/// With a `WorkerPool` (`useThreads`) every pass is split by rows over the pool's partitions:
/// rows are independent through a network, so each partition runs all layers on its own
/// block; the parameter gradients of partitions 1... go to private buffers that are added
/// to the caller's in partition order. The partition of a given row count is fixed, so a
/// run is deterministic for a given thread count. Dropout masks are drawn before the
/// split, in the single-thread order.
public final class MLPCache<T: TrainScalar>: @unchecked Sendable {
    // Safety: owned and used by a single training thread; while a pass is split, partition p
    // writes only its own rows and its own gradient buffer, and the pool's hand-off orders it.
    public let spec: NetworkSpec
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
    /// The gradient at the first Linear's output (rows x layer-0 outDim) after `backward`,
    /// one contiguous matrix whatever the split (`addInputGrad` reads it).
    let d0: Tensor<T>
    public private(set) var rows = 0
    /// The input rows of the last forward pass (`input` or the caller's buffer).
    public private(set) var inputPointer: UnsafePointer<T>
    var firstLayerGrad: UnsafeMutablePointer<T> { d0.p }

    /// Row-split execution; nil or a pool without workers: everything on the calling thread.
    private(set) var pool: WorkerPool?
    /// Row blocks a split pass is cut into: twice the threads, so that when the OS leaves one
    /// thread unscheduled (a loaded machine) the others claim its blocks instead of waiting.
    private(set) var splitCount = 1
    /// Parameter gradients of partitions 1..<partitions (partition 0 adds into the caller's).
    private var partGrads: [Tensor<T>] = []
    /// The pending split pass (set before `pool.run(self)`).
    private var job = Job()

    struct Job {
        enum Kind { case forward, backward, inputGrad }
        var kind = Kind.forward
        var params: UnsafePointer<T>? = nil
        var grads: UnsafeMutablePointer<T>? = nil
        var dOut: UnsafePointer<T>? = nil
        var rows = 0
        var needsBackward = true
        var wantInputGrad = false
        var rowStart = 0
        var columns = 0..<0
        var dst: UnsafeMutablePointer<T>? = nil
        var ld = 0
        var accumulate = false
    }

    public init(spec: NetworkSpec, maxRows: Int, keepsPreActivation: Bool = false) {
        self.spec = spec
        self.maxRows = maxRows
        self.keepsPreActivation = keepsPreActivation
        input = Tensor(maxRows * spec.inDim)
        dInput = Tensor(maxRows * spec.inDim)
        inputPointer = UnsafePointer(input.p)
        let fused = T.self == Float.self
        for l in spec.layers {
            let n = maxRows * l.outDim
            let fusedMish = fused && l.hasNorm && l.activation == .mish
            xhat.append(Tensor(l.hasNorm ? n : 0))
            rstd.append(Tensor(l.hasNorm ? maxRows : 0))
            actIn.append(Tensor(l.hasNorm && (!fusedMish || keepsPreActivation) ? n : 0))
            deriv.append(Tensor(fusedMish ? n : 0))
            out.append(Tensor(n))
            mask.append(l.dropout ? Tensor(n) : nil)
            maskOn.append(false)
        }
        let w = maxRows * spec.maxWidth
        g1 = Tensor(w); g2 = Tensor(w); scratch = Tensor(w)
        d0 = Tensor(maxRows * spec.layers[0].outDim)
    }

    /// Splits every later pass over `pool`'s partitions (allocates the private gradients now).
    public func useThreads(_ pool: WorkerPool?) {
        self.pool = pool
        splitCount = (pool?.partitions ?? 1) > 1 ? 2 * pool!.partitions : 1
        partGrads = (0..<(splitCount - 1)).map { _ in Tensor<T>(spec.paramCount) }
    }

    public var output: UnsafeMutablePointer<T> { out[out.count - 1].p }

    /// Layer i's dropout mask if it was applied in the last forward pass.
    func activeMask(_ i: Int) -> Tensor<T>? { maskOn[i] ? mask[i] : nil }

    /// Partitions a pass of `rows` rows is split into (1: not split). Small passes stay whole.
    @inline(__always)
    func partitions(rows: Int) -> Int {
        splitCount > 1 && rows >= 32 * splitCount ? splitCount : 1
    }

    /// Rows [start, start + count) of partition p of P: fixed by (rows, P) alone; block
    /// starts are multiples of 8 so sgemm sees aligned row blocks.
    @inline(__always)
    static func block(rows: Int, partition p: Int, of parts: Int) -> (start: Int, count: Int) {
        @inline(__always) func cut(_ q: Int) -> Int { q >= parts ? rows : (rows * q / parts) & ~7 }
        let a = cut(p)
        return (a, cut(p + 1) - a)
    }

    /// `dropout` > 0 draws fresh inverted-dropout masks from `rng` for layers that have dropout.
    /// `input`: rows x inDim read in place of `self.input` (it must stay unchanged until the
    /// matching `backward`). `needsBackward: false` skips what only a backward pass reads.
    @discardableResult
    public func forward(params: UnsafePointer<T>, rows: Int, dropout: Double, rng: inout SeededRandom,
                        input external: UnsafePointer<T>? = nil, needsBackward: Bool = true) -> UnsafeMutablePointer<T> {
        precondition(rows <= maxRows)
        self.rows = rows
        inputPointer = external ?? UnsafePointer(input.p)
        for (i, l) in spec.layers.enumerated() {
            maskOn[i] = false
            if let m = mask[i], dropout > 0 {
                maskOn[i] = true
                let keep = 1 - dropout
                let scale = T(1 / keep)
                // Keep when a 53-bit uniform is below `keep` (as `uniform() < keep`).
                let limit = UInt64(keep * 0x1.0p53)
                let mp = m.p
                for j in 0..<(rows * l.outDim) { mp[j] = (rng.next() >> 11) < limit ? scale : 0 }
            }
        }
        let parts = partitions(rows: rows)
        if parts == 1 {
            forwardRows(params: params, start: 0, count: rows, needsBackward: needsBackward)
        } else {
            job.kind = .forward
            job.params = params
            job.rows = rows
            job.needsBackward = needsBackward
            pool!.run(self, partitions: parts)
        }
        return out[out.count - 1].p
    }

    /// The forward pass of rows [r0, r0 + count) through every layer.
    func forwardRows(params: UnsafePointer<T>, start r0: Int, count rows: Int, needsBackward: Bool) {
        var x = inputPointer + r0 * spec.inDim
        for (i, l) in spec.layers.enumerated() {
            let w = params + spec.offsets[i]
            let b = w + l.outDim * l.inDim
            let n = rows * l.outDim
            let o = r0 * l.outDim
            let fusedMish = T.self == Float.self && l.hasNorm && l.activation == .mish
            let y = out[i].p + o
            let pre = l.hasNorm ? (fusedMish ? y : actIn[i].p + o) : y
            Ops.linearForward(x, rows: rows, inDim: l.inDim, w: w, b: b, outDim: l.outDim, y: pre)
            if maskOn[i], let m = mask[i] {
                let mp = m.p + o
                for j in 0..<n { pre[j] *= mp[j] }
            }
            if l.hasNorm {
                let g = b + l.outDim
                if fusedMish {
                    // LayerNorm + Mish in place on out[i] (each row is read fully before it is written).
                    FusedKernels.layerNormMishForward(Ops.F(pre), rows: rows, n: l.outDim, gain: Ops.F(g),
                                                      bias: Ops.F(g + l.outDim),
                                                      xhat: needsBackward ? Ops.FM(xhat[i].p + o) : nil,
                                                      rstd: Ops.FM(rstd[i].p + r0),
                                                      preAct: keepsPreActivation ? Ops.FM(actIn[i].p + o) : nil,
                                                      deriv: needsBackward ? Ops.FM(deriv[i].p + o) : nil,
                                                      y: Ops.FM(y))
                } else {
                    let a = actIn[i].p + o
                    Ops.layerNormForward(pre, rows: rows, n: l.outDim, gain: g, bias: g + l.outDim,
                                         xhat: xhat[i].p + o, rstd: rstd[i].p + r0, y: a)
                    switch l.activation {
                    case .mish: Ops.mishForward(a, y, n)
                    case .simNorm(let group): Ops.simNormForward(a, y, count: n, group: group)
                    case .none: y.update(from: a, count: n)
                    }
                }
            }
            x = UnsafePointer(y)
        }
    }

    /// Back-propagates `dOut` (rows x outDim) through the stored activations. Parameter
    /// gradients are added into `grads` (nil: parameters frozen, only the input gradient).
    /// `rows` may be smaller than the forward's rows: the first rows are used.
    /// With `wantInputGrad: false` the input gradient can still be taken afterwards, for a
    /// block of rows and columns, with `addInputGrad`.
    public func backward(params: UnsafePointer<T>, grads: UnsafeMutablePointer<T>?, dOut: UnsafePointer<T>,
                         rows: Int, wantInputGrad: Bool) {
        precondition(rows <= self.rows)
        let parts = partitions(rows: rows)
        if parts == 1 {
            backwardRows(params: params, grads: grads, dOut: dOut, start: 0, count: rows, wantInputGrad: wantInputGrad,
                         scratchRow: 0)
            return
        }
        job.kind = .backward
        job.params = params
        job.grads = grads
        job.dOut = dOut
        job.rows = rows
        job.wantInputGrad = wantInputGrad
        pool!.run(self, partitions: parts)
        // Fixed-order reduction: partition 0 already added into `grads`, then 1, 2, ...
        if let grads {
            for p in 1..<parts {
                let src = partGrads[p - 1].p
                for j in 0..<spec.paramCount { grads[j] += src[j] }
            }
        }
    }

    /// The backward pass of rows [r0, r0 + count). `scratchRow`: where this partition's
    /// rows start in the g1/g2/scratch buffers (disjoint between partitions).
    func backwardRows(params: UnsafePointer<T>, grads: UnsafeMutablePointer<T>?, dOut: UnsafePointer<T>,
                      start r0: Int, count rows: Int, wantInputGrad: Bool, scratchRow: Int) {
        let last = spec.layers.count - 1
        let sOff = scratchRow * spec.maxWidth
        // Where layer i's output gradient lives: layer 0's in `d0` (contiguous for
        // `addInputGrad`), the others alternating between g1 and g2.
        @inline(__always) func slot(_ i: Int) -> UnsafeMutablePointer<T> {
            i == 0 ? d0.p + r0 * spec.layers[0].outDim : ((last - i) % 2 == 0 ? g1.p : g2.p) + sOff
        }
        let scr = scratch.p + sOff
        slot(last).update(from: dOut + r0 * spec.outDim, count: rows * spec.outDim)
        // (per-row gradient, weight row) of a 1-output last Linear whose input gradient the
        // fused backward of the layer below forms on the fly (a Q head's last layer).
        var outer: (s: UnsafePointer<Float>, w: UnsafePointer<Float>)? = nil
        for i in stride(from: last, through: 0, by: -1) {
            let l = spec.layers[i]
            let dy = slot(i)
            let w = params + spec.offsets[i]
            let n = rows * l.outDim
            let o = r0 * l.outDim
            let dw = grads.map { $0 + spec.offsets[i] }
            var biasDone = false
            if l.hasNorm {
                let g = w + l.outDim * l.inDim + l.outDim
                let gg = grads.map { $0 + spec.offsets[i] + l.outDim * l.inDim + l.outDim }
                if T.self == Float.self && l.activation == .mish {
                    FusedKernels.normedBackward(dy: Ops.FM(dy), rows: rows, n: l.outDim, deriv: Ops.F(deriv[i].p + o),
                                                xhat: Ops.F(xhat[i].p + o), rstd: Ops.F(rstd[i].p + r0), gain: Ops.F(g),
                                                dgain: gg.map(Ops.FM), dbias: gg.map { Ops.FM($0 + l.outDim) },
                                                mask: activeMask(i).map { Ops.F($0.p + o) },
                                                db: dw.map { Ops.FM($0 + l.outDim * l.inDim) }, outer: outer)
                    outer = nil
                    biasDone = true
                } else {
                    switch l.activation {
                    case .mish: Ops.mishBackward(x: actIn[i].p + o, dy: dy, dx: dy, scratch: scr, n)
                    case .simNorm(let group): Ops.simNormBackward(y: out[i].p + o, dy: dy, dx: dy, count: n, group: group)
                    case .none: break
                    }
                    Ops.layerNormBackward(dy: dy, rows: rows, n: l.outDim, xhat: xhat[i].p + o, rstd: rstd[i].p + r0,
                                          gain: g, dgain: gg, dbias: gg.map { $0 + l.outDim }, dx: dy)
                }
            }
            if !biasDone, let m = activeMask(i) {
                if T.self == Float.self { FloatKernels.multiply(Ops.FM(dy), by: Ops.F(m.p + o), n) } else { for j in 0..<n { dy[j] *= m.p[o + j] } }
            }
            let xin = i == 0 ? inputPointer + r0 * l.inDim : UnsafePointer(out[i - 1].p + r0 * l.inDim)
            var needDx = i > 0 || wantInputGrad
            if T.self == Float.self, i > 0, i == last, !l.hasNorm, l.outDim == 1,
               spec.layers[i - 1].hasNorm, spec.layers[i - 1].activation == .mish {
                outer = (Ops.F(dy), Ops.F(w))
                needDx = false
            }
            let dxTarget: UnsafeMutablePointer<T>? = needDx ? (i == 0 ? dInput.p + r0 * l.inDim : slot(i - 1)) : nil
            Ops.linearBackward(dy: dy, x: xin, rows: rows, inDim: l.inDim, outDim: l.outDim, w: w,
                               dw: dw, db: biasDone ? nil : dw.map { $0 + l.outDim * l.inDim }, dx: dxTarget,
                               accumulateDx: false)
        }
    }

    /// After `backward`: dst[r, c] (+)= ∂/∂input[rowStart + r, columns.lowerBound + c] for a block
    /// of the input gradient, straight into the caller's buffer (row stride `ld`), so a caller
    /// that only needs some columns (the latent part of [z | a], or the action part) neither
    /// computes the others nor copies. `accumulate` adds into dst (sgemm beta = 1).
    public func addInputGrad(params: UnsafePointer<T>, rowStart: Int, rows: Int, columns: Range<Int>,
                             into dst: UnsafeMutablePointer<T>, ld: Int, accumulate: Bool) {
        let parts = partitions(rows: rows)
        if parts == 1 {
            inputGradRows(params: params, rowStart: rowStart, rows: rows, columns: columns, into: dst, ld: ld,
                          accumulate: accumulate)
            return
        }
        job.kind = .inputGrad
        job.params = params
        job.rowStart = rowStart
        job.rows = rows
        job.columns = columns
        job.dst = dst
        job.ld = ld
        job.accumulate = accumulate
        pool!.run(self, partitions: parts)
    }

    func inputGradRows(params: UnsafePointer<T>, rowStart: Int, rows: Int, columns: Range<Int>,
                       into dst: UnsafeMutablePointer<T>, ld: Int, accumulate: Bool) {
        let l = spec.layers[0]
        T.gemm(transA: false, transB: false, m: rows, n: columns.count, k: l.outDim, alpha: 1,
               a: firstLayerGrad + rowStart * l.outDim, lda: l.outDim, b: params + spec.offsets[0] + columns.lowerBound,
               ldb: l.inDim, beta: accumulate ? 1 : 0, c: dst, ldc: ld)
    }
}

extension MLPCache: PartitionedJob {
    /// One partition of the pending pass (`job`). Called through the protocol, whose witness
    /// is the unspecialised generic code (value-witness calls per element): the Float case
    /// goes straight to the Float-specialised body.
    public func run(partition p: Int) {
        if T.self == Float.self {
            unsafeDowncast(self, to: MLPCache<Float>.self).runPartition(p)
        } else {
            runPartition(p)
        }
    }

    func runPartition(_ p: Int) {
        let (r0, n) = Self.block(rows: job.rows, partition: p, of: splitCount)
        guard n > 0 else { return }
        switch job.kind {
        case .forward:
            forwardRows(params: job.params!, start: r0, count: n, needsBackward: job.needsBackward)
        case .backward:
            var g = job.grads
            if g != nil && p > 0 {
                partGrads[p - 1].zero()
                g = partGrads[p - 1].p
            }
            backwardRows(params: job.params!, grads: g, dOut: job.dOut!, start: r0, count: n,
                         wantInputGrad: job.wantInputGrad, scratchRow: r0)
        case .inputGrad:
            inputGradRows(params: job.params!, rowStart: job.rowStart + r0, rows: n, columns: job.columns,
                          into: job.dst! + r0 * job.ld, ld: job.ld, accumulate: job.accumulate)
        }
    }
}
