"""Allocator tuning for the interfaces (CLI, pytest plugin, benchmarks).

The engine allocates and frees many tensors of 0.1-10 MB per step. glibc serves
blocks that size with mmap and returns them to the OS on free, so every step
pays page faults for fresh memory: measured, about 40% of the engine's CPU time
went to the kernel. Raising glibc's mmap and trim thresholds keeps freed
memory in the heap for reuse (what jemalloc/tcmalloc do, which PyTorch
recommends for CPU work). Process-wide and glibc-only; elsewhere a no-op.
Set FFTHEORY_MALLOC=default to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc <malloc.h>
_MMAP_THRESHOLD = 32 << 20  # glibc's maximum on 64-bit systems
_TRIM_THRESHOLD = 256 << 20
_TOP_PAD = 64 << 20

_applied: bool | None = None


def tune_allocator() -> bool:
    """Keep freed blocks below 32 MB for reuse (glibc's mallopt). Returns whether every setting
    applied (it stops at the first refused one); idempotent."""
    global _applied
    if _applied is None:
        _applied = False
        if os.environ.get("FFTHEORY_MALLOC", "") != "default":
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                mallopt = libc.mallopt
            except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
                return False
            _applied = all(
                mallopt(param, value) == 1
                for param, value in (
                    (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
                    (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD),
                    (_M_TOP_PAD, _TOP_PAD),
                )
            )
    return _applied
