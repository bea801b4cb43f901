"""The load generator's client view: counts per served label, and no accuracy of its own
(the router's analysis reports accuracy from the clients' feedback: one figure, one source)."""

from __future__ import annotations

from collections import Counter

from demos.loadgen import ClientView


def test_the_client_line_counts_responses_and_failures_and_no_accuracy():
    view = ClientView(
        sent=12, served=Counter(stable=9, canary=3), failed=Counter(stable=0, canary=3)
    )
    line = view.line()
    assert line == "sent=12  canary: 3 served, 3 failed  stable: 9 served, 0 failed"
    assert "accuracy" not in line
