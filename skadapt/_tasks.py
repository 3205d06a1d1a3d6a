"""Task families of clearly different kinds, each in several phrasings.

The generator behind :func:`skadapt.datasets.make_diverse_tasks`. A *family* is a
kind of task (a sum, the largest number of a list, the letters of a word, a word
problem, a unit conversion, ...) with difficulty levels; a *template* is a way of
asking it, shared across families so that a policy can be tested on a phrasing it
never saw:

* ``"question"``: a plain question with digits;
* ``"words"``: the same with every number written in words;
* ``"instruction"``: an imperative ("Compute ...", "Find ...") instead of a question;
* ``"context"``: a short unrelated sentence of context before the question.

Every family has at least three templates; those that have no number to spell
(letter counting, word length, ...) have no ``"words"`` template. Every answer is
an integer and every query ends with :data:`ANSWER_SUFFIX`.
"""

from __future__ import annotations

ANSWER_SUFFIX = " Answer with just the number."

TEMPLATES = ("question", "words", "instruction", "context")

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
         "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
         "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
         "eighty", "ninety"]


def number_words(n):
    """English words for an integer, e.g. ``4718 -> "four thousand seven hundred eighteen"``.

    Examples
    --------
    >>> from skadapt._tasks import number_words
    >>> number_words(4718)
    'four thousand seven hundred eighteen'
    >>> number_words(-42)
    'minus forty-two'
    """
    n = int(n)
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else "-" + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = _ONES[hundreds] + " hundred"
        return head if rest == 0 else head + " " + number_words(rest)
    for size, name in ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand")):
        if n >= size:
            high, rest = divmod(n, size)
            head = number_words(high) + " " + name
            return head if rest == 0 else head + " " + number_words(rest)
    raise AssertionError  # pragma: no cover


_CONTEXTS = [
    "A student is working through a practice sheet.",
    "Here is a short puzzle.",
    "Lena is checking her notes before a quiz.",
    "This question comes from a warm-up exercise.",
    "A teacher wrote the following on the board.",
    "Consider the following carefully.",
    "Omar is helping his little sister with homework.",
    "The next item is part of a quick test.",
]

_WORDS = ["apple", "banana", "cherry", "strawberry", "mississippi", "letter",
          "coffee", "balloon", "bookkeeper", "committee", "address", "success",
          "tomorrow", "pepper", "giraffe", "assessment", "parallel", "butterfly",
          "occurrence", "grammar", "hello", "yellow", "seventeen", "elephant",
          "bubble", "puzzle", "cinnamon", "rhythm", "possession", "raccoon",
          "kangaroo", "broccoli", "spaghetti", "vacuum", "necessary", "millennium",
          "embarrass", "accommodate", "referee", "tennessee", "engineer", "sleeve",
          "cookie", "summer", "winter", "llama", "noodle", "excellent", "beekeeper",
          "reference", "bottle", "apparent", "window", "garden", "pencil", "rocket",
          "island", "mountain", "teacher", "library", "computer", "umbrella",
          "chocolate", "dinosaur", "hospital", "triangle", "volcano", "whisper"]
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh",
             "eighth"]
_NAMES = ["Maria", "Tom", "Aisha", "Ken", "Sofia", "Ravi", "Emma", "Lucas", "Nia",
          "Jonas"]
_ITEMS = ["apples", "marbles", "stickers", "books", "pencils", "cookies", "coins",
          "stamps"]


def _operand(rng, digits):
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return int(rng.integers(low, 10 ** digits))


def _n(x, style):
    return number_words(x) if style == "words" else str(x)


def _seq(items, style):
    return ", ".join(_n(x, style) for x in items)


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _ask(style, question, instruction):
    """The question, or its imperative form for the ``"instruction"`` template."""
    return instruction if style == "instruction" else question


# Each family: rng, level, style -> (text, answer). ``style`` is one of the
# family's templates; the "context" sentence is added by the caller.

def _addition(rng, level, style):
    a, b = _operand(rng, level), _operand(rng, level)
    return _ask(style, f"What is {_n(a, style)} plus {_n(b, style)}?"
                if style == "words" else f"What is {a} + {b}?",
                f"Compute the sum of {a} and {b}."), a + b


