import itertools
import math
import re
from collections import Counter
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skadapt.datasets import (
    ANSWER_SUFFIX,
    BROADER_FILE,
    DATASET_FILE,
    DIVERSE_FILE,
    FAMILIES,
    load_arithmetic,
    load_broader,
    load_diverse,
    make_broader_tasks,
    make_diverse_tasks,
    majority_vote_curve,
    majority_vote_outcomes,
    make_arithmetic_tasks,
    write_dataset,
)
from skadapt.sampling import SamplingResult


def _solve(query):
    q = query
    if m := re.search(r"What is (\d+) ([-+*]) (\d+)\?", q):
        a, op, b = int(m[1]), m[2], int(m[3])
        return {"+": a + b, "-": a - b, "*": a * b}[op]
    if m := re.search(r"larger, (\d+) or (\d+)\?", q):
        return max(int(m[1]), int(m[2]))
    if m := re.search(r"letter '(\w)' appear in the word '(\w+)'", q):
        return m[2].count(m[1])
    if m := re.search(r"the (\w+) number in the list ([\d, ]+)\?", q):
        items = [int(x) for x in m[2].split(", ")]
        pos = ["first", "second", "third", "fourth", "fifth", "sixth"].index(m[1])
        return items[pos]
    raise AssertionError(q)


def test_tasks_answers_are_exact_and_distinct():
    tasks = make_arithmetic_tasks(400, random_state=0)
    assert len(tasks) == 400 and tasks["query"].is_unique
    for query, answer in zip(tasks["query"], tasks["answer"]):
        assert _solve(query) == answer
    assert set(tasks["family"]) == set(FAMILIES)
    assert make_arithmetic_tasks(400, random_state=0).equals(tasks)
    assert not make_arithmetic_tasks(400, random_state=1).equals(tasks)


def test_tasks_levels_set_digits():
    tasks = make_arithmetic_tasks(50, mix={("addition", 3): 1}, random_state=0)
    ops = tasks["query"].str.extract(r"What is (\d+) \+ (\d+)")
    assert ops.map(len).eq(3).all().all()


def test_tasks_bad_input():
    with pytest.raises(ValueError, match="unknown family"):
        make_arithmetic_tasks(3, mix={("division", 1): 1})
    with pytest.raises(ValueError, match="levels"):
        make_arithmetic_tasks(3, mix={("addition", 9): 1})
    with pytest.raises(ValueError, match="n_queries"):
        make_arithmetic_tasks(-1)
    with pytest.raises(ValueError, match="distinct"):
        make_arithmetic_tasks(200, mix={("subtraction", 1): 1}, random_state=0)
    assert len(make_arithmetic_tasks(0)) == 0


def _brute_majority(row, ref, k):
    total = count = 0.0
    for sub in itertools.combinations(range(len(row)), k):
        votes = [row[j] for j in sub if not np.isnan(row[j])]
        count += 1
        if votes:
            c = Counter(votes)
            top = max(c.values())
            tied = [a for a in c if c[a] == top]
            total += (ref in tied) / len(tied)
    return total / count


@settings(max_examples=40, deadline=None)
@given(row=st.lists(st.sampled_from([1.0, 2.0, 3.0, np.nan]), min_size=1,
                    max_size=7))
def test_majority_vote_exact_against_enumeration(row):
    row = np.array(row)
    curve = majority_vote_curve(row[None], [1.0])[0]
    brute = [_brute_majority(row, 1.0, k) for k in range(1, len(row) + 1)]
    np.testing.assert_allclose(curve, brute, atol=1e-12)
    np.testing.assert_allclose(curve[0], np.mean(row == 1.0))


