#!/usr/bin/env python3
"""The IQ-MPC reference's expert dataset (a pickled list of episodes) -> a `.iqlog` record file
that `iqmpc-train run --demos` reads (docs/gpu-training.md).

    demos_from_pickle.py --dataset hopper_hop.dat --out demos.iqlog --robot-id hopper-hop
                         [--control-period-ms 20] [--max-episodes N]

The reference's loader reads episode e as a sequence whose element 0 holds the observations
o_0 … o_{T-1}, element 1 the actions a_0 … a_{T-1}, element 2 the rewards r_0 … r_{T-1} and
element 3 the next observations o_1 … o_T (each step a numpy array or number). Written here
as T+1 steps per episode: step j holds o_j and a_j (none on the last), and o_{j+1} carries r_j
as its ground-truth reward (the record files' convention: a frame carries the reward of the
transition into it). Values are written as stored: the reference's actions are already in
[-1, 1] and its observations raw, so train with a calibration whose action mapping is the
identity and whose observation scaling you choose.

Only numpy arrays, numbers, lists, tuples and dicts are unpickled; anything else is refused
(a pickle can run code). Runs with python3 + numpy + protobuf and protoc (install-deps.sh);
torch is not needed. Exit status 1 with a message naming the episode and field on bad input;
no output file is left behind.
"""
import argparse
import os
import pickle
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MAX_DIM = 256  # generous; the runtime checks its own bounds when reading


class DatasetError(Exception):
    pass


class SafeUnpickler(pickle.Unpickler):
    """numpy arrays and scalars and plain containers only."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "dict"),
               ("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise DatasetError(f"the pickle needs {module}.{name}, which a dataset of numpy arrays does not; refusing to load it")


def load_pb():
    sys.path.insert(0, os.path.join(ROOT, "Scripts", "pylib"))
    import iqmpc_proto
    return iqmpc_proto.load()


def as_rows(ep, e, field, index, want_len):
    try:
        seq = ep[index]
    except (IndexError, KeyError, TypeError):
        raise DatasetError(f"episode {e}: has no element {index} ({field})")
    try:
        rows = [np.asarray(x, dtype=np.float64).ravel() for x in seq]
    except (TypeError, ValueError) as err:
        raise DatasetError(f"episode {e} {field}: not numeric ({err})")
    if want_len is not None and len(rows) != want_len:
        raise DatasetError(f"episode {e} {field}: {len(rows)} entries, the observations have {want_len}")
    for t, r in enumerate(rows):
        if not np.all(np.isfinite(r)):
            raise DatasetError(f"episode {e} {field}[{t}]: non-finite value")
    return rows


def episodes(data):
    if not isinstance(data, (list, tuple)) or not data:
        raise DatasetError(f"the dataset is a {type(data).__name__}, expected a non-empty list of episodes")
    for e, ep in enumerate(data):
        obs = as_rows(ep, e, "observations", 0, None)
        if not obs:
            raise DatasetError(f"episode {e}: no steps")
        T = len(obs)
        act = as_rows(ep, e, "actions", 1, T)
        rew = as_rows(ep, e, "rewards", 2, T)
        nxt = as_rows(ep, e, "next observations", 3, T)
        for t in range(T):
            if len(rew[t]) != 1:
                raise DatasetError(f"episode {e} rewards[{t}]: {len(rew[t])} values, expected 1")
        yield e, obs, act, [float(r[0]) for r in rew], nxt


def convert(args):
    with open(args.dataset, "rb") as f:
        try:
            data = SafeUnpickler(f).load()
        except DatasetError:
            raise
        except Exception as err:
            raise DatasetError(f"{args.dataset}: not a readable pickle ({type(err).__name__}: {err})")
    pb = load_pb()
    from google.protobuf.internal.encoder import _VarintBytes

    eps = list(episodes(data))[: args.max_episodes]
    D, A = len(eps[0][1][0]), len(eps[0][2][0])
    if not (1 <= D <= MAX_DIM and 1 <= A <= MAX_DIM):
        raise DatasetError(f"observation dim {D} / action dim {A} outside 1...{MAX_DIM}")
    for e, obs, act, _, nxt in eps:
        for name, rows, dim in (("observations", obs, D), ("next observations", nxt, D), ("actions", act, A)):
            for t, r in enumerate(rows):
                if len(r) != dim:
                    raise DatasetError(f"episode {e} {name}[{t}]: {len(r)} values, episode 0 has {dim}")
        for t in range(len(obs) - 1):
            if not np.array_equal(nxt[t], obs[t + 1]):
                raise DatasetError(f"episode {e}: next observation {t} differs from observation {t + 1}")

    spec = pb.RobotSpec(robot_id=args.robot_id, obs_dim=D, act_dim=A,
                        control_period_ns=int(args.control_period_ms * 1e6), episode_length=max(len(x[1]) for x in eps))
    bound = float(max(np.max(np.abs(np.concatenate(x[1] + x[4]))) for x in eps)) * 10 + 1
    for i in range(D):
        spec.observations.add(name=f"obs.{i}", unit="", low=-bound, high=bound)
    for i in range(A):
        spec.actions.add(name=f"act.{i}", unit="", low=-1.0, high=1.0)
    period = spec.control_period_ns
    folder = os.path.dirname(os.path.abspath(args.out))
    fd, tmp = tempfile.mkstemp(prefix=".iqmpc-demos-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            def put(rec):
                b = rec.SerializeToString()
                f.write(_VarintBytes(len(b)) + b)

            h = pb.Record()
            h.header.format_version = 1
            h.header.spec.CopyFrom(spec)
            h.header.source = "Scripts/convert/demos_from_pickle.py"
            h.header.annotations["dataset"] = os.path.basename(args.dataset)
            h.header.annotations["layout"] = "list of episodes (observations, actions, rewards, next observations)"
            put(h)
            seq = 0
            for n, (e, obs, act, rew, nxt) in enumerate(eps):
                frames = obs + [nxt[-1]]
                for j, o in enumerate(frames):
                    seq += 1
                    r = pb.Record()
                    ob = r.step.observation
                    ob.seq, ob.timestamp_ns, ob.episode = seq, seq * period, n
                    ob.values.extend(o.astype(np.float32).tolist())
                    ob.episode_start = j == 0
                    ob.terminal = j == len(frames) - 1
                    if j > 0:
                        ob.reward, ob.reward_present = rew[j - 1], True
                    if j < len(act):
                        r.step.action.seq = seq
                        r.step.action.observation_seq = seq
                        r.step.action.timestamp_ns = seq * period
                        r.step.action.values.extend(np.clip(act[j], -1, 1).astype(np.float32).tolist())
                    put(r)
        os.replace(tmp, args.out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(eps), D, A


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--robot-id", required=True)
    ap.add_argument("--control-period-ms", type=float, default=20.0)
    ap.add_argument("--max-episodes", type=int, default=None)
    args = ap.parse_args()
    try:
        n, D, A = convert(args)
    except (DatasetError, OSError) as e:
        print(f"demos_from_pickle: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"demos_from_pickle: {n} episodes, obs {D}, act {A} -> {args.out}")


if __name__ == "__main__":
    main()
