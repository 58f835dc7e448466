"""Comparison core vs datacompy on the same records, side by side in one run.

1,000,000 record pairs + 100,000 SMS event pairs with a handful of differences (flags, a template
typo, NFD Hangul, a missing SMS). Each contender runs in a fresh subprocess, which builds its
input from the same deterministic generator and does its whole job:

- core:         compare() over generator factories (streamed, the second pass reads again only
                for the differing keys), evidence with character positions;
- core-lists:   the same with both sides first materialised as lists (what output_compare does
                with the scanned pages);
- datacompy:    pandas DataFrames built from the same dicts (construction included), then
                datacompy.PandasCompare joined on the key, matches() and all_mismatch() for the
                differing rows (it gives no character-level evidence);
- baseline:     only generating the dicts, to show what the generator itself costs.

Time: wall clock inside the child from before generation to the result (imports excluded).
Memory: the child's peak resident set (ru_maxrss of the finished child, read by the parent),
so every allocator (Python, numpy, pandas) counts; a fresh child per contender keeps the peaks
independent. Usage: python bench/bench_compare.py [--records N] [--sms N]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import unicodedata

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT)

NAMES = ["한지민", "김철수", "이영희", "박서준", "최유리", "정하늘", "강민호", "윤소라"]
STORES = ["1051", "1052", "2001", "2002", "3100"]
TEMPLATE = "[네이버 예약] {name}님, {store}점 {when} 예약이 {what}. 문의 02-123-4567"
WHAT = {"confirm": "확정되었습니다", "guide": "2시간 후입니다", "event": "옵션 이벤트 안내입니다"}
SLOTS = [f"2026-11-26T{h:02d}:{m:02d}:00Z" for h in range(24) for m in (0, 20, 40)]
RECORD_DIFFS = {17: "remind_sms", 500_001: "option_sms", 999_983: "remind_sms"}
SMS_TYPO, SMS_NFD, SMS_MISSING = {1_234, 77_777}, {4_321, 88_888}, {55_555}


def records(count: int, side: str):
    for i in range(count):
        slot = SLOTS[i % len(SLOTS)]
        item = {"booking_num": f"{STORES[i % 5]}_{i}", "phone": f"010{i:08d}",
                "name": NAMES[i % 8], "booking_time": f"2026-12-{1 + i % 28:02d} {10 + i % 9}:00",
                "option_time": "" if i % 3 else "2026-12-01 20:00",
                "confirm_sms": True, "remind_sms": i % 2 == 0, "option_sms": i % 7 == 0,
                "updated_slot": slot, "created_slot": SLOTS[(i // 3) % len(SLOTS)]}
        if side == "new" and i in RECORD_DIFFS:
            item[RECORD_DIFFS[i]] = not item[RECORD_DIFFS[i]]
        yield item


def sms(count: int, side: str):
    for i in range(count):
        sms_type = ("confirm", "guide", "event")[i % 3]
        content = TEMPLATE.format(name=NAMES[i % 8], store=STORES[i % 5], when="12월 1일 15:00",
                                  what=WHAT[sms_type])
        if side == "new":
            if i in SMS_MISSING:
                continue
            if i in SMS_TYPO:
                content = content.replace("확정", "확장").replace("후입", "후인")
            if i in SMS_NFD:
                content = unicodedata.normalize("NFD", content)
        yield {"event": "sms", "slot": SLOTS[i % len(SLOTS)], "sms_type": sms_type,
               "booking_num": f"{STORES[i % 5]}_{i}", "phone": f"010{i:08d}",
               "store_id": STORES[i % 5], "content": content, "delivered": side == "old"}


COMPARED = ["confirm_sms", "remind_sms", "option_sms", "name", "booking_time", "option_time"]


def _inputs(n_records: int, n_sms: int, streamed: bool) -> dict:
    def side(name):
        if streamed:
            return {"records": lambda: records(n_records, name), "sms": lambda: sms(n_sms, name)}
        return {"records": list(records(n_records, name)), "sms": list(sms(n_sms, name))}
    return {"old": side("old"), "new": side("new")}


def run_core(inputs: dict) -> dict:
    from module_utils.cutover.compare import compare

    report = compare(inputs["old"], inputs["new"],
                     {"settle_slots": 0, "records": {"compare": COMPARED}})
    total = report["total"]
    return {"discrepancies": total["discrepancies"], "matched": total["matched"],
            "by_kind": {k: v for k, v in total["discrepancies_by_kind"].items() if v},
            "text_evidence": [(e["index"], e["old_code_point"], e["new_code_point"])
                              for e in report["evidence"] if e["kind"] == "text_differs"]}


def run_datacompy(inputs: dict) -> dict:
    import datacompy
    import pandas as pd

    found = {}
    for name, keys, drop in (("records", ["booking_num", "phone"], ["updated_slot", "created_slot"]),
                             ("sms", ["sms_type", "booking_num", "phone"], ["delivered"])):
        old = pd.DataFrame.from_records(inputs["old"][name]).drop(columns=drop)
        new = pd.DataFrame.from_records(inputs["new"][name]).drop(columns=drop)
        cmp = datacompy.PandasCompare(old, new, join_columns=keys, df1_name="old", df2_name="new")
        found[name] = {"matches": bool(cmp.matches()), "mismatched_rows": len(cmp.all_mismatch()),
                       "only_old": len(cmp.df1_unq_rows), "only_new": len(cmp.df2_unq_rows)}
        del old, new, cmp
    return found


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child(kind: str, n_records: int, n_sms: int) -> dict:
    if kind == "datacompy":  # imports are not the comparison: load them before measuring
        import datacompy  # noqa: F401
    from module_utils.cutover import compare  # noqa: F401

    started = time.perf_counter()
    inputs = _inputs(n_records, n_sms, streamed=kind == "core-stream")
    input_seconds = time.perf_counter() - started
    input_kib = _status_kib("VmRSS")
    started = time.perf_counter()
    result = run_datacompy(inputs) if kind == "datacompy" else run_core(inputs)
    seconds = time.perf_counter() - started
    peak_kib = _status_kib("VmHWM")
    return {"seconds": round(seconds, 2), "input_seconds": round(input_seconds, 2),
            "peak_mib": round(peak_kib / 1024, 1),
            "above_input_mib": round((peak_kib - input_kib) / 1024, 1), "result": result}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--sms", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child")
    parser.add_argument("--only", nargs="*", default=["core", "datacompy", "core-stream"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.records, args.sms), ensure_ascii=False))
        return 0
    print(f"{args.records:,} record pairs + {args.sms:,} SMS pairs; time = the comparison after "
          f"the input exists (core-stream: generation included); memory = peak RSS of a fresh "
          f"process and its rise above the input", flush=True)
    best: dict = {}
    for _round in range(args.repeat):
        for kind in args.only:
            out = subprocess.run([sys.executable, __file__, "--child", kind, "--records",
                                  str(args.records), "--sms", str(args.sms)],
                                 capture_output=True, text=True, check=True)
            data = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{kind:11s} {data['seconds']:7.2f} s  peak {data['peak_mib']:7.1f} MiB "
                  f"(+{data['above_input_mib']:7.1f} over input {data['input_seconds']:.1f} s)  "
                  f"{json.dumps(data['result'], ensure_ascii=False)}", flush=True)
            if kind not in best or data["seconds"] < best[kind]["seconds"]:
                best[kind] = data
    if "core" in best and "datacompy" in best:
        core, other = best["core"], best["datacompy"]
        print(f"core vs datacompy: {other['seconds'] / core['seconds']:.1f}x faster; peak "
              f"{core['peak_mib'] / other['peak_mib']:.2f} of datacompy's, rise over input "
              f"{core['above_input_mib'] / max(other['above_input_mib'], 0.1):.2f} of datacompy's "
              f"(goal >= 5x, <= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
