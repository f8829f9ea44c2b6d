"""How much memory the computer and its GPU have and use, in the shape of A1111's /sdapi/v1/memory."""

from __future__ import annotations

import os
from typing import Any

import torch


def memory_report() -> dict[str, Any]:
    """System memory from the OS, and CUDA's device and allocator figures (or why there are none)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total, free = os.sysconf("SC_PHYS_PAGES") * page, os.sysconf("SC_AVPHYS_PAGES") * page
    ram = {"free": free, "used": total - free, "total": total}
    if not torch.cuda.is_available():
        return {"ram": ram, "cuda": {"error": "no CUDA device"}}
    device_free, device_total = torch.cuda.mem_get_info()
    stats = torch.cuda.memory_stats()

    def figures(name: str) -> dict[str, int]:
        return {"current": stats.get(f"{name}.all.current", 0), "peak": stats.get(f"{name}.all.peak", 0)}

    cuda = {
        "system": {"free": device_free, "used": device_total - device_free, "total": device_total},
        "active": figures("active_bytes"),
        "allocated": figures("allocated_bytes"),
        "reserved": figures("reserved_bytes"),
        "inactive": figures("inactive_split_bytes"),
        "events": {"retries": stats.get("num_alloc_retries", 0), "oom": stats.get("num_ooms", 0)},
    }
    return {"ram": ram, "cuda": cuda}
