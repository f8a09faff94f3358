"""The tour, run inside the test process too (tests/test_tour.py runs it as a program).

Running it here lets coverage see every line of pymmap/tour.py, and checks
that the tour leaves nothing behind in a process that keeps going.
"""

import io
import os
import sys

import pytest

from pymmap import tour


@pytest.mark.parametrize("show_trace", [True, False])
def test_the_whole_tour_runs_in_process(show_trace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert tour.run(out=out, show_trace=show_trace) == 0
    text = out.getvalue()
    assert "ACCESS_COPY" in text and "resize" in text
    first_call = "  | CreateFileMappingW(" if os.name == "nt" else "  | mmap("
    assert (first_call in text) is show_trace


def test_step_mode_stops_at_q(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("\nq\n"))
    out = io.StringIO()
    assert tour.run(out=out, step=True) == 0
    text = out.getvalue()
    # Enter after step 1, q after step 2: step 3 never starts, the tour ends.
    assert text.count("press Enter") == 2
    assert "Step 2 of " in text and "Step 3 of " not in text
    assert "End of the tour." in text
