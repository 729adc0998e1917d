"""YAML model specs: read them, check them, turn them into one node graph, build Keras models.

A spec names Keras layer classes and their arguments. Two forms exist:

    type: sequential                      type: functional
    layers:                               inputs: [image]
      - Conv2D: {filters: 32, ...}        nodes:
      - Flatten: {}                         c1:  {layer: Conv2D, args: {...}, inputs: image}
      - Dense: {units: $num_classes,        add: {layer: Add, inputs: [image, c1]}
                activation: softmax}        c2:  {shared: c1, inputs: add}
                                          outputs: [out]

Both are first normalized into the same graph (`normalize`), so the regularization
transforms and the builder have one code path. The graph is plain data:

    {"origin": "model preset 'seed-cnn'", "type": "sequential", "description": "...",
     "inputs": ["image"], "input_shapes": {},
     "nodes": {"conv2d": {"layer": "Conv2D", "args": {...}, "inputs": ["image"],
                          "at": "layer 1 (Conv2D)"}, ...},
     "outputs": ["dense_1"]}

A node holds either `layer` (a new layer object) or `shared` (the name of a node whose layer
object it calls again, so the weights are shared). `at` only serves error messages.
Placeholders `$num_classes`, `$height`, `$width`, `$channels` are replaced when the model
is built (`build_model`), not before, so one spec serves every dataset.
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConvolabError, did_you_mean

SPEC_TYPES = ("sequential", "functional")
SEQUENTIAL_KEYS = ("type", "description", "name", "layers")
FUNCTIONAL_KEYS = ("type", "description", "name", "inputs", "input_shapes", "nodes", "outputs")
NODE_KEYS = ("layer", "args", "inputs", "shared")
PLACEHOLDERS = ("$num_classes", "$height", "$width", "$channels")
#: Names of the layers build_model puts before the graph (pixel scaling, border crop);
#: no node may use them.
RESCALE_NAME = "rescale"
CROP_NAME = "crop"
RESERVED_NAMES = (RESCALE_NAME, CROP_NAME)
#: Keyword arguments every Keras layer accepts besides those of its own constructor.
BASE_LAYER_ARGS = ("name", "dtype", "trainable", "autocast", "activity_regularizer",
                   "input_shape", "input_dim")


@functools.lru_cache(maxsize=1)
def layer_class_names() -> tuple[str, ...]:
    """Names in `keras.layers` that are Layer classes usable in a spec."""
    import keras

    names = []
    for name in dir(keras.layers):
        obj = getattr(keras.layers, name)
        if (inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)
                and name not in ("Layer", "InputLayer")):
            names.append(name)
    return tuple(sorted(names))


def layer_class(name: Any, where: str) -> type:
    """The keras.layers class called `name`, or a ConvolabError naming `where`."""
    import keras

    if not isinstance(name, str) or name not in layer_class_names():
        raise ConvolabError(f"{where}: unknown layer class {name!r}"
                            f"{did_you_mean(str(name), layer_class_names())}; use a class name "
                            f"from keras.layers, spelled as in Keras")
    return getattr(keras.layers, name)


def layer_arg_names(cls: type) -> set[str]:
    """Keyword arguments `cls(...)` accepts: its constructor's, its parents' via **kwargs."""
    import keras

    names: set[str] = set(BASE_LAYER_ARGS)
    for klass in cls.__mro__:
        if klass is keras.layers.Layer or not issubclass(klass, keras.layers.Layer):
            break
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names.update(p.name for p in params if p.name != "self"
                     and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


def read_spec_file(path: str | Path) -> dict:
    """Parse a YAML spec file into a dict, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConvolabError(f"model spec file {path} does not exist; pass a preset name "
                            f"(see `convolab models`) or the path of a YAML spec")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConvolabError(f"model spec file {path} is not valid YAML{where}: {problem}; "
                            f"fix the syntax")
    except UnicodeDecodeError:
        raise ConvolabError(f"model spec file {path} is not UTF-8 text; save it as UTF-8 YAML")
    if not isinstance(data, dict):
        raise ConvolabError(f"model spec file {path} must hold a mapping with `type:` and "
                            f"`layers:` or `nodes:`, not {type(data).__name__}")
    return data


# ----------------------------------------------------------------------------- normalize


