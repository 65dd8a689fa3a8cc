import Foundation

/// The safetensors container (https://huggingface.co/docs/safetensors): an 8-byte
/// little-endian header length N, N bytes of JSON header, then the raw tensor bytes.
/// Only what the weights file needs: F32 tensors and a string→string `__metadata__`.
///
/// Everything read from disk is treated as hostile: every length, offset and shape is
/// checked before it is used, and failures are `WeightsError`s naming the tensor.
enum SafeTensors {
    /// Headers larger than this are refused before allocation (real ones are a few KiB).
    static let maxHeaderBytes = 16 << 20
    /// Files larger than this are refused (the paper preset is ~17 MB).
    static let maxFileBytes = 2 << 30

    struct Contents {
        var metadata: [String: String]
        var tensors: [String: (shape: [Int], values: [Float])]
    }

    static func read(path: String) throws -> Contents {
        let attrs: [FileAttributeKey: Any]
        do { attrs = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw WeightsError.io("cannot open \(path): \(error.localizedDescription)")
        }
        if let size = attrs[.size] as? NSNumber, size.int64Value > Int64(maxFileBytes) {
            throw WeightsError.io("\(path) is \(size) bytes, above the \(maxFileBytes)-byte limit")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw WeightsError.io("cannot read \(path): \(error.localizedDescription)")
        }
        return try decode([UInt8](data))
    }

    static func decode(_ bytes: [UInt8]) throws -> Contents {
        guard bytes.count >= 8 else {
            throw WeightsError.format("file is \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(bytes[k]) << (8 * UInt64(k)) }
        guard n >= 2 else { throw WeightsError.format("header length \(n) is too small for a JSON object") }
        guard n <= UInt64(maxHeaderBytes) else {
            throw WeightsError.format("header length \(n) exceeds the \(maxHeaderBytes)-byte limit")
        }
        guard n <= UInt64(bytes.count - 8) else {
            throw WeightsError.format("header length \(n) runs past the end of the \(bytes.count)-byte file (truncated?)")
        }
        let headerEnd = 8 + Int(n)
        let json = try JSONParser.parse(Array(bytes[8..<headerEnd]))
        guard case .object(let top) = json else { throw WeightsError.format("header is not a JSON object") }
        let dataSize = bytes.count - headerEnd

        var metadata: [String: String] = [:]
        if let m = top["__metadata__"] {
            guard case .object(let md) = m else { throw WeightsError.format("__metadata__ is not an object") }
            for (k, v) in md {
                guard let s = v.stringValue else { throw WeightsError.format("__metadata__[\"\(k)\"] is not a string") }
                metadata[k] = s
            }
        }

        var spans: [(begin: Int, end: Int, name: String)] = []
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        for (name, entry) in top where name != "__metadata__" {
            func bad(_ p: String) -> WeightsError { .tensor(name: name, problem: p) }
            guard case .object(let e) = entry else { throw bad("header entry is not an object") }
            guard let dtype = e["dtype"]?.stringValue else { throw bad("missing dtype") }
            guard dtype == "F32" else { throw bad("dtype \(dtype) is not supported (only F32)") }
            guard case .array(let sh)? = e["shape"] else { throw bad("missing shape") }
            guard sh.count <= 8 else { throw bad("shape has \(sh.count) dimensions") }
            var shape: [Int] = []
            var count = 1
            for d in sh {
                guard let v = d.intValue, v >= 0, v <= 1 << 30 else { throw bad("shape entry is not a small non-negative integer") }
                shape.append(v)
                let (p, o) = count.multipliedReportingOverflow(by: v)
                guard !o, p <= 1 << 30 else { throw bad("shape \(shape) has too many elements") }
                count = p
            }
            guard case .array(let off)? = e["data_offsets"], off.count == 2,
                  let begin = off[0].intValue, let end = off[1].intValue else {
                throw bad("data_offsets must be two integers")
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw bad("data_offsets [\(begin), \(end)] outside the \(dataSize)-byte data section (truncated?)")
            }
            guard end - begin == count * 4 else {
                throw bad("data_offsets span \(end - begin) bytes but shape \(shape) needs \(count * 4)")
            }
            spans.append((begin, end, name))
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { dst in
                bytes.withUnsafeBytes { src in
                    dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(headerEnd + begin)..<(headerEnd + end)]))
                }
            }
            #if _endian(big)
            for k in values.indices { values[k] = Float(bitPattern: UInt32(littleEndian: values[k].bitPattern)) }
            #endif
            tensors[name] = (shape, values)
        }
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for k in spans.indices.dropFirst() where spans[k].begin < spans[k - 1].end {
            throw WeightsError.tensor(name: spans[k].name, problem: "data overlaps tensor \"\(spans[k - 1].name)\"")
        }
        return Contents(metadata: metadata, tensors: tensors)
    }

    /// Serialises tensors in the given order, header padded with spaces to 8 bytes so the
    /// data section is aligned for memory-mapping readers.
    static func encode(metadata: [String: String], tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)]) -> [UInt8] {
        var header = "{\"__metadata__\":{"
        header += metadata.keys.sorted().map { JSONWriter.quote($0) + ":" + JSONWriter.quote(metadata[$0]!) }.joined(separator: ",")
        header += "}"
        var offset = 0
        for t in tensors {
            let bytes = t.values.count * 4
            header += "," + JSONWriter.quote(t.name) + ":{\"dtype\":\"F32\",\"shape\":["
                + t.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        header += "}"
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + h.count + offset)
        var n = UInt64(h.count)
        for _ in 0..<8 { out.append(UInt8(n & 0xFF)); n >>= 8 }
        out += h
        for t in tensors {
            for v in t.values {
                var b = v.bitPattern.littleEndian
                withUnsafeBytes(of: &b) { out.append(contentsOf: $0) }
            }
        }
        return out
    }
}
