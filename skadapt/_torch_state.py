"""Pickling torch-backed estimators: weights as CPU state, rebuilt on unpickling.

:class:`TorchModuleStateMixin` pickles the modules named in ``_torch_module_attrs`` as
CPU state dicts and rebuilds them with ``self._build_module(name)`` on unpickling, on
the saved device when it exists here, else on CPU with a
:class:`~skadapt._devices.DeviceWarning` (skorch's approach). A pickle then loads on a
machine without a GPU and never holds a reference to a torch module class.
"""

from __future__ import annotations

import warnings

from ._devices import DeviceWarning, device_available

__all__ = ["TorchModuleStateMixin"]


class TorchModuleStateMixin:
    """Pickle torch modules as CPU state dicts; rebuild them on unpickling (skorch-style).

    Subclasses list their fitted module attributes in ``_torch_module_attrs`` and
    implement ``_build_module(name)``, which rebuilds the architecture from the fitted
    attributes. Override ``_module_state(name, module)`` to save less (for instance only
    the LoRA weights) and ``_load_module_state(name, module, state)`` accordingly.
    """

    _torch_module_attrs = ("module_",)

    def _build_module(self, name):  # pragma: no cover - abstract
        raise NotImplementedError

    def _module_state(self, name, module):
        return {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}

    def _load_module_state(self, name, module, state):
        module.load_state_dict(state)

    def __getstate__(self):
        state = super().__getstate__()
        if state is self.__dict__:
            state = state.copy()
        modules = {}
        for name in self._torch_module_attrs:
            if name in state:
                modules[name] = self._module_state(name, state.pop(name))
        if modules:
            state["_torch_state"] = {"modules": modules, "device": str(getattr(self, "device_", "cpu"))}
        return state

    def __setstate__(self, state):
        torch_state = state.pop("_torch_state", None)
        super().__setstate__(state)
        if torch_state is None:
            return
        device = torch_state["device"]
        if not device_available(device):
            warnings.warn(
                f"{type(self).__name__} was fitted on device {device!r}, which is not "
                "available here; its modules are loaded on 'cpu' (device_ is set to 'cpu').",
                DeviceWarning,
            )
            device = "cpu"
        self.device_ = str(device)
        for name, module_state in torch_state["modules"].items():
            module = self._build_module(name)
            self._load_module_state(name, module, module_state)
            setattr(self, name, module.to(device).eval())