def normalize(spec: dict, origin: str) -> dict:
    """Check a spec's structure and return it as a node graph (see the module docstring).

    `origin` names the spec in every error ("model preset 'seed-cnn'", "model spec x.yaml").
    Layer classes and argument names are checked here; argument values and shapes are
    checked by `build_model`.
    """
    if not isinstance(spec, dict):
        raise ConvolabError(f"{origin}: a spec must be a mapping with `type:`, "
                            f"got {type(spec).__name__}")
    if "type" not in spec:
        raise ConvolabError(f"{origin}: the spec has no `type:`; add `type: sequential` "
                            f"(with `layers:`) or `type: functional` (with `nodes:`)")
    kind = spec["type"]
    if kind not in SPEC_TYPES:
        raise ConvolabError(f"{origin}: unknown spec type {kind!r}"
                            f"{did_you_mean(str(kind), SPEC_TYPES)}; use sequential or functional")
    allowed = SEQUENTIAL_KEYS if kind == "sequential" else FUNCTIONAL_KEYS
    for key in spec:
        if key not in allowed:
            raise ConvolabError(f"{origin}: unknown key {key!r} in a {kind} spec"
                                f"{did_you_mean(str(key), allowed)}; allowed keys: "
                                f"{', '.join(allowed)}")
    graph = _sequential_graph(spec, origin) if kind == "sequential" else \
        _functional_graph(spec, origin)
    graph.update(origin=origin, type=kind, description=_one_line(spec.get("description", "")))
    for name, node in graph["nodes"].items():
        _check_node(graph, name, node)
    topological_order(graph)  # unknown references and cycles fail here
    return graph


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def snake_case(class_name: str) -> str:
    """Keras-style layer name for a class: MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(taken, base: str) -> str:
    """`base`, or `base_1`, `base_2`, ... whichever is not in `taken`."""
    if base not in taken:
        return base
    i = 1
    while f"{base}_{i}" in taken:
        i += 1
    return f"{base}_{i}"


def _sequential_graph(spec: dict, origin: str) -> dict:
    layers = spec.get("layers")
    if layers is None:
        raise ConvolabError(f"{origin}: a sequential spec needs `layers:`, a list of "
                            f"`- LayerName: {{args}}` entries")
    if not isinstance(layers, list) or not layers:
        raise ConvolabError(f"{origin}: `layers:` must be a non-empty list of "
                            f"`- LayerName: {{args}}` entries")
    nodes: dict[str, dict] = {}
    previous = "image"
    for i, entry in enumerate(layers, start=1):
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConvolabError(f"{origin}, layer {i}: each entry of `layers:` must be one "
                                f"`LayerName: {{args}}` mapping, got {entry!r}")
        ((cls_name, args),) = entry.items()
        name = unique_name(nodes, snake_case(str(cls_name)))
        nodes[name] = {"layer": cls_name, "args": {} if args is None else args,
                       "inputs": [previous], "at": f"layer {i} ({cls_name})"}
        previous = name
    return {"inputs": ["image"], "input_shapes": {}, "nodes": nodes, "outputs": [previous]}


def _name_list(value: Any, what: str, origin: str) -> list[str]:
    """A node/input reference list: one name or a list of names."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) for v in items):
        raise ConvolabError(f"{origin}: {what} must be a name or a list of names, got {value!r}")
    return list(items)


