"""Package discovery: the `common/` folder is installed under the import name `prov_common`.

pyproject.toml cannot rename a discovered package tree, so the mapping lives here; everything else
is declared in pyproject.toml.
"""
from setuptools import find_packages, setup

COMMON = ["prov_common", "prov_common.schemas", "prov_common.schemas.openlineage", "prov_common.schemas.openlineage.facets"] + [f"prov_common.{name}" for name in find_packages("common")]  # schemas: data only
INTEGRATIONS = find_packages(include=["prov_dagster", "prov_dagster.*", "prov_airflow", "prov_airflow.*"])

setup(packages=COMMON + INTEGRATIONS, package_dir={"prov_common": "common"})
