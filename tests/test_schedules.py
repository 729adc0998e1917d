"""Learning-rate schedules as functions of the step."""

import math

import keras
import pytest

from convolab.schedules import OneCycle, StepExp, make_schedule


def lr_at(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_step_exp_is_the_units_scheduler():
    s = StepExp(0.01, steps_per_epoch=10)
    # The unit: `if epoch < 10: return lr else: return lr * exp(-0.1)`, applied each epoch.
    lr = 0.01
    for epoch in range(15):
        if epoch >= 10:
            lr = lr * math.exp(-0.1)
        assert lr_at(s, epoch * 10) == pytest.approx(lr, rel=1e-5)
        assert lr_at(s, epoch * 10 + 9) == pytest.approx(lr, rel=1e-5)


def test_one_cycle_warms_up_then_anneals():
    s = OneCycle(0.1, total_steps=100)
    values = [lr_at(s, i) for i in range(101)]
    assert values[0] == pytest.approx(0.1 / 25, rel=1e-5)
    assert max(values) == pytest.approx(0.1, rel=1e-5)
    assert values.index(max(values)) == 25
    assert all(a <= b + 1e-9 for a, b in zip(values[:25], values[1:26]))
    assert all(a >= b - 1e-9 for a, b in zip(values[25:], values[26:]))
    assert values[100] == pytest.approx(0.1 / 1e4, rel=1e-3)


def test_make_schedule_by_name():
    assert make_schedule("constant", 0.1, 10, 3) == 0.1
    assert make_schedule("plateau", 0.1, 10, 3) == 0.1
    cosine = make_schedule("cosine", 0.1, 10, 3)
    assert lr_at(cosine, 0) == pytest.approx(0.1) and lr_at(cosine, 30) == pytest.approx(0.0)
    assert isinstance(make_schedule("one-cycle", 0.1, 10, 3), OneCycle)
    with pytest.raises(ValueError):
        make_schedule("nope", 0.1, 10, 3)


def test_schedules_survive_serialization():
    for s in (StepExp(0.02, 7), OneCycle(0.3, 50)):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
        assert lr_at(clone, 13) == pytest.approx(lr_at(s, 13))