def _subtraction(rng, level, style):
    a, b = sorted((_operand(rng, level), _operand(rng, level)), reverse=True)
    return _ask(style, f"What is {_n(a, style)} minus {_n(b, style)}?"
                if style == "words" else f"What is {a} - {b}?",
                f"Subtract {b} from {a}."), a - b


_MUL_DIGITS = {1: (1, 1), 2: (2, 1), 3: (2, 2)}


def _multiplication(rng, level, style):
    da, db = _MUL_DIGITS[level]
    a, b = _operand(rng, da), _operand(rng, db)
    return _ask(style, f"What is {_n(a, style)} times {_n(b, style)}?"
                if style == "words" else f"What is {a} * {b}?",
                f"Multiply {a} by {b}."), a * b


def _division(rng, level, style):
    # levels: quotient of 1, 2 or 3 digits; the divisor has one digit
    b = int(rng.integers(2, 10))
    q = _operand(rng, level) if level > 1 else int(rng.integers(1, 10))
    a = b * q
    return _ask(style, f"What is {_n(a, style)} divided by {_n(b, style)}?",
                f"Divide {a} by {b}."), q


def _remainder(rng, level, style):
    b = int(rng.integers(2, 10))
    a = _operand(rng, level + 1)
    return _ask(style, f"What is the remainder when {_n(a, style)} is divided by "
                       f"{_n(b, style)}?",
                f"Find the remainder of {a} divided by {b}."), a % b


def _comparison(rng, level, style):
    a = _operand(rng, level)
    b = a
    while b == a:
        b = _operand(rng, level)
    return _ask(style, f"Which number is larger, {_n(a, style)} or {_n(b, style)}?",
                f"Name the larger of the two numbers {a} and {b}."), max(a, b)


def _list(rng, level, low=1, high=100):
    return [int(x) for x in rng.integers(low, high, size=level + 2)]


def _list_lookup(rng, level, style):
    items = _list(rng, level)
    pos = int(rng.integers(len(items)))
    return _ask(style, f"What is the {_ORDINALS[pos]} number in the list "
                       f"{_seq(items, style)}?",
                f"Give the {_ORDINALS[pos]} number of this list: "
                f"{_seq(items, style)}."), items[pos]


def _list_max(rng, level, style):
    items = _list(rng, level)
    return _ask(style, f"What is the largest number in the list {_seq(items, style)}?",
                f"Find the maximum of {_seq(items, style)}."), max(items)


def _list_min(rng, level, style):
    items = _list(rng, level)
    return _ask(style, f"What is the smallest number in the list "
                       f"{_seq(items, style)}?",
                f"Find the minimum of {_seq(items, style)}."), min(items)


def _list_sum(rng, level, style):
    items = _list(rng, level, 1, 10 if level == 1 else 30)
    return _ask(style, f"What is the sum of the numbers {_seq(items, style)}?",
                f"Add up these numbers: {_seq(items, style)}."), sum(items)


def _list_length(rng, level, style):
    items = _list(rng, level * 2 + 1)
    return _ask(style, f"How many numbers are in the list {_seq(items, style)}?",
                f"Count the numbers in this list: {_seq(items, style)}."), len(items)


def _count_letters(rng, level, style):
    word = _pick(rng, _WORDS)
    letter = _pick(rng, word) if level == 1 else _pick(rng, _LETTERS)
    return _ask(style, f"How many times does the letter '{letter}' appear in the "
                       f"word '{word}'?",
                f"Count the letter '{letter}' in the word '{word}'."), \
        word.count(letter)


def _word_length(rng, level, style):
    words = [w for w in _WORDS if (len(w) <= 6) == (level == 1)]
    word = _pick(rng, words)
    return _ask(style, f"How many letters are in the word '{word}'?",
                f"Count the letters of the word '{word}'."), len(word)


