#!/usr/bin/python3
"""Independent iqmpc peer for interop tests: Google's Python protobuf + pyzmq.

Nothing here shares code with the Swift side: the message classes are generated from
Proto/iqmpc.proto by `protoc --python_out` into a temporary directory at start-up.
Run with Debian's /usr/bin/python3 (protobuf 3.21 runtime matching protoc 3.21, pyzmq).

Subcommands (all print one JSON object or plain lines on stdout; errors exit non-zero):
  decode-envelope FILE         print the Envelope in FILE as JSON
  encode-envelope KIND FILE    write a fixed Envelope (observation|action|hello) to FILE
  write-log FILE               write a fixed .iqlog (header + 3 steps), delimited framing
  read-log FILE                print header and steps of a .iqlog as JSON
  lockstep-controller ENDPOINT N   REP connects; accepts Hello, answers N observations
                                   with Action(values = -obs[:act_dim]), then Shutdown
  lockstep-plant N             REQ binds tcp://127.0.0.1:* (prints endpoint), Hello, N
                               observations, prints received action values as JSON
  idle-subscriber ENDPOINT S    SUB connects and subscribes, prints "ready", never reads
                               (a stuck telemetry tool), exits after S seconds
  reading-subscriber ENDPOINT   SUB connects, prints "ready", reads and decodes Telemetry
                               until 0.7 s pass without one; prints {"count", "last_step"}
  free-plant N                 PUSH+PULL bind (prints both endpoints), Hello every 100 ms
                               until HelloAck, then N observations each awaiting its action
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def load_pb():
    sys.path.insert(0, os.path.join(ROOT, "Scripts", "pylib"))
    import iqmpc_proto  # noqa: E402
    return iqmpc_proto.load()


pb = load_pb()
from google.protobuf.internal.decoder import _DecodeVarint  # noqa: E402
from google.protobuf.internal.encoder import _VarintBytes  # noqa: E402
from google.protobuf.json_format import MessageToDict  # noqa: E402


def spec(obs_dim=4, act_dim=2):
    s = pb.RobotSpec(robot_id="python-plant", obs_dim=obs_dim, act_dim=act_dim,
                     control_period_ns=20_000_000, episode_length=100)
    for i in range(obs_dim):
        s.observations.add(name=f"py.obs.{i}", unit="m", low=-10.0, high=10.0)
    for i in range(act_dim):
        s.actions.add(name=f"py.act.{i}", unit="N", low=-1.0, high=1.0)
    return s


def fixed_envelope(kind):
    env = pb.Envelope()
    if kind == "observation":
        env.observation.seq = 77
        env.observation.timestamp_ns = 9_000_000_001
        env.observation.values.extend([1.5, -2.25, float("nan"), 1e-3])
        env.observation.episode_start = True
        env.observation.reward = 0.5
        env.observation.reward_present = True
        env.observation.episode = 4
    elif kind == "action":
        env.action.seq = 5
        env.action.observation_seq = 77
        env.action.timestamp_ns = 123
        env.action.values.extend([0.25, -0.75])
        env.action.diagnostics.source = pb.ACTION_SOURCE_POLICY_PRIOR
        env.action.diagnostics.iterations = 2
        env.action.diagnostics.plan_time_us = 450
        env.action.diagnostics.deadline_missed = True
        env.action.diagnostics.fault = pb.FAULT_NONE
    elif kind == "hello":
        env.hello.protocol_version = pb.PROTOCOL_VERSION
        env.hello.role = pb.ROLE_SIMULATOR
        env.hello.spec.CopyFrom(spec())
        env.hello.software = "python interop peer"
        env.hello.mode = pb.LINK_MODE_LOCKSTEP
    else:
        raise SystemExit(f"unknown kind {kind}")
    return env


def as_json(msg):
    return MessageToDict(msg, preserving_proto_field_name=True, including_default_value_fields=False)


def write_log(path):
    with open(path, "wb") as f:
        def put(rec):
            data = rec.SerializeToString()
            f.write(_VarintBytes(len(data)) + data)
        header = pb.Record()
        header.header.format_version = 1
        header.header.spec.CopyFrom(spec())
        header.header.source = "python interop peer"
        header.header.seed = 11
        header.header.annotations["writer"] = "python"
        put(header)
        for i in range(3):
            rec = pb.Record()
            rec.step.observation.seq = i + 1
            rec.step.observation.timestamp_ns = 1000 * i
            rec.step.observation.values.extend([float(i), 0.5, -0.5, 2.0])
            rec.step.observation.episode_start = i == 0
            rec.step.observation.terminal = i == 2
            if i < 2:
                rec.step.action.seq = i + 1
                rec.step.action.observation_seq = i + 1
                rec.step.action.values.extend([0.1 * i, -0.1 * i])
                rec.step.action.diagnostics.source = pb.ACTION_SOURCE_PLANNER
                rec.step.action.diagnostics.iterations = 6
            put(rec)


def read_log(path):
    data = open(path, "rb").read()
    pos, records = 0, []
    while pos < len(data):
        length, pos = _DecodeVarint(data, pos)
        if pos + length > len(data):
            raise SystemExit(f"truncated record at {pos}")
        rec = pb.Record()
        rec.ParseFromString(data[pos:pos + length])
        pos += length
        records.append(as_json(rec))
    print(json.dumps({"records": records}))


def lockstep_controller(endpoint, n):
    import zmq
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.REP)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.connect(endpoint)
    env = pb.Envelope()
    env.ParseFromString(s.recv())
    assert env.WhichOneof("body") == "hello", env
    act_dim = env.hello.spec.act_dim
    ack = pb.Envelope()
    ack.hello_ack.protocol_version = pb.PROTOCOL_VERSION
    ack.hello_ack.accepted = True
    ack.hello_ack.role = pb.ROLE_CONTROLLER
    ack.hello_ack.software = "python interop controller"
    s.send(ack.SerializeToString())
    seqs = []
    for k in range(n):
        env.ParseFromString(s.recv())
        assert env.WhichOneof("body") == "observation", env
        o = env.observation
        seqs.append(o.seq)
        out = pb.Envelope()
        if k == n - 1:
            out.shutdown.reason = "python controller done"
        else:
            out.action.seq = 100 + o.seq
            out.action.observation_seq = o.seq
            out.action.values.extend([-v for v in o.values[:act_dim]])
            out.action.diagnostics.source = pb.ACTION_SOURCE_PLANNER
            out.action.diagnostics.iterations = 3
        s.send(out.SerializeToString())
    env.ParseFromString(s.recv())
    print(json.dumps({"seqs": seqs, "final": env.WhichOneof("body")}))


def obs_envelope(seq, values, start=False):
    env = pb.Envelope()
    env.observation.seq = seq
    env.observation.timestamp_ns = seq * 1000
    env.observation.values.extend(values)
    env.observation.episode_start = start
    return env.SerializeToString()


def hello_envelope(mode):
    env = fixed_envelope("hello")
    env.hello.mode = mode
    return env.SerializeToString()


def lockstep_plant(n):
    import zmq
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.REQ_RELAXED, 1)
    s.setsockopt(zmq.REQ_CORRELATE, 1)
    s.setsockopt(zmq.RCVTIMEO, 500)
    s.bind("tcp://127.0.0.1:*")
    print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    env = pb.Envelope()
    for _ in range(40):
        s.send(hello_envelope(pb.LINK_MODE_LOCKSTEP))
        try:
            env.ParseFromString(s.recv())
            break
        except zmq.Again:
            continue
    else:
        raise SystemExit("no HelloAck")
    assert env.WhichOneof("body") == "hello_ack" and env.hello_ack.accepted, env
    s.setsockopt(zmq.RCVTIMEO, 10000)
    actions = []
    for seq in range(1, n + 1):
        s.send(obs_envelope(seq, [float(seq), 0.5, -0.5, 2.0], seq == 1))
        env.ParseFromString(s.recv())
        body = env.WhichOneof("body")
        if body == "action":
            actions.append({"observation_seq": env.action.observation_seq, "values": list(env.action.values),
                            "source": env.action.diagnostics.source})
        else:
            actions.append({"body": body})
    print(json.dumps({"actions": actions}), flush=True)


def free_plant(n):
    import time
    import zmq
    ctx = zmq.Context.instance()
    obs = ctx.socket(zmq.PUSH)
    obs.setsockopt(zmq.LINGER, 0)
    obs.setsockopt(zmq.SNDHWM, 4)
    obs.bind("tcp://127.0.0.1:*")
    act = ctx.socket(zmq.PULL)
    act.setsockopt(zmq.LINGER, 0)
    act.bind("tcp://127.0.0.1:*")
    print(obs.getsockopt_string(zmq.LAST_ENDPOINT), act.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    env = pb.Envelope()
    deadline = time.time() + 10
    acked = False
    while not acked and time.time() < deadline:
        try:
            obs.send(hello_envelope(pb.LINK_MODE_FREE_RUNNING), zmq.DONTWAIT)
        except zmq.Again:
            pass
        if act.poll(100):
            env.ParseFromString(act.recv())
            acked = env.WhichOneof("body") == "hello_ack" and env.hello_ack.accepted
    if not acked:
        raise SystemExit("no HelloAck")
    matched = []
    for seq in range(1, n + 1):
        obs.send(obs_envelope(seq, [float(seq), 1.0, 2.0, 3.0], seq == 1))
        while act.poll(5000):
            env.ParseFromString(act.recv())
            if env.WhichOneof("body") == "action" and env.action.observation_seq == seq:
                matched.append(list(env.action.values))
                break
        else:
            raise SystemExit(f"no action for {seq}")
    print(json.dumps({"matched": matched}), flush=True)


def idle_subscriber(endpoint, seconds):
    import time
    import zmq
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint)
    print("ready", flush=True)
    time.sleep(seconds)


def reading_subscriber(endpoint):
    import zmq
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.setsockopt(zmq.RCVTIMEO, 700)
    s.connect(endpoint)
    print("ready", flush=True)
    count, last = 0, -1
    env = pb.Envelope()
    while True:
        try:
            env.ParseFromString(s.recv())
        except zmq.Again:
            break
        assert env.WhichOneof("body") == "telemetry", env
        count += 1
        last = env.telemetry.step
    print(json.dumps({"count": count, "last_step": last}), flush=True)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "decode-envelope":
        env = pb.Envelope()
        env.ParseFromString(open(argv[2], "rb").read())
        print(json.dumps(as_json(env)))
    elif cmd == "encode-envelope":
        with open(argv[3], "wb") as f:
            f.write(fixed_envelope(argv[2]).SerializeToString())
    elif cmd == "write-log":
        write_log(argv[2])
    elif cmd == "read-log":
        read_log(argv[2])
    elif cmd == "lockstep-controller":
        lockstep_controller(argv[2], int(argv[3]))
    elif cmd == "lockstep-plant":
        lockstep_plant(int(argv[2]))
    elif cmd == "idle-subscriber":
        idle_subscriber(argv[2], float(argv[3]))
    elif cmd == "reading-subscriber":
        reading_subscriber(argv[2])
    elif cmd == "free-plant":
        free_plant(int(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
