import ArgumentParser
import IQCalibration
import IQModel
import IQPlanner
import Logging

// Closed sets of choices as argument types: the parser lists them in --help and refuses
// anything else with the valid values, before a command runs.
extension ModelConfig.Preset: ExpressibleByArgument {}
extension PlannerConfig.ActionSelection: ExpressibleByArgument {}
extension Calibration.LinkMode: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
