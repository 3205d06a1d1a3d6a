"""The skadapt version inside pickles, and the warning when it differs on load.

scikit-learn records ``_sklearn_version`` in the pickles of its own estimators only
(``BaseEstimator.__getstate__`` checks the module name), so skadapt's estimators record
``_skadapt_version`` themselves through :class:`VersionedPickleMixin`. Public home of
the warning: :mod:`skadapt.persistence`, which also uses it for its own format.
"""

import inspect
import warnings

__all__ = ["InconsistentVersionWarning", "VersionedPickleMixin"]


class InconsistentVersionWarning(UserWarning):
    """An estimator is loaded with a skadapt version other than the one that saved it.

    Fitted attributes may mean something else, or be missing, in another version;
    refit the estimator, or load it with the version that saved it.

    Parameters
    ----------
    estimator_name : str
        Class of the estimator.
    current_skadapt_version : str
        Version loading it.
    original_skadapt_version : str or None
        Version that saved it, or None when the file does not say.

    Attributes
    ----------
    estimator_name : str
        Class of the estimator.
    current_skadapt_version : str
        Version loading it.
    original_skadapt_version : str or None
        Version that saved it; None when the file does not say (pickles written before
        skadapt recorded its version).
    """

    def __init__(self, *, estimator_name, current_skadapt_version, original_skadapt_version):
        self.estimator_name = estimator_name
        self.current_skadapt_version = current_skadapt_version
        self.original_skadapt_version = original_skadapt_version
        saved = (
            "a skadapt version that did not record itself (0.1.0 or earlier)"
            if original_skadapt_version is None
            else f"skadapt {original_skadapt_version}"
        )
        super().__init__(
            f"{estimator_name} was saved with {saved} and is loaded with skadapt "
            f"{current_skadapt_version}; this might give wrong results or fail. Refit it, "
            "or load it with the version that saved it. See docs/persistence.md."
        )


def current_version():
    from . import __version__

    return __version__


def warn_if_other_version(estimator_name, original_version):
    """Emit :class:`InconsistentVersionWarning` when ``original_version`` differs."""
    current = current_version()
    if original_version != current:
        warnings.warn(
            InconsistentVersionWarning(
                estimator_name=estimator_name,
                current_skadapt_version=current,
                original_skadapt_version=original_version,
            ),
            stacklevel=3,
        )


class VersionedPickleMixin:
    """Record ``_skadapt_version`` in the pickled state; warn on a mismatch when unpickled.

    Place it left of the classes whose ``__getstate__``/``__setstate__`` it wraps (it
    calls ``super()``), as scikit-learn's ``BaseEstimator`` does for ``_sklearn_version``.
    """

    def __getstate__(self):
        state = super().__getstate__()
        # object.__getstate__ returns the instance's own __dict__: never write into it
        state = dict(state)
        state["_skadapt_version"] = current_version()
        return state

    def __setstate__(self, state):
        state = dict(state)
        warn_if_other_version(type(self).__name__, state.pop("_skadapt_version", None))
        super().__setstate__(state)
        _fill_new_parameters(self)


def _fill_new_parameters(estimator):
    """Give a parameter added after the pickle was written its default.

    A new parameter's default keeps the old behaviour (``BinnedAllocator(price=None)``
    is the budget mode of the versions before ``price``), so an estimator pickled
    before it was added predicts as it did, and ``get_params``, ``repr`` and ``clone``
    work on it instead of raising ``AttributeError``. The version warning is still
    raised: fitted attributes may differ.
    """
    names = getattr(type(estimator), "_get_param_names", None)
    if names is None:
        return
    signature = inspect.signature(type(estimator).__init__)
    for name in names():
        parameter = signature.parameters.get(name)
        if (name not in vars(estimator) and parameter is not None
                and parameter.default is not inspect.Parameter.empty):
            setattr(estimator, name, parameter.default)
