/* Agent overlay: live prompts, customer distress, empathy check and transcript for one agent.
 *
 * Feed: /v1/agent?token=... (see voice_assist/server/feeds.py).  Plain JS, no build step.
 * All text from the server goes into the page with textContent, never as HTML.
 */
(function () {
  "use strict";

  var params = new URLSearchParams(location.search);
  var token = params.get("token") || "";
  var $ = function (id) { return document.getElementById(id); };

  var KIND_LABEL = {
    pause_and_acknowledge: "Pause & acknowledge",
    be_present: "Be present",
    return_to_solving: "Return to solving",
    script: "Sound like yourself"
  };
  var SEVERITY_RANK = { urgent: 3, warn: 2, info: 1 };
  var LEVEL_LABEL = { calm: "Calm", elevated: "Elevated", high: "High" };

  var state = {
    calls: {},          // call_id -> call state
    current: null,      // call_id shown
    feed: null,
    stopped: false
  };

  function newCall(callId, info) {
    info = info || {};
    return {
      id: callId,
      agentId: info.agent_id || "",
      startedWall: info.started_wall_s ? info.started_wall_s * 1000 : Date.now(),
      mediaMs: info.media_ms || 0,
      ended: false,
      endedAt: 0,
      distress: info.distress || 0,
      level: info.level || "calm",
      provisional: info.provisional !== false,
      history: (info.distress_history || []).slice(-120),
      prompts: {},        // prompt_id -> {msg, shownAt}
      utterances: [],     // ordered utterance ids
      byId: {},           // utterance_id -> message
      empathy: info.empathy || null
    };
  }

  /* ---------------- connection (feed.js) ---------------- */
  function setConn(s, text) {
    var el = $("conn");
    el.setAttribute("data-state", s);
    $("conn-text").textContent = text;
  }

  function reasonText(err) {
    if (!err) return "Ask your supervisor for a new overlay link.";
    if (err.indexOf("expired") >= 0) return "This overlay link has expired. Ask your supervisor for a new one.";
    return "This overlay link is not valid (" + err + "). Ask your supervisor for a new one.";
  }

  function fatal(title, text) {
    state.stopped = true;
    if (state.feed) state.feed.stop();
    setConn("offline", "Offline");
    $("fatal-title").textContent = title;
    $("fatal-text").textContent = text;
    $("fatal").hidden = false;
  }

  function send(obj) {
    if (state.feed) state.feed.send(obj);
  }

  /* ---------------- messages ---------------- */
  function handle(msg) {
    switch (msg.type) {
      case "hello":
        $("agent-id").textContent = msg.agent_id || "";
        break;
      case "snapshot": onSnapshot(msg); break;
      case "call_started": onCallStarted(msg); break;
      case "call_ended": onCallEnded(msg); break;
      case "transcript": onTranscript(msg); break;
      case "distress": onDistress(msg); break;
      case "prompt": onPrompt(msg); break;
      case "prompt_clear": onPromptClear(msg); break;
      case "empathy": onEmpathy(msg); break;
      case "vad": onVad(msg); break;
      case "episode": onEpisode(msg); break;
      case "overload":
        $("foot-text").textContent = "The transcriber is busy: live text may lag a little.";
        break;
      case "error":
        if (msg.code === "unknown_call") $("foot-text").textContent = "That prompt belongs to a call that has ended.";
        break;
      default: break;
    }
  }

  function call(id) {
    if (!state.calls[id]) state.calls[id] = newCall(id);
    return state.calls[id];
  }

  function onSnapshot(msg) {
    var live = {};
    (msg.calls || []).forEach(function (c) {
      live[c.call_id] = true;
      var prev = state.calls[c.call_id];
      var st = newCall(c.call_id, c);
      if (prev) { st.utterances = prev.utterances; st.byId = prev.byId; }
      (c.transcript || []).forEach(function (t) { upsertUtterance(st, t); });
      if (c.open_prompt) st.prompts[c.open_prompt.prompt_id] = { msg: c.open_prompt, shownAt: Date.now(), acked: true };
      state.calls[c.call_id] = st;
    });
    Object.keys(state.calls).forEach(function (id) {
      if (!live[id] && !state.calls[id].ended) { state.calls[id].ended = true; state.calls[id].endedAt = Date.now(); }
    });
    var ids = Object.keys(live);
    if (ids.length) {
      ids.sort(function (a, b) { return state.calls[b].startedWall - state.calls[a].startedWall; });
      state.current = ids[0];
    }
    renderAll();
  }

  function onCallStarted(msg) {
    var st = newCall(msg.call_id, { agent_id: msg.agent_id });
    state.calls[msg.call_id] = st;
    state.current = msg.call_id;
    renderAll();
  }

  function onCallEnded(msg) {
    var st = call(msg.call_id);
    st.ended = true;
    st.endedAt = Date.now();
    st.mediaMs = msg.duration_ms || st.mediaMs;
    st.prompts = {};
    if (state.current === msg.call_id) renderAll();
  }

  function upsertUtterance(st, msg) {
    var key = msg.channel + ":" + msg.utterance_id;
    if (!st.byId[key]) st.utterances.push(key);
    st.byId[key] = msg;
    if (st.utterances.length > 200) {
      var old = st.utterances.shift();
      delete st.byId[old];
    }
  }

  function onTranscript(msg) {
    var st = call(msg.call_id);
    if (!msg.text || !msg.text.trim()) return;
    upsertUtterance(st, msg);
    if (state.current === msg.call_id) renderTranscript(st);
  }

  function onDistress(msg) {
    var st = call(msg.call_id);
    st.distress = msg.score || 0;
    st.level = msg.level || "calm";
    st.provisional = !!msg.provisional;
    st.history.push(st.distress);
    if (st.history.length > 240) st.history.shift();
    if (state.current === msg.call_id) renderDistress(st);
  }

  function onEpisode(msg) {
    if (msg.state === "start" && state.current === msg.call_id) {
      var st = call(msg.call_id);
      st.episodeAt = Date.now();
    }
  }

  function onPrompt(msg) {
    var st = call(msg.call_id);
    st.prompts[msg.prompt_id] = { msg: msg, shownAt: Date.now(), acked: false };
    state.current = msg.call_id;
    renderPrompt(st);
  }

  function onPromptClear(msg) {
    var st = call(msg.call_id);
    var had = st.prompts[msg.prompt_id];
    delete st.prompts[msg.prompt_id];
    if (had && msg.reason === "followed") toast("Nice: acknowledged");
    if (state.current === msg.call_id) renderPrompt(st);
  }

  function onEmpathy(msg) {
    var st = call(msg.call_id);
    st.empathy = msg;
    if (state.current === msg.call_id) renderEmpathy(st);
  }

  function onVad(msg) {
    if (state.current !== msg.call_id) return;
    var el = $("leg-" + msg.channel);
    if (el) el.classList.toggle("speaking", !!msg.speaking);
  }

  /* ---------------- rendering ---------------- */
  function renderAll() {
    var st = state.current ? state.calls[state.current] : null;
    renderCallLine(st);
    renderPrompt(st);
    renderDistress(st);
    renderEmpathy(st);
    renderTranscript(st);
  }

  function renderCallLine(st) {
    var line = $("call-line");
    if (!st) {
      line.setAttribute("data-state", "idle");
      $("call-state").textContent = "Waiting for a call";
      $("call-id").textContent = "";
      $("call-clock").textContent = "00:00";
      return;
    }
    line.setAttribute("data-state", st.ended ? "ended" : "live");
    $("call-state").textContent = st.ended ? "Call ended" : "On a call";
    $("call-id").textContent = st.id.slice(-6);
    tickClock();
  }

  function tickClock() {
    var st = state.current ? state.calls[state.current] : null;
    if (!st) return;
    var ms = st.ended ? (st.endedAt - st.startedWall) : (Date.now() - st.startedWall);
    $("call-clock").textContent = fmtClock(ms);
  }

  function fmtClock(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor(s / 60);
    s = s % 60;
    return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function activePrompts(st) {
    if (!st) return [];
    var list = Object.keys(st.prompts).map(function (k) { return st.prompts[k]; });
    list.sort(function (a, b) {
      var r = (SEVERITY_RANK[b.msg.severity] || 0) - (SEVERITY_RANK[a.msg.severity] || 0);
      return r || b.shownAt - a.shownAt;
    });
    return list;
  }

  function renderPrompt(st) {
    var list = activePrompts(st);
    var box = $("prompt");
    if (!list.length) {
      box.hidden = true;
      box.removeAttribute("data-prompt-id");
      $("prompt-idle").hidden = false;
      $("idle-title").textContent = st && st.ended ? "Call ended" : "No prompt right now";
      $("idle-sub").textContent = st && st.ended ? summaryText(st)
        : "Prompts appear here when the customer needs a pause and an acknowledgement.";
      return;
    }
    var top = list[0];
    var p = top.msg;
    $("prompt-idle").hidden = true;
    box.hidden = false;
    if (box.getAttribute("data-prompt-id") !== p.prompt_id) {
      box.style.animation = "none";
      void box.offsetWidth;
      box.style.animation = "";
    }
    box.setAttribute("data-prompt-id", p.prompt_id);
    box.setAttribute("data-kind", p.kind);
    box.setAttribute("data-severity", p.severity);
    $("prompt-kind").textContent = KIND_LABEL[p.kind] || p.kind;
    $("prompt-text").textContent = p.text;
    $("prompt-phrase").textContent = p.suggested_phrase || "";
    $("prompt-phrase-box").hidden = !p.suggested_phrase;
    var more = $("prompt-more");
    more.hidden = list.length < 2;
    more.textContent = "+" + (list.length - 1) + " more";
    renderEvidence(p.evidence || {});
    if (!top.acked) {
      top.acked = true;
      send({ type: "prompt_ack", call_id: p.call_id, prompt_id: p.prompt_id, action: "shown" });
    }
    tickTtl();
  }

  var CAUSE_LABEL = {
    "prosody:loud": "louder than usual",
    "prosody:fast": "speaking faster",
    "prosody:pitch": "higher pitch",
    "repeat_contact": "calling again",
    "anger": "angry words",
    "escalation": "wants to escalate"
  };

  function causeLabel(c) {
    if (CAUSE_LABEL[c]) return CAUSE_LABEL[c];
    return String(c).replace(/[_:]+/g, " ");
  }

  function renderEvidence(evd) {
    var ul = $("prompt-evidence");
    ul.textContent = "";
    var chips = [];
    if (typeof evd.peak === "number") chips.push("distress " + Math.round(evd.peak * 100) + "%");
    else if (typeof evd.score === "number") chips.push("distress " + Math.round(evd.score * 100) + "%");
    (evd.cause || []).slice(0, 4).forEach(function (c) { chips.push(causeLabel(c)); });
    if (evd.trigger === "overtalk" && evd.overtalk_ms) chips.push("overtalk " + (evd.overtalk_ms / 1000).toFixed(1) + " s");
    if (evd.process_phrase) chips.push("went to: " + evd.process_phrase);
    if (evd.line) chips.push("you said: " + evd.line);
    chips.forEach(function (t) {
      var li = document.createElement("li");
      li.textContent = t;
      ul.appendChild(li);
    });
    var quote = evd.utterance || evd.agent_utterance;
    if (quote) {
      var q = document.createElement("li");
      q.className = "quote";
      q.textContent = "\u201C" + truncate(quote, 140) + "\u201D";
      ul.appendChild(q);
    }
  }

  function truncate(s, n) { s = String(s).trim(); return s.length > n ? s.slice(0, n - 1) + "\u2026" : s; }

  function tickTtl() {
    var st = state.current ? state.calls[state.current] : null;
    var list = activePrompts(st);
    if (!list.length) return;
    var top = list[0];
    var ttl = top.msg.ttl_ms || 20000;
    var left = Math.max(0, 1 - (Date.now() - top.shownAt) / ttl);
    $("prompt-ttl").style.width = (left * 100).toFixed(1) + "%";
  }

  function ackTop(action) {
    var st = state.current ? state.calls[state.current] : null;
    var list = activePrompts(st);
    if (!list.length) return;
    var p = list[0].msg;
    send({ type: "prompt_ack", call_id: p.call_id, prompt_id: p.prompt_id, action: action });
    delete st.prompts[p.prompt_id];
    if (action === "followed") toast("Thanks. Noted");
    renderPrompt(st);
  }

  function toast(text) {
    var t = $("toast");
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 2200);
  }

  function renderDistress(st) {
    var score = st ? st.distress : 0;
    var level = st ? st.level : "calm";
    var root = $("distress");
    root.setAttribute("data-level", level);
    $("distress-level").textContent = LEVEL_LABEL[level] || level;
    $("distress-fill").style.width = Math.round(Math.max(0, Math.min(1, score)) * 100) + "%";
    $("distress-meter").setAttribute("aria-valuenow", String(Math.round(score * 100)));
    $("distress-calibrating").hidden = !(st && st.provisional && !st.ended);
    var hist = st ? st.history : [];
    drawSpark($("distress-spark"), hist);
    var trend = slope(hist);
    var el = $("distress-trend");
    var t = trend > 0.02 ? "up" : trend < -0.02 ? "down" : "flat";
    el.setAttribute("data-trend", t);
    $("distress-trend-text").textContent = t === "up" ? "rising" : t === "down" ? "easing" : "steady";
  }

  /* Least-squares slope of the last ~5 s (20 points at 4 Hz), per point. */
  function slope(h) {
    var pts = h.slice(-20);
    var n = pts.length;
    if (n < 4) return 0;
    var sx = 0, sy = 0, sxy = 0, sxx = 0;
    for (var i = 0; i < n; i++) { sx += i; sy += pts[i]; sxy += i * pts[i]; sxx += i * i; }
    return ((n * sxy - sx * sy) / (n * sxx - sx * sx)) * n / 4;
  }

  function drawSpark(canvas, data) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || 220, h = canvas.clientHeight || 36;
    if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = "rgba(0,0,0,.08)";
    ctx.setLineDash([3, 3]);
    [0.5, 0.75].forEach(function (y) {
      ctx.beginPath(); ctx.moveTo(0, h - y * h); ctx.lineTo(w, h - y * h); ctx.stroke();
    });
    ctx.setLineDash([]);
    var pts = data.slice(-120);
    if (pts.length < 2) return;
    var step = w / (pts.length - 1);
    var last = pts[pts.length - 1];
    var color = last >= 0.75 ? "#d64541" : last >= 0.5 ? "#e0a100" : "#2e9e6b";
    ctx.beginPath();
    pts.forEach(function (v, i) {
      var y = h - 2 - Math.max(0, Math.min(1, v)) * (h - 4);
      if (i === 0) ctx.moveTo(0, y); else ctx.lineTo(i * step, y);
    });
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.stroke();
    ctx.lineTo(w, h); ctx.lineTo(0, h); ctx.closePath();
    ctx.globalAlpha = 0.12; ctx.fillStyle = color; ctx.fill(); ctx.globalAlpha = 1;
  }

  function renderEmpathy(st) {
    var e = st && st.empathy;
    var episodes = e ? e.episodes : 0, acked = e ? e.acknowledged : 0;
    $("emp-episodes").textContent = String(episodes);
    $("emp-ack").textContent = String(acked);
    var lat = e && e.ack_latency_ms && e.ack_latency_ms.length
      ? e.ack_latency_ms.reduce(function (a, b) { return a + b; }, 0) / e.ack_latency_ms.length : null;
    $("emp-latency").textContent = lat === null ? "\u2013" : (lat / 1000).toFixed(1) + " s";
    var root = $("empathy");
    root.classList.toggle("good", episodes > 0 && acked >= episodes);
    root.classList.toggle("behind", episodes > acked);
  }

  function summaryText(st) {
    var e = st.empathy;
    if (!e || !e.episodes) return "No distress moments on this call.";
    return "You acknowledged " + e.acknowledged + " of " + e.episodes + " distress moment" + (e.episodes === 1 ? "" : "s") + ".";
  }

  function renderTranscript(st) {
    var ol = $("transcript");
    var atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    ol.textContent = "";
    if (!st || !st.utterances.length) {
      var empty = document.createElement("li");
      empty.className = "transcript-empty";
      empty.textContent = st ? "Listening\u2026" : "The conversation will appear here.";
      ol.appendChild(empty);
      return;
    }
    var keys = st.utterances.slice().sort(function (a, b) {
      return (st.byId[a].start_ms || 0) - (st.byId[b].start_ms || 0);
    }).slice(-60);
    keys.forEach(function (k) {
      var m = st.byId[k];
      var li = document.createElement("li");
      li.className = "utt " + m.channel + (m.is_final ? "" : " partial");
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = m.channel === "agent" ? "You" : "Customer";
      li.appendChild(who);
      li.appendChild(document.createTextNode(m.text.trim()));
      ol.appendChild(li);
    });
    if (atBottom) ol.scrollTop = ol.scrollHeight;
  }

  /* ---------------- wiring ---------------- */
  $("btn-followed").addEventListener("click", function () { ackTop("followed"); });
  $("btn-dismiss").addEventListener("click", function () { ackTop("dismissed"); });
  document.addEventListener("keydown", function (e) {
    if (e.target && (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA")) return;
    if (e.key === "Escape") ackTop("dismissed");
  });
  setInterval(function () { tickClock(); tickTtl(); }, 500);

  renderAll();
  if (!token) {
    fatal("No token", "Open this page with the link that includes ?token=.");
  } else {
    state.feed = VAFeed.open({
      path: "/v1/agent",
      token: token,
      onMessage: handle,
      onStatus: setConn,
      onRefused: function (error) { fatal("Session ended", reasonText(error)); }
    });
  }
})();
