"""The linear-time scanners of pfgen/validate/plaintext.py agree with the regexes they replace.

The JWT and `--password X` checks used to be single regexes, quadratic on hostile input (a 240 KB
`--password=.` x 20,000 command took minutes). They are now scanned part by part; these tests hold
them to the old regexes' answers on generated strings built from the characters and words that
matter, so only the running time changed. (How long the hostile inputs take is measured by
benchmarks/hostile_input.py, not asserted here.)
"""

from __future__ import annotations

import random
import re

import pytest

from pfgen.validate import plaintext

_NOT_PLACEHOLDER = plaintext._NOT_PLACEHOLDER  # noqa: SLF001 (the same lookahead both ways)
OLD_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
OLD_OPTION = re.compile(
    r"(?<![\w-])--(?:password|passwd|pass|token|auth-token|access-token|api-key|api_key|apikey|secret|secret-key"
    r"|client-secret|access-key|secret-access-key|hf-token|wandb-key)(?:=|[ \t]+)" + _NOT_PLACEHOLDER
    + r"(['\"]?)[^\s'\"$`]{3,}\1(?=\s|$)")

JWT = "eyJhbGciOiJ.eyJzdWIiOiJ.SflKxwRJ"  # each part at the minimum length
JWT_CHARS = ["a", "9", "_", "-", ".", " ", "é", "eyJ", "Jy", "\n"]
OPTION_PIECES = ["--password", "--pass", "--secret-key", "--token", "=", " ", "\t", "\n", "'", '"', "$", "`",
                 "a", "ab", "abc", "X", "-", ".", "[", "<", "YOUR_", "xxx", "é", "--password-stdin"]


def _mutated_jwts(count: int, seed: int) -> list[str]:
    """Tokens at the edge of the rule: a minimal JWT with random characters inserted, deleted or replaced."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        text = rng.choice(["", "x", "-", " ", "é"]) + JWT + rng.choice(["", ".", "x", "-eyJ"])
        for _ in range(rng.randint(0, 3)):
            at = rng.randrange(len(text) + 1)
            op = rng.randrange(3)
            piece = rng.choice(JWT_CHARS)
            text = text[:at] + piece + text[at + (op > 0):] if op < 2 else text[:at] + text[at + 1:]
        texts.append(text)
    return texts


def _generated(pieces: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 14))) for _ in range(count)]


@pytest.mark.parametrize("seed", range(4))
def test_jwt_scanner_agrees_with_the_regex(seed):
    texts = _mutated_jwts(5000, seed)
    assert 500 < sum(bool(OLD_JWT.search(text)) for text in texts) < 4500  # both answers are exercised
    for text in texts:
        assert plaintext._has_jwt(text) == bool(OLD_JWT.search(text)), repr(text)  # noqa: SLF001


@pytest.mark.parametrize("seed", range(4))
def test_option_scanner_agrees_with_the_regex(seed):
    texts = _generated(OPTION_PIECES, 5000, seed)
    assert sum(bool(OLD_OPTION.search(text)) for text in texts) > 20  # both answers are exercised
    for text in texts:
        assert plaintext._option_secret(text) == bool(OLD_OPTION.search(text)), repr(text)  # noqa: SLF001


@pytest.mark.parametrize("text,found", [
    ("Authorization: Bearer eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4", True),
    ("a-eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJ", True),
    ("aeyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJ", False),  # no word boundary before the header
    ("eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.short", False),
    ("--password hunter2 --epochs 3", True),
    ("--password='hunter2'", True),
    ("--password='hunter2", False),
    ("--password $PASSWORD", False),
    ("--password=[PASSWORD]", False),
    ("--password-stdin < file", False),
    ("--password=.--password=.", True),
])
def test_known_answers(text, found):
    what = plaintext.looks_like_secret(text)
    assert (what in {"a JSON web token", "a password or token given as a command-line option"}) == found, what


def test_message_order_is_kept():
    # a value holding two kinds of credential names the first one in _VALUE_PATTERNS, as before
    text = "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJ AIza" + "A" * 35
    assert plaintext.looks_like_secret(text) == "a Google API key"
    assert plaintext.looks_like_secret("--token abcdef https://u:pw@host") == "a password in a URL"


# --- the clues: one search answers the values no scan could find anything in ---------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

# what each scan of looks_like_secret needs to match before it can report anything
SCANS = [pattern for _, pattern in plaintext._VALUE_PATTERNS if pattern is not None] + [  # noqa: SLF001
    plaintext._OPTION, plaintext._LOGIN, plaintext._ASSIGNMENT, plaintext._JWT_HEAD]  # noqa: SLF001


@pytest.mark.parametrize("pattern", SCANS, ids=lambda p: p.pattern[:24])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data())
def test_every_text_a_scan_matches_holds_a_clue(pattern, data):
    text = data.draw(st.from_regex(pattern))
    assert pattern.search(text) and plaintext._CLUES.search(text), repr(text)  # noqa: SLF001


CLUE_PIECES = ["=", "-", "--", ":", "/", "://", "AKIA", "AIza", "eyJ", "hf_", "ghp_", "xoxb-", "sk-", "login",
               "docker ", '"private_key"', "password", "A" * 16, "a" * 36, "x", " ", "\n", "'", "$"]


@pytest.mark.parametrize("seed", range(4))
def test_the_clues_change_no_answer(seed):
    texts = _generated(CLUE_PIECES, 4000, seed)
    assert 0 < sum(plaintext._scan(t) is not None for t in texts) < len(texts)  # noqa: SLF001
    for text in texts:
        assert plaintext.looks_like_secret(text) == plaintext._scan(text), repr(text)  # noqa: SLF001
