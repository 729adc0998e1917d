"""Models: presets, YAML specs (sequential and functional), regularization transforms, errors."""

from __future__ import annotations

import copy
import textwrap

import keras
import numpy as np
import pytest

from convolab.errors import ConvolabError
from convolab.models import create_model, list_models, load_spec
from convolab.models.batchnorm_check import warn_if_batchnorm_stale
from convolab.models.regularize import (BATCHNORM_MOMENTUM, set_batchnorm, set_dropout,
                                        set_l1l2)
from convolab.models.spec import normalize

PRESETS = ("seed-cnn", "keras-convnet", "mlp-bn", "resnet-mini", "lstm-rows", "fast", "best",
           "best-wide", "best-xl")


def images(n: int, shape=(28, 28, 1), seed: int = 0) -> np.ndarray:
    """Raw pixels 0..255 as float32, the model's input."""
    return np.random.default_rng(seed).integers(0, 256, (n, *shape)).astype("float32")


def write(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def classes(model) -> list[str]:
    """Layer class names after the input and the rescale layer."""
    assert [type(layer).__name__ for layer in model.layers[:2]] == ["InputLayer", "Rescaling"]
    return [type(layer).__name__ for layer in model.layers[2:]]


def raises_one_line(fn, *fragments: str) -> str:
    """Call fn, expect a one-line ConvolabError containing every fragment."""
    with pytest.raises(ConvolabError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


# ----------------------------------------------------------------------------- presets


def test_registry_lists_every_preset_with_description_and_type():
    models = {m["name"]: m for m in list_models()}
    assert set(PRESETS) <= set(models)
    for entry in models.values():
        assert set(entry) == {"name", "description", "type"}
        assert entry["type"] in ("sequential", "functional")
        assert len(entry["description"]) > 20 and "\n" not in entry["description"]
    assert models["resnet-mini"]["type"] == "functional"
    assert models["seed-cnn"]["type"] == "sequential"


@pytest.mark.parametrize("shape, num_classes", [((28, 28, 1), 10), ((32, 32, 3), 7)])
@pytest.mark.parametrize("name", [m["name"] for m in list_models()])
def test_every_preset_outputs_probabilities(name, shape, num_classes):
    model = create_model(name, input_shape=shape, num_classes=num_classes)
    assert model.name == name
    probs = keras.ops.convert_to_numpy(model(images(2, shape), training=False))
    assert probs.shape == (2, num_classes)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_presets_are_small_enough_for_the_cpu():
    assert create_model("resnet-mini").count_params() < 100_000
    assert create_model("fast", crop=2).count_params() < 100_000  # as the `fast` recipe has it


def test_keras_convnet_has_the_keras_io_parameter_count():
    model = create_model("keras-convnet", input_shape=(28, 28, 1), num_classes=10)
    assert model.count_params() == 34_826
    assert classes(model) == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten",
                              "Dropout", "Dense"]


def test_model_takes_raw_pixels_and_rescales_them():
    model = create_model("seed-cnn")
    x = images(2)
    rescaled = keras.Model(model.input, model.get_layer("rescale").output)(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rescaled), x / 255.0, rtol=1e-6)
    # uint8 arrays (what datasets hold) give the same probabilities as float32
    np.testing.assert_allclose(model.predict(x.astype("uint8"), verbose=0),
                               keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-7)


def test_lstm_rows_reads_one_row_per_step():
    model = create_model("lstm-rows", input_shape=(20, 12, 3))
    reshape = next(l for l in model.layers if isinstance(l, keras.layers.Reshape))
    assert tuple(reshape.output.shape) == (None, 20, 36)


