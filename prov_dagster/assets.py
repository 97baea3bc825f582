"""``provenance_asset``: ``@asset`` plus schema, source, owners and quality policy; versioned by content."""
from __future__ import annotations

import functools
import warnings
import inspect
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pandas as pd
from dagster import AssetsDefinition, BetaWarning, DataVersion, MaterializeResult, Output, asset, get_dagster_logger

from prov_common.config import check_flag, flag
from prov_common.hashing import Granularity
from prov_dagster import _compat
from prov_dagster.digests import digest_of
from prov_dagster.metadata import schema_metadata
from prov_dagster.policy import (
    DEFAULT_SAMPLE_ROWS,
    MASKED_KEY,
    PUBLIC_KEY,
    RAW_SAMPLES_KEY,
    OWNERS_KEY,
    POLICY_KEY,
    SAMPLE_ROWS_KEY,
    SOURCE_KEY,
    TRAINING_KEY,
    GRANULARITY_KEY,
    SNAPSHOT_KEY,
    QualityPolicy,
    check_granularity,
    check_policy,
    check_sample_rows,
    names,
)


def provenance_asset(
    fn: Callable[..., Any] | None = None,
    *,
    schema: Any = None,
    source: str | None = None,
    owners: str | Iterable[str] | None = None,
    quality_policy: QualityPolicy = "fail",
    masked_columns: Iterable[str] = (),
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    public_columns: Iterable[str] = (),
    raw_samples: bool = False,
    metadata: Mapping[str, Any] | None = None,
    training: bool = False,
    granularity: str = "column",
    snapshot: bool | None = None,
    **asset_kwargs: Any,
) -> Any:
    """An ``@asset`` whose DataFrame output is versioned by its content digest.

    schema: Pandera ``DataFrameSchema``, ``DataFrameModel`` class or ``"pkg.module:Name"``; the
        ``ProvenanceIOManager`` validates the output against it once per materialization (for a function that
        writes its own table and returns ``MaterializeResult``, ``ProvenanceResource.record`` validates that table).
    source: id or link of the registered source this asset is derived from (recorded with it).
    owners: Dagster owners (``"team:ml"``, e-mail addresses; one string is one owner); recorded as the run's owners.
    quality_policy: what a failed validation does: ``fail`` (default), ``block``, ``warn`` or ``record``.
    masked_columns: columns whose values never appear in failure samples (``"*"``: every column); the
        columns that the schema or the asset's registered source flags as personal or confidential are
        masked as well.
    sample_rows: how many failure cases a failed validation keeps in the bundle; ``0`` stores none.
    training: the asset trains a model: its step's runs get the OpenLineage jobType TRAINING, which the
        audit's training-data sections follow (a plain ``@asset`` is marked with the tag ``tdprov/training``).
    public_columns: columns declared non-personal, whose failing values are shown in samples; every
        other value is masked (``***`` with a keyed digest) by default, as are the columns of a
        schema without ``metadata={"personal": False}``. A name that is not a column is an error.
    raw_samples: show the values of every column not flagged or masked (opt-in).
    granularity: ``"row"`` records the output's row set (sorted row digests with a signed Merkle root) in
        the run's bundle, so ``tdprov contains`` answers, with a proof, whether a record is in a version.
    snapshot: keep a content-addressed copy of every version written, for ``tdprov checkout``
        (default: the IO manager's ``snapshot`` setting, ``TDPROV_SNAPSHOT``).

    The function returns a DataFrame (or ``Output`` of one); the asset then returns
    ``Output(df, data_version=DataVersion(<digest>))`` -- the public way to set a data version, so
    the version is the content digest even with another IO manager (a ``data_version`` the function's
    ``Output`` sets gives way to it, with a warning). Other keyword arguments go to ``@asset``.
    """

    def decorate(compute: Callable[..., Any]) -> AssetsDefinition:
        name = asset_kwargs.get("name") or getattr(compute, "__name__", "")
        where = f"provenance_asset {name!r}"
        policy = check_policy(quality_policy, where)
        owner_list = list(names(owners))
        meta: dict[str, Any] = dict(metadata or {})
        meta[POLICY_KEY] = policy
        if source:
            meta[SOURCE_KEY] = source
        if owner_list:
            meta[OWNERS_KEY] = owner_list
        if masked_columns:
            meta[MASKED_KEY] = list(names(masked_columns))
        if public_columns:
            meta[PUBLIC_KEY] = list(names(public_columns))
        if flag(raw_samples, f"raw_samples of {where}"):
            meta[RAW_SAMPLES_KEY] = True
        if check_sample_rows(sample_rows, where) != DEFAULT_SAMPLE_ROWS:
            meta[SAMPLE_ROWS_KEY] = sample_rows
        if training:
            meta[TRAINING_KEY] = True
        if check_granularity(granularity, where) != "column":
            meta[GRANULARITY_KEY] = granularity
        if snapshot is not None:
            meta[SNAPSHOT_KEY] = check_flag(snapshot, "snapshot", where)

        wrapped = _versioning(compute, granularity)
        _return_output(wrapped, compute)
        if schema is not None:  # shown by its import path and checks, never as an unserializable object
            meta.update(schema_metadata(schema, compute.__module__))
        kwargs = dict(asset_kwargs)
        if owner_list:
            kwargs.setdefault("owners", owner_list)
        return asset(wrapped, metadata=meta, **kwargs)

    return decorate(fn) if fn is not None else decorate


