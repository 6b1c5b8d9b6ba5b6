"""AlertWindow: the first alert of a key per window, repeats counted, shared through a file."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from logging_ext._alert_window import Admission, AlertWindow


def test_repeats_within_the_window_are_suppressed_and_counted_in_the_next_one() -> None:
    window = AlertWindow(900)
    assert window.admit("k", 1000.0) == Admission(send=True)
    assert window.admit("k", 1010.0) == Admission(send=False)
    assert window.admit("other", 1020.0) == Admission(send=True)
    assert window.admit("k", 1899.0) == Admission(send=False)
    assert window.admit("k", 1900.0) == Admission(send=True, suppressed=2, since=1010.0)
    assert window.admit("k", 2900.0) == Admission(send=True)  # nothing suppressed since


def test_a_late_repeat_counts_and_no_key_or_no_window_never_suppresses() -> None:
    window = AlertWindow(60)
    window.admit("k", 100.0)
    assert not window.admit("k", 90.0).send  # happened before the one sent: a repeat
    assert all(window.admit(None, 100.0).send for _ in range(3))
    never = AlertWindow(0)
    assert all(never.admit("k", 100.0).send for _ in range(3))


def test_the_state_file_holds_digests_and_a_damaged_one_never_stops_an_alert(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    AlertWindow(60, state).admit("pipeline etl failed: secret detail", 100.0)
    text = state.read_text()
    assert "secret detail" not in text
    assert len(json.loads(text)["alerts"]) == 1
    assert not AlertWindow(60, state).admit("pipeline etl failed: secret detail", 110.0).send
    state.write_text("{not json")
    assert AlertWindow(60, state).admit("pipeline etl failed: secret detail", 120.0).send


def _admit(path: str, key: str, now: float, results: multiprocessing.Queue[bool]) -> None:
    results.put(AlertWindow(900, path).admit(key, now).send)


def test_processes_sharing_the_state_file_send_the_same_alert_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[bool] = context.Queue()
    path = str(tmp_path / "alerts" / "state.json")
    processes = [
        context.Process(target=_admit, args=(path, "etl failed", 1000.0 + i, results))
        for i in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    sent = [results.get(timeout=10) for _ in processes]
    assert sorted(sent) == [False, False, False, True]
    later = AlertWindow(900, path).admit("etl failed", 3000.0)
    assert (later.send, later.suppressed) == (True, 3)
