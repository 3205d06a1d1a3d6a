"""An allocation policy as one Pipeline: features -> probe -> allocator.

The paper's policy predicts how much each unit of compute helps a query (a probe) and
spends a budget where it pays (an allocator). :func:`make_policy` builds that
composition as a plain :class:`~sklearn.pipeline.Pipeline`, like
:func:`~sklearn.pipeline.make_pipeline`, with one difference: each probe fits only as
often as the step after it needs.

A probe's ``fit_transform`` inside ``Pipeline.fit`` is cross-fitted by default
(``cross_fit=True``: ``cv + 1`` fits), so that an allocator that learns from the
predictions, such as :class:`~skadapt.BinnedAllocator`, learns from held-out ones.
:class:`~skadapt.GreedyAllocator` only checks their shape, so before it the ``cv``
extra fits are wasted. A Pipeline step cannot see the next one, so the steps declare
what they need (``_fit_needs_held_out``, see :mod:`skadapt._cross_fit`) and
:func:`make_policy` sets each probe's ``cross_fit`` from the step after it.
"""

from __future__ import annotations

from sklearn.base import clone
from sklearn.pipeline import Pipeline

from ._compat import _name_estimators
from ._cross_fit import fit_needs_held_out

__all__ = ["make_policy"]


def make_policy(*steps, memory=None, verbose=False):
    """Build a Pipeline whose probes cross-fit only when the next step needs it.

    The same as :func:`sklearn.pipeline.make_pipeline` (step names are the lowercased
    class names), except that every step with a ``cross_fit`` parameter (the probes:
    :class:`~skadapt.SuccessProbClassifier`, :class:`~skadapt.MarginalRewardRegressor`,
    :class:`~skadapt.LoRAProbe`) is cloned with ``cross_fit`` set to whether the step
    after it learns from its input values: True before
    :class:`~skadapt.BinnedAllocator` (and :class:`~skadapt.Router` with
    ``threshold="fit"``, and any estimator that does not declare otherwise), False
    before :class:`~skadapt.GreedyAllocator`. The given steps are left unchanged.

    Parameters
    ----------
    *steps : list of estimators
        The steps, for instance a featurizer, a probe and an allocator.
    memory : str, object with the joblib.Memory interface or None, default=None
        Passed to :class:`~sklearn.pipeline.Pipeline`: caches the fitted transformers
        (the featurizer and the probe), keyed on their parameters and input. In a
        search whose candidates differ only in later steps (``budget``), each probe
        setting is then fitted once per fold.
    verbose : bool, default=False
        Passed to :class:`~sklearn.pipeline.Pipeline`.

    Returns
    -------
    policy : Pipeline
        An ordinary, clonable Pipeline. ``cross_fit`` is set once, here: if a search
        swaps the allocator for one with other needs, search over
        ``<probe>__cross_fit`` along with it (or leave it True, always correct).

    See Also
    --------
    sklearn.pipeline.make_pipeline : The same without the ``cross_fit`` setting.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt import GreedyAllocator, SuccessProbClassifier
    >>> from skadapt.policy import make_policy
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> R = (rng.uniform(size=(60, 8)) < 1 / (1 + np.exp(-X[:, :1]))).astype(float)
    >>> policy = make_policy(
    ...     SuccessProbClassifier(random_state=0),
    ...     GreedyAllocator(budget=2, max_budget=8, kind="success_prob"),
    ... )
    >>> policy.named_steps["successprobclassifier"].cross_fit
    False
    >>> int(policy.fit(X, R).transform(X).sum())
    120
    """
    named = _name_estimators(steps)
    resolved = []
    for i, (name, step) in enumerate(named):
        params = step.get_params(deep=False) if hasattr(step, "get_params") else {}
        if "cross_fit" in params:
            following = named[i + 1][1] if i + 1 < len(named) else None
            step = clone(step).set_params(cross_fit=fit_needs_held_out(following))
        resolved.append((name, step))
    return Pipeline(resolved, memory=memory, verbose=verbose)
