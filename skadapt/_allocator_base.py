"""What the two allocators share: parameter constraints, bound checks and the price.

:class:`~skadapt.allocation.GreedyAllocator` and
:class:`~skadapt.allocation.BinnedAllocator` take the same ``budget``,
``max_budget``, ``min_budget``, ``kind`` and ``price`` parameters, checked here
once for both.
"""

import math
import numbers

import numpy as np

from skadapt._compat import Interval, StrOptions
from skadapt._validation import InputTypeError, OneOutputNameMixin, check_probabilities


class _AllocatorMixin(OneOutputNameMixin):
    """Shared parameter checks of the two allocators."""

    _output_name = "budget"

    def _resolve_max_budget(self, n_features):
        """The per-query maximum implied by the parameters and the width of X."""
        if self.kind == "success_prob":
            if n_features != 1:
                raise ValueError(
                    f"kind='success_prob' expects X of shape (n_queries, 1) holding success "
                    f"probabilities; got {n_features} feature(s)."
                )
            if self.max_budget is None:
                raise ValueError(
                    "max_budget is required when kind='success_prob' (the largest budget one "
                    "query may receive, B_max in Eq. 5)."
                )
            return self.max_budget
        max_budget = n_features if self.max_budget is None else self.max_budget
        if max_budget > n_features:
            raise ValueError(
                f"max_budget={max_budget} but X has {n_features} feature(s); with "
                "kind='marginal' X needs one column of marginal rewards per unit, at "
                "least max_budget columns."
            )
        return max_budget

    def _check_budget_bounds(self, max_budget, n_features):
        implied = (
            f" (X has {n_features} feature(s), one per unit of compute)"
            if self.kind == "marginal" and self.max_budget is None
            else ""
        )
        if self.min_budget > max_budget:
            raise ValueError(f"min_budget={self.min_budget} exceeds max_budget={max_budget}{implied}.")
        if _fixed_price(self) is not None:
            return  # budget is ignored at a fixed price
        if not self.min_budget <= self.budget <= max_budget:
            raise ValueError(
                f"budget={self.budget} must lie in [min_budget, max_budget] = "
                f"[{self.min_budget}, {max_budget}]{implied}."
            )

    def _resolve_bounds(self, X):
        """Validate kind-specific input in fit and return max_budget."""
        n_features = X.shape[1]
        if self.kind == "success_prob":
            self._resolve_max_budget(n_features)  # the shape first
            check_probabilities(X, name="X (success probabilities)")
        max_budget = self._resolve_max_budget(n_features)
        self._check_budget_bounds(max_budget, n_features)
        return max_budget

    def _validate_params(self):
        super()._validate_params()
        # scikit-learn's Interval(numbers.Real/Integral) takes a bool as 0 or 1:
        # budget=True would allocate one unit per query without a word
        for name in ("budget", "max_budget", "min_budget", "price", "n_bins", "spend_tolerance",
                     "pacing_window"):
            value = getattr(self, name, None)
            if isinstance(value, (bool, np.bool_)):
                raise InputTypeError(
                    f"The {name!r} parameter of {type(self).__name__} must be a number, not a "
                    f"bool; got {value!r}."
                )

    def _bounds_at_transform(self):
        """Check the current parameters again: ``set_params`` may have changed them since fit."""
        self._validate_params()
        max_budget = self._resolve_max_budget(self.n_features_in_)
        self._check_budget_bounds(max_budget, self.n_features_in_)
        return max_budget

    def _check_transform_input(self, X):
        if self.kind == "success_prob":
            check_probabilities(X, name="X (success probabilities)")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # outputs integer budgets
        return tags


def _fixed_price(allocator):
    """The allocator's fixed price (a number), or None (budget mode or ``price="fit"``)."""
    price = getattr(allocator, "price", None)
    return None if price is None or isinstance(price, str) else price


_COMMON_CONSTRAINTS = {
    "budget": [Interval(numbers.Real, 0, None, closed="left")],
    "max_budget": [None, Interval(numbers.Integral, 1, None, closed="left")],
    "min_budget": [Interval(numbers.Integral, 0, None, closed="left")],
    "kind": [StrOptions({"marginal", "success_prob"})],
}


def _check_price(price):
    if not math.isfinite(price):
        raise ValueError(f"price must be a finite number >= 0 or 'fit'; got {price!r}.")
    return float(price)
