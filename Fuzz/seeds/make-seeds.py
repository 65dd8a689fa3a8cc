#!/usr/bin/env python3
"""Writes the committed seed corpora of the Swift harnesses (Fuzz/corpus/<name>/): a few
valid files and a few malformed ones each. Uses only the standard library and `protoc
--encode` (for .iqlog records), so the seeds do not depend on the code under test.
Usage: python3 Fuzz/seeds/make-seeds.py   (from the repository root)"""
import json, os, shutil, struct, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")


def out(name, file, data):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, file), "wb") as f:
        f.write(data)


# --- .iqlog: varint length + iqmpc.v1.Record, header first ---------------------------------
def record(text):
    return subprocess.run(["protoc", "-I", os.path.join(ROOT, "Proto"), "--encode=iqmpc.v1.Record", "iqmpc.proto"],
                          input=text.encode(), stdout=subprocess.PIPE, check=True).stdout


def varint(n):
    b = bytearray()
    while True:
        if n < 0x80:
            b.append(n); return bytes(b)
        b.append((n & 0x7F) | 0x80); n >>= 7


def delimited(msg):
    return varint(len(msg)) + msg


HEADER = """header { format_version: 1 source: "seed" seed: 7
  annotations { key: "expert" value: "seed" }
  spec { robot_id: "pendulum-swingup" obs_dim: 3 act_dim: 1 control_period_ns: 10000000 episode_length: 4
    observations { name: "cos" unit: "1" low: -1 high: 1 }
    observations { name: "sin" unit: "1" low: -1 high: 1 }
    observations { name: "vel" unit: "rad/s" low: -inf high: inf }
    actions { name: "torque" unit: "N m" low: -1 high: 1 } } }"""


def step(seq, action=True, start=False, reward=None, values=(1.0, 0.0, 0.5)):
    obs = f"seq: {seq} timestamp_ns: {seq * 10000000} episode_start: {str(start).lower()}"
    obs += "".join(f" values: {v}" for v in values)
    if reward is not None:
        obs += f" reward: {reward} reward_present: true"
    act = f" action {{ seq: {seq} observation_seq: {seq} timestamp_ns: {seq * 10000000 + 1} values: 0.25 }}" if action else ""
    return f"step {{ observation {{ {obs} }}{act} }}"


header = delimited(record(HEADER))
steps = [delimited(record(step(1, start=True)))] + [delimited(record(step(s, reward=0.5))) for s in range(2, 5)]
steps.append(delimited(record(step(5, action=False, reward=1.0))))
out("record_reader", "valid-episode.iqlog", header + b"".join(steps))
out("record_reader", "valid-header-only.iqlog", header)
out("record_reader", "bad-truncated.iqlog", (header + b"".join(steps))[:-3])
out("record_reader", "bad-second-header.iqlog", header + steps[0] + header)
out("record_reader", "bad-obs-length.iqlog", header + delimited(record(step(1, values=(1.0, 2.0)))))
out("record_reader", "bad-step-first.iqlog", steps[0] + header)
out("record_reader", "bad-varint.iqlog", header + b"\xff" * 11)

# --- safetensors: u64 LE header length, JSON header, data ----------------------------------
def safetensors(header, data=b"", pad=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    while pad and len(h) % 8:
        h += b" "
    return struct.pack("<Q", len(h)) + h + data


floats = struct.pack("<6f", 1, -2, 3.5, 0, float("inf"), -0.0)
good = {"__metadata__": {"format": "iqmpc", "config": "{\"latent\":4}"},
        "a.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "a.bias": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}}
out("safetensors", "valid.safetensors", safetensors(good, floats))
out("safetensors", "valid-empty.safetensors", safetensors({}))
out("safetensors", "valid-scalar.safetensors", safetensors({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, floats[:4]))
out("safetensors", "bad-truncated.safetensors", safetensors(good, floats)[:-5])
out("safetensors", "bad-overlap.safetensors", safetensors(
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, floats))
out("safetensors", "bad-dtype.safetensors", safetensors({"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}, floats[:4]))
dup = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
out("safetensors", "bad-duplicate-key.safetensors", struct.pack("<Q", len(dup)) + dup + floats[:4])
out("safetensors", "bad-header-length.safetensors", struct.pack("<Q", 1 << 40) + b"{}")

# --- calibration YAML: the shipped files, and malformed variants of one -------------------
for f in sorted(os.listdir(os.path.join(ROOT, "Calibration"))):
    if f.endswith(".yaml"):
        out("calibration", "valid-" + f, open(os.path.join(ROOT, "Calibration", f), "rb").read())
base = open(os.path.join(ROOT, "Calibration", "pendulum-swingup.yaml"), "rb").read()
out("calibration", "bad-unknown-key.yaml", base + b"\nrate_limt: 3\n")
out("calibration", "bad-not-utf8.yaml", base.replace(b"pendulum", b"pend\xffulum", 1))
out("calibration", "bad-deep-flow.yaml", b"robot_id: " + b"[" * 100 + b"]" * 100 + b"\n")
out("calibration", "bad-number.yaml", base.replace(b"control_period_ms:", b"control_period_ms: ten #", 1))
out("calibration", "insecure-wildcard.yaml", base.replace(b"link:", b"link:\n  security:\n    allow_insecure: true", 1)
    .replace(b"127.0.0.1", b"0.0.0.0"))
print("seed corpora written under", CORPUS, file=sys.stderr)
