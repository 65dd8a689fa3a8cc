import IQWeightsFile

/// safetensors harness: the input is a whole weights file, given to `SafeTensors.decode`
/// (what `SafeTensors.read(path:)` runs on the file's bytes: length prefix, strict JSON
/// header, offsets and shapes). Whatever it accepts must survive a write and a re-read
/// unchanged, so a header the reader and writer understand differently is caught too.
@_cdecl("LLVMFuzzerTestOneInput")
public func safeTensorsFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let contents: SafeTensors.Contents
    do { contents = try SafeTensors.decode(bytes) } catch {
        _ = "\(error)"
        return 0
    }
    let names = contents.tensors.keys.sorted()
    let values = names.map { contents.tensors[$0]!.values }
    let encoded = values.withUnsafeBufferPointers { buffers in
        SafeTensors.encode(metadata: contents.metadata, tensors: names.indices.map {
            (name: names[$0], shape: contents.tensors[names[$0]]!.shape, values: buffers[$0])
        })
    }
    let again: SafeTensors.Contents
    do { again = try SafeTensors.decode(encoded) } catch {
        fatalError("re-reading a file written from accepted contents failed: \(error)")
    }
    precondition(again.metadata == contents.metadata, "metadata changed in a write/read round trip")
    precondition(again.tensors.keys.sorted() == names, "tensor names changed in a write/read round trip")
    for name in names {
        let a = contents.tensors[name]!, b = again.tensors[name]!
        precondition(a.shape == b.shape && a.values.map(\.bitPattern) == b.values.map(\.bitPattern),
                     "tensor \(name) changed in a write/read round trip")
    }
    return 0
}

extension Array where Element == [Float] {
    /// Buffers for every inner array at once, valid inside `body`.
    func withUnsafeBufferPointers<R>(_ body: ([UnsafeBufferPointer<Float>]) -> R) -> R {
        func go(_ k: Int, _ acc: [UnsafeBufferPointer<Float>]) -> R {
            if k == count { return body(acc) }
            return self[k].withUnsafeBufferPointer { go(k + 1, acc + [$0]) }
        }
        return go(0, [])
    }
}