def _functional_graph(spec: dict, origin: str) -> dict:
    for key in ("nodes", "outputs"):
        if key not in spec:
            raise ConvolabError(f"{origin}: a functional spec needs `{key}:` (nodes: name -> "
                                f"{{layer, args, inputs}}; outputs: [node names])")
    inputs = _name_list(spec.get("inputs", ["image"]), "`inputs:`", origin)
    outputs = _name_list(spec["outputs"], "`outputs:`", origin)
    input_shapes = spec.get("input_shapes") or {}
    if not isinstance(input_shapes, dict):
        raise ConvolabError(f"{origin}: `input_shapes:` must map extra input names to shapes")
    for name in input_shapes:
        if name == inputs[0]:
            raise ConvolabError(f"{origin}: input {name!r} is the image input, its shape "
                                f"comes from the data; remove it from `input_shapes:`")
        if name not in inputs:
            raise ConvolabError(f"{origin}: `input_shapes:` names {name!r}, which is not in "
                                f"`inputs:`{did_you_mean(name, inputs)}")
    for name in inputs[1:]:
        shape = input_shapes.get(name)
        if not isinstance(shape, list) or not shape:
            raise ConvolabError(f"{origin}: extra input {name!r} needs its shape in "
                                f"`input_shapes:`, e.g. input_shapes: {{{name}: [10]}}")
    raw_nodes = spec["nodes"]
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise ConvolabError(f"{origin}: `nodes:` must be a non-empty mapping of "
                            f"name -> {{layer: ..., args: ..., inputs: ...}}")
    nodes: dict[str, dict] = {}
    for name, raw in raw_nodes.items():
        at = f"node {name!r}"
        if not isinstance(name, str) or "/" in name or name in RESERVED_NAMES or name in inputs:
            raise ConvolabError(f"{origin}, {at}: a node name must be text without '/', and "
                                f"not {' or '.join(map(repr, RESERVED_NAMES))} or an input "
                                f"name; rename it")
        if not isinstance(raw, dict):
            raise ConvolabError(f"{origin}, {at}: must be a mapping like "
                                f"{{layer: Dense, args: {{...}}, inputs: x}}")
        for key in raw:
            if key not in NODE_KEYS:
                raise ConvolabError(f"{origin}, {at}: unknown key {key!r}"
                                    f"{did_you_mean(str(key), NODE_KEYS)}; a node has "
                                    f"{', '.join(NODE_KEYS)}")
        if ("layer" in raw) == ("shared" in raw):
            raise ConvolabError(f"{origin}, {at}: give exactly one of `layer:` (a new layer) "
                                f"or `shared:` (the node whose layer to reuse)")
        if "inputs" not in raw:
            raise ConvolabError(f"{origin}, {at}: has no `inputs:`; name the node(s) or "
                                f"input(s) it reads")
        node = {"inputs": _name_list(raw["inputs"], f"{at} `inputs:`", origin), "at": at}
        if "layer" in raw:
            node["layer"] = raw["layer"]
            node["args"] = {} if raw.get("args") is None else raw["args"]
            at = node["at"] = f"node {name!r} ({raw['layer']})"
        else:
            if "args" in raw:
                raise ConvolabError(f"{origin}, {at}: a shared node reuses its layer as is; "
                                    f"remove `args:`")
            node["shared"] = raw["shared"]
        nodes[name] = node
    return {"inputs": inputs, "input_shapes": dict(input_shapes), "nodes": nodes,
            "outputs": outputs}


def _check_node(graph: dict, name: str, node: dict) -> None:
    """Check the layer class and argument names of one node (or its shared reference)."""
    origin, at, nodes = graph["origin"], node["at"], graph["nodes"]
    if "shared" in node:
        owner = node["shared"]
        if owner not in nodes or "layer" not in nodes[owner]:
            raise ConvolabError(f"{origin}, {at}: `shared: {owner}` must name a node that has "
                                f"`layer:`{did_you_mean(str(owner), nodes)}")
        return
    cls = layer_class(node["layer"], f"{origin}, {at}")
    args = node["args"]
    if not isinstance(args, dict):
        raise ConvolabError(f"{origin}, {at}: arguments must be a mapping like "
                            f"{{units: 10}}, got {args!r}")
    allowed = layer_arg_names(cls)
    for arg in args:
        if arg not in allowed:
            raise ConvolabError(f"{origin}, {at}: unknown argument {arg!r}"
                                f"{did_you_mean(str(arg), allowed)}; see the arguments of "
                                f"keras.layers.{cls.__name__}")


def layer_of(graph: dict, name: str) -> str | None:
    """The layer class name a node calls (following `shared:`), None for graph inputs."""
    node = graph["nodes"].get(name)
    if node is None:
        return None
    if "shared" in node:
        node = graph["nodes"][node["shared"]]
    return node["layer"]


def topological_order(graph: dict) -> list[str]:
    """Node names, each after the nodes it reads; unknown names and cycles raise."""
    nodes, origin = graph["nodes"], graph["origin"]
    known = list(nodes) + graph["inputs"]
    for out in graph["outputs"]:
        if out not in nodes and out not in graph["inputs"]:
            raise ConvolabError(f"{origin}: output {out!r} is not a node"
                                f"{did_you_mean(out, known)}; list node names in `outputs:`")
    order: list[str] = []
    state: dict[str, str] = {}  # "active" while on the DFS path, "done" once placed

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done" or name in graph["inputs"]:
            return
        if state.get(name) == "active":
            cycle = path[path.index(name):] + [name]
            raise ConvolabError(f"{origin}: nodes form a cycle {' -> '.join(cycle)}; "
                                f"a node cannot depend on its own output")
        state[name] = "active"
        for src in nodes[name]["inputs"]:
            if src not in nodes and src not in graph["inputs"]:
                raise ConvolabError(f"{origin}, {nodes[name]['at']}: input {src!r} is neither "
                                    f"a node nor a model input{did_you_mean(src, known)}")
            visit(src, path + [name])
        state[name] = "done"
        order.append(name)

    for name in nodes:
        visit(name, [])
    return order


# ----------------------------------------------------------------------------- build


