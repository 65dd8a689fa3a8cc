import Foundation
import IQJSON

/// The safetensors container (https://huggingface.co/docs/safetensors): an 8-byte
/// little-endian header length N, N bytes of JSON header, then the raw tensor bytes.
/// Only what the weights file needs: F32 tensors and a string→string `__metadata__`.
///
/// Everything read from disk is treated as hostile: every length, offset and shape is
/// checked before it is used, and failures are `WeightsError`s naming the tensor.
public enum SafeTensors {
    /// Headers larger than this are refused before allocation (real ones are a few KiB).
    public static let maxHeaderBytes = 16 << 20
    /// Files larger than this are refused (the paper preset is ~17 MB).
    public static let maxFileBytes = 2 << 30

    public struct Contents {
        public var metadata: [String: String]
        public var tensors: [String: (shape: [Int], values: [Float])]
        public init(metadata: [String: String], tensors: [String: (shape: [Int], values: [Float])]) {
            self.metadata = metadata
            self.tensors = tensors
        }
    }

    public static func read(path: String) throws -> Contents {
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

    public static func decode(_ bytes: [UInt8]) throws -> Contents {
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
        let header: Header
        do { header = try StrictJSON.decode(Header.self, from: Array(bytes[8..<headerEnd])) } catch {
            throw WeightsError.format("header: \(error)")
        }
        let dataSize = bytes.count - headerEnd

        var spans: [(begin: Int, end: Int, name: String)] = []
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        for (name, e) in header.tensors {
            func bad(_ p: String) -> WeightsError { .tensor(name: name, problem: p) }
            guard e.dtype == "F32" else { throw bad("dtype \(e.dtype) is not supported (only F32)") }
            guard e.shape.count <= 8 else { throw bad("shape has \(e.shape.count) dimensions") }
            var count = 1
            for v in e.shape {
                guard v >= 0, v <= 1 << 30 else { throw bad("shape entry \(v) is not a small non-negative integer") }
                let (p, o) = count.multipliedReportingOverflow(by: v)
                guard !o, p <= 1 << 30 else { throw bad("shape \(e.shape) has too many elements") }
                count = p
            }
            guard e.dataOffsets.count == 2 else { throw bad("data_offsets must be two integers") }
            let begin = e.dataOffsets[0], end = e.dataOffsets[1]
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw bad("data_offsets [\(begin), \(end)] outside the \(dataSize)-byte data section (truncated?)")
            }
            guard end - begin == count * 4 else {
                throw bad("data_offsets span \(end - begin) bytes but shape \(e.shape) needs \(count * 4)")
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
            tensors[name] = (e.shape, values)
        }
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for k in spans.indices.dropFirst() where spans[k].begin < spans[k - 1].end {
            throw WeightsError.tensor(name: spans[k].name, problem: "data overlaps tensor \"\(spans[k - 1].name)\"")
        }
        return Contents(metadata: header.metadata, tensors: tensors)
    }

    /// Serialises tensors in the given order, header padded with spaces to 8 bytes so the
    /// data section is aligned for memory-mapping readers.
    public static func encode(metadata: [String: String], tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)]) -> [UInt8] {
        var entries: [String: Header.Entry] = [:]
        var offset = 0
        for t in tensors {
            let bytes = t.values.count * 4
            entries[t.name] = Header.Entry(dtype: "F32", shape: t.shape, dataOffsets: [offset, offset + bytes])
            offset += bytes
        }
        // Only strings, integers and known keys: encoding cannot fail.
        let header = try! StrictJSON.encode(Header(metadata: metadata, tensors: entries))
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

    /// The JSON header: `__metadata__` (string → string, open to any keys a writer adds) and
    /// one entry per tensor. Written with sorted keys, so equal contents give equal bytes.
    struct Header: Codable {
        var metadata: [String: String]
        var tensors: [String: Entry]

        struct Entry: Codable {
            var dtype: String
            var shape: [Int]
            var dataOffsets: [Int]

            enum CodingKeys: String, CodingKey, CaseIterable {
                case dtype, shape, dataOffsets = "data_offsets"
            }

            init(dtype: String, shape: [Int], dataOffsets: [Int]) {
                self.dtype = dtype; self.shape = shape; self.dataOffsets = dataOffsets
            }

            init(from decoder: any Decoder) throws {
                try StrictJSON.rejectUnknownKeys(decoder, CodingKeys.self)
                let c = try decoder.container(keyedBy: CodingKeys.self)
                dtype = try c.decode(String.self, forKey: .dtype)
                shape = try c.decode([Int].self, forKey: .shape)
                dataOffsets = try c.decode([Int].self, forKey: .dataOffsets)
            }
        }

        static let metadataKey = "__metadata__"

        init(metadata: [String: String], tensors: [String: Entry]) {
            self.metadata = metadata; self.tensors = tensors
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: StrictJSON.AnyKey.self)
            metadata = [:]; tensors = [:]
            for k in c.allKeys {
                if k.stringValue == Self.metadataKey {
                    metadata = try c.decode([String: String].self, forKey: k)
                } else {
                    tensors[k.stringValue] = try c.decode(Entry.self, forKey: k)
                }
            }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: StrictJSON.AnyKey.self)
            try c.encode(metadata, forKey: .init(Self.metadataKey))
            for (name, e) in tensors { try c.encode(e, forKey: .init(name)) }
        }
    }
}
