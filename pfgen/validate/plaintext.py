"""Refuse plaintext secrets in templates and pfgen.yaml.

Templates and the project config are committed to Git; a secret in them is a leak. Two
checks, both reported at the value's position:

* a non-empty scalar under a key that names a secret (password, token, api_key, secret,
  access_key, private_key, ...), e.g. ``docker.env_var.WANDB_API_KEY: 0123...``;
* a string that looks like a credential whatever its key: a PEM private key, an AWS
  access key id, a GitHub / Slack / Hugging Face / Google / OpenAI / Anthropic token, a JWT,
  an Azure storage connection string or key, a password in a URL (``https://user:pw@host``),
  ``--password X`` / ``--token X`` style options, ``docker login -p X``, or a
  ``NAME_WITH_SECRET_WORD=value`` assignment in a command.

Secret-word keys include DB_PASS / *_PWD, CREDENTIALS / *_CREDS, *_SECRET_* and
``<service>_KEY`` (WANDB_KEY, OPENAI_KEY, ...). References ($VAR, $(cmd)), other options and
documentation placeholders ([PASSWORD], <token>, YOUR_TOKEN) are not values; a value that is
a file path (``GOOGLE_APPLICATION_CREDENTIALS: /var/run/key.json``) locates a secret. The false-
positive rate is measured by tests/test_plaintext_corpus.py (0 on the examples, the seeds, the
34 public templates and a committed corpus of real-looking negatives).

Keys that *refer* to a secret without holding it (``credential_id``, ``secret_name``,
``*_file``, ``*_path`` ...) are fine.
"""

from __future__ import annotations

import functools
import re

from pfgen.errors import Collector
from pfgen.load.document import Document, PathKey

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator

_SECRET_WORDS = (r"password|passwd|passphrase|token|api_?key|secret|secret_?key|access_?key|private_?key"
                 r"|client_?secret|auth_?key|account_?key|storage_?key|connection_?string|credentials?|creds")
# `<service>_KEY`: a bare `_KEY` is too common (SORT_KEY, CACHE_KEY) to mean a secret by itself.
_SERVICE_KEY = (r"(wandb|openai|anthropic|hf|huggingface|comet|neptune|cohere|mistral|groq|replicate|stripe|sendgrid"
                r"|mailgun|twilio|datadog|dd|sentry|pinecone|clearml|gemini|google|azure|aws|gcp|github|gitlab|slack)_key")
# `DB_PASS`, `MYSQL_PWD`: only as the last word after another (PWD alone is the working directory,
# PASS_THROUGH no password).
_SECRET_KEY = re.compile(rf"(^|_)({_SECRET_WORDS}|{_SERVICE_KEY})($|_)|_(pass|pwd)$")
# A key ending like this names or locates a secret rather than holding one.
_REFERENCE_SUFFIX = re.compile(r"(_id|_name|_ref|_file|_path|_dir|_mode|_env|_var|_type|_kind|_length|_len|_size)\Z")
_REFERENCE_KEYS = {"credential", "secrets", "secret_name", "credential_id", "secret_ref", "remote_key"}
# Well-known access key id formats are credentials even though the key says "_id".
_ALWAYS_SECRET_KEYS = {"aws_access_key_id"}

