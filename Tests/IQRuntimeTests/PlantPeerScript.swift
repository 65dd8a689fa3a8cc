/// An independent plant for the runtime tests: Python with pyzmq and the protobuf code that
/// `protoc --python_out` generates from Proto/iqmpc.proto at test time. It shares no code
/// with the runtime (not IQLink's codec, not its sockets), so what it checks is the wire.
/// Each scenario prints its bound endpoint(s) on the first line, then one JSON summary line.
let plantPeerScript = #"""
import json, math, random, struct, sys, time
import zmq

sys.path.insert(0, sys.argv[1])
import iqmpc_pb2 as pb

scenario = sys.argv[2]
cfg = json.loads(sys.argv[3])
ctx = zmq.Context()
now = time.monotonic_ns            # CLOCK_MONOTONIC, the runtime's clock

def spec():
    s = pb.RobotSpec(robot_id=cfg["robot_id"], obs_dim=len(cfg["obs"]), act_dim=len(cfg["act"]),
                     control_period_ns=cfg["period_ns"], episode_length=0)
    for name, unit, lo, hi in cfg["obs"]:
        s.observations.add(name=name, unit=unit, low=lo, high=hi)
    for name, unit, lo, hi in cfg["act"]:
        s.actions.add(name=name, unit=unit, low=lo, high=hi)
    return s

def hello(mode):
    e = pb.Envelope()
    e.hello.protocol_version = pb.PROTOCOL_VERSION
    e.hello.role = pb.ROLE_SIMULATOR
    e.hello.spec.CopyFrom(spec())
    e.hello.software = "python test plant"
    e.hello.mode = mode
    return e.SerializeToString()

def good_values():
    th = random.uniform(-math.pi, math.pi)
    return [math.cos(th), math.sin(th), random.uniform(-8, 8)]

def obs(seq, values=None, ts=None, start=False):
    e = pb.Envelope()
    o = e.observation
    o.seq = seq
    o.timestamp_ns = now() if ts is None else ts
    o.values.extend(good_values() if values is None else values)
    o.episode_start = start
    return e.SerializeToString()

def parse(raw):
    e = pb.Envelope()
    e.ParseFromString(raw)
    return e

def describe(e):
    kind = e.WhichOneof("body")
    if kind == "action":
        a = e.action
        return {"kind": "action", "obs_seq": a.observation_seq, "seq": a.seq, "values": list(a.values),
                "source": a.diagnostics.source, "fault": a.diagnostics.fault,
                "iterations": a.diagnostics.iterations}
    if kind == "error":
        return {"kind": "error", "code": e.error.code, "fault": e.error.fault, "message": e.error.message}
    if kind == "hello_ack":
        return {"kind": "hello_ack", "accepted": e.hello_ack.accepted, "message": e.hello_ack.error.message}
    return {"kind": kind}

def lockstep_socket(endpoint="tcp://127.0.0.1:*"):
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, cfg.get("timeout_ms", 5000))
    s.setsockopt(zmq.REQ_RELAXED, 1)
    s.setsockopt(zmq.REQ_CORRELATE, 1)
    s.bind(endpoint)
    print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    return s

def request(s, raw):
    s.send(raw)
    try:
        return describe(parse(s.recv()))
    except zmq.Again:
        return None

def done(summary):
    print(json.dumps(summary), flush=True)
    sys.exit(0)

