"""The NumPy reference CNN checked against two oracles: central finite differences in
float64 (every layer's backward) and Keras itself (forward outputs, whole-network
gradients, optimizer steps, a trained run's predictions)."""

import numpy as np
import pytest

from cli_helpers import run_cli
from convolab.errors import ConvolabError
from convolab.explain import numpy_ref as nr

GRAD_TOL = 1e-6     # max relative error, float64 finite differences
FORWARD_ATOL = 1e-5  # float32, NumPy layer vs Keras layer
KERAS_GRAD_TOL = 1e-4  # float32, max|g_np - g_keras| / max|g_keras| per weight


# ----------------------------------------------------------------------------- helpers


def rel_error(analytic, numeric):
    """Max elementwise |a - n| / (|a| + |n|), the denominator floored at 1e-8."""
    a, n = np.asarray(analytic), np.asarray(numeric)
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), 1e-8)))


def numeric_grad(f, array, h=1e-5):
    """Central differences of the scalar f() with respect to each entry of `array`."""
    grad = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + h
        up = f()
        array[idx] = old - h
        down = f()
        array[idx] = old
        grad[idx] = (up - down) / (2 * h)
    return grad


def check_layer(layer, x, training=False, before_forward=lambda: None):
    """Max relative errors of d(sum(G * layer(x)))/d(input and each param)."""
    before_forward()
    out = layer.forward(x, training)
    g = np.random.default_rng(1).normal(size=out.shape)

    def f():
        before_forward()
        return float(np.sum(g * layer.forward(x, training)))

    before_forward()
    layer.forward(x, training)
    dx = layer.backward(g)
    errors = {"input": rel_error(dx, numeric_grad(f, x))}
    for key, value in layer.params.items():
        errors[key] = rel_error(layer.grads[key], numeric_grad(f, value))
    return errors


def built(layer, input_shape, dtype=np.float64, seed=0):
    layer.build(input_shape, np.random.default_rng(seed), np.dtype(dtype))
    return layer


def distinct(shape, seed=0):
    """float64 values at least 0.01 apart (no ties for max pooling)."""
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.01


# ----------------------------------------------------------------------------- gradients

CONV_CASES = [  # kernel, strides, padding, input (H, W)
    (3, 1, "valid", (7, 6)), (3, 1, "same", (7, 6)), (3, 2, "valid", (7, 6)),
    (3, 2, "same", (7, 6)), (2, 1, "same", (6, 5)), (4, 2, "same", (7, 8)),
    ((3, 2), (2, 1), "same", (5, 6)),
]


@pytest.mark.parametrize("kernel, strides, padding, hw", CONV_CASES)
def test_conv2d_gradients(kernel, strides, padding, hw):
    layer = built(nr.Conv2D(4, kernel, strides=strides, padding=padding), hw + (3,))
    layer.params["bias"] = np.random.default_rng(2).normal(size=4)
    x = np.random.default_rng(3).normal(size=(2,) + hw + (3,))
    errors = check_layer(layer, x)
    assert set(errors) == {"input", "kernel", "bias"}
    assert max(errors.values()) <= GRAD_TOL, errors


@pytest.mark.parametrize("pool, strides, padding, hw", [
    (2, None, "valid", (6, 6)), (2, None, "valid", (7, 5)), (2, 1, "valid", (5, 5)),
    (3, 2, "same", (7, 6)), (2, 2, "same", (7, 7)),
])
def test_max_pooling_gradients(pool, strides, padding, hw):
    layer = built(nr.MaxPooling2D(pool, strides=strides, padding=padding), hw + (3,))
    errors = check_layer(layer, distinct((2,) + hw + (3,)))
    assert errors["input"] <= GRAD_TOL, errors


