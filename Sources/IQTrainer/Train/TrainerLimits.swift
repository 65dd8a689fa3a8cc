/// Bounds on the trainer's size options, checked before anything is allocated: a batch sizes
/// the sample buffers and the loss workspaces (2B rows each, times the horizon), so an absurd
/// value would otherwise end in the runtime's "failed to allocate" trap, and 0 in NaN losses.
public enum TrainerLimits {
    /// B (half the rows of an update). 16384 keeps a large-preset update's buffers in the
    /// low gigabytes; the paper uses 256.
    public static let batch = 1...16_384
    /// Updates per environment step: 0 would never train after the seed phase; 64 already
    /// makes the updates 64 times a run's usual cost, so a larger value is taken for a typo.
    public static let updatesPerStep = 1...64

    /// Throws a message naming the option when `value` is outside `range`.
    public static func check(_ option: String, _ value: Int, in range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw TrainError.badInput("\(option) \(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
    }
}
