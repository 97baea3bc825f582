"""The example training pipeline as an Airflow 3 DAG (``dags/`` folder: ``example_pipelines/airflow_training``)."""
