"""Routing between a weak and a strong decoder (sections 2, 3.3 and 4.2; appendices A.4, A.5, D).

For each query, either answer with a cheap *weak* decoder ``p^W`` (a small model,
ordinary sampling) or with an expensive *strong* one ``p^S`` (a larger model,
value-augmented search, a majority vote), calling the strong one for a given
share of queries. Everything routing needs lives here:

Targets (what a routing probe learns)
    :func:`preference_probability` is Eq. 11/12 of the paper, the probability
    that a strong sample beats a weak one, ``E[sigmoid(r(x, y_S) - r(x, y_W))]``,
    estimated exactly from sampled rewards of both decoders.
    :func:`preference_from_success` is the same quantity in closed form for
    0/1 rewards, from each decoder's success probability. Either is the soft
    label of a preference probe (Eq. 8), for example a
    :class:`~skadapt.SuccessProbClassifier` fitted on it.

The decision
    :class:`Router` turns one score per query (a predicted preference
    probability, or any score where larger means "the strong decoder helps
    more") into 0/1 decisions: exactly ``floor(fraction * n)`` queries of each
    batch go to the strong decoder (the paper routes "the top B-th percentile
    of queries", appendix A.4), or every query whose score reaches a threshold
    (one query at a time, with the threshold given or learned in ``fit``).

The transfer from a best-of-k probe
    :func:`best_of_k_preference` reuses a probe trained for best-of-k as a
    router (appendix D, Eq. 13-14): the difficulty of a query is the predicted
    gain of best-of-k over one sample, and its sigmoid approximates the
    preference probability. :class:`BestOfKPreference` is the same as a
    Pipeline step, between the probe and a :class:`Router`.

Evaluation
    :func:`routing_curve` gives the quality of a router at each share of strong
    calls. :func:`routing_reward` scores one decision and
    :func:`random_routing` is the random-routing baseline of section 4.2.
    :func:`apgr` (average performance gap recovered: the area under the share of
    the weak-to-strong quality gap recovered, against the share of strong calls;
    random routing scores 0.5) and :func:`cpt` (call-performance threshold: the
    smallest share of strong calls that recovers a given share of the gap) are
    the routing metrics of RouteLLM (Ong et al., 2024).

:func:`preference_probability` is also importable from :mod:`skadapt.targets`,
and :func:`routing_reward`, :func:`random_routing`, :func:`apgr` and :func:`cpt`
from :mod:`skadapt.metrics`: they are the same functions. See
``docs/routing.md``.
"""

import numbers

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Bunch

from skadapt import _greedy
from skadapt._compat import (
    Interval,
    StrOptions,
    check_is_fitted,
    validate_data,
)
from skadapt._validation import (
    OneOutputNameMixin,
    as_float_array,
    check_positive_int,
    check_probabilities,
    check_reward_matrix,
    naming_non_numeric,
    reject_complex,
    row_list,
)
from skadapt._versioning import VersionedPickleMixin
from skadapt.metrics import _routing_means, apgr, cpt, random_routing, routing_reward
from skadapt.targets import preference_probability

__all__ = [
    "preference_probability",
    "preference_from_success",
    "Router",
    "best_of_k_preference",
    "BestOfKPreference",
    "routing_curve",
    "routing_reward",
    "random_routing",
    "apgr",
    "cpt",
]

# sigmoid(1): the preference of a strong success over a weak failure (0/1 rewards).
_SIGMOID_1 = float(expit(1.0))


# --------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------


