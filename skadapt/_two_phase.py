"""Two phases: the evidence of a query's first samples, and the policy that allocates on it.

:func:`phase_evidence` summarises the samples of a query seen so far;
:func:`two_phase` draws ``first_samples`` per query, then allocates the rest
from a predictor of that evidence, trained with :func:`two_phase_training_data`.
All three are imported from :mod:`skadapt.feedback`.
"""

import warnings

import numpy as np
from sklearn.utils import Bunch, check_random_state

from skadapt._stored_samples import _EXCLUDED, _check_budget, _check_cap, _check_samples, _replayed
from skadapt._validation import InputTypeError, as_float_array, check_positive_int, row_list
from skadapt.allocation import greedy_allocate

#: Columns of :func:`phase_evidence`.
EVIDENCE_FEATURES = ("mean_logprob", "min_logprob", "agreement", "n_distinct", "answered", "n_tokens")


# --------------------------------------------------------------------------
# Evidence of the samples seen so far
# --------------------------------------------------------------------------


def _nan_reduce(values, reduce):
    finite = np.isfinite(values)
    count = finite.sum(axis=-1)
    if reduce == "mean":
        out = np.where(finite, values, 0.0).sum(axis=-1) / np.maximum(count, 1)
    else:
        out = np.where(finite, values, np.inf).min(axis=-1)
    return np.where(count > 0, out, np.nan)


def phase_evidence(answers_seen, mean_logprob_seen=None, min_logprob_seen=None, n_tokens_seen=None):
    """Features of the samples of a query seen so far (the evidence of a first phase).

    Parameters
    ----------
    answers_seen : array-like of shape (..., r)
        Extracted answers of the ``r`` samples seen (NaN = none).
    mean_logprob_seen, min_logprob_seen : array-like of shape (..., r), default=None
        Mean and minimum token log-probability of each seen sample.
    n_tokens_seen : array-like of shape (..., r), default=None
        Generated tokens of each seen sample.

    Returns
    -------
    evidence : ndarray of shape (..., 6)
        Columns :data:`EVIDENCE_FEATURES`: the mean over seen samples of
        their mean log-probability; the smallest token log-probability of
        any seen sample; *agreement*, the share of seen samples giving the
        most frequent answer; the number of distinct answers; the fraction of
        samples with an extractable answer; the mean number of tokens.
        A column whose input is ``None`` is 0 (constant, so harmless to a
        model); a log-probability column is NaN where no seen sample has
        one.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import phase_evidence
    >>> phase_evidence([[4, 4, 5, np.nan]], [[-0.1, -0.3, -0.2, -0.2]])
    array([[-0.2 ,  0.  ,  0.5 ,  2.  ,  0.75,  0.  ]])
    """
    a = as_float_array(answers_seen, "answers_seen")
    if a.ndim < 1 or a.shape[-1] == 0:
        raise ValueError(f"answers_seen must have shape (..., r) with r >= 1; got {a.shape}.")
    r = a.shape[-1]
    out = np.zeros(a.shape[:-1] + (len(EVIDENCE_FEATURES),))
    for col, values, reduce, name in ((0, mean_logprob_seen, "mean", "mean_logprob_seen"),
                                      (1, min_logprob_seen, "min", "min_logprob_seen"),
                                      (5, n_tokens_seen, "mean", "n_tokens_seen")):
        if values is None:
            continue
        values = as_float_array(values, name)
        if values.shape != a.shape:
            raise ValueError(
                f"{EVIDENCE_FEATURES[col]} of the seen samples must have the shape of answers_seen "
                f"{a.shape}; got {values.shape} in {name}."
            )
        out[..., col] = _nan_reduce(values, reduce)
    same = a[..., :, None] == a[..., None, :]  # NaN equals nothing
    support = same.sum(axis=-1)
    answered = np.isfinite(a)
    out[..., 2] = support.max(axis=-1) / r
    out[..., 3] = np.where(answered, 1.0 / np.maximum(support, 1), 0.0).sum(axis=-1)
    out[..., 4] = answered.mean(axis=-1)
    return out


def _world_evidence(samples, p, r):
    """phase_evidence of the first r samples of world p, (n_queries, 6)."""
    idx = samples.orders[:, p, :r].astype(np.intp)
    take = (lambda v: None if v is None else np.take_along_axis(v, idx, axis=1))
    answers = take(samples.answers)
    if answers is None:
        answers = np.full(idx.shape, np.nan)
    return phase_evidence(answers, take(samples.mean_logprob), take(samples.min_logprob),
                          take(samples.n_tokens))


# --------------------------------------------------------------------------
# Two phases: look at r samples, then allocate the rest
# --------------------------------------------------------------------------


