"""The wire protocol's Python classes, generated from Proto/iqmpc.proto at import time.

Why generate instead of committing iqmpc_pb2.py: the .proto is the source of truth, and the
Python runtime must match the protoc that generated the code (Debian ships both at 3.21), so
generating with the machine's own protoc keeps every Python tool on the current protocol
without a second generated file to keep in step. Needs `protoc` on PATH and the `protobuf`
Python package. The generated module lives in a temporary directory removed at exit.
"""
import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load():
    """Returns the `iqmpc_pb2` module (imported once per process)."""
    if "iqmpc_pb2" in sys.modules:
        return sys.modules["iqmpc_pb2"]
    out = tempfile.mkdtemp(prefix="iqmpc-pb-")
    atexit.register(shutil.rmtree, out, True)
    proto = os.path.join(ROOT, "Proto")
    subprocess.run(["protoc", "-I", proto, "--python_out", out, os.path.join(proto, "iqmpc.proto")], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("iqmpc_pb2")