def preference_from_success(p_strong, p_weak):
    """Preference probability of Eq. 11 for 0/1 rewards, from success probabilities.

    With binary rewards and independent draws of one strong and one weak
    sample, ``r_S - r_W`` is 1 when only the strong sample succeeds
    (probability ``p_S (1 - p_W)``), -1 when only the weak one does
    (``(1 - p_S) p_W``) and 0 otherwise, so

        E[sigmoid(r_S - r_W)] = sigmoid(1) p_S (1 - p_W)
                                + sigmoid(-1) (1 - p_S) p_W
                                + 1/2 (1 - p_S (1 - p_W) - (1 - p_S) p_W).

    At the empirical success rates of two sample matrices this equals
    :func:`preference_probability` of those matrices exactly, without forming
    the ``m_S * m_W`` pairs; it also accepts success probabilities that do not
    come from samples (an exact majority-vote accuracy, a probe's prediction).

    Parameters
    ----------
    p_strong : array-like of shape (n_queries,) or (n_queries, 1)
        Success probability of the strong decoder per query, in [0, 1].
    p_weak : array-like of shape (n_queries,) or (n_queries, 1)
        Success probability of the weak decoder per query, in [0, 1].

    Returns
    -------
    preference : ndarray of shape (n_queries,)
        Values in ``[sigmoid(-1), sigmoid(1)]``, about [0.269, 0.731]; 0.5 when
        both decoders succeed equally often.

    Raises
    ------
    ValueError
        If either input is not a vector of probabilities in [0, 1], or their
        lengths differ.

    See Also
    --------
    preference_probability : The same target from sampled rewards of any kind.

    Examples
    --------
    >>> from skadapt.routing import preference_from_success
    >>> preference_from_success([1.0, 0.3, 0.0], [0.0, 0.3, 1.0]).round(4)
    array([0.7311, 0.5   , 0.2689])
    """
    p_strong = check_probabilities(p_strong, name="p_strong")
    p_weak = check_probabilities(p_weak, name="p_weak")
    if p_strong.shape != p_weak.shape:
        raise ValueError(
            f"p_strong and p_weak must have the same length (one value per query); got "
            f"{p_strong.shape[0]} and {p_weak.shape[0]}."
        )
    only_strong = p_strong * (1 - p_weak)
    only_weak = (1 - p_strong) * p_weak
    same = 1 - only_strong - only_weak
    return _SIGMOID_1 * only_strong + (1 - _SIGMOID_1) * only_weak + 0.5 * same


# --------------------------------------------------------------------------
# Transfer from a best-of-k probe (appendix D)
# --------------------------------------------------------------------------


def best_of_k_preference(X, k, *, kind="success_prob"):
    """Routing preference from a best-of-k probe's predictions (Eq. 13-14).

    A probe trained for best-of-k predicts how much extra samples help a
    query. Appendix D of the paper reuses it as a router: the difficulty of a
    query is the expected gain of best-of-k over a single sample (Eq. 13),

        Difficulty(x) = E_{y ~ BoK}[r(x, y)] - E_{y ~ p(.|x)}[r(x, y)],

    and the preference probability of the strong decoder is approximated by
    its sigmoid (Eq. 14), ``p(p^S > p^W | x) ~ sigmoid(Difficulty(x))``.

    - ``kind="success_prob"``: ``X`` holds single-sample success probabilities
      ``lam`` (from :class:`~skadapt.SuccessProbClassifier`). With binary
      rewards best-of-k succeeds with probability ``1 - (1 - lam)**k``
      (section 3.3), so ``Difficulty = 1 - (1 - lam)**k - lam``.
    - ``kind="marginal"``: ``X`` holds predicted marginal rewards ``Delta``
      (from :class:`~skadapt.MarginalRewardRegressor`). Best-of-k earns
      ``q(k) = Delta[:, :k].sum(1)`` and one sample ``q(1) = Delta[:, 0]``, so
      ``Difficulty = Delta[:, 1:k].sum(1)``.

    Parameters
    ----------
    X : array-like of shape (n_queries,) or (n_queries, n_features)
        Success probabilities (one column) or marginal rewards (at least ``k``
        columns), according to ``kind``.
    k : int
        The best-of-k budget that defines difficulty, ``k >= 1`` (``k = 1``
        makes every difficulty 0). The paper's transfer used the probe's own
        ``B_max``; a ``k`` close to the strong decoder's cost is a natural choice.
    kind : {"success_prob", "marginal"}, default="success_prob"
        What ``X`` holds.

    Returns
    -------
    preference : ndarray of shape (n_queries,)
        ``sigmoid(Difficulty)``. Larger means the query gains more from extra
        compute: route those to the strong decoder first.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1, ``kind`` is unknown, ``X`` holds
        success probabilities outside [0, 1] or more than one column, or
        marginal rewards that are not finite or have fewer than ``k`` columns.

    See Also
    --------
    Router : Turns the scores into routing decisions.
    preference_from_success : The target of a probe trained for routing.

    Notes
    -----
    The result ranks queries; it is not a calibrated preference probability.
    With 0/1 rewards the difficulty lies in [0, 1), so every value is at least
    0.5, and queries the probe considers hopeless or solved both get 0.5.
    Route by share (``Router(fraction=...)``), or learn a threshold on
    held-out scores (``Router(threshold="fit")``), rather than comparing it
    with 0.5. As the paper reports (its Figure 9), a probe trained for routing
    does better than the transferred one; the transfer needs no strong-decoder
    samples at all.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.routing import best_of_k_preference
    >>> lam = np.array([0.0, 0.2, 0.5, 1.0])
    >>> best_of_k_preference(lam, 4).round(4)
    array([0.5   , 0.5964, 0.6077, 0.5   ])
    >>> delta = lam[:, None] * (1 - lam[:, None]) ** np.arange(4)   # the same curves
    >>> best_of_k_preference(delta, 4, kind="marginal").round(4)
    array([0.5   , 0.5964, 0.6077, 0.5   ])
    """
    if kind not in ("success_prob", "marginal"):
        raise ValueError(f"kind must be 'success_prob' or 'marginal'; got {kind!r}.")
    k = check_positive_int(k, "k")
    if kind == "success_prob":
        lam = check_probabilities(X, name="X (success probabilities)")
        # Eq. 13 under section 3.3: pass@k of independent samples minus pass@1.
        difficulty = (1 - (1 - lam) ** k) - lam
    else:
        delta = _check_marginal_matrix(X, k)
        # Eq. 13: q(k) - q(1) is the sum of the marginal rewards of units 2..k.
        difficulty = delta[:, 1:k].sum(axis=1)
    return expit(difficulty)  # Eq. 14


