"""The slow start's ramp, on a clock the test moves: the budget of a stage, its doubling, a death holding it."""

from __future__ import annotations

from corral.dlq.ramp import RateRamp, SlowStart


def test_a_stage_never_replays_more_than_its_rate_times_the_window_however_late_it_ends() -> None:
    # Given a ramp from 10% of 100/s in 2 s windows
    ramp = RateRamp.start(100, SlowStart(10), 2, now=0.0)
    # When the first stage replays as much as it may, then the clock runs far past the window
    taken = 0
    while (size := ramp.batch_size()) > 0:
        ramp.record(size)
        taken += size
    waiting = ramp.delay(now=0.5)
    # Then it replayed 10/s x 2 s and waits for the end of the window, not just for its rate
    assert (taken, ramp.current) == (20, 10)
    assert waiting == 1.5
    # And once the window passed without a death the rate doubles, up to the task's rate and no further
    assert ramp.next_stage(now=9.0, died_in_stage=False, done=20, at_ms=1) is True
    assert (ramp.current, ramp.budget, ramp.steps) == (20, 40, [{"at": 1, "done": 20, "rate": 20}])
    for _ in range(5):
        ramp.next_stage(now=ramp.stage_started + 2, died_in_stage=False, done=0, at_ms=2)
    assert ramp.current == 100 and not ramp.ramping and [s["rate"] for s in ramp.steps] == [20, 40, 80, 100]


def test_a_stage_with_a_death_keeps_the_rate_and_a_full_slow_start_is_none() -> None:
    # Given a ramp at 10/s of 100/s, and a slow start of 100%
    ramp = RateRamp.start(100, SlowStart(10), 1, now=0.0)
    full = RateRamp.start(100, SlowStart(100), 1, now=0.0)
    # When a window ends in which a replayed job died again
    began = ramp.next_stage(now=1.0, died_in_stage=True, done=10, at_ms=1)
    # Then a new stage began at the same rate, with no step, and the full start never ramps
    assert began is True and (ramp.current, ramp.steps) == (10, [])
    assert full.current == 100 and not full.ramping
    assert full.next_stage(now=5.0, died_in_stage=False, done=0, at_ms=1) is False
    # And a tiny rate still starts at one job a second
    assert SlowStart(1).start_rate(5) == 1
