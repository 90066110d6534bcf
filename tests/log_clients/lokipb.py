"""Loki's push protobuf (grafana/loki pkg/push/push.proto, less its gogoproto options),
compiled at run time with grpcio-tools' protoc into a temp directory, and the snappy
*block* compression Loki's push endpoint expects (not the framed/streaming format).

    push_pb2 = lokipb.load()            # the generated module
    body = lokipb.encode(request)       # snappy block of request.SerializeToString()
"""

import importlib
import importlib.resources
import os
import sys
import tempfile

import cramjam

# Field numbers and names as Loki publishes them. `structuredMetadata` keeps Loki's
# camel-case field name (so its JSON name is the same).
PUSH_PROTO = """\
syntax = "proto3";

package logproto;

import "google/protobuf/timestamp.proto";

message PushRequest {
  repeated StreamAdapter streams = 1;
}

message PushResponse {}

message StreamAdapter {
  // The label set in its text form: {app="billing", env="prod"}.
  string labels = 1;
  repeated EntryAdapter entries = 2;
  // hash contains the original hash of the stream.
  uint64 hash = 3;
}

message LabelPairAdapter {
  string name = 1;
  string value = 2;
}

message EntryAdapter {
  google.protobuf.Timestamp timestamp = 1;
  string line = 2;
  repeated LabelPairAdapter structuredMetadata = 3;
}
"""

_module = None


def load(out_dir=None):
    """Compiles the proto (once per process) and returns the generated `push_pb2`."""
    global _module
    if _module is not None:
        return _module
    from grpc_tools import protoc

    out_dir = out_dir or os.environ.get("LOG_CLIENTS_GEN") or tempfile.mkdtemp(prefix="lokipb-")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "push.proto"), "w", encoding="utf-8") as f:
        f.write(PUSH_PROTO)
    # grpc_tools ships the well-known types (google/protobuf/timestamp.proto) in _proto/.
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    status = protoc.main(
        ["protoc", f"-I{out_dir}", f"-I{well_known}", f"--python_out={out_dir}", "push.proto"]
    )
    if status != 0:
        raise RuntimeError(f"protoc failed on push.proto ({status})")
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    _module = importlib.import_module("push_pb2")
    return _module


def encode(request) -> bytes:
    """The HTTP body: the serialized request, snappy block-compressed."""
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def decode(body: bytes):
    """The inverse of `encode`, for the recorder."""
    request = load().PushRequest()
    request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return request
