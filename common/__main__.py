"""``python -m prov_common`` runs the tdprov CLI."""
import sys

from prov_common.cli import main

sys.exit(main())