def _vowel_count(rng, level, style):
    words = [w for w in _WORDS if (len(w) <= 6) == (level == 1)]
    word = _pick(rng, words)
    return _ask(style, f"How many vowels are in the word '{word}'?",
                f"Count the vowels (a, e, i, o, u) in '{word}'."), \
        sum(word.count(v) for v in "aeiou")


def _alphabet_position(rng, level, style):
    # level 1: the first nine letters; level 2: the rest
    letter = _pick(rng, _LETTERS[:9] if level == 1 else _LETTERS[9:])
    return _ask(style, f"What is the position of the letter '{letter}' in the "
                       "English alphabet?",
                f"Give the alphabet position of the letter '{letter}' "
                "(a is 1)."), _LETTERS.index(letter) + 1


def _sequence_next(rng, level, style):
    step = int(rng.integers(1, 6 if level == 1 else 20))
    if level == 3:
        step = -step
    start = int(rng.integers(1, 20)) + (100 if level == 3 else 0)
    items = [start + i * step for i in range(4)]
    return _ask(style, f"What number comes next in the sequence {_seq(items, style)}?",
                f"Continue the sequence {_seq(items, style)} with one more "
                "number."), start + 4 * step


_UNITS = {1: [("hours", "minutes", 60), ("weeks", "days", 7), ("dozens", "items", 12)],
          2: [("meters", "centimeters", 100), ("kilograms", "grams", 1000),
              ("minutes", "seconds", 60)],
          3: [("days", "hours", 24), ("kilometers", "meters", 1000),
              ("hours", "seconds", 3600)]}


def _unit_conversion(rng, level, style):
    big, small, factor = _pick(rng, _UNITS[level])
    x = int(rng.integers(2, 10 if level < 3 else 13))
    return _ask(style, f"How many {small} are in {_n(x, style)} {big}?",
                f"Convert {x} {big} to {small}."), x * factor


def _word_problem(rng, level, style):
    name, item = _pick(rng, _NAMES), _pick(rng, _ITEMS)
    if level == 1:
        a, b = int(rng.integers(2, 20)), int(rng.integers(2, 20))
        story = (f"{name} has {_n(a, style)} {item} and gets {_n(b, style)} more.",
                 f"How many {item} does {name} have now?", a + b)
    elif level == 2:
        a = int(rng.integers(20, 60))
        b = int(rng.integers(2, a))
        story = (f"{name} has {_n(a, style)} {item} and gives away {_n(b, style)}.",
                 f"How many {item} are left?", a - b)
    else:
        a, b = int(rng.integers(3, 10)), int(rng.integers(3, 13))
        story = (f"{name} buys {_n(a, style)} boxes with {_n(b, style)} {item} in "
                 "each box.", f"How many {item} is that in total?", a * b)
    setup, question, answer = story
    if style == "instruction":
        question = f"Work out how many {item} there are in the end."
    return f"{setup} {question}", answer


def _square(rng, level, style):
    x = int(rng.integers(2, 10)) if level == 1 else int(rng.integers(10, 10 * level + 11))
    return _ask(style, f"What is {_n(x, style)} squared?",
                f"Compute the square of {x}."), x * x


def _rounding(rng, level, style):
    unit = {1: 10, 2: 100, 3: 1000}[level]
    x = int(rng.integers(unit + 1, unit * 100))
    while x % unit == unit // 2:  # no halfway cases: no rounding convention needed
        x = int(rng.integers(unit + 1, unit * 100))
    name = {10: "ten", 100: "hundred", 1000: "thousand"}[unit]
    answer = int(round(x / unit) * unit)
    return _ask(style, f"What is {_n(x, style)} rounded to the nearest {name}?",
                f"Round {x} to the nearest {name}."), answer


def _digit_sum(rng, level, style):
    x = _operand(rng, level + 1)
    return _ask(style, f"What is the sum of the digits of {_n(x, style)}?",
                f"Add up the digits of {x}."), sum(int(d) for d in str(x))


_PLACES = ["ones", "tens", "hundreds", "thousands"]


