#!/usr/bin/python3
"""A stand-in controller for Firmware smoke tests, independent of the C library.

Speaks the iqmpc protocol with Python's protobuf (the repository's one loader,
Scripts/pylib/iqmpc_proto.py, generates it from Proto/iqmpc.proto) and pyzmq, using the controller's socket options from
Proto/README.md. Answers Hello with HelloAck (refusing a spec whose dims differ from
--obs-dim/--act-dim) and each observation with an energy-pumping swing-up torque.
Run with Debian's /usr/bin/python3 (it has protobuf 3.21 and pyzmq).
"""
import argparse
import math
import os
import signal
import sys
import time

import zmq


def load_proto(repo):
    sys.path.insert(0, os.path.join(repo, "Scripts", "pylib"))
    import iqmpc_proto
    return iqmpc_proto.load()


def swing_up_torque(cos_t, sin_t, omega, limit):
    """Energy pumping far from upright, PD near it (theta = 0 upright)."""
    if cos_t > 0.9:
        u = -12.0 * math.atan2(sin_t, cos_t) - 2.0 * omega
    else:
        energy = 0.5 * 0.25 * omega * omega + 9.81 * 0.5 * (cos_t - 1.0)
        u = -5.0 * energy * omega
    return max(-limit, min(limit, u))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--obs", default="tcp://127.0.0.1:5701")
    ap.add_argument("--act", default="tcp://127.0.0.1:5702")
    ap.add_argument("--mode", choices=["free-running", "lockstep"], default="free-running")
    ap.add_argument("--obs-dim", type=int, default=3)
    ap.add_argument("--act-dim", type=int, default=1)
    ap.add_argument("--limit", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pb = load_proto(repo)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ctx = zmq.Context()
    if args.mode == "lockstep":
        rx = tx = ctx.socket(zmq.REP)
        rx.connect(args.obs)
    else:
        rx = ctx.socket(zmq.PULL)
        rx.setsockopt(zmq.CONFLATE, 1)
        rx.connect(args.obs)
        tx = ctx.socket(zmq.PUSH)
        tx.setsockopt(zmq.SNDHWM, 4)
        tx.setsockopt(zmq.IMMEDIATE, 1)
        tx.connect(args.act)
    for s in {rx, tx}:
        s.setsockopt(zmq.LINGER, 0)

    action_seq = 0
    handshaken = False
    answered = 0
    dropped = 0
    deadline = time.monotonic() + args.seconds
    while not stop and time.monotonic() < deadline:
        if not rx.poll(100):
            continue
        env = pb.Envelope()
        env.ParseFromString(rx.recv())
        reply = pb.Envelope()
        kind = env.WhichOneof("body")
        if kind == "hello":
            spec = env.hello.spec
            ok = spec.obs_dim == args.obs_dim and spec.act_dim == args.act_dim
            reply.hello_ack.protocol_version = pb.PROTOCOL_VERSION
            reply.hello_ack.accepted = ok
            reply.hello_ack.role = pb.ROLE_CONTROLLER
            reply.hello_ack.software = "fake_runtime.py"
            if not ok:
                reply.hello_ack.error.code = pb.ERROR_SPEC_MISMATCH
                reply.hello_ack.error.fatal = True
                reply.hello_ack.error.message = (
                    f"obs_dim/act_dim {spec.obs_dim}/{spec.act_dim}, expected "
                    f"{args.obs_dim}/{args.act_dim}")
            handshaken = handshaken or ok
        elif kind == "observation" and handshaken:
            o = env.observation
            action_seq += 1
            reply.action.seq = action_seq
            reply.action.observation_seq = o.seq
            reply.action.timestamp_ns = time.monotonic_ns()
            reply.action.values.append(swing_up_torque(o.values[0], o.values[1], o.values[2],
                                                       args.limit))
            reply.action.diagnostics.source = pb.ACTION_SOURCE_PLANNER
            answered += 1
        elif kind == "shutdown":
            if args.mode == "lockstep":
                reply.heartbeat.role = pb.ROLE_CONTROLLER
                tx.send(reply.SerializeToString(), zmq.DONTWAIT)
            break
        elif kind == "observation":
            reply.error.code = pb.ERROR_UNEXPECTED_MESSAGE
            reply.error.fault = pb.FAULT_NO_HANDSHAKE
        else:
            reply.heartbeat.role = pb.ROLE_CONTROLLER
        if args.mode == "lockstep" or kind != "heartbeat":
            # Reading ZMQ_EVENTS first makes libzmq process the peer's pending queue
            # credit; a bare non-blocking send may skip that and report a full queue.
            tx.getsockopt(zmq.EVENTS)
            try:
                tx.send(reply.SerializeToString(), zmq.DONTWAIT)
            except zmq.Again:
                dropped += 1
    print(f"fake_runtime: answered {answered} observations, {dropped} answers not queued",
          file=sys.stderr)
    ctx.destroy(linger=0)


if __name__ == "__main__":
    main()