if scenario == "curve-lockstep":
    # The plant as a CURVE server, authenticated by pyzmq's own ZAP handler (zmq.auth),
    # authorising only cfg["runtime_public"]; then N frames if the runtime gets a session.
    import logging, os
    from zmq.auth.thread import ThreadAuthenticator
    denied = []
    class Denials(logging.Handler):
        def emit(self, record):
            if "DENIED" in record.getMessage():
                denied.append(record.getMessage())
    keydir = cfg["keydir"]
    os.makedirs(os.path.join(keydir, "authorised"), exist_ok=True)
    with open(os.path.join(keydir, "authorised", "runtime.key"), "w") as f:
        f.write('curve\n    public-key = "%s"\n' % cfg["runtime_public"])
    public, secret = zmq.curve_keypair()
    with open(os.path.join(keydir, "plant.public"), "w") as f:
        f.write(public.decode() + "\n")
    log = logging.getLogger("plant-zap")
    log.setLevel(logging.DEBUG)
    log.addHandler(Denials())
    log.propagate = False
    auth = ThreadAuthenticator(ctx, log=log)
    auth.start()
    auth.configure_curve(domain="*", location=os.path.join(keydir, "authorised"))
    # pyzmq answers ZAP with the client key as user id; with any non-empty user id libzmq
    # 4.3.4's REQ socket never receives the reply (seen here; REP and PUSH/PULL are fine),
    # so this plant answers with an empty one, as iqmpc's own ZAP handlers do.
    auth.thread.authenticator.curve_user_id = lambda key: ""
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 500)
    s.setsockopt(zmq.SNDTIMEO, 500)
    s.setsockopt(zmq.REQ_RELAXED, 1)
    s.setsockopt(zmq.REQ_CORRELATE, 1)
    s.curve_secretkey = secret
    s.curve_server = True
    s.bind("tcp://127.0.0.1:*")
    print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    ack, end = None, time.monotonic() + cfg["wait_ms"] / 1000
    while ack is None and time.monotonic() < end:
        try:
            ack = request(s, hello(pb.LINK_MODE_LOCKSTEP))
        except zmq.Again:
            time.sleep(0.05)
    answered = 0
    if ack is not None and ack.get("accepted"):
        for k in range(cfg["frames"]):
            r = request(s, obs(k + 1, start=(k == 0)))
            if r is not None and r["kind"] == "action" and r["obs_seq"] == k + 1:
                answered += 1
        e = pb.Envelope()
        e.shutdown.reason = "done"
        request(s, e.SerializeToString())
    auth.stop()
    done({"handshake": ack is not None and bool(ack.get("accepted")), "answered": answered, "denied": len(denied)})

if scenario == "lockstep-normal":
    # N good frames; every answer must name its frame and respect the hard limits.
    s = lockstep_socket(cfg.get("bind", "tcp://127.0.0.1:*"))
    ack = request(s, hello(pb.LINK_MODE_LOCKSTEP))
    if ack is None or not ack.get("accepted"):
        done({"error": "handshake", "ack": ack})
    # The lockstep queue warm-up (Proto/README.md): Heartbeat requests, each answered.
    warm = 0
    for _ in range(cfg.get("warmup", 0)):
        e = pb.Envelope()
        e.heartbeat.timestamp_ns = now()
        e.heartbeat.role = pb.ROLE_SIMULATOR
        r = request(s, e.SerializeToString())
        if r is None or r["kind"] != "heartbeat":
            break
        warm += 1
    n, first = cfg["frames"], cfg.get("first_seq", 1)
    unanswered = mismatched = out_of_limits = 0
    sources, details = {}, []
    lo, hi = cfg["act"][0][2], cfg["act"][0][3]
    for i in range(n):
        seq = first + i
        r = request(s, obs(seq, start=(i % 500 == 0)))
        if r is None:
            unanswered += 1
            continue
        if r["kind"] != "action" or r["obs_seq"] != seq:
            mismatched += 1
            if len(details) < 5:
                details.append({"seq": seq, "reply": r})
            continue
        if any(v < lo or v > hi or v != v for v in r["values"]):
            out_of_limits += 1
        sources[str(r["source"])] = sources.get(str(r["source"]), 0) + 1
    shutdown_reply = None
    if cfg.get("shutdown"):
        e = pb.Envelope()
        e.shutdown.reason = "episode budget done"
        r = request(s, e.SerializeToString())
        shutdown_reply = None if r is None else r["kind"]
    done({"frames": n, "warmup_answered": warm, "shutdown_reply": shutdown_reply, "unanswered": unanswered, "mismatched": mismatched,
          "out_of_limits": out_of_limits, "sources": sources, "mismatch_details": details})

