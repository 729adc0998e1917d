"""10 - Serving: a trained model behind an HTTP prediction API.

What this section of the unit teaches: a trained model is useful once other programs can
ask it for predictions. `convolab serve RUN_DIR` puts a run's model behind a web API in
TensorFlow Serving's REST shape (POST /v1/models/NAME:predict with {"instances": [...]})
and a page to draw digits on. Here the same server runs inside this script for a `with`
block (`convolab.serve.server.serving`: loopback, a free port, a background thread); a
client posts real MNIST test digits to it, once as pixel arrays (the model's raw input)
and once as an image file (a dark digit on white paper, upscaled, as a scan would be),
which the server prepares as `convolab predict` prepares photos; then the server stops.

Result it should reach (2-core AMD EPYC VM, TensorFlow CPU, one run):
    full budget (seed-cnn on 10,000 images, 2 epochs; 20 test digits posted): the API's
        probabilities equal Run.predict's (difference 0); 20 of 20 digits right as pixels,
        the scanned 7 read as a 7 with probability 0.9999; test accuracy 97.11%; 14 s
    tiny budget (600 images, 1 epoch): the same requests, 14 of 20 digits right (70%);
        checked that the API answers with Run.predict's probabilities and that the model
        beats chance (>= 20% of the posted digits right, chance is 10%); about 9 s with
        the imports

    python examples/10_serving.py
"""

import base64
import io
import json
import urllib.error
import urllib.request

import numpy as np
from PIL import Image

import convolab  # first: it sets TensorFlow's CPU options before Keras loads it
from _budget import output_dir, pick
from convolab.serve.server import serving

out = output_dir("10_serving")

# --- 1. A model to serve ----------------------------------------------------------------
run = convolab.train({"model": {"name": "seed-cnn"},
                      "data": {"train_samples": pick(full=10_000, tiny=600)},
                      "train": {"epochs": pick(full=2, tiny=1)},
                      "out": str(out / "digits")})
print(f"serving {run.path} (test accuracy {run.metrics['test_accuracy']:.2%})")

def call(base_url, path, body=None):
    """GET (no body) or POST JSON to the API; the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base_url + path, data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


# --- 2. Start the API on 127.0.0.1, on a port the system says is free -------------------
# `convolab serve RUN_DIR --port 8000` does the same from the command line, until Ctrl-C;
# `serving` runs it in this process until its `with` block ends.
with serving([run.path]) as server:  # the server stops when the block ends, as on Ctrl-C
    base_url, name = server.url, server.names[0]  # a model is named after its run's folder
    print(f"{base_url}/readyz: {call(base_url, '/readyz')['status']}")
    listed = [m["name"] for m in call(base_url, "/v1/models")["models"]]
    print(f"{base_url}/v1/models: {listed}")

    # --- 3. POST digits as pixel arrays (28x28, 0-255) ------------------------------------
    ds = run.test_set()
    count = 20
    digits, labels = ds.x_test[:count], ds.y_test[:count]
    answer = call(base_url, f"/v1/models/{name}:predict",
                  {"instances": [d[:, :, 0].astype(int).tolist() for d in digits]})
    api_probabilities = np.array(answer["predictions"])
    predicted = api_probabilities.argmax(axis=1)
    print(f"POST /v1/models/{name}:predict, {count} digits as pixels:")
    print(f"   labels     {labels.tolist()}\n   answered   {predicted.tolist()}")
    library_difference = float(np.abs(api_probabilities - run.predict(digits)).max())

    # --- 4. POST one digit as an image file: dark ink on white paper, 112x112 -----------
    scan = Image.fromarray(255 - digits[0][:, :, 0].astype("uint8")).resize((112, 112))
    png = io.BytesIO()
    scan.save(png, format="PNG")
    scan.save(out / "scan-of-test-0.png")
    answer = call(base_url, f"/v1/models/{name}:predict",
                  {"instances": [{"b64": base64.b64encode(png.getvalue()).decode()}]})
    scanned = np.array(answer["predictions"][0])
    print(f"the scan of test digit 0 (a {labels[0]}): {answer['labels'][0]} with probability "
          f"{scanned.max():.4f}")

# --- 5. The result -------------------------------------------------------------------------
right = float((predicted == labels).mean())
print(f"{right:.0%} of the posted digits answered right; the API's probabilities differ "
      f"from Run.predict's by at most {library_difference:.2g}")
try:
    urllib.request.urlopen(base_url + "/readyz", timeout=5)
    stopped = False
except urllib.error.URLError:
    stopped = True
assert stopped, "the server should have stopped"
assert library_difference <= 1e-5, (
    f"the API should answer what Run.predict computes; they differ by {library_difference}")
least = pick(full=0.95, tiny=0.20)
assert right >= least, f"{right:.0%} of the posted digits right, expected >= {least:.0%}"
if pick(full=True, tiny=False):
    assert int(scanned.argmax()) == labels[0], (
        f"the scanned {labels[0]} was read as {int(scanned.argmax())}")
