"""The run report: one self-contained static HTML page per pipeline run.

Everything on the page is read back from ML Metadata and the run's artifacts, so a report can
be regenerated at any time (``cifar10-report``) and a failed run still gets one. This is an
upper layer: it imports ``pipeline``, ``models`` and ``ingest``; only the runners import it.
"""

from report.writer import reports_root, write_compare_report, write_run_report

__all__ = ["reports_root", "write_compare_report", "write_run_report"]
