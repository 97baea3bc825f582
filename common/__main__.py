"""``python -m prov_common`` runs the tdprov CLI."""
from prov_common.cli import run

run()
