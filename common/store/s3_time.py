"""The timestamps of S3's answers (a listed object's ``LastModified``, a ``Last-Modified`` header), read without
dateutil's general parser: :func:`parse_s3_timestamp`, which :func:`use_s3_timestamp_parser` gives every client of a
session (those :func:`prov_common.store.s3.fresh_s3_client` makes, and those of an Airflow AWS connection). botocore
reads each timestamp with ``botocore.utils.parse_timestamp``, which hands the text to ``dateutil.parser.parse``: tens
of µs of CPU a key listed, minutes at millions of keys."""
from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from botocore.utils import parse_timestamp
from dateutil import tz

# What S3 sends: ISO 8601 in the XML of a listing (2026-12-07T23:10:54.000Z), RFC 1123 in a header.
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:(Z)|([+-])(\d\d):(\d\d))")
_HTTP = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d?) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                   r"(\d{4}) (\d\d):(\d\d):(\d\d) GMT")
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}


def parse_s3_timestamp(value: Any) -> datetime:
    """``botocore.utils.parse_timestamp(value)``, the same datetime with the same ``tzinfo`` (dateutil's ``tzutc()``,
    ``tzoffset`` or, for UTC where the local zone is named UTC, ``tzlocal()``), read directly where ``value`` is one
    of the forms S3 sends: ISO 8601 with ``Z`` or an offset and up to 6 digits of fraction, or an RFC 1123 date in
    GMT. Anything else (epoch numbers, naive or other text, a date out of range) is left to botocore's parser,
    which raises its ``ValueError`` for text that is no time."""
    if isinstance(value, str):
        try:
            if iso := _ISO.fullmatch(value):
                year, month, day, hour, minute, second, fraction, utc, sign, off_hours, off_minutes = iso.groups()
                naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                                 int(fraction.ljust(6, "0")) if fraction else 0)
                offset = 0 if utc else (int(off_hours) * 3600 + int(off_minutes) * 60) * (-1 if sign == "-" else 1)
                if offset:
                    return naive.replace(tzinfo=tz.tzoffset(None, offset))
                if "UTC" not in time.tzname:
                    return naive.replace(tzinfo=tz.UTC)
                local = naive.replace(tzinfo=tz.tzlocal())  # as dateutil reads UTC where the local zone is named so
                if local.tzname() == "UTC":
                    return local
            elif http := _HTTP.fullmatch(value):
                day, month, year, hour, minute, second = http.groups()
                return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=tz.UTC)
        except ValueError:  # out of range (a 13th month, a 61st second): botocore's parser says so in its words
            pass
    return parse_timestamp(value)


def use_s3_timestamp_parser(session: Any) -> Any:
    """Has the clients of ``session`` (a botocore session, or a boto3 one) read their answers' timestamps with
    :func:`parse_s3_timestamp`, through the session's ``response_parser_factory`` (botocore's parser of each answer
    is made by it), and returns ``session``."""
    import boto3.session

    core = session._session if isinstance(session, boto3.session.Session) else session  # boto3's has no public accessor
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_s3_timestamp)
    return session