def _place_value(rng, level, style):
    x = _operand(rng, level + 2)
    place = int(rng.integers(len(str(x))))
    digit = (x // 10 ** place) % 10
    return _ask(style, f"What is the {_PLACES[place]} digit of {_n(x, style)}?",
                f"Give the digit in the {_PLACES[place]} place of {x}."), digit


def _change(rng, level, style):
    price = int(rng.integers(1, 10 * level))
    paid = {1: 10, 2: 20, 3: 50}[level]
    while price >= paid:
        price = int(rng.integers(1, paid))
    return _ask(style, f"Something costs {_n(price, style)} dollars and you pay with "
                       f"{_n(paid, style)} dollars. How many dollars of change do "
                       "you get?",
                f"Work out the change from {paid} dollars for an item costing "
                f"{price} dollars."), paid - price


def _age(rng, level, style):
    name = _pick(rng, _NAMES)
    age = int(rng.integers(3, 60))
    years = int(rng.integers(2, 10 * level + 1))
    if level == 3:
        return _ask(style, f"{name} is {_n(age + years, style)} years old. How old "
                           f"was {name} {_n(years, style)} years ago?",
                    f"{name} is {age + years} years old. Find {name}'s age "
                    f"{years} years ago."), age
    return _ask(style, f"{name} is {_n(age, style)} years old. How old will {name} "
                       f"be in {_n(years, style)} years?",
                f"{name} is {age} years old. Find {name}'s age in {years} "
                "years."), age + years


def _halving(rng, level, style):
    x = 2 * _operand(rng, level) + 2 * int(level == 1)
    return _ask(style, f"What is half of {_n(x, style)}?",
                f"Divide {x} into two equal halves and give one half."), x // 2


_ALL = TEMPLATES
_NO_WORDS = ("question", "instruction", "context")

#: family name -> (generator, levels, templates)
FAMILIES = {
    "addition": (_addition, (1, 2, 3, 4), _ALL),
    "subtraction": (_subtraction, (1, 2, 3), _ALL),
    "multiplication": (_multiplication, (1, 2, 3), _ALL),
    "division": (_division, (1, 2, 3), _ALL),
    "remainder": (_remainder, (1, 2), _ALL),
    "comparison": (_comparison, (1, 2, 3), _ALL),
    "list_lookup": (_list_lookup, (1, 2, 3), _ALL),
    "list_max": (_list_max, (1, 2, 3), _ALL),
    "list_min": (_list_min, (1, 2, 3), _ALL),
    "list_sum": (_list_sum, (1, 2), _ALL),
    "list_length": (_list_length, (1, 2, 3), _ALL),
    "count_letters": (_count_letters, (1, 2), _NO_WORDS),
    "word_length": (_word_length, (1, 2), _NO_WORDS),
    "vowel_count": (_vowel_count, (1, 2), _NO_WORDS),
    "alphabet_position": (_alphabet_position, (1, 2), _NO_WORDS),
    "sequence_next": (_sequence_next, (1, 2, 3), _ALL),
    "unit_conversion": (_unit_conversion, (1, 2, 3), _ALL),
    "word_problem": (_word_problem, (1, 2, 3), _ALL),
    "square": (_square, (1, 2, 3), _ALL),
    "rounding": (_rounding, (1, 2, 3), _ALL),
    "digit_sum": (_digit_sum, (1, 2, 3), _ALL),
    "place_value": (_place_value, (1, 2), _ALL),
    "change": (_change, (1, 2, 3), _ALL),
    "age": (_age, (1, 2, 3), _ALL),
    "halving": (_halving, (1, 2, 3), _ALL),
}


def render(family, level, template, rng, families=None):
    """One query of ``family`` at ``level`` asked with ``template``: ``(text, answer)``.

    ``families`` is the registry the family is looked up in (default
    :data:`FAMILIES`; :data:`skadapt._broader_tasks.FAMILIES` holds the others).
    """
    generate, _, templates = (FAMILIES if families is None else families)[family]
    if template not in templates:
        raise ValueError(f"family {family!r} has templates {templates}, got "
                         f"{template!r}")
    style = "question" if template == "context" else template
    text, answer = generate(rng, level, style)
    if template == "context":
        text = f"{_pick(rng, _CONTEXTS)} {text}"
    return text + ANSWER_SUFFIX, int(answer)
