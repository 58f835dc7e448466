"""Loaded by every Python process of a timed benchmark playbook (PYTHONPATH): see bench/timing.py."""
import os
import sys

if os.environ.get("CUTOVER_BENCH_TIMING"):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        from bench.timing import install
    finally:
        sys.path.pop(0)
    install(os.environ["CUTOVER_BENCH_TIMING"])
