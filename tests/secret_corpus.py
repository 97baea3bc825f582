"""A corpus of planted secret shapes, and a scanner that looks for them in every decoded view of stored bytes.

Each shape is a value as a producer might send it (a string or a structure) holding secret fragments
that are unique to the shape, so a leak names the shape. The scanner decodes what it finds (gzip,
Parquet, JSON and base64 inside JSON, e.g. DSSE payloads) before searching.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shape:
    name: str
    value: Any
    secrets: tuple[str, ...]


def _u(i: int, width: int = 20, alphabet: str = "Q7xK2mP9vR4tW8zB3nC6") -> str:
    """A fragment unique to shape ``i``: letters and digits, ``width`` long."""
    head = f"Pl{i:03d}"
    body = (alphabet * (width // len(alphabet) + 1))[: width - len(head)]
    return head + body


def _upper(i: int, width: int) -> str:
    return (f"PL{i:03d}" + "Q7XK2MP9VR4TW8ZB3NC6" * 4)[:width]


def _hex(i: int, width: int) -> str:
    return (f"{i:03d}" + "a7f3c9e1b5d2" * 200)[:width]


def build_corpus() -> list[Shape]:
    shapes: list[Shape] = []

    def add(name: str, make: Any, *extra: str) -> None:
        i = len(shapes)
        secret = _u(i)
        value = make(secret, i)
        shapes.append(Shape(f"{i:03d}-{name}", value, (secret, *extra) if secret in json.dumps(value) else extra))

    # secret-named keys in structures, at any depth
    for key in ("password", "DB_PASSWORD", "passwd", "pwd", "aws_secret_access_key", "AWS_SESSION_TOKEN", "api_key",
                "apiKey", "X-Api-Key", "access_token", "refreshToken", "client_secret", "private_key", "secret", "token",
                "auth", "Authorization", "cookie", "session_id", "dsn", "connection_string", "signing_key",
                "encryption_key", "master_key", "AccountKey", "sas_token", "slack_webhook_url", "GITHUB_TOKEN",
                "HF_TOKEN", "credentials"):
        add(f"key {key}", lambda s, i, k=key: {k: s})
    add("key at depth 6", lambda s, i: {"a": {"b": [{"c": {"d": {"e": {"password": s}}}}]}})
    add("key in list of dicts", lambda s, i: [{"host": "db"}, {"user": "u", "password": s}])
    add("secret-named key holding a mapping", lambda s, i: {"credentials": {"user": "u", "value": s}})
    # JSON text inside a string (an Airflow connection's extra)
    add("JSON text", lambda s, i: json.dumps({"aws_secret_access_key": s, "region_name": "eu-west-1"}))
    add("JSON text, nested", lambda s, i: json.dumps({"extra": json.dumps({"token": s})}))
    add("JSON text with name/value list", lambda s, i: json.dumps([{"name": "DB_PASSWORD", "value": s}]))
    add("JSON text with a URI", lambda s, i: json.dumps({"endpoint": f"postgres://etl:{s}@db/x"}))
    add("JSON text, pretty", lambda s, i: json.dumps({"service_account": {"private_key": s}}, indent=2))
    add("JSON text, truncated", lambda s, i: '{"client_secret": "' + s + '", "cut')
    # name/value pairs
    add("name/value", lambda s, i: [{"name": "DB_PASSWORD", "value": s}, {"name": "HOST", "value": "db"}])
    add("Name/Value", lambda s, i: [{"Name": "API_TOKEN", "Value": s}])
    add("key/value", lambda s, i: [{"key": "secret_key", "value": s}])
    add("k8s env valueFrom", lambda s, i: [{"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": s}])
    add("CloudFormation parameter", lambda s, i: [{"ParameterKey": "DbPassword", "ParameterValue": s}])
    add("pair list", lambda s, i: [["API_TOKEN", s], ["EPOCHS", "3"]])
    add("pair tuple", lambda s, i: [("signing_key", s)])
    # key=value and friends in text
    for template in ("password={s}", "password: {s}", "PASSWORD = {s}", '"password": "{s}"', "'password': '{s}'",
                     "--password {s}", "--password={s}", "--api-key={s}", "export DB_PASSWORD={s}", "DB_PASSWORD={s} python train.py",
                     "https://h/x token={s}&y=1", "aws_secret_access_key={s};region=eu",
                     "Server=db;User Id=sa;Password={s};", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey={s};",
                     "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey={s}", "<password>{s}</password>",
                     "password:\n  {s}".replace("\n  ", " "), "client_secret = '{s}'", "secret: \"{s}\"", "-token {s}",
                     "sshpass -p {s} ssh host".replace("-p {s}", "--passphrase {s}")):
        add(f"text {template[:30]}", lambda s, i, t=template: t.format(s=s))
    add("quoted two words", lambda s, i: f"password='{s} W2rd{i:03d}b'", f"W2rd{len(shapes):03d}b")
    add("double-quoted two words", lambda s, i: f'password="{s} W2rd{i:03d}b"', f"W2rd{len(shapes):03d}b")
    add("quoted, unterminated", lambda s, i: f"password='{s} W2rd{i:03d}b")
    # auth headers
    add("Authorization: Basic", lambda s, i: "Authorization: Basic " + base64.b64encode(f"user:{s}".encode()).decode(),
        base64.b64encode(f"user:{_u(len(shapes))}".encode()).decode())
    add("Authorization: Bearer", lambda s, i: f"Authorization: Bearer {s}")
    add("Authorization: token", lambda s, i: f"Authorization: token {s}")
    add("Proxy-Authorization", lambda s, i: f"Proxy-Authorization: Basic {s}")
    add("X-Api-Key header", lambda s, i: f"X-Api-Key: {s}")
    add("Cookie header", lambda s, i: f"Cookie: session={s}")
    add("bearer in prose", lambda s, i: f"request failed with bearer {s} after 3 tries")
    add("headers mapping", lambda s, i: {"headers": {"Authorization": f"Basic {s}", "Accept": "json"}})
    # SQL
    for template in ("CREATE USER bob PASSWORD '{s}'", "CREATE USER bob WITH PASSWORD '{s}';",
                     "CREATE ROLE r LOGIN ENCRYPTED PASSWORD '{s}'", "ALTER USER bob IDENTIFIED BY {s};",
                     "CREATE USER 'u'@'%' IDENTIFIED BY '{s}'", "ALTER USER bob SET PASSWORD = '{s}'",
                     "COPY t FROM 's3://b/k' CREDENTIALS 'aws_access_key_id=AK;aws_secret_access_key={s}'",
                     "CREATE STAGE st URL='s3://b' CREDENTIALS=(AWS_KEY_ID='k' AWS_SECRET_KEY='{s}')",
                     "CREATE SECRET (TYPE S3, KEY_ID 'k', SECRET '{s}')", "create user x password \"{s}\""):
        add(f"SQL {template[:28]}", lambda s, i, t=template: t.format(s=s))
    # URIs
    for template in ("postgres://etl:{s}@db:5432/sales", "mysql://root:{s}@h/db", "mongodb+srv://app:{s}@c.mongodb.net/x",
                     "redis://:{s}@cache:6379/0", "amqp://u:{s}@mq/vhost", "https://{s}@github.com/o/r.git",
                     "https://h/p?token={s}", "https://h/cb#access_token={s}&state=1", "https://b.s3.amazonaws.com/k?X-Amz-Signature={s}",
                     "https://a.blob.core.windows.net/c/f?sv=2022&sig={s}", "https://api.example.com/v1?api_key={s}",
                     "jdbc:postgresql://h/db?user=u&password={s}", "ftp://u:{s}@files.example.com/x", "smtp://mail:{s}@smtp.example.com:587",
                     "see sftp://u:{s}@h/p for details", "postgresql://u:{s}with@sign@db/x",
                     "postgres://etl:S3cr#{s}@db.internal:5432", "mysql://etl:ab?{s}@db:3306/x"):
        add(f"URI {template[:28]}", lambda s, i, t=template: t.format(s=s))
    add("Slack webhook", lambda s, i: f"https://hooks.slack.com/services/T{i:03d}AB/B{i:03d}CD/{s}")
    add("Discord webhook", lambda s, i: f"https://discord.com/api/webhooks/12345{i:03d}/{s}")
    add("Teams webhook", lambda s, i: f"https://acme.webhook.office.com/webhookb2/{s}@x/IncomingWebhook/y")
    # token formats in free text (no marker around them)
    tokens = {
        "AWS AKIA": lambda i: "AKIA" + _upper(i, 16), "AWS ASIA": lambda i: "ASIA" + _upper(i, 16),
        "GitHub ghp": lambda i: "ghp_" + _u(i, 36), "GitHub fine-grained": lambda i: "github_pat_" + _u(i, 60),
        "GitLab": lambda i: "glpat-" + _u(i, 20), "Slack bot": lambda i: f"xoxb-{i:03d}123-456-" + _u(i, 24),
        "Slack user": lambda i: f"xoxp-{i:03d}123-" + _u(i, 30), "Google API": lambda i: "AIza" + _u(i, 35),
        "Google OAuth": lambda i: "ya29." + _u(i, 60), "Stripe live": lambda i: "sk_live_" + _u(i, 24),
        "Stripe restricted": lambda i: "rk_live_" + _u(i, 24), "OpenAI": lambda i: "sk-proj-" + _u(i, 40),
        "Anthropic": lambda i: "sk-ant-api03-" + _u(i, 40), "SendGrid": lambda i: "SG." + _u(i, 22) + "." + _u(i, 43),
        "Hugging Face": lambda i: "hf_" + _u(i, 34), "npm": lambda i: "npm_" + _u(i, 36),
        "PyPI": lambda i: "pypi-AgEIcHlwaS5vcmc" + _u(i, 50), "Databricks": lambda i: "dapi" + _hex(i, 32).replace("dapi", ""),
        "Shopify": lambda i: "shpat_" + _hex(i, 32), "Telegram": lambda i: f"12345{i:03d}:AA" + _u(i, 33),
        "JWT": lambda i: "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOi" + _u(i, 20) + "." + _u(i, 30),
        "Stripe webhook secret": lambda i: "whsec_" + _u(i, 32), "DigitalOcean": lambda i: "dop_v1_" + _hex(i, 64),
        "opaque base64 blob": lambda i: base64.b64encode(bytes(range(256)) * 2).decode()[:150] + _u(i, 20),
        "opaque hex key": lambda i: _hex(i, 256),
    }
    for name, make in tokens.items():
        i = len(shapes)
        token = make(i)
        shapes.append(Shape(f"{i:03d}-token {name}", f"the job used {token} and then stopped", (token,)))
    for kind in ("RSA", "OPENSSH", "EC", "ENCRYPTED"):
        i = len(shapes)
        body = _u(i, 64)
        pem = f"-----BEGIN {kind} PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n{body}\n{body[::-1]}\n-----END {kind} PRIVATE KEY-----"
        shapes.append(Shape(f"{i:03d}-PEM {kind}", f"key file:\n{pem}\nend", (body, body[::-1])))
    return shapes


CORPUS = build_corpus()
ALL_SECRETS = sorted({s for shape in CORPUS for s in shape.secrets})


# -- scanning ---------------------------------------------------------------------------------------
def decoded_views(data: bytes, depth: int = 0) -> Iterator[bytes]:
    """``data`` and what it decodes to: gzip members, Parquet tables (as JSON rows), JSON (unescaped) and
    the base64 strings inside JSON (e.g. a DSSE payload), recursively."""
    yield data
    if depth > 3:
        return
    if data[:2] == b"\x1f\x8b":
        try:
            yield from decoded_views(gzip.decompress(data), depth + 1)
        except (OSError, EOFError):
            pass
    if data[:4] == b"PAR1":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        yield json.dumps(table.to_pylist(), default=str, ensure_ascii=False).encode()
        yield json.dumps(table.schema.to_string(show_schema_metadata=True)).encode()
    for doc in _json_docs(data):
        yield json.dumps(doc, ensure_ascii=False).encode()
        for text in _strings(doc):
            if len(text) >= 16 and len(text) % 4 == 0:
                try:
                    yield from decoded_views(base64.b64decode(text, validate=True), depth + 1)
                except (binascii.Error, ValueError):
                    pass


def _json_docs(data: bytes) -> Iterator[Any]:
    try:
        yield json.loads(data)
        return
    except (ValueError, UnicodeDecodeError):
        pass
    for line in data.splitlines():
        if line.strip()[:1] in (b"{", b"["):
            try:
                yield json.loads(line)
            except (ValueError, UnicodeDecodeError):
                pass


def _strings(doc: Any) -> Iterator[str]:
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def leaks(blobs: dict[str, bytes], secrets: list[str] = ALL_SECRETS) -> list[str]:
    """``"<secret> in <name>"`` for every secret found in any decoded view of any blob."""
    found = []
    for name, data in blobs.items():
        for view in decoded_views(data):
            for secret in secrets:
                if secret.encode() in view:
                    found.append(f"{secret} in {name}")
    return sorted(set(found))


def shape_of(secret: str) -> str:
    return next(shape.name for shape in CORPUS if secret in shape.secrets)
