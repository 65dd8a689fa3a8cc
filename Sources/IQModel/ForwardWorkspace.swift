import IQKernels

/// Scratch memory for forward passes, sized once for at most `maxRows` batch rows.
///
/// One per thread: forward passes write intermediate activations here, so two threads
/// sharing a workspace would corrupt each other. `@unchecked Sendable` so a workspace can
/// be handed to the worker thread that will own it; it must not be used concurrently.
public final class ForwardWorkspace: @unchecked Sendable {
    public let maxRows: Int
    let width: Int
    /// Ping-pong activation buffers, `[maxRows, width]` each.
    let a: UnsafeMutablePointer<Float>
    let b: UnsafeMutablePointer<Float>
    /// One row of a first layer's latent part shared by the whole batch, `[width]`.
    let sharedRow: UnsafeMutablePointer<Float>
    /// Second head's output for `qPair`, `[maxRows]`.
    let qScratch: UnsafeMutablePointer<Float>
    /// `qCalls`: the second call's first-layer output `[maxRows, width]`, its second head's
    /// output `[maxRows]`, and one block of shared latent products `[PackedGemm.blockRows, width]`.
    let c: UnsafeMutablePointer<Float>
    let qScratch2: UnsafeMutablePointer<Float>
    let block: UnsafeMutablePointer<Float>

    public init(config: ModelConfig, maxRows: Int) {
        // Not `precondition`: numeric targets build with -Ounchecked, which removes those.
        if maxRows < 1 || maxRows > 1 << 24 { fatalError("ForwardWorkspace needs 1 ≤ maxRows ≤ 2^24, got \(maxRows)") }
        let layout = TensorLayout(config)
        self.maxRows = maxRows
        width = layout.maxWidth
        func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        a = buffer(maxRows * width)
        b = buffer(maxRows * width)
        sharedRow = buffer(width)
        qScratch = buffer(maxRows)
        c = buffer(maxRows * width)
        qScratch2 = buffer(maxRows)
        block = buffer(PackedGemm.blockRows * width)
    }

    public convenience init(model: WorldModel, maxRows: Int) {
        self.init(config: model.config, maxRows: maxRows)
    }

    deinit {
        a.deallocate(); b.deallocate(); sharedRow.deallocate(); c.deallocate(); qScratch2.deallocate(); block.deallocate(); qScratch.deallocate()
    }
}