def test_max_pooling_routes_each_gradient_to_the_window_maximum():
    x = np.array([[1.0, 5.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    layer = built(nr.MaxPooling2D(2), (2, 2, 1))
    assert layer.forward(x).item() == 5.0
    dx = layer.backward(np.full((1, 1, 1, 1), 7.0))
    np.testing.assert_array_equal(dx.reshape(2, 2), [[0, 7], [0, 0]])
    tie = built(nr.MaxPooling2D(2), (2, 2, 1))
    tie.forward(np.full((1, 2, 2, 1), 4.0))  # a tie goes to the first maximum only
    np.testing.assert_array_equal(tie.backward(np.ones((1, 1, 1, 1))).reshape(2, 2),
                                  [[1, 0], [0, 0]])


def test_dense_gradients():
    layer = built(nr.Dense(5), (6,))
    layer.params["bias"] = np.random.default_rng(2).normal(size=5)
    errors = check_layer(layer, np.random.default_rng(3).normal(size=(4, 6)))
    assert max(errors.values()) <= GRAD_TOL, errors


@pytest.mark.parametrize("activation", ["relu", "softmax"])
def test_dense_with_activation_gradients(activation):
    layer = built(nr.Dense(5, activation=activation), (6,))
    layer.params["bias"] = np.random.default_rng(2).uniform(0.1, 0.5, size=5)
    x = np.random.default_rng(5).normal(size=(4, 6))
    pre = x @ layer.params["kernel"] + layer.params["bias"]
    assert np.abs(pre).min() > 0.05  # no ReLU kink within reach of the differences
    errors = check_layer(layer, x)
    assert max(errors.values()) <= GRAD_TOL, errors


def test_relu_gradients():
    rng = np.random.default_rng(0)
    x = rng.choice([-1.0, 1.0], size=(3, 4, 4, 2)) * rng.uniform(0.05, 1.0, size=(3, 4, 4, 2))
    assert check_layer(nr.ReLU(), x)["input"] <= GRAD_TOL


def test_softmax_flatten_rescaling_gradients():
    x = np.random.default_rng(0).normal(size=(3, 7))
    assert check_layer(nr.Softmax(), x)["input"] <= GRAD_TOL
    img = np.random.default_rng(1).normal(size=(2, 3, 4, 2))
    assert check_layer(built(nr.Flatten(), (3, 4, 2)), img)["input"] <= GRAD_TOL
    assert check_layer(nr.Rescaling(1 / 255, offset=-0.5), img)["input"] <= GRAD_TOL


def test_cropping_gradient_is_zero_on_the_cut_border():
    img = np.random.default_rng(2).normal(size=(2, 6, 7, 3))
    crop = built(nr.Cropping2D(((1, 2), (0, 3))), (6, 7, 3))
    assert crop.forward(img).shape == (2, 3, 4, 3)
    assert check_layer(crop, img)["input"] <= GRAD_TOL
    grad = crop.backward(np.ones((2, 3, 4, 3)))
    assert grad.shape == img.shape and grad.sum() == 2 * 3 * 4 * 3
    assert not grad[:, :1].any() and not grad[:, 4:].any() and not grad[:, :, 4:].any()
    with pytest.raises(ValueError, match="leaves nothing"):
        built(nr.Cropping2D(3), (6, 7, 3))


def test_dropout_gradients_with_a_fixed_mask():
    layer = nr.Dropout(0.4, seed=3)
    x = np.random.default_rng(0).normal(size=(5, 8))

    def same_mask():
        layer.rng = np.random.default_rng(3)

    assert check_layer(layer, x, training=True, before_forward=same_mask)["input"] <= GRAD_TOL


def test_dropout_is_inverted_and_only_active_in_training():
    layer = nr.Dropout(0.25, seed=0)
    x = np.ones((400, 100))
    np.testing.assert_array_equal(layer.forward(x), x)
    out = layer.forward(x, training=True)
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    assert abs((out == 0).mean() - 0.25) < 0.01
    assert abs(out.mean() - 1.0) < 0.02


def test_softmax_cross_entropy_gradient_and_stability():
    loss = nr.SoftmaxCrossEntropy()
    logits = np.random.default_rng(0).normal(size=(4, 5))
    labels = np.array([0, 3, 4, 3])
    loss.forward(logits, labels)
    analytic = loss.backward()
    numeric = numeric_grad(lambda: loss.forward(logits, labels), logits)
    assert rel_error(analytic, numeric) <= GRAD_TOL
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(analytic, (p - np.eye(5)[labels]) / 4)
    huge = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    assert loss.forward(huge, np.array([0])) == 0.0
    assert loss.forward(huge, np.array([2])) == pytest.approx(2000.0)
    assert np.isfinite(loss.backward()).all()


def test_layers_compute_in_the_dtype_they_are_given():
    net = nr.seed_cnn(seed=0)
    assert net.forward(np.zeros((2, 28, 28, 1), np.float32)).dtype == np.float32
    net64 = nr.seed_cnn(seed=0, dtype="float64")
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 28, 28, 1))
    logits = net64.forward(x, logits=True)
    assert logits.dtype == np.float64
    loss = nr.SoftmaxCrossEntropy()
    loss.forward(logits, np.array([1, 2]))
    assert net64.backward(loss.backward()).dtype == np.float64
    assert all(layer.grads[k].dtype == np.float64 for _, layer, k in net64.parameters())


def test_same_padding_puts_the_odd_row_after():
    assert nr.same_padding(28, 3, 1) == (1, 1)
    assert nr.same_padding(28, 2, 1) == (0, 1)
    assert nr.same_padding(8, 3, 2) == (0, 1)
    assert nr.same_padding(7, 3, 2) == (1, 1)
    assert nr.same_padding(5, 1, 2) == (0, 0)


def test_im2col_is_a_matrix_product_and_col2im_its_adjoint():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 6, 3))
    kernel = rng.normal(size=(3, 2, 3, 4))
    cols, oh, ow = nr.im2col(x, (3, 2), (2, 2))
    assert cols.shape == (2 * oh * ow, 3 * 2 * 3) and (oh, ow) == (2, 3)
    out = (cols @ kernel.reshape(-1, 4)).reshape(2, oh, ow, 4)
    direct = np.einsum("nhwc,hwcf->nf", x[:, 2:5, 2:4, :], kernel)  # output (1, 1)
    np.testing.assert_allclose(out[:, 1, 1, :], direct)
    r = rng.normal(size=cols.shape)  # <im2col(x), r> == <x, col2im(r)>
    assert np.sum(cols * r) == pytest.approx(np.sum(x * nr.col2im(r, x.shape, (3, 2), (2, 2),
                                                                  oh, ow)))


