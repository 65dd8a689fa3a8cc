import IQKernels

extension WorldModel {
    /// One two-of-K Q call (docs/algorithm.md §1.6): its head pair, actions, how the pair combines, and where
    /// the `[rows]` result goes.
    public struct QCall {
        public var heads: (Int, Int)
        public var actions: UnsafePointer<Float>
        public var reduce: QReduction
        public var out: UnsafeMutablePointer<Float>
        public init(heads: (Int, Int), actions: UnsafePointer<Float>, reduce: QReduction, out: UnsafeMutablePointer<Float>) {
            self.heads = heads; self.actions = actions; self.reduce = reduce; self.out = out
        }
    }

    /// Two Q calls on the same latents `z` (`[rows, L]`): the planner's V_{t+1} and q_{t+1} (or
    /// the terminal value) at z_{t+1}. A head drawn by both calls computes its latent product
    /// once. Why: two random pairs of five share a head 80% of the time, and the latent part of
    /// a first layer is most of its cost. Results are bit-identical to `qPair` per call.
    /// Returns how many heads shared their latent product (0–2), for FLOP accounting.
    @discardableResult
    public func qCalls(z: UnsafePointer<Float>, rows: Int, _ x: QCall, _ y: QCall, workspace ws: ForwardWorkspace) -> Int {
        check(ws, rows: rows)
        let k = config.numQ
        let (a, b) = x.heads, (c, d) = y.heads
        if min(a, b, c, d) < 0 || max(a, b, c, d) >= k || a == b || c == d {
            fatalError("Q calls need two distinct heads in 0..<\(k) each, got (\(a), \(b)) and (\(c), \(d))")
        }
        // Head → destination in each call (nil: the call does not use it).
        func yDestination(_ h: Int) -> UnsafeMutablePointer<Float>? { h == c ? y.out : (h == d ? ws.qScratch2 : nil) }
        var shared = 0
        shared += head(a, z: z, rows: rows, x: x.actions, into: x.out, y: y.actions, into: yDestination(a), ws: ws)
        shared += head(b, z: z, rows: rows, x: x.actions, into: ws.qScratch, y: y.actions, into: yDestination(b), ws: ws)
        if c != a && c != b { q(head: c, z: z, actions: y.actions, rows: rows, into: y.out, workspace: ws) }
        if d != a && d != b { q(head: d, z: z, actions: y.actions, rows: rows, into: ws.qScratch2, workspace: ws) }
        Self.combine(x.reduce, x.out, ws.qScratch, rows)
        Self.combine(y.reduce, y.out, ws.qScratch2, rows)
        return shared
    }

    @inline(__always)
    static func combine(_ reduce: QReduction, _ out: UnsafeMutablePointer<Float>, _ second: UnsafePointer<Float>, _ rows: Int) {
        switch reduce {
        case .min: for r in 0..<rows { out[r] = Swift.min(out[r], second[r]) }
        case .mean: for r in 0..<rows { out[r] = 0.5 * (out[r] + second[r]) }
        }
    }

    /// Head `h` for the x call and, when `yOut` is given, for the y call too (shared latent product).
    @inline(__always)
    private func head(_ h: Int, z: UnsafePointer<Float>, rows: Int, x ax: UnsafePointer<Float>, into xOut: UnsafeMutablePointer<Float>,
                      y ay: UnsafePointer<Float>, into yOut: UnsafeMutablePointer<Float>?, ws: ForwardWorkspace) -> Int {
        let first = qFirst.withUnsafeBufferPointer { $0[h] }
        guard let yOut, first.canShareLatent else {
            q(head: h, z: z, actions: ax, rows: rows, into: xOut, workspace: ws)
            if let yOut { q(head: h, z: z, actions: ay, rows: rows, into: yOut, workspace: ws) }
            return 0
        }
        first.forwardTwo(z: z, ldz: config.latentDim, rows: rows, actionsX: ax, yX: ws.a, actionsY: ay, yY: ws.c, block: ws.block)
        qLayers.withUnsafeBufferPointer { heads in
            heads[h].withUnsafeBufferPointer { ls in
                qRest(ls, input: ws.a, rows: rows, out: xOut, ws: ws)
                qRest(ls, input: ws.c, rows: rows, out: yOut, ws: ws)
            }
        }
        return 1
    }
}
