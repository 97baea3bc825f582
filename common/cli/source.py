"""``tdprov source``: register external origins of training data and list them."""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Any

from prov_common.cli._common import add_store_option, add_verb
from prov_common.cli._output import emit_json, tell
from prov_common.cli._parser import explain_empty
from prov_common.cli.runs import table
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.signing import signing_key_from_settings, trust_from_settings
from prov_common.sources.media import media_type, media_type_of_path
from prov_common.sources.model import CONFIDENTIALITY, PERSONAL_DATA, SourceRecord, check_digest, check_name
from prov_common.sources.merged import SourceVersion, records_of
from prov_common.sources.registry import absolute_location, register_source, registered_versions, settings_source_listing
from prov_common.store import open_store
from prov_common.store.base import Store
from prov_common.text import counted


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "source",
        help="register an external data source (licence, issuer, origin) or list sources",
        description=(
            "Register an external origin of training data (a vendor file, a scraped corpus, a public "
            "dataset) with its content digest and the Data & Trust Alliance provenance fields, as a "
            "signed record in the store; or list registered sources. Pipelines whose raw inputs have "
            "a registered digest trace back to the source in 'tdprov audit' and 'tdprov record'."
        ),
        example="tdprov source add s3://vendor/claims.parquet --name vendor-claims --license CC-BY-4.0 --issuer 'Acme Data'",
    )
    verbs = parser.add_subparsers(dest="source_verb", metavar="{add,list}")
    add = add_verb(verbs, "add", help="register a source",
                   description="Hash PATH|URI and register it as a signed source record (licence, issuer and what EU AI Act "
                               "Article 10 and the D&TA standards ask of a source); a run that reads data with its digest then "
                               "traces back to it.",
                   example="tdprov source add data/vendor.csv --name vendor --license CC-BY-4.0 --issuer 'Acme Data' "
                           "--origin-geography DE --collection-start 2025-01-01 --collection-end 2025-03-31")
    add.add_argument("location", metavar="PATH|URI", help="the data: a local path or s3:// URI (hashed as tdprov hashes datasets)")
    add.add_argument("--name", required=True, help="short name of the source, e.g. vendor-claims")
    licence = add.add_argument(
        "--license", default=None,
        help="licence to use, SPDX id or URL (D&TA 'license to use'); needed by the first record of the data at its location, a "
             "later record of the same digest at the same location (under another name) takes it from the earlier ones; "
             "equal bytes at another location are another dataset and give nothing")
    issuer = add.add_argument("--issuer", default=None,
                              help="who issued the data (D&TA 'dataset issuer'); needed by the first record of the data, as --license")
    for name, action in (("license", licence), ("issuer", issuer)):
        what, example = _WHAT[name]
        explain_empty(action, what=what, give=f"the {what} ({example})",
                      left_out="to take it from an earlier record of the same data at the same location")
    add.add_argument("--digest", default=None, help="record this digest instead of hashing PATH|URI (data not reachable from here)")
    add.add_argument("--title", default=None, help="dataset title, if different from --name (D&TA 'dataset title')")
    add.add_argument("--description", default=None, help="what the data is (D&TA 'description of the dataset')")
    add.add_argument("--metadata-location", default=None,
                     help="URI where the issuer publishes this metadata (default: the record's URI in the store)")
    add.add_argument("--source-metadata", action="append", default=[],
                     help="URI of the provenance metadata of the data this source came from (repeatable)")
    add.add_argument("--source", default=None, help="original source, if different from the issuer")
    add.add_argument("--origin-geography", action="append", default=[], help="country/region where the data originated (repeatable)")
    add.add_argument("--generation-method", default=None, help="how the data was produced: e.g. 'web crawl', 'survey', 'synthetic', 'sensor'")
    add.add_argument("--collection-start", default=None, help="first date of data generation/collection (YYYY-MM-DD, or an RFC 3339 date-time such as 2025-01-31T23:30:00Z)")
    add.add_argument("--collection-end", default=None, help="last date of data generation/collection (YYYY-MM-DD, or an RFC 3339 date-time such as 2025-01-31T23:30:00Z)")
    add.add_argument("--issue-date", default=None, help="date the dataset was issued (YYYY-MM-DD, or an RFC 3339 date-time such as 2025-01-31T23:30:00Z)")
    add.add_argument("--previous-version-date", default=None, help="date the previous version of the dataset was issued (YYYY-MM-DD, or an RFC 3339 date-time such as 2025-01-31T23:30:00Z)")
    add.add_argument("--data-format", default=None,
                     help="media type (text/csv) or format name (csv, parquet, jsonl); default: from the file name (of a "
                          "folder of shards hashed here, not given --digest: the shards' names, if of one type)")
    add.add_argument("--personal-data", choices=PERSONAL_DATA, default=None, metavar="KIND",
                     help=f"personal data in it: one of {', '.join(PERSONAL_DATA)}")
    add.add_argument("--confidentiality", choices=CONFIDENTIALITY, default=None, metavar="CLASS",
                     help=f"confidentiality classification: one of {', '.join(CONFIDENTIALITY)}")
    add.add_argument("--personal-columns", type=_columns, default=(), help="columns holding personal data, comma-separated (masked in failure samples)")
    add.add_argument("--confidential-columns", type=_columns, default=(), help="columns holding confidential data, comma-separated (masked in failure samples)")
    add.add_argument("--consent", default=None, help="where the consent documentation is (URL or document id)")
    add.add_argument("--legal-basis", default=None,
                     help="legal basis for processing the personal data when it is not consent, e.g. 'GDPR Art. 6(1)(f)'")
    add.add_argument("--privacy-technology", dest="privacy_technologies", action="append", default=[],
                     help="privacy enhancing technology or tool applied, e.g. 'k-anonymity', 'pseudonymisation' (repeatable)")
    add.add_argument("--processing-geography", action="append", default=[], help="country/region where the data is processed (repeatable)")
    add.add_argument("--storage-geography", action="append", default=[], help="country/region where the data is stored (repeatable)")
    add.add_argument("--intended-use", default=None, help="use the data is licensed/intended for")
    add.add_argument("--proprietary-data", action="append", default=[],
                     help="proprietary data it holds: none, copyright, patent, trademark, trade secret (repeatable)")
    add_store_option(add, must_exist=False)
    add.set_defaults(func=run_add)
    lst = add_verb(verbs, "list", help="list registered sources",
                   description="List the registered sources whose signed records verify under the trusted keys (the others are "
                               "named on stderr). Each record is checked by its signature alone: a record deleted, or replaced "
                               "by an older one, is not named here; 'tdprov audit' checks the records against what it listed "
                               "before.",
                   example="tdprov source list --json")
    lst.add_argument("--json", action="store_true", help="print the records as JSON, their fields in camelCase (registeredAt, storeId)")
    add_store_option(lst)
    lst.set_defaults(func=run_list)
    parser.set_defaults(func=lambda args: (parser.print_help(sys.stderr), 2)[1])


