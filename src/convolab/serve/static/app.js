// convolab's page: draw (or drop a photo), and watch the model's input, feature maps and
// probabilities; click a pixel to see one convolution written out. No libraries, no CDN.
"use strict";

const I18N = JSON.parse(document.getElementById("i18n").textContent);
const T = (text) => I18N[text] || text; // the page's language (from the gettext catalogs)

const $ = (id) => document.getElementById(id);
const pad = $("pad"), ctx = pad.getContext("2d");
const state = { models: [], model: null, history: [], drawing: false, last: null,
                timer: null, pending: 0, image: null, firstConv: null };

function setStatus(text) { $("status").textContent = text || ""; }

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
}

function snapshot() {
  state.history.push(ctx.getImageData(0, 0, pad.width, pad.height));
  if (state.history.length > 50) state.history.shift();
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

function stroke(from, to) {
  ctx.strokeStyle = "#000";
  ctx.lineWidth = Number($("brush").value);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from[0], from[1]);
  ctx.lineTo(to[0], to[1]);
  ctx.stroke();
}

pad.addEventListener("pointerdown", (event) => {
  pad.setPointerCapture(event.pointerId);
  snapshot();
  state.drawing = true;
  state.last = point(event);
  stroke(state.last, state.last);
  schedule();
});
pad.addEventListener("pointermove", (event) => {
  if (!state.drawing) return;
  const now = point(event);
  stroke(state.last, now);
  state.last = now;
  schedule();
});
for (const end of ["pointerup", "pointercancel", "pointerleave"]) {
  pad.addEventListener(end, () => {
    if (state.drawing) { state.drawing = false; schedule(0); }
  });
}
$("undo").addEventListener("click", () => {
  if (state.history.length) ctx.putImageData(state.history.pop(), 0, 0);
  schedule(0);
});
$("clear").addEventListener("click", () => { snapshot(); clearPad(); schedule(0); });

function schedule(delay = 150) { // debounced: one request per pause in the drawing
  clearTimeout(state.timer);
  state.timer = setTimeout(() => {
    state.image = pad.toDataURL("image/png").split(",")[1];
    inspect();
  }, delay);
}

