import CMuJoCo

/// Errors from building a simulated plant; each names what went wrong so a bad model or
/// argument is reported, never turned into a crash.
public enum PlantError: Error, CustomStringConvertible, Equatable {
    case modelLoad(task: String, message: String)
    case badArgument(String)

    public var description: String {
        switch self {
        case .modelLoad(let task, let message): return "MuJoCo could not load the model of \(task): \(message)"
        case .badArgument(let message): return message
        }
    }
}

/// One MuJoCo model and its live data. The model is compiled from an XML string held in
/// Swift (MuJoCo 2.2.2 has no load-from-string call), through its virtual file system so
/// nothing touches the disk. `mjModel` is immutable after load; `mjData` is the mutable
/// state. The class owns both and frees them; it is not shared between threads.
public final class MuJoCoWorld {
    public let model: UnsafeMutablePointer<mjModel>
    public let data: UnsafeMutablePointer<mjData>

    public init(xml: String, name: String) throws(PlantError) {
        let vfs = UnsafeMutablePointer<mjVFS>.allocate(capacity: 1)
        defer { mj_deleteVFS(vfs); vfs.deallocate() }
        mj_defaultVFS(vfs)
        let fileName = "\(name).xml"
        let bytes = Array(xml.utf8)
        guard mj_makeEmptyFileVFS(vfs, fileName, Int32(bytes.count)) == 0 else {
            throw .modelLoad(task: name, message: "virtual file system refused the model text")
        }
        let index = Int(mj_findFileVFS(vfs, fileName))
        guard index >= 0 else { throw .modelLoad(task: name, message: "virtual file missing after creation") }
        withUnsafeMutablePointer(to: &vfs.pointee.filedata) { tuple in
            tuple.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: index + 1) { files in
                bytes.withUnsafeBytes { files[index]!.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            }
        }
        var error = [CChar](repeating: 0, count: 1024)
        guard let m = mj_loadXML(fileName, vfs, &error, Int32(error.count)) else {
            let text = error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw .modelLoad(task: name, message: text)
        }
        guard let d = mj_makeData(m) else {
            mj_deleteModel(m)
            throw .modelLoad(task: name, message: "mj_makeData failed")
        }
        model = m
        data = d
    }

    deinit {
        mj_deleteData(data)
        mj_deleteModel(model)
    }

    public var nq: Int { Int(model.pointee.nq) }
    public var nv: Int { Int(model.pointee.nv) }
    public var nu: Int { Int(model.pointee.nu) }
    public var na: Int { Int(model.pointee.na) }
    public var timestep: Double { model.pointee.opt.timestep }

    /// Index of a named object, or a thrown error naming it (used once at set-up).
    public func id(_ type: mjtObj, _ name: String) throws(PlantError) -> Int {
        let i = Int(mj_name2id(model, Int32(type.rawValue), name))
        guard i >= 0 else { throw .modelLoad(task: "model", message: "no object named '\(name)'") }
        return i
    }
}

/// The minimal physical state of a plant: enough to restart the integration exactly.
/// Rollouts copy this into pre-allocated scratch data instead of the whole `mjData`.
public struct StateBuffer {
    public let nq: Int, nv: Int, na: Int, nu: Int
    /// [time, qpos, qvel, act, ctrl, qacc_warmstart]
    public let storage: UnsafeMutablePointer<Double>
    public var count: Int { 1 + nq + 2 * nv + na + nu }

    public init(world: MuJoCoWorld) {
        nq = world.nq; nv = world.nv; na = world.na; nu = world.nu
        storage = .allocate(capacity: 1 + nq + 2 * nv + na + nu)
        storage.initialize(repeating: 0, count: 1 + nq + 2 * nv + na + nu)
    }

    public func free() { storage.deallocate() }

    public func save(from d: UnsafeMutablePointer<mjData>) {
        var p = storage
        p.pointee = d.pointee.time; p += 1
        p.update(from: d.pointee.qpos, count: nq); p += nq
        p.update(from: d.pointee.qvel, count: nv); p += nv
        if na > 0 { p.update(from: d.pointee.act, count: na); p += na }
        if nu > 0 { p.update(from: d.pointee.ctrl, count: nu); p += nu }
        p.update(from: d.pointee.qacc_warmstart, count: nv)
    }

    public func restore(into d: UnsafeMutablePointer<mjData>) {
        var p = UnsafePointer(storage)
        d.pointee.time = p.pointee; p += 1
        d.pointee.qpos.update(from: p, count: nq); p += nq
        d.pointee.qvel.update(from: p, count: nv); p += nv
        if na > 0 { d.pointee.act.update(from: p, count: na); p += na }
        if nu > 0 { d.pointee.ctrl.update(from: p, count: nu); p += nu }
        d.pointee.qacc_warmstart.update(from: p, count: nv)
    }
}
