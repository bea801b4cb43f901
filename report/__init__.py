"""The run report: one self-contained static HTML page per pipeline run.

Everything on the page is read back from ML Metadata and the run's artifacts, so a report can
be regenerated at any time (``cifar10-report``) and a failed run still gets one. This is an
upper layer: it imports ``pipeline``, ``models`` and ``ingest``; only the runners import it.

Importing the package is cheap: :mod:`report.writer` (which loads TensorFlow and TFX through
``pipeline.summary``) is imported when one of its names is first used, so ``cifar10-report
--help`` answers at once and the command sets TensorFlow's process settings first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from report.writer import reports_root, write_compare_report, write_run_report

__all__ = ["reports_root", "write_compare_report", "write_run_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from report import writer

        return getattr(writer, name)
    raise AttributeError(f"module 'report' has no attribute {name!r}")