def _substitute(value: Any, values: dict[str, int], where: str) -> Any:
    """Replace `$placeholder` strings anywhere inside `value`."""
    if isinstance(value, dict):
        return {k: _substitute(v, values, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values, where) for v in value]
    if isinstance(value, str) and value.startswith("$"):
        if value not in values:
            raise ConvolabError(f"{where}: unknown placeholder {value!r}"
                                f"{did_you_mean(value, PLACEHOLDERS)}; use one of "
                                f"{', '.join(PLACEHOLDERS)}")
        return values[value]
    return value


def _keras_message(exc: Exception) -> str:
    """Keras's error message on one short line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _blamed_arg(message: str, args: dict) -> str | None:
    """The argument a Keras error message mentions, if it names exactly one."""
    named = [a for a in args if re.search(rf"\b{re.escape(str(a))}\b", message)]
    return named[0] if len(named) == 1 else None


#: Arguments of common layers that have no default to read their kind from:
#: name -> (test, what it must be, an example).
_REQUIRED_ARG_KINDS = {
    "filters": ("int", "a whole number", "32"),
    "units": ("int", "a whole number", "128"),
    "kernel_size": ("ints", "a whole number or a list of them", "3 or [3, 3]"),
    "pool_size": ("ints", "a whole number or a list of them", "2 or [2, 2]"),
    "rate": ("number", "a number", "0.5"),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind_of_default(default: Any) -> tuple[str, str, str] | None:
    """(test, what, example) for an argument whose default is `default`, or None."""
    if isinstance(default, bool):
        return "bool", "true or false", str(default).lower()
    if _is_int(default):
        return "int", "a whole number", str(default)
    if isinstance(default, float):
        return "number", "a number", str(default)
    if isinstance(default, (tuple, list)) and default and all(_is_int(v) for v in default):
        return "ints", "a whole number or a list of them", str(list(default))
    return None


def _fits(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return _is_int(value)
    if kind == "number":
        return _is_number(value)
    return _is_int(value) or (isinstance(value, (list, tuple)) and bool(value)
                              and all(_is_int(v) for v in value))


def check_arg_kinds(cls: type, args: dict, where: str) -> None:
    """A ConvolabError naming the first argument whose value is of the wrong kind.

    The kind comes from the constructor's default (a number, a bool, a tuple of whole
    numbers) or, for common arguments without a default, from `_REQUIRED_ARG_KINDS`;
    a None value and arguments of other kinds are left to Keras.
    """
    defaults = {}
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            for p in inspect.signature(klass.__init__).parameters.values():
                defaults.setdefault(p.name, p.default)
    for arg, value in args.items():
        if value is None:
            continue
        default = defaults.get(arg, inspect.Parameter.empty)
        kind = (_kind_of_default(default) if default is not inspect.Parameter.empty
                else None) or (_REQUIRED_ARG_KINDS.get(arg)
                               if default in (inspect.Parameter.empty, None) else None)
        if kind is not None and not _fits(kind[0], value):
            raise ConvolabError(f"{where}: argument {arg} must be {kind[1]} (e.g. "
                                f"{arg}: {kind[2]}), got {value!r}")


def _construct(graph: dict, name: str, values: dict[str, int]):
    import keras

    node = graph["nodes"][name]
    where = f"{graph['origin']}, {node['at']}"
    cls = getattr(keras.layers, node["layer"])
    args = _substitute(node["args"], values, where)
    check_arg_kinds(cls, args, where)
    args.setdefault("name", name)
    try:
        return cls(**args)
    except Exception as exc:  # Keras validates argument values in constructors
        message = _keras_message(exc)
        arg = _blamed_arg(message, node["args"])
        what = (f"argument {arg}={node['args'][arg]!r} is invalid" if arg else
                f"its arguments {node['args']!r} are invalid")
        raise ConvolabError(f"{where}: {what}: {message}")


def _call(graph: dict, name: str, layer, tensors: list) -> Any:
    node = graph["nodes"][name]
    shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
    try:
        return layer(tensors[0] if len(tensors) == 1 else tensors)
    except Exception as exc:
        spatial = [d for t in tensors if len(t.shape) == 4 for d in t.shape[1:3]]
        hint = ("; the image is too small by then for this model: use larger images "
                "(e.g. --image-size 28) or a smaller model (e.g. --model mlp-bn)"
                if spatial and min(spatial) < 3 else "; check its arguments and inputs")
        raise ConvolabError(f"{graph['origin']}, {node['at']}: fails on its input of shape "
                            f"{shapes}: {_keras_message(exc)}{hint}")


def _is_softmax(layer) -> bool:
    import keras

    if isinstance(layer, keras.layers.Softmax):
        return True
    return getattr(getattr(layer, "activation", None), "__name__", None) == "softmax"


def check_input_shape(input_shape: Any) -> tuple[int, int, int]:
    """(height, width, channels) as positive ints, or a ConvolabError."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                  for s in shape):
        raise ConvolabError(f"input_shape must be (height, width, channels) of positive "
                            f"integers, got {input_shape!r}")
    return shape


