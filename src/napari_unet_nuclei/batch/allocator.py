"""glibc malloc settings for batch work: memory freed by one image is reused by the next.

By default glibc returns large freed blocks to the system at once, and the next image pays
the kernel again for fresh zeroed pages, as system time. Kept for reuse, most of that time
goes (``bench/bench_folder.py`` measures it; figures in docs/performance.md).
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters
SETTINGS = {
    M_MMAP_THRESHOLD: 32 << 20,  # blocks up to this come from the heap (glibc's ceiling)
    M_TRIM_THRESHOLD: 256 << 20,  # free memory kept at the heap's top before it is returned
    M_TOP_PAD: 64 << 20,  # extra asked of the system each time the heap grows
}


def keep_freed_memory() -> bool:
    """Apply SETTINGS to this process (Linux with glibc); whether all of them took."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all([mallopt(key, value) == 1 for key, value in SETTINGS.items()])