def test_majority_vote_outcomes():
    answers = np.array([[5, 5, 7, 7, 7, np.nan], [1, 1, 1, 1, 1, 1]], dtype=float)
    got = majority_vote_outcomes(answers, [5, 1], 6)
    np.testing.assert_allclose(got, [0.0, 1.0])
    got = majority_vote_outcomes(answers, [5, 1], np.array([1, 3]))
    np.testing.assert_allclose(got, [2 / 6, 1.0])
    with pytest.raises(ValueError, match="k must be integers in"):
        majority_vote_outcomes(answers, [5, 1], 7)
    with pytest.raises(ValueError, match="2-D"):
        majority_vote_curve([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="reference has"):
        majority_vote_curve(answers, [1.0])


def test_write_and_load_roundtrip(tmp_path):
    tasks = make_arithmetic_tasks(12, random_state=0)
    completions = [[f"= {a}", "no", f"{a + 1}"] for a in tasks["answer"]]
    rewards = np.array([[1.0, 0.0, np.nan]] * 12)
    result = SamplingResult(ids=[f"q{i}" for i in range(12)], rewards=rewards,
                            completions=completions, errors=[[None] * 3] * 12,
                            n_tokens=np.ones((12, 3), dtype=int),
                            config={"prompt_template": "chat", "n_samples": 3})
    write_dataset(tmp_path, tasks, result, seed=0, model_info={"model": "x"})
    data = load_arithmetic(path=tmp_path, as_frame=True, return_completions=True)
    assert data.outcomes.shape == (12, 3)
    np.testing.assert_array_equal(data.answers[:, 0], tasks["answer"])
    assert np.isnan(data.answers[:, 1]).all()
    assert np.isnan(data.outcomes[:, 2]).all()
    assert data.prompt_template == "chat"
    assert data.completions[0, 1] == "no"
    assert (data.train_mask ^ data.test_mask).all()
    assert data.frame["success_rate"].eq(0.5).all()
    assert data.provenance["n_queries"] == 12


_SHIPPED = (resources.files("skadapt") / "data" / DATASET_FILE).is_file()


@pytest.mark.skipif(not _SHIPPED, reason="dataset not collected yet")
def test_shipped_dataset_meets_the_bars():
    data = load_arithmetic(as_frame=True)
    n, m = data.outcomes.shape
    assert n >= 2000 and m >= 32
    rate = np.nanmean(data.outcomes, axis=1)
    assert np.mean(rate == 0) >= 0.2
    assert np.mean(rate > 0.3) >= 0.2
    # outcomes are the exact check of the stored answers
    np.testing.assert_array_equal(
        data.outcomes == 1, np.isclose(data.answers, data.reference[:, None]))
    assert 0.2 < data.test_mask.mean() < 0.3
    for fam in set(data.family):
        share = data.test_mask[data.family == fam].mean()
        assert 0.15 < share < 0.35
    prov = data.provenance
    assert len(prov["model_sha256"]) == 64
    assert prov["sampling"]["temperature"] == 0.7
    assert prov["prompt_template"] == "chat"
    assert {"torch", "transformers", "numpy"} <= set(prov["versions"])
    np.testing.assert_allclose(majority_vote_curve(data.answers[:50],
                                                   data.reference[:50])[:, 0],
                               rate[:50])


_DIVERSE = (resources.files("skadapt") / "data" / DIVERSE_FILE).is_file()
_BROADER = (resources.files("skadapt") / "data" / BROADER_FILE).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name, start", [
    pytest.param("arithmetic", 0, marks=pytest.mark.skipif(
        not _SHIPPED, reason="dataset not collected yet")),
    # the second dataset was sampled in two batch-aligned parts: check both
    pytest.param("diverse", 0, marks=pytest.mark.skipif(
        not _DIVERSE, reason="dataset not collected yet")),
    pytest.param("diverse", 2000, marks=pytest.mark.skipif(
        not _DIVERSE, reason="dataset not collected yet")),
    pytest.param("broader", 800, marks=pytest.mark.skipif(
        not _BROADER, reason="dataset not collected yet")),
])
def test_shipped_dataset_regenerates(smollm2, name, start):
    """Resampling one batch (8 queries x 32 samples) with the stored settings
    gives back the stored completions (same seeds, same batch composition)."""
    import torch

    from skadapt.sampling import sample_and_score
    from skadapt.verifiers import exact_numeric

    load = {"arithmetic": load_arithmetic, "diverse": load_diverse,
            "broader": load_broader}[name]
    data = load(return_completions=True)
    prov = data.provenance
    sampling = prov["sampling"]
    b = sampling["batch_size"]
    rows = slice(start, start + b)
    model, tok = smollm2
    threads = torch.get_num_threads()
    torch.set_num_threads(prov.get("n_threads") or 1)
    try:
        res = sample_and_score(
            model, list(data.queries[rows]), list(data.reference[rows]), exact_numeric,
            sampling["n_samples"], tokenizer=tok, ids=list(data.ids[rows]),
            prompt_template=prov["prompt_template"],
            max_new_tokens=sampling["max_new_tokens"],
            temperature=sampling["temperature"], top_p=sampling["top_p"],
            stop_strings=sampling["stop_strings"], batch_size=b,
            random_state=sampling["random_state"])
    finally:
        torch.set_num_threads(threads)
    same = np.array(res.completions, dtype=object) == data.completions[rows]
    assert same.mean() >= 0.9, same.mean()
    np.testing.assert_allclose(res.rewards.mean(1), data.outcomes[rows].mean(1),
                               atol=0.15)
    if name != "arithmetic":
        # the per-sample evidence regenerates too, where the sample does
        np.testing.assert_allclose(res.mean_logprob[same],
                                   data.mean_logprob[rows][same], atol=1e-3)
        np.testing.assert_array_equal(res.n_tokens[same], data.n_tokens[rows][same])