# A value that is a reference ($VAR, $(cmd)), another option (-x) or a documentation placeholder.
_NOT_PLACEHOLDER = r"(?![$-]|['\"]?[\[<{]|['\"]?[A-Z][A-Z0-9_]*['\"]?(?:\s|$)|['\"]?(?:your|my)[-_]|['\"]?x{3,}|['\"]?\*{3,}|['\"]?\.\.\.)"
# In the order they are tried; None marks the two scanned by a function (defined below) in linear time.
_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str] | None], ...] = (
    # A PEM header with a base64 body after it (not a `grep "BEGIN PRIVATE KEY"`, not a documented placeholder).
    ("a PEM private key", re.compile(r"-----BEGIN ([A-Z0-9 ]+ )?PRIVATE KEY-----(?:\s|\\n)*[A-Za-z0-9+/=]{4,}(?:\s|\\n|\Z)")),
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a JSON web token", None),  # _has_jwt
    ("an Azure storage key", re.compile(r"AccountKey=[A-Za-z0-9+/]{20,}|(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])")),
    ("a service-account key", re.compile(r'"private_key"\s*:\s*"(?:\\n)*(?!-----BEGIN)[A-Za-z0-9+/=]{4,}|"private_key_id"\s*:\s*"[0-9a-f]{40}"')),
    ("an OpenAI or Anthropic API key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{32,}")),
    # scheme://user:password@host (not user@host, not :$VAR or :${VAR} references).
    ("a password in a URL", re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s/:@'\"]{1,256}:(?![$%{])[^\s/@'\"]{1,256}@[A-Za-z0-9\[]")),
    ("a password or token given as a command-line option", None),  # _option_secret
)
# A JSON web token: `eyJ<header>.eyJ<payload>.<signature>`, each part of [A-Za-z0-9_-], the header
# starting at a word boundary and both first parts at least 11 characters, the signature at least 8.
# Matched part by part (see _has_jwt), not by one regex: `eyJ` repeated inside one long part made
# the regex try every start against the whole part (quadratic: 3.7 s for 130 KB).
_JWT_PART = re.compile(r"[A-Za-z0-9_-]+")
_JWT_HEAD = re.compile(r"\beyJ")
# `--password X`, `--api-key=X` (not placeholders: [PASSWORD], <token>, {key}, YOUR_TOKEN); `--password-stdin`,
# `--token-file` are other flags; $VAR and $(...) are references. The value (optionally quoted) is a run
# of at least 3 characters other than whitespace, quotes, `$` and backticks, ending the word; see
# _option_secret for why the run is not part of this regex.
_OPTION = re.compile(
    r"(?<![\w-])--(?:password|passwd|pass|token|auth-token|access-token|api-key|api_key|apikey|secret|secret-key"
    r"|client-secret|access-key|secret-access-key|hf-token|wandb-key)(?:=|[ \t]+)" + _NOT_PLACEHOLDER + r"(['\"]?)")
_VALUE_END = re.compile(r"[\s'\"$`]")
_SPACE = re.compile(r"\s")
# `docker login ... -p X`: each login's arguments (up to the next login, line or command) are searched
# once, so the scan stays linear however often "docker login" repeats.
_LOGIN = re.compile(r"\b(?:docker|podman|buildah|oras|helm[ \t]+registry)[ \t]+login\b")
_LOGIN_PASSWORD = re.compile(r"\s-p(?:[ \t]+|=)?" + _NOT_PLACEHOLDER + r"(['\"]?)[^\s'\"$`]{3,}\1(?=\s|$)")
_COMMAND_END = re.compile(r"[\n;&|]")
# `export WANDB_API_KEY=abc123`, `--password hunter2` style assignments inside commands.
_ASSIGNMENT = re.compile(
    r"\b([A-Za-z_][A-Za-z0-9_]*)=(?!\$)(['\"]?)([^\s'\"$`]{6,})\2",
)


_FILE_LOCATION = re.compile(r"(/|\./|~/)[\w.-]+(/[\w.-]+)*/?")


def _locates_a_file(value: object) -> bool:
    """``GOOGLE_APPLICATION_CREDENTIALS: /var/run/key.json``: a path to a secret, not a secret."""
    return isinstance(value, str) and _FILE_LOCATION.fullmatch(value) is not None


_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@functools.lru_cache(maxsize=4096)  # the same few dozen keys in every template (job_setting, image, env names)
def is_secret_key(key: str) -> bool:
    norm = _NOT_ALNUM.sub("_", key.lower()).strip("_")
    if norm in _ALWAYS_SECRET_KEYS:
        return True
    if norm in _REFERENCE_KEYS or _REFERENCE_SUFFIX.search(norm):
        return False
    return bool(_SECRET_KEY.search(norm))


# Something each scan below needs in the text before it can find anything: the literal each pattern of
# _VALUE_PATTERNS starts with or holds ("-----BEGIN" and the options' "--", "=" of AccountKey= and of
# a base64 key's "==", ...), "eyJ" for a JSON web token, "login" for `docker login -p`, "=" for an
# assignment. Most values (names, paths, numbers, VM types) hold none of them: one search answers
# them (tests/validate/test_plaintext_linear.py generates each pattern's matches and checks them here).
_CLUES = re.compile(r"=|--|://|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|gh[pousr]_|github_pat_|xox|hf_|AIza|eyJ"
                    r"|\"private_key|sk-|login")


