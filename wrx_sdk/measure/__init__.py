"""Measure what the planner needs: accuracy (host reference executor, importance) and the
device (``wrx-loader --profile``)."""
