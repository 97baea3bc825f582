"""The training pipeline shared by the Dagster and Airflow examples: pure steps, no orchestrator.

Breast Cancer Wisconsin (Diagnostic), the copy that ships inside scikit-learn, is the external source:
ingest → clean (Pandera) → features → train/test split → model (scikit-learn) → evaluation.
"""