def test_crop_cuts_the_border_inside_the_model():
    model = create_model("fast", crop=2)
    assert tuple(model.input.shape) == (None, 28, 28, 1)
    assert [layer.name for layer in model.layers[1:3]] == ["rescale", "crop"]
    assert tuple(model.get_layer("crop").output.shape) == (None, 24, 24, 1)
    x = images(3)
    border = 255.0 - x  # every pixel changed ...
    border[:, 2:-2, 2:-2] = x[:, 2:-2, 2:-2]  # ... except the 24x24 centre
    inner = x.copy()
    inner[:, 14, 14] = 255.0 - inner[:, 14, 14]
    probs = keras.ops.convert_to_numpy(model(x))
    # the two-pixel frame is never seen; one pixel inside it is
    np.testing.assert_array_equal(probs, keras.ops.convert_to_numpy(model(border)))
    assert np.abs(probs - keras.ops.convert_to_numpy(model(inner))).max() > 0
    assert "crop" not in [layer.name for layer in create_model("fast").layers]


def test_crop_sizes_the_placeholders_and_refuses_too_much():
    model = create_model("lstm-rows", input_shape=(20, 12, 3), crop=1)
    reshape = next(l for l in model.layers if isinstance(l, keras.layers.Reshape))
    assert tuple(reshape.output.shape) == (None, 18, 30)
    raises_one_line(lambda: create_model("fast", crop=14), "crop of 14 px", "28x28",
                    "less than 14")
    raises_one_line(lambda: create_model("fast", crop=-1), "crop", ">= 0")


def test_preprocessing_layers_come_first_and_act_only_in_training():
    shift = keras.layers.RandomTranslation(0.4, 0.4, seed=1)
    model = create_model("keras-convnet", dropout=0, preprocessing=[shift])
    assert model.layers[1] is shift and model.layers[2].name == "rescale"
    x = images(2)
    a, b = model(x, training=False), model(x, training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    c = model(x, training=True)
    assert not np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(c))


# ----------------------------------------------------------------------------- spec files


def test_sequential_spec_file(tmp_path):
    path = write(tmp_path, """\
        type: sequential
        description: a tiny net
        layers:
          - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
          - GlobalMaxPooling2D: {}
          - Dense: {units: $num_classes, activation: softmax}
        """, "tiny.yaml")
    spec = load_spec(str(path))
    assert spec["layers"][2] == {"Dense": {"units": "$num_classes", "activation": "softmax"}}
    model = create_model(str(path), input_shape=(12, 12, 2), num_classes=3)
    assert model.name == "tiny"
    assert classes(model) == ["Conv2D", "GlobalMaxPooling2D", "Dense"]
    assert model.get_layer("conv2d").filters == 4
    assert model.get_layer("dense").units == 3
    assert tuple(model.output.shape) == (None, 3)


def test_functional_spec_with_residual_add_in_any_order(tmp_path):
    # nodes are listed outputs-first: the builder resolves the graph order itself
    path = write(tmp_path, """\
        type: functional
        description: residual
        inputs: [image]
        nodes:
          out:  {layer: Dense, args: {units: $num_classes, activation: softmax}, inputs: gap}
          gap:  {layer: GlobalAveragePooling2D, inputs: add}
          add:  {layer: Add, inputs: [c1, c2]}
          c2:   {layer: Conv2D, args: {filters: 6, kernel_size: 3, padding: same}, inputs: c1}
          c1:   {layer: Conv2D, args: {filters: 6, kernel_size: 3, padding: same}, inputs: image}
        outputs: [out]
        """)
    model = create_model(str(path), num_classes=4)
    add = model.get_layer("add")
    assert isinstance(add, keras.layers.Add)
    sources = {id(t) for t in add.input}
    assert sources == {id(model.get_layer("c1").output), id(model.get_layer("c2").output)}
    probs = keras.ops.convert_to_numpy(model(images(2)))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_shared_node_reuses_the_same_layer_and_weights():
    spec = {"type": "functional", "inputs": ["image"], "outputs": ["out"], "nodes": {
        "c1": {"layer": "Conv2D", "args": {"filters": 8, "kernel_size": 3, "padding": "same",
                                            "activation": "relu"}, "inputs": "image"},
        "c2": {"layer": "Conv2D", "args": {"filters": 8, "kernel_size": 3, "padding": "same",
                                            "activation": "relu"}, "inputs": "c1"},
        "add": {"layer": "Add", "inputs": ["c1", "c2"]},
        "c3": {"shared": "c2", "inputs": "add"},
        "gap": {"layer": "GlobalAveragePooling2D", "inputs": "c3"},
        "out": {"layer": "Dense", "args": {"units": "$num_classes", "activation": "softmax"},
                "inputs": "gap"}}}
    model = create_model(spec)
    names = [layer.name for layer in model.layers]
    assert "c3" not in names and names.count("c2") == 1
    conv = (3 * 3 * 1 + 1) * 8, (3 * 3 * 8 + 1) * 8
    assert model.count_params() == conv[0] + conv[1] + (8 + 1) * 10  # c2 counted once
    # the tensor fed to gap is c2's layer applied to add's output
    probe = keras.Model(model.input, [model.get_layer("add").output,
                                       model.get_layer("gap").input])
    added, c3 = probe(images(2))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.get_layer("c2")(added)),
                               keras.ops.convert_to_numpy(c3), rtol=1e-5, atol=1e-6)


