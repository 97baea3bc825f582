"""The auditor's memory file is replaced whole or not at all, and stays readable by its owner alone."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from prov_common.audit.memory import memory_path

from mount_support import small_files
from test_audit_support import Pipeline, audit

_GROW_AND_SAVE = """
import sys
from prov_common.audit.memory import load_memory, save_memory
memory = load_memory(sys.argv[1])
memory.inline = True  # the runs kept in the file itself, as a read-only audit keeps them: a file past the limit
memory.runs = {f"run-{i:06d}": f"bundles/run-{i:06d}/_tdprov/index.json" for i in range(2000)}
save_memory(memory)
"""


def test_a_memory_write_that_fails_leaves_the_memory_whole_and_no_temporary_file(tmp_path: Path) -> None:
    """A write of the auditor's memory that failed half way (a full disk, here a file size limit) left its temporary
    file beside the memory, holding part of what the auditor saw. The memory is kept as it was, and nothing else is
    left in its folder; a memory written is readable by its owner alone."""
    pipe = Pipeline(str(tmp_path / "store"))
    assert audit(pipe.store).exit_code == 0
    path = memory_path(pipe.store.uri)
    before = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    beside = sorted(p.name for p in path.parent.iterdir())
    done = subprocess.run([sys.executable, "-c", _GROW_AND_SAVE, pipe.store.uri], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ), preexec_fn=small_files(len(before) + 4096))
    assert done.returncode != 0 and "File too large" in done.stderr, done.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == beside
    done = subprocess.run([sys.executable, "-c", _GROW_AND_SAVE, pipe.store.uri], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert path.read_bytes() != before and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == beside
