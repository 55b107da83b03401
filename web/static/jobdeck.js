// jobdeck's page behaviour. No timer here asks the server for anything: updates arrive over
// the WebSocket (htmx ws extension); this file only draws between pushes.
(function () {
  "use strict";

  function el(id) { return document.getElementById(id); }
  function text(node) { return node ? node.textContent.replace(/\s+/g, " ").trim() : ""; }
  function plural(count, one) { return count + " " + (count === "1" ? one : one + "s"); }

  // Upsert: a pushed new row is inserted at the top unless the page already has it.
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var wrap = evt.detail.fragment;
    if (!(wrap instanceof Element) || !wrap.hasAttribute("data-upsert")) return;
    Array.prototype.slice.call(wrap.children).forEach(function (row) {
      if (row.id && document.getElementById(row.id)) row.remove();
    });
    if (!wrap.children.length) evt.detail.shouldSwap = false;
  });

  // What screen readers hear: one polite announcer per page (#announcer), each message in a
  // paragraph of its own so that two jobs ending together are both said. A job's end is said
  // once, whether its row or a notice brought it first.
  var saidEnd = {};
  function say(message) {
    var announcer = el("announcer");
    if (!announcer) return;
    var line = document.createElement("p");
    line.textContent = message;
    announcer.appendChild(line);
    while (announcer.children.length > 5) announcer.firstElementChild.remove();
  }
  function ownerOf(row) {
    if (row.hasAttribute("data-owner")) return row.getAttribute("data-owner");
    var meta = row.querySelector("header p, .wall-owner");
    return meta ? text(meta).split(" · ")[0] : "";
  }

  // A job's ids: the row "j{id}", its heading "j{id}d", its state "j{id}s" (server/job_views.py).
  // Ends of jobs are announced to screen readers, not every percent.
  var ENDED = ["completed", "failed", "aborted"];
  var lastStatus = {};
  function noteStatuses(root, announce) {
    root.querySelectorAll(".job-state").forEach(function (state) {
      var id = state.id.slice(0, -1);
      var cls = Array.prototype.find.call(state.classList, function (c) { return c.indexOf("status-") === 0; });
      var status = cls ? cls.slice(7) : "";
      var row = el(id);
      if (announce && lastStatus[id] && lastStatus[id] !== status && ENDED.indexOf(status) >= 0 &&
          !saidEnd[id]) {
        saidEnd[id] = true;
        var owner = row ? ownerOf(row) : "";
        var outcome = text(state.querySelector(".status-word"));
        var failure = text(state.querySelector(".failure"));
        say(text(el(id + "d")) + (owner ? ", by " + owner : "") + ": " + outcome +
            (failure ? ". " + failure : ""));
      }
      lastStatus[id] = status;
      drawOffers(state, id);
      if (!row) return;
      row.setAttribute("data-status", status);
      drawButtons(row, status, state.getAttribute("data-errors"), !!state.querySelector(".fast-tracked"));
    });
  }
  function noteNotices() {
    document.querySelectorAll("#notices .notice:not([data-said])").forEach(function (notice) {
      notice.setAttribute("data-said", "");
      var id = "j" + notice.getAttribute("data-job");
      if (saidEnd[id]) return;
      saidEnd[id] = true;
      var words = notice.querySelector(".notice-text");
      say(text(words && words.firstChild));
    });
  }

  // The row's buttons are not sent with it: they are drawn from <template id="job-buttons">
  // (jobs/_buttons.html) by the job's status and error count, after every swap. A button that
  // is already there stays (focus, an open dialog's return, a pressed Notify me); the badge's
  // count is updated in place. Abort and remove are named after their job.
  var KINDS = ["error-badge", "notify", "fast-track", "pause", "resume", "abort", "remove"];
  var STEERING = { "fast-track": "Fast-track job ", pause: "Pause job ", resume: "Resume job " };
  function drawButtons(row, status, errors, isFastTracked) {
    var side = row.querySelector(".job-side");
    var buttons = el("job-buttons");
    if (!side || !buttons) return; // the wallboard has no buttons
    var ended = ENDED.indexOf(status) >= 0;
    var wanted = {
      "error-badge": !!errors,
      notify: !ended,
      "fast-track": status === "queued" && !isFastTracked && !!buttons.content.querySelector(".fast-track"),
      pause: status === "running",
      resume: status === "paused",
      abort: ["queued", "running", "pausing", "paused"].indexOf(status) >= 0,
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
        nameAfterJob(button, text(el(row.id + "d")));
        if (document.body.classList.contains("is-stale")) rest(button);
      }
      next = button;
    }
    var badge = side.querySelector(".error-badge");
    if (badge && badge.textContent !== errors) {
      badge.textContent = errors;
      badge.setAttribute("aria-label", plural(errors, "error") + ": show details");
    }
  }
  // A job's follow-ups are not sent with it either: its state names them in data-offers, and
  // they are drawn here (into the state, so a swap that changes them draws them again), each
  // with its job's address and named after it: [path, words, accessible name].
  function offerOf(offer, rows, quoted) {
    return {
      "start-import": ["commit", "Start import", "Start import of " + quoted],
      "start-enrolling": ["commit", "Start enrolling", "Start enrolling of " + quoted],
      retry: ["retry", "Retry the " + rows, "Retry the " + rows + " of " + quoted],
      "retry-file": ["retry", "Retry with a corrected file…",
                     "Retry with a corrected file: the " + rows + " of " + quoted + "…"],
      revert: ["revert", "Revert…", "Revert " + quoted + "…"],
    }[offer];
  }
  function drawOffers(state, id) {
    var box = state.querySelector(".follow-ups[data-offers]");
    var buttons = el("job-buttons");
    if (!box || !buttons || box.childElementCount) return;
    var errors = state.getAttribute("data-errors") || "0";
    var rows = errors + (errors === "1" ? " failed row" : " failed rows");
    var quoted = "“" + text(el(id + "d")) + "”";
    box.getAttribute("data-offers").split(" ").forEach(function (offer) {
      var template = buttons.content.querySelector(".offer." + offer);
      var said = offerOf(offer, rows, quoted);
      if (!template || !said) return;
      var node = template.cloneNode(true);
      var address = "/admin/background-jobs/" + id.slice(1) + "/" + said[0];
      var control = node.tagName === "FORM" ? node.querySelector("button") : node;
      if (node.tagName === "FORM") node.setAttribute("action", address);
      else node.setAttribute("href", address);
      node.classList.remove("offer", offer);
      if (!node.classList.length) node.removeAttribute("class");
      control.textContent = said[1];
      control.setAttribute("aria-label", said[2]);
      box.appendChild(node);
    });
  }
  function nameAfterJob(button, description) {
    if (!description) return;
    var quoted = "“" + description + "”";
    if (button.classList.contains("abort")) {
      button.setAttribute("aria-label", "Abort job " + quoted);
      button.title = "Abort job " + quoted;
    } else if (button.classList.contains("remove")) {
      button.setAttribute("aria-label", "Remove job " + quoted + " from the list");
      button.title = "Remove from the list";
    }
    for (var kind in STEERING) {
      if (button.classList.contains(kind)) button.setAttribute("aria-label", STEERING[kind] + quoted);
    }
  }

  // Bars (fill and spoken value), times, error counts and running-time clocks, after every swap.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }
  // One convention for every date on every page: the viewer's own time zone, named, written in
  // the page's language like the numbers beside it ("Dec 1, 2026, 09:49 PM GMT+1" next to
  // "306,000"), not half in the browser's locale.
  var LANG = document.documentElement.lang || "en";
  var WHEN = new Intl.DateTimeFormat(LANG, { year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  var DAY = new Intl.DateTimeFormat(LANG, { year: "numeric", month: "short", day: "numeric" });
  var FULL = new Intl.DateTimeFormat(LANG, { dateStyle: "full", timeStyle: "long" });
  var HOUR = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit" });
  function draw(root) {
    root.querySelectorAll(".bar[aria-valuenow]").forEach(function (bar) {
      bar.style.setProperty("--pct", bar.getAttribute("aria-valuenow") + "%");
    });
    // The spoken value of a row's bar comes from its numbers ("394,000 / 500,000 items").
    root.querySelectorAll("article.job .bar").forEach(function (bar) {
      var numbers = bar.parentNode.querySelector(".numbers span");
      var parts = text(numbers).replace(/ items$/, "").split(" / ");
      if (parts.length !== 2) return;
      bar.setAttribute("aria-valuetext", parts[1] === "?"
        ? parts[0] + " items, counting the rest" : parts[0] + " of " + parts[1] + " items");
    });
    // A row's <time> is sent with its ISO value as text; it moves to datetime here.
    root.querySelectorAll("time").forEach(function (t) {
      if (!t.hasAttribute("datetime")) t.setAttribute("datetime", t.textContent);
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.textContent = t.classList.contains("local-date") ? DAY.format(d)
        : t.classList.contains("local-time") ? HOUR.format(d) : WHEN.format(d);
      t.title = FULL.format(d);
    });
    // A clock comes with the running time it had when the server drew it, and counts on from
    // the moment it arrived: no timestamps, and no offset between the two machines' clocks.
    var now = Date.now() / 1000;
    root.querySelectorAll(".clock[data-running-s]").forEach(function (clock) {
      if (clock.startedAt === undefined) {
        clock.startedAt = now - parseFloat(clock.getAttribute("data-running-s"));
      }
    });
    if (document.body.classList.contains("is-stale")) stopClocks();
    // The errors pop-up and the job page's errors section count along with the badge.
    document.querySelectorAll("[data-errors-of]").forEach(function (count) {
      var state = el("j" + count.getAttribute("data-errors-of") + "s");
      if (!state) return;
      var said = plural(state.getAttribute("data-errors") || "0", "error");
      if (count.textContent !== said) count.textContent = said;
    });
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".clock[data-ticking]").forEach(function (clock) {
      if (clock.startedAt !== undefined) clock.textContent = duration(now - clock.startedAt);
    });
  }
  function stopClocks() {
    document.querySelectorAll(".clock[data-ticking]").forEach(function (clock) {
      clock.removeAttribute("data-ticking");
    });
  }
  setInterval(tick, 1000);

  // Focus that a swap would drop: a focused status (after confirming Abort) is focused again
  // in the state that replaces it.
  var focusedState = null;
  document.addEventListener("htmx:wsBeforeMessage", function () {
    var active = document.activeElement;
    var state = active && active.closest ? active.closest(".job-state") : null;
    focusedState = state && active.classList.contains("status-word") ? state.id : null;
  });
  function focusStatus(stateId) {
    var state = el(stateId);
    var word = state && state.querySelector(".status-word");
    if (!word) return;
    word.setAttribute("tabindex", "-1");
    word.focus();
  }

  document.addEventListener("htmx:wsAfterMessage", function () {
    draw(document);
    noteStatuses(document, true);
    noteNotices();
    if (focusedState && (!document.activeElement || document.activeElement === document.body)) {
      focusStatus(focusedState);
    }
    focusedState = null;
    var empty = el("empty-note");
    if (empty && document.querySelector("#job-list .job")) empty.remove();
    var recent = el("recent-list");
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

  // The connection (the wallboard has its own, wall.js). Lost: said once, not on every retry;
  // the page greys out, its clocks stop and its buttons rest until the socket is back (its
  // snapshot redraws every state, clocks included).
  function connection(state, words) {
    var status = el("connection");
    if (!status) return;
    status.setAttribute("data-state", state);
    if (status.textContent !== words) status.textContent = words;
  }
  function rest(button) {
    if (button.hasAttribute("aria-disabled")) return;
    button.setAttribute("aria-disabled", "true");
    button.setAttribute("data-resting", "");
  }
  document.addEventListener("htmx:wsOpen", function () {
    if (!el("connection")) return;
    document.body.classList.remove("is-stale");
    document.querySelectorAll("[data-resting]").forEach(function (button) {
      button.removeAttribute("aria-disabled");
      button.removeAttribute("data-resting");
    });
    connection("live", "Live");
  });
  document.addEventListener("htmx:wsClose", function () {
    if (!el("connection")) return;
    document.body.classList.add("is-stale");
    stopClocks();
    document.querySelectorAll(".job-side button").forEach(rest);
    connection("lost", "Connection lost, reconnecting…");
  });

  // The row's buttons carry no URL: each acts on the job whose row (or detail page's article,
  // id "j{id}") holds it. The errors dialog, the abort and remove confirmations, notify me.
  var asked = null; // {id, url} of the job an open confirmation is about
  function jobOf(button) {
    var row = button.closest("article.job");
    return row ? row.id.slice(1) : "";
  }
  function confirmFor(dialogId, id, url, sentence) {
    asked = { id: id, url: url };
    var desc = el("j" + id + "d");
    el(dialogId + "-text").textContent = "“" + (desc ? text(desc) : "This job") + "” " + sentence;
    el(dialogId).showModal();
  }
  function openErrors(id) {
    var dialog = el("errors-dialog");
    // settle:0ms: the new pager buttons are live (htmx has bound them) the moment they show,
    // so a key pressed at once on one of them is never lost (htmx settles 20 ms later else).
    var swap = { target: "#errors-dialog-body", swap: "innerHTML settle:0ms" };
    htmx.ajax("GET", "/admin/background-jobs/" + id + "/errors-dialog", swap).then(function () {
      if (!dialog.open) dialog.showModal();
      // Open at the top, on the heading: its title and count in view, not the pager at the end.
      var title = el("errors-dialog-title");
      if (title) title.focus({ preventScroll: true });
      dialog.scrollTop = 0;
    });
  }
  document.addEventListener("click", function (evt) {
    var dismiss = evt.target.closest(".notice-dismiss");
    if (dismiss) {
      var notice = dismiss.closest(".notice");
      var other = notice.parentNode.querySelector(".notice:not([data-gone]) .notice-dismiss:not(:focus)");
      notice.setAttribute("data-gone", "");
      notice.remove();
      if (other) other.focus();
      else focusHeading();
      return;
    }
    var button = evt.target.closest(".job button");
    if (!button || button.getAttribute("aria-disabled") === "true") return;
    var id = jobOf(button);
    if (!id) return;
    if (button.classList.contains("error-badge")) {
      openErrors(id);
    } else if (button.classList.contains("abort")) {
      confirmFor("abort-dialog", id, "/api/jobs/" + id + "/abort",
        "will stop after the item it is working on.");
    } else if (button.classList.contains("remove")) {
      confirmFor("remove-dialog", id, "/api/jobs/" + id, "and its errors will be removed.");
    } else if (button.classList.contains("steer")) {
      var verb = ["fast-track", "pause", "resume"].find(function (k) { return button.classList.contains(k); });
      htmx.ajax("POST", "/api/jobs/" + id + "/" + verb, { swap: "none" });
      // The button goes with the state it was for: the row's status takes the focus.
      focusStatus("j" + id + "s");
    } else if (button.classList.contains("notify")) {
      var row = button.closest("article.job");
      htmx.ajax("POST", "/admin/background-jobs/" + id + "/notify",
        { source: button, target: button, swap: "outerHTML" }).then(function () {
        var pressed = row.querySelector(".notify");
        if (pressed) pressed.focus(); // the pressed button replaced the one that had focus
      });
    }
  });
  function focusHeading() {
    var heading = document.querySelector("main h1");
    if (!heading) return;
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
  document.addEventListener("close", function (evt) {
    var dialog = evt.target;
    if (dialog.id !== "abort-dialog" && dialog.id !== "remove-dialog") return;
    var job = asked;
    asked = null;
    if (!job || dialog.returnValue !== "confirm") return;
    if (dialog.id === "abort-dialog") {
      htmx.ajax("POST", job.url, { swap: "none" });
      // The X goes with the running state: the row's status takes the focus, and says "Stopping…".
      focusStatus("j" + job.id + "s");
      return;
    }
    htmx.ajax("DELETE", job.url, { swap: "none" });
    // The row goes: the next row's description (or the one before) takes the focus.
    var row = el("j" + job.id);
    var near = row && (row.nextElementSibling || row.previousElementSibling);
    var link = near && near.querySelector("h3 a");
    if (link) link.focus();
    else focusHeading();
  }, true);

  // A pager button of the errors pop-up keeps the focus across the swap of the pop-up's content
  // (htmx refocuses the new button of the same id); on the last page, the other one takes it.
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target.id !== "errors-dialog-body") return;
    var active = document.activeElement;
    if (active && active !== document.body && el("errors-dialog").contains(active)) return;
    var next = el("errors-next") || el("errors-previous") || el("errors-dialog-title");
    if (next && el("errors-dialog").open) next.focus();
  });
})();
