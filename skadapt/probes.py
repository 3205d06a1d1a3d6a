"""Marginal-reward predictors: MLP probes on numeric features (section 3.1).

:class:`SuccessProbClassifier` predicts the success probability ``lam`` of one sample
(binary rewards, Eq. 7; preference probability of the strong decoder for routing,
Eq. 8) and :class:`MarginalRewardRegressor` the vector of marginal rewards
``Delta_j = q(j) - q(j - 1)`` for ``j = 1..max_budget`` (general rewards, Eq. 6).
Both are two-layer MLPs by default (one hidden layer), trained with the shared torch
machinery of :mod:`skadapt._mlp_probe` and :mod:`skadapt._training` (heads and losses
in :mod:`skadapt._heads`, cross-fitting in :mod:`skadapt._cross_fit`), and both are
transformers whose cross-fitted ``fit_transform`` feeds held-out predictions to the
allocator fitted next in a :class:`~sklearn.pipeline.Pipeline`.

:class:`SuccessProbClassifier` can also say how sure it is: with ``head="beta"`` it
predicts a Beta distribution of ``lam`` (beta-binomial likelihood of the observed
success counts) whose expected marginal-reward curve
(:func:`skadapt.targets.beta_marginal_rewards`) replaces the plug-in one, and its
novelty score (distance to the training features) can shrink the curves of queries
unlike anything it was trained on toward the population's curve (``hedge``); these
curves come from :mod:`skadapt._expected_curves`.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score

from ._compat import Interval, StrOptions, _check_feature_names_in, check_is_fitted
from ._expected_curves import ExpectedCurvesMixin
from ._heads import (
    BetaBinomialHead,
    MarginalRewardHead,
    SuccessProbHead,
    marginal_reward_targets,
)
from ._mlp_probe import _SHARED_ATTRS_DOC, _SHARED_PARAMS_DOC, _BaseMLPProbe
from ._target_forms import NoClassLabelsError, group_rows, success_targets

__all__ = ["MarginalRewardRegressor", "SuccessProbClassifier"]


class SuccessProbClassifier(ClassifierMixin, ExpectedCurvesMixin, _BaseMLPProbe):
    """Predict the probability that one sample succeeds (binary rewards, Eq. 7).

    A two-layer MLP trained with cross-entropy on *soft* labels: the targets are
    empirical success rates ``lam_i`` rather than 0/1 labels, so the model learns the
    per-query success probability that determines every marginal reward of
    best-of-k, ``Delta_j = lam (1 - lam)^(j - 1)``. For routing, the soft label is the
    preference probability of the strong decoder over the weak one (Eq. 8).

    With ``head="beta"`` the network predicts a Beta distribution of ``lam`` instead
    of a point, and :meth:`predict_marginal_rewards` returns the *expected* curve
    ``E[lam (1 - lam)^(j - 1)]``, which the plug-in curve overestimates when the probe
    is unsure. ``hedge`` shrinks the curves of queries unlike the training features
    toward the population's curve.

    Parameters
    ----------
    {shared}
    head : {{"point", "beta", "auto"}}, default="point"
        ``"point"``: one output, the success probability, trained by the soft-label
        cross-entropy of Eq. 7. ``"beta"``: two outputs, the mean and concentration
        ``c`` of ``lam ~ Beta(mean c, (1 - mean) c)``, trained by the beta-binomial
        likelihood of each query's success count; ``c`` is kept in [1e-2, 1e4]. Needs
        the (n, m) outcome matrix as ``y`` (see Notes). ``"auto"``: ``"beta"`` when
        ``y`` is an outcome matrix with at least 2 samples per query, ``"point"`` for
        soft labels (the resolved choice is ``head_``).
    max_budget : int or None, default=None
        What :meth:`transform` returns. ``None``: the success probability, one column
        (for an allocator with ``kind="success_prob"``). An int ``B``: the expected,
        hedged marginal-reward curves of :meth:`predict_marginal_rewards` for
        ``j = 1..B``, ``B`` columns (for an allocator with ``kind="marginal"``).
    hedge : float, default=0.0
        Strength of the novelty hedge of :meth:`predict_marginal_rewards`, >= 0.
        ``0`` turns it off; a query's weight on the population curve is
        ``novelty ** (1 / hedge)`` (see Notes and :meth:`hedge_weights`), so larger
        values shrink more queries, toward the population curve for all as ``hedge``
        grows.
        The success probability (:meth:`predict_proba`, and :meth:`transform` with
        ``max_budget=None``) is never hedged.
    novelty_neighbors : int, default=10
        Number of nearest training points whose mean distance defines the novelty
        score (:meth:`novelty_score`).
    neighbor_curves : int, default=25
        ``k > 0`` blends into each query's expected curve the average *exact*
        marginal-reward curve (:func:`skadapt.targets.marginal_rewards` of the observed
        outcomes) of its ``k`` nearest training rows, with weight
        ``neighbor_weight``: a calibrated curve that keeps the spread of difficulties
        the probe cannot tell apart, where it is most often wrong (queries unlike the
        training set). ``0`` turns it off.
    neighbor_weight : float, default=0.5
        Weight of the neighbours' curve, in [0, 1].
    neighbor_novelty_power : float or None, default=None
        ``p > 0`` raises the weight of a query unlike the training set toward 1:
        ``w = neighbor_weight + (1 - neighbor_weight) * novelty ** p`` with the
        novelty of :meth:`novelty_score`. ``None``: the same weight for every query.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[0, 1]``: failure and success; only when fitted on one 0/1 label per sample
        (``target_form_ == "labels"``). Fitted on an outcome matrix or on rates, reading
        it raises :class:`skadapt.scoring.NoClassLabelsError` (a ``ValueError`` and an
        ``AttributeError``, so ``hasattr`` is False), which is what stops
        scikit-learn's classifier scorers from comparing probabilities with such a
        ``y`` (see Notes).
    target_form_ : {{"outcomes", "rates", "labels"}}
        The form of ``y`` in fit: an (n, m) outcome matrix, success rates (soft
        labels), or 0/1 labels only.
    mean_success_rate_ : float
        Success rate of all training samples (each query weighted by its number of
        samples and its sample weight): the constant predictor "Avg." of the paper's
        Table 1, which :func:`skadapt.scoring.loss_skill` scores against.
    nearest_neighbors_ : sklearn.neighbors.NearestNeighbors
        Fitted on (at most 5000 randomly chosen) training rows, standardized as the
        network sees them, in float32.
    novelty_reference_ : ndarray of shape (n_reference,)
        Sorted leave-one-out mean distances of (at most 1000) of those rows to their
        ``novelty_neighbors`` nearest other rows: the distribution the novelty score
        ranks a query's distance in.
    head_ : {{"point", "beta"}}
        The head that was fitted.
    neighbor_outcomes_ : ndarray of shape (n_rows, m)
        Training outcomes (or soft labels, one column) of the queries in
        ``nearest_neighbors_``, float32: the neighbours' exact curves come from them.
        For a 1-D ``y`` whose sample counts are whole numbers (labels grouped by
        repeated rows, or rates with their counts as ``sample_weight``) each query's
        ``k`` successes of ``m`` samples are stored as ``k`` ones and ``m - k`` zeros
        (NaN padding), which gives the same exact curves as the original samples; rates
        without counts are stored as one column (the plug-in curve).
    population_distribution_ : ndarray of shape (n_rows, 2)
        Predicted ``[mean, concentration]`` of the rows in ``nearest_neighbors_``; the
        population curve is the average of their expected curves.
    {attrs}

    See Also
    --------
    MarginalRewardRegressor : Marginal rewards for general (non-binary) rewards.
    skadapt.targets.success_rate : The soft labels derived from an outcome matrix.
    skadapt.targets.beta_marginal_rewards : The expected curve of a Beta ``lam``.
    skadapt.GreedyAllocator : Turns predicted success probabilities into budgets.

    Notes
    -----
    ``fit(X, y, sample_weight=None)`` accepts the same samples in three forms, which
    give the same model (the same network, bit for bit, when the queries come in the
    same order):

    - (a) the raw (n, m) matrix of sample outcomes (0/1, NaN = missing sample), one row
      per query; ``sample_weight`` weighs the queries in the loss (not in the
      neighbours' curves, the population curve or the novelty reference, which count
      every training query with weight > 0 once);
    - (b) a 1-D vector of success rates in [0, 1] (or preference probabilities), with
      the number of samples behind each rate as ``sample_weight`` (without it, every
      rate counts once);
    - (c) one 0/1 label per sample, the row of ``X`` repeated for each sample of a
      query (e.g. ``np.repeat(X, m, axis=0)`` and ``R.ravel()``); ``sample_weight``
      weighs the samples.

    (a) and the 1-D forms are told apart by ``y.ndim`` (a column vector is an outcome
    matrix with one sample per query). A 1-D ``y`` is grouped by identical rows of
    ``X``: each group is one query whose rate is its (weighted) share of successes and
    whose number of samples is its total weight. The loss is the cross-entropy of Eq. 7
    per observed sample: each query's cross-entropy at its rate, weighted by its number
    of samples times its weight (with the same number of samples for every query, the
    paper's unweighted mean). Grouping loses nothing (the loss is linear in the label),
    keeps a query's samples on one side of the early-stopping split and of the folds of
    :meth:`fit_transform` (for an integer ``cv``), and out of one another's
    neighbours. Rows of weight 0 are dropped. Class labels other than 0/1 (strings,
    -1/1, multiclass) are rejected: the targets are probabilities.

    :meth:`transform` returns the predicted success probability as one column named
    ``success_prob`` so that the probe can sit in a :class:`~sklearn.pipeline.Pipeline`
    before an allocator with ``kind="success_prob"``; :meth:`fit_transform` returns
    cross-fitted (out-of-fold) predictions, like
    :class:`~sklearn.preprocessing.TargetEncoder`.

    **Scoring.** :meth:`score` is minus the soft log-loss of Eq. 7 (the quantity the
    probe minimises), the same for every form of ``y``. scikit-learn's classifier
    scorers (``"neg_log_loss"``, ``"roc_auc"``, ``"neg_brier_score"``, ...) need one
    0/1 label per sample, form (c), split by query (e.g.
    :class:`~sklearn.model_selection.GroupKFold`); on forms (a) and (b) they fail with
    :class:`~skadapt.scoring.NoClassLabelsError` (a NaN score and a warning in
    ``cross_val_score`` unless ``error_score="raise"``). :mod:`skadapt.scoring` has the
    probe metrics for every form (soft log-loss, Brier, calibration error and the
    paper's normalised loss).

    **Beta head.** The likelihood of ``k`` successes in ``m`` samples needs ``m``: fit
    it on the outcome matrix (each row's ``k`` and ``m`` are counted from its observed
    outcomes), on rates with their sample counts as ``sample_weight``, or on 0/1
    labels with repeated rows. 0/1 labels without repeated rows are one sample per
    query (which says nothing about the dispersion); rates without ``sample_weight``
    raise ``ValueError``. With the outcome matrix, ``sample_weight`` multiplies each
    query's log-likelihood.
    :meth:`predict_proba` returns the mean and :meth:`predict_distribution` the mean and
    concentration (``inf`` for the point head).

    **Novelty hedge.** A query's novelty ``q`` is the empirical quantile of its mean
    distance to its ``novelty_neighbors`` nearest training rows among the same
    (leave-one-out) distances of training rows: about uniform on [0, 1] for queries
    like the training set, 1 beyond the farthest of them. Its curve becomes
    ``(1 - w) Delta + w Delta_pop`` with ``w = q ** (1 / hedge)``: the expected curve
    when ``lam`` comes from the probe's belief with probability ``1 - w`` and from the
    population with probability ``w``. For in-distribution queries ``w`` averages
    ``hedge / (1 + hedge)`` (the price: that share of the adaptivity is given up on
    queries the probe knows); a batch of queries all beyond the training set gets the
    population curve for every query, and a greedy allocation of it is uniform.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt import SuccessProbClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> lam = 1 / (1 + np.exp(-2 * X[:, 0]))
    >>> R = (rng.random((300, 16)) < lam[:, None]).astype(float)  # 16 samples per query
    >>> clf = SuccessProbClassifier(hidden_layer_sizes=(16,), max_iter=100,
    ...                             random_state=0).fit(X, R)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.transform(X[:3]).shape, clf.get_feature_names_out().tolist()
    ((3, 1), ['success_prob'])
    >>> bool(np.corrcoef(clf.transform(X)[:, 0], lam)[0, 1] > 0.9)
    True

    Expected marginal-reward curves from a beta head, hedged for a novel query:

    >>> beta = SuccessProbClassifier(hidden_layer_sizes=(16,), max_iter=100, head="beta",
    ...                              hedge=0.1, random_state=0).fit(X, R)
    >>> beta.predict_distribution(X[:2]).shape
    (2, 2)
    >>> far = X[:1] + 100.0
    >>> float(beta.novelty_score(far)[0]), float(beta.hedge_weights(far)[0])
    (1.0, 1.0)
    >>> curves = beta.predict_marginal_rewards(np.vstack([X[:2], far]), 4)
    >>> curves.shape
    (3, 4)
    """

    _parameter_constraints: dict = {
        **_BaseMLPProbe._parameter_constraints,
        "head": [StrOptions({"auto", "point", "beta"})],
        "max_budget": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "hedge": [Interval(numbers.Real, 0, None, closed="left")],
        "novelty_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "neighbor_curves": [Interval(numbers.Integral, 0, None, closed="left")],
        "neighbor_weight": [Interval(numbers.Real, 0, 1, closed="both")],
        "neighbor_novelty_power": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        activation="relu",
        alpha=1e-3,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        tol=1e-4,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        standardize=True,
        streaming=False,
        cv=5,
        cross_fit=True,
        device="auto",
        random_state=None,
        verbose=False,
        head="point",
        max_budget=None,
        hedge=0.0,
        novelty_neighbors=10,
        neighbor_curves=25,
        neighbor_weight=0.5,
        neighbor_novelty_power=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.standardize = standardize
        self.streaming = streaming
        self.cv = cv
        self.cross_fit = cross_fit
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.head = head
        self.max_budget = max_budget
        self.hedge = hedge
        self.novelty_neighbors = novelty_neighbors
        self.neighbor_curves = neighbor_curves
        self.neighbor_weight = neighbor_weight
        self.neighbor_novelty_power = neighbor_novelty_power

    def _make_head(self):
        return BetaBinomialHead() if self.head_ == "beta" else SuccessProbHead()

    def _fit_targets(self, X, y, sample_weight):
        # the three forms of y, one row per query (skadapt._target_forms)
        queries = success_targets(X, y, sample_weight)
        counted = queries.form != "rates" or sample_weight is not None
        head = self.head
        if head == "auto":
            # the beta-binomial likelihood needs several samples per query; soft labels
            # without sample counts get the point head
            head = "beta" if counted and (
                np.shape(y)[1] >= 2 if queries.form == "outcomes" else queries.samples.max() >= 2
            ) else "point"
        if head == "beta" and not counted:
            raise ValueError(
                "head='beta' fits the number of successes out of the number of samples of "
                "each query, which success rates alone do not tell: pass the (n, m) outcome "
                "matrix (0/1, NaN = missing sample), one 0/1 label per sample with the rows "
                "of X repeated, or the rates with the number of samples as sample_weight."
            )
        self.head_ = head
        self.target_form_ = queries.form
        self.mean_success_rate_ = queries.mean_rate()
        if head == "beta":
            targets = np.column_stack([queries.successes, queries.samples])
            weight = queries.query_weight()
        else:
            targets, weight = queries.rate, queries.loss_weight()
        return queries.rows, targets, weight, queries.outcomes

    def _cross_fit_groups(self, X, y):
        # samples of one query (repeated rows with a 1-D y) stay in one fold
        if np.ndim(y) != 1:
            return None
        try:
            X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=np.float64)
        except (TypeError, ValueError):
            return None  # fit reports the bad input
        if X.ndim != 2:
            return None
        return group_rows(X)[1]

    @property
    def classes_(self):
        """``[0, 1]`` (failure, success), when fitted on one 0/1 label per sample."""
        state = self.__dict__
        if "classes_" in state:  # set explicitly, or saved by skadapt <= 0.1.0
            return state["classes_"]
        if "target_form_" not in state:
            raise AttributeError(
                f"This {type(self).__name__} instance is not fitted yet: it has no classes_.")
        if state["target_form_"] != "labels":
            raise NoClassLabelsError(self.target_form_)
        return np.array([0, 1])

    @classes_.setter
    def classes_(self, value):
        # what skadapt <= 0.1.0 stored; skadapt.persistence restores attributes by setattr
        self.__dict__["classes_"] = value

    # ---------------------------------------------------------------- classifier API
    def predict_proba(self, X):
        """Predicted probabilities of failure and success.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            ``[1 - lam, lam]`` per query (``lam`` the mean with ``head="beta"``).
        """
        lam, _ = self._distribution_standardized(self._standardized_input(X))
        return np.column_stack([1.0 - lam, lam])

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, 2)
            ``[log(1 - lam), log(lam)]`` per query.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted label: 1 where the success probability exceeds 0.5.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            0 or 1.
        """
        lam = self.predict_proba(X)[:, 1]
        return (lam > 0.5).astype(np.int64)

    def transform(self, X):
        """Predicted success probability, or marginal-reward curves with ``max_budget``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        X_out : ndarray of shape (n_samples, 1) or (n_samples, max_budget)
            ``max_budget=None``: the predicted probability that one sample succeeds
            (never hedged). Else :meth:`predict_marginal_rewards`.
        """
        if self.max_budget is None:
            return self.predict_proba(X)[:, 1:]
        return self.predict_marginal_rewards(X)

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``["success_prob"]``, or one per budget.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names, only checked against ``feature_names_in_`` and
            ``n_features_in_`` (a ``ValueError`` when they differ).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``["success_prob"]`` when ``max_budget=None``, else
            ``marginal_reward_1 .. marginal_reward_{max_budget}``.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        if self.max_budget is None:
            return np.asarray(["success_prob"], dtype=object)
        return np.asarray(
            [f"marginal_reward_{j}" for j in range(1, self.max_budget + 1)], dtype=object
        )

    def score(self, X, y, sample_weight=None):
        """Minus the soft-label cross-entropy of Eq. 7, per observed sample.

        The quantity the probe minimises: :func:`skadapt.scoring.soft_log_loss` of
        :meth:`predict_proba`, negated so that greater is better. It has the same value
        for the same data in each form of ``y`` (with one 0/1 label per sample it is
        scikit-learn's ``"neg_log_loss"``), and it is what ``cross_val_score`` and
        ``GridSearchCV`` use by default.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.
        y : array-like
            Outcome matrix, success rates or 0/1 labels, as in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row (with success rates: the number of samples behind each).

        Returns
        -------
        score : float
            ``-soft_log_loss(y, predict_proba(X))``; at most minus the mean binary
            entropy of the success rates.
        """
        from .scoring import soft_log_loss

        return -soft_log_loss(y, self.predict_proba(X), sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


class MarginalRewardRegressor(RegressorMixin, _BaseMLPProbe):
    """Predict the marginal reward of each extra unit of compute (Eq. 6).

    A two-layer MLP whose output row ``[Delta_1, ..., Delta_B]`` (``B = max_budget``,
    ``Delta_j = q(j) - q(j - 1)``, ``q(b)`` the expected reward of best-of-b) is
    trained with the squared error summed over budgets (Eq. 6). Each predicted row is
    non-increasing *by construction*, so the greedy allocator of Eq. 5 stays exact, and
    non-negative when the rewards are.

    Parameters
    ----------
    max_budget : int or None, default=None
        Largest budget ``B`` predicted. ``None``: the number of reward samples ``m``
        (``target="rewards"``) or the number of columns (``target="marginal_rewards"``).
    target : {{"rewards", "marginal_rewards"}}, default="rewards"
        How ``fit`` reads ``y`` (stated, never guessed from the shape):
        ``"rewards"``: the (n, m) matrix of raw per-sample rewards (NaN = missing
        sample), turned into marginal rewards by the exact unbiased estimator
        :func:`skadapt.targets.marginal_rewards`; ``"marginal_rewards"``: an already
        computed (n, max_budget) marginal-reward matrix (e.g. bootstrapped).
    nonnegative : bool or "auto", default="auto"
        Constrain predictions to be non-negative. ``"auto"``: when all rewards
        (``target="rewards"``) or all marginal rewards are >= 0.
    {shared}

    Attributes
    ----------
    max_budget_ : int
        Number of predicted budgets.
    nonnegative_ : bool
        Whether predictions are constrained to be non-negative.
    target_scale_ : float
        Root mean square of the training targets; the network is trained on targets
        divided by it, and ``loss_curve_``, ``tol`` and the validation scores are in
        those units.
    mean_marginal_rewards_ : ndarray of shape (max_budget_,)
        Mean training marginal-reward curve (weighted by ``sample_weight``): the
        constant predictor "Avg." of the paper's Table 1, which
        :func:`skadapt.scoring.loss_skill` scores against.
    marginal_reward_range_ : ndarray of shape (2,)
        Smallest and largest training marginal reward (0 included); predictions
        are clipped to this range (see Notes).
    {attrs}

    See Also
    --------
    SuccessProbClassifier : The binary-reward special case (one probability).
    skadapt.targets.marginal_rewards : The training targets from raw rewards.
    skadapt.GreedyAllocator : Turns predicted marginal rewards into budgets.

    Notes
    -----
    Parameterisation (``z`` the network's B raw outputs): non-negative,
    ``Delta_j = sum_{{k >= j}} softplus(z_k)``; signed, ``Delta_1 = z_1`` and
    ``Delta_j = Delta_{{j-1}} - softplus(z_j)``. With rewards that can be negative only
    ``Delta_1`` (the mean reward) can be negative, and the true curve is then not
    monotone when ``Delta_1 < Delta_2``; since best-of-k allocation depends on rewards
    only up to a shift, shift rewards to be >= 0 before fitting. A 1-D ``y`` is one
    column; :meth:`predict` then returns a 1-D array, like other scikit-learn
    regressors, while :meth:`transform` always returns (n, max_budget).
    :meth:`score` is :math:`R^2` on the marginal-reward targets, variance-weighted
    over budgets (late budgets have tiny variance): one minus the loss of Eq. 6 over
    that of the test data's mean curve, so it ranks models as the training loss does.

    ``sample_weight`` weighs the queries (rows of ``y``): the loss of Eq. 6 becomes
    their weighted mean; a weight of 0 removes the query.

    Predictions are clipped to ``marginal_reward_range_``, the range of the training
    marginal rewards: a ReLU network grows linearly far from its training data, so
    features of very large magnitude (1e39, clipped to 1e6 standard deviations like
    the classifier's) would otherwise predict marginal rewards of 1e5 where the
    rewards lie in [0, 1]. Clipping keeps each row non-increasing.

    **Scoring.** With ``target="rewards"``, ``y`` holds raw rewards while
    :meth:`predict` returns marginal rewards, so scikit-learn's regression scorers
    (``"r2"``, ``"neg_mean_squared_error"``, ...) would compare the two; when
    ``max_budget`` equals the number of samples the shapes even match and the score is
    silently meaningless (scikit-learn's scorers see only ``predict``, so the
    estimator cannot stop them). Use the default ``scoring=None`` (:meth:`score`) or
    :func:`skadapt.scoring.get_scorer` with ``"marginal_reward_r2"``,
    ``"neg_marginal_reward_mse"`` or ``"loss_skill"``, which read ``y`` as ``target``
    says. With ``target="marginal_rewards"`` the standard scorers are meaningful.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt import MarginalRewardRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> lam = 1 / (1 + np.exp(-2 * X[:, 0]))
    >>> R = (rng.random((300, 8)) < lam[:, None]).astype(float)  # 8 samples per query
    >>> reg = MarginalRewardRegressor(4, hidden_layer_sizes=(16,), max_iter=100,
    ...                               random_state=0).fit(X, R)
    >>> delta = reg.predict(X)
    >>> delta.shape
    (300, 4)
    >>> bool((np.diff(delta, axis=1) <= 0).all() and (delta >= 0).all())
    True
    """

    _parameter_constraints: dict = {
        **_BaseMLPProbe._parameter_constraints,
        "max_budget": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "target": [StrOptions({"rewards", "marginal_rewards"})],
        "nonnegative": ["boolean", StrOptions({"auto"})],
    }

    def __init__(
        self,
        max_budget=None,
        *,
        target="rewards",
        nonnegative="auto",
        hidden_layer_sizes=(256,),
        activation="relu",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        standardize=True,
        streaming=False,
        cv=5,
        cross_fit=True,
        device="auto",
        random_state=None,
        verbose=False,
    ):
        self.max_budget = max_budget
        self.target = target
        self.nonnegative = nonnegative
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.standardize = standardize
        self.streaming = streaming
        self.cv = cv
        self.cross_fit = cross_fit
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _make_head(self):
        return MarginalRewardHead(self.max_budget_, self.nonnegative_)

    def _fit_targets(self, X, y, sample_weight):
        targets, budget = marginal_reward_targets(
            y, target=self.target, max_budget=self.max_budget
        )
        if self.nonnegative == "auto":
            observed = y[~np.isnan(y)] if self.target == "rewards" else targets
            nonnegative = bool(observed.size == 0 or observed.min() >= 0)
        else:
            nonnegative = bool(self.nonnegative)
        rows = np.arange(len(targets))
        weight = None
        if sample_weight is not None:
            # a weight of 0 removes the query; constant weights change nothing
            rows = np.flatnonzero(sample_weight > 0)
            if rows.size == 0:
                raise ValueError(
                    "Every sample weight is zero: there is nothing to fit (a weight of 0 "
                    "removes the sample).")
            if not np.all(sample_weight[rows] == sample_weight[rows[0]]):
                weight = sample_weight[rows]
        targets = targets[rows]
        scale = float(np.sqrt(np.mean(targets**2) if weight is None else np.average(
            np.mean(targets**2, axis=1), weights=weight)))
        self.max_budget_ = budget
        self.nonnegative_ = nonnegative
        self.target_scale_ = scale if np.isfinite(scale) and scale > 0 else 1.0
        self.mean_marginal_rewards_ = np.average(targets, axis=0, weights=weight)
        self.marginal_reward_range_ = np.array(
            [min(float(targets.min()), 0.0), max(float(targets.max()), 0.0)])
        self._y_1d = np.ndim(y) == 1
        return rows, targets / self.target_scale_, weight, None

    def transform(self, X):
        """Predicted marginal rewards, one column per budget.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        marginal_rewards : ndarray of shape (n_samples, max_budget_)
            Row ``i`` is ``[Delta_i1, ..., Delta_iB]``, non-increasing, within
            ``marginal_reward_range_``.
        """
        out = self._predict_head(X) * self.target_scale_
        bounds = getattr(self, "marginal_reward_range_", None)  # None: pickled before it existed
        if bounds is not None:
            # far from the training data the network extrapolates linearly (see Notes)
            np.clip(out, bounds[0], bounds[1], out=out)
        return out

    def predict(self, X):
        """Predicted marginal rewards (1-D when fitted on a 1-D ``y``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.

        Returns
        -------
        marginal_rewards : ndarray of shape (n_samples, max_budget_) or (n_samples,)
            Row ``i`` is ``[Delta_i1, ..., Delta_iB]``, non-increasing.
        """
        out = self.transform(X)
        return out[:, 0] if self._y_1d else out

    def get_feature_names_out(self, input_features=None):
        """Output feature names ``marginal_reward_1 .. marginal_reward_{max_budget_}``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names, only checked against ``feature_names_in_`` and
            ``n_features_in_`` (a ``ValueError`` when they differ).

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per budget.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        return np.asarray(
            [f"marginal_reward_{j}" for j in range(1, self.max_budget_ + 1)], dtype=object
        )

    def score(self, X, y, sample_weight=None):
        """:math:`R^2` of the predicted marginal rewards, variance-weighted over budgets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query features.
        y : array-like
            Rewards or marginal rewards, as in :meth:`fit` (read with ``target``).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Coefficient of determination.
        """
        check_is_fitted(self)
        targets, _ = marginal_reward_targets(
            np.asarray(y, dtype=np.float64), target=self.target, max_budget=self.max_budget_
        )
        return r2_score(
            targets, self.transform(X), sample_weight=sample_weight,
            multioutput="variance_weighted",
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# SuccessProbClassifier's defaults were tuned by grouped cross-validation
# (benchmarks/RESULTS.md, "Shift"): a smaller, more regularised MLP with early stopping
_SUCCESS_PARAMS_DOC = (_SHARED_PARAMS_DOC
                       .replace("hidden_layer_sizes : array-like of int, default=(256,)",
                                "hidden_layer_sizes : array-like of int, default=(64,)")
                       .replace("alpha : float, default=1e-4", "alpha : float, default=1e-3")
                       .replace("early_stopping : bool, default=False",
                                "early_stopping : bool, default=True"))
SuccessProbClassifier.__doc__ = SuccessProbClassifier.__doc__.format(
    shared=_SUCCESS_PARAMS_DOC.strip("\n").lstrip(), attrs=_SHARED_ATTRS_DOC.strip("\n").lstrip()
)
MarginalRewardRegressor.__doc__ = MarginalRewardRegressor.__doc__.format(
    shared=_SHARED_PARAMS_DOC.strip("\n").lstrip(), attrs=_SHARED_ATTRS_DOC.strip("\n").lstrip()
)
