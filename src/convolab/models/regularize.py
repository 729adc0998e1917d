"""Regularization transforms on a normalized spec graph (see `spec.normalize`).

Each transform is a pure function graph -> new graph; the input graph is never changed.
Sequential and functional specs share the graph form, so each transform has one code path.
`regularize` applies all three the way `create_model` does.
"""

from __future__ import annotations

from ..errors import ConvolabError
from .spec import RESERVED_NAMES, copy_graph, layer_of, unique_name

#: Layer classes that `dropout=` removes or re-rates.
DROPOUT_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")
#: Layer classes (besides every Conv*) whose kernel `l1=`/`l2=` penalize.
KERNEL_LAYERS = ("Dense", "LSTM", "GRU", "SimpleRNN")


def _consumers(graph: dict, name: str) -> list[str]:
    return [n for n, node in graph["nodes"].items() if name in node["inputs"]]


def _redirect(graph: dict, old: str, new: str) -> None:
    """Make every reader of `old` (nodes and outputs) read `new` instead."""
    for node in graph["nodes"].values():
        node["inputs"] = [new if src == old else src for src in node["inputs"]]
    graph["outputs"] = [new if out == old else out for out in graph["outputs"]]


def _remove(graph: dict, name: str) -> None:
    """Delete a one-input node and wire its readers to its input."""
    node = graph["nodes"][name]
    if len(node["inputs"]) != 1:
        raise ConvolabError(f"{graph['origin']}, {node['at']}: cannot remove a layer with "
                            f"{len(node['inputs'])} inputs")
    _redirect(graph, name, node["inputs"][0])
    del graph["nodes"][name]


def _place(graph: dict, new_nodes: dict[str, dict], *, before: str | None = None,
           after: str | None = None) -> None:
    """Insert `new_nodes` into the node mapping next to an existing node (for readability)."""
    placed: dict[str, dict] = {}
    for n, node in graph["nodes"].items():
        if n == before:
            placed.update(new_nodes)
        placed[n] = node
        if n == after:
            placed.update(new_nodes)
    graph["nodes"] = placed


def _new_node(graph: dict, base: str, layer: str, args: dict, inputs: list[str],
              why: str, reserved: tuple[str, ...] = ()) -> tuple[str, dict]:
    """A node name not used yet (nor in `reserved`) and the node itself."""
    taken = set(graph["nodes"]) | set(graph["inputs"]) | set(RESERVED_NAMES) | set(reserved)
    name = unique_name(taken, base)
    return name, {"layer": layer, "args": args, "inputs": inputs,
                  "at": f"node {name!r} ({layer}, added by {why})"}


def set_dropout(graph: dict, rate: float | None) -> dict:
    """Dropout on the graph.

    `rate=None` keeps the graph as is. `rate=0` removes every Dropout (and SpatialDropout)
    node, wiring its readers to its input. `rate=R>0` sets the rate of existing Dropout
    nodes to R and inserts Dropout(R) in front of every Dense node whose input is not
    already a Dropout.
    """
    if rate is None:
        return graph
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ConvolabError(f"dropout must be a rate in [0, 1) or None, got {rate!r}")
    graph = copy_graph(graph)
    drops = [n for n in graph["nodes"] if layer_of(graph, n) in DROPOUT_LAYERS]
    if rate == 0:
        for n in drops:
            _remove(graph, n)
        return graph
    for n in drops:
        if "layer" in graph["nodes"][n]:
            graph["nodes"][n]["args"]["rate"] = float(rate)
    for n in [n for n in graph["nodes"] if layer_of(graph, n) == "Dense"]:
        node = graph["nodes"][n]
        if len(node["inputs"]) != 1 or layer_of(graph, node["inputs"][0]) in DROPOUT_LAYERS:
            continue
        name, new = _new_node(graph, f"{n}_dropout", "Dropout", {"rate": float(rate)},
                              node["inputs"], f"dropout={rate}")
        node["inputs"] = [name]
        _place(graph, {name: new}, before=n)
    return graph


