import COpenBLAS

/// Dense products through OpenBLAS, always single-threaded.
///
/// Why single-threaded: multi-threaded OpenBLAS mallocs a 512 KiB buffer on every
/// `cblas_sgemm` call (docs/platform.md), which breaks the allocation-free hot path.
/// Callers that want parallelism split rows across their own threads.
public enum Gemm {
    /// Pins OpenBLAS to one thread. Cheap and idempotent; called by every model constructor
    /// so that no caller can forget it.
    public static func useSingleThread() {
        openblas_set_num_threads(1)
    }

    /// `y[r, :] = x[r, :] · Wᵀ (+ bias)` for `rows` rows, PyTorch `nn.Linear` layout:
    /// `weight` is `[outDim, inDim]` row-major with leading dimension `ldw` (≥ inDim,
    /// larger when multiplying by a column block of a wider weight).
    /// `accumulate` adds into `y` instead of overwriting it.
    ///
    /// One row (the policy-prior fallback) and one output (the Q heads' last layer) go through
    /// `sgemv`: OpenBLAS's sgemm with M = 1 measured 5–6× slower than sgemv on 1×512×533.
    @inline(__always)
    public static func linear(
        x: UnsafePointer<Float>, ldx: Int, rows: Int, inDim: Int,
        weight: UnsafePointer<Float>, ldw: Int, outDim: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false
    ) {
        let beta: Float = accumulate ? 1 : 0
        if rows == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(outDim), blasint(inDim),
                        1.0, weight, blasint(ldw), x, 1, beta, y, 1)
            return
        }
        if outDim == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(rows), blasint(inDim),
                        1.0, x, blasint(ldx), weight, 1, beta, y, blasint(ldy))
            return
        }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans,
            blasint(rows), blasint(outDim), blasint(inDim),
            1.0, x, blasint(ldx), weight, blasint(ldw),
            beta, y, blasint(ldy))
    }

    /// Plain `C[m, n] = A[m, k] · B[n, k]ᵀ`, the shape every layer uses. For benchmarks that
    /// compare the model's throughput with the machine's raw sgemm rate on the same shapes.
    public static func rawNT(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans,
            blasint(m), blasint(n), blasint(k),
            1.0, a, blasint(k), b, blasint(k), 0.0, c, blasint(n))
    }
}
