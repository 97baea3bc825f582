"""What the benchmarks share: the description of the machine they ran on, moto's S3 server on 127.0.0.1 (in this
process or in one of its own), and the tail of every report: printed, and appended to a results file, so earlier
runs stay beside it."""
from __future__ import annotations

import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

OUT_HELP = "append the report to this results file (e.g. benchmarks/results/<name>.md); default: print only"

# the AWS environment of a local S3 server (moto accepts any keys)
_S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true"}
_SERVE = (
    "import sys, threading\n"
    "from moto.server import ThreadedMotoServer\n"
    "server = ThreadedMotoServer(ip_address='127.0.0.1', port=int(sys.argv[1]), verbose=False)\n"
    "server.start()\n"
    "threading.Event().wait()\n"
)


def machine() -> str:
    """The machine a report's figures come from: its architecture, CPU count and Python, e.g.
    ``x86_64, 2 CPUs, Python 3.11.9``."""
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def add_section(out: str | os.PathLike[str] | None, text: str) -> None:
    """Append the report ``text`` to the results file ``out`` (nothing without one). A new file gets the
    whole text; an existing one keeps what it has and gains the text without its leading ``# title``."""
    if out is None:
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(text.rstrip("\n") + "\n")
        return
    body = text.split("\n", 1)[1] if text.startswith("# ") else text
    path.write_text(path.read_text().rstrip("\n") + "\n\n" + body.strip("\n") + "\n")


def report(out: str | os.PathLike[str] | None, text: str, *, above: str = "") -> int:
    """Print the report ``text`` and append it to the results file ``out`` (:func:`add_section`), there
    after ``above`` (a title, the command); 0, the benchmark's exit status."""
    print(text)
    add_section(out, above + text)
    return 0


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> Callable[[], None]:
    """moto's S3 server in this process, on a free port of 127.0.0.1, with the AWS environment pointed at it (its
    request log quietened); returns its stop."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    os.environ.update(AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{server.get_host_and_port()[1]}", **_S3_ENV)
    return server.stop


def start_moto_process() -> subprocess.Popen:
    """moto's S3 server in a process of its own (it plays S3: the writers must not share its interpreter), with the
    AWS environment pointed at it and the store's reads given time and attempts to wait for it."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVE, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ.update(AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{port}", **_S3_ENV, TDPROV_STORE_READ_TIMEOUT="120",
                      TDPROV_STORE_MAX_ATTEMPTS="8")
    for _ in range(100):
        if server.poll() is not None:
            raise RuntimeError(f"moto server exited with status {server.returncode} before it listened on port {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()  # not left serving (it waits forever) once the benchmark has given up on it
    server.wait()
    raise RuntimeError(f"moto server did not listen on port {port} after 100 tries")


def s3_stores() -> Callable[[], str]:
    """A function giving a fresh store, ``s3://bench-<10 hex>/lineage``, each in a new bucket of the S3 server the
    environment points at (:func:`start_moto`)."""
    import boto3

    client = boto3.client("s3")

    def fresh() -> str:
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        client.create_bucket(Bucket=bucket)
        return f"s3://{bucket}/lineage"

    return fresh


def tree_env(tree: Path, shim: Path) -> dict[str, str]:
    """The environment that makes a fresh process import tdprov from the source tree ``tree``."""
    link = shim / tree.resolve().as_posix().strip("/").replace("/", "+") / "prov_common"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(tree.resolve() / "common")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(link.parent), str(tree.resolve())])}


def figures(values: list[float], unit: str = " s", digits: int = 2) -> str:
    """The median of ``values`` and their range, e.g. ``1.20 s (1.10-1.40)``."""
    return f"{statistics.median(values):,.{digits}f}{unit} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"
