"""The same stream through one quiet worker and through several that keep being killed (issue 21):
``sanshi worker`` processes in one consumer group, intake keyed by place
(adapters/transport/placement.py), real Kafka and PostgreSQL.

Run 1: one worker, never disturbed. Run 2: ``--workers`` workers (static membership, as
deployed); every ``--kill-every`` seconds (±30%) one of them, chosen at random, is SIGKILLed and
started again at once. Both runs get the peak-day stream's first ``--records`` records through
``KafkaIntake`` with place keys, and the views are kept by the workers themselves. Afterwards,
for the killed run:

- every case of the stream is in the log exactly once (0 lost, 0 doubled, nothing else);
- the merges (case → the case it was merged into) are the same pairs as the quiet run's;
- the live views equal a rebuild of the whole log (tests/faults/support.py).

Prints the kills, the times, the checks, and a line for bench/RESULTS.md; exits 1 if a check
fails. ``--keep-pairs DIR``: both runs' merged pairs (``quiet-pairs.tsv``, ``killed-pairs.tsv``:
case, the case it was merged into), the pairs of one run only (``only-quiet.tsv``,
``only-killed.tsv``) and each run's duplicate verdicts (``<run>-duplicates.json``: for every case
the router compared with an open case, what it found and why it merged or held), to diff.

    python -m bench.worker_kills [--records 100000] [--workers 3] [--kill-every 10]
                                 [--keep-pairs DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

from adapters.bootstrap import Runtime, bootstrap
from adapters.transport.kafka import KafkaIntake, KafkaSettings
from adapters.transport.placement import PlaceKeys
from bench.common import Services, settings_for, stream_batches
from bench.workers import warm_up_items
from engine.config import load_config
from tests.faults.support import (
    WorkerProcess,
    assert_each_once,
    assert_views_equal_rebuild,
    cli_env,
    received_counts,
)

RECEIVED = "engine.domain:Case.Received"


def publish(settings: KafkaSettings, n: int) -> set[UUID]:
    """The stream as ``sanshi ingest`` publishes it (place keys); returns its case ids."""
    intake = KafkaIntake(settings, places=PlaceKeys(load_config()))
    ids: set[UUID] = set()
    try:
        for batch in stream_batches(n, 500):
            outcomes = intake.send(batch)
            bad = [o for o in outcomes if o.status != "queued"]
            if bad:
                raise RuntimeError(f"not queued: {bad[:3]}")
            ids.update(p.command.case_id for p in batch)
    finally:
        intake.close()
    return ids


class Received:
    """The log's Case.Received ids, read on from where the last look stopped."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.ids: set[UUID] = set()
        self.last = 0

    def more(self) -> set[UUID]:
        while True:
            notes = self.rt.app.recorder.select_notifications(
                self.last, 10_000, topics=(RECEIVED,), inclusive_of_start=False
            )
            if not notes:
                return self.ids
            self.ids.update(UUID(str(n.originator_id)) for n in notes)
            self.last = notes[-1].id


def verdicts(rt: Runtime, ids: set[UUID]) -> dict[str, Any]:
    """The router's duplicate verdicts of every case that had any (from its routing reason in
    the log), with the case's place and personal reading: why a pair merged in one run and not
    in the other."""
    out: dict[str, Any] = {}
    for cid in sorted(ids):
        for e in rt.app.repository.event_store.get(cid):
            reason = getattr(e, "reason", None)
            if isinstance(reason, dict) and reason.get("duplicates"):
                out[str(cid)] = {
                    "event": type(e).__name__,
                    "place": (reason.get("place") or {}).get("key"),
                    "personal": reason.get("personal"),
                    "duplicates": reason["duplicates"],
                }
                break
    return out


def write_pairs(folder: Path, quiet: dict[str, Any], killed: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)

    def tsv(name: str, pairs: set[tuple[UUID, UUID]]) -> None:
        lines = [f"{a}\t{b}\n" for a, b in sorted(pairs, key=lambda p: (str(p[0]), str(p[1])))]
        (folder / name).write_text("".join(lines), encoding="utf-8")

    tsv("quiet-pairs.tsv", quiet["merges"])
    tsv("killed-pairs.tsv", killed["merges"])
    tsv("only-quiet.tsv", quiet["merges"] - killed["merges"])
    tsv("only-killed.tsv", killed["merges"] - quiet["merges"])
    for run in (quiet, killed):
        name = "quiet" if run is quiet else "killed"
        (folder / f"{name}-duplicates.json").write_text(
            json.dumps(run.get("verdicts", {}), ensure_ascii=False, indent=1), encoding="utf-8"
        )


def merges(rt: Runtime, ids: set[UUID]) -> set[tuple[UUID, UUID]]:
    pairs: set[tuple[UUID, UUID]] = set()
    ordered = sorted(ids)
    for start in range(0, len(ordered), 2000):
        cases = rt.app.get_cases(ordered[start : start + 2000])
        pairs |= {(cid, c.merged_into) for cid, c in cases.items() if c.merged_into is not None}
    return pairs


class Worker(WorkerProcess):
    """``sanshi worker`` with the bench's own options (the same for both runs)."""

    options: tuple[str, ...] = ()

    def start(self, *extra: str) -> WorkerProcess:
        return super().start(*self.options, *extra)


