"""``tdprov contains``: was a record part of a dataset version, and which training runs used it?"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any

from prov_common.canonical_json import RepeatedKeyError, json_reason, unique_keys
from prov_common.cli._common import add_store_option, add_verb, check_writable_file
from prov_common.cli._output import emit_json, json_bytes, tell
from prov_common.cli._terminal import one_line
from prov_common.cli._versions import add_version_argument
from prov_common.config import Settings
from prov_common.errors import BadInputError, TdprovError, VerificationError
from prov_common.store import open_store
from prov_common.w3cprov.version_ref import pasted
from prov_common.text import first_of

if TYPE_CHECKING:
    from prov_common.audit.membership import Membership
    from prov_common.audit.model import RunRecord
    from prov_common.sources import SourceRecord


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "contains",
        help="was a record in a dataset version, and which training runs used it",
        description=(
            "Answer from the row digests recorded at row granularity whether a record (a JSON object of "
            "column values) was part of a dataset version (a dataset at a digest), and list the runs that used the "
            "version and the training runs downstream of it (erasure requests, contamination checks); other datasets "
            "holding the same bytes are listed apart, under 'sameContent', with their own runs. A digest several "
            "datasets hold is refused, naming them and the DATASET@DIGEST of each, which names that dataset's version "
            "(as 'tdprov runs' prints each output). For a version a "
            "pipeline recorded at row granularity the answer carries 'proof': a Merkle proof against the "
            "rows root in the signed bundle, which docs/verification.md checks without tdprov or the data. "
            "The text answer is short (the answer, the version, the runs, the proof's size and that it was checked); "
            "--json prints the whole answer with the proof, --proof FILE writes the proof for a third party. "
            "Exit 0 contained, 1 not contained, 2 no answer: no row digests, row digests or bundles that do not "
            "verify (changed after sealing, or signed by a key not trusted), or bad input; 2 also when the answer is "
            "printed with a run it would list left out, or with the bundle holding the row digests not verifying "
            "(each named on stderr)."
        ),
        example="tdprov contains blake3:3f2a... --record '{\"customer_id\": 1042, \"email\": \"a@example.com\"}'",
    )
    add_version_argument(parser, "digest", more="a digest several datasets hold is refused, naming the DATASET@DIGEST of each")
    parser.add_argument("--record", required=True, help="the record as a JSON object, or @FILE to read it from a file; dates, "
                        "date-times, times and durations as ISO-8601 text (2024-01-31T12:00:00Z where the column has a time zone)")
    parser.add_argument("--json", action="store_true", help="print the whole answer as JSON, the proof with every digest of its bucket")
    parser.add_argument("--proof", metavar="FILE", type=_proof_file,
                        help="write the proof (JSON, tdprov-row-proof/1) to FILE, for the check in docs/verification.md")
    add_store_option(parser)
    parser.set_defaults(func=run)


def _proof_file(text: str) -> str:
    """An argparse type: the file ``--proof`` writes (not stdout, where the answer goes: --json prints the proof there).
    Its folder is checked in :func:`run`, which says the reason and the fix as ``export -o`` does."""
    if text == "-":
        raise argparse.ArgumentTypeError("the proof is written to a file; --json prints the whole answer with the proof on stdout")
    return text


RECORD_FILE_LIMIT = 16 * 1024 * 1024  # one record's JSON; a device or a huge file is not one


def _no_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are no JSON (Python's parser takes them): a NaN was taken as a null value."""
    raise BadInputError(f"--record holds {name}, which is not JSON.", fix="give null for a missing value, or the number itself")


class _PastDouble(str):
    """A number of ``--record`` past the range of a double, as written (``1e400`` was read as infinity)."""


def _number(read: Callable[[str], Any]) -> Callable[[str], Any]:
    """A JSON number reader that gives a number past the range of a double as :class:`_PastDouble`."""
    def number(text: str) -> Any:
        value = read(text)
        return _PastDouble(text) if abs(value) > sys.float_info.max else value
    return number


def _past_double(value: Any) -> _PastDouble | None:
    """The first number past the range of a double in a column's value, walked without recursion (None: none)."""
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, _PastDouble):
            return value
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


