/* Formwork's small progressive enhancements. Every page works without them,
   except searching a large table from a ref input. Nothing is fetched from
   outside this site. */
(function () {
  "use strict";

  /* A failed form moves focus to its summary of problems (or the conflict). */
  function focusFirst() {
    var el = document.querySelector(".focus-first");
    if (el) el.focus();
  }

  /* The list's total, counted after the page is shown: {count, capped}. */
  function lazyCount() {
    document.querySelectorAll("[data-count-url]").forEach(function (el) {
      fetch(el.dataset.countUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          var lang = document.documentElement.lang || undefined;
          var n = data.count.toLocaleString(lang) + (data.capped ? "+" : "");
          /* the page wrote both sentences in its language, with {n} for the number */
          var text = data.count === 1 && !data.capped ? el.dataset.one : el.dataset.many;
          el.textContent = text.replace("{n}", n);
        })
        .catch(function () { /* the count is a nicety: leave it blank */ });
    });
  }

  /* The searchable ref input: a text box with a listbox of matches (WAI-ARIA combobox)
     and a hidden input holding the chosen id. Arrows move, Enter picks, Escape closes. */
  function Combo(root) {
    this.root = root;
    this.input = root.querySelector("[role=combobox]");
    this.value = root.querySelector("[data-combo-value]");
    this.list = root.querySelector("[role=listbox]");
    this.url = root.dataset.lookup;
    this.items = [];
    this.active = -1;
    this.timer = null;
    this.seq = 0;
    var self = this;
    this.input.addEventListener("input", function () {
      self.value.value = "";
      clearTimeout(self.timer);
      self.timer = setTimeout(function () { self.search(); }, 150);
    });
    this.input.addEventListener("focus", function () {
      if (!self.value.value) self.search();
    });
    this.input.addEventListener("keydown", function (e) { self.key(e); });
    this.input.addEventListener("blur", function () {
      setTimeout(function () { self.close(); }, 150);
    });
    this.list.addEventListener("mousedown", function (e) {
      var li = e.target.closest("[role=option]");
      if (!li) return;
      e.preventDefault();
      self.pick(Number(li.dataset.index));
    });
  }

  Combo.prototype.search = function () {
    var self = this, seq = ++this.seq;
    var url = this.url + "?q=" + encodeURIComponent(this.input.value.trim());
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (items) { if (seq === self.seq) self.show(items); })
      .catch(function () { self.close(); });
  };

  Combo.prototype.show = function (items) {
    var self = this;
    this.items = items;
    this.active = -1;
    this.list.innerHTML = "";
    if (!items.length) {
      var none = document.createElement("li");
      none.className = "none";
      none.textContent = this.list.dataset.none || "No matches";
      this.list.appendChild(none);
    }
    items.forEach(function (item, i) {
      var li = document.createElement("li");
      li.id = self.list.id + "-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset.index = String(i);
      li.textContent = item.label;
      self.list.appendChild(li);
    });
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
  };

  Combo.prototype.close = function () {
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    this.active = -1;
  };

  Combo.prototype.move = function (step) {
    if (this.list.hidden) { this.search(); return; }
    if (!this.items.length) return;
    var options = this.list.querySelectorAll("[role=option]");
    if (this.active >= 0) options[this.active].setAttribute("aria-selected", "false");
    this.active = (this.active + step + this.items.length) % this.items.length;
    var li = options[this.active];
    li.setAttribute("aria-selected", "true");
    li.scrollIntoView({ block: "nearest" });
    this.input.setAttribute("aria-activedescendant", li.id);
  };

  Combo.prototype.pick = function (i) {
    var item = this.items[i];
    if (!item) return;
    this.input.value = item.label;
    this.value.value = String(item.id);
    this.close();
    this.input.dispatchEvent(new Event("change", { bubbles: true }));
  };

  Combo.prototype.key = function (e) {
    var open = !this.list.hidden;
    if (e.key === "ArrowDown") { e.preventDefault(); this.move(1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); this.move(-1); }
    else if (e.key === "Enter" && open) {
      e.preventDefault();  /* picking a match must not submit the form */
      this.pick(this.active >= 0 ? this.active : 0);
    } else if (e.key === "Escape" && open) { e.preventDefault(); this.close(); }
  };

  /* Menus in the top bar close on Escape and when focus or a click goes elsewhere. */
  function menus() {
    var all = document.querySelectorAll("details.menu");
    document.addEventListener("click", function (e) {
      all.forEach(function (d) { if (!d.contains(e.target)) d.open = false; });
    });
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape") return;
      all.forEach(function (d) {
        if (d.open) { d.open = false; d.querySelector("summary").focus(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusFirst();
    lazyCount();
    document.querySelectorAll(".combo[data-lookup]").forEach(function (el) { new Combo(el); });
    menus();
  });
})();
