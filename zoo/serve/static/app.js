// The click-to-segment page: plain JavaScript, no build step, nothing from other hosts.
//
// State lives in one object (`state`); every user action pushes an undo snapshot, changes
// the current object's prompts and asks the server for that object's mask. The image is
// uploaded once; later clicks send only prompts (the server keeps the embedding).
"use strict";

(function () {
  const COLORS = [
    [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
    [140, 86, 75], [227, 119, 194], [23, 190, 207], [188, 189, 34], [127, 127, 127],
    [57, 59, 121], [173, 73, 74],
  ];
  const DRAG_MIN_PX = 6; // on screen: shorter drags are clicks

  const $ = (id) => document.getElementById(id);
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");

  const state = {
    token: null,
    models: [],
    model: null,
    image: null, // {id, width, height, name, bitmap}
    objects: [],
    current: -1,
    history: [],
    seq: 0,
    inflight: 0,
    responses: [], // every segmentation answer, as received (tests read these)
    drag: null,
    nextColor: 0,
  };
  window.zooPage = { state };

  // ------------------------------------------------------------------ server
  function readToken() {
    const m = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash);
    if (m) {
      state.token = decodeURIComponent(m[1]);
      sessionStorage.setItem("zoo-token", state.token);
      history.replaceState(null, "", window.location.pathname + window.location.search);
    } else {
      state.token = sessionStorage.getItem("zoo-token");
    }
  }

  async function api(path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    if (state.token) opts.headers.Authorization = "Bearer " + state.token;
    if (opts.json !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.json);
      delete opts.json;
    }
    const response = await fetch(path, opts);
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      const e = (data && data.error) || { code: "http_" + response.status, message: response.statusText };
      if (response.status === 401 && !state.token) {
        e.message += " (open the URL the server printed, with its #token=...)";
      }
      throw Object.assign(new Error(e.message), { code: e.code, status: response.status });
    }
    return data;
  }

  function busy(delta) {
    state.inflight += delta;
    document.body.dataset.busy = state.inflight > 0 ? "1" : "0";
  }

  function status(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.className = "status" + (kind ? " " + kind : "");
  }

  // ------------------------------------------------------------------ models
  function modelRow(name) {
    return state.models.find((m) => m.name === name) || null;
  }

  function promptable(row) {
    return row.serve && row.serve.endpoints.indexOf("/v1/segment") >= 0;
  }

  async function loadModels() {
    const rows = await api("/v1/models");
    state.models = rows.filter(promptable);
    const select = $("model");
    select.textContent = "";
    for (const row of state.models) {
      const opt = document.createElement("option");
      opt.value = row.name;
      opt.textContent = row.name + (row.serve.loaded ? " (loaded)" : "");
      select.appendChild(opt);
    }
    const loaded = state.models.find((m) => m.serve.loaded);
    const fallback = state.models.find((m) => m.default) || state.models[0];
    const pick = loaded || fallback;
    if (!pick) {
      status("this server has no promptable model", "error");
      return;
    }
    select.value = pick.name;
    selectModel(pick.name);
  }

  function selectModel(name) {
    state.model = name;
    const row = modelRow(name);
    showWeights(row && row.serve.weights, row && row.serve.test_mode, row && row.serve.loaded);
    const every = $("everything");
    const ok = row && row.serve.everything;
    every.disabled = !ok || !state.image;
    every.title = ok ? "automatic masks for the whole image"
      : "this model has no automatic mask generation (segment_everything)";
    const concepts = !!row && row.serve.endpoints.indexOf("/v1/concepts") >= 0;
    $("find").disabled = !concepts || !state.image;
    $("concept-text").disabled = !concepts;
    $("concept-text").title = concepts ? "every instance of each concept (';' between them)"
      : "this model does not find concepts from text (the concept task)";
  }

  function showWeights(weights, testMode, loaded) {
    const label = weights ? weights : loaded ? "?" : "loads on first click";
    $("weights").textContent = "weights: " + label;
    $("weights").classList.toggle("random", !!testMode);
    $("testmode").hidden = !testMode;
  }

  // ------------------------------------------------------------------ image
  async function openFile(file) {
    if (!file) return;
    busy(1);
    status("uploading " + file.name + " …");
    try {
      const form = new FormData();
      form.append("file", file, file.name);
      const info = await api("/v1/images", { method: "POST", body: form });
      const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
      state.image = {
        id: info.image_id, width: info.width, height: info.height, name: info.name || file.name,
        bitmap,
      };
      canvas.width = info.width;
      canvas.height = info.height;
      canvas.hidden = false;
      $("drop").hidden = true;
      fit();
      state.objects = [];
      state.history = [];
      state.nextColor = 0;
      newObject(false);
      $("image-info").textContent = `${state.image.name} · ${info.width}×${info.height} · ` +
        `id ${info.image_id.slice(0, 12)}…`;
      selectModel(state.model);
      status("click the object you want; the first click computes the embedding");
      render();
    } catch (err) {
      status(err.message, "error");
    } finally {
      busy(-1);
    }
  }

  // ------------------------------------------------------------------ objects
  function newObject(record) {
    if (record !== false) snapshot();
    const color = COLORS[state.nextColor % COLORS.length];
    state.nextColor += 1;
    state.objects.push({
      n: state.nextColor, color, points: [], labels: [], box: null,
      mask: null, layer: null, annotation: null, score: null,
    });
    state.current = state.objects.length - 1;
    renderList();
  }

  function currentObject() {
    if (state.current < 0 || !state.objects[state.current]) newObject(false);
    return state.objects[state.current];
  }

  function snapshot() {
    state.history.push({
      current: state.current,
      nextColor: state.nextColor,
      objects: state.objects.map((o) => Object.assign({}, o, {
        points: o.points.slice(), labels: o.labels.slice(),
      })),
    });
    if (state.history.length > 200) state.history.shift();
  }

  function undo() {
    const prev = state.history.pop();
    if (!prev) return;
    state.objects = prev.objects;
    state.current = prev.current;
    state.nextColor = prev.nextColor;
    render();
    renderList();
    // a state whose answer was superseded before it arrived: ask again
    for (const o of state.objects) if (!o.layer && (o.points.length || o.box)) segment(o);
  }

  function clearAll() {
    if (!state.objects.length) return;
    snapshot();
    state.objects = [];
    state.nextColor = 0;
    newObject(false);
    render();
  }

  function promptOf(obj) {
    const p = {};
    if (obj.points.length) {
      p.points = obj.points;
      p.labels = obj.labels;
    }
    if (obj.box) p.box = obj.box;
    return p;
  }

  async function segment(obj) {
    if (!state.image || !state.model) return;
    if (!obj.points.length && !obj.box) {
      obj.mask = obj.layer = obj.annotation = null;
      obj.score = null;
      render();
      renderList();
      return;
    }
    const seq = ++state.seq;
    obj.pending = seq;
    const body = {
      model: state.model,
      image_id: state.image.id,
      prompts: [promptOf(obj)],
      // one click alone is ambiguous (part or whole?): let the decoder pick its best of 3
      multimask: obj.points.length === 1 && !obj.box,
    };
    busy(1);
    const t0 = performance.now();
    try {
      const res = await api("/v1/segment", { method: "POST", json: body });
      state.responses.push({ request: body, response: res });
      // superseded by a later click on this object, or the object is gone (undo, clear)
      if (obj.pending !== seq || state.objects.indexOf(obj) < 0) return;
      const ann = res.annotations[0];
      const decoded = window.zooRLE.decode(ann.segmentation);
      obj.mask = decoded.mask;
      obj.area = decoded.area;
      obj.annotation = ann;
      obj.score = res.scores[0];
      obj.layer = maskLayer(decoded.mask, obj.color);
      showWeights(res.weights, res.test_mode, true);
      const ms = Math.round(performance.now() - t0);
      const t = res.timing_ms || {};
      status(`${ms} ms · decoder ${Math.round(t.decode || 0)} ms · embedding ${res.embedding}` +
        (res.embedding === "computed" ? ` (${Math.round(t.embed || 0)} ms)` : ""));
      markLoaded(res.model);
      render();
      renderList();
    } catch (err) {
      if (obj.pending === seq) status(err.message, "error");
    } finally {
      busy(-1);
    }
  }

  function markLoaded(name) {
    const row = modelRow(name);
    if (row && !row.serve.loaded) {
      row.serve.loaded = true;
      const opt = Array.from($("model").options).find((o) => o.value === name);
      if (opt) opt.textContent = name + " (loaded)";
    }
  }

  async function everything() {
    if (!state.image) return;
    busy(1);
    status("segmenting everything …");
    try {
      const res = await api("/v1/everything", {
        method: "POST", json: { model: state.model, image_id: state.image.id },
      });
      snapshot();
      state.objects = state.objects.filter((o) => o.mask);
      for (const ann of res.annotations) {
        const decoded = window.zooRLE.decode(ann.segmentation);
        const color = COLORS[state.nextColor % COLORS.length];
        state.nextColor += 1;
        state.objects.push({
          n: state.nextColor, color, points: [], labels: [], box: null, mask: decoded.mask,
          area: decoded.area, annotation: ann, score: ann.score,
          layer: maskLayer(decoded.mask, color),
        });
      }
      newObject(false);
      showWeights(res.weights, res.test_mode, true);
      status(`${res.annotations.length} masks`);
      render();
    } catch (err) {
      status(err.message, "error");
    } finally {
      busy(-1);
    }
  }

  // Every instance of each concept typed in the text box (POST /v1/concepts): one object
  // per instance, named by its concept.
  async function findConcepts(e) {
    if (e) e.preventDefault();
    if (!state.image || $("find").disabled) return;
    const concepts = $("concept-text").value.split(";").map((t) => t.trim()).filter((t) => t);
    if (!concepts.length) {
      status("type a concept to find, e.g. dog; red car", "error");
      return;
    }
    busy(1);
    status("finding " + concepts.join(", ") + " …");
    try {
      const res = await api("/v1/concepts", {
        method: "POST", json: { model: state.model, image_id: state.image.id, concepts },
      });
      snapshot();
      state.objects = state.objects.filter((o) => o.mask);
      for (const ann of res.annotations) {
        const decoded = window.zooRLE.decode(ann.segmentation);
        const color = COLORS[state.nextColor % COLORS.length];
        state.nextColor += 1;
        state.objects.push({
          n: state.nextColor, color, points: [], labels: [], box: null, mask: decoded.mask,
          area: decoded.area, annotation: ann, score: ann.score, concept: ann.concept,
          layer: maskLayer(decoded.mask, color),
        });
      }
      newObject(false);
      showWeights(res.weights, res.test_mode, true);
      markLoaded(res.model);
      const found = res.concepts.map((c, k) => `${c} (presence ${res.presence[k].toFixed(2)})`);
      status(`${res.annotations.length} instances · ${found.join(", ")}`);
      render();
      renderList();
    } catch (err) {
      status(err.message, "error");
    } finally {
      busy(-1);
    }
  }

  // ------------------------------------------------------------------ drawing
  // A mask as its own canvas: translucent fill, opaque outline. Built once per answer, so
  // redraws (a drag, a new point) only composite.
  function maskLayer(mask, color) {
    const w = state.image.width;
    const h = state.image.height;
    const layer = document.createElement("canvas");
    layer.width = w;
    layer.height = h;
    const lctx = layer.getContext("2d");
    const img = lctx.createImageData(w, h);
    const px = img.data;
    for (let y = 0; y < h; y += 1) {
      for (let x = 0; x < w; x += 1) {
        const i = y * w + x;
        if (!mask[i]) continue;
        const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 ||
          !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w];
        const o = i * 4;
        px[o] = color[0];
        px[o + 1] = color[1];
        px[o + 2] = color[2];
        px[o + 3] = edge ? 255 : 115;
      }
    }
    lctx.putImageData(img, 0, 0);
    return layer;
  }

  function drawPrompts(g, scale) {
    const r = Math.max(4, 7 * scale);
    state.objects.forEach((o, idx) => {
      const [cr, cg, cb] = o.color;
      if (o.box) {
        g.lineWidth = Math.max(2, 2.5 * scale);
        g.setLineDash([10 * scale, 6 * scale]);
        g.strokeStyle = `rgb(${cr},${cg},${cb})`;
        const [x1, y1, x2, y2] = o.box;
        g.strokeRect(x1, y1, x2 - x1, y2 - y1);
        g.setLineDash([]);
      }
      o.points.forEach((p, i) => {
        g.beginPath();
        g.arc(p[0], p[1], r, 0, 2 * Math.PI);
        g.fillStyle = o.labels[i] === 1 ? "#22c55e" : "#ef4444";
        g.fill();
        g.lineWidth = Math.max(1.5, 2 * scale);
        g.strokeStyle = idx === state.current ? "#ffffff" : "rgba(255,255,255,0.6)";
        g.stroke();
        if (o.labels[i] === 0) {
          g.beginPath();
          g.moveTo(p[0] - r / 2, p[1]);
          g.lineTo(p[0] + r / 2, p[1]);
          g.strokeStyle = "#ffffff";
          g.stroke();
        }
      });
    });
  }

  // Show the image as large as the stage allows (never above 2x), keeping its aspect; the
  // canvas keeps the image's own resolution, so masks stay pixel-exact.
  function fit() {
    if (!state.image) return;
    const stage = $("stage");
    const pad = 32;
    const availW = Math.max(100, stage.clientWidth - pad);
    const availH = Math.max(100, stage.clientHeight - pad);
    const s = Math.min(availW / canvas.width, availH / canvas.height, 2);
    canvas.style.width = Math.floor(canvas.width * s) + "px";
    canvas.style.height = Math.floor(canvas.height * s) + "px";
  }

  // Each mask's score, in its colour, at the top-left corner of its bounding box.
  function drawScores(g, scale) {
    const size = Math.max(11, Math.round(13 * scale));
    g.font = `600 ${size}px system-ui, sans-serif`;
    g.textBaseline = "top";
    const placed = [];
    const hits = (r) => placed.some((q) => r.x < q.x + q.w && q.x < r.x + r.w && r.y < q.y + q.h && q.y < r.y + r.h);
    for (const o of state.objects) {
      if (!o.annotation || o.score === null || o.score === undefined) continue;
      const [bx, by] = o.annotation.bbox;
      const text = `${o.n} · ${o.score.toFixed(2)}`;
      const w = g.measureText(text).width + size * 0.8;
      const h = size * 1.5;
      const x = Math.min(Math.max(0, bx), canvas.width - w);
      let y = Math.min(Math.max(0, by - h), canvas.height - h);
      while (hits({ x, y, w, h }) && y + h < canvas.height) y += h + 2; // masks sharing a corner
      placed.push({ x, y, w, h });
      g.fillStyle = `rgba(${o.color.join(",")},0.92)`;
      g.fillRect(x, y, w, h);
      g.fillStyle = "#ffffff";
      g.fillText(text, x + size * 0.4, y + size * 0.25);
    }
  }

  function displayScale() {
    const rect = canvas.getBoundingClientRect();
    return rect.width ? canvas.width / rect.width : 1;
  }

  function render() {
    if (!state.image) return;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(state.image.bitmap, 0, 0, canvas.width, canvas.height);
    for (const o of state.objects) if (o.layer) ctx.drawImage(o.layer, 0, 0);
    const scale = displayScale();
    drawPrompts(ctx, scale);
    drawScores(ctx, scale);
    if (state.drag && state.drag.moved) {
      const d = state.drag;
      ctx.lineWidth = Math.max(2, 2 * scale);
      ctx.setLineDash([8 * scale, 5 * scale]);
      ctx.strokeStyle = "#ffffff";
      ctx.strokeRect(Math.min(d.x0, d.x1), Math.min(d.y0, d.y1),
        Math.abs(d.x1 - d.x0), Math.abs(d.y1 - d.y0));
      ctx.setLineDash([]);
    }
  }

  function renderList() {
    const list = $("objects");
    list.textContent = "";
    state.objects.forEach((o, idx) => {
      const li = document.createElement("li");
      li.className = idx === state.current ? "current" : "";
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = `rgb(${o.color.join(",")})`;
      const label = document.createElement("span");
      label.className = "label";
      const what = o.box ? "box" + (o.points.length ? " + " : "") : "";
      const clicks = o.points.length ? `${o.points.length} click${o.points.length > 1 ? "s" : ""}` : "";
      const name = document.createElement("span");
      name.textContent = `object ${o.n}`;
      const sub = document.createElement("small");
      sub.textContent = what || clicks ? what + clicks : o.concept ? o.concept
        : o.annotation ? "automatic" : "no prompt yet";
      label.append(name, sub);
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = o.score === null || o.score === undefined ? "—" : "score " + o.score.toFixed(3);
      const del = document.createElement("button");
      del.type = "button";
      del.className = "x";
      del.title = "remove this object";
      del.textContent = "×";
      del.addEventListener("click", (e) => {
        e.stopPropagation();
        snapshot();
        state.objects.splice(idx, 1);
        state.current = Math.min(state.current, state.objects.length - 1);
        if (!state.objects.length) newObject(false);
        render();
        renderList();
      });
      li.append(sw, label, score, del);
      li.addEventListener("click", () => {
        state.current = idx;
        render();
        renderList();
      });
      list.appendChild(li);
    });
  }

  // ------------------------------------------------------------------ pointer
  function toImage(e) {
    const rect = canvas.getBoundingClientRect();
    const x = ((e.clientX - rect.left) * canvas.width) / rect.width;
    const y = ((e.clientY - rect.top) * canvas.height) / rect.height;
    return [
      Math.round(Math.min(Math.max(x, 0), canvas.width)),
      Math.round(Math.min(Math.max(y, 0), canvas.height)),
    ];
  }

  function onDown(e) {
    if (!state.image) return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    const [x, y] = toImage(e);
    state.drag = {
      x0: x, y0: y, x1: x, y1: y, sx: e.clientX, sy: e.clientY, moved: false,
      background: e.button === 2 || e.shiftKey,
    };
  }

  function onMove(e) {
    const d = state.drag;
    if (!d) return;
    const [x, y] = toImage(e);
    d.x1 = x;
    d.y1 = y;
    if (Math.hypot(e.clientX - d.sx, e.clientY - d.sy) >= DRAG_MIN_PX) d.moved = true;
    if (d.moved) render();
  }

  function onUp(e) {
    const d = state.drag;
    state.drag = null;
    if (!d) return;
    const obj = currentObject();
    snapshot();
    if (d.moved && !d.background) {
      obj.box = [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.max(d.x0, d.x1),
        Math.max(d.y0, d.y1)];
      if (obj.box[2] - obj.box[0] < 1 || obj.box[3] - obj.box[1] < 1) {
        state.history.pop();
        obj.box = null;
        render();
        return;
      }
    } else {
      obj.points.push([d.x0, d.y0]);
      obj.labels.push(d.background ? 0 : 1);
    }
    render();
    renderList();
    segment(obj);
  }

  // ------------------------------------------------------------------ downloads
  function baseName() {
    const n = (state.image && state.image.name) || "image";
    return n.replace(/\.[^.]+$/, "");
  }

  function save(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => {
      URL.revokeObjectURL(a.href);
      a.remove();
    }, 1000);
  }

  function withMasks() {
    return state.objects.filter((o) => o.annotation);
  }

  function cocoDocument() {
    const objs = withMasks();
    const testMode = !$("testmode").hidden;
    return {
      info: {
        description: "masks drawn with the sam-zoo page",
        model: state.model,
        weights: $("weights").textContent.replace(/^weights: /, ""),
        test_mode: testMode,
        date_created: new Date().toISOString(),
      },
      images: [{
        id: 1, file_name: state.image.name, width: state.image.width, height: state.image.height,
      }],
      categories: [{ id: 1, name: "object", supercategory: "object" }],
      annotations: objs.map((o, i) => Object.assign({}, o.annotation, {
        id: i + 1, image_id: 1, category_id: 1, iscrowd: 0,
        prompt: promptOf(o), object: o.n,
      })),
    };
  }

  function downloadCoco() {
    if (!state.image) return;
    const text = JSON.stringify(cocoDocument(), null, 1);
    save(new Blob([text], { type: "application/json" }), baseName() + ".coco.json");
  }

  // The masks alone: each object's colour where it is, transparent elsewhere.
  function downloadMasks() {
    if (!state.image) return;
    const c = document.createElement("canvas");
    c.width = state.image.width;
    c.height = state.image.height;
    const g = c.getContext("2d");
    const img = g.createImageData(c.width, c.height);
    for (const o of withMasks()) {
      for (let i = 0; i < o.mask.length; i += 1) {
        if (!o.mask[i]) continue;
        img.data[i * 4] = o.color[0];
        img.data[i * 4 + 1] = o.color[1];
        img.data[i * 4 + 2] = o.color[2];
        img.data[i * 4 + 3] = 255;
      }
    }
    g.putImageData(img, 0, 0);
    c.toBlob((b) => save(b, baseName() + ".masks.png"), "image/png");
  }

  function downloadOverlay() {
    if (!state.image) return;
    const c = document.createElement("canvas");
    c.width = canvas.width;
    c.height = canvas.height;
    const g = c.getContext("2d");
    g.drawImage(canvas, 0, 0);
    if (!$("testmode").hidden) {
      const size = Math.max(14, Math.round(c.width / 45));
      g.fillStyle = "rgba(180, 20, 20, 0.85)";
      g.fillRect(0, 0, c.width, size * 1.8);
      g.fillStyle = "#ffffff";
      g.font = `bold ${size}px sans-serif`;
      g.fillText("TEST MODE: random weights, not real predictions", size * 0.5, size * 1.25);
    }
    c.toBlob((b) => save(b, baseName() + ".overlay.png"), "image/png");
  }

  // ------------------------------------------------------------------ wiring
  function wire() {
    $("file").addEventListener("change", (e) => openFile(e.target.files[0]));
    $("file2").addEventListener("change", (e) => openFile(e.target.files[0]));
    const stage = $("stage");
    stage.addEventListener("dragover", (e) => {
      e.preventDefault();
      stage.classList.add("over");
    });
    stage.addEventListener("dragleave", () => stage.classList.remove("over"));
    stage.addEventListener("drop", (e) => {
      e.preventDefault();
      stage.classList.remove("over");
      if (e.dataTransfer.files.length) openFile(e.dataTransfer.files[0]);
    });
    canvas.addEventListener("pointerdown", onDown);
    canvas.addEventListener("pointermove", onMove);
    canvas.addEventListener("pointerup", onUp);
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    $("model").addEventListener("change", (e) => {
      selectModel(e.target.value);
      for (const o of state.objects) if (o.points.length || o.box) segment(o);
    });
    $("new-object").addEventListener("click", () => newObject());
    $("undo").addEventListener("click", undo);
    $("clear").addEventListener("click", clearAll);
    $("everything").addEventListener("click", everything);
    $("concept-form").addEventListener("submit", findConcepts);
    $("dl-coco").addEventListener("click", downloadCoco);
    $("dl-masks").addEventListener("click", downloadMasks);
    $("dl-overlay").addEventListener("click", downloadOverlay);
    window.addEventListener("keydown", (e) => {
      if (e.target && (e.target.tagName === "SELECT" || e.target.tagName === "INPUT")) return;
      if (e.key === "n" || e.key === "N") newObject();
      else if (e.key === "z" || e.key === "Z") undo();
    });
    window.addEventListener("resize", () => {
      fit();
      render();
    });
  }

  readToken();
  wire();
  loadModels().catch((err) => status(err.message, "error"));
})();