# ----------------------------------------------------------------------------- network


def test_seed_cnn_matches_the_preset():
    net = nr.seed_cnn(seed=0)
    assert [type(layer).__name__ for layer in net.layers] == [
        "Rescaling", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense",
        "Dense", "Softmax"]
    assert net.count_params() == 225_034  # as the Keras preset
    assert net.output_shape == (10,)
    probs = net.predict_proba(np.random.default_rng(0).uniform(0, 255, (3, 28, 28, 1)))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_from_spec_fills_placeholders_and_refuses_what_numpy_lacks():
    spec = {"type": "sequential", "layers": [
        {"Conv2D": {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"}},
        {"MaxPooling2D": {"pool_size": 2}}, "Flatten", {"Dropout": {"rate": 0.5}},
        {"Dense": {"units": "$num_classes", "activation": "softmax"}}]}
    net = nr.from_spec(spec, (8, 8, 3), num_classes=5)
    assert net.output_shape == (5,) and isinstance(net.layers[-1], nr.Softmax)
    bad = [({"type": "functional", "nodes": {}}, "sequential"),
           ({"type": "sequential", "layers": [{"BatchNormalization": {}}]}, "BatchNormalization"),
           ({"type": "sequential", "layers": [{"Conv2D": {"filters": 4, "kernel_size": 3,
                                                         "dilation_rate": 2}}]}, "dilation_rate"),
           ({"type": "sequential", "layers": [{"Dense": {"units": "$classes"}}]}, "$classes"),
           ({"type": "sequential", "layers": [{"Conv2D": {"filters": 4, "kernel_size": 9}}]},
            "does not fit"),
           ({"type": "sequential", "layers": [{"Conv2D": {"filters": 4, "kernel_size": 3,
                                                         "padding": "full"}}]}, "padding")]
    for spec, word in bad:
        with pytest.raises(ConvolabError, match=word.replace("$", r"\$")):
            nr.from_spec(spec, (8, 8, 3), origin="my spec")
    with pytest.raises(ConvolabError, match="seed-cnm"):
        nr.load_preset("seed-cnm")


def test_set_weights_checks_count_and_shapes():
    net = nr.seed_cnn(seed=0)
    weights = nr.get_weights(net)
    assert [w.shape for w in weights] == [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,),
                                          (1600, 128), (128,), (128, 10), (10,)]
    with pytest.raises(ConvolabError, match="8"):
        nr.set_weights(net, weights[:-1])
    with pytest.raises(ConvolabError, match="dense_1/kernel"):
        nr.set_weights(net, weights[:6] + [np.zeros((128, 9)), weights[7]])


def test_sgd_step_is_plain_gradient_descent():
    net = nr.Sequential([nr.Dense(3)], (2,), seed=0)
    before = nr.get_weights(net)[0].copy()
    net.layers[0].grads = {"kernel": np.ones((2, 3), np.float32), "bias": np.ones(3, np.float32)}
    nr.SGD(lr=0.1).step(net)
    np.testing.assert_allclose(net.layers[0].params["kernel"], before - 0.1, rtol=1e-6)


# ----------------------------------------------------------------------------- training


@pytest.fixture
def one_blas_thread():
    """Train in one BLAS thread: on a CPU busy with other work OpenBLAS's two threads wait
    for each other and a training step takes several times longer."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def mnist_2000():
    from convolab.data import load_dataset

    return load_dataset("mnist", validation_split=0.0, train_samples=2000, seed=0)


def test_short_numpy_training_learns(mnist_2000, one_blas_thread):
    ds = mnist_2000
    net = nr.seed_cnn(seed=0)
    losses = []
    history = nr.train_numpy(net, ds.x_train, ds.y_train, ds.x_test[:1000], ds.y_test[:1000],
                             epochs=1, batch_size=64, optimizer=nr.Adam(1e-3), seed=0,
                             progress=lambda epoch, batch, batches, loss: losses.append(loss))
    assert len(losses) == 32 and len(history["seconds"]) == 1
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    assert history["test_accuracy"][0] > 0.6  # chance is 0.1
    assert history["test_loss"][0] < 1.5


# ----------------------------------------------------------------------------- Keras


@pytest.fixture(scope="module")
def keras():
    keras = pytest.importorskip("keras")
    return keras


def keras_layer_out(keras, layer, x, weights=None):
    layer.build(x.shape)
    if weights is not None:
        layer.set_weights(weights)
    return keras.ops.convert_to_numpy(layer(x))


@pytest.mark.parametrize("kernel, strides, padding, hw", CONV_CASES)
def test_conv2d_forward_matches_keras(keras, kernel, strides, padding, hw):
    x = np.random.default_rng(0).uniform(size=(2,) + hw + (3,)).astype(np.float32)
    ours = built(nr.Conv2D(4, kernel, strides=strides, padding=padding, activation="relu"),
                 hw + (3,), dtype=np.float32)
    ours.params["bias"] = np.random.default_rng(1).normal(size=4).astype(np.float32) * 0.1
    theirs = keras.layers.Conv2D(4, kernel, strides=strides, padding=padding,
                                 activation="relu")
    expected = keras_layer_out(keras, theirs, x, list(ours.params.values()))
    np.testing.assert_allclose(ours.forward(x), expected, atol=FORWARD_ATOL)


@pytest.mark.parametrize("pool, strides, padding, hw", [
    (2, None, "valid", (6, 6)), (2, None, "valid", (7, 5)), (2, 1, "valid", (5, 5)),
    (3, 2, "same", (7, 6)), (2, 2, "same", (7, 7)),
])
def test_max_pooling_forward_matches_keras(keras, pool, strides, padding, hw):
    x = np.random.default_rng(0).normal(size=(2,) + hw + (3,)).astype(np.float32)
    ours = built(nr.MaxPooling2D(pool, strides=strides, padding=padding), hw + (3,))
    theirs = keras.layers.MaxPooling2D(pool, strides=strides, padding=padding)
    np.testing.assert_allclose(ours.forward(x), keras_layer_out(keras, theirs, x),
                               atol=FORWARD_ATOL)


def test_dense_flatten_relu_softmax_dropout_rescaling_forward_match_keras(keras):
    rng = np.random.default_rng(0)
    img = rng.normal(size=(3, 4, 5, 2)).astype(np.float32)
    flat = built(nr.Flatten(), (4, 5, 2)).forward(img)
    np.testing.assert_array_equal(flat, keras_layer_out(keras, keras.layers.Flatten(), img))
    dense = built(nr.Dense(6, activation="softmax"), (40,), dtype=np.float32)
    dense.params["bias"] = rng.normal(size=6).astype(np.float32)
    expected = keras_layer_out(keras, keras.layers.Dense(6, activation="softmax"), flat,
                               list(dense.params.values()))
    np.testing.assert_allclose(dense.forward(flat), expected, atol=FORWARD_ATOL)
    for ours, theirs in [(nr.ReLU(), keras.layers.ReLU()), (nr.Softmax(), keras.layers.Softmax()),
                         (nr.Dropout(0.5), keras.layers.Dropout(0.5)),
                         (nr.Rescaling(1 / 255), keras.layers.Rescaling(1 / 255))]:
        np.testing.assert_allclose(ours.forward(img), keras_layer_out(keras, theirs, img),
                                   atol=FORWARD_ATOL)


@pytest.mark.parametrize("cropping", [2, (1, 3), ((0, 1), (2, 0))])
def test_cropping_forward_matches_keras(keras, cropping):
    img = np.random.default_rng(0).normal(size=(2, 6, 7, 2)).astype(np.float32)
    ours = built(nr.Cropping2D(cropping), (6, 7, 2), dtype=np.float32).forward(img)
    np.testing.assert_array_equal(ours, keras_layer_out(keras, keras.layers.Cropping2D(cropping),
                                                        img))


def seed_cnn_gradients_np_and_keras(keras):
    """(our loss, Keras loss, our grads, Keras grads) of seed-cnn on a random batch."""
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the gradient oracle uses tf.GradientTape")
    from convolab.explain.keras_bridge import from_keras
    from convolab.models import create_model

    keras.utils.set_random_seed(0)
    model = create_model("seed-cnn", input_shape=(28, 28, 1), num_classes=10)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(16, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=16)
    with tf.GradientTape() as tape:
        probs = model(x, training=True)
        keras_loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, probs))
    keras_grads = [g.numpy() for g in tape.gradient(keras_loss, model.trainable_weights)]
    net = from_keras(model)
    loss_fn = nr.SoftmaxCrossEntropy()
    ours = loss_fn.forward(net.forward(x, training=True, logits=True), y)
    net.backward(loss_fn.backward())
    our_grads = [layer.grads[key] for _, layer, key in net.parameters()]
    return ours, float(keras_loss), our_grads, keras_grads


def test_seed_cnn_gradients_match_tensorflow(keras):
    ours, theirs, our_grads, keras_grads = seed_cnn_gradients_np_and_keras(keras)
    assert ours == pytest.approx(theirs, rel=1e-5)
    assert len(our_grads) == len(keras_grads) == 8
    for a, b in zip(our_grads, keras_grads):
        assert a.shape == b.shape
        assert np.abs(a - b).max() / np.abs(b).max() <= KERAS_GRAD_TOL


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_optimizer_steps_match_keras(keras, name):
    rng = np.random.default_rng(0)
    net = nr.Sequential([nr.Dense(3)], (4,), seed=0)
    var = keras.Variable(net.layers[0].params["kernel"].copy())
    ours = nr.Adam(0.01) if name == "adam" else nr.SGD(0.05, momentum=0.9)
    theirs = (keras.optimizers.Adam(0.01) if name == "adam"
              else keras.optimizers.SGD(0.05, momentum=0.9))
    for _ in range(4):
        grad = rng.normal(size=(4, 3)).astype(np.float32)
        net.layers[0].grads = {"kernel": grad, "bias": np.zeros(3, np.float32)}
        ours.step(net)
        theirs.apply_gradients([(keras.ops.convert_to_tensor(grad), var)])
    np.testing.assert_allclose(net.layers[0].params["kernel"],
                               keras.ops.convert_to_numpy(var), atol=1e-6)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import convolab

    out = tmp_path_factory.mktemp("numpy_ref") / "run"
    return convolab.train({"data": {"train_samples": 2000}, "train": {"epochs": 1},
                           "out": str(out)}, verbose=0)


def test_trained_run_loads_and_predicts_like_keras(tiny_run, mnist_2000):
    from convolab.explain.keras_bridge import from_run

    net = from_run(tiny_run.path)
    images = mnist_2000.x_test[:500]
    expected = tiny_run.predict(images)
    probs = net.predict_proba(images)
    assert probs.shape == expected.shape == (500, 10)
    assert (probs.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert np.abs(probs - expected).max() <= 1e-4


def test_other_sequential_presets_convert_and_the_rest_are_refused(keras):
    from convolab.explain.keras_bridge import from_keras
    from convolab.models import create_model

    model = create_model("keras-convnet")  # has Dropout
    x = np.random.default_rng(0).uniform(0, 255, size=(4, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(from_keras(model).predict_proba(x),
                               keras.ops.convert_to_numpy(model(x)), atol=1e-5)
    with pytest.raises(ConvolabError, match="BatchNormalization"):
        from_keras(create_model("seed-cnn", batchnorm=True))
    with pytest.raises(ConvolabError, match="sequential"):
        from_keras(create_model("resnet-mini"))


# ----------------------------------------------------------------------------- CLI


def test_cli_train_numpy_saves_weights_that_load_back(capsys, tmp_path, one_blas_thread):
    from convolab.explain.train_numpy import load_weights

    out = tmp_path / "w.npz"
    code, stdout, err = run_cli(capsys, "explain", "train-numpy", "--train-samples", 500,
                                "--epochs", 1, "--seed", 1, "--out", out)
    assert code == 0, err
    assert "test accuracy" in stdout and "s/epoch" in stdout and str(out) in stdout
    net, meta = load_weights(out)
    assert meta["recipe"] == {"epochs": 1, "batch_size": 64, "lr": 1e-3, "optimizer": "adam",
                              "seed": 1}
    assert meta["train_images"] == 500 and 0.3 < meta["test_accuracy"] <= 1.0
    assert net.count_params() == 225_034
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, no leftovers


@pytest.mark.parametrize("argv, words", [
    (["explain", "train-numpy", "--epochs", "0"], ["--epochs"]),
    (["explain", "train-numpy", "--batch-size", "0"], ["--batch-size"]),
    (["explain", "train-numpy", "--lr", "-1"], ["--lr"]),
    (["explain", "train-numpy", "--optimizer", "adagrad"], ["adagrad"]),
    (["explain", "train-numpy", "--train-samples", "3"], ["--train-samples"]),
    (["explain", "train-numpy", "--out", "weights.txt"], [".npz"]),
    (["explain", "train-numpy", "--epochs", "x"], ["--epochs"]),
    (["explain", "trian-numpy"], ["trian-numpy", "train-numpy"]),
])
def test_cli_bad_input_is_one_line(capsys, argv, words):
    code, _, err = run_cli(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("convolab: error:"), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]


def test_cli_out_folder_and_bad_weights_file(capsys, tmp_path):
    from convolab.explain.train_numpy import load_weights

    folder = tmp_path / "w.npz"
    folder.mkdir()
    code, _, err = run_cli(capsys, "explain", "train-numpy", "--out", folder)
    assert code == 2 and "is a folder" in err
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ConvolabError, match="junk.npz"):
        load_weights(junk)
