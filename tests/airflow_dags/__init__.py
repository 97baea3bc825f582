"""DAGs and the Airflow test harness used by tests/test_airflow_*.py."""