async function post(path, body) {
  const response = await fetch(path, { method: "POST", body: JSON.stringify(body),
                                       headers: { "Content-Type": "application/json" } });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

async function inspect() {
  if (!state.model || !state.image) return;
  const ticket = ++state.pending;
  try {
    const answer = await post(`v1/models/${encodeURIComponent(state.model.name)}:inspect`,
                              { instances: [{ b64: state.image }] });
    if (ticket !== state.pending) return; // a newer drawing is on its way
    setStatus("");
    show(answer);
  } catch (error) {
    if (ticket === state.pending) setStatus(error.message);
  }
}

function drawInput(pixels) {
  const seen = $("seen"), c = seen.getContext("2d");
  const h = pixels.length, w = pixels[0].length;
  const small = new ImageData(w, h);
  pixels.forEach((row, y) => row.forEach((v, x) => {
    const i = 4 * (y * w + x);
    small.data[i] = small.data[i + 1] = small.data[i + 2] = v;
    small.data[i + 3] = 255;
  }));
  const tmp = document.createElement("canvas");
  tmp.width = w; tmp.height = h;
  tmp.getContext("2d").putImageData(small, 0, 0);
  c.imageSmoothingEnabled = false;
  c.drawImage(tmp, 0, 0, seen.width, seen.height);
  seen.dataset.rows = h; seen.dataset.cols = w;
}

function drawBars(classes, probabilities) {
  const best = probabilities.indexOf(Math.max(...probabilities));
  $("bars").replaceChildren(...classes.map((name, i) => {
    const bar = document.createElement("div");
    bar.className = "bar" + (i === best ? " top" : "");
    bar.dataset.class = name;
    bar.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span>` +
                    `</span><span class="p"></span>`;
    bar.querySelector(".name").textContent = name;
    bar.querySelector(".fill").style.width = `${(100 * probabilities[i]).toFixed(1)}%`;
    bar.querySelector(".p").textContent = `${(100 * probabilities[i]).toFixed(1)}%`;
    return bar;
  }));
}

function figure(png, caption, scale) {
  const f = document.createElement("figure");
  const img = document.createElement("img");
  img.src = png;
  img.alt = caption;
  img.onload = () => { img.width = img.naturalWidth * scale; };
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  f.append(img, cap);
  return f;
}

function show(answer) {
  drawInput(answer.input);
  drawBars(answer.classes, answer.probabilities);
  const maps = answer.layers.map((layer) => figure(layer.png,
    `${layer.name} (${layer.kind === "MaxPooling2D" ? T("max pooling") : layer.kind}): ` +
    `${layer.shape.join("×")} — ${layer.shape[2]} ${T("feature maps")}`,
    layer.shape[0] >= 20 ? 2 : 4));
  if (!answer.layers.length) {
    const note = document.createElement("p");
    note.className = "note";
    // One literal per translated text: the catalogs are looked up by the whole of it.
    note.textContent = T("This model's convolutions are inside its ImageNet base; it has no feature maps of its own to show.");
    maps.push(note);
  }
  $("maps").replaceChildren(...maps);
  const k = answer.kernels;
  $("kernels").replaceChildren(...(k ? [figure(k.png,
    `${T("Kernels of the first layer")} ${k.layer}: ${k.shape.join("×")}`, 8)] : []));
  state.firstConv = answer.layers.find((layer) => layer.kind === "Conv2D") || null;
  state.canExplain = answer.explain;
  if (!answer.explain) $("explain").textContent = answer.explain_note || "";
}

$("seen").addEventListener("click", async (event) => {
  if (!state.image || !state.firstConv || !state.canExplain) return;
  const seen = $("seen"), box = seen.getBoundingClientRect();
  const [oh, ow] = state.firstConv.shape;
  const y = (event.clientY - box.top) / box.height, x = (event.clientX - box.left) / box.width;
  const row = Math.min(oh - 1, Math.max(0, Math.floor(y * oh)));
  const col = Math.min(ow - 1, Math.max(0, Math.floor(x * ow)));
  try {
    const answer = await post(`v1/models/${encodeURIComponent(state.model.name)}:explain`,
                              { instances: [{ b64: state.image }], row, col,
                                lang: document.documentElement.lang });
    $("explain").replaceChildren(...answer.sections.map(section));
  } catch (error) {
    setStatus(error.message);
  }
});

function matrix(block) {
  const wrap = document.createElement("div");
  const cap = document.createElement("div");
  cap.className = "caption";
  cap.textContent = block.matrix;
  const table = document.createElement("table");
  table.className = "m";
  block.values.forEach((row, r) => {
    const tr = table.insertRow();
    row.forEach((v, c) => {
      const td = tr.insertCell();
      td.textContent = v === null ? "" : v;
      if (block.mark && block.mark[0] === r && block.mark[1] === c) td.className = "mark";
    });
  });
  wrap.append(cap, table);
  return wrap;
}

function block(b) {
  if (b.text !== undefined) {
    const p = document.createElement("p");
    p.textContent = b.text;
    return p;
  }
  if (b.matrix !== undefined) return matrix(b);
  if (b.op !== undefined) {
    const s = document.createElement("span");
    s.className = "op";
    s.textContent = b.op;
    return s;
  }
  if (b.side !== undefined) {
    const d = document.createElement("div");
    d.className = "side";
    d.append(...b.side.map(block));
    return d;
  }
  if (b.table !== undefined) {
    const table = document.createElement("table");
    table.className = "m";
    const head = table.insertRow();
    b.table.forEach((h) => {
      const th = document.createElement("th");
      th.textContent = h;
      head.append(th);
    });
    b.rows.forEach((row, r) => {
      const tr = table.insertRow();
      row.forEach((v) => {
        const td = tr.insertCell();
        td.textContent = v;
        if (r === b.mark) td.className = "mark";
      });
    });
    return table;
  }
  return document.createTextNode("");
}

function section(s) {
  const el = document.createElement("section");
  const h = document.createElement("h3");
  h.textContent = s.title;
  el.append(h, ...s.blocks.map(block));
  return el;
}

function chooseModel(name) {
  state.model = state.models.find((m) => m.name === name) || state.models[0];
  const m = state.model;
  const accuracy = m.test_accuracy == null ? "" :
    ` · ${T("test accuracy")} ${(100 * m.test_accuracy).toFixed(2)}%`;
  $("model-info").textContent = `${m.dataset} · ${m.model}${accuracy}`;
  // A digit model is drawn; any other (e.g. Fashion-MNIST) takes a photo.
  $("pad").hidden = !m.canvas;
  document.querySelector(".tools").hidden = !m.canvas;
  $("draw-title").textContent = m.canvas ? T("Draw a digit") : T("Upload a photo");
  if (state.image) inspect();
}

const MAX_SIDE = 1024; // photos are shrunk first: the model sees 28x28 at most anyway

async function readFile(file) {
  if (!file) return;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    state.image = canvas.toDataURL("image/png").split(",")[1];
  } catch (error) { // not an image the browser decodes: let the server name the problem
    state.image = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",")[1]);
      reader.readAsDataURL(file);
    });
  }
  inspect();
}

$("file").addEventListener("change", () => readFile($("file").files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  readFile(event.dataTransfer.files[0]);
});
$("model").addEventListener("change", () => chooseModel($("model").value));

async function start() {
  clearPad();
  const answer = await (await fetch("v1/models")).json();
  state.models = answer.models;
  $("model").replaceChildren(...state.models.map((m) => new Option(m.name, m.name)));
  chooseModel(state.models[0].name);
}
start().catch((error) => setStatus(error.message));