def test_two_inputs_and_two_outputs(tmp_path):
    path = write(tmp_path, """\
        type: functional
        description: image plus side features, main and auxiliary heads
        inputs: [image, meta]
        input_shapes: {meta: [$channels, 4]}
        nodes:
          flat: {layer: Flatten, inputs: image}
          side: {layer: Flatten, inputs: meta}
          both: {layer: Concatenate, inputs: [flat, side]}
          out:  {layer: Dense, args: {units: $num_classes, activation: softmax}, inputs: both}
          aux:  {layer: Dense, args: {units: $num_classes, activation: softmax}, inputs: flat}
        outputs: [out, aux]
        """)
    model = create_model(str(path), input_shape=(8, 8, 2), num_classes=3)
    assert [t.name for t in model.inputs] == ["image", "meta"]
    assert tuple(model.inputs[1].shape) == (None, 2, 4)
    assert len(model.outputs) == 2
    out, aux = model([images(2, (8, 8, 2)), np.ones((2, 2, 4), "float32")])
    for probs in (out, aux):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(probs).sum(axis=1), 1.0,
                                   rtol=1e-5)


# ----------------------------------------------------------------------------- regularize


def graph_of(name: str) -> dict:
    return normalize(load_spec(name), name)


def test_transforms_are_pure_and_none_keeps_the_graph():
    graph = graph_of("seed-cnn")
    before = copy.deepcopy(graph)
    set_dropout(graph, 0.4)
    set_batchnorm(graph, True)
    set_l1l2(graph, 0.1, 0.1)
    assert graph == before
    assert set_dropout(graph, None) == before
    assert set_batchnorm(graph, None) == before
    assert set_l1l2(graph, 0.0, 0.0) == before


def test_dropout_zero_removes_dropout_and_rewires():
    model = create_model("keras-convnet", dropout=0)
    assert classes(model) == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten",
                              "Dense"]
    assert model.count_params() == 34_826
    assert model.get_layer("dense").input is model.get_layer("flatten").output


def test_dropout_rate_sets_existing_and_adds_before_every_dense():
    convnet = create_model("keras-convnet", dropout=0.3)
    drops = [l for l in convnet.layers if isinstance(l, keras.layers.Dropout)]
    assert [d.rate for d in drops] == [0.3]  # already in front of the Dense: not doubled

    model = create_model("seed-cnn", dropout=0.25)
    assert classes(model) == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten",
                              "Dropout", "Dense", "Dropout", "Dense"]
    for dense in ("dense", "dense_1"):
        feeder = model.get_layer(f"{dense}_dropout")
        assert feeder.rate == 0.25
        assert model.get_layer(dense).input is feeder.output


def test_l1l2_puts_a_kernel_penalty_on_conv_dense_and_lstm():
    model = create_model("seed-cnn", l1=0.001, l2=0.01)
    penalized = [l for l in model.layers if getattr(l, "kernel_regularizer", None)]
    assert [type(l).__name__ for l in penalized] == ["Conv2D", "Conv2D", "Dense", "Dense"]
    reg = penalized[0].kernel_regularizer
    assert isinstance(reg, keras.regularizers.L1L2)
    assert reg.get_config() == pytest.approx({"l1": 0.001, "l2": 0.01})
    assert len(model.losses) == 4
    assert float(keras.ops.convert_to_numpy(sum(model.losses))) > 0
    assert create_model("seed-cnn").losses == []

    lstm = create_model("lstm-rows", l2=0.01)
    assert isinstance(lstm.get_layer("lstm").cell.kernel_regularizer, keras.regularizers.L1L2)


