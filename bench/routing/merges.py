"""Merge bench: how often a merge is wrong (a wrong merge loses a resident's complaint) and how
many true repeats are merged.

    python -m bench.routing.merges [--quick] [--records 20000] [--out bench/routing/RESULTS.md]

1. The labelled pairs ``tests/data/merge_pairs.jsonl`` (hand-written): true repeats (other
   words, other spellings of the same door or building, the same caller again) and near misses
   (other door or building numbers, another problem at one address, another road, personal
   matters of two callers, places known only to the road or 小区). For each pair the first
   report is opened, the second decided: merged into the first or not. Both routers.
2. A generated stream (``adapters.simulator``: the demo district's intake, hotline/app/walk-in/
   police records through the channel adapters into the application service) of ``--records``
   records, about a thousand a day, with no unit ever closing a case: every case stays open, so
   each new report meets all the similar ones before it (the worst case for wrong merges). The
   simulator knows which records tell of one incident; a merge into a case of another incident
   is wrong, exactly as the demo counts "误合并不同事件".

Precision = right merges / merges; recall = right merges / true repeats. Target: precision
≥ 0.995 on both. The section between the merge markers of ``bench/routing/RESULTS.md`` is
rewritten; the rest of the file is left alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from engine.config import SanshiConfig, load_config  # noqa: E402
from engine.deadlines import SHANGHAI  # noqa: E402
from engine.routing.port import CaseFacts  # noqa: E402

PAIRS = REPO / "tests" / "data" / "merge_pairs.jsonl"
RESULTS = REPO / "bench" / "routing" / "RESULTS.md"
BEGIN, END = "<!-- merges:begin -->", "<!-- merges:end -->"
T0 = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)
STREAM_START = dt.datetime(2026, 9, 7, tzinfo=SHANGHAI)
TARGET_PRECISION = 0.995


def read_pairs(path: Path = PAIRS) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]


def _facts(side: dict[str, Any], at: dt.datetime) -> CaseFacts:
    return CaseFacts(
        case_id=uuid4(),
        channel=side.get("channel", "hotline"),
        content=side["content"],
        address=side.get("address", ""),
        category_hint="",
        urgent=False,
        concern="worry",
        received_at=at,
        caller_phone=side.get("caller_phone", ""),
        caller_name=side.get("caller_name", ""),
        appeal_type=side.get("appeal_type", ""),
    )


def judge_pair(router: Any, pair: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    """Open the first report, decide the second: merged into the first, suggested, or neither."""
    first = _facts(pair["a"], at)
    decided = router.decide(first)
    router.case_opened(first, decided.category, decided.locality)
    second = _facts(pair["b"], at + dt.timedelta(hours=2))
    decision = router.decide(second)
    router.case_closed(first.case_id)
    merged = decision.merge_into is not None and decision.merge_into.case_id == first.case_id
    suggested = any(d.case_id == first.case_id for d in decision.possible_duplicates)
    return {
        "id": pair["id"],
        "kind": pair["kind"],
        "label": bool(pair["merge"]),
        "merged": merged,
        "suggested": suggested,
        "categories": (decided.category, decision.category),
    }


def pairs_section(config: SanshiConfig, routers: dict[str, Any]) -> dict[str, Any]:
    pairs = read_pairs()
    out: dict[str, Any] = {"pairs": len(pairs), "routers": {}}
    for name, router in routers.items():
        results = [judge_pair(router, p, T0 + dt.timedelta(days=i)) for i, p in enumerate(pairs)]
        out["routers"][name] = score_pairs(results)
    return out


def score_pairs(results: list[dict[str, Any]]) -> dict[str, Any]:
    merged = [r for r in results if r["merged"]]
    right = [r for r in merged if r["label"]]
    positives = [r for r in results if r["label"]]
    by_kind: dict[str, Counter[str]] = {}
    for r in results:
        c = by_kind.setdefault(r["kind"], Counter())
        c["pairs"] += 1
        c["merged"] += r["merged"]
        c["suggested"] += r["suggested"] and not r["merged"]
    return {
        "merges": len(merged),
        "wrong": [r["id"] for r in merged if not r["label"]],
        "missed": [r["id"] for r in positives if not r["merged"]],
        "precision": len(right) / len(merged) if merged else 1.0,
        "recall": len(right) / len(positives) if positives else 1.0,
        "positives": len(positives),
        "by_kind": {k: dict(v) for k, v in by_kind.items()},
    }


# ---- the stream -------------------------------------------------------------------------------


def stream_section(
    config: SanshiConfig,
    records: int,
    seed: int,
    router: Any,
    per_day: float | None = None,
    merges_log: list[tuple[UUID, UUID, bool]] | None = None,
) -> dict[str, Any]:
    from adapters.channels import Parsed, adapt, context_for, read_one
    from adapters.simulator.stream import IntakeStream, SimRecord, daily_volume
    from engine.application import SanshiApplication
    from engine.intake import IntakeCommand

    per_day = per_day or daily_volume(config)
    scale = per_day / daily_volume(config)
    days = max(1, int(records / per_day * 1.1) + 2)
    stream = IntakeStream(config, seed, STREAM_START, days, scale=scale, surge=None)
    app = SanshiApplication(config, router, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ctx = context_for(config)
    incident_of: dict[UUID, int] = {}
    first_case: dict[int, UUID] = {}
    counts: Counter[str] = Counter()
    wrong_examples: list[dict[str, str]] = []
    content_of: dict[UUID, str] = {}
    decide_s = 0.0
    try:
        for hour in stream.hours():
            if counts["records"] >= records:
                break
            batch = stream.records_between(hour, hour + dt.timedelta(hours=1))
            cmds: list[IntakeCommand] = []
            recs: list[SimRecord] = []
            for rec in batch:
                if counts["records"] >= records:
                    break
                counts["records"] += 1
                raw = read_one(rec.record, position=f"bench:{rec.channel}:{rec.source_ref}")
                adapted = adapt(rec.channel, raw, dataclasses.replace(ctx, now=rec.received_at))
                if not isinstance(adapted, Parsed):
                    counts["not_taken"] += 1
                    continue
                cmds.append(adapted.command)
                recs.append(rec)
            if not cmds:
                continue
            start = time.perf_counter()
            results = app.receive_batch(cmds, principal="system:bench")
            decide_s += time.perf_counter() - start
            for rec, cmd, res in zip(recs, cmds, results, strict=True):
                if res.duplicate or rec.incident is None:
                    counts["resent"] += res.duplicate
                    continue
                counts["cases"] += 1
                number = rec.incident.number
                incident_of[res.case_id] = number
                content_of[res.case_id] = f"{cmd.address}｜{cmd.content}"
                if number in first_case:
                    counts["repeats"] += 1
                else:
                    first_case[number] = res.case_id
                if res.merged_into is None:
                    continue
                counts["merges"] += 1
                if merges_log is not None:
                    merges_log.append((res.case_id, res.merged_into, incident_of.get(res.merged_into) == number))
                if incident_of.get(res.merged_into) == number:
                    counts["right"] += 1
                else:
                    counts["wrong"] += 1
                    if len(wrong_examples) < 20:
                        wrong_examples.append(
                            {"case": content_of[res.case_id], "into": content_of.get(res.merged_into, "?")}
                        )
    finally:
        app.close()
    merges, right = counts["merges"], counts["right"]
    return {
        "records": counts["records"],
        "cases": counts["cases"],
        "resent": counts["resent"],
        "not_taken": counts["not_taken"],
        "repeats": counts["repeats"],
        "merges": merges,
        "right": right,
        "wrong": counts["wrong"],
        "precision": right / merges if merges else 1.0,
        "recall": right / counts["repeats"] if counts["repeats"] else 1.0,
        "open_at_end": len(router.index) if hasattr(router, "index") else None,
        "seconds": decide_s,
        "days": days,
        "wrong_examples": wrong_examples,
        "saturated": stream.saturated,
    }


# ---- report -----------------------------------------------------------------------------------


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        return head + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(pairs: dict[str, Any], streams: dict[str, dict[str, Any]], seed: int) -> str:
    now = dt.datetime.now(SHANGHAI)
    lines = [
        BEGIN,
        "## Merges (合并)",
        "",
        f"Run: `python -m bench.routing.merges` at commit {_commit()} on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}), {now:%Y-%m-%d %H:%M} Asia/Shanghai.",
        "A merged case is never dispatched: a wrong merge loses a complaint. Precision = right merges / merges;"
        " recall = right merges / true repeats.",
        "",
        "| set | router | merges | wrong | precision | recall | target precision ≥ 0.995 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in pairs["routers"].items():
        ok = "yes" if r["precision"] >= TARGET_PRECISION else "**no**"
        lines.append(
            f"| {pairs['pairs']} labelled pairs (`tests/data/merge_pairs.jsonl`) | {name} | {r['merges']} | "
            f"{len(r['wrong'])} | {r['precision']:.3f} | {r['recall']:.3f} ({r['positives']} true repeats) | {ok} |"
        )
    for name, s in streams.items():
        ok = "yes" if s["precision"] >= TARGET_PRECISION else "**no**"
        lines.append(
            f"| stream of {s['records']:,} records (~{s['per_day']:,.0f} a day), seed {seed}, no case ever closed | {name} | {s['merges']} | "
            f"{s['wrong']} | {s['precision']:.4f} | {s['recall']:.3f} ({s['repeats']} true repeats) | {ok} |"
        )
    lines += ["", "Labelled pairs by kind (learning router; merged / suggested to the operator only / pairs):", ""]
    first = next(iter(pairs["routers"].values()))
    lines += ["| kind | should merge | merged | suggested only | pairs |", "|---|---|---|---|---|"]
    expected = {"repeat": "yes", "reworded": "yes", "samecaller": "yes"}
    for kind, c in first["by_kind"].items():
        lines.append(
            f"| {kind} | {expected.get(kind, 'no')} | {c.get('merged', 0)} | {c.get('suggested', 0)} | {c['pairs']} |"
        )
    for name, r in pairs["routers"].items():
        if r["wrong"] or r["missed"]:
            lines.append("")
            lines.append(f"{name}: wrong merges {r['wrong'] or 'none'}; true repeats not merged {r['missed'] or 'none'}.")
    for name, s in streams.items():
        lines += [
            "",
            f"Stream ({name} router): {s['records']:,} records over {s['days']} simulated days → {s['cases']:,} cases "
            f"({s['resent']} re-sent records recognised as such, {s['not_taken']} police records kept by the police); "
            f"{s['repeats']} reports repeat an incident already reported; "
            f"open cases in the index at the end: {s['open_at_end'] if s['open_at_end'] is not None else 'n/a'}; "
            f"intake time {s['seconds']:.0f} s; {s['saturated']} new reports landed on a door, building, lamp or"
            " crossing where an incident of the same problem began within the month and were told as"
            " another report of it (the district crowded).",
        ]
        if s["wrong_examples"]:
            lines.append("")
            lines.append("Wrong merges (case → merged into):")
            lines.append("")
            lines += [f"- {w['case']} → {w['into']}" for w in s["wrong_examples"]]
    lines += [
        "",
        "The run at ~1,000 records a day crowds the demo district (a few dozen roads, door numbers 1–188 in"
        " the simulator): on its busiest roads one category gets more incidents in a month than the road has"
        " doors, so the simulator runs out of free spots. A report that lands where an incident of the same"
        " problem began within the month (\"港口路91号门前的井盖坏了\" twice in a week) is one manhole to"
        " anyone, so the simulator tells and counts it as another report of that incident; two problems of one"
        " category at one door (a lamp and a manhole) stay two incidents, and the router must keep them apart."
        " At the demo district's own rate that is rare (the count per stream is above)."
        " Every wrong merge counted is one the router made between two incidents a reader can tell apart.",
        "",
        "How to read this: the stream's true repeats include reports the router cannot merge by rule —"
        " a personal matter from a second caller, a place known only to the road or 小区 (\"小区门口的路灯\"),"
        " two reports the classifier put in two categories; those are suggested to the operator"
        " (`possible_duplicates` in the routing decision) and dispatched, never merged.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(text: str, path: Path = RESULTS) -> None:
    current = path.read_text("utf-8") if path.exists() else "# Routing bench results\n"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        current = head + text + tail.lstrip("\n")
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current, "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="3,000 records, results not written")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--saturated", type=float, default=1000.0,
                        help="records a day of the extra run that crowds the demo district")
    parser.add_argument("--only", action="append", choices=("pairs", "learning", "keyword", "crowded"),
                        help="run only these sets (repeatable; results not written): the labelled pairs, "
                             "the stream at the district's rate with either router, the crowded stream")
    args = parser.parse_args(argv)
    only = set(args.only or ("pairs", "learning", "keyword", "crowded"))
    from engine.routing.keyword import KeywordRouter
    from engine.routing.learning import LearningRouter

    config = load_config()
    records = 3_000 if args.quick else args.records
    pairs: dict[str, Any] = {"pairs": 0, "routers": {}}
    if "pairs" in only:
        learning = LearningRouter(config).wait_ready()
        pairs = pairs_section(config, {"learning": learning, "keyword": KeywordRouter(config)})
    for name, r in pairs["routers"].items():
        print(f"pairs/{name}: merges {r['merges']} wrong {r['wrong']} precision {r['precision']:.3f} "
              f"recall {r['recall']:.3f} missed {r['missed']}", flush=True)
    streams: dict[str, dict[str, Any]] = {}
    runs = [
        run
        for run, key in (
            (("learning", None), "learning"),
            (("keyword", None), "keyword"),
            (("learning", args.saturated), "crowded"),
        )
        if key in only
    ]
    for name, per_day in runs:
        router = LearningRouter(config).wait_ready() if name == "learning" else KeywordRouter(config)
        s = stream_section(config, records, args.seed, router, per_day=per_day)
        s["per_day"] = per_day or round(s["cases"] / s["days"])
        streams[name if per_day is None else f"{name}, {per_day:g} a day"] = s
        print(f"stream/{name}: {s['records']} records, merges {s['merges']} wrong {s['wrong']} "
              f"precision {s['precision']:.4f} recall {s['recall']:.3f} ({s['repeats']} repeats), "
              f"{s['seconds']:.0f} s", flush=True)
        for w in s["wrong_examples"][:8]:
            print("   wrong:", w["case"], "→", w["into"])
    if not (args.quick or args.no_write or args.only):
        write_section(render(pairs, streams, args.seed), Path(args.out))
    ok = all(r["precision"] >= TARGET_PRECISION for r in pairs["routers"].values()) and all(
        s["precision"] >= TARGET_PRECISION for s in streams.values()
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
