// The bulwark console page: renders each "state" event of api/events and
// sends actions with the operator's token and the CSRF token.
"use strict";
(function () {
  var csrf = "";
  var readOnly = true;
  var state = null;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { e.textContent = attrs[k]; } else { e.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { e.appendChild(c); } });
    return e;
  }
  function dl(pairs) {
    var d = el("dl");
    pairs.forEach(function (p) { d.appendChild(el("dt", { text: p[0] })); d.appendChild(el("dd", { text: String(p[1]) })); });
    return d;
  }
  function button(label, cls, onClick) {
    var b = el("button", { text: label, "class": "act " + cls, type: "button" });
    b.addEventListener("click", onClick);
    return b;
  }
  function say(text, isError) {
    var m = $("message");
    m.textContent = text;
    m.className = isError ? "error" : "";
  }

  function act(path, body, what) {
    var token = sessionStorage.getItem("bulwark-console-token") || "";
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Authorization": "Bearer " + token, "X-CSRF-Token": csrf, "Content-Type": "application/json" },
      body: body === undefined ? "" : JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) { throw new Error(j.error || r.statusText); }
        say(what + ": done");
        return j;
      });
    }).catch(function (e) { say(what + ": " + e.message, true); throw e; });
  }
  function enc(s) { return encodeURIComponent(s); }

  function renderPolicies(list) {
    var box = $("policies");
    box.replaceChildren();
    if (!list.length) { box.appendChild(el("p", { "class": "empty", text: "no policies" })); }
    list.forEach(function (p) {
      var card = el("div", { "class": "card policy", "data-policy": p.name }, [el("h3", { text: p.name })]);
      card.appendChild(el("div", { text: "parts: " + p.parts.join(" → ") }));
      if (p.breaker) {
        var b = p.breaker;
        card.appendChild(el("div", {}, [document.createTextNode("breaker "),
          el("span", { "class": "badge breaker-state state-" + b.state, text: b.state })]));
        card.appendChild(dl([["calls in window", b.calls], ["failure rate", b.failure_rate.toFixed(1) + "%"],
          ["slow call rate", b.slow_call_rate.toFixed(1) + "%"], ["consecutive failures", b.consecutive_failures],
          ["rejected", b.rejected]]));
        card.appendChild(button("Force open", "force-open", function () {
          act("api/policies/" + enc(p.name) + "/breaker/force-open", undefined, "force open " + p.name);
        }));
        card.appendChild(button("Reset", "reset", function () {
          act("api/policies/" + enc(p.name) + "/breaker/reset", undefined, "reset " + p.name);
        }));
      }
      if (p.bulkhead) {
        card.appendChild(dl([["bulkhead in flight", p.bulkhead.in_flight + " / " + p.bulkhead.limit],
          ["waiting", p.bulkhead.waiting]]));
      }
      var s = p.settings;
      var rows = [];
      if (s.rate_limit) { rows.push(["rate limit", (s.rate_limit.limit || 100) + " per " + (s.rate_limit.period || "1s")]); }
      if (s.timeout) { rows.push(["timeout", s.timeout.timeout || "default"]); }
      if (s.retry) { rows.push(["retry attempts", s.retry.max_attempts || "default"]); }
      if (p.chaos) { rows.push(["chaos", (p.chaos.enabled ? "on, " : "off, ") + "error rate " + (s.chaos.error_rate || 0)]); }
      p.events.forEach(function (e) { rows.push([e.kind, e.count + " (" + e.per_second.toFixed(1) + "/s)"]); });
      if (rows.length) { card.appendChild(dl(rows)); }
      card.appendChild(button("Edit settings", "edit", function () { edit(p.name, p.settings); }));
      box.appendChild(card);
    });
  }

  function edit(name, settings) {
    $("editor-name").textContent = name;
    $("editor-text").value = JSON.stringify(settings, null, 2);
    $("editor-error").textContent = "";
    $("editor").dataset.policy = name;
    $("editor").showModal();
  }
  $("editor-apply").addEventListener("click", function (ev) {
    ev.preventDefault();
    var name = $("editor").dataset.policy;
    var body;
    try { body = JSON.parse($("editor-text").value); } catch (e) { $("editor-error").textContent = e.message; return; }
    act("api/policies/" + enc(name) + "/settings", body, "settings of " + name)
      .then(function () { $("editor").close(); })
      .catch(function (e) { $("editor-error").textContent = e.message; });
  });

  function table(headers, rows, cls) {
    var t = el("table", { "class": cls || "" });
    t.appendChild(el("tr", {}, headers.map(function (h) { return el("th", { text: h }); })));
    rows.forEach(function (r) { t.appendChild(r); });
    return t;
  }
  function row(cells, attrs) {
    return el("tr", attrs || {}, cells.map(function (c) {
      return typeof c === "object" && c !== null ? el("td", {}, [c]) : el("td", { text: String(c) });
    }));
  }

  function renderOutboxes(list) {
    var box = $("outboxes");
    box.replaceChildren();
    if (!list.length) { box.appendChild(el("p", { "class": "empty", text: "no outboxes" })); }
    list.forEach(function (o) {
      var card = el("div", { "class": "card outbox", "data-outbox": o.name }, [el("h3", { text: o.name })]);
      if (o.error) { card.appendChild(el("p", { "class": "error", text: o.error })); }
      card.appendChild(dl([["pending", o.pending], ["lag", o.lag_seconds.toFixed(1) + " s"],
        ["dead letters", o.dead_letters]]));
      card.querySelector("dd:nth-of-type(3)").className = "dead-count";
      if (o.letters.length) {
        card.appendChild(table(["topic", "key", "bytes", "attempts", "last error", "dead at", ""], o.letters.map(function (d) {
          var base = "api/outboxes/" + enc(o.name) + "/dead-letters/" + enc(d.id);
          var btns = el("span", {}, [
            button("Replay", "replay", function () { act(base + "/replay", undefined, "replay " + d.id); }),
            button("Discard", "discard", function () { act(base + "/discard", undefined, "discard " + d.id); })]);
          return row([d.topic, d.key, d.bytes, d.attempts, d.last_error, d.dead_at, btns], { "data-id": d.id, "class": "dead-letter" });
        })));
      }
      box.appendChild(card);
    });
  }

  function renderSagas(list) {
    var box = $("sagas");
    box.replaceChildren();
    if (!list.length) { box.appendChild(el("p", { "class": "empty", text: "no sagas" })); }
    list.forEach(function (s) {
      var card = el("div", { "class": "card saga", "data-saga": s.name }, [el("h3", { text: s.name })]);
      if (s.error) { card.appendChild(el("p", { "class": "error", text: s.error })); }
      if (!s.stuck.length) { card.appendChild(el("p", { "class": "empty", text: "none needs attention" })); }
      else {
        card.appendChild(table(["id", "stuck step", "error", "updated", ""], s.stuck.map(function (g) {
          var base = "api/sagas/" + enc(s.name) + "/" + enc(g.id);
          var btns = el("span", {}, [
            button("Resume", "resume", function () { act(base + "/resume", undefined, "resume " + g.id); }),
            button("Abandon", "abandon", function () {
              var reason = prompt("Why abandon saga " + g.id + "? (you take over what it left behind)");
              if (reason) { act(base + "/abandon", { reason: reason }, "abandon " + g.id); }
            })]);
          return row([g.id, g.step, g.error, g.updated_at, btns], { "data-id": g.id });
        })));
      }
      box.appendChild(card);
    });
  }

  function renderProjections(list) {
    var box = $("projections");
    box.replaceChildren();
    if (!list.length) { box.appendChild(el("p", { "class": "empty", text: "no projections" })); return; }
    box.appendChild(table(["projector", "projection", "version", "position", "lag", "state", "parked at", ""], list.map(function (p) {
      if (p.error) { return row([p.projector, p.error, "", "", "", "", "", ""]); }
      var base = "api/projections/" + enc(p.projector) + "/" + enc(p.name);
      var stateText = p.parked ? "parked" : p.retired ? "retired" : p.running ? "running" : p.live ? "live" : "building";
      var btns = el("span", {}, [
        p.parked ? button("Skip event", "skip", function () { act(base + "/skip", undefined, "skip " + p.name); }) : null,
        p.parked ? button("Resume", "resume", function () { act(base + "/resume", undefined, "resume " + p.name); }) : null,
        button("Rebuild", "rebuild", function () {
          if (confirm("Rebuild " + p.name + " from the first event?")) { act(base + "/rebuild", undefined, "rebuild " + p.name); }
        })]);
      return row([p.projector, p.name, p.version, p.position, p.lag < 0 ? "?" : p.lag, stateText,
        p.parked ? p.failed_position + ": " + p.failed_error : "", btns], { "data-projection": p.name });
    })));
  }

  function renderComponents(list) {
    var box = $("components");
    box.replaceChildren();
    $("components-section").hidden = !list.length;
    list.forEach(function (c) {
      var card = el("div", { "class": "card component", "data-component": c.name }, [el("h3", { text: c.name })]);
      if (c.error) { card.appendChild(el("p", { "class": "error", text: c.error })); }
      card.appendChild(el("pre", { text: JSON.stringify(c.snapshot, null, 2) }));
      c.actions.forEach(function (a) {
        card.appendChild(button(a, "component-action", function () {
          var target = prompt(a + " on which target?");
          if (target !== null) { act("api/components/" + enc(c.name) + "/" + enc(a), { target: target }, a + " " + target); }
        }));
      });
      box.appendChild(card);
    });
  }

  function render(s) {
    state = s;
    document.body.classList.toggle("readonly", s.read_only);
    renderPolicies(s.policies);
    renderOutboxes(s.outboxes);
    renderSagas(s.sagas);
    renderProjections(s.projections);
    renderComponents(s.components);
  }

  $("login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    sessionStorage.setItem("bulwark-console-token", $("token").value);
    $("token").value = "";
    say("token kept for this tab");
  });

  fetch("api/session", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
    csrf = s.csrf;
    readOnly = s.read_only;
    $("mode").textContent = readOnly ? "read-only" : "operator";
    $("login").hidden = readOnly;
  });

  var events = new EventSource("api/events");
  events.addEventListener("state", function (ev) { render(JSON.parse(ev.data)); });
  events.onopen = function () { $("live").textContent = "live"; $("live").className = "badge on"; };
  events.onerror = function () { $("live").textContent = "reconnecting"; $("live").className = "badge off"; };
  window.bulwarkConsole = { state: function () { return state; } };
})();