@pytest.mark.skipif(not _SHIPPED, reason="dataset not collected yet")
def test_generator_still_makes_the_shipped_queries():
    """`skadapt collect` regenerates the shipped data only while the task generator
    and the split are unchanged."""
    from skadapt.datasets import train_test_split_labels

    data = load_arithmetic()
    seed = data.provenance["task_seed"]
    tasks = make_arithmetic_tasks(len(data.queries), random_state=seed)
    np.testing.assert_array_equal(tasks["query"].to_numpy(), data.queries)
    np.testing.assert_array_equal(tasks["answer"].to_numpy(), data.reference)
    np.testing.assert_array_equal(
        train_test_split_labels(tasks["family"].to_numpy(), random_state=seed),
        data.split)


def test_diverse_tasks_cover_families_and_templates():
    from skadapt.datasets import DIVERSE_FAMILIES, TEMPLATES

    tasks = make_diverse_tasks(2000, random_state=0)
    assert len(DIVERSE_FAMILIES) >= 20
    assert set(tasks["family"]) == set(DIVERSE_FAMILIES)
    assert set(tasks["template"]) == set(TEMPLATES)
    assert tasks["query"].is_unique
    assert tasks["query"].str.endswith(ANSWER_SUFFIX).all()
    for family, (_, levels, templates) in DIVERSE_FAMILIES.items():
        assert len(templates) >= 3, family
        sub = tasks[tasks["family"] == family]
        assert set(sub["level"]) == set(levels), family
        assert set(sub["template"]) == set(templates), family
    # the same seed gives the same queries; another seed other ones
    again = make_diverse_tasks(2000, random_state=0)
    assert again.equals(tasks)
    assert not make_diverse_tasks(50, random_state=1)["query"].equals(tasks["query"][:50])


def _word_number(text):
    from skadapt._tasks import number_words

    lookup = {number_words(n): n for n in range(0, 10000)}
    return lookup[text]


