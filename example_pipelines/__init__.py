"""Example training-data pipelines that use tdprov the way a user would."""
