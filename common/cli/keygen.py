"""``tdprov keygen``: write an Ed25519 key pair for signing lineage bundles."""
from __future__ import annotations

import argparse
from typing import Any

from prov_common.cli._common import add_verb, check_writable_file
from prov_common.signing.keyfiles import default_key_path, load_signing_key, write_keypair


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "keygen",
        help="write an Ed25519 key pair for signing bundles",
        description=(
            "Write an Ed25519 private key (PKCS#8 PEM, mode 0600) and its public key (PATH.pub). "
            "Sign with TDPROV_SIGNING_KEY=PATH; give PATH.pub to verifiers for TDPROV_TRUSTED_KEYS. "
            "To replace a lost key: make a new one, move the old PATH.pub from TDPROV_TRUSTED_KEYS to "
            "TDPROV_RETIRED_KEYS=PATH.pub@SIZE (SIZE: the log size of the last checkpoint before the loss), "
            "and run 'tdprov audit --full' (docs/threat-model.md, Keys)."
        ),
        example="tdprov keygen -o ~/.config/tdprov/team.key",
    )
    parser.add_argument(
        "-o", "--output", default=None, help="private key path (default: the per-user key in $TDPROV_HOME)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.output:
        args.output = check_writable_file(args.output, "key file")  # never creates folders for an explicit path
    private, public = write_keypair(args.output or default_key_path())
    key_id = load_signing_key(private).key_id
    print(f"private key: {private} (mode 0600; keep it secret)")
    print(f"public key:  {public}")
    print(f"key id:      {key_id}")
    return 0