def test_diverse_answers_are_right():
    """Check answers with an independent solver on the families it can parse."""
    from skadapt._tasks import number_words

    assert number_words(0) == "zero" and number_words(1000) == "one thousand"
    assert number_words(90210) == "ninety thousand two hundred ten"
    assert _word_number("seventy-six") == 76
    tasks = make_diverse_tasks(3000, random_state=2)
    checked = Counter()
    for query, answer, family, template in tasks[
            ["query", "answer", "family", "template"]].itertuples(index=False):
        q = query[:-len(ANSWER_SUFFIX)]
        if template == "question" and family in ("addition", "subtraction",
                                                 "multiplication"):
            m = re.search(r"What is (\d+) ([-+*]) (\d+)\?$", q)
            a, op, b = int(m[1]), m[2], int(m[3])
            assert answer == {"+": a + b, "-": a - b, "*": a * b}[op], query
        elif template == "words" and family == "addition":
            m = re.search(r"What is (.+) plus (.+)\?$", q)
            assert answer == _word_number(m[1]) + _word_number(m[2]), query
        elif family in ("list_max", "list_min", "list_sum", "list_length") \
                and template != "words":
            items = [int(x) for x in re.findall(r"\d+", q.split(":")[-1]
                                                if template == "instruction"
                                                else q.split("list")[-1]
                                                if "list" in q else q)]
            expect = {"list_max": max, "list_min": min, "list_sum": sum,
                      "list_length": len}[family](items)
            assert answer == expect, query
        elif family == "word_length":
            word = re.search(r"'(\w+)'", q)[1]
            assert answer == len(word), query
        elif family == "count_letters":
            letter, word = re.findall(r"'(\w+)'", q)
            assert answer == word.count(letter), query
        elif family == "alphabet_position":
            letter = re.search(r"letter '(\w)'", q)[1]
            assert answer == ord(letter) - ord("a") + 1, query
        elif family == "division" and template != "words":
            a, b = map(int, re.findall(r"\d+", q)[-2:])
            assert a == answer * b, query
        elif family == "remainder" and template != "words":
            a, b = map(int, re.findall(r"\d+", q)[-2:])
            assert answer == a % b, query
        elif family == "square" and template != "words":
            assert answer == int(re.findall(r"\d+", q)[-1]) ** 2, query
        else:
            continue
        checked[family] += 1
    assert len(checked) >= 12 and min(checked.values()) >= 20, checked


@pytest.mark.skipif(not _DIVERSE, reason="dataset not collected yet")
def test_generator_still_makes_the_shipped_diverse_queries():
    data = load_diverse()
    tasks = make_diverse_tasks(len(data.queries), random_state=data.provenance["task_seed"])
    np.testing.assert_array_equal(tasks["query"].to_numpy(), data.queries)
    np.testing.assert_array_equal(tasks["answer"].to_numpy(), data.reference)
    np.testing.assert_array_equal(tasks["template"].to_numpy(), data.template)


def test_broader_tasks_are_new_kinds_in_every_template():
    from skadapt.datasets import BROADER_FAMILIES, DIVERSE_FAMILIES, TEMPLATES

    tasks = make_broader_tasks(1200, random_state=0)
    assert len(BROADER_FAMILIES) >= 20
    # none of them is a family of the other generators
    assert not set(BROADER_FAMILIES) & (set(DIVERSE_FAMILIES) | set(FAMILIES))
    assert set(tasks["family"]) == set(BROADER_FAMILIES)
    assert set(tasks["template"]) == set(TEMPLATES)
    assert tasks["query"].is_unique
    assert tasks["query"].str.endswith(ANSWER_SUFFIX).all()
    assert not set(tasks["query"]) & set(make_diverse_tasks(1200, random_state=0)["query"])
    for family, (_, levels, templates) in BROADER_FAMILIES.items():
        assert len(templates) >= 3 and len(levels) >= 2, family
        sub = tasks[tasks["family"] == family]
        assert set(sub["level"]) == set(levels), family
        assert set(sub["template"]) == set(templates), family
    assert make_broader_tasks(1200, random_state=0).equals(tasks)
    assert not make_broader_tasks(50, random_state=1)["query"].equals(tasks["query"][:50])
    only = make_broader_tasks(30, families=["gcd", "cube"], templates=["question"],
                              random_state=0)
    assert set(only["family"]) <= {"gcd", "cube"} and set(only["template"]) == {"question"}