def _check_marginal_matrix(X, k):
    delta = as_float_array(X, "X (marginal rewards)")  # complex: an error, not a lost part
    if delta.ndim != 2 or delta.shape[0] == 0:
        raise ValueError(
            f"X (marginal rewards) must be a non-empty 2-D array of shape (n_queries, "
            f"max_budget); got shape {delta.shape}."
        )
    if delta.shape[1] < k:
        raise ValueError(
            f"k={k} but X (marginal rewards) has {delta.shape[1]} column(s); best-of-k "
            f"needs the marginal rewards of its first k units."
        )
    if not np.isfinite(delta[:, :k]).all():
        rows = np.flatnonzero(~np.isfinite(delta[:, :k]).all(axis=1))
        raise ValueError(
            f"X (marginal rewards) contains NaN or infinite values in row(s) {row_list(rows)}."
        )
    return delta


class BestOfKPreference(VersionedPickleMixin, OneOutputNameMixin, TransformerMixin,
                        BaseEstimator):
    """:func:`best_of_k_preference` (Eq. 13-14) as a Pipeline step.

    Turns a best-of-k probe's output into one routing score per query,
    ``sigmoid(q(k) - q(1))``, so that the probe can be reused as a router in one
    Pipeline: ``make_policy(probe, BestOfKPreference(k=5, kind="marginal"),
    Router(0.3))``. Stateless: ``fit`` only records the number of input columns.

    Parameters
    ----------
    k : int, default=5
        The best-of-k budget that defines difficulty (``k >= 1``).
    kind : {"success_prob", "marginal"}, default="marginal"
        What the step before gives: success probabilities (one column) or
        marginal-reward curves (at least ``k`` columns; the ``transform`` of
        :class:`~skadapt.SuccessProbClassifier` and
        :class:`~skadapt.MarginalRewardRegressor`).

    Attributes
    ----------
    n_features_in_ : int
        Number of input columns seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when ``X`` had string column names.

    See Also
    --------
    best_of_k_preference : The same as a function.
    Router : The decision that follows.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.routing import BestOfKPreference
    >>> lam = np.array([[0.0], [0.2], [0.5], [1.0]])
    >>> BestOfKPreference(k=4, kind="success_prob").fit_transform(lam).round(4).ravel()
    array([0.5   , 0.5964, 0.6077, 0.5   ])
    """

    _parameter_constraints = {
        "k": [Interval(numbers.Integral, 1, None, closed="left")],
        "kind": [StrOptions({"success_prob", "marginal"})],
    }
    # fit learns nothing from the values: a probe before it need not cross-fit
    _fit_needs_held_out = False
    _output_name = "best_of_k_preference"

    def __init__(self, k=5, *, kind="marginal"):
        self.k = k
        self.kind = kind

    def _scores(self, X, reset):
        reject_complex(X)
        with naming_non_numeric(X):
            X = validate_data(self, X, dtype=np.float64, reset=reset)
        if self.kind == "success_prob" and X.shape[1] != 1:
            raise ValueError(
                f"BestOfKPreference(kind='success_prob') expects one success probability "
                f"per query; got {X.shape[1]} columns (use kind='marginal' for curves).")
        return best_of_k_preference(X if self.kind == "marginal" else X[:, 0], self.k,
                                    kind=self.kind).reshape(-1, 1)

    def fit(self, X, y=None):
        """Check the parameters and ``X``; record its number of columns.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Success probabilities or marginal-reward curves, as ``kind`` says.
        y : None
            Ignored.

        Returns
        -------
        self : BestOfKPreference
        """
        self._validate_params()
        self._scores(X, reset=True)
        return self

    def transform(self, X):
        """One routing score per query, ``sigmoid(q(k) - q(1))``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            As in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_queries, 1)
            Larger: the query gains more from extra compute.
        """
        check_is_fitted(self, "n_features_in_")
        self._validate_params()
        return self._scores(X, reset=False)


