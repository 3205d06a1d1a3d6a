"""Expected marginal-reward curves of a success-probability probe (not public).

The mixin behind :class:`~skadapt.SuccessProbClassifier`'s :meth:`predict_distribution`,
:meth:`novelty_score`, :meth:`hedge_weights` and :meth:`predict_marginal_rewards`:
the expected curve under the predicted distribution of ``lam``, blended with the
exact curves of the nearest training rows and hedged toward the population's curve
for queries unlike the training features (their novelty score).
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from ._validation import check_positive_int
from .targets import beta_marginal_rewards, marginal_rewards

# Training rows kept for the novelty score (float32, standardized), and how many of
# them serve as reference queries for its leave-one-out distance distribution.
_NOVELTY_MAX_ROWS = 5000
_NOVELTY_REFERENCE_ROWS = 1000


class ExpectedCurvesMixin:
    """Novelty score, hedge and expected curves of :class:`~skadapt.SuccessProbClassifier`.

    Needs the host's ``_standardized_input`` and ``_predict_standardized`` (from
    :class:`skadapt._mlp_probe._BaseMLPProbe`); its ``_after_fit`` stores what the
    curves are computed from.
    """

    # --------------------------------------------------- novelty and population curve
    def _after_fit(self, Z, outcomes, seed):
        rng = np.random.default_rng(seed)
        n = Z.shape[0]
        rows = np.arange(n)
        if n > _NOVELTY_MAX_ROWS:
            rows = np.sort(rng.choice(n, _NOVELTY_MAX_ROWS, replace=False))
        stored = np.ascontiguousarray(Z[rows], dtype=np.float32)
        self.nearest_neighbors_ = NearestNeighbors().fit(stored)
        reference = stored
        if len(rows) > _NOVELTY_REFERENCE_ROWS:
            reference = stored[np.sort(rng.choice(len(rows), _NOVELTY_REFERENCE_ROWS,
                                                  replace=False))]
        if len(rows) > 1:
            # Leave one out: the nearest stored row of a stored row is itself.
            k = self._novelty_k()
            distances, _ = self.nearest_neighbors_.kneighbors(reference, n_neighbors=k + 1)
            self.novelty_reference_ = np.sort(distances[:, 1:].mean(axis=1))
        else:
            self.novelty_reference_ = np.zeros(1)
        mean, concentration = self._distribution_standardized(stored)
        self.population_distribution_ = np.column_stack([mean, concentration])
        # what the stored rows really did: their outcomes (or soft labels), from
        # which their exact marginal-reward curves are computed on demand
        self.neighbor_outcomes_ = np.asarray(outcomes)[rows].astype(np.float32)

    def _novelty_k(self):
        n_rows = self.nearest_neighbors_.n_samples_fit_
        return max(1, min(int(self.novelty_neighbors), n_rows - 1))

    def _novelty_standardized(self, Z):
        distances, _ = self.nearest_neighbors_.kneighbors(
            Z.astype(np.float32, copy=False), n_neighbors=self._novelty_k()
        )
        d = distances.mean(axis=1)
        ref = self.novelty_reference_
        # Mid-rank empirical quantile: ties with reference distances count half.
        below = np.searchsorted(ref, d, side="left")
        at_most = np.searchsorted(ref, d, side="right")
        return (below + at_most) / (2.0 * len(ref))

    def _hedge_weights_standardized(self, Z):
        if self.hedge == 0:
            return np.zeros(Z.shape[0])
        return self._novelty_standardized(Z) ** (1.0 / self.hedge)

    def _distribution_standardized(self, Z):
        out = self._predict_standardized(Z)
        if out.ndim == 1:
            return out, np.full_like(out, np.inf)
        return out[:, 0], out[:, 1]

    def _population_curve(self, max_budget):
        mean, concentration = self.population_distribution_.T
        curve = beta_marginal_rewards(mean, concentration, max_budget).mean(axis=0)
        # An average of non-increasing rows is non-increasing; keep it so despite rounding.
        return np.minimum.accumulate(curve)

    def _stored_curves(self, max_budget):
        """Exact marginal-reward curves of the stored training rows."""
        outcomes = self.neighbor_outcomes_.astype(np.float64)
        if outcomes.shape[1] == 1:
            # soft labels: no samples to be exact about, the plug-in curve
            return beta_marginal_rewards(outcomes[:, 0], np.inf, max_budget)
        return marginal_rewards(outcomes, max_budget, extrapolate="geometric")

    def _neighbor_weights(self, Z):
        w = np.full((Z.shape[0], 1), float(self.neighbor_weight))
        if self.neighbor_novelty_power is not None:
            # the less a query looks like the training set, the less the model's
            # own curve is trusted: up to the neighbours' curve alone
            q = self._novelty_standardized(Z)[:, None]
            w = w + (1.0 - w) * q ** float(self.neighbor_novelty_power)
        return w

    def _neighbor_curves(self, Z, max_budget):
        k = min(int(self.neighbor_curves), self.nearest_neighbors_.n_samples_fit_)
        _, idx = self.nearest_neighbors_.kneighbors(Z.astype(np.float32, copy=False),
                                                    n_neighbors=k)
        return self._stored_curves(max_budget)[idx].mean(axis=1)

    def novelty_score(self, X):
        """How unlike the training features each query is, in [0, 1].

        The mean Euclidean distance of a query to its ``novelty_neighbors`` nearest
        training rows (standardized as the network sees them), ranked among the same
        leave-one-out distances of training rows: about uniform on [0, 1] for queries
        drawn like the training set, 1 for queries farther out than any training row.
        Training rows themselves score low (they are their own nearest neighbour),
        like any in-sample prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        novelty : ndarray of shape (n_samples,)
            Empirical quantile (mid-rank) of each query's distance.
        """
        return self._novelty_standardized(self._standardized_input(X))

    def hedge_weights(self, X):
        """Weight of the population curve in each query's hedged curve.

        ``w = novelty_score(X) ** (1 / hedge)``, zero when ``hedge=0``. Monotone in the
        novelty and in ``hedge``; 1 for queries beyond the training set whenever
        ``hedge > 0``; averages ``hedge / (1 + hedge)`` over in-distribution queries.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        weights : ndarray of shape (n_samples,)
            Values in [0, 1].
        """
        return self._hedge_weights_standardized(self._standardized_input(X))

    def predict_distribution(self, X):
        """Predicted distribution of the success probability: ``[mean, concentration]``.

        With ``head="beta"``, ``lam ~ Beta(mean * c, (1 - mean) * c)`` with ``c`` the
        concentration; with ``head="point"``, ``c = inf`` (a point mass at the mean).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        distribution : ndarray of shape (n_samples, 2)
            ``[mean, concentration]`` per query.
        """
        mean, concentration = self._distribution_standardized(self._standardized_input(X))
        return np.column_stack([mean, concentration])

    def predict_marginal_rewards(self, X, max_budget=None):
        """Expected marginal rewards of best-of-k, with the novelty hedge applied.

        Row ``i`` is ``E[lam_i (1 - lam_i)^(j - 1)]`` for ``j = 1..max_budget`` under the
        predicted distribution of ``lam_i`` (:func:`skadapt.targets.beta_marginal_rewards`;
        the plug-in geometric curve for ``head="point"``), then, when ``hedge > 0``,
        ``(1 - w_i)`` times it plus ``w_i`` times the population curve (the average
        expected curve of the training rows), ``w_i`` from :meth:`hedge_weights`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.
        max_budget : int or None, default=None
            Number of budgets; ``None`` uses the ``max_budget`` parameter.

        Returns
        -------
        marginal_rewards : ndarray of shape (n_samples, max_budget)
            Non-negative and non-increasing along each row, for
            :class:`~skadapt.GreedyAllocator` with ``kind="marginal"``.
        """
        budget = self.max_budget if max_budget is None else max_budget
        if budget is None:
            raise ValueError(
                "max_budget is needed for marginal-reward curves: pass it here or set the "
                "max_budget parameter."
            )
        budget = check_positive_int(budget, "max_budget")
        Z = self._standardized_input(X)
        mean, concentration = self._distribution_standardized(Z)
        curves = beta_marginal_rewards(mean, concentration, budget)
        if self.neighbor_curves > 0:
            w = self._neighbor_weights(Z)
            if np.any(w > 0):
                curves = (1.0 - w) * curves + w * self._neighbor_curves(Z, budget)
        if self.hedge > 0:
            w = self._hedge_weights_standardized(Z)[:, None]
            curves = (1.0 - w) * curves + w * self._population_curve(budget)
            # A mixture of non-increasing curves is non-increasing; undo rounding.
            curves = np.minimum.accumulate(curves, axis=1)
        return curves
