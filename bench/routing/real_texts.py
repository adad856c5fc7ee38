"""Routing bench on real complaint texts (真实诉求文本): how right the router is on what residents
actually wrote, not on what our simulator writes.

    python -m bench.routing.real_texts [--split heldout|train|all] [--out bench/routing/RESULTS_real_texts.md]

The corpus ``tests/data/real_texts/corpus.jsonl`` holds short quotations of complaints from public
reports (12345 columns, government message-board replies, mediation and court stories, police
referrals, news), labelled with the top-level category codes a 12345 operator would dispatch to.
Every ``heldout`` text goes through the router exactly as the product builds it
(``adapters.bootstrap.build_router(config)`` and ``decide(CaseFacts(...))``), once on the demo
district and once on ``tests/data/second_district.yaml``. Printed and written: top-level
accuracy, accuracy per category, the share sent to the manual queue (confidence below the
district's threshold), the precision of what would go out without a person, and the confusion
pairs.

The split is part of the corpus file and is recomputed by :func:`split_of` (see the corpus
README): ``heldout`` rows are never used for training or tuning.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CORPUS = REPO / "tests" / "data" / "real_texts" / "corpus.jsonl"
DISTRICTS = {
    "demo (haicheng)": REPO / "engine" / "data" / "haicheng.yaml",
    "second (gulou-xz)": REPO / "tests" / "data" / "second_district.yaml",
}
FIELDS = (
    "id",
    "text",
    "category",
    "leaf",
    "is_consultation",
    "personal",
    "channel_kind",
    "source",
    "source_title",
    "split",
)
# Where the text was published → the intake channel it would have come in by (engine.intake.Channel).
CHANNEL_OF = {
    "hotline": "hotline",  # 12345 / 市长热线 / 报社热线
    "message_board": "app",  # 领导留言板 / 问政平台: typed by the resident
    "qa_site": "app",
    "police": "police",  # 110 非警务警情
    "mediation": "walkin",  # 到司法所 / 调委会
    "court": "walkin",  # 诉前调解
    "news": "hotline",
}
HELDOUT_SLOTS = (1, 4, 7)  # of every ten texts of a category, by hash order: ~30 % held out


# ---- corpus ------------------------------------------------------------------------------------


def read_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_of(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """id → "train" | "heldout", stratified by category: within a category the texts are ordered
    by the SHA-256 of their text and every 2nd, 5th and 8th of each ten is held out. Depends only
    on the texts, so it is the same on every machine and run."""
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_category[r["category"]].append(r)
    out: dict[str, str] = {}
    for members in by_category.values():
        for rank, r in enumerate(sorted(members, key=lambda r: text_key(r["text"]))):
            out[r["id"]] = "heldout" if rank % 10 in HELDOUT_SLOTS else "train"
    return out


# ---- routing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    row: dict[str, Any]
    predicted: str
    confidence: float
    unit: str | None  # None: the centre's manual queue

    @property
    def right(self) -> bool:
        return self.predicted == self.row["category"]


def route(config_path: Path, rows: Sequence[dict[str, Any]]) -> tuple[list[Outcome], float, Any]:
    """Every row through the router the product builds for this district, one decision each."""
    from adapters.bootstrap import build_router
    from engine.config import load_config
    from engine.deadlines import SHANGHAI
    from engine.routing.port import CaseFacts

    config = load_config(config_path)
    start = time.perf_counter()
    router = build_router(config)
    wait = getattr(router, "wait_ready", None)
    if wait is not None:
        wait()
    ready_s = time.perf_counter() - start
    received = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)
    outcomes = []
    for r in rows:
        facts = CaseFacts(
            case_id=uuid4(),
            channel=CHANNEL_OF.get(r["channel_kind"], "hotline"),
            content=r["text"],
            address="",  # the quotations carry no address in either district
            category_hint="",
            urgent=False,
            concern="worry",
            received_at=received,
        )
        d = router.decide(facts)
        outcomes.append(Outcome(r, d.category, d.confidence, d.unit))
    return outcomes, ready_s, config


def summarise(outcomes: Sequence[Outcome], threshold: float) -> dict[str, Any]:
    n = len(outcomes)
    right = sum(o.right for o in outcomes)
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in outcomes:
        per[o.row["category"]][0] += o.right
        per[o.row["category"]][1] += 1
    auto = [o for o in outcomes if o.unit is not None]  # sent to a unit, no operator looking
    below = sum(o.confidence < threshold for o in outcomes)
    manual_share = (n - len(auto)) / n if n else 0.0
    consult = [o for o in outcomes if o.row["is_consultation"]]
    return {
        "n": n,
        "accuracy": right / n if n else 0.0,
        "right": right,
        "per_category": {c: (k, m) for c, (k, m) in sorted(per.items())},
        "manual_share": manual_share,
        "below_threshold": below / n if n else 0.0,
        "auto_n": len(auto),
        "auto_precision": sum(o.right for o in auto) / len(auto) if auto else None,
        "consultation": (sum(o.right for o in consult), len(consult)),
        "confusion": Counter((o.row["category"], o.predicted) for o in outcomes if not o.right),
        "threshold": threshold,
    }


# ---- report ------------------------------------------------------------------------------------


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(results: dict[str, dict[str, Any]], rows: list[dict[str, Any]], split: str) -> str:
    from engine.deadlines import SHANGHAI

    counts = Counter(r["split"] for r in rows)
    lines = ["# Routing on real complaint texts", ""]
    lines.append(
        f"Run: `python -m bench.routing.real_texts --split {split}` at commit `{commit()}` on "
        f"{platform.node() or 'this machine'} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), {dt.datetime.now(SHANGHAI):%Y-%m-%d %H:%M} Asia/Shanghai."
    )
    lines.append(
        f"Corpus: `tests/data/real_texts/corpus.jsonl`, {len(rows)} texts "
        f"({counts['train']} train, {counts['heldout']} heldout); evaluated: {split}."
    )
    lines += ["", "## Summary", "", "| district | texts | top-level accuracy | to manual queue (of which confidence below "
              "threshold) | dispatched without a person: share / precision | 咨询 right |",
              "|---|---|---|---|---|---|"]
    for name, s in results.items():
        auto = f"{s['auto_n'] / s['n']:.1%} / {s['auto_precision']:.3f}" if s["auto_n"] else "0 / –"
        c_right, c_n = s["consultation"]
        lines.append(
            f"| {name} | {s['n']} | **{s['accuracy']:.3f}** ({s['right']}/{s['n']}) | "
            f"{s['manual_share']:.1%} ({s['below_threshold']:.1%}) | {auto} (threshold {s['threshold']}) | {c_right}/{c_n} |"
        )
    lines += ["", "## Accuracy per category", ""]
    names = list(results)
    lines.append("| category | " + " | ".join(names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    cats = sorted({c for s in results.values() for c in s["per_category"]})
    for c in cats:
        cells = []
        for s in results.values():
            k, m = s["per_category"].get(c, (0, 0))
            cells.append(f"{k / m:.2f} ({k}/{m})" if m else "–")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    for name, s in results.items():
        lines += ["", f"## Confusion pairs, {name} (true → predicted)", ""]
        lines.append("| true | predicted | texts |")
        lines.append("|---|---|---|")
        for (t, p), k in s["confusion"].most_common():
            lines.append(f"| {t} | {p} | {k} |")
    lines += ["", NOTES]
    return "\n".join(lines) + "\n"


NOTES = """## How to read this