def _columns(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split(",") if c.strip())


def _digest_of(args: argparse.Namespace) -> tuple[str, int | None, int | None, str | None]:
    """Content digest of the data at ``args.location`` as pipelines record it (tables by the canonical table digest,
    a sharded dataset by the root over its shards), its rows, its size in bytes (of the file, or of all shards) and its
    media type by the file's extension (of a sharded dataset: the one its shards share, if they do); the columns named
    by ``--personal-columns`` and ``--confidential-columns`` must be columns of it."""
    from prov_common.hashing import ShardedDigest, TableDigest
    from prov_common.hashing.bytes_fix import for_verb
    from prov_common.hashing.targets import hash_dataset
    from prov_common.progress import on_terminal

    with on_terminal():  # a sharded dataset is hashed shard by shard, with a bar on a terminal (as 'tdprov hash' does)
        try:
            result = hash_dataset(args.location)
        except BadInputError as refused:  # its bytes are registered with --digest: 'source add' has no --bytes
            raise for_verb(refused, "register the digest of its bytes, which 'tdprov hash --bytes' prints, with --digest") from None
    if isinstance(result, ShardedDigest):
        tables = [s for s in result.shards if s.kind == "table"]
        if tables:
            _check_columns(args, list(dict.fromkeys(c for s in tables for c in s.columns)))
        formats = {media_type_of_path(s.path) for s in result.shards}
        return result.digest, result.rows, sum(s.size for s in result.shards), formats.pop() if len(formats) == 1 else None
    if isinstance(result, TableDigest):
        _check_columns(args, [c.name for c in result.columns])  # a table's own `bytes` count its canonical encoding:
        return result.digest, result.rows, _file_size(args.location), media_type_of_path(args.location)
    return result.digest, None, result.bytes, media_type_of_path(args.location)


def _check_columns(args: argparse.Namespace, columns: list[str]) -> None:
    """Refuse a column named by ``--personal-columns`` or ``--confidential-columns`` that the data does not have."""
    from prov_common.quality.samples import check_known_columns

    for option, names in (("--personal-columns", args.personal_columns), ("--confidential-columns", args.confidential_columns)):
        check_known_columns(names, columns, option, args.location)


def _file_size(location: str) -> int:
    """The size in bytes of the file or S3 object at ``location``."""
    import os

    from prov_common.hashing.remote import S3_SCHEMES, s3_object_size
    from prov_common.hashing.targets import local_target

    if location.split("://", 1)[0].lower() in S3_SCHEMES and "://" in location:
        return s3_object_size(location)
    return os.path.getsize(local_target(location))


