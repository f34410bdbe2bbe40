/* The zone editor (/zones): draw zone and mask polygons on a camera's latest frame; the service
   validates them and writes the YAML lines (POST /zones/preview), and loads pasted lines
   (POST /zones/load). Points are fractions 0..1 of the picture. */
(function () {
  "use strict";
  var ed = document.getElementById("zone-editor");
  var svg = document.getElementById("zone-svg");
  var img = document.getElementById("zone-img");
  if (!ed) return;
  var NS = "http://www.w3.org/2000/svg";
  var camera = ed.dataset.camera, csrf = ed.dataset.csrf;
  var names = {};
  ed.dataset.kindNames.split(";").forEach(function (p) { var i = p.indexOf("="); if (i > 0) names[p.slice(0, i)] = p.slice(i + 1); });
  var shapes = [], sel = -1, selPoint = -1, drawing = null, drag = null, W = 1, H = 1, seq = 0, timer = null;
  var $ = function (id) { return document.getElementById(id); };

  function newId() {
    var ids = shapes.map(function (s) { return s.id; }), id;
    do { seq += 1; id = "z-" + camera.slice(0, 50) + "-" + seq; } while (ids.indexOf(id) >= 0);
    return id;
  }
  function round(v) { return Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000; }
  function at(ev) {
    var r = svg.getBoundingClientRect();
    return [round((ev.clientX - r.left) / r.width), round((ev.clientY - r.top) / r.height)];
  }
  function el(name, attrs) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function pts(points) { return points.map(function (p) { return p[0] * W + "," + p[1] * H; }).join(" "); }

  function draw() {
    if (!svg) return;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var r = Math.max(W, H) / 140;
    shapes.concat(drawing ? [drawing] : []).forEach(function (s, i) {
      var cls = (s.kind === "mask" ? "mask" : "zone") + (i === sel ? " sel" : "");
      var shape = el(s === drawing ? "polyline" : "polygon", { points: pts(s.points), "class": cls, "vector-effect": "non-scaling-stroke", "data-i": i });
      svg.appendChild(shape);
      if (s === drawing || i === sel) {
        s.points.forEach(function (p, j) {
          svg.appendChild(el("circle", { cx: p[0] * W, cy: p[1] * H, r: r, "class": "pt" + (i === sel && j === selPoint ? " on" : ""),
            "data-i": s === drawing ? -1 : i, "data-j": j, "vector-effect": "non-scaling-stroke" }));
        });
      }
    });
  }

  function list() {
    var ol = $("zone-list");
    ol.innerHTML = "";
    if (!shapes.length) { var li0 = document.createElement("li"); li0.className = "muted"; li0.textContent = ed.dataset.msgNone; ol.appendChild(li0); }
    shapes.forEach(function (s, i) {
      var li = document.createElement("li");
      li.textContent = (names[s.kind] || s.kind) + (s.kind === "mask" ? " · " + s.classes.join(", ") : " · " + s.id) + " (" + s.points.length + ")";
      li.className = i === sel ? "on" : "";
      li.dataset.i = i;
      li.addEventListener("click", function () { select(i, -1); });
      ol.appendChild(li);
    });
    var f = $("zone-form"), s = shapes[sel];
    f.hidden = !s;
    if (!s) return;
    $("zone-kind").value = s.kind;
    $("zone-id").value = s.id || "";
    $("zone-name").value = s.name || "";
    $("zone-shop").value = s.shop_id || "";
    f.querySelectorAll(".z-only").forEach(function (e) { e.hidden = s.kind === "mask"; });
    $("zone-classes").hidden = s.kind !== "mask";
    $("zone-classes").querySelectorAll("input").forEach(function (c) { c.checked = s.classes.indexOf(c.value) >= 0; });
  }

  function select(i, j) { sel = i; selPoint = j; draw(); list(); }
  function changed() { draw(); list(); clearTimeout(timer); timer = setTimeout(preview, 150); }

  function body() {
    var zones = [], masks = [];
    shapes.forEach(function (s) {
      if (s.kind === "mask") masks.push({ classes: s.classes, polygon: s.points });
      else {
        var z = { id: s.id, kind: s.kind, polygon: s.points };
        if (s.name) z.name = s.name;
        if (s.shop_id) z.shop_id = s.shop_id;
        if (s.exemptions && s.exemptions.length) z.exemptions = s.exemptions;
        zones.push(z);
      }
    });
    return { camera_id: camera, zones: zones, masks: masks };
  }
  function post(url, data) {
    return fetch(url, { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRF": csrf },
      body: JSON.stringify(data) }).then(function (r) { return r.json(); });
  }
  function showError(msg) {
    var e = $("zone-error");
    e.hidden = !msg;
    e.textContent = msg ? ed.dataset.msgInvalid + msg : "";
  }
  function preview() {
    post("/zones/preview", body()).then(function (out) {
      if (out.error) { showError(out.error); return; }
      showError("");
      $("zone-yaml").textContent = out.yaml;
      var a = $("zone-download");
      if (a.dataset.url) URL.revokeObjectURL(a.dataset.url);
      a.dataset.url = URL.createObjectURL(new Blob([out.yaml], { type: "application/yaml" }));
      a.href = a.dataset.url;
      ed.dataset.ready = String(Number(ed.dataset.ready || 0) + 1);
    });
  }

  function close() {
    if (!drawing) return;
    if (drawing.points.length >= 3) { shapes.push(drawing); sel = shapes.length - 1; selPoint = -1; }
    drawing = null;
    changed();
  }
  function remove() {
    if (drawing) { drawing.points.pop(); if (!drawing.points.length) drawing = null; changed(); return; }
    var s = shapes[sel];
    if (!s) return;
    if (selPoint >= 0 && s.points.length > 3) { s.points.splice(selPoint, 1); selPoint = -1; }
    else { shapes.splice(sel, 1); sel = -1; selPoint = -1; }
    changed();
  }

  if (svg) {
    svg.addEventListener("mousedown", function (ev) {
      var t = ev.target;
      if (t.tagName === "circle" && t.dataset.i !== "-1") {
        drag = { i: Number(t.dataset.i), j: Number(t.dataset.j), moved: false };
        select(drag.i, drag.j);
        ev.preventDefault();
      }
    });
    window.addEventListener("mousemove", function (ev) {
      if (!drag) return;
      shapes[drag.i].points[drag.j] = at(ev);
      drag.moved = true;
      draw();
    });
    window.addEventListener("mouseup", function () { if (drag) { if (drag.moved) changed(); drag.dragged = drag.moved; setTimeout(function () { drag = null; }, 0); } });
    svg.addEventListener("click", function (ev) {
      svg.focus();
      if (drag) return;
      var t = ev.target;
      if (!drawing && t.tagName === "polygon") { select(Number(t.dataset.i), -1); return; }
      if (t.tagName === "circle" && !drawing) return;
      if (t.tagName === "circle" && drawing && t.dataset.j === "0" && drawing.points.length >= 3) { close(); return; }
      var p = at(ev);
      if (!drawing) { drawing = { kind: "sidewalk", id: newId(), name: "", shop_id: "", classes: ["ad_board"], points: [] }; sel = -1; }
      var last = drawing.points[drawing.points.length - 1];
      if (last && Math.abs(last[0] - p[0]) < 0.005 && Math.abs(last[1] - p[1]) < 0.005) return; // the second click of a double-click
      drawing.points.push(p);
      draw();
    });
    svg.addEventListener("dblclick", function (ev) { ev.preventDefault(); close(); });
    svg.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { close(); ev.preventDefault(); }
      else if (ev.key === "Escape") { drawing = null; select(-1, -1); ev.preventDefault(); }
      else if (ev.key === "Delete" || ev.key === "Backspace") { remove(); ev.preventDefault(); }
    });
    var sized = function () { W = img.naturalWidth || 1; H = img.naturalHeight || 1; svg.setAttribute("viewBox", "0 0 " + W + " " + H); draw(); };
    if (img.complete) sized(); else img.addEventListener("load", sized);
  }

  $("zone-kind").addEventListener("change", function (ev) { var s = shapes[sel]; if (s) { s.kind = ev.target.value; changed(); } });
  [["zone-id", "id"], ["zone-name", "name"], ["zone-shop", "shop_id"]].forEach(function (f) {
    $(f[0]).addEventListener("input", function (ev) { var s = shapes[sel]; if (s) { s[f[1]] = ev.target.value.trim(); changed(); } });
  });
  $("zone-classes").addEventListener("change", function () {
    var s = shapes[sel];
    if (!s) return;
    s.classes = Array.prototype.filter.call($("zone-classes").querySelectorAll("input"), function (c) { return c.checked; }).map(function (c) { return c.value; });
    changed();
  });
  $("zone-delete").addEventListener("click", function () { selPoint = -1; remove(); });
  $("zone-copy").addEventListener("click", function () {
    var text = $("zone-yaml").textContent;
    var done = function () { $("zone-copied").textContent = ed.dataset.msgCopied; };
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, function () {}); else done();
  });
  $("zone-load").addEventListener("click", function () {
    post("/zones/load", { text: $("zone-paste").value }).then(function (out) {
      if (out.error) { showError(out.error); return; }
      shapes = out.zones.map(function (z) {
        return { kind: z.kind, id: z.id, name: z.name || "", shop_id: z.shop_id || "", exemptions: z.exemptions, classes: ["ad_board"], points: z.polygon };
      }).concat(out.masks.map(function (m) { return { kind: "mask", id: "", classes: m.classes, points: m.polygon }; }));
      drawing = null;
      select(-1, -1);
      changed();
    });
  });
  changed();
})();
