import IQKernels
/// IQTrainer: offline IQ-MPC training (docs/algorithm.md §3-§4) on the CPU.
///
/// Layout and API:
/// - Math/: `TrainScalar` (Float for training, Double for the finite-difference checks),
///   `Ops` (Linear, LayerNorm, Mish, SimNorm forward + hand-derived backward), `MLPCache`
///   (one network call site: activations kept for backward, dropout masks), `PolicyHead`
///   (squashed Gaussian with the correct per-dimension log-density), `SeededRandom`.
/// - Model/: `ParamLayout` (θ = [encoder | dynamics | π | Q_0…Q_{K−1}] over IQModel's
///   `TensorLayout` networks, in its file order), `WeightsBridge` (θ ⇄ `WorldModel`, the deployable file).
/// - Update/: `IQLoss` (stop-gradient targets, 20·L_cons + 0.1·L_iq with v0 and χ², L_π),
///   `GradientPenalty` (exact double backprop, optional), `Optimiser` (Adam, clip, Polyak),
///   `TrainState` + `IQUpdater` (one full update, docs/algorithm.md §4.2), `BCLoss`.
/// - Data/: `Episode`, `ReplayBuffer` (episode-uniform H+1 slices, half/half batches),
///   `Demonstrations` (.iqlog through the calibration).
/// - Train/: `TrainingEnvironment` + `WireEnvironment` (lockstep protocol, in-process plant
///   or external endpoint), `TrainingRun` (seed phase, burst, UTD 1, Planner acting,
///   evaluation, checkpoints, metrics), `Evaluator`, `Checkpoint`, `BCRun`.
/// The update's benchmark (`UpdateBenchmark`) lives in IQTrainerBench.
public enum IQTrainerOverview {}
