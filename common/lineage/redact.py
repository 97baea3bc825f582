"""Keep secrets out of events: redact URIs, free text and mappings (parameters, config, environment)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

REDACTED = "***"

# Words that make a key (or query parameter) secret wherever they appear in its name.
_SECRET_WORDS = {
    "password", "passwd", "pwd", "pass", "passphrase", "secret", "secrets", "token", "tokens",
    "credential", "credentials", "creds", "signature", "sig", "auth", "authorization", "cookie",
    "session", "apikey", "sas", "dsn", "privatekey", "accesskey", "secretkey", "connstr",
}
# "key" is secret on its own or after one of these (api_key, access_key, signing_key...), not in
# names such as "partition_key" or "s3_key" (an object key).
_KEY_QUALIFIERS = {"api", "access", "private", "secret", "signing", "encryption", "master", "account", "client", "shared", "sas", "ssh"}
_CONNECTION_WORDS = ("connection", "conn")

# Azure storage URIs name their container where other URIs carry a user: ``abfss://<container>@<account>...``.
CONTAINER_SCHEMES = frozenset({"abfss", "abfs", "wasbs", "wasb"})

_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_URI = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>]+")
_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^/?#@:]+):(?P<password>[^@?#]+)@(?P<rest>.*)$", re.S)
_ASSIGNMENT = re.compile(r"(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)(?P<sep>\s*[=:]\s*)(?P<quote>['\"]?)(?P<value>[^\s'\";&,]+)")
_PATTERNS = [
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),  # AWS access key ids
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]+=*"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat|glpat|xox[abprs])[-_][A-Za-z0-9_\-]{10,}\b"),
]


def is_secret_key(name: str) -> bool:
    """True when a key, variable or parameter name says its value is a secret."""
    words = [w.lower() for w in _WORD.findall(str(name))]
    if any(w in _SECRET_WORDS for w in words):
        return True
    joined = "".join(words)
    if any(w in joined for w in ("password", "secret", "token", "credential", "apikey", "privatekey")):
        return True
    if "key" in words:
        at = words.index("key")
        return len(words) == 1 or (at > 0 and words[at - 1] in _KEY_QUALIFIERS)
    return any(w in words for w in _CONNECTION_WORDS) and ("string" in words or "uri" in words or "url" in words)


def redact_uri(uri: str) -> str:
    """``uri`` without credentials: the password (or a lone user token) and secret query values become ``***``.
    The container of an Azure storage URI (``abfss://container@account...``) is not a credential and stays."""
    text = str(uri)
    userinfo = _USERINFO.match(text)
    if userinfo:  # user:password@host, where the password may hold characters that confuse urlsplit
        text = f"{userinfo['scheme']}{userinfo['user']}:{REDACTED}@{userinfo['rest']}"
    try:
        parts = urlsplit(text)
    except ValueError:
        return redact_text(text)
    if not parts.scheme or "://" not in text:
        return _redact_patterns(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        if has_password and user:
            netloc = f"{quote(user, safe='%')}:{REDACTED}@{hostport}"
        elif not (parts.scheme.lower() in CONTAINER_SCHEMES and user and not has_password):
            netloc = f"{REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_key(k) for k, _ in pairs):
            query = urlencode([(k, REDACTED if is_secret_key(k) else v) for k, v in pairs], safe="*")
    rest = urlunsplit(("", "", parts.path, query, parts.fragment))
    return _redact_patterns(f"{parts.scheme}://{netloc}{rest}")  # keeps an empty authority ("inmemory://")


def redact_text(text: str) -> str:
    """Free text (messages, command lines, connection strings) with URIs, ``key=value`` secrets and
    well-known credential patterns (AWS key ids, bearer tokens, private keys) redacted."""
    text = _redact_patterns(_URI.sub(lambda m: redact_uri(m.group(0)), str(text)))
    return _ASSIGNMENT.sub(_redact_assignment, text)


def redact_value(value: Any) -> Any:
    """A JSON-ready copy of ``value`` with secrets redacted (mappings by key, strings by content)."""
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [redact_value(v) for v in items]
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact_text(str(value))


def redact_mapping(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """A JSON-ready copy of ``mapping`` in which every value under a secret-looking key is ``***``
    and every other string is passed through :func:`redact_text` (recursively)."""
    return {
        str(k): (REDACTED if is_secret_key(str(k)) and v not in (None, "") else redact_value(v))
        for k, v in mapping.items()
    }


def _redact_assignment(match: re.Match[str]) -> str:
    if not is_secret_key(match.group("key")) or match.group("value") == REDACTED:
        return match.group(0)
    return f"{match.group('key')}{match.group('sep')}{match.group('quote')}{REDACTED}"


def _redact_patterns(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text
