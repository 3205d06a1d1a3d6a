"""23 more task families, of kinds that none of the diverse families asks.

The generator behind :func:`skadapt.datasets.make_broader_tasks`: clock arithmetic,
counts over lists (even numbers, distinct values), ranges, averages and medians,
doubling, cubes and factorials, perimeters, areas and percentages, prices, words
in a sentence, digits (largest, how many, reversed), greatest common divisors,
multiples, whole numbers between two others, legs of animals, minutes between
two times and days in months. Each family has 2-3 difficulty levels and the
templates of :mod:`skadapt._tasks` (those with no number to spell have no
``"words"`` template), so a probe trained on the diverse dataset can be given
supervision from kinds of task it would otherwise never see, and checked on them.
"""

from __future__ import annotations

import math

import numpy as np

from skadapt._tasks import TEMPLATES, _ask, _n, _operand, _pick, _seq

_MONTHS = [("January", 31), ("February", 28), ("March", 31), ("April", 30),
           ("May", 31), ("June", 30), ("July", 31), ("August", 31),
           ("September", 30), ("October", 31), ("November", 30), ("December", 31)]
_ANIMALS = [("dogs", 4), ("cats", 4), ("chickens", 2), ("spiders", 8), ("ants", 6),
            ("ducks", 2), ("horses", 4)]
_SENTENCES = ["the cat sat on the mat", "we went to the park today",
              "birds fly south in the winter", "my brother likes green apples",
              "the old train was very slow", "she reads a book every night",
              "it rained all day long", "please close the door",
              "the sun rises in the east", "good friends help each other",
              "a small boat crossed the wide river at dawn",
              "they planted three tall trees behind the school"]


def _clock_add(rng, level, style):
    hour = int(rng.integers(1, 13))
    add = int(rng.integers(1, 12 if level == 1 else 30))
    answer = (hour - 1 + add) % 12 + 1
    return _ask(style, f"It is {_n(hour, style)} o'clock. What hour will the clock "
                       f"show in {_n(add, style)} hours?",
                f"Add {add} hours to {hour} o'clock on a 12-hour clock and give the "
                f"hour."), answer


def _even_count(rng, level, style):
    items = [int(x) for x in rng.integers(1, 50, size=level + 3)]
    return _ask(style, f"How many even numbers are in the list {_seq(items, style)}?",
                f"Count the even numbers in {_seq(items, style)}."), \
        sum(x % 2 == 0 for x in items)


def _distinct_count(rng, level, style):
    pool = [int(x) for x in rng.integers(1, 20, size=2 + level)]
    items = [pool[int(i)] for i in rng.integers(len(pool), size=level + 3)]
    return _ask(style, f"How many different numbers are in the list "
                       f"{_seq(items, style)}?",
                f"Count the distinct values in {_seq(items, style)}."), len(set(items))


def _list_range(rng, level, style):
    items = [int(x) for x in rng.integers(1, 100, size=level + 2)]
    return _ask(style, f"What is the difference between the largest and the smallest "
                       f"number in the list {_seq(items, style)}?",
                f"Subtract the minimum of {_seq(items, style)} from its maximum."), \
        max(items) - min(items)


def _average(rng, level, style):
    k = level + 1
    mean = int(rng.integers(2, 30 if level < 3 else 90))
    offsets = [int(x) for x in rng.integers(-mean + 1, mean, size=k - 1)]
    items = [mean + o for o in offsets] + [mean * k - sum(mean + o for o in offsets)]
    if min(items) < 0:
        items = [mean] * k
    return _ask(style, f"What is the average of {_seq(items, style)}?",
                f"Compute the mean of {_seq(items, style)}."), mean


def _doubling(rng, level, style):
    a = _operand(rng, level + 1)
    return _ask(style, f"What is double {_n(a, style)}?", f"Double the number {a}."), \
        2 * a


def _cube(rng, level, style):
    a = int(rng.integers(1, 6)) if level == 1 else int(rng.integers(6, 13))
    return _ask(style, f"What is {_n(a, style)} cubed?", f"Compute {a} to the third "
                                                           "power."), a ** 3


def _factorial(rng, level, style):
    a = int(rng.integers(1, 5)) if level == 1 else int(rng.integers(5, 8))
    return _ask(style, f"What is {_n(a, style)} factorial?",
                f"Compute the factorial of {a}."), math.factorial(a)


def _perimeter(rng, level, style):
    side = _operand(rng, level) or 1
    return _ask(style, f"A square has sides of {_n(side, style)} centimeters. What is "
                       "its perimeter in centimeters?",
                f"Give the perimeter, in centimeters, of a square with {side} cm "
                "sides."), 4 * side


def _area(rng, level, style):
    a, b = int(rng.integers(2, 10)), int(rng.integers(2, 10 if level == 1 else 40))
    return _ask(style, f"A rectangle is {_n(a, style)} meters by {_n(b, style)} "
                       "meters. What is its area in square meters?",
                f"Compute the area of a {a} m by {b} m rectangle in square meters."), \
        a * b


def _percent(rng, level, style):
    p = _pick(rng, [10, 20, 25, 50] if level == 1 else [5, 15, 30, 40, 60, 75])
    base = 20 * int(rng.integers(1, 10 if level == 1 else 50))
    return _ask(style, f"What is {_n(p, style)} percent of {_n(base, style)}?",
                f"Compute {p}% of {base}."), p * base // 100


def _unit_price(rng, level, style):
    price, count = int(rng.integers(2, 10 if level == 1 else 25)), int(rng.integers(2, 10))
    item = _pick(rng, ["pens", "tickets", "notebooks", "cups", "candles"])
    return _ask(style, f"{item.capitalize()} cost {_n(price, style)} dollars each. How "
                       f"many dollars do {_n(count, style)} {item} cost?",
                f"Find the cost in dollars of {count} {item} at {price} dollars each."), \
        price * count


