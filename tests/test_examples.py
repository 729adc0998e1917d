"""Every script in examples/ runs at the tiny budget and reaches its tiny-budget figure.

The scripts run in this one process (runpy, as `python examples/NN_....py` runs them), so
TensorFlow is imported once for all of them; each writes into its own temporary folder and
runs with that folder as its working directory. A failed check in a script (its
AssertionError) or any other error fails that script's test. The serve example starts its
server on a free loopback port and stops it before it ends.
"""

import runpy
import sys
from pathlib import Path

import pytest

from backends import BACKEND

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("[0-9]*.py"))


def test_one_example_per_section_of_the_unit_in_order():
    assert [script.name[:3] for script in SCRIPTS] == [f"{n:02d}_" for n in range(1, 11)]
    for script in SCRIPTS:
        text = script.read_text()
        assert text.startswith('"""') and "Result it should reach" in text, script.name
        assert "CONVOLAB_EXAMPLE" not in text.split('"""', 2)[2], (
            f"{script.name}: read the budget through _budget, not the environment")


@pytest.fixture
def tiny_budget(tmp_path, monkeypatch):
    """The tiny budget, outputs under tmp_path, `from _budget import ...` importable."""
    monkeypatch.setenv("CONVOLAB_EXAMPLE_BUDGET", "tiny")
    monkeypatch.setenv("CONVOLAB_EXAMPLE_OUT", str(tmp_path / "out"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield tmp_path
    keras = sys.modules.get("keras")
    if keras is not None:  # free the script's models and graphs before the next one
        keras.backend.clear_session()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_example_reaches_its_tiny_budget_figure(script, tiny_budget):
    if script.name.startswith("04_") and BACKEND != "tensorflow":
        pytest.skip("04 checks the NumPy gradients against tf.GradientTape on the Keras model")
    runpy.run_path(str(script), run_name="__main__")
    stray = sorted(p.name for p in tiny_budget.iterdir() if p.name != "out")
    assert not stray, f"{script.name} wrote outside CONVOLAB_EXAMPLE_OUT: {stray}"


def test_an_unknown_budget_is_refused(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import _budget

    monkeypatch.setenv("CONVOLAB_EXAMPLE_BUDGET", "huge")
    with pytest.raises(SystemExit, match="full or tiny"):
        _budget.pick(full=1, tiny=0)
    monkeypatch.setenv("CONVOLAB_EXAMPLE_BUDGET", "")
    assert _budget.pick(full=1, tiny=0) == 1
