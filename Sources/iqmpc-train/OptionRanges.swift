import ArgumentParser

/// Refuses a size option outside its range at parse time, naming the flag, so a typo ends in a
/// usage error rather than an allocation trap, a division by zero or a NaN loss later.
/// `whyUpper` explains the upper bound and is shown only when that is what was exceeded.
func requireRange(_ flag: String, _ value: Int, _ range: ClosedRange<Int>, whyUpper: String = "") throws {
    guard range.contains(value) else {
        let why = value > range.upperBound && !whyUpper.isEmpty ? " (\(whyUpper))" : ""
        throw ValidationError("--\(flag) must be in \(range.lowerBound)...\(range.upperBound), got \(value)" + why)
    }
}

func requireRange(_ flag: String, _ value: Int?, _ range: ClosedRange<Int>, whyUpper: String = "") throws {
    if let value { try requireRange(flag, value, range, whyUpper: whyUpper) }
}

/// Why `--batch` has an upper bound, shared by the help of `bc` and `run`.
let batchBoundWhy = "it sizes the update's buffers (2B rows); larger would not fit in memory"
