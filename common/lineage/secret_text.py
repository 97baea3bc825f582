"""Secrets in text, recognised by their shape: secret-named keys, auth headers, SQL, URIs, token formats.

Every pattern has bounded quantifiers and is anchored by a look-behind, so one pass over a string costs
time linear in its length whatever the input (no pattern can backtrack over an unbounded run).
"""
from __future__ import annotations

import functools
import math
import re
from collections import Counter
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

REDACTED = "***"
MAX_SECRET = 4096  # characters of one quoted or unquoted secret value that a pattern reaches

# Words that make a key (or query parameter) secret wherever they appear in its name.
_SECRET_WORDS = {
    "password", "passwd", "pwd", "pass", "passphrase", "secret", "secrets", "token", "tokens",
    "credential", "credentials", "creds", "signature", "sig", "auth", "authorization", "cookie",
    "session", "apikey", "sas", "dsn", "privatekey", "accesskey", "secretkey", "connstr", "webhook",
}
# "key" is secret on its own or after one of these (api_key, access_key, signing_key...), not in
# names such as "partition_key" or "s3_key" (an object key).
_KEY_QUALIFIERS = {"api", "access", "private", "secret", "signing", "encryption", "master", "account", "client",
                   "shared", "sas", "ssh", "x"}
_CONNECTION_WORDS = ("connection", "conn")
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

_KEY_CHARS = r"A-Za-z0-9_.\-"
_VALUE = re.compile(rf"(?:\\{{1,7}}\"[^\"\\\n]{{0,{MAX_SECRET}}}(?:\\{{1,7}}\")?"  # \"value\" (JSON inside a JSON string)
          rf"|'[^'\\\n]{{0,{MAX_SECRET}}}'?"  # 'two words' (an unterminated quote runs to the line's end)
          rf"|\"[^\"\\\n]{{0,{MAX_SECRET}}}\"?"
          rf"|(?i:basic|bearer|token|digest|negotiate|ntlm|aws4-hmac-sha256|sharedkey)[ \t]{{1,8}}[^\s'\";&,]{{1,{MAX_SECRET}}}"
          rf"|[^\s'\";&,]{{1,{MAX_SECRET}}})")
