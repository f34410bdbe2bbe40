// NCE review console: keyboard shortcuts and small conveniences. Everything works without it.
(function () {
  "use strict";
  var page = document.body.getAttribute("data-page");

  function typing(e) {
    var t = e.target;
    return t && ((t.tagName === "INPUT" && t.type !== "checkbox") || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  function go(id) {
    var a = document.getElementById(id);
    if (a) { window.location.href = a.href; }
  }

  // the queue: J/K move the selection, Enter (or O) opens it; clicking a row opens it
  if (page === "queue") {
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr.row"));
    var sel = -1;
    var select = function (i) {
      if (!rows.length) { return; }
      if (sel >= 0) { rows[sel].classList.remove("sel"); }
      sel = Math.max(0, Math.min(rows.length - 1, i));
      rows[sel].classList.add("sel");
      rows[sel].scrollIntoView({ block: "nearest" });
    };
    rows.forEach(function (row) {
      row.addEventListener("click", function (e) {
        if (e.target.closest("a") || e.target.closest("td.pick")) { return; }
        window.location.href = row.getAttribute("data-href");
      });
    });
    // bulk dismissal: pick drafts (click or X), the count shows; the server asks to confirm
    var picks = Array.prototype.slice.call(document.querySelectorAll("input.pick"));
    var count = document.getElementById("bulk-count");
    var recount = function () {
      var n = picks.filter(function (b) { return b.checked; }).length;
      picks.forEach(function (b) { b.closest("tr").classList.toggle("picked", b.checked); });
      if (count) { count.textContent = count.getAttribute("data-template").replace("{n}", String(n)); }
    };
    picks.forEach(function (b) { b.addEventListener("change", recount); });
    recount();
    // new drafts arrive all day: reload the first page of the draft queue while nobody is using it
    var refresh = Number(document.body.getAttribute("data-refresh") || 0);
    var lastInput = Date.now();
    ["keydown", "mousemove", "focusin"].forEach(function (ev) {
      document.addEventListener(ev, function () { lastInput = Date.now(); });
    });
    if (refresh > 0) {
      window.setInterval(function () {
        var idle = Date.now() - lastInput > refresh * 1000;
        var anyPicked = picks.some(function (b) { return b.checked; });
        if (idle && sel < 0 && !anyPicked && document.visibilityState === "visible") { window.location.reload(); }
      }, refresh * 1000);
    }
    document.addEventListener("keydown", function (e) {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) { return; }
      var k = e.key.toLowerCase();
      if (k === "x" && sel >= 0) {
        var pickBox = rows[sel].querySelector("input.pick");
        if (pickBox) { pickBox.checked = !pickBox.checked; pickBox.dispatchEvent(new Event("change")); }
        e.preventDefault();
      }
      else if (k === "j") { select(sel + 1); e.preventDefault(); }
      else if (k === "k") { select(sel - 1); e.preventDefault(); }
      else if ((k === "enter" || k === "o") && sel >= 0) { window.location.href = rows[sel].getAttribute("data-href"); }
    });
  }

  if (page === "case") {
    // raw <-> annotated stills
    var toggle = document.getElementById("toggle-raw");
    if (toggle) {
      var raw = false;
      toggle.addEventListener("click", function () {
        raw = !raw;
        document.querySelectorAll("img.still-img").forEach(function (img) {
          img.src = img.getAttribute(raw ? "data-raw" : "data-annotated");
          img.parentNode.setAttribute("href", img.getAttribute("src"));
        });
        toggle.textContent = toggle.getAttribute(raw ? "data-annotated-label" : "data-raw-label");
        toggle.setAttribute("aria-pressed", raw ? "true" : "false");
      });
    }
    // a still at full size (Esc or a click closes it); without JS the link opens the image
    var box = document.getElementById("lightbox");
    var closeBox = function () { if (box) { box.hidden = true; } };
    document.querySelectorAll("a.zoom").forEach(function (link) {
      link.addEventListener("click", function (e) {
        if (!box || e.ctrlKey || e.metaKey || e.shiftKey) { return; }
        e.preventDefault();
        box.classList.remove("full");
        box.querySelector("img").src = link.getAttribute("href");
        box.querySelector("figcaption").textContent = link.closest("figure").querySelector("figcaption").textContent;
        box.hidden = false;
      });
    });
    if (box) {
      box.addEventListener("click", closeBox);
      // a click on the picture: full resolution (scrollable), again: fitted to the screen
      box.querySelector("img").addEventListener("click", function (e) {
        e.stopPropagation();
        box.classList.toggle("full");
      });
    }
    var zone = document.getElementById("toggle-zone");
    var stills = document.getElementById("stills");
    if (zone && stills) {
      zone.addEventListener("change", function () { stills.classList.toggle("show-zone", zone.checked); });
    }
    // quick deadlines for a notice
    var deadline = document.getElementById("notice-deadline");
    document.querySelectorAll("button.preset").forEach(function (b) {
      b.addEventListener("click", function () {
        // computed by the server in the console's time zone (the one it reads the deadline in)
        deadline.value = b.getAttribute("data-value");
      });
    });
    // the review desk: C confirms; D arms the dismissal, then a digit picks a reason chip (the reason
    // recorded is the chip's), Enter dismisses, Esc disarms. Digits never reach the reason box unless
    // the reviewer clicked or tabbed into it. After C or a dismissal the server moves on to the next draft.
    var dismissForm = document.getElementById("dismiss-form");
    var reason = document.getElementById("dismiss-reason");
    var picked = null;
    var pick = function (chip) {
      if (!dismissForm) { return; }
      dismissForm.querySelectorAll("button.chip").forEach(function (c) { c.setAttribute("aria-pressed", "false"); });
      picked = chip;
      if (chip) { chip.setAttribute("aria-pressed", "true"); }
    };
    var arm = function () {
      dismissForm.classList.add("armed");
      dismissForm.scrollIntoView({ block: "center" });
      dismissForm.focus({ preventScroll: true });
    };
    var disarm = function () {
      dismissForm.classList.remove("armed");
      pick(null);
      if (document.activeElement && dismissForm.contains(document.activeElement)) { document.activeElement.blur(); }
    };
    var submitDismissal = function () {
      var focused = document.activeElement;
      if (focused && focused.classList.contains("chip") && dismissForm.contains(focused)) { pick(focused); }
      if (picked) { dismissForm.requestSubmit(picked); }
      else { dismissForm.requestSubmit(document.getElementById("dismiss-btn")); }
    };
    var busy = false;  // one decision per page: a second key press while the form posts does nothing
    if (dismissForm) {
      dismissForm.addEventListener("submit", function (e) {
        if (busy) { e.preventDefault(); } busy = true;
      });
      dismissForm.querySelectorAll("button.chip").forEach(function (chip) {
        chip.addEventListener("focus", function () { dismissForm.classList.add("armed"); });
      });
    }
    var confirmForm = document.getElementById("confirm-form");
    if (confirmForm) {
      confirmForm.addEventListener("submit", function (e) { if (busy) { e.preventDefault(); } busy = true; });
    }
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && box && !box.hidden) { closeBox(); return; }
      if (e.ctrlKey || e.metaKey || e.altKey) { return; }
      var armed = dismissForm && dismissForm.classList.contains("armed");
      if (armed && e.target !== reason && !(typing(e) && e.target.form !== dismissForm)) {
        if (/^[1-9]$/.test(e.key)) {
          e.preventDefault();
          var chip = dismissForm.querySelector('button.chip[data-key="' + e.key + '"]');
          if (chip) { pick(chip); }
          return;
        }
        if (e.key === "Enter") { e.preventDefault(); submitDismissal(); return; }
        if (e.key === "Escape") { e.preventDefault(); disarm(); return; }
      }
      if (typing(e)) { return; }
      if (/^[0-9]$/.test(e.key)) { e.preventDefault(); return; }  // a digit outside D does nothing
      var k = e.key.toLowerCase();
      if (k === "j") { go("next-link"); }
      else if (k === "k") { go("prev-link"); }
      else if (k === "c" && confirmForm && !armed) {
        e.preventDefault(); confirmForm.requestSubmit(document.getElementById("confirm-btn"));
      } else if (k === "d" && dismissForm) {
        e.preventDefault(); arm();
      }
    });
    // the free-text box: typed into only when clicked or tabbed into; Enter dismisses, Esc leaves it
    if (reason) {
      reason.addEventListener("keydown", function (e) {
        if (e.key === "Escape") { e.preventDefault(); reason.blur(); dismissForm.focus({ preventScroll: true }); }
        else if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submitDismissal(); }
      });
      reason.addEventListener("focus", function () { dismissForm.classList.add("armed"); });
    }
    var revertReason = document.getElementById("revert-reason");
    if (revertReason) {
      revertReason.addEventListener("keydown", function (e) {
        if (e.key === "Escape") { revertReason.blur(); }
      });
    }
  }
  // learned masks: J/K select a proposal, A accepts it, R writes the reason to reject (Enter submits)
  if (page === "masks") {
    var cards = Array.prototype.slice.call(document.querySelectorAll("article.mask[data-status=proposed]"));
    var at = -1;
    var pick = function (i) {
      if (!cards.length) { return; }
      if (at >= 0) { cards[at].classList.remove("sel"); }
      at = Math.max(0, Math.min(cards.length - 1, i));
      cards[at].classList.add("sel");
      cards[at].scrollIntoView({ block: "nearest" });
    };
    pick(0);
    document.querySelectorAll("textarea.reject-reason").forEach(function (area) {
      area.addEventListener("keydown", function (e) {
        if (e.key === "Escape") { area.blur(); }
        else if (e.key === "Enter" && !e.shiftKey) {
          e.preventDefault();
          area.form.requestSubmit(area.form.querySelector("button.reject-btn"));
        }
      });
    });
    document.addEventListener("keydown", function (e) {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey || at < 0) { return; }
      var k = e.key.toLowerCase();
      var card = cards[at];
      if (k === "j") { pick(at + 1); e.preventDefault(); }
      else if (k === "k") { pick(at - 1); e.preventDefault(); }
      else if (k === "a") {
        var f = card.querySelector("form.accept-form");
        if (f) { e.preventDefault(); f.requestSubmit(f.querySelector("button.accept-btn")); }
      } else if (k === "r") {
        var area = card.querySelector("textarea.reject-reason");
        if (area) { e.preventDefault(); area.focus(); }
      }
    });
  }
})();