# --------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------


def _top_share(scores, fraction):
    """0/1 decisions routing exactly floor(fraction * n) rows: the largest scores,
    ties to the smaller row index (the tie rule of the greedy allocator)."""
    n = scores.shape[0]
    n_strong = _greedy.total_units(fraction, n)
    routed = np.zeros(n, dtype=np.int64)
    # A stable sort of the negated scores keeps tied rows in row order.
    routed[np.argsort(-scores, kind="stable")[:n_strong]] = 1
    return routed


class Router(VersionedPickleMixin, OneOutputNameMixin, TransformerMixin, BaseEstimator):
    """Route each query to the weak (0) or the strong (1) decoder from one score per query.

    ``X`` holds one score per query where larger means the strong decoder
    helps more: a predicted preference probability (Eq. 8, from a probe
    fitted on :func:`preference_probability` or :func:`preference_from_success`),
    the transferred score of :func:`best_of_k_preference` (Eq. 13-14), or a
    predicted gain in success probability. ``transform`` returns 1 for the
    queries sent to the strong decoder.

    Parameters
    ----------
    fraction : float, default=0.5
        Share of queries sent to the strong decoder, in [0, 1] (the budget
        ``B`` of section 4.2). With ``threshold=None`` each batch passed to
        ``transform`` routes exactly ``floor(fraction * n)`` queries (computed
        with a relative tolerance of 1e-12, so 0.29 * 100 gives 29); with
        ``threshold="fit"`` it sets the learned threshold. Not used when
        ``threshold`` is a number.
    threshold : None, "fit" or float, default=None
        How a query is decided.

        - ``None``: by rank within the batch. The ``floor(fraction * n)``
          queries with the largest scores go to the strong decoder (the
          paper's "top B-th percentile", appendix A.4); ties go to the query
          with the smaller row index. Exact on every batch, but a query's
          decision depends on the rest of its batch.
        - ``"fit"``: one query at a time, against ``threshold_`` learned in
          ``fit`` from held-out scores: the smallest score among the
          ``floor(fraction * n)`` largest scores seen in ``fit``. New batches
          get ``fraction`` only in expectation, as long as their scores come
          from the same distribution.
        - a number: one query at a time; a query goes to the strong decoder
          when its score is at least ``threshold`` (the price of a strong
          call in units of the score). With preference probabilities, 0.5
          means "whenever the strong decoder is predicted to win".

    Attributes
    ----------
    threshold_ : float
        The score a query must reach to be routed: the given ``threshold``,
        or the smallest score routed among the scores passed to ``fit``
        (``inf`` when that routes none). With ``threshold=None`` it is
        informational (``transform`` ranks each batch).
    fraction_ : float
        Share of the scores passed to ``fit`` that reach ``threshold_``. It
        exceeds ``floor(fraction * n) / n`` when scores tie at ``threshold_``.
    n_features_in_ : int
        Always 1.
    feature_names_in_ : ndarray of shape (1,)
        Column name of ``X`` when it was a DataFrame with a string column name.

    See Also
    --------
    skadapt.GreedyAllocator : ``GreedyAllocator(budget=fraction, max_budget=1)``
        makes the same batch decisions on non-negative scores, but never
        routes a query whose score (read as a marginal reward) is negative.
    routing_curve : Quality of a router at every share of strong calls.
    best_of_k_preference : Scores from a best-of-k probe (Eq. 13-14).

    Notes
    -----
    On scores that are never negative (preference probabilities, the scores
    of :func:`best_of_k_preference`), ``threshold=None`` decides exactly as
    ``GreedyAllocator(budget=fraction, max_budget=1)``, ties included. The
    allocator reads its input as marginal rewards and never pays for a
    negative one, so on a predicted gain below zero it routes fewer than
    ``floor(fraction * n)`` queries; the router routes exactly that many,
    because a score here only orders queries. To skip negative gains as well,
    use ``threshold=0.0``.

    Parameters are checked again in ``transform``, so a ``set_params`` after
    ``fit`` takes effect, except that a change of ``fraction`` does not move a
    ``threshold_`` learned with ``threshold="fit"`` (refit for that).

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.routing import Router
    >>> pref = np.array([[0.62], [0.48], [0.71], [0.55], [0.50]])
    >>> Router(fraction=0.4).fit_transform(pref).ravel()
    array([1, 0, 1, 0, 0])
    >>> Router(threshold=0.5).fit_transform(pref).ravel()
    array([1, 0, 1, 1, 1])

    Learn a threshold on held-out scores, then decide one query at a time:

    >>> router = Router(fraction=0.4, threshold="fit").fit(pref)
    >>> float(router.threshold_)
    0.62
    >>> router.transform([[0.65], [0.60]]).ravel()
    array([1, 0])
    """

    _parameter_constraints = {
        "fraction": [Interval(numbers.Real, 0, 1, closed="both")],
        "threshold": [
            None, StrOptions({"fit"}), Interval(numbers.Real, None, None, closed="neither"),
        ],
    }

    _output_name = "routed"

    def __init__(self, fraction=0.5, *, threshold=None):
        self.fraction = fraction
        self.threshold = threshold

    @property
    def _fit_needs_held_out(self):
        # only threshold="fit" decides with what fit learned from the scores (a probe
        # before it must then cross-fit; see skadapt.policy.make_policy)
        return isinstance(self.threshold, str) and self.threshold == "fit"

    def _check_params(self):
        self._validate_params()
        for name in ("fraction", "threshold"):
            if isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(
                    f"The {name!r} parameter of Router must be a number, not a bool; got "
                    f"{getattr(self, name)!r}."
                )

    def _check_scores(self, X, reset):
        reject_complex(X)  # validate_data: a list of complex numbers gives float()'s TypeError
        with naming_non_numeric(X):
            X = validate_data(self, X, dtype=np.float64, reset=reset)
        if X.shape[1] != 1:
            raise ValueError(
                f"Router expects X of shape (n_queries, 1): one routing score per query "
                f"(a preference probability, a best-of-k difficulty); got {X.shape[1]} "
                "columns."
            )
        return X[:, 0]

    def fit(self, X, y=None):
        """Validate the parameters and learn ``threshold_`` from held-out scores.

        Parameters
        ----------
        X : array-like of shape (n_queries, 1)
            Routing scores, ideally of queries the score's probe was not
            trained on (held-out or out-of-fold predictions).
        y : None
            Ignored.

        Returns
        -------
        self : Router
            The fitted router.
        """
        self._check_params()
        scores = self._check_scores(X, reset=True)
        if isinstance(self.threshold, numbers.Real):
            self.threshold_ = float(self.threshold)
        else:
            routed = _top_share(scores, self.fraction)
            self.threshold_ = float(scores[routed == 1].min()) if routed.any() else np.inf
        self.fraction_ = float(np.mean(scores >= self.threshold_))
        return self

    def transform(self, X):
        """Route each query: 1 for the strong decoder, 0 for the weak one.

        Parameters
        ----------
        X : array-like of shape (n_queries, 1)
            Routing scores of a batch of queries.

        Returns
        -------
        routed : ndarray of shape (n_queries, 1), int64
            With ``threshold=None`` exactly ``floor(fraction * n_queries)``
            ones; otherwise a one wherever the score is at least
            ``threshold_`` (the given ``threshold`` if it was changed since
            ``fit``).
        """
        check_is_fitted(self)
        self._check_params()
        scores = self._check_scores(X, reset=False)
        if self.threshold is None:
            routed = _top_share(scores, self.fraction)
        else:
            fixed = isinstance(self.threshold, numbers.Real)
            threshold = self.threshold if fixed else self.threshold_
            routed = (scores >= threshold).astype(np.int64)
        return routed.reshape(-1, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # outputs 0/1 integers
        return tags


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------


def routing_curve(R_strong, R_weak, scores, *, fractions=None):
    """Quality of routing by ``scores`` at each share of strong calls, exactly.

    At a share ``s / n``, the ``s`` queries with the largest scores go to the
    strong decoder (ties to the smaller row index, as
    ``Router(fraction=s / n)`` decides), and each query earns the mean of its
    decoder's observed rewards (:func:`routing_reward`). All shares come from
    one sort and one cumulative sum.

    The result unpacks into the metrics:
    ``apgr(**curve)`` and ``cpt(level=0.5, **curve)``.

    Parameters
    ----------
    R_strong : array-like of shape (n_queries, n_strong_samples)
        Rewards of samples of the strong decoder; NaN marks a missing sample.
        One column of success probabilities works too (the mean of one value
        is that value).
    R_weak : array-like of shape (n_queries, n_weak_samples)
        Rewards of samples of the weak decoder.
    scores : array-like of shape (n_queries,) or (n_queries, 1)
        Routing scores; larger means route to the strong decoder first.
    fractions : array-like of float in [0, 1], default=None
        Shares at which to evaluate, each rounded down to whole queries as
        :class:`Router` does; shares that round to the same number of strong
        calls give one point. None evaluates every share ``0, 1/n, ..., 1``.

    Returns
    -------
    curve : :class:`~sklearn.utils.Bunch`
        ``strong_fractions`` (the realized shares ``s / n``, increasing),
        ``quality`` (mean expected reward at each), ``weak_quality`` and
        ``strong_quality`` (quality with every query on one decoder).

    Raises
    ------
    ValueError
        If the reward matrices are invalid or disagree in rows, ``scores``
        is not one finite value per query, or a fraction lies outside [0, 1].

    See Also
    --------
    apgr, cpt : Summaries of the curve.
    random_routing : The random-routing baseline at the same shares.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.routing import apgr, cpt, routing_curve
    >>> R_strong = np.array([[1, 1], [1, 0], [0, 0], [1, 1]])
    >>> R_weak = np.array([[0, 0], [1, 0], [0, 0], [1, 0]])
    >>> curve = routing_curve(R_strong, R_weak, [0.9, 0.5, 0.2, 0.6])
    >>> curve.strong_fractions
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    >>> curve.quality
    array([0.25 , 0.5  , 0.625, 0.625, 0.625])
    >>> round(apgr(**curve), 4), round(cpt(level=0.5, **curve), 4)
    (0.7917, 0.1875)
    """
    strong, weak = _routing_means(R_strong, R_weak)
    n = strong.shape[0]
    scores = as_float_array(scores, "scores")  # complex: an error, not a lost part
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.shape != (n,):
        raise ValueError(
            f"scores must hold one value per query, shape ({n},) or ({n}, 1); got shape "
            f"{scores.shape}."
        )
    if not np.isfinite(scores).all():
        rows = np.flatnonzero(~np.isfinite(scores))
        raise ValueError(f"scores contains NaN or infinite values at index {row_list(rows)}.")
    if fractions is None:
        counts = np.arange(n + 1)
    else:
        fractions = np.atleast_1d(as_float_array(fractions, "fractions"))
        if fractions.ndim != 1 or fractions.size == 0:
            raise ValueError(
                f"fractions must be a non-empty 1-D list of shares; got {fractions!r}."
            )
        if not np.isfinite(fractions).all() or (fractions < 0).any() or (fractions > 1).any():
            raise ValueError(f"fractions must lie in [0, 1]; got {fractions!r}.")
        counts = np.unique([_greedy.total_units(f, n) for f in fractions])
    order = np.argsort(-scores, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum((strong - weak)[order])])
    return Bunch(
        strong_fractions=counts / n,
        quality=weak.mean() + gain[counts] / n,
        weak_quality=float(weak.mean()),
        strong_quality=float(strong.mean()),
    )