# key=value, key: value, "key": "value", --key=value, XML-ish <key>value</key> is below
_ASSIGNMENT = re.compile(
    rf"(?<![{_KEY_CHARS}])(?P<kq>\\{{0,7}}[\"']|)(?P<key>-{{0,2}}[A-Za-z_][{_KEY_CHARS}]{{0,63}})(?P=kq)"
    rf"[ \t]{{0,8}}(?:=|:(?!//))[ \t]{{0,8}}"
)
# --password hunter2, -token abc (a command-line flag and its separate argument)
_FLAG = re.compile(rf"(?<![{_KEY_CHARS}])(?P<key>--?[A-Za-z][{_KEY_CHARS}]{{0,63}})[ \t]{{1,8}}(?!-)")
# SQL and prose: PASSWORD 'x', IDENTIFIED BY x, SECRET 'x' (PASSWORD = 'x' is an assignment)
_SQL = re.compile(
    rf"(?i)(?<![{_KEY_CHARS}])(?P<key>identified[ \t]{{1,8}}by|password|passwd|secret|credentials|token)"
    rf"(?P<sep>[ \t]{{1,8}})(?P<value>'[^'\n]{{0,{MAX_SECRET}}}'?|\"[^\"\n]{{0,{MAX_SECRET}}}\"?)"
)
_IDENTIFIED_BY = re.compile(rf"(?i)(?<![{_KEY_CHARS}])(?P<key>identified[ \t]{{1,8}}by)(?P<sep>[ \t]{{1,8}})(?P<value>[^\s'\";,)]{{1,{MAX_SECRET}}})")
_QUOTE = re.compile(r"\\*[\"']")
_XML = re.compile(rf"<(?P<key>[A-Za-z_][{_KEY_CHARS}:]{{0,63}})>")
_XML_VALUE = re.compile(rf"[^<]{{1,{MAX_SECRET}}}(?=</)")
# (key and separator, the value after it): only the value after a secret-named key is matched and redacted
_KEYED = ((_ASSIGNMENT, _VALUE), (_FLAG, _VALUE), (_XML, _XML_VALUE))
_URI = re.compile(r"(?<![A-Za-z0-9+.\-])[a-zA-Z][a-zA-Z0-9+.\-]{0,31}://[^\s'\"<>]{1,65536}")
_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^/?#@:]+):(?P<password>(?!\d+(?:[/?#]|$))[^@]+)@(?P<rest>.*)$", re.S)
# Well-known token formats, in one pattern (one pass); a match that starts inside a word is left alone.
_DISTINCT_TOKENS = [  # formats whose prefix starts no ordinary word: the same in free text and in names
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])",  # AWS key ids
    r"(?:xox[abposre]|xapp|shpat|shpss|shpca|whsec|sq0atp|sq0csp|dop_v1|doo_v1)[-_][A-Za-z0-9_\-]{10,512}",
    r"pypi-AgE[A-Za-z0-9_\-]{20,2048}",
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API keys
    r"dapi[0-9a-f]{32}(?![0-9a-f])",  # Databricks
    r"ya29\.[0-9A-Za-z_\-]{20,2048}",  # Google OAuth access tokens
    r"eyJ[A-Za-z0-9_\-]{4,8192}\.[A-Za-z0-9_\-]{4,8192}\.[A-Za-z0-9_\-]{0,8192}",  # JWT
    r"[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}",  # Telegram bot tokens
]
_TOKENS = re.compile("|".join([
    *_DISTINCT_TOKENS,
    r"(?i:bearer)[ \t]{1,8}[A-Za-z0-9._~+/\-]{1,8192}=*",
    r"(?:hf|npm|sk_live|sk_test|rk_live|rk_test|ghp|gho|ghu|ghs|ghr|github_pat|glpat|gldt|glrt)[-_][A-Za-z0-9_\-]{10,512}",
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,512}",  # OpenAI / Anthropic-style API keys
    r"SG\.[A-Za-z0-9_\-]{16,64}\.[A-Za-z0-9_\-]{16,64}",  # SendGrid
]))
# The formats whose prefix starts ordinary words, as taken in a dataset's or job's namespace or name, where a loose
# prefix would take words (``hf_train_split``, ``npm_packages``, ``sk-learn-models``, ``ghs_data_export``, a job
# ``audit bearer tokens``)
# and record two names as one: there they take only their vendor's body (length and alphabet), and a body in a
# group ``b<n>`` must also look issued (see :func:`_random_body`).
_NAME_TOKENS = re.compile("|".join([
    *_DISTINCT_TOKENS,
    r"(?i:bearer)[ \t]{1,8}(?P<b0>[A-Za-z0-9._~+/\-]{16,8192}=*)",
    r"hf_(?P<b1>[A-Za-z0-9]{34})(?![A-Za-z0-9])",  # Hugging Face: hf_ and 34 letters
    r"npm_(?P<b2>[A-Za-z0-9]{36})(?![A-Za-z0-9])",  # npm: npm_ and 36 base62 characters
    r"gh[pousr]_(?P<b5>[A-Za-z0-9]{30,251})(?![A-Za-z0-9])",  # GitHub: ghp_ and 36 base62 characters (30 or more here)
    r"github_pat_(?P<b6>[A-Za-z0-9_]{22,255})(?![A-Za-z0-9_])",  # GitHub fine-grained
    r"gl(?:pat|dt|rt)-(?P<b7>[A-Za-z0-9_\-]{20,255})(?![A-Za-z0-9_\-])",  # GitLab: glpat- and 20 or more
    r"[sr]k_(?:live|test)_(?P<b3>[A-Za-z0-9]{20,247})(?![A-Za-z0-9])",  # Stripe
    # OpenAI (a legacy key holds T3BlbkFJ, "OpenAI" in base64), its project, service and admin keys, Anthropic
    # (sk-ant-api03-...), and the sk- keys of 32 or more base62 characters other vendors issue
    r"sk-(?:(?:proj|svcacct|admin)-|ant-[a-z]{1,8}[0-9]{2}-)?(?P<b4>[A-Za-z0-9_\-]{32,512})(?![A-Za-z0-9_\-])",
    r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])",  # SendGrid
]))
_PEM_BODY = r"[A-Za-z0-9+/=\s]{0,65536}"
_PRIVATE_KEY = re.compile(r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----" + _PEM_BODY
                          + r"(?:[A-Za-z\-]{1,32}:[^\n]{0,256}\n" + _PEM_BODY + r"){0,4}"
                          r"(?:-----END[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?")
