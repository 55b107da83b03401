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

  // A job's ids: the row "j{id}", its heading "j{id}d", its state "j{id}s" (server/job_views.py).
  // Ends of jobs are announced to screen readers, not every percent.
  var ENDED = ["completed", "failed", "aborted"];
  var lastStatus = {};
  function noteStatuses(root, announce) {
    root.querySelectorAll(".job-state").forEach(function (state) {
      var id = state.id.slice(0, -1);
      var word = state.querySelector(".status-word");
      var cls = Array.prototype.find.call(state.classList, function (c) { return c.indexOf("status-") === 0; });
      var status = cls ? cls.slice(7) : "";
      if (announce && lastStatus[id] && lastStatus[id] !== status && ENDED.indexOf(status) >= 0) {
        var desc = document.getElementById(id + "d");
        document.getElementById("announcer").textContent =
          (desc ? desc.textContent : "A job") + ": " + (word ? word.textContent : status);
      }
      lastStatus[id] = status;
      var row = document.getElementById(id);
      if (!row) return;
      row.setAttribute("data-status", status);
      drawButtons(row, status, state.getAttribute("data-errors"));
    });
  }

  // The row's buttons are not sent with it: they are drawn from <template id="job-buttons">
  // (jobs/_buttons.html) by the job's status and error count, after every swap. A button that
  // is already there stays (focus, an open dialog's return, a pressed Notify me); the badge's
  // count is updated in place.
  var KINDS = ["error-badge", "notify", "abort", "remove"];
  function drawButtons(row, status, errors) {
    var side = row.querySelector(".job-side");
    var buttons = document.getElementById("job-buttons");
    if (!side || !buttons) return; // the wallboard has no buttons
    var ended = ENDED.indexOf(status) >= 0;
    var wanted = {
      "error-badge": !!errors,
      notify: !ended,
      abort: status === "queued" || status === "running",
      remove: ended,
    };
    var next = null;
    for (var i = KINDS.length - 1; i >= 0; i--) {
      var button = side.querySelector("." + KINDS[i]);
      if (!wanted[KINDS[i]]) {
        if (button) button.remove();
        continue;
      }
      if (!button) {
        var pick = KINDS[i] !== "notify" ? "." + KINDS[i]
          : row.hasAttribute("data-watching") ? ".notify.pressed" : ".notify:not(.pressed)";
        button = side.insertBefore(buttons.content.querySelector(pick).cloneNode(true), next);
      }
      next = button;
    }
    var badge = side.querySelector(".error-badge");
    if (badge && badge.textContent !== errors) {
      badge.textContent = errors;
      badge.setAttribute("aria-label", errors + (errors === "1" ? " error" : " errors") + ": show details");
    }
  }

  // Bars, local times and the running-time counters, redrawn after every swap.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }
  function draw(root) {
    root.querySelectorAll(".bar[aria-valuenow]").forEach(function (bar) {
      bar.style.setProperty("--pct", bar.getAttribute("aria-valuenow") + "%");
    });
    // A row's <time> is sent with its ISO value as text; it moves to datetime here.
    root.querySelectorAll("time.local-time, time.local-date, .job time").forEach(function (t) {
      if (!t.hasAttribute("datetime")) t.setAttribute("datetime", t.textContent);
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.textContent = t.classList.contains("local-date")
        ? d.toLocaleDateString()
        : d.toLocaleDateString() + " " + d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      t.title = d.toString();
    });
    // A clock comes with the running time it had when the server drew it, and counts on from
    // the moment it arrived: no timestamps, and no offset between the two machines' clocks.
    var now = Date.now() / 1000;
    root.querySelectorAll(".clock[data-running-s]").forEach(function (clock) {
      if (clock.startedAt === undefined) {
        clock.startedAt = now - parseFloat(clock.getAttribute("data-running-s"));
      }
    });
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".clock[data-ticking]").forEach(function (clock) {
      if (clock.startedAt !== undefined) clock.textContent = duration(now - clock.startedAt);
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
  // id "j{id}") holds it. The errors dialog, the abort confirmation, notify me and remove.
  var abortUrl = null;
  function jobOf(button) {
    var row = button.closest("article.job");
    return row ? row.id.slice(1) : "";
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
      var desc = document.getElementById("j" + id + "d");
      document.getElementById("abort-dialog-text").textContent =
        "“" + (desc ? desc.textContent : "This job") + "” will stop after the item it is working on.";
      document.getElementById("abort-dialog").showModal();
    } else if (button.classList.contains("notify") && !button.disabled) {
      htmx.ajax("POST", "/admin/background-jobs/" + id + "/notify",
        { source: button, target: button, swap: "outerHTML" });
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
