"""Model spec files the tests share."""

import textwrap
from pathlib import Path

TWO_HEADS = """
    type: functional
    inputs: [image]
    nodes:
      flat: {layer: Flatten, inputs: image}
      h:    {layer: Dense, args: {units: 32, activation: relu}, inputs: flat}
      out:  {layer: Dense, args: {units: $num_classes, activation: softmax}, inputs: h}
      aux:  {layer: Dense, args: {units: $num_classes, activation: softmax}, inputs: flat}
    outputs: [out, aux]
"""


def two_headed_spec(folder: Path) -> Path:
    """A functional model with two softmax heads (`out` after a hidden layer, `aux` not)."""
    path = folder / "two_heads.yaml"
    path.write_text(textwrap.dedent(TWO_HEADS))
    return path
