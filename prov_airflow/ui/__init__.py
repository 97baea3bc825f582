"""The tdprov page of the Airflow UI: the bundles of a DAG run with their verification status."""
