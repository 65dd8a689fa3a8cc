import COpenBLAS
import Foundation
import IQKernels

/// The trainer's arithmetic is generic so that the finite-difference gradient checks can run
/// the very same code in Double (where central differences are accurate to ~1e-8) while
/// training runs in Float on sgemm. Release builds compile the module whole, so every generic
/// here is specialised; debug test builds only use tiny networks.
public protocol TrainScalar: BinaryFloatingPoint, Sendable where Self.RawSignificand: FixedWidthInteger {
    /// C = alpha * op(A) * op(B) + beta * C, row-major (OpenBLAS).
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    static func expo(_ x: Self) -> Self
    static func logn(_ x: Self) -> Self
    static func tanhf(_ x: Self) -> Self
    static func log1pf(_ x: Self) -> Self
    /// y[i] = exp(x[i]) over a buffer; Float uses the runtime's 8-wide `vexp` (one exp per element
    /// is the cost floor of Mish and SimNorm, which dominate the non-GEMM time).
    static func vexp(_ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, _ n: Int)
}

@inline(__always)
private func blasTrans(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

extension Float: TrainScalar {
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        // Counted only while timing (the single-threaded benchmark): the meter is not thread-safe.
        if GemmMeter.timing { GemmMeter.count(m, n, k) }
        let t0 = GemmMeter.timing ? GemmMeter.now() : 0
        cblas_sgemm(CblasRowMajor, blasTrans(transA), blasTrans(transB), Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        if GemmMeter.timing { GemmMeter.nanoseconds += GemmMeter.now() &- t0 }
    }
    @inline(__always) public static func expo(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) public static func logn(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) public static func tanhf(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) public static func log1pf(_ x: Float) -> Float { Foundation.log1p(x) }
    public static func vexp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        IQKernels.vexp(x, into: y, count: n)
    }
}

extension Double: TrainScalar {
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_dgemm(CblasRowMajor, blasTrans(transA), blasTrans(transB), Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    @inline(__always) public static func expo(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func logn(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) public static func tanhf(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) public static func log1pf(_ x: Double) -> Double { Foundation.log1p(x) }
    public static func vexp(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int) {
        for i in 0..<n { y[i] = Foundation.exp(x[i]) }
    }
}

/// Counts the multiply-adds the update issues, so the benchmark can state the update's
/// effective GFLOP/s beside the raw sgemm rate, and (only while `timing` is on) the time
/// spent inside the products themselves, so their own rate can be compared with sgemm's.
/// Only the benchmark reads it; the counters are plain variables bumped from the single
/// training thread. With `timing` off a product costs one extra branch.
public enum GemmMeter {
    nonisolated(unsafe) public static var flops: Double = 0
    /// Wall-clock nanoseconds inside `cblas_sgemm` calls while `timing` is on.
    nonisolated(unsafe) public static var nanoseconds: UInt64 = 0
    nonisolated(unsafe) public static var calls = 0
    nonisolated(unsafe) public static var timing = false
    @inline(__always) static func count(_ m: Int, _ n: Int, _ k: Int) {
        flops += 2 * Double(m) * Double(n) * Double(k)
        calls += 1
    }
    @inline(__always) static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
