import Foundation
import IQCalibration

/// Calibration harness: the input is a whole calibration file, given to
/// `Calibration.parse(data:)`, which `Calibration.load(path:)` calls on the file's bytes
/// (size cap, UTF-8, nesting bound, YAML, every field's checks, validation).
@_cdecl("LLVMFuzzerTestOneInput")
public func calibrationFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        let calibration = try Calibration.parse(data: Data(bytes: data, count: size))
        precondition(!calibration.observations.isEmpty && !calibration.actions.isEmpty)
    } catch {
        _ = error.description
    }
    return 0
}
