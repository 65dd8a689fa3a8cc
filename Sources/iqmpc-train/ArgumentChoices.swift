import ArgumentParser
import IQModel
import IQPlants

// Closed sets of choices as argument types: the parser lists them in --help and refuses
// anything else with the valid values, before a command runs.
extension ModelConfig.Preset: ExpressibleByArgument {}
extension TaskID: ExpressibleByArgument {}
