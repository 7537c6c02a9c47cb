/* The reconciliation workbench: running totals of what is ticked, keyboard moves, and a
   run of the rules with its progress polled while the page stays usable. Without this
   file every form still works (the run then reports on the page it redirects to). */
(function () {
  "use strict";

  var lang = document.documentElement.lang || undefined;

  /* Amounts as integers of 1/10000, so sums are exact (no floating point money). */
  var SCALE = 4;
  function units(text) {
    var s = String(text || "0").trim(), neg = s.charAt(0) === "-";
    if (neg) s = s.slice(1);
    var parts = s.split("."), frac = (parts[1] || "").slice(0, SCALE);
    while (frac.length < SCALE) frac += "0";
    var n = BigInt(parts[0] || "0") * BigInt(Math.pow(10, SCALE)) + BigInt(frac);
    return neg ? -n : n;
  }
  function show(n, places) {
    var neg = n < 0n, abs = neg ? -n : n, base = BigInt(Math.pow(10, SCALE));
    var whole = abs / base, frac = String(abs % base).padStart(SCALE, "0").slice(0, places);
    var text = Number(whole).toLocaleString(lang) ;
    var point = (1.5).toLocaleString(lang).charAt(1);
    return (neg ? "−" : "") + text + (places ? point + frac : "");
  }

  function totals(form) {
    var sums = { line: 0n, invoice: 0n }, currencies = {}, places = 2;
    form.querySelectorAll("input[type=checkbox][data-amount]").forEach(function (box) {
      var side = box.closest("[data-side]").dataset.side;
      var amount = box.dataset.amount || "0";
      var dot = amount.indexOf(".");
      if (dot < 0) places = Math.min(places, 0);
      if (!box.checked) return;
      sums[side] += units(amount);
      currencies[box.dataset.currency || ""] = true;
    });
    var codes = Object.keys(currencies).filter(Boolean);
    var suffix = codes.length === 1 ? " " + codes[0] : "";
    var diff = sums.line - sums.invoice;
    var set = function (name, value) {
      var el = form.querySelector("[data-total=" + name + "]");
      if (el) el.textContent = show(value, places) + suffix;
    };
    set("line", sums.line);
    set("invoice", sums.invoice);
    set("difference", diff);
    var note = form.querySelector(".difference-note"), bar = form.querySelector(".totals");
    if (note) {
      var state = diff === 0n ? "balanced" : diff > 0n ? "over" : "under";
      note.textContent = sums.line || sums.invoice ? note.dataset[state] : "";
      if (bar) bar.dataset.state = sums.line || sums.invoice ? state : "";
    }
  }

  function tickAll() {
    document.querySelectorAll(".tick-all").forEach(function (all) {
      all.addEventListener("change", function () {
        all.closest("table").querySelectorAll("tbody input[type=checkbox]").forEach(function (b) {
          b.checked = all.checked;
        });
      });
    });
  }

  /* j/k or arrows move between rows, Space ticks, Enter confirms or matches, u undoes. */
  function keyboard() {
    var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("[data-row]")); };
    var current = null;
    function go(row) {
      if (!row) return;
      if (current) current.classList.remove("current");
      current = row;
      row.classList.add("current");
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
    document.addEventListener("focusin", function (e) {
      var row = e.target.closest && e.target.closest("[data-row]");
      if (row && row !== current) {
        if (current) current.classList.remove("current");
        current = row;
        row.classList.add("current");
      }
    });
    document.addEventListener("keydown", function (e) {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      var t = e.target, tag = t.tagName;
      var typing = tag === "TEXTAREA" || tag === "SELECT" ||
        (tag === "INPUT" && t.type !== "checkbox" && t.type !== "radio");
      if (typing) return;
      var inRow = t.closest && t.closest("[data-row]");
      var all = rows(), at = current ? all.indexOf(current) : -1;
      if (e.key === "j" || (e.key === "ArrowDown" && inRow)) {
        e.preventDefault(); go(all[Math.min(at + 1, all.length - 1)]);
      } else if (e.key === "k" || (e.key === "ArrowUp" && inRow)) {
        e.preventDefault(); go(all[Math.max(at - 1, 0)]);
      } else if (e.key === " " && current && (inRow || t === document.body)) {
        var box = current.querySelector("input[type=checkbox]");
        if (box && t !== box) { e.preventDefault(); box.click(); }
      } else if (e.key === "Enter" && current && (inRow || t === document.body)) {
        if (tag === "BUTTON" || tag === "A") return;  /* the focused control does its own */
        var button = current.querySelector("[data-enter]");
        if (!button) {
          var form = current.closest("form");
          button = form && form.querySelector("[data-match]");
        }
        if (button) { e.preventDefault(); button.click(); }
      } else if (e.key === "u" && current) {
        var undo = current.querySelector("[data-undo]");
        if (undo) { e.preventDefault(); undo.click(); }
      }
    });
    var start = document.querySelector("[data-row].current");
    if (start) current = start;
  }

  /* A run: the form posts in the background, then its progress is polled. */
  function runs() {
    var status = document.querySelector(".run-status");
    if (!status) return;
    var bar = status.querySelector("progress"), text = status.querySelector(".run-text");
    var reload = status.querySelector(".run-reload"), form = document.querySelector(".run-form");
    function poll(url) {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          text.textContent = data.text || "";
          if (data.total) { bar.max = data.total; bar.value = data.done; }
          if (data.state === "running") { setTimeout(function () { poll(url); }, 400); return; }
          bar.max = 1; bar.value = 1;
          if (reload) reload.hidden = false;
          if (form) form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
          status.dataset.state = data.state;
        })
        .catch(function () { setTimeout(function () { poll(url); }, 2000); });
    }
    if (status.dataset.progressUrl && !status.hidden) poll(status.dataset.progressUrl);
    if (!form) return;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var data = new FormData(form);
      var button = e.submitter;
      if (button && button.name) data.set(button.name, button.value);
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      status.hidden = false;
      status.dataset.state = "running";
      bar.removeAttribute("value");
      if (reload) reload.hidden = true;
      text.textContent = "…";
      fetch(form.action, { method: "POST", body: data, credentials: "same-origin",
                           headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return [r, body]; }); })
        .then(function (pair) {
          var body = pair[1];
          if (!pair[0].ok) {
            text.textContent = body.error || body.text || "";
            form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
            return;
          }
          poll(body.progress);
        })
        .catch(function () { form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var match = document.querySelector(".match-form");
    if (match) {
      match.addEventListener("change", function () { totals(match); });
      totals(match);
    }
    tickAll();
    keyboard();
    runs();
  });
})();
