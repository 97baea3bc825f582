"""The code location the Dagster UI test serves: the test chain as ``prov_dagster.definitions`` wires it
(a module of its own: the ``dagster`` CLI wants one ``Definitions`` per module)."""
from prov_dagster import definitions
from test_dagster_defs import CHAIN

defs = definitions(CHAIN)
