"""Test support shared by every suite: free ports, waiting on a condition, started processes.

One home for each: a server fixture (MariaDB, PostgreSQL, Prometheus, Chromium, Airflow,
Beam's job service, the model server's command line) is a :func:`processes.running_process`
with its own readiness probe, not a launcher and wait loop of its own.
"""
