"""Glob regexes that match in linear time: the join both ignore-file matchers
(gitignore.py, dockerignore.py) compile their patterns with."""

from __future__ import annotations

STAR = "[^/]*"


def fixed_width(piece: str) -> bool:
    """Whether a regex fragment matches exactly one fixed string shape of characters other than '/':
    escapes, literals and classes that cannot match '/' (checked conservatively)."""
    i, n = 0, len(piece)
    while i < n:
        c = piece[i]
        if c == "\\":
            if i + 1 >= n or piece[i + 1] == "/":
                return False
            i += 2
        elif c == "[":
            j = i + 1
            if piece.startswith("^/", j):
                j += 2
            elif j < n and piece[j] == "^":
                return False  # a negated class without '/' would match it
            while j < n and piece[j] != "]" or j == i + 1:
                if piece[j] == "\\":
                    j += 1
                elif piece[j] == "/" and not piece.startswith("[^/", i):
                    return False
                j += 1
                if j > n:
                    return False
            if j >= n:
                return False
            i = j + 1
        elif c in "/.*+?{}|()^$":
            return False
        else:
            i += 1
    return True


def linear(atoms: list[str]) -> str:
    """Join regex atoms, making runs of ``*`` within one path component linear-time.

    A glob ``*P1*P2*...*Pk`` (each Pi of fixed width) matches iff matching every Pi but the last at
    its leftmost possible place succeeds, so each ``*Pi`` that another ``*`` follows is emitted as
    the atomic ``(?>[^/]*?Pi)``: the regex engine commits to that place instead of trying every
    split (``*a*a*a*a*b`` on a 255-character name took seconds, and more stars took forever)."""
    out: list[str] = []
    i, n = 0, len(atoms)
    while i < n:
        if atoms[i] != STAR:
            out.append(atoms[i])
            i += 1
            continue
        j = i + 1
        while j < n and atoms[j] != STAR:
            j += 1
        piece = "".join(atoms[i + 1 : j])
        if j < n and piece and fixed_width(piece):
            out.append("(?>[^/]*?" + piece + ")")
        else:
            out.append(STAR + piece)
        i = j
    return "".join(out)