def build_model(graph: dict, *, input_shape=(28, 28, 1), num_classes: int = 10,
                preprocessing: list | None = None, crop: int = 0,
                name: str = "model"):
    """Build the Keras model: raw pixels -> `preprocessing` -> Rescaling(1/255) -> graph.

    `crop` > 0 cuts that many pixels from every border after rescaling (a Cropping2D
    named "crop"), so the graph sees a smaller image while the model still takes the full
    one. The first graph input receives the rescaled image; extra inputs are plain
    `keras.Input`s of their `input_shapes`. The first output must be a softmax of shape
    (None, num_classes).
    """
    import keras

    height, width, channels = check_input_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConvolabError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if not isinstance(name, str) or not name or "/" in name:
        raise ConvolabError(f"model name must be non-empty text without '/', got {name!r}")
    preprocessing = list(preprocessing or [])
    for layer in preprocessing:
        if not isinstance(layer, keras.layers.Layer):
            raise ConvolabError(f"preprocessing must be a list of Keras layers, got "
                                f"{type(layer).__name__}")
    if isinstance(crop, bool) or not isinstance(crop, int) or crop < 0:
        raise ConvolabError(f"crop must be a whole number of pixels >= 0, got {crop!r}")
    if 2 * crop >= min(height, width):
        raise ConvolabError(f"crop of {crop} px from every border leaves nothing of a "
                            f"{height}x{width} image; use less than {min(height, width) // 2}")
    values = {"$num_classes": num_classes, "$height": height - 2 * crop,
              "$width": width - 2 * crop, "$channels": channels}
    origin = graph["origin"]

    image = keras.Input(shape=(height, width, channels), name=graph["inputs"][0],
                        dtype="float32")
    x = image
    for layer in preprocessing:
        x = layer(x)
    x = keras.layers.Rescaling(1.0 / 255, name=RESCALE_NAME)(x)
    if crop:
        x = keras.layers.Cropping2D(crop, name=CROP_NAME)(x)
    tensors = {graph["inputs"][0]: x}
    model_inputs = [image]
    for extra in graph["inputs"][1:]:
        shape = _substitute(graph["input_shapes"][extra], values, f"{origin}, input {extra!r}")
        try:
            tensors[extra] = keras.Input(shape=tuple(shape), name=extra)
        except Exception as exc:
            raise ConvolabError(f"{origin}, input {extra!r}: bad shape {shape!r}: "
                                f"{_keras_message(exc)}")
        model_inputs.append(tensors[extra])

    layers = {n: _construct(graph, n, values)
              for n, node in graph["nodes"].items() if "layer" in node}
    for n in topological_order(graph):
        node = graph["nodes"][n]
        layer = layers[node.get("shared", n)]
        tensors[n] = _call(graph, n, layer, [tensors[src] for src in node["inputs"]])

    outputs = [tensors[o] for o in graph["outputs"]]
    try:
        model = keras.Model(model_inputs[0] if len(model_inputs) == 1 else model_inputs,
                            outputs[0] if len(outputs) == 1 else outputs, name=name)
    except Exception as exc:
        raise ConvolabError(f"{origin}: cannot assemble the model: {_keras_message(exc)}")
    _check_output(graph, model, layers, num_classes)
    return model


def _check_output(graph: dict, model, layers: dict, num_classes: int) -> None:
    """The first output must be softmax probabilities of shape (None, num_classes)."""
    first = graph["outputs"][0]
    shape = tuple(model.outputs[0].shape)
    node = graph["nodes"].get(first, {})
    layer = layers.get(node.get("shared", first))
    fix = ("end it with `Dense: {units: $num_classes, activation: softmax}`")
    if shape != (None, num_classes):
        raise ConvolabError(f"{graph['origin']}: the output {first!r} has shape {shape}, but "
                            f"must be (None, {num_classes}) class probabilities; {fix}")
    if layer is None or not _is_softmax(layer):
        raise ConvolabError(f"{graph['origin']}: the output {first!r} is not a softmax, but the "
                            f"model must output class probabilities; {fix}")


def copy_graph(graph: dict) -> dict:
    """A deep copy, so that transforms never change their input."""
    return copy.deepcopy(graph)
