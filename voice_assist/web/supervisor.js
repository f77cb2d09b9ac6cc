/* Wall board: every live call with agent, duration, distress and trend; alerts first;
 * click a call for its live transcript and coaching events.
 *
 * Feed: /v1/supervisor?token=... (see voice_assist/server/feeds.py).  Plain JS, no build step.
 * All server text goes into the page with textContent, never as HTML.
 */
(function () {
  "use strict";

  var token = new URLSearchParams(location.search).get("token") || "";
  var $ = function (id) { return document.getElementById(id); };
  var ALERT_ACTIVE_MS = 60000;
  var LEVEL_LABEL = { calm: "Calm", elevated: "Elevated", high: "High" };
  var KIND_LABEL = {
    pause_and_acknowledge: "Pause & acknowledge",
    be_present: "Be present",
    return_to_solving: "Return to solving",
    script: "Script nudge"
  };

  var state = {
    calls: {},
    cards: {},
    focus: null,
    feed: null,
    stopped: false,
    dirty: true,
    filter: ""
  };

  /* ---------------- model ---------------- */
  function newCall(id, v) {
    v = v || {};
    var c = {
      id: id,
      agent: v.agent_id || "?",
      source: v.source || "",
      startedWall: v.started_wall_s ? v.started_wall_s * 1000 : Date.now(),
      mediaMs: v.media_ms || 0,
      distress: v.distress || 0,
      level: v.level || "calm",
      provisional: v.provisional !== false,
      slope: 0,
      history: [],
      metrics: v.metrics || null,
      alerts: [],
      openPrompt: v.open_prompt || null,
      empathy: v.empathy || null,
      events: [],
      transcript: {},
      order: []
    };
    var h = v.distress_history || [];
    for (var i = 0; i < h.length; i += 4) c.history.push(h[i]);  // ~4 Hz updates -> ~1 Hz
    (v.alerts || []).forEach(function (a) {
      var age = (c.mediaMs - (a.t_ms || 0));
      c.alerts.push({ msg: a, at: Date.now() - Math.max(0, age) });
      c.events.push(eventFromAlert(a));
    });
    if (v.metrics) c.slope = v.metrics.distress_slope_per_s || 0;
    (v.transcript || []).forEach(function (t) { upsertUtt(c, t); });
    return c;
  }

  function get(id) {
    if (!state.calls[id]) state.calls[id] = newCall(id);
    return state.calls[id];
  }

  function activeAlerts(c) {
    var now = Date.now();
    return c.alerts.filter(function (a) { return now - a.at < ALERT_ACTIVE_MS; });
  }

  function alertRank(c) {
    var act = activeAlerts(c);
    var r = 0;
    act.forEach(function (a) { r = Math.max(r, a.msg.severity === "urgent" ? 3 : a.msg.severity === "warn" ? 2 : 1); });
    return r;
  }

  function upsertUtt(c, m) {
    if (!m.text || !m.text.trim()) return;
    var key = m.channel + ":" + m.utterance_id;
    if (!c.transcript[key]) c.order.push(key);
    c.transcript[key] = m;
    while (c.order.length > 150) delete c.transcript[c.order.shift()];
  }

  function eventFromAlert(a) { return { t: a.t_ms, sev: a.severity, text: tidy(a.message) }; }

  /* Episode ids repeat the call id: "20261122-091500-3fa9c1-ep2" reads better as "#2". */
  function tidy(text) {
    return String(text || "").replace(/\s*\b[0-9]{8}-[0-9]{6}-[0-9a-f]+-ep([0-9]+)/g, " #$1");
  }

  /* ---------------- connection ---------------- */
  function setConn(s, text) { $("conn").setAttribute("data-state", s); $("conn-text").textContent = text; }

  function refusedText(error) {
    return error && error.indexOf("expired") >= 0
      ? "This wall-board link has expired. Run `voice-assist token supervisor` for a new one."
      : "This wall-board link is not valid (" + (error || "refused") + ").";
  }

  function fatal(title, text) {
    state.stopped = true;
    if (state.feed) state.feed.stop();
    setConn("offline", "Offline");
    $("fatal-title").textContent = title;
    $("fatal-text").textContent = text;
    $("fatal").hidden = false;
  }

  function send(o) { if (state.feed) state.feed.send(o); }

  /* ---------------- messages ---------------- */
  function handle(m) {
    var c;
    switch (m.type) {
      case "snapshot":
        var seen = {};
        (m.calls || []).forEach(function (v) {
          var prev = state.calls[v.call_id];
          var nc = newCall(v.call_id, v);
          if (prev) { nc.transcript = prev.transcript; nc.order = prev.order; nc.events = prev.events.length ? prev.events : nc.events; }
          state.calls[v.call_id] = nc;
          seen[v.call_id] = true;
        });
        Object.keys(state.calls).forEach(function (id) { if (!seen[id]) removeCall(id); });
        break;
      case "call_started":
        state.calls[m.call_id] = newCall(m.call_id, { agent_id: m.agent_id, source: m.source });
        break;
      case "call_ended":
        removeCall(m.call_id);
        break;
      case "metrics":
        c = get(m.call_id);
        c.metrics = m;
        c.distress = m.distress;
        c.level = m.level;
        c.slope = m.distress_slope_per_s || 0;
        c.mediaMs = m.t_ms;
        c.history.push(m.distress);
        if (c.history.length > 180) c.history.shift();
        break;
      case "distress":
        c = get(m.call_id);
        c.distress = m.score; c.level = m.level; c.provisional = !!m.provisional;
        break;
      case "alert":
        c = get(m.call_id);
        c.alerts.push({ msg: m, at: Date.now() });
        if (c.alerts.length > 20) c.alerts.shift();
        c.events.push(eventFromAlert(m));
        break;
      case "prompt":
        c = get(m.call_id);
        c.openPrompt = m;
        c.events.push({ t: m.t_ms, sev: m.severity, text: "Prompt: " + (KIND_LABEL[m.kind] || m.kind) + " \u2014 " + m.text });
        break;
      case "prompt_clear":
        c = get(m.call_id);
        if (c.openPrompt && c.openPrompt.prompt_id === m.prompt_id) c.openPrompt = null;
        c.events.push({ t: m.t_ms, sev: m.reason === "followed" ? "info" : "", text: "Prompt " + m.reason.replace("_", " ") });
        break;
      case "episode":
        c = get(m.call_id);
        if (m.state === "start") c.events.push({ t: m.t_ms, sev: "warn", text: "Distress episode started (" + (m.cause || []).join(", ") + ")" });
        break;
      case "empathy":
        get(m.call_id).empathy = m;
        break;
      case "transcript":
        upsertUtt(get(m.call_id), m);
        if (m.call_id === state.focus) renderDetail();
        return;
      case "call_detail":
        if (m.call) {
          c = get(m.call_id);
          (m.call.transcript || []).forEach(function (t) { upsertUtt(c, t); });
        }
        break;
      default:
        return;
    }
    if (c && c.events.length > 60) c.events.splice(0, c.events.length - 60);
    state.dirty = true;
  }

  function removeCall(id) {
    delete state.calls[id];
    var card = state.cards[id];
    if (card) { card.el.remove(); delete state.cards[id]; }
    if (state.focus === id) closeDetail();
    state.dirty = true;
  }

  /* ---------------- rendering ---------------- */
  function sortedCalls() {
    var f = state.filter;
    var list = Object.keys(state.calls).map(function (k) { return state.calls[k]; }).filter(function (c) {
      return !f || c.agent.toLowerCase().indexOf(f) >= 0 || c.id.toLowerCase().indexOf(f) >= 0;
    });
    list.sort(function (a, b) {
      return (alertRank(b) - alertRank(a)) || (b.distress - a.distress) || (a.startedWall - b.startedWall);
    });
    return list;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function makeCard(c) {
    var root = el("article", "call");
    root.setAttribute("role", "listitem");
    root.tabIndex = 0;
    var top = el("div", "call-top");
    var agent = el("span", "call-agent");
    var dur = el("span", "call-dur mono");
    top.appendChild(agent); top.appendChild(dur);
    var sub = el("div", "call-sub mono");
    var mid = el("div", "call-mid");
    var score = el("div", "score");
    var v = el("span", "v"), lvl = el("span", "lvl");
    score.appendChild(v); score.appendChild(lvl);
    var spark = el("canvas", "spark");
    spark.width = 200; spark.height = 44;
    var trend = el("span", "trend");
    mid.appendChild(score); mid.appendChild(spark); mid.appendChild(trend);
    var foot = el("div", "call-foot");
    var alertLine = el("div", "alert-line");
    var promptLine = el("div", "prompt-line");
    root.appendChild(top); root.appendChild(sub); root.appendChild(mid); root.appendChild(foot);
    root.appendChild(alertLine); root.appendChild(promptLine);
    root.addEventListener("click", function () { openDetail(c.id); });
    root.addEventListener("keydown", function (e) { if (e.key === "Enter") openDetail(c.id); });
    return { el: root, agent: agent, dur: dur, sub: sub, v: v, lvl: lvl, spark: spark, trend: trend, foot: foot, alertLine: alertLine, promptLine: promptLine };
  }

  function chip(parent, text, cls) { parent.appendChild(el("span", "chip" + (cls ? " " + cls : ""), text)); }

  function fmtDur(ms) {
    var s = Math.max(0, Math.floor(ms / 1000)), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    s = s % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function trendOf(c) { return c.slope > 0.01 ? "up" : c.slope < -0.01 ? "down" : "flat"; }

  function updateCard(card, c) {
    card.el.setAttribute("data-level", c.level);
    card.el.setAttribute("data-call-id", c.id);
    card.el.classList.toggle("selected", state.focus === c.id);
    var act = activeAlerts(c);
    card.el.classList.toggle("has-alert", act.length > 0);
    card.agent.textContent = c.agent;
    card.dur.textContent = fmtDur(Date.now() - c.startedWall);
    card.sub.textContent = c.id + " \u00B7 " + c.source;
    card.v.textContent = Math.round(c.distress * 100);
    card.lvl.textContent = LEVEL_LABEL[c.level] || c.level;
    var t = trendOf(c);
    card.trend.className = "trend " + t;
    card.trend.textContent = t === "up" ? "\u2197" : t === "down" ? "\u2198" : "\u2192";
    card.trend.title = "distress " + (t === "up" ? "rising" : t === "down" ? "easing" : "steady");
    drawSpark(card.spark, c.history, 180);
    card.foot.textContent = "";
    var mt = c.metrics;
    if (mt) {
      chip(card.foot, "agent talk " + Math.round(mt.agent_talk_ratio * 100) + "%", mt.agent_talk_ratio > 0.7 ? "warn" : "");
      if (mt.overtalk_ms > 0) chip(card.foot, "overtalk " + (mt.overtalk_ms / 1000).toFixed(1) + " s", mt.overtalk_ms > 3000 ? "bad" : "warn");
      if (mt.silence_ms > 8000) chip(card.foot, "silence " + Math.round(mt.silence_ms / 1000) + " s", "warn");
    }
    var e = c.empathy;
    if (e && e.episodes) chip(card.foot, "ack " + e.acknowledged + "/" + e.episodes, e.acknowledged >= e.episodes ? "good" : "bad");
    if (act.length) {
      var latest = act[act.length - 1].msg;
      card.alertLine.hidden = false;
      card.alertLine.className = "alert-line" + (latest.severity === "urgent" ? "" : " warn");
      card.alertLine.textContent = tidy(latest.message);
    } else {
      card.alertLine.hidden = true;
    }
    if (c.openPrompt) {
      card.promptLine.hidden = false;
      card.promptLine.textContent = "";
      card.promptLine.appendChild(el("b", "", KIND_LABEL[c.openPrompt.kind] || c.openPrompt.kind));
      card.promptLine.appendChild(document.createTextNode(" prompt on the agent's screen"));
    } else {
      card.promptLine.hidden = true;
    }
  }

  function drawSpark(canvas, data, maxPts) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = "rgba(255,255,255,.08)";
    ctx.setLineDash([3, 4]);
    [0.5, 0.75].forEach(function (y) { ctx.beginPath(); ctx.moveTo(0, h - y * h); ctx.lineTo(w, h - y * h); ctx.stroke(); });
    ctx.setLineDash([]);
    var pts = data.slice(-maxPts);
    if (pts.length < 2) return;
    var step = w / (Math.max(pts.length, 30) - 1);
    var last = pts[pts.length - 1];
    var color = last >= 0.75 ? "#ff5f57" : last >= 0.5 ? "#f2b53a" : "#35c28a";
    ctx.beginPath();
    pts.forEach(function (v, i) {
      var y = h - 2 - Math.max(0, Math.min(1, v)) * (h - 4);
      if (i === 0) ctx.moveTo(0, y); else ctx.lineTo(i * step, y);
    });
    ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.stroke();
    ctx.lineTo((pts.length - 1) * step, h); ctx.lineTo(0, h); ctx.closePath();
    ctx.globalAlpha = 0.14; ctx.fillStyle = color; ctx.fill(); ctx.globalAlpha = 1;
  }

  function render() {
    var list = sortedCalls();
    var grid = $("grid");
    list.forEach(function (c, i) {
      var card = state.cards[c.id];
      if (!card) { card = state.cards[c.id] = makeCard(c); }
      updateCard(card, c);
      if (grid.children[i] !== card.el) grid.insertBefore(card.el, grid.children[i] || null);
    });
    Object.keys(state.cards).forEach(function (id) {
      if (!state.calls[id]) { state.cards[id].el.remove(); delete state.cards[id]; }
    });
    Array.prototype.slice.call(grid.children).forEach(function (node) {
      var id = node.getAttribute("data-call-id");
      if (!list.some(function (c) { return c.id === id; })) node.remove();
    });
    $("empty").hidden = list.length > 0;
    var all = Object.keys(state.calls).map(function (k) { return state.calls[k]; });
    $("stat-calls").textContent = String(all.length);
    $("stat-alerts").textContent = String(all.filter(function (c) { return activeAlerts(c).length > 0; }).length);
    $("stat-high").textContent = String(all.filter(function (c) { return c.level === "high"; }).length);
    var ep = 0, ack = 0;
    all.forEach(function (c) { if (c.empathy) { ep += c.empathy.episodes; ack += c.empathy.acknowledged; } });
    $("stat-ack").textContent = ep ? Math.round(100 * ack / ep) + "%" : "\u2013";
    if (state.focus) renderDetail();
  }

  /* ---------------- detail pane ---------------- */
  function openDetail(id) {
    state.focus = id;
    $("detail").hidden = false;
    send({ type: "focus", call_id: id });
    state.dirty = true;
    renderDetail();
  }

  function closeDetail() {
    state.focus = null;
    $("detail").hidden = true;
    send({ type: "focus", call_id: null });
    state.dirty = true;
  }

  function renderDetail() {
    var c = state.calls[state.focus];
    if (!c) return;
    $("d-agent").textContent = c.agent;
    $("d-call").textContent = c.id;
    $("d-duration").textContent = fmtDur(Date.now() - c.startedWall);
    $("d-source").textContent = c.source;
    var lvl = $("d-level");
    lvl.className = "pill " + c.level;
    lvl.textContent = (LEVEL_LABEL[c.level] || c.level) + " " + Math.round(c.distress * 100);
    drawSpark($("d-spark"), c.history, 180);
    var mt = c.metrics || {};
    var box = $("d-metrics");
    box.textContent = "";
    [
      ["talk ratio", mt.agent_talk_ratio !== undefined ? Math.round(mt.agent_talk_ratio * 100) + "%" : "\u2013"],
      ["agent wpm", mt.agent_words_per_min !== undefined ? Math.round(mt.agent_words_per_min) : "\u2013"],
      ["overtalk", mt.overtalk_ms !== undefined ? (mt.overtalk_ms / 1000).toFixed(1) + " s" : "\u2013"],
      ["silence", mt.silence_ms !== undefined ? (mt.silence_ms / 1000).toFixed(1) + " s" : "\u2013"]
    ].forEach(function (p) {
      var d = el("div");
      d.appendChild(el("span", "v", String(p[1])));
      d.appendChild(el("span", "l", p[0]));
      box.appendChild(d);
    });
    var evs = $("d-events");
    evs.textContent = "";
    c.events.slice(-40).reverse().forEach(function (e) {
      var li = el("li", e.sev || "");
      li.appendChild(el("span", "t", fmtDur(e.t || 0)));
      li.appendChild(document.createTextNode(e.text));
      evs.appendChild(li);
    });
    if (!c.events.length) evs.appendChild(el("li", "", "No coaching events yet."));
    var ol = $("d-transcript");
    var atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    ol.textContent = "";
    c.order.slice().sort(function (a, b) { return (c.transcript[a].start_ms || 0) - (c.transcript[b].start_ms || 0); })
      .slice(-80).forEach(function (k) {
        var m = c.transcript[k];
        var li = el("li", m.channel + (m.is_final ? "" : " partial"));
        li.appendChild(el("span", "who", m.channel === "agent" ? "Agent" : "Customer"));
        li.appendChild(document.createTextNode(m.text.trim()));
        ol.appendChild(li);
      });
    if (!c.order.length) ol.appendChild(el("li", "", "Waiting for speech\u2026"));
    if (atBottom) ol.scrollTop = ol.scrollHeight;
  }

  /* ---------------- wiring ---------------- */
  $("d-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && state.focus) closeDetail(); });
  $("filter").addEventListener("input", function (e) { state.filter = e.target.value.trim().toLowerCase(); state.dirty = true; });
  setInterval(function () {
    var d = new Date();
    $("clock").textContent = (d.getHours() < 10 ? "0" : "") + d.getHours() + ":" + (d.getMinutes() < 10 ? "0" : "") + d.getMinutes();
    state.dirty = true;  // durations tick
  }, 1000);
  (function loop() {
    if (state.dirty) { state.dirty = false; render(); }
    setTimeout(function () { requestAnimationFrame(loop); }, 250);
  })();

  if (!token) {
    fatal("No token", "Open this page with the link that includes ?token=.");
  } else {
    state.feed = VAFeed.open({
      path: "/v1/supervisor",
      token: token,
      onOpen: function (sendNow) {
        sendNow({ type: "subscribe", calls: "*" });
        if (state.focus) sendNow({ type: "focus", call_id: state.focus });
      },
      onMessage: handle,
      onStatus: setConn,
      onRefused: function (error) { fatal("Session ended", refusedText(error)); }
    });
  }
})();
