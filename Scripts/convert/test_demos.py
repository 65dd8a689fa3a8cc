#!/usr/bin/env python3
"""demos_from_pickle.py tests (python3 + numpy + protobuf + protoc; no torch):
a dataset in the reference's pickled layout round-trips its numbers into the record file, read
back with protobuf; malformed datasets and pickles that would run code are refused, leaving no
output. Prints one line per check and "N passed, N failed"."""
import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import demos_from_pickle as dfp  # noqa: E402

results = {"passed": 0, "failed": 0}


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)


def dataset(rng, episodes=3, D=5, A=2):
    out = []
    for e in range(episodes):
        T = 4 + e
        traj = rng.normal(size=(T + 1, D)).astype(np.float32)
        out.append((list(traj[:-1]), list(rng.uniform(-1, 1, (T, A)).astype(np.float32)),
                    list(rng.normal(size=T).astype(np.float32)), list(traj[1:])))
    return out


def convert(tmp, data, name="d.pkl", raw=None):
    p = os.path.join(tmp, name)
    with open(p, "wb") as f:
        f.write(raw if raw is not None else pickle.dumps(data))
    out = os.path.join(tmp, "demos.iqlog")
    r = subprocess.run([sys.executable, os.path.join(HERE, "demos_from_pickle.py"), "--dataset", p, "--out", out,
                        "--robot-id", "test-task"], capture_output=True, text=True)
    return r, out


def read_records(path, pb):
    from google.protobuf.internal.decoder import _DecodeVarint
    raw = open(path, "rb").read()
    pos, recs = 0, []
    while pos < len(raw):
        n, pos = _DecodeVarint(raw, pos)
        r = pb.Record()
        r.ParseFromString(raw[pos:pos + n])
        pos += n
        recs.append(r)
    return recs


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(tempfile.gettempdir(), "iqmpc-pickle-ran"),))


def main():
    rng = np.random.default_rng(1)
    pb = dfp.load_pb()
    with tempfile.TemporaryDirectory() as tmp:
        data = dataset(rng)
        r, out = convert(tmp, data)
        check(r.returncode == 0, f"converts: {r.stdout.strip()} {r.stderr.strip()}")
        recs = read_records(out, pb)
        check(recs[0].WhichOneof("body") == "header" and recs[0].header.spec.obs_dim == 5 and recs[0].header.spec.act_dim == 2,
              "header first, with the dimensions")
        steps = [x.step for x in recs[1:]]
        check(len(steps) == sum(len(ep[0]) + 1 for ep in data), f"T+1 frames per episode ({len(steps)})")
        k, good = 0, True
        for obs, act, rew, nxt in data:
            frames = obs + [nxt[-1]]
            for j, o in enumerate(frames):
                s = steps[k]
                k += 1
                good &= np.array_equal(np.asarray(s.observation.values, np.float32), o)
                good &= s.observation.episode_start == (j == 0) and s.observation.terminal == (j == len(frames) - 1)
                good &= s.observation.reward_present == (j > 0)
                if j > 0:
                    good &= np.float32(s.observation.reward) == rew[j - 1]
                good &= s.HasField("action") == (j < len(act))
                if j < len(act):
                    good &= np.array_equal(np.asarray(s.action.values, np.float32), act[j])
        check(bool(good), "observations, actions and rewards bit-identical, reward on the frame after its action")

        os.unlink(out)
        marker = os.path.join(tempfile.gettempdir(), "iqmpc-pickle-ran")
        if os.path.exists(marker):
            os.unlink(marker)
        bad = [
            ("code-running pickle", None, pickle.dumps([Exploit()]), "refusing"),
            ("not a list", {"a": 1}, None, "expected a non-empty list"),
            ("short actions", [(data[0][0], data[0][1][:-1], data[0][2], data[0][3])], None, "episode 0 actions"),
            ("non-finite reward", [(data[0][0], data[0][1], [np.float32("nan")] * len(data[0][2]), data[0][3])], None,
             "episode 0 rewards[0]: non-finite"),
            ("broken chain", [(data[0][0], data[0][1], data[0][2], [x + 1 for x in data[0][3]])], None,
             "next observation 0 differs"),
            ("truncated file", None, pickle.dumps(data)[:100], "not a readable pickle"),
        ]
        for what, d, raw, needle in bad:
            r, out2 = convert(tmp, d, raw=raw)
            leftovers = [f for f in os.listdir(tmp) if f.startswith(".iqmpc-demos-")]
            check(r.returncode == 1 and needle in r.stderr and not leftovers and not os.path.exists(marker)
                  and not os.path.exists(out2),
                  f"bad input, {what}: exit {r.returncode}, {r.stderr.strip()[:120]}")
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(0 if results["failed"] == 0 else 1)


if __name__ == "__main__":
    main()
