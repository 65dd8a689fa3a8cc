/// IQKernels: numeric building blocks on caller-owned memory, shared by the runtime's
/// forward passes (IQModel), the planner and the trainer. Nothing here allocates.
///
/// Owned by the inference module (the planner owns Random*, TopK*, Clock* in this target):
/// - `Gemm.linear` — `y = x·Wᵀ` through single-threaded OpenBLAS (sgemm; sgemv for one row or
///   one output), PyTorch `[out, in]` weight layout. `Gemm.useSingleThread()` pins OpenBLAS.
/// - `NormedLinear` — one layer (Linear → LayerNorm(eps 1e-5) → Mish | SimNorm, or plain Linear)
///   over weights owned elsewhere; GEMM over the batch, then a fused per-row epilogue.
/// - `Activations` — Mish (`mish8`, buffer and scalar; one exponential per element), softplus,
///   SimNorm, LayerNorm, `biasLayerNorm` (fused bias + LN + activation), `softmax8`.
/// - `vexp`, `reciprocal8`, `hmax`, `hsum` — eight-lane helpers that compile to straight AVX2/FMA
///   code (the generic SIMD reductions and conversions do not; see each doc comment).
public enum IQKernelsModule {}