PLANNED = -1   # not a fault: answered normally

def bad_cases(mode):
    """(name, build(next_seq, last_good_seq) -> bytes, expected fault; None: an Error reply).
    Each bad frame is followed by a good one, which must be answered normally."""
    big = pb.Envelope()
    big.observation.seq = 1
    big.observation.values.extend([0.5] * 1500)          # 6 KB: over MAX_FRAME_BYTES
    huge = b"\x1a" + b"\xff" * 70000                     # over MAX_CONTROL_BYTES: refused by the socket
    reset = pb.Envelope()
    reset.reset.seed = 3
    return [
        ("malformed", lambda n, g: b"\xff\xfe\xfd\x00garbage", pb.FAULT_MALFORMED),
        ("empty", lambda n, g: b"", pb.FAULT_MALFORMED),
        ("oversized", lambda n, g: big.SerializeToString(), pb.FAULT_OVERSIZED),
        ("oversized_socket", lambda n, g: huge, pb.FAULT_OVERSIZED),
        ("wrong_length", lambda n, g: obs(n, values=[1.0, 0.0]), pb.FAULT_WRONG_DIMENSION),
        ("nan", lambda n, g: obs(n, values=[1.0, 0.0, float("nan")]), pb.FAULT_NON_FINITE),
        ("inf", lambda n, g: obs(n, values=[1.0, float("inf"), 0.0]), pb.FAULT_NON_FINITE),
        ("out_of_range", lambda n, g: obs(n, values=[1.0, 0.0, 1000.0]), pb.FAULT_OUT_OF_RANGE),
    ] + ([
        ("stale", lambda n, g: obs(n, ts=now() - 5_000_000_000), pb.FAULT_STALE),
        ("from_future", lambda n, g: obs(n, ts=now() + 5_000_000_000), pb.FAULT_FROM_FUTURE),
    ] if mode == "free" else [
        # Lockstep never compares the simulator's clock: simulated time or 0 is fine.
        ("simulated_clock", lambda n, g: obs(n, ts=0), PLANNED),
    ]) + [
        ("out_of_order", lambda n, g: obs(g - 50), pb.FAULT_OUT_OF_ORDER),
        ("duplicate", lambda n, g: obs(g), pb.FAULT_DUPLICATE),
        ("unexpected_reset", lambda n, g: reset.SerializeToString(), None),
    ]

if scenario == "lockstep-bad":
    s = lockstep_socket()
    ack = request(s, hello(pb.LINK_MODE_LOCKSTEP))
    if ack is None or not ack.get("accepted"):
        done({"error": "handshake", "ack": ack})
    results = []
    seq = 100
    request(s, obs(seq, start=True))
    for name, build, expected in bad_cases("lockstep"):
        r = request(s, build(seq + 1, seq))
        seq += 2
        good = request(s, obs(seq))
        results.append({"case": name, "expected": expected, "reply": r, "next": good, "next_seq": seq})
    done({"results": results})