def _versioning(compute: Callable[..., Any], granularity: Granularity = "column") -> Callable[..., Any]:
    """``compute`` with each DataFrame it returns, or yields (a generator stays a generator), versioned (hashed at the
    asset's ``granularity``, the digest the IO manager takes over)."""
    if inspect.isgeneratorfunction(compute):
        @functools.wraps(compute)
        def each(*args: Any, **kwargs: Any) -> Iterator[Any]:
            for item in compute(*args, **kwargs):
                yield versioned(item, granularity)
        return each

    @functools.wraps(compute)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return versioned(compute(*args, **kwargs), granularity)
    return wrapped


def _return_output(wrapped: Callable[..., Any], compute: Callable[..., Any]) -> None:
    """Give ``wrapped`` the annotations of ``compute``, resolved (so ``from __future__ import annotations``
    in the user's module works), returning ``Output[<the function's return type>]`` (Dagster checks it).

    A function that returns something other than a DataFrame (``MaterializeResult``, ``None``, ...) keeps
    its return type: there is no DataFrame to version, the asset still gets its metadata.
    """
    signature = inspect.signature(compute)
    try:
        hints = typing.get_type_hints(compute, include_extras=True)
    except Exception:  # an annotation that cannot be resolved: Dagster will name it
        hints = {}
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()]
    returns = hints.get("return", signature.return_annotation)
    if returns is not inspect.Signature.empty and _versionable(returns):
        returns = Output[returns]
    annotations = {**getattr(compute, "__annotations__", {}), **hints}
    if returns is not inspect.Signature.empty:
        annotations["return"] = returns
    wrapped.__signature__ = signature.replace(parameters=params, return_annotation=returns)  # type: ignore[attr-defined]
    wrapped.__annotations__ = annotations


def _versionable(returns: Any) -> bool:
    """Whether a return annotation is a DataFrame output that ``versioned`` wraps in ``Output``."""
    if typing.get_origin(returns) is Output or isinstance(returns, str):
        return False
    return not returns_nothing_to_store(returns)


def returns_nothing_to_store(returns: Any) -> bool:
    """Whether a return annotation is ``MaterializeResult`` or ``None``: the function hands the IO manager no data
    (it wrote its own, or has none)."""
    return returns is type(None) or (isinstance(returns, type) and issubclass(returns, MaterializeResult))


def versioned(result: Any, granularity: Granularity = "column") -> Any:
    """``result`` with its content digest as data version (DataFrames and ``Output``s of DataFrames), hashed at
    ``granularity`` (the asset's: the IO manager takes that digest over); a data version the function set on its
    ``Output`` gives way to the digest, with a warning naming it."""
    if isinstance(result, pd.DataFrame):
        return _output(result, granularity)
    if isinstance(result, Output) and isinstance(result.value, pd.DataFrame):
        output = _output(result.value, granularity, output_name=result.output_name, metadata=result.metadata,
                         tags=result.tags)
        if result.data_version is not None and result.data_version != output.data_version:
            get_dagster_logger().warning(
                f"tdprov: output {result.output_name!r} sets data version {result.data_version.value!r}; a provenance_asset "
                f"is versioned by its content digest, so its data version is {output.data_version.value} (leave "
                "data_version out of the Output, or declare the asset with @asset to keep a version of your own)")
        return output
    return result


def _output(df: pd.DataFrame, granularity: Granularity, **kwargs: Any) -> Output:
    with warnings.catch_warnings():  # Output(data_version=...) is marked beta; it is the documented public path
        warnings.simplefilter("ignore", BetaWarning)
        digest = digest_of(df, keep=True, granularity=granularity, step=_compat.computing_step())
        return Output(df, data_version=DataVersion(digest.digest), **kwargs)
