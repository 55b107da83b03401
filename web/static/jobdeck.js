// jobdeck's page behaviour. No timer here asks the server for anything: updates arrive over
// the WebSocket (htmx ws extension); this file only draws between pushes.
(function () {
  "use strict";

  // Upsert: a pushed new row is inserted at the top unless the page already has it.
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var wrap = evt.detail.fragment;
    if (!(wrap instanceof Element) || !wrap.hasAttribute("data-upsert")) return;
    Array.prototype.slice.call(wrap.children).forEach(function (row) {
      if (row.id && document.getElementById(row.id)) row.remove();
    });
    if (!wrap.children.length) evt.detail.shouldSwap = false;
  });

  // Ends of jobs are announced to screen readers, not every percent.
  var lastStatus = {};
  function noteStatuses(root, announce) {
    root.querySelectorAll(".job-state").forEach(function (state) {
      var id = state.id.replace(/-state$/, "");
      var word = state.querySelector(".status-word");
      var cls = Array.prototype.find.call(state.classList, function (c) { return c.indexOf("status-") === 0; });
      var status = cls ? cls.slice(7) : "";
      if (announce && lastStatus[id] && lastStatus[id] !== status &&
          ["completed", "failed", "aborted"].indexOf(status) >= 0) {
        var row = document.getElementById(id);
        var desc = row ? row.querySelector(".job-desc") : null;
        document.getElementById("announcer").textContent =
          (desc ? desc.textContent : "A job") + ": " + (word ? word.textContent : status);
      }
      lastStatus[id] = status;
      var article = document.getElementById(id);
      if (article) article.setAttribute("data-status", status);
    });
  }

  // Bars, local times and the running-time counters, redrawn after every swap.
  var serverOffset = 0;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }
  function draw(root) {
    root.querySelectorAll(".fill[data-pct]").forEach(function (fill) {
      var pct = fill.getAttribute("data-pct");
      if (pct !== "") fill.style.width = pct + "%";
    });
    root.querySelectorAll("time.local-time, time.local-date").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.textContent = t.classList.contains("local-date")
        ? d.toLocaleDateString()
        : d.toLocaleDateString() + " " + d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      t.title = d.toString();
    });
    var now = root.querySelector("[data-server-now]");
    if (now) serverOffset = parseFloat(now.getAttribute("data-server-now")) - Date.now() / 1000;
  }
  function tick() {
    var now = Date.now() / 1000 + serverOffset;
    document.querySelectorAll(".clock[data-ticking]").forEach(function (clock) {
      clock.textContent = duration(now - parseFloat(clock.getAttribute("data-started")));
    });
  }
  setInterval(tick, 1000);

  document.addEventListener("htmx:wsAfterMessage", function () {
    draw(document);
    noteStatuses(document, true);
    var empty = document.getElementById("empty-note");
    if (empty && document.querySelector("#job-list .job")) empty.remove();
    var recent = document.getElementById("recent-list");
    if (recent) {
      while (recent.children.length > 5) recent.lastElementChild.remove();
      var none = recent.parentNode.querySelector(".empty");
      if (none && recent.children.length) none.remove();
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
    noteStatuses(document, false);
  });

  // The connection, in words.
  function connection(state, text) {
    var el = document.getElementById("connection");
    if (!el) return;
    el.setAttribute("data-state", state);
    el.textContent = text;
  }
  document.addEventListener("htmx:wsOpen", function () { connection("live", "Live"); });
  document.addEventListener("htmx:wsClose", function () {
    connection("lost", "Connection lost, reconnecting…");
  });

  // Dialogs: the error details and the abort confirmation.
  var abortUrl = null;
  document.addEventListener("click", function (evt) {
    var badge = evt.target.closest(".error-badge");
    if (badge) {
      var dialog = document.getElementById("errors-dialog");
      htmx.ajax("GET", badge.getAttribute("data-errors-url"), "#errors-dialog-body").then(function () {
        if (!dialog.open) dialog.showModal();
      });
      return;
    }
    var abort = evt.target.closest("button.abort");
    if (abort) {
      abortUrl = abort.getAttribute("data-abort-url");
      document.getElementById("abort-dialog-text").textContent =
        "“" + abort.getAttribute("data-description") + "” will stop after the item it is working on.";
      document.getElementById("abort-dialog").showModal();
    }
  });
  document.addEventListener("close", function (evt) {
    if (evt.target.id !== "abort-dialog") return;
    if (evt.target.returnValue === "confirm" && abortUrl) {
      htmx.ajax("POST", abortUrl, { swap: "none" });
    }
    abortUrl = null;
  }, true);
})();