def _word_count(rng, level, style):
    text = _pick(rng, _SENTENCES[:8] if level == 1 else _SENTENCES[8:])
    return _ask(style, f"How many words are in the sentence '{text}'?",
                f"Count the words in the sentence '{text}'."), len(text.split())


def _max_digit(rng, level, style):
    a = _operand(rng, level + 2)
    return _ask(style, f"What is the largest digit of {_n(a, style)}?",
                f"Give the largest digit in the number {a}."), max(int(d) for d in str(a))


def _digit_count(rng, level, style):
    a = _operand(rng, int(rng.integers(1, 4 + 2 * level)))
    return _ask(style, f"How many digits does the number {a} have?",
                f"Count the digits of {a}."), len(str(a))


def _reverse_digits(rng, level, style):
    a = _operand(rng, level + 1)
    while a % 10 == 0:
        a = _operand(rng, level + 1)
    return _ask(style, f"What number do you get by writing the digits of {a} in "
                       "reverse order?",
                f"Reverse the digits of {a}."), int(str(a)[::-1])


def _gcd(rng, level, style):
    g = int(rng.integers(2, 10))
    a, b = g * int(rng.integers(1, 6 * level)), g * int(rng.integers(1, 6 * level))
    return _ask(style, f"What is the greatest common divisor of {_n(a, style)} and "
                       f"{_n(b, style)}?",
                f"Find the greatest common divisor of {a} and {b}."), math.gcd(a, b)


def _next_multiple(rng, level, style):
    m = int(rng.integers(3, 10))
    a = _operand(rng, level + 1)
    return _ask(style, f"What is the smallest multiple of {_n(m, style)} that is "
                       f"greater than {_n(a, style)}?",
                f"Give the first multiple of {m} above {a}."), (a // m + 1) * m


def _count_between(rng, level, style):
    a = _operand(rng, level + 1)
    b = a + int(rng.integers(2, 12 if level == 1 else 60))
    return _ask(style, f"How many whole numbers are strictly between {_n(a, style)} "
                       f"and {_n(b, style)}?",
                f"Count the integers strictly between {a} and {b}."), b - a - 1


def _legs(rng, level, style):
    animal, n_legs = _pick(rng, _ANIMALS[:4] if level == 1 else _ANIMALS)
    count = int(rng.integers(2, 10 if level == 1 else 25))
    return _ask(style, f"How many legs do {_n(count, style)} {animal} have in total?",
                f"Count the legs of {count} {animal}."), count * n_legs


def _median(rng, level, style):
    items = [int(x) for x in rng.choice(np.arange(1, 100), size=2 * level + 1,
                                        replace=False)]
    return _ask(style, f"What is the middle number when {_seq(items, style)} are "
                       "sorted from smallest to largest?",
                f"Give the median of {_seq(items, style)}."), sorted(items)[level]


def _minutes_between(rng, level, style):
    hour = int(rng.integers(1, 12))
    start = 5 * int(rng.integers(0, 8))
    end = start + 5 * int(rng.integers(1, 12 - start // 5 if level == 1 else 20))
    end_h, end_m = hour + end // 60, end % 60
    return _ask(style, f"How many minutes are there from {hour}:{start:02d} to "
                       f"{end_h}:{end_m:02d}?",
                f"Count the minutes from {hour}:{start:02d} to {end_h}:{end_m:02d}."), \
        end - start


def _days_in_months(rng, level, style):
    first = int(rng.integers(12))
    span = 1 if level == 1 else int(rng.integers(2, 4))
    chosen = [_MONTHS[(first + i) % 12] for i in range(span)]
    names = " and ".join(name for name, _ in chosen) if span > 1 else chosen[0][0]
    return _ask(style, f"How many days are in {names} together, in a year that is not "
                       "a leap year?" if span > 1 else
                f"How many days does {names} have in a year that is not a leap year?",
                f"Give the number of days in {names} of a non-leap year."), \
        sum(days for _, days in chosen)


_ALL = TEMPLATES
_NO_WORDS = ("question", "instruction", "context")

#: family name -> (generator, levels, templates)
FAMILIES = {
    "clock_add": (_clock_add, (1, 2), _ALL),
    "even_count": (_even_count, (1, 2, 3), _ALL),
    "distinct_count": (_distinct_count, (1, 2, 3), _ALL),
    "list_range": (_list_range, (1, 2, 3), _ALL),
    "average": (_average, (1, 2, 3), _ALL),
    "doubling": (_doubling, (1, 2, 3), _ALL),
    "cube": (_cube, (1, 2), _ALL),
    "factorial": (_factorial, (1, 2), _ALL),
    "perimeter": (_perimeter, (1, 2), _ALL),
    "area": (_area, (1, 2), _ALL),
    "percent": (_percent, (1, 2), _ALL),
    "unit_price": (_unit_price, (1, 2), _ALL),
    "word_count": (_word_count, (1, 2), _NO_WORDS),
    "max_digit": (_max_digit, (1, 2), _NO_WORDS),
    "digit_count": (_digit_count, (1, 2), _NO_WORDS),
    "reverse_digits": (_reverse_digits, (1, 2), _NO_WORDS),
    "gcd": (_gcd, (1, 2), _ALL),
    "next_multiple": (_next_multiple, (1, 2), _ALL),
    "count_between": (_count_between, (1, 2), _ALL),
    "legs": (_legs, (1, 2), _ALL),
    "median": (_median, (1, 2), _ALL),
    "minutes_between": (_minutes_between, (1, 2), _NO_WORDS),
    "days_in_months": (_days_in_months, (1, 2), _NO_WORDS),
}
