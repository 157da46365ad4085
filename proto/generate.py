"""Regenerate the Python code for forest's protobuf files.

Run from anywhere: ``python proto/generate.py``. The output lands beside the
``.proto`` files, so that ``forest.v1`` is an ordinary installed package and
the generated ``from forest.v1 import ..._pb2`` imports resolve as they are.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    return sorted((root / "forest" / "v1").glob("*.proto"))


def generate(out_dir: Path, root: Path = PROTO_ROOT) -> None:
    """Write ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` under ``out_dir``."""
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{root}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(path.relative_to(root)) for path in proto_files(root)),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed; see its output above")


if __name__ == "__main__":
    generate(PROTO_ROOT)
    sys.exit(0)