# Webhook URLs whose path is the credential: (marker that must be in the text, pattern of the secret part)
_WEBHOOKS = [
    ("hooks.slack.com", re.compile(r"(?i)(?<=hooks\.slack\.com/)(?:services|workflows|triggers)/[A-Za-z0-9/_\-]{1,512}")),
    ("/webhooks/", re.compile(r"(?i)(?<=/api/webhooks/)[0-9]{1,32}/[A-Za-z0-9_\-]{1,512}")),  # Discord
    ("webhook.office.com", re.compile(r"(?i)(?<=\.webhook\.office\.com/)[A-Za-z0-9/@_\-]{1,2048}")),  # Teams
]
# A long unbroken run of base64/hex characters that mixes letters and digits is key material, not prose.
_OPAQUE = re.compile(r"(?<![A-Za-z0-9+/=_\-])[A-Za-z0-9+/=_\-]{129,}")  # longer than a SHA-512 hex digest
_OPAQUE_ENTROPY = 3.0  # bits per character; English-like identifiers and paths stay below, hex and base64 above


def is_secret_key(name: str) -> bool:
    """True when a key, variable or parameter name says its value is a secret (any part of it: a long name ending in
    ``_password`` is one; the name is read in one linear pass, bounded by the event that holds it)."""
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


# Azure storage URIs name their container where other URIs carry a user: ``abfss://<container>@<account>...``.
CONTAINER_SCHEMES = frozenset({"abfss", "abfs", "wasbs", "wasb"})


def redact_uri(uri: str) -> str:
    """``uri`` without credentials: the password (or a lone user token) and secret query values become ``***``.
    The container of an Azure storage URI (``abfss://container@account...``) is not a credential and stays."""
    return _redact_uri(str(uri), shapes=True)


def redact_identity(text: str) -> str:
    """A dataset's or job's namespace or name with its credentials redacted, as :func:`redact_uri` does (a URI's
    password or lone user token, secret-named query and fragment values, also of a name that is no URI, and
    well-known token formats), but not long opaque runs, which an ordinary long file name can be: ``***`` in place of
    one would make ``/data/<long name>1.parquet`` and ``/data/<long name>2.parquet`` one dataset, ``***.parquet``."""
    return _redact_uri(str(text), shapes=False)


def redact_namespace(namespace: str) -> str:
    """A dataset's or job's namespace as :func:`redact_identity` gives it, without any user information
    (``scheme://user:pw@host`` -> ``scheme://host``): the OpenLineage naming spec puts no credentials in a namespace,
    so one database is one namespace whoever names it. An Azure container (``abfss://container@account...``) is part
    of the name and stays."""
    text = redact_identity(namespace)
    if "://" not in text:
        return text
    scheme, authority, rest = split_authority(text)
    user, at, host = authority.rpartition("@")
    if not at or (scheme.lower() in CONTAINER_SCHEMES and REDACTED not in authority):
        return text
    return f"{scheme}://{host}{rest}"  # all else as written