def run_add(args: argparse.Namespace) -> int:
    check_name(args.name)  # before the data is hashed, which can take long
    settings = Settings.from_env(store=args.store)
    if args.digest:
        digest, rows, size, found_format = check_digest(args.digest, "--digest"), None, None, media_type_of_path(args.location)
    else:
        digest, rows, size, found_format = _digest_of(args)
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items() if k in _RECORD_FIELDS}
    given["location"] = absolute_location(args.location)
    data_format = media_type(args.data_format) if args.data_format else found_format
    store = open_store(settings=settings)
    given |= _inherited(store, settings, digest, given)
    record = SourceRecord(**{**given, "digest": digest, "data_format": data_format, "rows": rows, "bytes": size})
    stored = register_source(store, record, signing_key_from_settings(settings))
    print(f"registered source '{record.name}' {record.digest}")
    print(f"record: {stored.key} (signed by {stored.signer})")
    return 0


_INHERITED = ("license", "issuer")  # required of a source; a later record of the same data at its location may leave them out


_WHAT = {"license": ("licence", "an SPDX id such as CC-BY-4.0, or a URL"), "issuer": ("issuer", "who issued the data")}


def _inherited(store: Store, settings: Settings, digest: str, given: dict[str, Any]) -> dict[str, str]:
    """The licence and issuer the options leave out, from the verified records of this source version (``digest`` at
    the location given, by :func:`~prov_common.sources.merged.records_of`) already in ``store`` read together (as the
    audit reads them); the first record of a source version must give both. Records of equal bytes at another location
    (or at none) describe another dataset: they are named, and nothing is taken from them."""
    missing = [name for name in _INHERITED if not given.get(name)]
    if not missing:
        return {}
    options = " and ".join(f"--{name}" for name in missing)
    versions = registered_versions(store, trust_from_settings(settings), digest)
    same = next((v for v in versions if records_of([v.record], digest, given["location"])), None)
    elsewhere = [_equal_bytes(v, missing) for v in versions if v is not same]
    if same is None:
        whats = " and ".join(_WHAT[name][0] for name in missing)
        untaken = f", another dataset: its {whats} {'were' if len(missing) > 1 else 'was'} not taken"
        raise BadInputError(
            f"no verified source record of {digest} at {given['location']} in {store.uri}, so this first record of the "
            f"data there needs --license and --issuer ({options} not given)" + "".join(f"; {e}{untaken}" for e in elsewhere) + ".",
            fix="pass --license (an SPDX id or URL) and --issuer (who issued the data); a later record of the same data at "
                "the same location under another name may leave them out and takes them from this one",
        )
    taken = {name: getattr(same.record, name) for name in missing}
    shown = ", ".join(f"{_WHAT[name][0]} {value}" for name, value in taken.items())
    print(f"{options} not given: taken from {same.label}: {shown}")
    for fact in elsewhere:
        print(f"{fact}, another dataset: nothing was taken from it")
    return taken


def _equal_bytes(version: SourceVersion, missing: list[str]) -> str:
    """The fact that ``version``, another dataset, holds the same bytes, with the values of ``missing`` it records."""
    where = f"at {version.record.location}" if version.record.location else "with no location"
    values = ", ".join(f"{_WHAT[name][0]} {getattr(version.record, name)}" for name in missing)
    return f"equal bytes are registered {where} as {version.quoted} ({values})"


_RECORD_FIELDS = {f.name for f in fields(SourceRecord)} - {"digest", "rows", "bytes", "registered_at", "extra", "store_id"}


UNCHECKED_NOTE = ("these are the records the store holds now, each checked by its signature alone: one deleted, or replaced by "
                  "an older one, is not named here; 'tdprov audit' checks them against what it listed before")


def run_list(args: argparse.Namespace) -> int:
    settings = Settings.from_env(store=args.store)
    sources, problems = settings_source_listing(settings)
    if args.json:
        emit_json([s.view() for s in sources], sort_keys=True)
    else:
        if sources:
            rows = [[s.record.name, s.record.digest, s.record.license, s.record.issuer, s.record.location or "-"] for s in sources]
            print(table(rows, ["NAME", "DIGEST", "LICENSE", "ISSUER", "LOCATION"], whole={1}))
            tell("source list", UNCHECKED_NOTE)
        elif problems:  # registered, but none verifies: registering again is no fix
            failing = counted(len(problems), "source record")
            print(f"no source record verifies: {failing} in the store {'does' if len(problems) == 1 else 'do'} not, named below",
                  file=sys.stderr)
        else:
            print("no sources registered; add one with 'tdprov source add PATH --name N --license L --issuer I'", file=sys.stderr)
    for key, exc in problems:
        tell("source list", f"{key}: {exc}")
    if problems:
        return 1
    return 0