def _predict(predictor, Z):
    if hasattr(predictor, "predict_proba"):
        proba = np.asarray(predictor.predict_proba(Z))
        classes = list(getattr(predictor, "classes_", [0, 1]))
        out = proba[:, classes.index(1) if 1 in classes else -1]
    elif hasattr(predictor, "predict"):
        out = predictor.predict(Z)
    elif callable(predictor):
        out = predictor(Z)
    else:
        raise InputTypeError(
            "predictor must be a fitted scikit-learn classifier (predict_proba), regressor "
            f"(predict) or a callable; got {type(predictor).__name__}."
        )
    out = as_float_array(out, "the predictor's output")  # complex or strings: a clear error
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape[0] != Z.shape[0] or out.ndim not in (1, 2):
        raise ValueError(
            f"predictor returned shape {out.shape} for {Z.shape[0]} queries; expected "
            "(n_queries,) success probabilities or (n_queries, k) marginal rewards."
        )
    if not np.isfinite(out).all():
        raise ValueError("predictor returned NaN or infinite values.")
    return out


def _success_prob_output(predictor, pred):
    """The predictor's 1-D output as success probabilities; out of [0, 1] is never silent.

    A scikit-learn regressor (``predict`` without ``predict_proba``) fitted to
    success rates overshoots [0, 1] by construction: its output is clipped, with
    a warning that says how much. Any other predictor (a classifier, a callable)
    outside [0, 1] is an error.
    """
    bad = np.flatnonzero((pred < 0) | (pred > 1))
    if not bad.size:
        return pred
    found = (f"{bad.size} of {pred.size} values outside [0, 1] (range "
             f"[{pred.min():.3g}, {pred.max():.3g}]) at row(s) {row_list(bad)}")
    if hasattr(predictor, "predict") and not hasattr(predictor, "predict_proba"):
        warnings.warn(
            f"the predictor's output (a regressor's predict) has {found}; clipped to [0, 1] "
            "as success probabilities.", UserWarning, stacklevel=3)
        return np.clip(pred, 0.0, 1.0)
    raise ValueError(
        f"predictor returned success probabilities outside [0, 1]: the predictor's output has "
        f"{found}; return probabilities (np.clip(..., 0, 1) if clipping is what you want)."
    )


def _hidden_features(X, n):
    if X is None:
        return None
    X = as_float_array(X, "X")  # complex X raises instead of losing its imaginary part
    if X.ndim != 2 or X.shape[0] != n:
        raise ValueError(f"X must have shape (n_queries, n_features) = ({n}, n_features); got {X.shape}.")
    return X


def two_phase(samples, predictor, budget, *, first_samples=1, X=None, max_budget=None,
              verifier_at_inference=False):
    """Draw ``first_samples`` for every query, then allocate the rest from what they show.

    Phase 1 draws ``r = first_samples`` samples per query. ``predictor`` maps
    ``[X, phase_evidence(phase-1 samples)]`` (hidden-state features, if any,
    followed by the :data:`EVIDENCE_FEATURES` of the ``r`` samples) to

    * a success probability ``lam`` of a fresh sample (a 1-D output, or a
      classifier's ``predict_proba[:, 1]``): the extra samples' marginal
      rewards continue the geometric best-of-k curve of section 3.3,
      ``lam (1 - lam)**(r + j - 1)`` for the ``j``-th extra sample (the phase-1
      samples still count). With ``verifier_at_inference=True`` a query whose
      phase-1 samples hold a verified answer gets no more, and the others use
      ``lam (1 - lam)**(j - 1)`` (they are known to have failed); or
    * marginal rewards of the 1st, 2nd, ... extra sample (a 2-D output with at
      least ``max_budget - r`` columns), used as they are.

    Phase 2 spends the remaining ``floor(budget * n) - r * n`` samples by the
    exact greedy (Eq. 5), at most ``max_budget - r`` per query. Build the
    predictor's training data on *other* queries with
    :func:`two_phase_training_data`.

    Parameters
    ----------
    samples : StoredSamples
    predictor : fitted estimator or callable
        Anything with ``predict_proba``, ``predict``, or a callable, applied to
        an ``(n_queries, n_features + 6)`` array. A 1-D output outside [0, 1]
        is an error, except from a regressor's ``predict``: that is clipped to
        [0, 1] with a ``UserWarning``.
    budget : float
        Average samples per query, in ``[first_samples, max_budget]``.
    first_samples : int, default=1
    X : array-like of shape (n_queries, n_features), default=None
        Features known before sampling (e.g. hidden states); must match what
        the predictor was trained on.
    max_budget : int, default=None
        Largest number of samples of a query; ``None`` means ``n_samples``.
    verifier_at_inference : bool, default=False
        Whether a verifier tells, after phase 1, which queries are solved.

    Returns
    -------
    result : FeedbackResult
        ``rounds`` is 2 (1 when nothing is left for phase 2).

    Examples
    --------
    A rule that trusts agreement: unanimous first samples mean an easy query.

    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, two_phase
    >>> answers = np.array([[1, 1, 1, 1, 1, 1], [1, 2, 1, 3, 1, 2], [5, 5, 5, 5, 5, 5]])
    >>> samples = StoredSamples(answers=answers, reference=[1, 1, 4], n_permutations="all")
    >>> agreement = lambda Z: Z[:, 2] * 0.9 + 0.05     # column 2 of the evidence
    >>> result = two_phase(samples, agreement, 3, first_samples=2)
    >>> result.samples_used.round(2)                   # the middle query disagrees 73% of the time
    array([2.27, 4.47, 2.27])
    """
    samples = _check_samples(samples)
    n, m = samples.n_queries, samples.n_samples
    cap = _check_cap(max_budget, m)
    r = _check_cap(first_samples, cap, "first_samples")
    total = _check_budget(budget, r, cap, n)
    X = _hidden_features(X, n)
    first_correct = samples._prefix()["first_correct"]
    width = cap - r
    drawn = np.full((n, samples.n_worlds), r, dtype=np.int64)
    rounds = np.ones(samples.n_worlds)
    for p in range(samples.n_worlds):
        if width == 0 or total - r * n <= 0:
            break
        evidence = _world_evidence(samples, p, r)
        Z = evidence if X is None else np.hstack([X, evidence])
        pred = _predict(predictor, Z)
        if pred.ndim == 1:
            lam = _success_prob_output(predictor, pred)[:, None]
            offset = 0 if verifier_at_inference else r
            delta = lam * np.power(1.0 - lam, np.arange(offset, offset + width)[None, :])
        else:
            if pred.shape[1] < width:
                raise ValueError(
                    f"predictor returned {pred.shape[1]} marginal rewards per query; max_budget - "
                    f"first_samples = {width} are needed."
                )
            delta = pred[:, :width].copy()
        if verifier_at_inference:
            delta[first_correct[:, p] < r] = _EXCLUDED
        extra = greedy_allocate(delta, total - r * n)
        drawn[:, p] += extra
        rounds[p] += extra.sum() > 0
    params = {"budget": budget, "first_samples": r, "max_budget": cap,
              "verifier_at_inference": verifier_at_inference}
    return _replayed("two_phase", samples, drawn, rounds, params)


