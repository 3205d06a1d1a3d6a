"""Where skadapt's torch code runs: the one device policy of every estimator.

``resolve_device(device) -> torch.device`` resolves an estimator's ``device``
parameter (``"auto"``: CUDA when available, else CPU; an unavailable or malformed
device is a ``ValueError``). It is the only place that decides what ``"auto"``
means: :class:`~skadapt.HiddenStateFeaturizer`, :class:`~skadapt.LoRAProbe`, the
probes and :func:`skadapt._lm.load_lm` all call it, so the featurizer and the probe
of one pipeline land on the same device. ``device_available(device)`` says whether a
device exists on this machine; :class:`DeviceWarning` is raised when a pickled or
saved estimator is loaded on a machine without the device it was fitted on (it
then goes to CPU).

torch is imported inside the functions: ``skadapt.featurizer`` imports this module
and must stay importable without importing torch.
"""

from __future__ import annotations

__all__ = ["DeviceWarning", "device_available", "resolve_device", "same_device"]


class DeviceWarning(UserWarning):
    """A pickled probe was saved on a device that this machine does not have."""


def device_available(device) -> bool:
    """Whether ``device`` (str or torch.device) exists on this machine.

    Parameters
    ----------
    device : str or torch.device
        A torch device such as ``"cpu"``, ``"cuda:1"`` or ``"mps"``.

    Returns
    -------
    available : bool
    """
    return _unavailable_reason(device) is None


def _unavailable_reason(device):
    """Why ``device`` cannot be used here, or None when it can."""
    import torch

    device = torch.device(device)
    if device.type == "cpu":
        return None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return "no CUDA GPU is available here (torch.cuda.is_available() is False)"
        if device.index is not None and device.index >= torch.cuda.device_count():
            return f"this machine has {torch.cuda.device_count()} CUDA device(s)"
        return None
    if device.type == "mps":  # torch.backends.mps is the documented check
        backend = getattr(torch.backends, "mps", None)
    else:
        backend = getattr(torch, device.type, None) or getattr(torch.backends, device.type, None)
    is_available = getattr(backend, "is_available", None)
    if callable(is_available) and is_available():
        return None
    return f"{device.type.upper()} is not available here"


def resolve_device(device) -> "torch.device":  # noqa: F821
    """Resolve an estimator's ``device`` parameter; the policy of every estimator.

    ``"auto"`` (or None) is CUDA when available, else CPU. It never picks Apple's
    MPS, for any estimator: the probes' beta-binomial loss (``head="beta"``) is
    evaluated in float64, which MPS does not have, so an automatic MPS would make
    such a ``fit`` fail on every Apple-silicon Mac;
    and MPS kernels give other numbers than CPU, so the same ``random_state`` would
    not reproduce the published CPU results. One policy for all estimators keeps a
    featurizer and the probe after it on one device and the featurizer's cache key
    (which holds the device) the same across them. ``device="mps"`` stays available
    by name where the operations support it (featurization, LoRA forward passes).

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"`` or None for the policy above, or an explicit torch device
        (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ...).

    Returns
    -------
    device : torch.device
        The device to run on.

    Raises
    ------
    ValueError
        When ``device`` is not a torch device or this machine does not have it.
    """
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"device {device!r} is not a torch device: {exc}") from None
    reason = _unavailable_reason(resolved)
    if reason is not None:
        raise ValueError(
            f"device={str(device)!r} is not available on this machine: {reason}; "
            "use device='auto' or 'cpu'"
        )
    return resolved


def same_device(a, b) -> bool:
    """Whether two torch devices name the same device (``"cuda"`` is the current one).

    Parameters
    ----------
    a, b : str or torch.device

    Returns
    -------
    same : bool
    """
    import torch

    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.type == "cuda":
        current = torch.cuda.current_device() if torch.cuda.is_available() else 0
        return (current if a.index is None else a.index) == (
            current if b.index is None else b.index)
    return a.index is None or b.index is None or a.index == b.index
