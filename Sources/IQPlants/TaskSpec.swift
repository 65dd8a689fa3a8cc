import IQLink

extension TaskInfo {
    /// The task as the wire protocol describes it (Hello, record headers).
    public var plantSpec: PlantSpec {
        PlantSpec(robotId: id.rawValue,
                  observations: observations.map { PlantSpec.Channel(name: $0.name, unit: $0.unit, low: $0.low, high: $0.high) },
                  actions: actions.map { PlantSpec.Channel(name: $0.name, unit: $0.unit, low: $0.low, high: $0.high) },
                  controlPeriodNs: controlPeriodNs, episodeLength: UInt32(episodeLength))
    }
}
