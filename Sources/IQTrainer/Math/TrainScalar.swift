import COpenBLAS
import Foundation

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
    /// y[i] = exp(x[i]) over a buffer; Float uses an 8-wide polynomial (one exp per element
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
        GemmMeter.count(m, n, k)
        cblas_sgemm(CblasRowMajor, blasTrans(transA), blasTrans(transB), Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    @inline(__always) public static func expo(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) public static func logn(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) public static func tanhf(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) public static func log1pf(_ x: Float) -> Float { Foundation.log1p(x) }
    public static func vexp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: FastExp.exp8(v), as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { y[i] = FastExp.exp1(x[i]); i += 1 }
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

/// Cody-Waite range reduction + degree-6 polynomial; max relative error ~2 ulp on the
/// clamped range [-87, 88], which is all Mish/SimNorm/Adam ever feed it.
enum FastExp {
    @inline(__always)
    static func exp8(_ xin: SIMD8<Float>) -> SIMD8<Float> {
        // (SIMD `clamped` and `rounded` are not inlined generically; spell them out.)
        let lo = SIMD8<Float>(repeating: -87.0), hi = SIMD8<Float>(repeating: 88.0)
        var x = xin.replacing(with: lo, where: xin .< lo)
        x.replace(with: hi, where: x .> hi)
        let log2e: Float = 1.44269504088896341
        // Round to nearest by the 1.5·2^23 trick (|x·log2e| < 2^22).
        let magic = SIMD8<Float>(repeating: 12_582_912.0)
        let fx = (x * log2e + magic) - magic
        // x - fx*ln2 in two pieces for accuracy.
        var r = x - fx * 0.693359375
        r = r + fx * 2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let r2 = r * r
        let y = p * r2 + r + 1
        // fx is an integer in [-126, 127]: adding 1.5·2^23 + 127 puts fx + 127 in the low
        // mantissa bits (the generic SIMD float→int conversion is a scalar loop in Swift).
        let biased = unsafeBitCast(fx + 12_583_039.0, to: SIMD8<UInt32>.self) &- 0x4B40_0000
        let pow2 = unsafeBitCast(biased &<< 23, to: SIMD8<Float>.self)
        return y * pow2
    }

    @inline(__always)
    static func exp1(_ x: Float) -> Float {
        exp8(SIMD8(repeating: x))[0]
    }
}

/// Counts the multiply-adds the update issues, so the benchmark can state the update's
/// effective GFLOP/s beside the raw sgemm rate. Only the benchmark reads it; the counter is
/// a plain integer bumped from the single training thread.
public enum GemmMeter {
    nonisolated(unsafe) public static var flops: Double = 0
    @inline(__always) static func count(_ m: Int, _ n: Int, _ k: Int) { flops += 2 * Double(m) * Double(n) * Double(k) }
}
