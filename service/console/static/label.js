// NCE console: the labelling page (/label). Plain JS, no framework, no build step.
// It works through the frame pool with the frames API and the console's session cookie:
//   GET /api/v1/frames?status=&camera_id=&cursor=   the pool, newest first (a cursor by id)
//   GET /api/v1/frames/{id}                         one frame, its detections and label history
//   PUT /api/v1/frames/{id}/labels                  {"boxes": [{"label", "box"}], "complete": true}
// Boxes live on an SVG overlay whose viewBox is the frame's pixels, so what is drawn is what is sent.
(function () {
  "use strict";
  var root = document.getElementById("labeller");
  if (!root) { return; }
  var cfg = JSON.parse(root.getAttribute("data-config"));
  var CLASSES = cfg.classes;
  var SVGNS = "http://www.w3.org/2000/svg";
  var MIN_DRAW = 4; // frame pixels: a smaller drag is a click (deselects)
  var PAGE = 20;

  function $(id) { return document.getElementById(id); }
  var svg = $("overlay"), img = $("frame-img"), stage = $("stage");

  function word(key, values) {
    var text = cfg.words[key] || key;
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(String(values[k])); });
    return text;
  }
  function className(c) { return cfg.words["class." + c] || c; }
  function clamp(v, lo, hi) { return Math.min(Math.max(v, lo), hi); }
  function round2(v) { return Math.round(v * 100) / 100; }

  // --- state ---------------------------------------------------------------------------------------
  var queue = [];          // frames of the current page not opened yet
  var cursor = null;       // the API's next_cursor
  var started = false;     // the first page was asked for
  var seen = {};           // frame ids saved or skipped in this visit
  var frame = null;        // the frame open (the API's detail)
  var boxes = [];          // [{label, box: [x1, y1, x2, y2]}] in the frame's pixels
  var negatives = [];      // a review's hard negatives (shown, not sent: a labelling replaces them)
  var sel = -1;            // the selected box
  var nextClass = 0;       // the class of the next box drawn
  var drag = null;
  var busy = false;

  // --- the API -------------------------------------------------------------------------------------
  function detailOf(data, status) {
    var d = data && data.detail;
    if (typeof d === "string" && d) { return d; }
    if (Array.isArray(d) && d.length) {
      return d.map(function (e) { return (e.loc || []).join(".") + ": " + e.msg; }).join("; ");
    }
    return word("labeljs.http", { status: status });
  }
  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!r.ok) {
          var err = new Error(detailOf(data, r.status));
          err.status = r.status;
          throw err;
        }
        return data;
      });
    });
  }

  // --- messages ------------------------------------------------------------------------------------
  function showError(text) {
    var e = $("label-error");
    e.textContent = text || "";
    e.hidden = !text;
  }
  function flash(text) {
    var e = $("label-flash");
    e.textContent = text || "";
    e.hidden = !text;
  }

  // --- working through the pool --------------------------------------------------------------------
  function listUrl() {
    var p = new URLSearchParams({ status: cfg.status, limit: String(PAGE) });
    if (cfg.camera) { p.set("camera_id", cfg.camera); }
    if (cursor) { p.set("cursor", cursor); }
    return "/api/v1/frames?" + p.toString();
  }

  function next() {
    while (queue.length && seen[queue[0].frame_id]) { queue.shift(); }
    if (queue.length) { return open(queue.shift().frame_id); }
    if (started && !cursor) { empty(); return Promise.resolve(); }
    started = true;
    root.setAttribute("data-state", "loading");
    return api("GET", listUrl()).then(function (page) {
      queue = page.items;
      cursor = page.next_cursor;
      if (!queue.length && !cursor) { empty(); return undefined; }
      return next();
    });
  }

  function empty() {
    frame = null;
    boxes = [];
    negatives = [];
    sel = -1;
    stage.hidden = true;
    $("label-empty").hidden = false;
    $("frame-title").textContent = "—";
    $("frame-facts").textContent = "";
    $("prefill-note").textContent = "";
    $("history-list").innerHTML = "";
    root.removeAttribute("data-frame");
    root.setAttribute("data-state", "empty");
    render();
  }

  function clipped(box) {
    var x1 = clamp(Math.min(box[0], box[2]), 0, frame.width), x2 = clamp(Math.max(box[0], box[2]), 0, frame.width);
    var y1 = clamp(Math.min(box[1], box[3]), 0, frame.height), y2 = clamp(Math.max(box[1], box[3]), 0, frame.height);
    return x2 - x1 >= 1 && y2 - y1 >= 1 ? [x1, y1, x2, y2] : null;
  }

  function prefill(d) {
    var from = d.labels !== null ? d.labels.filter(function (b) { return !b.negative; }) : d.detections;
    var list = [];
    from.forEach(function (b) {
      var box = clipped(b.box);
      if (box && CLASSES.indexOf(b.label) >= 0) { list.push({ label: b.label, box: box }); }
    });
    var note = d.labels !== null ? "labeljs.prefill.labels"
      : (list.length ? "labeljs.prefill.detections" : "labeljs.prefill.none");
    negatives = (d.labels || []).filter(function (b) { return b.negative; });
    $("prefill-note").textContent = word(note) + (negatives.length ? " · " + word("labeljs.negative_hint") : "");
    return list;
  }

  function open(id) {
    root.setAttribute("data-state", "loading");
    return api("GET", "/api/v1/frames/" + id).then(function (d) {
      frame = d;
      boxes = prefill(d);
      sel = -1;
      svg.setAttribute("viewBox", "0 0 " + d.width + " " + d.height);
      $("label-empty").hidden = true;
      stage.hidden = false;
      $("frame-title").textContent = word("labeljs.frame", { id: d.frame_id });
      $("frame-facts").textContent = [
        d.camera_id, word("labeljs.source." + d.source), d.reason || "", d.width + "×" + d.height
      ].filter(Boolean).join(" · ");
      showHistory(d.history);
      root.setAttribute("data-frame", String(d.frame_id));
      return new Promise(function (resolve) {
        img.onload = img.onerror = function () { resolve(); };
        img.src = d.image_url;
      });
    }).then(function () {
      render();
      root.setAttribute("data-state", "ready");
    });
  }

  function when(iso) {
    try {
      return new Date(iso).toLocaleString("sv-SE", { timeZone: cfg.tz }).slice(0, 16);
    } catch (e) {
      return iso;
    }
  }

  function showHistory(rows) {
    var list = $("history-list");
    list.innerHTML = "";
    if (!rows.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = word("labeljs.no_history");
      list.appendChild(none);
      return;
    }
    rows.forEach(function (h, i) {
      var li = document.createElement("li");
      var text = word("labeljs.history_row", {
        when: when(h.created_at), who: h.labelled_by, how: word("labelhow." + h.how), n: h.boxes.length
      }) + (h.complete ? "" : word("labeljs.incomplete"));
      if (i === rows.length - 1) {
        li.className = "current";
        text += " · " + word("labeljs.current");
      }
      li.setAttribute("data-how", h.how);
      li.textContent = text;
      list.appendChild(li);
    });
  }

  // --- drawing the overlay -------------------------------------------------------------------------
  function el(name, attrs, parent) {
    var node = document.createElementNS(SVGNS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function scale() { // frame pixels per screen pixel
    var w = svg.getBoundingClientRect().width;
    return frame && w ? frame.width / w : 1;
  }

  function render() {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    if (frame) {
      negatives.forEach(function (b) {
        el("rect", { "class": "negative", x: b.box[0], y: b.box[1], width: b.box[2] - b.box[0], height: b.box[3] - b.box[1] }, svg);
      });
      var hs = 10 * scale();
      boxes.forEach(function (b, i) {
        var k = CLASSES.indexOf(b.label);
        var g = el("g", { "class": "box cls-" + k + (i === sel ? " sel" : ""), "data-i": i, "data-label": b.label }, svg);
        var x1 = b.box[0], y1 = b.box[1], x2 = b.box[2], y2 = b.box[3];
        el("rect", { "class": "body", x: x1, y: y1, width: x2 - x1, height: y2 - y1, "data-i": i }, g);
        var t = el("text", { x: x1 + 3 * scale(), y: Math.max(y1 - 4 * scale(), 14 * scale()), "font-size": 14 * scale() }, g);
        t.textContent = (k + 1) + " " + className(b.label);
        if (i === sel) {
          [["nw", x1, y1], ["ne", x2, y1], ["sw", x1, y2], ["se", x2, y2]].forEach(function (c) {
            el("rect", { "class": "handle " + c[0], x: c[1] - hs / 2, y: c[2] - hs / 2, width: hs, height: hs,
              "data-i": i, "data-corner": c[0] }, g);
          });
        }
      });
      if (drag && drag.mode === "draw" && drag.now) {
        var r = norm([drag.start[0], drag.start[1], drag.now[0], drag.now[1]]);
        el("rect", { "class": "drawing", x: r[0], y: r[1], width: r[2] - r[0], height: r[3] - r[1] }, svg);
      }
    }
    sidebar();
  }

  function sidebar() {
    var list = $("box-list");
    list.innerHTML = "";
    if (frame && !boxes.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = word("labeljs.no_boxes");
      list.appendChild(none);
    }
    boxes.forEach(function (b, i) {
      var li = document.createElement("li");
      li.className = "cls-" + CLASSES.indexOf(b.label) + (i === sel ? " sel" : "");
      li.textContent = (CLASSES.indexOf(b.label) + 1) + " " + className(b.label) + " [" +
        b.box.map(function (v) { return Math.round(v); }).join(", ") + "]";
      li.addEventListener("click", function () { sel = i; render(); });
      list.appendChild(li);
    });
    var selected = sel >= 0 ? boxes[sel].label : null;
    document.querySelectorAll("#class-list li").forEach(function (li, k) {
      li.classList.toggle("on", k === nextClass);
      li.classList.toggle("sel", li.getAttribute("data-class") === selected);
    });
    $("next-class").textContent = word("labeljs.next_class", { cls: (nextClass + 1) + " " + className(CLASSES[nextClass]) });
  }

  // --- the mouse: draw on empty space, move a box, resize by a corner -----------------------------
  function norm(b) {
    return [Math.min(b[0], b[2]), Math.min(b[1], b[3]), Math.max(b[0], b[2]), Math.max(b[1], b[3])];
  }

  function point(e) {
    var r = svg.getBoundingClientRect();
    return [
      clamp((e.clientX - r.left) * frame.width / r.width, 0, frame.width),
      clamp((e.clientY - r.top) * frame.height / r.height, 0, frame.height)
    ];
  }

  svg.addEventListener("pointerdown", function (e) {
    if (!frame || e.button !== 0) { return; }
    e.preventDefault();
    var p = point(e);
    var t = e.target;
    var i = t.hasAttribute && t.hasAttribute("data-i") ? Number(t.getAttribute("data-i")) : -1;
    if (i >= 0 && t.hasAttribute("data-corner")) {
      drag = { mode: "resize", i: i, corner: t.getAttribute("data-corner"), start: p, orig: boxes[i].box.slice() };
    } else if (i >= 0) {
      sel = i;
      drag = { mode: "move", i: i, start: p, orig: boxes[i].box.slice() };
    } else {
      drag = { mode: "draw", start: p, now: null };
    }
    svg.setPointerCapture(e.pointerId);
    render();
  });

  svg.addEventListener("pointermove", function (e) {
    if (!drag || !frame) { return; }
    var p = point(e);
    var dx = p[0] - drag.start[0], dy = p[1] - drag.start[1];
    if (drag.mode === "draw") {
      drag.now = p;
    } else if (drag.mode === "move") {
      var o = drag.orig;
      dx = clamp(dx, -o[0], frame.width - o[2]);
      dy = clamp(dy, -o[1], frame.height - o[3]);
      boxes[drag.i].box = [o[0] + dx, o[1] + dy, o[2] + dx, o[3] + dy];
    } else {
      var b = drag.orig.slice();
      if (drag.corner.indexOf("w") >= 0) { b[0] = p[0]; } else { b[2] = p[0]; }
      if (drag.corner.indexOf("n") >= 0) { b[1] = p[1]; } else { b[3] = p[1]; }
      boxes[drag.i].box = norm(b);
    }
    render();
  });

  function endDrag(e) {
    if (!drag) { return; }
    var d = drag;
    drag = null;
    if (svg.hasPointerCapture(e.pointerId)) { svg.releasePointerCapture(e.pointerId); }
    if (d.mode === "draw") {
      var b = d.now ? norm([d.start[0], d.start[1], d.now[0], d.now[1]]) : null;
      if (b && b[2] - b[0] >= MIN_DRAW && b[3] - b[1] >= MIN_DRAW) {
        boxes.push({ label: CLASSES[nextClass], box: b });
        sel = boxes.length - 1;
      } else {
        sel = -1;
      }
    } else if (d.mode === "resize") {
      var r = boxes[d.i].box;
      if (r[2] - r[0] < 1 || r[3] - r[1] < 1) { boxes[d.i].box = d.orig; } // never degenerate
    }
    render();
  }
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);
  window.addEventListener("resize", render);

  // --- actions -------------------------------------------------------------------------------------
  function setClass(k) {
    if (k < 0 || k >= CLASSES.length) { return; }
    if (sel >= 0) { boxes[sel].label = CLASSES[k]; } else { nextClass = k; }
    render();
  }

  function remove() {
    if (sel < 0) { return; }
    boxes.splice(sel, 1);
    sel = -1;
    render();
  }

  function save(list) {
    if (!frame || busy) { return; }
    busy = true;
    showError("");
    var id = frame.frame_id;
    var body = {
      boxes: list.map(function (b) { return { label: b.label, box: b.box.map(round2) }; }),
      complete: true
    };
    api("PUT", "/api/v1/frames/" + id + "/labels", body).then(function () {
      seen[id] = true;
      flash(list.length ? word("labeljs.saved", { id: id, n: list.length }) : word("labeljs.saved_negative", { id: id }));
      return load();
    }, function (err) {
      var m = /boxes\[(\d+)\]/.exec(err.message);
      if (m && Number(m[1]) < boxes.length && list === boxes) { sel = Number(m[1]); render(); }
      showError(word("labeljs.error", { detail: err.message }));
    }).then(function () { busy = false; });
  }

  function skip() {
    if (!frame || busy) { return; }
    seen[frame.frame_id] = true;
    flash(word("labeljs.skipped", { id: frame.frame_id }));
    busy = true;
    load().then(function () { busy = false; });
  }

  function load() {
    return next().catch(function (err) {
      root.setAttribute("data-state", "error");
      showError(word("labeljs.load_error", { detail: err.message }));
    });
  }

  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }

  document.addEventListener("keydown", function (e) {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var k = e.key;
    var handled = true;
    if (k >= "1" && k <= "9" && k.length === 1) { setClass(Number(k) - 1); }
    else if (k === "0" || k === "n" || k === "N") { save([]); }
    else if (k === "s" || k === "S") { skip(); }
    else if (k === "Enter") { save(boxes); }
    else if (k === "Delete" || k === "Backspace") { remove(); }
    else if (k === "Escape") { sel = -1; render(); }
    else { handled = false; }
    if (handled) { e.preventDefault(); }
  });

  $("btn-save").addEventListener("click", function () { save(boxes); });
  $("btn-negative").addEventListener("click", function () { save([]); });
  $("btn-skip").addEventListener("click", skip);
  $("btn-delete").addEventListener("click", remove);
  document.querySelectorAll("#class-list li").forEach(function (li, k) {
    li.addEventListener("click", function () { setClass(k); });
  });
  var camera = $("label-camera");
  if (camera) { camera.addEventListener("change", function () { camera.form.submit(); }); }

  load();
})();
