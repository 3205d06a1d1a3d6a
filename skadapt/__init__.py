"""skadapt: learning how hard a language model should think.

Input-adaptive allocation of LM computation (Damani et al., ICLR 2025) as
scikit-learn estimators: predict how much each extra unit of compute helps a
query, then allocate a compute budget where it pays.

Public estimators are importable from the package; functions live in the public
modules :mod:`skadapt.targets`, :mod:`skadapt.metrics`, :mod:`skadapt.allocation`,
:mod:`skadapt.routing`, :mod:`skadapt.sampling` and :mod:`skadapt.datasets` (and
:mod:`skadapt.persistence` saves fitted estimators without pickle;
:mod:`skadapt.distributed` runs featurization and collection on Ray Data). Names are
imported lazily so that ``import skadapt`` stays fast and does not import torch.
"""

import importlib

__version__ = "0.2.0.dev0"

# public name -> module that defines it
_LAZY = {
    "GreedyAllocator": "skadapt.allocation",
    "BinnedAllocator": "skadapt.allocation",
    "BudgetSearchCV": "skadapt.budget_search",
    "Router": "skadapt.routing",
    "BestOfKPreference": "skadapt.routing",
    "CalibratedCurves": "skadapt.calibration",
    "SuccessProbClassifier": "skadapt.probes",
    "MarginalRewardRegressor": "skadapt.probes",
    "HiddenStateFeaturizer": "skadapt.featurizer",
    "LoRAProbe": "skadapt.lora",
    # the probe -> allocator Pipeline, cross-fitting only where the next step needs it
    "make_policy": "skadapt.policy",
    # plots (matplotlib is an optional extra)
    "AllocationCurveDisplay": "skadapt.display",
    "SuccessCalibrationDisplay": "skadapt.display",
    "AllocationByDifficultyDisplay": "skadapt.display",
}

_SUBMODULES = (
    "targets", "metrics", "allocation", "probes", "featurizer", "lora",
    "sampling", "datasets", "display", "evaluation", "verifiers", "shift",
    "selection", "feedback", "persistence", "routing", "distributed",
    "scoring", "budget_search", "policy", "calibration",
)

__all__ = sorted(_LAZY) + list(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"skadapt.{name}")
    raise AttributeError(f"module 'skadapt' has no attribute {name!r}")


def __dir__():
    return __all__
