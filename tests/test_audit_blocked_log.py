"""Over a gap the audit appends nothing; its message says what is true: which new bundles wait, or nothing
more when none does (it never claims a failed append that was not tried)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prov_common.audit.model import CHECK_LOG
from prov_common.tlog.log import CHECKPOINTS_PREFIX

from test_audit_attacks import Store, _audit, delete_newest_checkpoint
from test_audit_support import T0, dataset, run_events, seal


def test_blocked_log_names_only_the_bundles_that_wait(tmp_path: Path) -> None:
    s = Store(str(tmp_path / "store"))
    delete_newest_checkpoint(s)
    heads = s.keys(CHECKPOINTS_PREFIX)

    idle = _audit(s.pipe)
    said = [f.what for f in idle.check(CHECK_LOG).errors]
    assert idle.exit_code == 1 and any("rolled back" in w for w in said), said
    assert not [w for w in said if "append" in w or "wait" in w], said  # nothing was waiting, nothing was tried

    seal(s.pipe.store, run_events("prepare_late", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    busy = _audit(s.pipe)
    said = [f.what for f in busy.check(CHECK_LOG).errors]
    waiting = [w for w in said if "new bundle not appended" in w]
    assert len(waiting) == 1 and waiting[0].startswith("1 new bundle not appended"), said
    assert not [w for w in said if "could not append" in w], said
    assert s.keys(CHECKPOINTS_PREFIX) == heads  # and indeed nothing was appended