def _numbers(text):
    return [int(x) for x in re.findall(r"\d+", text)]


# family -> solver of the "question" and "instruction" templates (digits)
_BROADER_SOLVERS = {
    "gcd": lambda q: math.gcd(*_numbers(q)),
    "cube": lambda q: _numbers(q)[0] ** 3,
    "factorial": lambda q: math.factorial(_numbers(q)[0]),
    "doubling": lambda q: 2 * _numbers(q)[0],
    "percent": lambda q: _numbers(q)[0] * _numbers(q)[1] // 100,
    "area": lambda q: _numbers(q)[0] * _numbers(q)[1],
    "perimeter": lambda q: 4 * _numbers(q)[0],
    "unit_price": lambda q: _numbers(q)[0] * _numbers(q)[1],
    "count_between": lambda q: _numbers(q)[1] - _numbers(q)[0] - 1,
    "next_multiple": lambda q: (_numbers(q)[1] // _numbers(q)[0] + 1) * _numbers(q)[0],
    "reverse_digits": lambda q: int(str(_numbers(q)[0])[::-1]),
    "digit_count": lambda q: len(str(_numbers(q)[0])),
    "max_digit": lambda q: max(map(int, str(_numbers(q)[0]))),
    "even_count": lambda q: sum(x % 2 == 0 for x in _numbers(q)),
    "distinct_count": lambda q: len(set(_numbers(q))),
    "list_range": lambda q: max(_numbers(q)) - min(_numbers(q)),
    "average": lambda q: sum(_numbers(q)) // len(_numbers(q)),
    "median": lambda q: sorted(_numbers(q))[len(_numbers(q)) // 2],
    "clock_add": lambda q: (_numbers(q)[0] - 1 + _numbers(q)[-1]) % 12 + 1,
    "word_count": lambda q: len(re.search(r"'(.+)'", q)[1].split()),
}


def test_broader_answers_are_right():
    """Check answers with an independent solver on the templates with digits."""
    tasks = make_broader_tasks(3000, templates=["question", "instruction"],
                               random_state=3)
    checked = Counter()
    for query, answer, family, template in tasks[
            ["query", "answer", "family", "template"]].itertuples(index=False):
        if family not in _BROADER_SOLVERS:
            continue
        q = query[:-len(ANSWER_SUFFIX)]
        if family == "next_multiple" and template == "question":
            q = re.sub(r"multiple of (\d+) that is greater than (\d+)",
                       r"\1 \2", q)
        if family == "clock_add" and template == "instruction":
            # "Add N hours to H o'clock on a 12-hour clock"
            n, h = _numbers(q)[:2]
            q = f"{h} {n}"
        assert _BROADER_SOLVERS[family](q) == answer, query
        checked[family] += 1
    assert set(checked) == set(_BROADER_SOLVERS), set(_BROADER_SOLVERS) - set(checked)
    # factorial and cube have few distinct queries (7 and 12 numbers per template)
    assert min(checked.values()) >= 10, checked


@pytest.mark.skipif(not _BROADER, reason="dataset not collected yet")
def test_generator_still_makes_the_shipped_broader_queries():
    from skadapt.datasets import train_test_split_labels

    data = load_broader(as_frame=True)
    seed = data.provenance["task_seed"]
    tasks = make_broader_tasks(len(data.queries), random_state=seed)
    np.testing.assert_array_equal(tasks["query"].to_numpy(), data.queries)
    np.testing.assert_array_equal(tasks["answer"].to_numpy(), data.reference)
    np.testing.assert_array_equal(tasks["template"].to_numpy(), data.template)
    np.testing.assert_array_equal(
        train_test_split_labels(tasks["family"].to_numpy(), random_state=seed),
        data.split)
    assert data.outcomes.shape == (len(data.queries), 32)
    assert len(set(data.family)) == 23 and data.provenance["command"].startswith(
        "skadapt collect --tasks broader")
    assert np.isfinite(data.mean_logprob).all()