def two_phase_training_data(samples, X=None, *, first_samples=1, n_draws=1, random_state=0):
    """Training data for the predictor of :func:`two_phase`, without leakage.

    For each training query and each of ``n_draws`` draws, a random set of
    ``r = first_samples`` of its stored samples plays phase 1: its evidence
    (:func:`phase_evidence`) becomes the features, appended to ``X``. The
    targets come from the **other** ``m - r`` samples only (split-sample),
    so a target never reuses the samples its features were computed from.

    Parameters
    ----------
    samples : StoredSamples
        Training queries (never the queries the policy is evaluated on).
    X : array-like of shape (n_queries, n_features), default=None
        Features known before sampling, e.g. hidden states.
    first_samples : int, default=1
    n_draws : int, default=1
        Phase-1 draws per query (more rows, correlated within a query: group
        cross-validation by ``query_index``).
    random_state : int, RandomState instance or None, default=0

    Returns
    -------
    data : :class:`sklearn.utils.Bunch`
        ``X`` (n_queries * n_draws, n_features + 6) features; ``feature_names``;
        ``outcomes_rest`` (n_queries * n_draws, m - r) outcomes of the other
        samples, the ``y`` that :class:`skadapt.SuccessProbClassifier` and
        :class:`skadapt.MarginalRewardRegressor` accept; ``success_prob`` their
        mean (a soft label for a regressor); ``phase1_solved`` whether a
        phase-1 sample was correct; ``query_index`` the query of each row.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.feedback import StoredSamples, two_phase_training_data
    >>> samples = StoredSamples(answers=[[1, 1, 2, 1], [3, 4, 5, 6]], reference=[1, 3])
    >>> data = two_phase_training_data(samples, first_samples=2, n_draws=3)
    >>> data.X.shape, data.outcomes_rest.shape, data.query_index.tolist()
    ((6, 6), (6, 2), [0, 0, 0, 1, 1, 1])
    """
    samples = _check_samples(samples)
    n, m = samples.n_queries, samples.n_samples
    r = check_positive_int(first_samples, "first_samples")
    if r >= m:
        raise ValueError(f"first_samples={r} must be smaller than n_samples={m}: the targets need the others.")
    n_draws = check_positive_int(n_draws, "n_draws")
    X = _hidden_features(X, n)
    rng = check_random_state(random_state)
    order = rng.random_sample((n, n_draws, m)).argsort(axis=2).reshape(n * n_draws, m)
    query = np.repeat(np.arange(n), n_draws)
    take = (lambda v, cols: None if v is None else v[query[:, None], cols])
    seen, rest = order[:, :r], order[:, r:]
    answers = take(samples.answers, seen)
    evidence = phase_evidence(np.full(seen.shape, np.nan) if answers is None else answers,
                              take(samples.mean_logprob, seen), take(samples.min_logprob, seen),
                              take(samples.n_tokens, seen))
    outcomes_rest = take(samples.outcomes, rest)
    names = list(EVIDENCE_FEATURES)
    if X is not None:
        evidence = np.hstack([X[query], evidence])
        names = [f"x{j}" for j in range(X.shape[1])] + names
    return Bunch(X=evidence, feature_names=names, outcomes_rest=outcomes_rest,
                 success_prob=outcomes_rest.mean(axis=1),
                 phase1_solved=take(samples.outcomes, seen).max(axis=1) > 0.5, query_index=query)
