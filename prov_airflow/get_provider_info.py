"""Provider metadata read by Airflow's providers manager (``apache_airflow_provider`` entry point)."""
from __future__ import annotations

from typing import Any

#: ``[tdprov]`` options: name -> (description, type, default). Mirrors the ``TDPROV_*`` environment.
CONFIG_OPTIONS: dict[str, tuple[str, str, str]] = {
    "store": ("Store URI: a local folder or s3://bucket/prefix (TDPROV_STORE).", "string", ""),
    "signing_key": ("Ed25519 private key file that signs bundles (TDPROV_SIGNING_KEY).", "string", ""),
    "trusted_keys": ("Public key files or folders whose bundles verify, os.pathsep-separated "
                     "(TDPROV_TRUSTED_KEYS).", "string", ""),
    "spool": ("Outbox folder for bundles the store could not take, and for the row-set keys of a sharded "
              "dataset at row granularity (TDPROV_SPOOL).", "string", ""),
    "strict": ("Operators fail when provenance cannot be recorded (TDPROV_STRICT). The listener "
               "never fails a task.", "boolean", "False"),
    "snapshot": ("Keep a content-addressed copy of every outlet the listener records, for 'tdprov checkout' "
                 "(TDPROV_SNAPSHOT); an outlet's or task's own snapshot setting wins.", "boolean", "False"),
    "conn_id": ("Connection of type tdprov whose settings the listener uses.", "string", ""),
    "listener_enabled": ("Record task inlets/outlets from the listener.", "boolean", "True"),
    "hash_timeout": ("Seconds the listener may spend on one try's datasets at its start (noting what its outlets "
                     "hold, hashing its inlets) and again at its end (hashing its outlets).", "float", "30"),
    "flush_timeout": ("Seconds the task process waits at its end for its events to be delivered.",
                      "float", "60"),
    "max_bytes": ("Largest dataset (bytes) the listener hashes; larger ones are recorded without a "
                  "digest and the run is marked partial.", "integer", str(2 * 1024**3)),
    "data_aws_conn_id": ("AWS connection through which the listener reads s3:// inlets and outlets (hashing, row "
                         "sets, snapshots) and PanderaValidationOperator its s3:// source; unset: the AWS "
                         "environment. Their shards are then hashed in the task process, not on Dask.", "string", ""),
    "dask_scheduler": ("Where the listener hashes the shards of a sharded inlet/outlet (a folder, an "
                       "s3://bucket/prefix/ or a glob): tcp://host:8786, 'local' or 'none' "
                       "(TDPROV_DASK_SCHEDULER; unset: a LocalCluster for many shards).", "string", ""),
    "dask_spill": ("At row granularity on a Dask cluster reached by address, a folder its workers and the task "
                   "process both reach (a shared file system) or s3://bucket/prefix, where the workers put each "
                   "shard's sorted row-set keys instead of sending them back in memory (TDPROV_DASK_SPILL).",
                   "string", ""),
}


def get_provider_info() -> dict[str, Any]:
    """Provider info: connection type ``tdprov``, the ``[tdprov]`` section, the ``@task.provenance`` decorator."""
    from prov_common import __version__

    return {
        "package-name": "tdprov",
        "name": "tdprov",
        "description": "Training-data provenance: content hashes, Pandera quality, OpenLineage, "
        "W3C PROV and signed lineage bundles.",
        "versions": [__version__],
        "integrations": [{"integration-name": "tdprov", "tags": ["protocol"]}],
        "hooks": [{"integration-name": "tdprov", "python-modules": ["prov_airflow.hooks.provenance"]}],
        "operators": [{"integration-name": "tdprov",
                       "python-modules": ["prov_airflow.operators.pandera", "prov_airflow.operators.audit"]}],
        "sensors": [{"integration-name": "tdprov", "python-modules": ["prov_airflow.sensors.bundle"]}],
        "triggers": [{"integration-name": "tdprov", "python-modules": ["prov_airflow.triggers.bundle"]}],
        "connection-types": [
            {"hook-class-name": "prov_airflow.hooks.provenance.ProvenanceHook", "connection-type": "tdprov"}
        ],
        "task-decorators": [
            {"name": "provenance", "class-name": "prov_airflow.decorators.provenance.provenance_task"}
        ],
        "config": {
            "tdprov": {
                "description": "tdprov provenance settings; each mirrors a TDPROV_* environment variable.",
                "options": {
                    name: {"description": desc, "version_added": None, "type": typ,
                           "example": None, "default": default}
                    for name, (desc, typ, default) in CONFIG_OPTIONS.items()
                },
            }
        },
    }
