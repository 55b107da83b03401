// The wallboard's own behaviour (jobdeck.js draws bars, clocks and times). Nothing here asks
// the server for anything: the socket brings every update, and the only timer is the one
// that says, after LOST_AFTER_MS without a connection, that the screen is no longer live.
(function () {
  "use strict";
  var LOST_AFTER_MS = 5000;
  var RETRYING = [1006, 1011, 1012, 1013]; // the codes after which the ws extension retries
  var body = document.body;
  var endedShown = parseInt(body.getAttribute("data-ended-shown"), 10) || 12;
  var lastUpdate = new Date(body.getAttribute("data-last-update"));
  var lostTimer = null;
  var stopped = false;
  var resyncing = false;

  // A wall should be back within seconds of the server: retry at most 8 s apart (full jitter).
  htmx.config.wsReconnectDelay = function (retries) {
    return 1000 * Math.pow(2, Math.min(retries, 3)) * Math.random();
  };

  function el(id) { return document.getElementById(id); }
  function connection(state, text) {
    var status = el("wall-connection");
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  function showLost() {
    var notice = el("wall-lost");
    notice.textContent = "Connection lost, reconnecting… Last update at " +
      lastUpdate.toLocaleTimeString() + ".";
    notice.hidden = false;
    body.classList.add("is-stale");
    // A frozen screen must not look alive: the running-time clocks stop with the data.
    document.querySelectorAll(".clock[data-ticking]").forEach(function (clock) {
      clock.removeAttribute("data-ticking");
    });
  }

  function stop(reason) {
    stopped = true;
    clearTimeout(lostTimer);
    el("wall-lost").hidden = true;
    var notice = el("wall-stopped");
    notice.textContent = reason.indexOf("This screen link") === 0
      ? reason : notice.getAttribute("data-message");
    notice.hidden = false;
    body.classList.add("is-stopped");
    el("wall-main").remove(); // what it may no longer see is not left on the screen
    connection("stopped", "Disconnected");
  }

  document.addEventListener("htmx:wsClose", function (evt) {
    if (stopped) return;
    var closed = evt.detail.event;
    if (closed.code === 1008) { stop(closed.reason || ""); return; }
    connection("lost", "Reconnecting…");
    if (lostTimer === null) lostTimer = setTimeout(showLost, LOST_AFTER_MS);
    if (RETRYING.indexOf(closed.code) < 0) {
      // The extension gives up after other codes; a wall must not.
      setTimeout(evt.detail.socketWrapper.reconnect, 1000 + 4000 * Math.random());
    }
  });

  document.addEventListener("htmx:wsOpen", function () {
    if (lostTimer !== null) {
      // Back after a loss: rows that the snapshot does not bring again are gone.
      document.querySelectorAll(".wall-job").forEach(function (row) {
        row.setAttribute("data-unconfirmed", "");
      });
      resyncing = true;
    }
    clearTimeout(lostTimer);
    lostTimer = null;
    el("wall-lost").hidden = true;
    body.classList.remove("is-stale");
    connection("live", "Live");
  });

  // A moved row (its status changed) replaces the old one, wherever that was.
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var wrap = evt.detail.fragment;
    if (!(wrap instanceof Element) || !wrap.hasAttribute("data-move")) return;
    Array.prototype.slice.call(wrap.children).forEach(function (row) {
      var old = row.id ? document.getElementById(row.id) : null;
      if (old) old.remove();
    });
  });

  document.addEventListener("htmx:wsAfterMessage", function () {
    lastUpdate = new Date();
    if (resyncing) {
      resyncing = false;
      document.querySelectorAll(".wall-job[data-unconfirmed]").forEach(function (row) {
        row.remove();
      });
    }
    var ended = el("wall-ended");
    while (ended && ended.children.length > endedShown) ended.lastElementChild.remove();
  });
})();
