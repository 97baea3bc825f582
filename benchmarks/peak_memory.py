"""Run a piece of hashing code in a fresh process and measure its time and peak memory.

Peak memory is the growth of the process's peak resident size (``VmHWM``, reset with
``/proc/self/clear_refs`` after start-up and imports) while the code runs.
"""
from __future__ import annotations

import json
import subprocess
import sys

_FRAME = """
import json, sys, time
import pandas  # noqa: F401 - pyarrow loads it on some conversions: loaded with the imports, not counted as the code's
{imports}

def mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

path, how = sys.argv[1], sys.argv[2]
extra = {{}}  # figures of the code's own, reported beside the others
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = mb("VmRSS:")
start, cpu = time.perf_counter(), time.process_time()
{body}
print(json.dumps({{"digest": td.digest, "rows": td.rows, "seconds": time.perf_counter() - start,
                  "cpu": time.process_time() - cpu, "peakMB": mb("VmHWM:") - before, **extra}}))
"""


def measure(imports: str, body: str, path: str, how: str, timeout: float | None = None,
            env: dict[str, str] | None = None) -> dict:
    """Run ``body`` (which sets ``td``, a digest, from ``path`` and ``how``, and may put figures of its own in
    ``extra``) in a fresh process: its figures.

    ``timeout``: seconds before the process is stopped (``subprocess.TimeoutExpired``). ``env``: the process's
    environment (default: this one's)."""
    code = _FRAME.format(imports=imports, body=body)
    out = subprocess.run([sys.executable, "-c", code, path, how], capture_output=True, text=True, check=True,
                         timeout=timeout, env=env)
    return json.loads(out.stdout)