def test_batchnorm_true_adds_bn_and_moves_the_activation_after_it():
    model = create_model("seed-cnn", batchnorm=True)
    assert classes(model) == [
        "Conv2D", "BatchNormalization", "Activation", "MaxPooling2D",
        "Conv2D", "BatchNormalization", "Activation", "MaxPooling2D",
        "Flatten", "Dense", "BatchNormalization", "Activation", "Dense"]
    for name in ("conv2d", "conv2d_1", "dense"):
        assert model.get_layer(name).activation.__name__ == "linear"
        assert model.get_layer(f"{name}_act").activation.__name__ == "relu"
        assert model.get_layer(f"{name}_bn").input is model.get_layer(name).output
    assert model.get_layer("dense_1").activation.__name__ == "softmax"  # the output keeps it


def test_added_batchnorm_has_momentum_that_settles_in_a_short_run():
    model = create_model("seed-cnn", batchnorm=True)
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == 3 and all(bn.momentum == BATCHNORM_MOMENTUM == 0.9 for bn in bns)
    assert warn_if_batchnorm_stale(model, 200) is None


def test_stale_batchnorm_warning_names_the_layer_and_the_share_left():
    model = create_model("mlp-bn")  # the unit's snippet: Keras's default momentum 0.99
    with pytest.warns(UserWarning, match=r"momentum 0.99 .* 200 training steps.* 13%"):
        message = warn_if_batchnorm_stale(model, 200)
    assert "batch_normalization" in message
    assert warn_if_batchnorm_stale(model, 400) is None  # 0.99**400 = 1.8%
    for layer in model.layers:
        layer.trainable = False  # frozen (a fine-tuned base): statistics never update
    assert warn_if_batchnorm_stale(model, 10) is None
    outer = keras.Sequential([keras.Input((28, 28, 1)), create_model("mlp-bn")])
    with pytest.warns(UserWarning):
        assert warn_if_batchnorm_stale(outer, 10)  # found inside a nested model


def test_batchnorm_true_keeps_existing_bn_and_false_removes_it():
    kept = create_model("mlp-bn", batchnorm=True)
    assert classes(kept) == ["Flatten", "Dense", "BatchNormalization", "Dense"]
    assert kept.get_layer("dense").activation.__name__ == "relu"
    assert classes(create_model("mlp-bn", batchnorm=False)) == ["Flatten", "Dense", "Dense"]
    assert "BatchNormalization" not in classes(create_model("best", batchnorm=False))


def test_batchnorm_on_functional_graph_with_residuals_and_shared_layer():
    model = create_model("resnet-mini", batchnorm=True)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == len(convs) == 6
    # a conv without activation gets BN only, and the Add now reads that BN
    assert model.get_layer("b1_c2_bn").input is model.get_layer("b1_c2").output
    assert model.get_layer("b1_c2_bn").output in model.get_layer("b1_add").input
    with pytest.raises(ValueError):
        model.get_layer("b1_c2_act")

    shared = {"type": "functional", "outputs": ["out"], "nodes": {
        "c": {"layer": "Conv2D", "args": {"filters": 1, "kernel_size": 3, "padding": "same",
                                           "activation": "relu"}, "inputs": "image"},
        "again": {"shared": "c", "inputs": "c"},
        "flat": {"layer": "Flatten", "inputs": "again"},
        "out": {"layer": "Dense", "args": {"units": "$num_classes", "activation": "softmax"},
                "inputs": "flat"}}}
    graph = set_batchnorm(normalize(shared, "shared"), True)
    assert graph["nodes"]["c"]["args"]["activation"] is None
    assert graph["nodes"]["again"]["inputs"] == ["c_act"]
    assert graph["nodes"]["again_act"]["inputs"] == ["again_bn"]
    assert graph["nodes"]["flat"]["inputs"] == ["again_act"]
    create_model(shared, batchnorm=True)


