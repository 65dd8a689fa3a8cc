#!/usr/bin/env python3
"""Forward speed of recorded locomotion episodes, and cheetah-run's return under its old reward.

    Scripts/forward-speed.py [--bin DIR] LOG.iqlog...

For each record file (`iqmpc-sim record`, or `serve --record`): episodes, mean return as
recorded, mean forward speed (the observation channel named `*.vx`), and for cheetah-run the
return under the reward it had before issue #14, min(max(vx, 0) / 2 m/s, 1) · (1 + cos pitch) / 2
(Sources/IQPlants/README.md). Why: returns under the two cheetah rewards are not comparable,
and the issue's learning-speed baseline was measured under the old one; speed compares runs of
either era and either expert. Reads the files through `iqmpc-sim replay --steps` (default
--bin .build/release), so it needs no protobuf Python package.
"""
import argparse
import math
import re
import statistics as st
import subprocess
import sys


def read(binary, path):
    out = subprocess.run([binary, "replay", "--in", path, "--steps"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"forward-speed: iqmpc-sim replay failed on {path}: {out.stderr.strip()}")
    task, names, episodes = None, [], {}
    for line in out.stdout.splitlines():
        if line.startswith("spec: "):
            task = line.split()[1]
        elif line.strip().startswith("observations: "):
            names = [c.split(" [")[0].strip() for c in line.split("observations: ", 1)[1].split(", ")]
        else:
            m = re.match(r"seq \d+ ep (\d+) (start |terminal )?obs \[([^\]]*)\] reward (\S+)", line)
            if m:
                steps = episodes.setdefault(int(m.group(1)), [])
                if m.group(2) != "start ":  # the start observation carries no reward
                    steps.append(([float(x) for x in m.group(3).split(",")], float(m.group(4))))
    return task, names, episodes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("logs", nargs="+")
    a = ap.parse_args()
    for path in a.logs:
        task, names, eps = read(a.bin + "/iqmpc-sim", path)
        vx = next((i for i, n in enumerate(names) if n.endswith(".vx")), None)
        if vx is None or not eps:
            sys.exit(f"forward-speed: {path}: no episodes or no *.vx observation channel (task {task})")
        ret = [sum(r for _, r in e) for e in eps.values()]
        speed = [st.mean(o[vx] for o, _ in e) for e in eps.values()]
        line = f"{path}: {task}, {len(eps)} episodes, return {st.mean(ret):.1f}, forward speed {st.mean(speed):.2f} m/s"
        if task == "cheetah-run":
            pitch = names.index("root.pitch")
            old = [sum(min(max(o[vx], 0) / 2, 1) * (1 + math.cos(o[pitch])) / 2 for o, _ in e) for e in eps.values()]
            line += f", old reward {st.mean(old):.1f}"
        print(line)


if __name__ == "__main__":
    main()