def set_l1l2(graph: dict, l1: float = 0.0, l2: float = 0.0) -> dict:
    """Penalize kernels: `kernel_regularizer=L1L2(l1, l2)` on every Conv*, Dense, LSTM, GRU
    and SimpleRNN layer. With l1 = l2 = 0 the graph is kept as is.

    The regularizer is stored as Keras's serialized form, so the graph stays plain data.
    """
    for label, value in (("l1", l1), ("l2", l2)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConvolabError(f"{label} must be a number >= 0, got {value!r}")
    if l1 == 0 and l2 == 0:
        return graph
    graph = copy_graph(graph)
    penalty = {"class_name": "L1L2", "config": {"l1": float(l1), "l2": float(l2)}}
    for node in graph["nodes"].values():
        layer = node.get("layer", "")
        if layer.startswith("Conv") or layer in KERNEL_LAYERS:
            node["args"]["kernel_regularizer"] = dict(penalty, config=dict(penalty["config"]))
    return graph


#: Momentum of the BatchNormalization layers `set_batchnorm` adds (PyTorch's default; Keras's
#: is 0.99). The moving variance starts at 1 and keeps momentum**steps of it: after 210 steps
#: 0.99 still holds 12% of that 1, which swamped the first conv's true variance (~0.005) and
#: left seed-cnn at 11% test accuracy (98% with batch statistics); 0.9 keeps 2e-10.
BATCHNORM_MOMENTUM = 0.9


def set_batchnorm(graph: dict, enabled: bool | None) -> dict:
    """BatchNormalization on the graph.

    `enabled=None` keeps the graph. `False` removes every BatchNormalization node, wiring
    its readers to its input. `True` puts BatchNormalization after every Conv2D and every
    hidden (not output) Dense node that no BatchNormalization reads yet (momentum
    `BATCHNORM_MOMENTUM`), and moves the layer's activation after it:
    Conv2D(activation=relu) becomes Conv2D(activation=None) -> BatchNormalization ->
    Activation(relu). A shared node gets its own BatchNormalization (and the Activation
    when its layer's activation was moved).
    """
    if enabled is None:
        return graph
    if not isinstance(enabled, bool):
        raise ConvolabError(f"batchnorm must be true, false or None, got {enabled!r}")
    graph = copy_graph(graph)
    if not enabled:
        for n in [n for n in graph["nodes"] if layer_of(graph, n) == "BatchNormalization"]:
            _remove(graph, n)
        return graph

    def wanted(n: str) -> bool:
        kind = layer_of(graph, n)
        hidden_dense = kind == "Dense" and n not in graph["outputs"]
        followed = any(layer_of(graph, c) == "BatchNormalization"
                       for c in _consumers(graph, n))
        return (kind == "Conv2D" or hidden_dense) and not followed

    targets = [n for n in graph["nodes"] if wanted(n)]
    moved = {}  # owner node -> the activation taken out of its layer
    for n in targets:
        node = graph["nodes"][n]
        if "layer" in node:
            moved[n] = node["args"].get("activation")
            node["args"]["activation"] = None
    for n in targets:
        node = graph["nodes"][n]
        activation = moved.get(node.get("shared", n))
        why = "batchnorm=True"
        bn_name, bn = _new_node(graph, f"{n}_bn", "BatchNormalization",
                                {"momentum": BATCHNORM_MOMENTUM}, [n], why)
        new = {bn_name: bn}
        last = bn_name
        if activation not in (None, "linear"):
            act_name, act = _new_node(graph, f"{n}_act", "Activation",
                                      {"activation": activation}, [bn_name], why,
                                      reserved=(bn_name,))
            new[act_name] = act
            last = act_name
        _redirect(graph, n, last)
        _place(graph, new, after=n)
    return graph


def regularize(graph: dict, *, dropout: float | None = None, l1: float = 0.0,
               l2: float = 0.0, batchnorm: bool | None = None) -> dict:
    """Apply `set_batchnorm`, then `set_dropout`, then `set_l1l2`; returns a new graph."""
    graph = set_batchnorm(graph, batchnorm)
    graph = set_dropout(graph, dropout)
    return set_l1l2(graph, l1, l2)
