"""Where skadapt's torch code runs: resolving the ``device`` parameter.

``resolve_device(device) -> torch.device`` resolves an estimator's ``device``
parameter in ``fit`` (``"auto"``: CUDA when available, else CPU; an unavailable
device is a ``ValueError``); ``device_available(device)`` says whether a device exists
on this machine; :class:`DeviceWarning` is raised when a pickled or saved estimator is
loaded on a machine without the device it was fitted on (it then goes to CPU).
"""

from __future__ import annotations

import torch

__all__ = ["DeviceWarning", "device_available", "resolve_device"]


class DeviceWarning(UserWarning):
    """A pickled probe was saved on a device that this machine does not have."""


def device_available(device) -> bool:
    """Whether ``device`` (str or torch.device) exists on this machine."""
    device = torch.device(device)
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        return device.index is None or device.index < torch.cuda.device_count()
    backend = getattr(torch, device.type, None) or getattr(torch.backends, device.type, None)
    is_available = getattr(backend, "is_available", None)
    return bool(is_available()) if callable(is_available) else False


def resolve_device(device) -> torch.device:
    """Resolve the ``device`` parameter: ``"auto"`` is CUDA when available, else CPU."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device: {exc}") from None
    if not device_available(resolved):
        raise ValueError(
            f"device={device!r} was requested but is not available on this machine; "
            "use device='auto' or 'cpu'."
        )
    return resolved