# ----------------------------------------------------------------------------- training


def test_model_trains_one_step():
    model = create_model("fast", dropout=0.2, l2=1e-4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    labels = np.arange(8) % 10
    history = model.fit(images(8), labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_model_round_trips_through_keras_file(tmp_path):
    model = create_model("resnet-mini", l2=1e-4, batchnorm=True, num_classes=5)
    path = tmp_path / "x.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = images(2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-7)
    assert len(loaded.losses) == len(model.losses) > 0


# ----------------------------------------------------------------------------- errors

DENSE_OUT = "  - Dense: {units: $num_classes, activation: softmax}\n"

BAD_SPECS = {
    "unknown layer": ("type: sequential\nlayers:\n  - Conv2d: {filters: 3, kernel_size: 3}\n"
                      + DENSE_OUT, ["layer 1 (Conv2d)", "'Conv2d'", "did you mean 'Conv2D'"]),
    "misspelled arg": ("type: sequential\nlayers:\n  - Conv2D: {filter: 3, kernel_size: 3}\n"
                       + DENSE_OUT, ["layer 1 (Conv2D)", "'filter'", "did you mean 'filters'"]),
    "bad value": ("type: sequential\nlayers:\n  - Conv2D: {filters: -3, kernel_size: 3}\n"
                  + DENSE_OUT, ["layer 1 (Conv2D)", "filters=-3", "strictly positive"]),
    "bad activation": ("type: sequential\nlayers:\n  - Flatten: {}\n"
                       "  - Dense: {units: $num_classes, activation: relux}\n",
                       ["layer 2 (Dense)", "activation='relux'", "relux"]),
    "shape mismatch": ("type: sequential\nlayers:\n  - Flatten: {}\n"
                       "  - Conv2D: {filters: 3, kernel_size: 3}\n" + DENSE_OUT,
                       ["layer 2 (Conv2D)", "fails on its input of shape (None, 784)"]),
    "wrong output size": ("type: sequential\nlayers:\n  - Flatten: {}\n"
                          "  - Dense: {units: 4, activation: softmax}\n",
                          ["(None, 4)", "(None, 10)", "Dense: {units: $num_classes"]),
    "no softmax": ("type: sequential\nlayers:\n  - Flatten: {}\n  - Dense: {units: 10}\n",
                   ["not a softmax", "activation: softmax"]),
    "missing type": ("layers:\n  - Flatten: {}\n", ["no `type:`", "sequential"]),
    "unknown type": ("type: sequental\nlayers:\n  - Flatten: {}\n",
                     ["'sequental'", "did you mean 'sequential'"]),
    "missing layers": ("type: sequential\ndescription: x\n", ["needs `layers:`"]),
    "unknown key": ("type: sequential\nlayer:\n  - Flatten: {}\n",
                    ["'layer'", "did you mean 'layers'"]),
    "placeholder": ("type: sequential\nlayers:\n  - Flatten: {}\n"
                    "  - Dense: {units: $num_class, activation: softmax}\n",
                    ["'$num_class'", "did you mean '$num_classes'"]),
    "yaml syntax": ("type: sequential\nlayers:\n  - Conv2D: {filters: 3\n",
                    ["not valid YAML at line"]),
    "unknown node": ("type: functional\nnodes:\n  f: {layer: Flatten, inputs: imag}\n"
                     "  out: {layer: Dense, args: {units: 10, activation: softmax}, inputs: f}\n"
                     "outputs: [out]\n", ["node 'f' (Flatten)", "'imag'",
                                          "did you mean 'image'"]),
    "cycle": ("type: functional\nnodes:\n  a: {layer: Dense, args: {units: 3}, inputs: b}\n"
              "  b: {layer: Dense, args: {units: 3}, inputs: a}\noutputs: [b]\n",
              ["cycle", "a -> b -> a"]),
    "unknown shared": ("type: functional\nnodes:\n  f: {layer: Flatten, inputs: image}\n"
                       "  g: {shared: ff, inputs: f}\noutputs: [g]\n",
                       ["node 'g'", "`shared: ff`", "did you mean 'f'"]),
    "bad node key": ("type: functional\nnodes:\n  f: {layer: Flatten, input: image}\n"
                     "outputs: [f]\n", ["node 'f'", "'input'", "did you mean 'inputs'"]),
    "reserved name": ("type: functional\nnodes:\n  crop: {layer: Flatten, inputs: image}\n"
                      "outputs: [crop]\n", ["node 'crop'", "rename it"]),
    "extra input shape": ("type: functional\ninputs: [image, meta]\nnodes:\n"
                          "  f: {layer: Flatten, inputs: image}\noutputs: [f]\n",
                          ["'meta'", "input_shapes"]),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_gives_one_line_error_naming_file_and_layer(tmp_path, case):
    text, fragments = BAD_SPECS[case]
    path = write(tmp_path, text, "bad.yaml")
    raises_one_line(lambda: create_model(str(path)), str(path), *fragments)


def test_structural_errors_already_fail_in_load_spec(tmp_path):
    path = write(tmp_path, BAD_SPECS["misspelled arg"][0])
    raises_one_line(lambda: load_spec(str(path)), "did you mean 'filters'")


def test_unknown_preset_and_missing_file():
    raises_one_line(lambda: create_model("sed-cnn"), "'sed-cnn'", "did you mean 'seed-cnn'",
                    "keras-convnet")
    raises_one_line(lambda: load_spec("no/such/spec.yaml"), "no/such/spec.yaml",
                    "does not exist")


def test_bad_create_model_arguments():
    raises_one_line(lambda: create_model("seed-cnn", input_shape=(28, 28)), "input_shape")
    raises_one_line(lambda: create_model("seed-cnn", num_classes=1), "num_classes")
    raises_one_line(lambda: create_model("seed-cnn", dropout=1.5), "dropout", "1.5")
    raises_one_line(lambda: create_model("seed-cnn", l2=-1), "l2")
    raises_one_line(lambda: create_model("seed-cnn", batchnorm="yes"), "batchnorm")
    raises_one_line(lambda: create_model("seed-cnn", preprocessing=["flip"]), "preprocessing")
    raises_one_line(lambda: create_model({"layers": []}), "model spec (dict)", "no `type:`")


@pytest.mark.parametrize("layer, args, words", [
    ("Conv2D", {"filters": "many", "kernel_size": 3}, ["filters must be a whole number", "'many'"]),
    ("Conv2D", {"filters": 8, "kernel_size": "big"}, ["kernel_size", "list of them"]),
    ("Conv2D", {"filters": 8, "kernel_size": 3, "use_bias": "yes"}, ["use_bias", "true or false"]),
    ("Dense", {"units": 1.5}, ["units must be a whole number"]),
    ("Dropout", {"rate": "half"}, ["rate must be a number"]),
    ("BatchNormalization", {"momentum": "high"}, ["momentum must be a number"]),
])
def test_layer_argument_of_the_wrong_kind_is_named(layer, args, words):
    from convolab.errors import ConvolabError

    spec = {"type": "sequential", "layers": [{layer: args}, {"Flatten": {}},
                                             {"Dense": {"units": "$num_classes",
                                                        "activation": "softmax"}}]}
    with pytest.raises(ConvolabError) as info:
        create_model(spec, input_shape=(8, 8, 1), num_classes=3)
    for word in words:
        assert word in str(info.value)
    assert "layer 1" in str(info.value)


def test_right_kinds_pass_the_argument_check():
    from convolab.models.spec import check_arg_kinds
    import keras

    check_arg_kinds(keras.layers.Conv2D, {"filters": 8, "kernel_size": [3, 3], "strides": 1,
                                          "padding": "same", "use_bias": False}, "here")
    check_arg_kinds(keras.layers.Dropout, {"rate": 0, "seed": None}, "here")
    check_arg_kinds(keras.layers.BatchNormalization, {"momentum": 1}, "here")