- **What is measured.** Each text is a resident's own words (one or two sentences, names and
  numbers removed) with no address and no category hint, routed by `decide()` of the router that
  `adapters.bootstrap.build_router` builds for the district. "Right" means the top-level category
  code equals the label. The unit is not scored (the texts come from many cities).
- **To manual queue** is the share of decisions with no unit: confidence below the district's
  `router.confidence_threshold` (0.35 demo, 0.4 second district), or no unit for the place:
  the texts carry no address, so a category routed `to: locality` (demo: municipal, other;
  second district: city_management, other) finds no community or street. The figure in
  brackets is the confidence part alone.
  "Dispatched without a person" is every decision that names a unit; its precision is what
  residents would get without an operator looking.
- **Labels** are the category a 12345 operator would dispatch to; the corpus `note` field says
  where another reading is defensible (e.g. 社会生活噪声: 生态环境 or 公安; 共享单车: 城管 or
  交通). See `tests/data/real_texts/README.md`.
- **Held-out rule.** `heldout` rows are never used for fitting, seeding, lexicon edits or
  threshold choice; improvements are made on `train` rows (or generated texts) and measured here.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing.real_texts", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--split", choices=("heldout", "train", "all"), default="heldout")
    parser.add_argument("--out", default=None, help="write the Markdown report here")
    args = parser.parse_args(argv)

    rows = read_corpus()
    chosen = [r for r in rows if args.split == "all" or r["split"] == args.split]
    results: dict[str, dict[str, Any]] = {}
    for name, path in DISTRICTS.items():
        outcomes, ready_s, config = route(path, chosen)
        s = summarise(outcomes, config.router.confidence_threshold)
        results[name] = s
        print(f"== {name}: {s['n']} {args.split} texts (router ready in {ready_s:.1f} s)")
        print(f"top-level accuracy {s['accuracy']:.3f} ({s['right']}/{s['n']})")
        print(
            f"to manual queue {s['manual_share']:.1%} "
            f"(confidence below {s['threshold']}: {s['below_threshold']:.1%})"
        )
        if s["auto_n"]:
            print(
                f"dispatched without a person {s['auto_n'] / s['n']:.1%} "
                f"at precision {s['auto_precision']:.3f}"
            )
        print("per category:")
        for c, (k, m) in s["per_category"].items():
            print(f"  {c:<16} {k / m:.2f} ({k}/{m})")
        print("confusion pairs (true -> predicted):")
        for (t, p), k in s["confusion"].most_common():
            print(f"  {t} -> {p}: {k}")
    report = render(results, rows, args.split)
    if args.out:
        Path(args.out).write_text(report, "utf-8")
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
