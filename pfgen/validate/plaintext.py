"""Refuse plaintext secrets in templates and pfgen.yaml.

Templates and the project config are committed to Git; a secret in them is a leak. Two
checks, both reported at the value's position:

* a non-empty scalar under a key that names a secret (password, token, api_key, secret,
  access_key, private_key, ...), e.g. ``docker.env_var.WANDB_API_KEY: 0123...``;
* a string that looks like a credential whatever its key: a PEM private key, an AWS
  access key id, a GitHub / Slack / Hugging Face / Google token, a JWT, an Azure storage
  connection string or key, or a ``NAME_WITH_SECRET_WORD=value`` assignment in a command.

Keys that *refer* to a secret without holding it (``credential_id``, ``secret_name``,
``*_file``, ``*_path`` ...) are fine.
"""

from __future__ import annotations

import re

from pfgen.errors import Collector
from pfgen.load.document import Document, PathKey

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator

_SECRET_WORDS = r"password|passwd|passphrase|token|api_?key|secret|secret_?key|access_?key|private_?key|client_?secret|auth_?key|account_?key|storage_?key|connection_?string"
_SECRET_KEY = re.compile(rf"(^|_)({_SECRET_WORDS})($|_)")
# A key ending like this names or locates a secret rather than holding one.
_REFERENCE_SUFFIX = re.compile(r"(_id|_name|_ref|_file|_path|_dir|_mode|_env|_var|_type|_kind|_length|_len|_size)$")
_REFERENCE_KEYS = {"credential", "credentials", "secrets", "secret_name", "credential_id", "secret_ref", "remote_key"}
# Well-known access key id formats are credentials even though the key says "_id".
_ALWAYS_SECRET_KEYS = {"aws_access_key_id"}

_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN ([A-Z0-9 ]+ )?PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("an Azure storage key", re.compile(r"AccountKey=[A-Za-z0-9+/]{20,}|(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])")),
    ("a service-account key", re.compile(r'"private_key"\s*:\s*"')),
)
# `export WANDB_API_KEY=abc123`, `--password hunter2` style assignments inside commands.
_ASSIGNMENT = re.compile(
    r"\b([A-Za-z_][A-Za-z0-9_]*)=(?!\$)(['\"]?)([^\s'\"$`]{6,})\2",
)


def is_secret_key(key: str) -> bool:
    norm = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")
    if norm in _ALWAYS_SECRET_KEYS:
        return True
    if norm in _REFERENCE_KEYS or _REFERENCE_SUFFIX.search(norm):
        return False
    return bool(_SECRET_KEY.search(norm))


def looks_like_secret(text: str) -> str | None:
    """What kind of credential ``text`` contains, or None."""
    for what, pattern in _VALUE_PATTERNS:
        if pattern.search(text):
            return what
    for match in _ASSIGNMENT.finditer(text):
        if is_secret_key(match.group(1)):
            return f"a value assigned to {match.group(1)}"
    return None


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
        if key is not None and is_secret_key(key):
            issues.error(doc.pos(path), f"'{key}' holds what looks like a secret; {advice}")
            continue
        if isinstance(value, str):
            what = looks_like_secret(value)
            if what:
                issues.error(doc.pos(path), f"this value contains {what}; {advice}")
