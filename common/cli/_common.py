"""Helpers shared by the CLI verbs: help formatting, common options."""
from __future__ import annotations

import argparse
from typing import Any


def add_verb(subparsers: Any, name: str, *, help: str, description: str, example: str) -> argparse.ArgumentParser:
    """Add a verb whose ``--help`` ends with a worked example."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store`` overriding ``TDPROV_STORE``."""
    parser.add_argument(
        "--store",
        default=None,
        help="store URI: a folder or s3://bucket/prefix (default: $TDPROV_STORE or ./.tdprov)",
    )