def _record(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        from prov_common.regular_file import NotRegularFileError, read_regular

        try:
            text = read_regular(text[1:], RECORD_FILE_LIMIT).decode("utf-8")
        except (NotRegularFileError, UnicodeDecodeError) as exc:
            raise BadInputError(f"--record {text}: {exc}.", fix="pass a JSON file of one record (a regular file, UTF-8)") from None
    try:
        value = json.loads(text, object_pairs_hook=unique_keys, parse_constant=_no_constant,
                           parse_float=_number(float), parse_int=_number(int))
    except BadInputError:
        raise
    except RepeatedKeyError as exc:  # a column given twice would be answered with one of its values
        raise BadInputError(f"--record gives column {exc.key!r} more than once.", fix="give each column once") from None
    except ValueError as exc:
        raise BadInputError(f"--record is not JSON ({json_reason(exc)}).", fix='pass an object like \'{"id": 1, "name": "x"}\'') from exc
    if not isinstance(value, dict):
        raise BadInputError("--record must be a JSON object of column values.", fix='pass an object like \'{"id": 1, "name": "x"}\'')
    for column, held in value.items():  # as 'tdprov hash' refuses it in a JSON-lines file: no version's rows hold one
        if (number := _past_double(held)) is not None:
            from prov_common.hashing.jsonl_events import too_large

            raise BadInputError(f"--record column {column!r} {too_large(number)}",
                                fix="give the value as the dataset holds it (a number within a double, or a string)")
    return value


def run(args: argparse.Namespace) -> int:
    from prov_common.audit.lineage import SourceUse
    from prov_common.audit.membership import answer_runs, contains
    from prov_common.bundle.trust import bundle_trust
    from prov_common.cli._versions import recorded_runs
    from prov_common.cli.record import sources_told_if_refused
    from prov_common.sources.registry import source_listing

    if args.proof:
        check_writable_file(args.proof, "proof file")  # before any work: a missing folder is said first
    record = _record(args.record)
    settings = Settings.from_env(store=args.store)
    store = open_store(settings=settings)
    trust = bundle_trust(settings, store)
    stored, problems = source_listing(store, trust)  # hex digits alone may begin a source's digest: read as in 'record'
    with recorded_runs(store, settings, args.digest, [s.record for s in stored], trust, verb=args.verb) as recorded:
        with sources_told_if_refused(problems, args.verb, args.digest):
            digest, version = recorded.index().resolve(args.digest)  # one dataset at one digest
            if isinstance(version, SourceUse) and version.source is not None:
                raise _no_rows_of_source(args.digest, version.source, version.version or "")
        recorded.read_all(lambda index: answer_runs(index, version))  # the runs the answer lists, verified
        try:
            answer = contains(store, recorded.index(), version, record, recorded.trust)
        except VerificationError as exc:  # exit 1 is "not contained": records that do not verify give no answer
            raise TdprovError(f"no answer for version {digest}: {exc.what}", exc.fix) from exc
        holder_fails = _holder_fails(store, answer, recorded.trust, recorded.verified)
    if args.proof and answer.proof is not None:
        emit_json(answer.proof.to_dict(), args.proof)
    if args.json:
        emit_json(answer.to_dict())
    else:
        print("\n".join(one_line(line) for line in answer_lines(answer, args.proof)))
    if args.proof and answer.proof is None:
        tell("contains", f"no proof written to {args.proof}: the answer is from row digests attached by hand, "
             "which have no rows root (record the dataset at row granularity for proofs)")
    if holder_fails is not None:
        run_id, why = holder_fails
        tell("contains", f"the bundle of run {run_id}, which holds the row digests of the answer, does not verify ({why}); "
             "the row digests were checked against its signed manifest. "
             f"Fix: 'tdprov verify {run_id}' names every problem; restore the bundle from a backup or replica")
    if holder_fails is not None or recorded.left_out:  # evidence doubted or left out (named above): no clean answer
        return 2
    return 0 if answer.contained else 1


def _no_rows_of_source(ref: str, source: SourceRecord, version: str) -> BadInputError:
    """The refusal of ``ref``, which names the registered ``source`` at ``version`` that no recorded run holds (its
    digest, ``LOCATION`` or ``LOCATION@DIGEST``, resolved as 'tdprov record' resolves it): no run recorded its rows, so
    there is no answer."""
    where = source.location or "no location"
    return BadInputError(
        f"{ref!r} is the registered source '{source.name}' at {where} ({version}), which no recorded run wrote "
        "or read: no row digests of it are recorded, so there is no answer.",
        fix="record a run that reads it through tdprov at row granularity (docs/dagster.md, docs/airflow.md), then ask "
            "for the version that run read ('tdprov runs' shows it); or look for the record in the data itself")


def _holder_fails(store: Any, answer: Membership, trust: Any, verified: Container[str]) -> tuple[str, str] | None:
    """The run whose bundle holds the row digests of ``answer`` and why that bundle does not verify (its index entry
    checked as 'tdprov verify RUN_ID' checks it), or None when it verifies. The row digests are checked against the
    bundle's signed manifest, so they answer even when the rest of the bundle is damaged. ``verified``: the runs whose
    bundles verified here with their index entries (:attr:`~prov_common.audit.recorded.RecordedRuns.verified`: the
    runs the answer lists), not verified again; any other is (one whose entry alone differs too: the entry its
    ``indexed`` record names decides, as for 'tdprov verify RUN_ID'). An index entry that differs from the bundle is no
    failure of it: the run is read as its signed bundle says and the entry named, as 'lineage' and 'record' do."""
    from prov_common.bundle import layout, verify_bundle
    from prov_common.text import clause

    run_id = answer.sidecar.removeprefix(layout.BUNDLES + "/").split("/", 1)[0]
    if run_id in verified:
        return None
    report = verify_bundle(store, run_id, trust, recorded_entry=True)
    # an index entry that differs from the signed bundle is named where the run was read (taken as its bundle says, as
    # 'lineage' and 'record' take it); the bundle itself, its indexed record included, must verify
    findings = [f for f in report.findings if not (f.key.startswith(layout.INDEX + "/") and f.problem == "inconsistent")]
    more = f" (and {len(findings) - 3} more)" if len(findings) > 3 else ""
    return None if not findings else (run_id, clause("; ".join(str(f) for f in findings[:3])) + more)


RUNS_SHOWN = 10
"""Runs of each list the text answer shows; ``--json`` lists them all."""


def answer_lines(answer: Membership, proof_file: str | None = None) -> list[str]:
    """The text answer: whether the record is in the version, the version, the proof's size and that it was checked
    (its digests and path are in ``--json`` and the ``--proof`` file), the runs downstream of the version, and other
    datasets holding the same bytes (each named apart from the others: :meth:`Membership.labels`)."""
    labels = answer.labels()
    lines = [("contained" if answer.contained else "not contained")
             + (f" ({answer.proof.matches} matching row digest{'s' if answer.proof.matches > 1 else ''})"
                if answer.proof is not None and answer.contained else ""),
             f"  version        {pasted(labels[answer.dataset.namespace, answer.dataset.name], answer.digest)} ({answer.digest})"]
    if answer.proof is not None:
        proof, doc = answer.proof, answer.proof.to_dict()
        size = len(json_bytes(doc))  # as --proof writes it
        where = f"written to {proof_file}" if proof_file else "--proof FILE writes it, --json prints it with the answer"
        lines += [f"  proof          verified against the signed rows root {proof.rows_root}",
                  f"                 {doc['format']}, {size:,} bytes: bucket {proof.bucket} of {1 << proof.bits} "
                  f"({len(doc['bucketDigests'])} digests), {proof.bits} path hashes",
                  f"                 {where}; docs/verification.md checks it without tdprov or the data"]
    else:
        rows = first_of([str(r) for r in answer.rows or []], RUNS_SHOWN) or "-"
        lines.append(f"  rows           {rows} (row digests attached by hand: no proof)")
    lines.append(f"  row digests    {answer.sidecar}")
    lines += _runs_lines("used by", answer.used_by) + _runs_lines("training runs", answer.training_runs)
    for other in answer.same_content:
        lines.append(f"same content, not lineage: {labels[other.dataset.namespace, other.dataset.name]}")
        lines += _runs_lines("used by", other.used_by) + _runs_lines("training runs", other.training_runs)
    return lines


def _runs_lines(title: str, runs: list[RunRecord]) -> list[str]:
    head = f"  {title:<15}{len(runs)} run{'' if len(runs) == 1 else 's'}"
    rows = [f"    {r.run_id}  {r.job}  ended {r.ended_at or '-'}" for r in runs[:RUNS_SHOWN]]
    more = [f"    and {len(runs) - RUNS_SHOWN} more (--json lists them all)"] if len(runs) > RUNS_SHOWN else []
    return [head, *rows, *more]
