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
        var desc = document.getElementById(id + "-desc");
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
    root.querySelectorAll("[aria-valuenow] > .fill").forEach(function (fill) {
      fill.style.width = fill.parentNode.getAttribute("aria-valuenow") + "%";
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

  // The row's buttons carry no URL: each acts on the job whose row (or detail page's article,
  // id "job-{id}") holds it. The errors dialog, the abort confirmation, notify me and remove.
  var abortUrl = null;
  function jobOf(button) {
    var row = button.closest("article.job");
    return row ? row.id.replace(/^job-/, "") : "";
  }
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest(".job button");
    if (!button) return;
    var id = jobOf(button);
    if (!id) return;
    if (button.classList.contains("error-badge")) {
      var dialog = document.getElementById("errors-dialog");
      htmx.ajax("GET", "/admin/background-jobs/" + id + "/errors-dialog", "#errors-dialog-body").then(function () {
        if (!dialog.open) dialog.showModal();
      });
    } else if (button.classList.contains("abort")) {
      abortUrl = "/api/jobs/" + id + "/abort";
      var desc = document.getElementById("job-" + id + "-desc");
      document.getElementById("abort-dialog-text").textContent =
        "“" + (desc ? desc.textContent : "This job") + "” will stop after the item it is working on.";
      document.getElementById("abort-dialog").showModal();
    } else if (button.classList.contains("notify") && !button.disabled) {
      htmx.ajax("POST", "/admin/background-jobs/" + id + "/notify",
        { source: button, target: "#job-" + id + "-notify", swap: "innerHTML" });
    } else if (button.classList.contains("remove") &&
               window.confirm("Remove this job and its errors from the list?")) {
      htmx.ajax("DELETE", "/api/jobs/" + id, { source: button, swap: "none" });
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
