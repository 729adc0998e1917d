"""Progress of long work: a live bar on a terminal, a line per tenth in a log, or nothing."""

import io

import pytest

from convolab import progress
from convolab.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(autouse=True)
def not_quiet():
    progress.set_quiet(False)
    yield
    progress.set_quiet(False)


def test_a_log_gets_a_line_per_tenth():
    stream = io.StringIO()
    with Progress(100, "sweeps", stream=stream) as bar:
        for _ in range(100):
            bar.advance()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("sweeps: 10/100 (10%)")
    assert lines[-1].startswith("sweeps: 100/100 (100%)")
    assert "\r" not in stream.getvalue()


def test_few_items_get_a_line_each():
    stream = io.StringIO()
    with Progress(3, "runs", stream=stream) as bar:
        for _ in range(3):
            bar.advance()
    assert [line.split(",")[0] for line in stream.getvalue().splitlines()] == \
        ["runs: 1/3 (33%)", "runs: 2/3 (67%)", "runs: 3/3 (100%)"]


def test_bytes_shown_in_megabytes():
    stream = io.StringIO()
    with Progress(4_000_000, "mnist.npz", unit="MB", scale=1e6, stream=stream) as bar:
        bar.advance(4_000_000)
    assert stream.getvalue().startswith("mnist.npz: 4.0/4.0 MB (100%)")


def test_a_terminal_gets_one_bar_redrawn_in_place(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW_EVERY", 0.0)
    stream = FakeTerminal()
    with Progress(4, "sweeps", stream=stream) as bar:
        for _ in range(4):
            bar.advance()
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 5 and "[" + "#" * progress.BAR_WIDTH + "] 4/4" in text


def test_quiet_writes_nothing():
    progress.set_quiet(True)
    stream = FakeTerminal()
    with Progress(10, "sweeps", stream=stream) as bar:
        bar.advance(10)
    assert stream.getvalue() == ""
