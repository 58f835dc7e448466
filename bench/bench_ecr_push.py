"""Benchmark: push a 200 MB image archive (several layers) through ecr_image, then push it again.

    .venv/bin/python bench/bench_ecr_push.py [--mb 200] [--layers 4]

Starts its own emulator on a free loopback port (stopped by its PID at the end), generates a
deterministic OCI archive, runs the ecr_image module in-process (real HTTP to the emulator) and
prints first-push throughput and the no-op time of the second push. Results: bench/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from rehearsal import emulator as emu  # noqa: E402
from rehearsal.image_archive import build_archive  # noqa: E402
from tests.module_runner import run_module  # noqa: E402

MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ecr-") as tmp:
        started = time.monotonic()
        sizes = [args.mb * MB // args.layers] * args.layers
        archive = build_archive(Path(tmp) / "image.tar", layout="oci", layers=sizes, seed=42)
        generate_s = time.monotonic() - started
        archive_mb = archive.stat().st_size / MB
        server = emu.start(f"http://127.0.0.1:{free_port()}", directory=Path(tmp) / "emu")
        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        try:
            push = {"repository": "naver-sms-automation", "archive": str(archive), "tags": ["v1.0.0", "latest"]}
            started = time.monotonic()
            first = run_module("ecr_image", push, server.url)
            first_s = time.monotonic() - started
            if first.get("failed") or not first["changed"]:
                raise SystemExit(f"first push did not push: {first.get('msg')}")
            started = time.monotonic()
            again = run_module("ecr_image", push, server.url)
            again_s = time.monotonic() - started
            if again.get("failed") or again["changed"] or again["uploaded_layers"]:
                raise SystemExit(f"second push was not a no-op: {again}")
        finally:
            server.stop()
    pushed_mb = first["size_bytes"] / MB
    print(f"archive: {archive_mb:.0f} MiB, {args.layers} layers, generated in {generate_s:.1f}s")
    print(f"first push: {pushed_mb:.0f} MiB in {first_s:.1f}s = {pushed_mb / first_s:.1f} MiB/s "
          f"({len(first['uploaded_layers'])} blobs uploaded)")
    print(f"push again (no-op, changed=false, no upload): {again_s:.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
