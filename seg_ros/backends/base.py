"""The interface every inference backend implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    """Runs one network on (1,3,H,W) float32 input and returns (1,C,h,w) float32 logits."""

    name: str
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]

    def infer(self, tensor: np.ndarray) -> np.ndarray: ...

    def close(self) -> None:
        """Release what the backend holds (GPU memory, contexts) now rather than at garbage collection.

        Idempotent; no inference may follow.
        """