def looks_like_secret(text: str) -> str | None:
    """What kind of credential ``text`` contains, or None."""
    if _CLUES.search(text) is None:
        return None
    return _scan(text)


def _scan(text: str) -> str | None:
    """looks_like_secret, every pattern tried."""
    for what, pattern in _VALUE_PATTERNS:
        if pattern.search(text) if pattern is not None else _SCANNERS[what](text):
            return what
    logins = [m.end() for m in _LOGIN.finditer(text)]
    for start, after in zip(logins, logins[1:] + [len(text)]):
        stop = _COMMAND_END.search(text, start, after)
        if _LOGIN_PASSWORD.search(text, start, stop.start() if stop else after):
            return "a password given to `docker login -p`"
    for match in _ASSIGNMENT.finditer(text):
        if is_secret_key(match.group(1)):
            return f"a value assigned to {match.group(1)}"
    return None


def _has_jwt(text: str) -> bool:
    """Whether ``text`` holds a JSON web token, in time linear in ``len(text)``.

    The parts are the maximal runs of [A-Za-z0-9_-]; a token is three consecutive runs joined by
    single dots. Each run is read once and searched for a header start at most once.
    """
    if "eyJ" not in text:
        return False
    parts = [(m.start(), m.end()) for m in _JWT_PART.finditer(text)]
    for (h_start, h_end), (p_start, p_end), (s_start, s_end) in zip(parts, parts[1:], parts[2:]):
        if (p_start == h_end + 1 and s_start == p_end + 1 and text[h_end] == "." and text[p_end] == "."
                and p_end - p_start >= 11 and text.startswith("eyJ", p_start) and s_end - s_start >= 8
                and h_end - h_start >= 11 and _JWT_HEAD.search(text, h_start, h_end - 8)):
            return True
    return False


def _option_secret(text: str) -> bool:
    """Whether ``text`` gives a secret to a ``--password``-like option, in time linear in ``len(text)``.

    A value ends at the first whitespace, quote, ``$`` or backtick after it: a shorter run could not be
    followed by whitespace or its closing quote. Options packed into one word
    (``--password=.--password=.``...) share that end, so it is searched once per word, not once per
    option (as one regex, 20,000 such options took minutes).
    """
    scanned_from, value_end = -1, -1  # no value-ending character in text[scanned_from:value_end]
    for match in _OPTION.finditer(text):
        start = match.end()
        if not scanned_from <= start <= value_end:
            found = _VALUE_END.search(text, start)
            scanned_from, value_end = start, found.start() if found else len(text)
        if value_end - start < 3:
            continue
        quote, after = match.group(1), value_end
        if quote:
            if text[after:after + 1] != quote:
                continue
            after += 1
        if after == len(text) or _SPACE.match(text, after):
            return True
    return False


_SCANNERS = {"a JSON web token": _has_jwt, "a password or token given as a command-line option": _option_secret}


def _walk(value: Any, path: PathKey) -> Iterator[tuple[PathKey, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, path + (index,))


def check(doc: Document, issues: Collector, *, where: str = "a template") -> None:
    """Report every plaintext secret in ``doc`` (a template or pfgen.yaml)."""
    advice = (
        "secrets never go in " + where + ": put the value in a Kubernetes Secret (see `pfgen secrets`) and refer to it "
        "by credential_id; see docs/credentials.md"
    )
    for path, value in _walk(doc.data, ()):
        if isinstance(value, (dict, list)) or value is None or isinstance(value, bool) or value == "":
            continue
        key = path[-1] if path and isinstance(path[-1], str) else None
        if key is not None and is_secret_key(key) and not _locates_a_file(value):
            issues.error(doc.pos(path), f"'{key}' holds what looks like a secret; {advice}")
            continue
        if isinstance(value, str):
            what = looks_like_secret(value)
            if what:
                issues.error(doc.pos(path), f"this value contains {what}; {advice}")
