"""Collection sessions: run episodes through the loop until enough are saved.

Discarded episodes are re-recorded with the same seed (the operator asked to
redo that scene); failed episodes advance the seed. Resuming a store passes the
number of successes already there and the first unused seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from robot.runtime.loop import ControlLoop, EpisodeResult, Outcome


@dataclass
class SessionSummary:
    """Counts of a collection session and the loop telemetry over all recorded ticks."""

    target: int
    successes: int = 0
    saved: int = 0
    attempts: int = 0
    failed: int = 0
    discarded: int = 0
    quit: bool = False
    next_seed: int = 0
    ticks: int = 0
    late_ticks: int = 0
    missed_deadlines: int = 0
    wall_s: float = 0.0
    results: list[EpisodeResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts (without per-episode results)."""
        return {k: v for k, v in self.__dict__.items() if k != "results"}


def collect(
    loop: ControlLoop,
    target_successes: int,
    *,
    already_successful: int = 0,
    first_seed: int = 0,
    max_attempts: int | None = None,
    on_episode: Callable[[EpisodeResult, SessionSummary], None] | None = None,
) -> SessionSummary:
    """Run episodes until `target_successes` successful episodes exist (counting `already_successful`).

    max_attempts: cap on non-discarded episodes this session (default
      `3 * remaining + 10`), so an expert that keeps failing cannot loop forever.
    on_episode: called after each episode (progress bars, logs).
    """
    remaining = max(0, target_successes - already_successful)
    cap = max_attempts if max_attempts is not None else 3 * remaining + 10
    summary = SessionSummary(target=target_successes, successes=already_successful, next_seed=first_seed)
    seed = first_seed
    while summary.successes < target_successes and summary.attempts < cap:
        result = loop.run_episode(seed=seed)
        summary.results.append(result)
        summary.ticks += result.telemetry.ticks
        summary.late_ticks += result.telemetry.late_ticks
        summary.missed_deadlines += result.telemetry.missed_deadlines
        summary.wall_s += result.wall_s
        if result.outcome is Outcome.QUIT:
            summary.quit = True
            if on_episode is not None:
                on_episode(result, summary)
            break
        if result.outcome is Outcome.DISCARDED:
            summary.discarded += 1  # same seed again: re-record this scene
        else:
            summary.attempts += 1
            seed += 1
            summary.saved += int(result.saved)
            if result.success:
                summary.successes += 1
            else:
                summary.failed += 1
        summary.next_seed = seed
        if on_episode is not None:
            on_episode(result, summary)
    return summary