if scenario == "free-bad":
    # Free-running: PUSH observations, PULL actions; bad frames, then silence (watchdog).
    push = ctx.socket(zmq.PUSH); push.setsockopt(zmq.LINGER, 0); push.setsockopt(zmq.SNDHWM, 4)
    push.bind("tcp://127.0.0.1:*")
    pull = ctx.socket(zmq.PULL); pull.setsockopt(zmq.LINGER, 0)
    pull.bind("tcp://127.0.0.1:*")
    print(push.getsockopt_string(zmq.LAST_ENDPOINT) + " " + pull.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    poller = zmq.Poller(); poller.register(pull, zmq.POLLIN)
    def recv_all(wait_ms):
        out, end = [], time.monotonic() + wait_ms / 1000
        while True:
            left = int((end - time.monotonic()) * 1000)
            if left <= 0 or not poller.poll(left):
                return out
            out.append(describe(parse(pull.recv())))
    # Observation before the handshake: an Error naming FAULT_NO_HANDSHAKE.
    pre = None
    for _ in range(50):
        push.send(obs(1))
        got = recv_all(100)
        if got:
            pre = got[0]
            break
    acked = False
    for _ in range(50):
        push.send(hello(pb.LINK_MODE_FREE_RUNNING))
        if any(m["kind"] == "hello_ack" and m["accepted"] for m in recv_all(100)):
            acked = True
            break
    if not acked:
        done({"error": "no HelloAck"})
    results = []
    seq = 100
    push.send(obs(seq, start=True)); recv_all(200)
    for name, build, expected in bad_cases("free"):
        push.send(build(seq + 1, seq))
        r = recv_all(100)
        seq += 2
        push.send(obs(seq))
        good = recv_all(100)
        results.append({"case": name, "expected": expected, "replies": r, "next": good, "next_seq": seq})
    # Silence: the watchdog must push the safe action, repeatedly.
    silent = recv_all(cfg["silence_ms"])
    seq += 10
    push.send(obs(seq))
    after = recv_all(100)
    # A Hello the runtime must refuse (another robot) in the middle of the session: the safe
    # action, then the refusing HelloAck, then nothing (the session, and its watchdog, ended).
    bad = pb.Envelope(); bad.ParseFromString(hello(pb.LINK_MODE_FREE_RUNNING))
    bad.hello.spec.robot_id = "another-robot"
    push.send(bad.SerializeToString())
    refused = recv_all(cfg["silence_ms"])
    done({"pre_handshake": pre, "results": results, "silence": silent, "after": after, "refused": refused})

if scenario == "free-stream":
    # Free-running stream at a fixed period; reports every answer (the test signals the runtime).
    push = ctx.socket(zmq.PUSH); push.setsockopt(zmq.LINGER, 0); push.setsockopt(zmq.SNDHWM, 4)
    push.bind("tcp://127.0.0.1:*")
    pull = ctx.socket(zmq.PULL); pull.setsockopt(zmq.LINGER, 0)
    pull.bind("tcp://127.0.0.1:*")
    print(push.getsockopt_string(zmq.LAST_ENDPOINT) + " " + pull.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    poller = zmq.Poller(); poller.register(pull, zmq.POLLIN)
    acked = False
    deadline = time.monotonic() + 30
    while not acked and time.monotonic() < deadline:
        try:
            push.send(hello(pb.LINK_MODE_FREE_RUNNING), zmq.NOBLOCK)
        except zmq.Again:
            pass
        if poller.poll(100):
            m = describe(parse(pull.recv()))
            acked = m["kind"] == "hello_ack" and m["accepted"]
    if not acked:
        done({"error": "no HelloAck"})
    print("streaming", flush=True)
    replies, seq, period = [], 0, cfg["period_ms"] / 1000
    end = time.monotonic() + cfg["duration_ms"] / 1000
    next_send = time.monotonic()
    while time.monotonic() < end:
        if time.monotonic() >= next_send:
            seq += 1
            try:
                push.send(obs(seq, start=(seq == 1)), zmq.NOBLOCK)   # never block: the runtime may be gone
            except zmq.Again:
                pass
            next_send += period
        if poller.poll(max(0, int((next_send - time.monotonic()) * 1000))):
            replies.append(describe(parse(pull.recv())))
    actions = [r for r in replies if r["kind"] == "action"]
    done({"sent": seq, "actions": len(actions),
          "answered": len(set(a["obs_seq"] for a in actions if a["obs_seq"] > 0)),
          "shutdown": [a for a in actions if a["fault"] == pb.FAULT_SHUTDOWN],
          "duplicates": len(actions) - len(set((a["obs_seq"], a["fault"]) for a in actions))})
"""#
