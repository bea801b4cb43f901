"""Test plumbing shared by every suite, one home each: free ports (``ports``), waiting on a
condition (``waiting``), started processes (``processes``), request payload pieces
(``encoding``) and the import graph the architecture test checks (``import_graph``).

A server fixture (MariaDB, PostgreSQL, Prometheus, Chromium, Airflow's scheduler, Beam's job
service, the model server's command line) is a :func:`processes.running_process` with its
own readiness probe, not a launcher and wait loop of its own.
"""
