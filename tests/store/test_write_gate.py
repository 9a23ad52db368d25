"""The SQLite write gate: one writer at a time, and intake before processing."""

from __future__ import annotations

import threading

from helpers.mailbot_proc import wait_for
from mailbot.store.write_gate import WriteGate


def test_waiting_intake_goes_before_waiting_processing() -> None:
    gate = WriteGate()
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with gate.intake():
            holding.set()
            release.wait()
            order.append("holder")

    def step(kind: str) -> None:
        with getattr(gate, kind)():
            order.append(kind)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    work = threading.Thread(target=step, args=("work",))
    work.start()  # waits: the store is busy
    intake = threading.Thread(target=step, args=("intake",))
    intake.start()
    wait_for(lambda: gate._intake_waiting == 1, "intake waiting")
    release.set()
    for t in (holder, work, intake):
        t.join()
    assert order == ["holder", "intake", "work"]


def test_a_disabled_gate_never_blocks() -> None:
    gate = WriteGate(enabled=False)
    with gate.intake(), gate.work(), gate.intake():
        pass