def _redact_uri(text: str, *, shapes: bool) -> str:
    """``text`` as :func:`redact_uri` gives it; without ``shapes``, as :func:`redact_identity` does."""
    userinfo = _USERINFO.match(text) if len(text) <= 65536 else None
    if userinfo:  # user:password@host, where the password may hold characters that confuse urlsplit
        text = f"{userinfo['scheme']}{userinfo['user']}:{REDACTED}@{userinfo['rest']}"
    try:
        parts = _split_as_written(text)
    except ValueError:  # an authority urlsplit refuses ("[::1" with no "]"), or a text it would alter: taken apart here
        return _redact_shapes(_redact_authority(text)) if shapes else redact_tokens(_redact_name_query(_redact_authority(text)), opaque=False)
    if not parts.scheme or text[len(parts.scheme):len(parts.scheme) + 3] != "://":  # "a:b://c": no authority
        return redact_tokens(text if shapes else _redact_name_query(text), opaque=shapes)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        if has_password and user:
            netloc = f"{quote(user, safe='%')}:{REDACTED}@{hostport}"
        elif not (parts.scheme.lower() in CONTAINER_SCHEMES and user):
            netloc = f"{REDACTED}@{hostport}"
    scheme, _, rest = split_authority(text)  # as written: urlunsplit would lower-case the scheme, drop an empty ? or #
    query, fragment = _redact_query(parts.query), _redact_query(parts.fragment)
    if (query, fragment) != (parts.query, parts.fragment):
        head, hash_mark, _ = rest.partition("#")
        rest = f"{parts.path}{head.partition('?')[1]}{query}{hash_mark}{fragment}"
    return redact_tokens(f"{scheme}://{netloc}{rest}", opaque=shapes)  # keeps an empty authority ("inmemory://")


_ALTERED_BY_URLSPLIT = re.compile(r"^[\x00-\x20]|[\t\r\n]")


def _split_as_written(text: str) -> SplitResult:
    """``urlsplit(text)``, or ValueError where urlsplit would read another text: it removes tabs and line breaks
    anywhere and blanks or control characters before the scheme, so ``s3://la\\nke`` would be redacted as
    ``s3://lake``, another namespace."""
    if _ALTERED_BY_URLSPLIT.search(text):
        raise ValueError(f"{text!r} is not a URI as written")
    return urlsplit(text)


def _redact_name_query(name: str) -> str:
    """A name that is no URI (``k.csv?X-Amz-Signature=...``) with the secret-named values of its query and
    fragment (after its first ``?`` or ``#``) redacted; its path stays as written."""
    cut = next((i for i, c in enumerate(name) if c in "?#"), None)
    if cut is None or "=" not in name:
        return name
    head, mark, tail = name[:cut], name[cut], name[cut + 1 :]
    query, hash_mark, fragment = tail.partition("#") if mark == "?" else ("", "", tail)
    redacted = f"?{_redact_query(query)}{hash_mark}" if mark == "?" else "#"
    return f"{head}{redacted}{_redact_query(fragment)}"


def redact_text(text: str) -> str:
    """Free text (messages, command lines, SQL, headers, connection strings) with secrets redacted:
    URIs, ``key=value`` / ``key: "value"`` / ``--key value`` / ``<key>value</key>`` under secret-named
    keys, SQL passwords, auth headers, well-known token formats and long opaque key material."""
    text = str(text)
    if "://" in text:
        text = _URI.sub(lambda m: redact_uri(m.group(0)), text)
    return _redact_shapes(text)


def _redact_shapes(text: str) -> str:
    """``text`` with every secret :func:`redact_text` finds redacted but those inside URIs."""
    text = redact_tokens(text)
    for marker, (keys, values) in zip(("=:", "-", "<"), _KEYED):
        if any(m in text for m in marker):
            text = _redact_keyed(text, keys, values)
    if "'" in text or '"' in text:
        text = _SQL.sub(_redact_sql, text)
    if "y" in text or "Y" in text:
        text = _IDENTIFIED_BY.sub(_redact_sql, text)
    return text


def redact_tokens(text: str, *, opaque: bool = True) -> str:
    """``text`` with well-known token formats, webhook URLs, private keys and (unless not ``opaque``) long opaque
    key material replaced by ``***``. Without ``opaque`` the text is a name: token formats are taken only with
    their vendor's body (``hf_train_split`` and ``sk-learn-models`` are words, not tokens)."""
    text = _TOKENS.sub(_redact_token, _OPAQUE.sub(_redact_opaque, text)) if opaque else _NAME_TOKENS.sub(_redact_name_token, text)
    if "PRIVATE KEY" in text:
        text = _PRIVATE_KEY.sub(REDACTED, text)
    lowered = text.lower() if "ook" in text else ""
    for marker, pattern in _WEBHOOKS:
        if marker in lowered:
            text = pattern.sub(REDACTED, text)
    return text


