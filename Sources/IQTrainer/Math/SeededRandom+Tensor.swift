import IQKernels

extension SeededRandom {
    /// `n` standard normals into a trainer tensor.
    public mutating func fillNormal<T: TrainScalar>(_ p: UnsafeMutablePointer<T>, _ n: Int) {
        for i in 0..<n { p[i] = T(normal()) }
    }
}
