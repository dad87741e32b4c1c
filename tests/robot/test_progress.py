"""robot.progress: a plain line every few percent when the stream is not a terminal, a bar when it is."""

from __future__ import annotations

import io

from robot.progress import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_few_complete_lines_for_a_thousand_updates():
    log = io.StringIO()
    bar = progress(total=1000, desc="train", unit="step", file=log)
    for i in range(1000):
        bar.update(1)
        if i % 100 == 0:
            bar.set_postfix(loss=f"{1.0 / (i + 1):.4f}")
    bar.close()
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and 15 <= len(lines) <= 25, lines
    assert lines[0].startswith("train: 50/1000 (5%)") and lines[-1].startswith("train: 1000/1000 (100%)")
    assert "loss=" in lines[-1] and all(" step/s" in ln for ln in lines)


def test_iterating_resuming_and_closing_twice():
    log = io.StringIO()
    assert list(progress(range(40), desc="copy", unit="ep", file=log)) == list(range(40))
    lines = log.getvalue().splitlines()
    assert len(lines) == 20 and lines[-1].startswith("copy: 40/40 (100%)")
    log = io.StringIO()
    bar = progress(total=100, initial=90, desc="train", file=log)  # a resumed run: no lines for steps not run
    bar.update(3)
    bar.close()
    bar.close()
    assert [ln.split(" ", 2)[1] for ln in log.getvalue().splitlines()] == ["93/100"]  # the final line only


def test_disabled_writes_nothing_and_a_terminal_gets_the_bar():
    log = io.StringIO()
    bar = progress(total=10, file=log, disable=True)
    bar.update(10)
    bar.close()
    assert log.getvalue() == ""
    term = _Terminal()
    for _ in progress(range(5), desc="eval", file=term):
        pass
    assert "\r" in term.getvalue() and "5/5" in term.getvalue()  # tqdm's carriage-return updates


def test_collect_into_a_log_writes_progress_lines_not_a_line_per_event(tmp_path):
    import subprocess
    import sys

    ran = subprocess.run([sys.executable, "-m", "robot.cli", "collect", "--task", "pusht", "--episodes", "3",
                          "--out", str(tmp_path / "s.zarr")], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stderr.splitlines()
    assert [ln.split(" (", 1)[0] for ln in lines] == [f"collect pusht: {k}/3" for k in (1, 2, 3)], lines
    assert "tried=3, failed=0" in lines[-1]
    assert '"successes": 3' in ran.stdout  # the JSON summary stays on stdout