def split_authority(uri: str) -> tuple[str, str, str]:
    """``(scheme, authority, rest)`` of ``scheme://authority/rest...`` by its delimiters alone (no check of either
    part, unlike urlsplit); ``rest`` starts at the first ``/``, ``?`` or ``#`` after the authority."""
    scheme, _, tail = uri.partition("://")
    end = next((i for i, c in enumerate(tail) if c in "/?#"), len(tail))
    return scheme, tail[:end], tail[end:]


def _redact_authority(uri: str) -> str:
    """``uri`` (``scheme://...``, not one urlsplit takes) with the user part of its authority redacted."""
    scheme, authority, rest = split_authority(uri)
    user, at, host = authority.rpartition("@")
    if not at or user.endswith(f":{REDACTED}") or (scheme.lower() in CONTAINER_SCHEMES and ":" not in user):
        return uri
    return f"{scheme}://{REDACTED}@{host}{rest}"


def _redact_query(query: str) -> str:
    if not query or "=" not in query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(is_secret_key(k) for k, _ in pairs):
        return query
    return urlencode([(k, REDACTED if is_secret_key(k) else v) for k, v in pairs], safe="*")


def _redact_keyed(text: str, keys: re.Pattern[str], values: re.Pattern[str]) -> str:
    """``text`` with the value after each secret-named key redacted. Keys are found in one pass; a value
    is matched only after a secret key, and keys inside a redacted value are skipped, so the cost is linear."""
    out: list[str] = []
    done = 0
    for key in keys.finditer(text):
        if key.start() < done or not _is_secret_cached(key.group("key").lstrip("-")):
            continue
        value = values.match(text, key.end())
        if value is None or value.group(0).strip("\\'\"") in ("", REDACTED):
            continue
        quote_mark = _QUOTE.match(value.group(0))
        out += [text[done : key.end()], f"{quote_mark.group(0)}{REDACTED}{quote_mark.group(0)}" if quote_mark else REDACTED]
        done = value.end()
    return "".join(out) + text[done:] if out else text


@functools.lru_cache(maxsize=4096)
def _is_secret_cached(name: str) -> bool:
    return is_secret_key(name)


def _redact_sql(match: re.Match[str]) -> str:
    value = match.group("value")
    if value.strip(" \t'\"") in ("", REDACTED):
        return match.group(0)
    quote_mark = value[0] if value[0] in "'\"" else ""
    return f"{match.group('key')}{match.group('sep')}{quote_mark}{REDACTED}{quote_mark}"


def _redact_token(match: re.Match[str]) -> str:
    start = match.start()
    if start and match.string[start - 1].isalnum():  # inside a word ("disk-..."), not a token
        return match.group(0)
    return REDACTED


def _redact_name_token(match: re.Match[str]) -> str:
    body = next((part for group, part in match.groupdict().items() if part is not None), None)
    return match.group(0) if body is not None and not _random_body(body) else _redact_token(match)


def _random_body(body: str) -> bool:
    """True when a token's body looks issued, not written: it mixes two of capitals, small letters and digits in an
    unbroken run of 16 characters (or half the body), or all three in a run of 8 (``Learn-Models-2024-01-01`` and
    ``learn_models_for_churn_2024`` are words, and so is ``learn-models-2024-01-01-randomforestclassifier``, whose
    long run holds small letters only; a random base64url body of 32 characters passes 997 times in 1,000)."""
    long = min(16, len(body) // 2)
    for run in re.split(r"[^A-Za-z0-9]", body):
        kinds = sum(any(test(c) for c in run) for test in (str.isupper, str.islower, str.isdigit))
        if (kinds >= 2 and len(run) >= long) or (kinds == 3 and len(run) >= 8):
            return True
    return False


def _redact_opaque(match: re.Match[str]) -> str:
    run = match.group(0)
    if not (any(c.isdigit() for c in run) and any(c.isalpha() for c in run)):
        return run
    if max(len(part) for part in run.split("/")) < 48:  # a path of short segments
        return run
    counts = Counter(run)
    entropy = -sum(n / len(run) * math.log2(n / len(run)) for n in counts.values())
    return REDACTED if entropy >= _OPAQUE_ENTROPY else run
