"""The Amazon provider's ``AwsBaseHook`` as tdprov uses it for an ``aws_conn_id``: its S3 clients read timestamps as
tdprov's own do. Imported only where the provider is installed."""
from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from prov_common.store.s3_time import use_s3_timestamp_parser


class S3TimestampsAwsHook(AwsBaseHook):
    """``AwsBaseHook`` whose sessions (a new one for each client ``get_client_type`` makes) read the timestamps of
    their answers with :func:`~prov_common.store.s3_time.parse_s3_timestamp`, as ``fresh_s3_client``'s do."""

    def get_session(self, region_name: str | None = None, deferrable: bool = False) -> Any:
        """The provider's session for the connection, its clients reading timestamps with tdprov's parser."""
        return use_s3_timestamp_parser(super().get_session(region_name=region_name, deferrable=deferrable))
