"""The only place that probes CUDA / MPS / CPU."""

from __future__ import annotations

import torch


def available_devices() -> list[str]:
    """Devices this machine has, in preference order: ``cuda:N``..., ``mps``, ``cpu``."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = [f"cuda:{i}" for i in range(gpus)]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices + ["cpu"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then CPU; a named device must exist."""
    if device is None or str(device).lower() == "auto":
        return torch.device(available_devices()[0])
    try:
        dev = torch.device(str(device).lower())
    except RuntimeError as exc:
        raise ValueError(f"Unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise RuntimeError(
                f"Device {device!r} was asked for, but this machine has no CUDA GPU "
                "(or torch was installed without CUDA). Use device='cpu' or 'auto'."
            )
        if (dev.index or 0) >= count:
            raise RuntimeError(
                f"Device {device!r} was asked for, but only {count} CUDA GPU(s) exist."
            )
    elif dev.type == "mps" and "mps" not in available_devices():
        raise RuntimeError(f"Device {device!r} was asked for, but Apple MPS is not available here.")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"Unsupported device {device!r}: use auto, cpu, cuda, cuda:N or mps")
    return dev


def device_name(device: str) -> str:
    """The device a run on ``device`` uses, for people: what "auto" picks (``cuda:0``, ``cpu``)."""
    if str(device).lower() == "auto":
        return available_devices()[0]
    return str(device)


def device_choices(devices: list[str]) -> list[tuple[str, str]]:
    """(shown name, device string) pairs for a chooser: Auto first, then ``devices``."""
    return [("Auto", "auto")] + [(d.upper(), d) for d in devices]
