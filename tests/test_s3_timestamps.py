"""The timestamps of S3's answers, read by tdprov's clients without dateutil's parser: the same datetimes (and tzinfo)
as botocore's ``parse_timestamp``, on a table of inputs and through a real client against moto's S3 server."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import botocore.parsers
import dateutil.parser
import pytest
from botocore.utils import parse_timestamp

from prov_common.store.s3 import fresh_s3_client
from prov_common.store.s3_time import parse_s3_timestamp

# The forms S3 sends: read without dateutil's parser.
S3_FORMS = [
    "2026-12-07T23:10:54.000Z", "2026-12-07T23:10:54Z", "2026-12-07T23:10:54.5Z", "2026-12-07T23:10:54.12Z",
    "2026-12-07T23:10:54.123Z", "2026-12-07T23:10:54.1234Z", "2026-12-07T23:10:54.12345Z",
    "2026-12-07T23:10:54.123456Z", "2026-12-07T23:10:54+00:00", "2026-12-07T23:10:54-00:00",
    "2026-12-07T23:10:54+02:00", "2026-12-07T23:10:54.250-09:30", "2026-12-07T23:10:54+05:45",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2028-02-29T12:00:00Z",
    "Mon, 07 Dec 2026 23:10:54 GMT", "Sun, 6 Dec 2026 00:00:00 GMT", "Fri, 07 Dec 2026 23:10:54 GMT",  # a wrong weekday, as botocore reads it
]
# Anything else: botocore's parser reads it.
FALLBACKS: list[Any] = [
    1765149054, 1765149054.25, 0, "1765149054", "1765149054.5", "2026-12-07 23:10:54", "2026-12-07T23:10:54",
    "2026-12-07", "20261207T231054Z", "2026-12-07T23:10:54.1234567Z", "2026-12-07T23:10:54+0200",
    "2026-12-07t23:10:54z", "Mon, 07 Dec 2026 23:10:54 UTC", "Monday, 07-Dec-26 23:10:54 GMT",
]
INVALID = ["2026-13-07T23:10:54Z", "2026-02-30T23:10:54Z", "2026-12-07T24:00:00Z", "Mon, 31 Feb 2026 23:10:54 GMT",
           "not a time"]


def _same(ours: Any, botocores: Any) -> None:
    assert ours == botocores and ours.utcoffset() == botocores.utcoffset()
    assert type(ours.tzinfo) is type(botocores.tzinfo)
    assert repr(ours) == repr(botocores) and ours.isoformat() == botocores.isoformat()


@pytest.fixture
def dateutil_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The values given to dateutil's parser (botocore's ``parse_timestamp`` reads text through it)."""
    seen: list[str] = []
    parse = dateutil.parser.parse

    def counted(value: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(value)
        return parse(value, *args, **kwargs)

    monkeypatch.setattr(dateutil.parser, "parse", counted)
    return seen


@pytest.fixture(params=["", "UTC", "Europe/Berlin", "America/New_York"])
def local_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The process's local time zone (dateutil gives UTC ``tzlocal()`` where the local zone is named UTC)."""
    if request.param:
        monkeypatch.setenv("TZ", request.param)
    else:
        monkeypatch.delenv("TZ", raising=False)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("value", S3_FORMS)
def test_what_s3_sends_is_read_as_botocore_reads_it_without_dateutil(value: str, local_zone: str,
                                                                   dateutil_parses: list[str]) -> None:
    ours = parse_s3_timestamp(value)
    assert dateutil_parses == [] and ours.tzinfo is not None
    _same(ours, parse_timestamp(value))


@pytest.mark.parametrize("value", FALLBACKS)
def test_other_values_are_left_to_botocores_parser(value: Any, local_zone: str) -> None:
    _same(parse_s3_timestamp(value), parse_timestamp(value))


@pytest.mark.parametrize("value", INVALID)
def test_what_is_no_time_is_refused_in_botocores_words(value: str) -> None:
    with pytest.raises(ValueError) as botocores:
        parse_timestamp(value)
    with pytest.raises(ValueError, match="Invalid timestamp") as ours:
        parse_s3_timestamp(value)
    assert str(ours.value) == str(botocores.value)


def reads_botocores_timestamps_with_ours(make_client: Any, plain: Any, bucket: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Asserts that the client ``make_client()`` gives reads every timestamp of its answers (listings of objects and
    versions, delete markers, HEAD, GET in the bucket ``bucket``) with tdprov's parser, never with botocore's
    default one, and reads the very datetimes a plain client (``plain``, a boto3 client of the same server) reads."""
    plain.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for i in range(12):
        plain.put_object(Bucket=bucket, Key=f"k/{i:02d}", Body=b"x" * i)
    plain.put_object(Bucket=bucket, Key="k/00", Body=b"again")
    plain.delete_object(Bucket=bucket, Key="k/01")
    defaults: list[Any] = []

    def default_parser(value: Any) -> Any:
        defaults.append(value)
        return parse_timestamp(value)

    monkeypatch.setattr(botocore.parsers, "DEFAULT_TIMESTAMP_PARSER", default_parser)  # a parser made without one

    def answers(client: Any) -> dict[str, list[Any]]:
        versions = client.list_object_versions(Bucket=bucket, Prefix="k/")
        return {
            "list": [(o["Key"], o["LastModified"]) for o in client.list_objects_v2(Bucket=bucket, Prefix="k/")["Contents"]],
            "versions": [(v["Key"], v["VersionId"], v["LastModified"]) for v in versions["Versions"]],
            "markers": [(m["Key"], m["LastModified"]) for m in versions["DeleteMarkers"]],
            "head": [(key, client.head_object(Bucket=bucket, Key=key)["LastModified"]) for key in ("k/00", "k/05")],
            "get": [("k/11", client.get_object(Bucket=bucket, Key="k/11")["LastModified"])],
        }

    expected = answers(plain)
    assert len(defaults) >= 11 + 13 + 1 + 3  # botocore's parser read every timestamp of the plain client's answers
    defaults.clear()
    found = answers(make_client())
    assert defaults == []
    assert found.keys() == expected.keys()
    for name, values in expected.items():
        assert len(found[name]) == len(values) > 0
        for ours, theirs in zip(found[name], values):
            assert ours[:-1] == theirs[:-1] and ours[-1].tzinfo is not None
            _same(ours[-1], theirs[-1])


def test_a_clients_answers_carry_botocores_timestamps_read_by_tdprovs_parser(s3_server, s3_bucket: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    reads_botocores_timestamps_with_ours(fresh_s3_client, s3_server.client(), s3_bucket, monkeypatch)
