"""Generates the Python gRPC stubs beside the .proto files, or checks them for drift.

python -m services.devstack.protogen proto          # regenerate in place
python -m services.devstack.protogen proto --check  # exit 1 when the stubs are stale
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(proto_root: Path, out_dir: Path) -> None:
    well_known = str(resources.files("grpc_tools") / "_proto")
    sources = sorted(str(p.relative_to(proto_root)) for p in proto_root.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # protoc writes modules, not packages; every directory on the way needs an __init__.
    for proto in sources:
        directory = (out_dir / proto).parent
        while directory != out_dir:
            (directory / "__init__.py").touch()
            directory = directory.parent


def generated_files(root: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for p in root.rglob("*")
        if p.name.endswith(GENERATED_SUFFIXES) or p.name == "__init__.py"
    }


def stale_files(proto_root: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(proto_root, fresh)
        expected, present = generated_files(fresh), generated_files(proto_root)
        stale = [str(p) for p in sorted(expected ^ present)]
        stale += [
            str(p)
            for p in sorted(expected & present)
            if not filecmp.cmp(fresh / p, proto_root / p, shallow=False)
        ]
        return stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("proto_root", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        stale = stale_files(args.proto_root)
        if stale:
            print("generated stubs are out of date; run `make proto`:", *stale, sep="\n  ")
            sys.exit(1)
        return
    for path in generated_files(args.proto_root):
        (args.proto_root / path).unlink()
    with tempfile.TemporaryDirectory() as tmp:
        generate(args.proto_root, Path(tmp))
        shutil.copytree(tmp, args.proto_root, dirs_exist_ok=True)


if __name__ == "__main__":
    main()