def one_run(
    services: Services, n: int, workers: int, kill_every: float, partitions: int, folder: Path,
    seed: int, keep_verdicts: bool = False,
) -> dict[str, Any]:
    db_url = services.new_database(f"k{workers}")
    prefix = f"bk{uuid.uuid4().hex[:8]}."
    env = cli_env(db_url, services.kafka_bootstrap, prefix,
                  SANSHI_KAFKA_PARTITIONS=str(partitions), SANSHI_LOG_LEVEL="WARNING")
    settings = KafkaSettings.from_env(
        services.kafka_bootstrap,
        {"SANSHI_KAFKA_PREFIX": prefix, "SANSHI_KAFKA_PARTITIONS": str(partitions)},
    )
    procs = [Worker(env, folder / f"{prefix}{i}.log", f"{prefix}{i}").start() for i in range(workers)]
    rt = bootstrap(settings_for(db_url))
    rnd = random.Random(seed)
    kills: list[float] = []
    try:
        warm = warm_up_items(partitions)
        port = KafkaIntake(settings, places=PlaceKeys(load_config()))
        port.send(warm)
        port.close()
        warm_ids = {p.command.case_id for p in warm}
        _wait(lambda: warm_ids <= set(received_counts(rt.app)), procs, 600, "warm-up")
        t0 = time.monotonic()
        ids = publish(settings, n)
        published = time.monotonic() - t0
        expected = ids | warm_ids
        next_kill = t0 + kill_every * rnd.uniform(0.7, 1.3)
        seen = Received(rt)
        next_report = t0 + 60
        while True:
            have = seen.more()
            if expected <= have:
                break
            now = time.monotonic()
            if now >= next_report:  # a long run says how far it has got
                print(f"  {now - t0:6.0f}s: {len(have & expected)}/{len(expected)} in the log, "
                      f"{len(kills)} kills, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
                next_report = now + 60
            if kill_every > 0 and now >= next_kill:
                victim = rnd.choice(procs)
                victim.kill()
                victim.start()
                kills.append(now - t0)
                next_kill = now + kill_every * rnd.uniform(0.7, 1.3)
            for p in procs:
                p.check()
            if now - t0 > 6 * 3600:
                raise RuntimeError(f"{len(expected - have)} cases still missing after 6 h")
            time.sleep(0.5)
        seconds = time.monotonic() - t0
        for p in procs:  # SIGTERM: each finishes its poll, commits, and catches the views up
            p.stop()
        assert_each_once(received_counts(rt.app), expected)
        rt.projector.catch_up()
        rebuilt = folder / prefix
        rebuilt.mkdir()
        replayed = assert_views_equal_rebuild(rt.app, rt.views_engine, rebuilt)
        pairs = merges(rt, ids)
        found = verdicts(rt, ids) if keep_verdicts else {}
    finally:
        for p in procs:
            p.stop()
        rt.close()
        services.drop(db_url)
    return {"workers": workers, "cases": len(ids), "seconds": seconds, "published": published,
            "kills": kills, "merges": pairs, "replayed": replayed, "verdicts": found,
            "load": os.getloadavg()[0]}


def _wait(ok: Any, procs: list[WorkerProcess], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not ok():
        for p in procs:
            p.check()
        if time.monotonic() > end:
            raise RuntimeError(f"{what}: not done in {timeout:.0f}s")
        time.sleep(0.3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--kill-every", type=float, default=10.0, help="seconds between kills (±30%%)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--max-poll-records", type=int, default=500,
                    help="each worker's --max-poll-records: what a kill throws away is at most one poll")
    ap.add_argument("--keep-logs", type=Path, default=None, help="write the workers' logs here, and keep them")
    ap.add_argument("--keep-pairs", type=Path, default=None,
                    help="write both runs' merged pairs, those of one run only and the duplicate "
                         "verdicts here, to diff")
    args = ap.parse_args(argv)
    Worker.options = ("--max-poll-records", str(args.max_poll_records))
    with Services() as services, tempfile.TemporaryDirectory() as tmp:
        if args.keep_logs is not None:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            tmp = str(args.keep_logs)
        keep = args.keep_pairs is not None
        quiet = one_run(services, args.records, 1, 0, args.partitions, Path(tmp), args.seed, keep)
        print(f"1 worker, no kills: {quiet['cases']} cases in {quiet['seconds']:.0f}s, "
              f"{len(quiet['merges'])} merged (load {quiet['load']:.1f})", flush=True)
        killed = one_run(services, args.records, args.workers, args.kill_every, args.partitions,
                         Path(tmp), args.seed, keep)
    if args.keep_pairs is not None:
        write_pairs(args.keep_pairs, quiet, killed)
    only_quiet = len(quiet["merges"] - killed["merges"])
    only_killed = len(killed["merges"] - quiet["merges"])
    same = killed["merges"] == quiet["merges"]
    print(f"{args.workers} workers, {len(killed['kills'])} SIGKILLs: {killed['cases']} cases in "
          f"{killed['seconds']:.0f}s, {len(killed['merges'])} merged (load {killed['load']:.1f})")
    print("each case once, none lost: yes; views = rebuild: yes "
          f"({killed['replayed']} events replayed)")
    print(f"merges equal to the quiet run's: {'yes' if same else 'NO'} "
          f"(only quiet {only_quiet}, only killed {only_killed})")
    print(json.dumps({
        "records": args.records, "workers": args.workers, "kills": len(killed["kills"]),
        "quiet_seconds": round(quiet["seconds"], 1), "killed_seconds": round(killed["seconds"], 1),
        "merges": len(quiet["merges"]), "merges_killed": len(killed["merges"]),
        "merges_equal": same, "only_quiet": only_quiet, "only_killed": only_killed,
    }))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
