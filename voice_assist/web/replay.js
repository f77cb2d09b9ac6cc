// Replay page: one stored call on one time axis (plain JS + canvas, no dependencies).
// Data: GET /api/calls/{id}/replay-data (Bearer token from ?token=); audio: the FLAC.
"use strict";

(function () {
  const COLORS = {
    customer: "#d9480f",
    agent: "#1c7ed6",
    episode: "rgba(224, 49, 49, 0.13)",
    episodeEdge: "rgba(224, 49, 49, 0.55)",
    followed: "#2f9e44",
    dismissed: "#f08c00",
    expired: "#868e96",
    grid: "#eceff3",
    axis: "#667085",
    distress: "#c92a2a",
    playhead: "#111827",
  };
  const LANES = [
    { key: "customer", label: "Customer", weight: 1.0 },
    { key: "agent", label: "Agent", weight: 1.0 },
    { key: "distress", label: "Distress", weight: 1.5 },
    { key: "pitch", label: "Pitch (st)", weight: 1.1 },
    { key: "loudness", label: "Loudness (dB)", weight: 1.1 },
  ];
  const LEFT = 104;
  const RIGHT = 12;
  const TOP = 18;
  const AXIS = 22;
  const GAP = 12;

  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const callId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
  const timings = { start: performance.now() };
  window.replayTimings = timings;

  const $ = (id) => document.getElementById(id);
  let data = null;
  let player = null;
  let layout = null;
  let currentUtterance = -1;

  function fmtTime(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  }

  function fail(title, detail) {
    document.body.dataset.state = "error";
    const box = $("message");
    box.hidden = false;
    box.innerHTML = "";
    const h = document.createElement("h2");
    h.textContent = title;
    const p = document.createElement("p");
    p.textContent = detail || "";
    box.append(h, p);
  }

  async function load() {
    $("call-id").textContent = callId;
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    let res;
    try {
      res = await fetch(`/api/calls/${encodeURIComponent(callId)}/replay-data`, { headers });
    } catch (err) {
      fail("Cannot reach the server", String(err));
      return;
    }
    let body = null;
    try { body = await res.json(); } catch (err) { body = null; }
    timings.fetched = performance.now();
    if (!res.ok) {
      const detail = body && body.detail ? body.detail : `HTTP ${res.status}`;
      if (res.status === 401 || res.status === 403) {
        fail("Not authorized", `${detail}. Open this page with ?token=<supervisor or QA token>.`);
      } else if (res.status === 404) {
        fail("Call not found", detail);
      } else {
        fail("This call cannot be shown", detail);
      }
      return;
    }
    data = body;
    render();
    timings.rendered = performance.now();
    document.body.dataset.state = "ready";
  }

  // -- player: the audio element, or a virtual clock when there is no audio ---------------

  function makePlayer() {
    const audio = $("audio");
    const duration = Math.max(1, data.duration_ms);
    if (data.audio && data.audio.available) {
      const q = token ? `?token=${encodeURIComponent(token)}` : "";
      audio.src = `${data.audio_url}${q}`;
      return {
        now: () => audio.currentTime * 1000,
        seek: (ms) => { audio.currentTime = Math.max(0, ms) / 1000; },
        playing: () => !audio.paused,
        setRate: (r) => { audio.playbackRate = r; },
        element: audio,
        duration,
      };
    }
    audio.hidden = true;
    $("virtual-player").hidden = false;
    $("vp-note").textContent = `no audio: ${(data.audio && data.audio.reason) || "not archived"}`;
    let pos = 0;
    let startedAt = null;
    let rate = 1;
    const now = () => (startedAt === null ? pos : Math.min(duration, pos + (performance.now() - startedAt) * rate));
    const vp = {
      now,
      seek: (ms) => { pos = Math.max(0, Math.min(duration, ms)); if (startedAt !== null) startedAt = performance.now(); tick(); },
      playing: () => startedAt !== null,
      setRate: (r) => { pos = now(); if (startedAt !== null) startedAt = performance.now(); rate = r; },
      element: null,
      duration,
    };
    $("vp-toggle").addEventListener("click", () => {
      if (startedAt === null) { startedAt = performance.now(); $("vp-toggle").textContent = "Pause"; animate(); }
      else { pos = now(); startedAt = null; $("vp-toggle").textContent = "Play"; }
    });
    return vp;
  }

  // -- rendering ----------------------------------------------------------------------

  function render() {
    const c = data.call;
    const started = new Date(c.started_at_ms);
    $("call-meta").textContent =
      `agent ${c.agent_id} · ${c.source} · ${started.toLocaleString()} · ${fmtTime(c.duration_ms)} · ${c.status}` +
      (c.end_reason ? ` (${c.end_reason})` : "");
    renderSummary();
    $("content").hidden = false;
    player = makePlayer();
    $("rate").addEventListener("change", (e) => player.setRate(Number(e.target.value)));
    renderTranscript();
    renderEvents();
    drawBase();
    bindCanvas();
    if (player.element) {
      const el = player.element;
      el.addEventListener("timeupdate", tick);
      el.addEventListener("seeked", tick);
      el.addEventListener("play", animate);
    }
    window.addEventListener("resize", () => { drawBase(); tick(); });
    tick();
  }

  function renderSummary() {
    const s = data.summary;
    const box = $("summary");
    box.innerHTML = "";
    const big = document.createElement("div");
    big.className = "big " + (s.episodes === 0 || s.acknowledged === s.episodes ? "ok" : "bad");
    big.textContent = s.episodes ? `${s.acknowledged} / ${s.episodes} acknowledged` : "no distress episodes";
    const small = document.createElement("div");
    const parts = [];
    if (s.median_ack_ms !== null) parts.push(`median ${(s.median_ack_ms / 1000).toFixed(1)} s to acknowledge`);
    parts.push(`${s.prompts_followed} of ${s.prompts} prompts followed`);
    if (data.call.max_distress !== null) parts.push(`peak distress ${data.call.max_distress.toFixed(2)}`);
    small.textContent = parts.join(" · ");
    box.append(big, small);
  }

  function renderTranscript() {
    const list = $("transcript");
    list.innerHTML = "";
    if (!data.transcript.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "no transcript stored";
      list.append(li);
    }
    data.transcript.forEach((u, i) => {
      const li = document.createElement("li");
      li.dataset.index = String(i);
      li.dataset.start = String(u.start_ms);
      const t = document.createElement("span");
      t.className = "t mono";
      t.textContent = fmtTime(u.start_ms);
      const who = document.createElement("span");
      who.className = `who ${u.channel}`;
      who.textContent = u.channel;
      const text = document.createElement("span");
      text.textContent = u.text;
      li.append(t, who, text);
      li.addEventListener("click", () => { player.seek(u.start_ms); tick(); });
      list.append(li);
    });
  }

  function promptOutcome(p) {
    if (p.followed) return ["followed", `followed in ${(p.response_ms / 1000).toFixed(1)} s`];
    if (p.ack_action === "dismissed" || p.clear_reason === "dismissed") return ["dismissed", "dismissed"];
    if (p.clear_reason) return ["expired", p.clear_reason];
    return ["open", "no reaction"];
  }

  function renderEvents() {
    const tbody = $("events").querySelector("tbody");
    tbody.innerHTML = "";
    const rows = [];
    for (const e of data.episodes) {
      const len = e.end_ms !== null ? ` for ${((e.end_ms - e.start_ms) / 1000).toFixed(1)} s` : "";
      rows.push({ t: e.start_ms, cls: "episode-row", what: `distress episode (peak ${e.peak.toFixed(2)})${len}`, outcome: ["", ""] });
    }
    for (const p of data.prompts) {
      rows.push({ t: p.t_ms, cls: "prompt-row", what: `prompt: ${p.text}`, outcome: promptOutcome(p), title: p.suggested_phrase });
    }
    rows.sort((a, b) => a.t - b.t);
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.innerHTML = '<td colspan="3" class="empty">no distress episodes or prompts</td>';
      tbody.append(tr);
    }
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.className = r.cls;
      if (r.title) tr.title = `suggested: "${r.title}"`;
      const t = document.createElement("td");
      t.className = "mono";
      t.textContent = fmtTime(r.t);
      const what = document.createElement("td");
      what.textContent = r.what;
      const out = document.createElement("td");
      out.className = `outcome ${r.outcome[0]}`;
      out.textContent = r.outcome[1];
      tr.append(t, what, out);
      tr.addEventListener("click", () => { player.seek(r.t); tick(); });
      tbody.append(tr);
    }
  }

  function setupCanvas(canvas) {
    const rect = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(rect.width * dpr));
    canvas.height = Math.max(1, Math.round(rect.height * dpr));
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { ctx, w: rect.width, h: rect.height };
  }

  function computeLayout(w, h) {
    const total = LANES.reduce((a, l) => a + l.weight, 0);
    const usable = h - TOP - AXIS - GAP * (LANES.length - 1);
    let y = TOP;
    const lanes = {};
    for (const lane of LANES) {
      const lh = (usable * lane.weight) / total;
      lanes[lane.key] = { y, h: lh, label: lane.label };
      y += lh + GAP;
    }
    const duration = Math.max(1, data.duration_ms);
    return {
      w, h, lanes, duration,
      x: (ms) => LEFT + (Math.max(0, Math.min(duration, ms)) / duration) * (w - LEFT - RIGHT),
      t: (px) => ((px - LEFT) / (w - LEFT - RIGHT)) * duration,
    };
  }

  function range(values, pad, fallback) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const arr of values) for (const v of arr) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!isFinite(lo)) return fallback;
    if (hi - lo < 1e-6) { lo -= 1; hi += 1; }
    const p = (hi - lo) * pad;
    return [lo - p, hi + p];
  }

  function drawLine(ctx, L, lane, ts, values, lo, hi, color, width) {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null) { pen = false; continue; }
      const x = L.x(ts[i]);
      const y = lane.y + lane.h - ((v - lo) / (hi - lo)) * lane.h;
      if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      pen = true;
    }
    ctx.stroke();
  }

  function tickStep(duration) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].map((s) => s * 1000);
    return steps.find((s) => duration / s <= 12) || 3600000;
  }

  function drawBase() {
    const { ctx, w, h } = setupCanvas($("base"));
    setupCanvas($("overlay"));
    const L = computeLayout(w, h);
    layout = L;
    ctx.clearRect(0, 0, w, h);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";

    // episodes shaded over every lane
    for (const e of data.episodes) {
      const x0 = L.x(e.start_ms);
      const x1 = L.x(e.end_ms !== null ? e.end_ms : L.duration);
      ctx.fillStyle = COLORS.episode;
      ctx.fillRect(x0, TOP - 4, Math.max(2, x1 - x0), h - TOP - AXIS + 4);
      ctx.fillStyle = COLORS.episodeEdge;
      ctx.fillRect(x0, TOP - 4, 1.5, h - TOP - AXIS + 4);
    }

    // time grid and axis
    const step = tickStep(L.duration);
    ctx.fillStyle = COLORS.axis;
    ctx.textAlign = "center";
    for (let t = 0; t <= L.duration; t += step) {
      const x = L.x(t);
      ctx.strokeStyle = COLORS.grid;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x, TOP);
      ctx.lineTo(x, h - AXIS);
      ctx.stroke();
      ctx.fillText(fmtTime(t), x, h - AXIS / 2 + 2);
    }

    // lane labels and frames
    ctx.textAlign = "right";
    for (const lane of LANES) {
      const ln = L.lanes[lane.key];
      ctx.fillStyle = lane.key === "customer" ? COLORS.customer : lane.key === "agent" ? COLORS.agent : COLORS.axis;
      ctx.fillText(ln.label, LEFT - 10, ln.y + ln.h / 2);
      ctx.strokeStyle = COLORS.grid;
      ctx.strokeRect(LEFT, ln.y, w - LEFT - RIGHT, ln.h);
    }

    // waveforms: mirrored peaks per leg
    const wf = data.waveform;
    for (const leg of ["customer", "agent"]) {
      const ln = L.lanes[leg];
      const mid = ln.y + ln.h / 2;
      const peaks = wf[leg] || [];
      ctx.fillStyle = COLORS[leg];
      const barW = Math.max(1, (w - LEFT - RIGHT) / Math.max(1, peaks.length));
      for (let i = 0; i < peaks.length; i++) {
        const v = peaks[i];
        if (v === null || v <= 0) continue;
        const amp = Math.min(1, Math.sqrt(v)) * (ln.h / 2 - 1);
        ctx.fillRect(L.x(i * wf.hop_ms), mid - amp, barW, Math.max(1, 2 * amp));
      }
      if (!peaks.length) {
        ctx.fillStyle = COLORS.axis;
        ctx.textAlign = "left";
        ctx.fillText("no audio archived", LEFT + 8, mid);
        ctx.textAlign = "right";
      }
    }

    // distress 0..1 with level thresholds, episodes and prompt markers
    const tl = data.timeline;
    const dl = L.lanes.distress;
    ctx.setLineDash([4, 4]);
    for (const [v, label] of [[0.5, "elevated"], [0.75, "high"]]) {
      const y = dl.y + dl.h - v * dl.h;
      ctx.strokeStyle = "#ced4da";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(LEFT, y);
      ctx.lineTo(w - RIGHT, y);
      ctx.stroke();
      ctx.fillStyle = "#adb5bd";
      ctx.textAlign = "left";
      ctx.font = "10px system-ui, sans-serif";
      ctx.fillText(label, LEFT + 3, y - 6);
      ctx.font = "12px system-ui, sans-serif";
    }
    ctx.setLineDash([]);
    // filled area under distress
    ctx.fillStyle = "rgba(201, 42, 42, 0.12)";
    ctx.beginPath();
    let open = false;
    let lastX = 0;
    for (let i = 0; i < tl.t_ms.length; i++) {
      const v = tl.distress[i];
      const x = L.x(tl.t_ms[i]);
      if (v === null) {
        if (open) { ctx.lineTo(lastX, dl.y + dl.h); ctx.closePath(); open = false; }
        continue;
      }
      const y = dl.y + dl.h - Math.min(1, v) * dl.h;
      if (!open) { ctx.moveTo(x, dl.y + dl.h); ctx.lineTo(x, y); open = true; } else ctx.lineTo(x, y);
      lastX = x;
    }
    if (open) { ctx.lineTo(lastX, dl.y + dl.h); ctx.closePath(); }
    ctx.fill();
    drawLine(ctx, L, dl, tl.t_ms, tl.distress, 0, 1, COLORS.distress, 1.6);

    ctx.textAlign = "left";
    ctx.font = "11px system-ui, sans-serif";
    for (const p of data.prompts) {
      const [kind] = promptOutcome(p);
      const color = COLORS[kind] || COLORS.expired;
      const x = L.x(p.t_ms);
      if (p.followed && p.response_ms !== null) {
        ctx.fillStyle = color;
        ctx.globalAlpha = 0.35;
        ctx.fillRect(x, dl.y + 1, Math.max(2, L.x(p.t_ms + p.response_ms) - x), 6);
        ctx.globalAlpha = 1;
      }
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(x - 6, dl.y - 8);
      ctx.lineTo(x + 6, dl.y - 8);
      ctx.lineTo(x, dl.y + 1);
      ctx.closePath();
      ctx.fill();
      const label = kind === "followed" ? `\u2713 ${(p.response_ms / 1000).toFixed(1)} s` : kind === "dismissed" ? "\u2717" : "\u2013";
      ctx.fillText(label, x + 8, dl.y - 5);
    }
    ctx.font = "12px system-ui, sans-serif";

    // pitch and loudness, both legs
    const pl = L.lanes.pitch;
    const [plo, phi] = range([tl.customer_pitch_st, tl.agent_pitch_st], 0.1, [0, 30]);
    drawLine(ctx, L, pl, tl.t_ms, tl.agent_pitch_st, plo, phi, COLORS.agent, 1.3);
    drawLine(ctx, L, pl, tl.t_ms, tl.customer_pitch_st, plo, phi, COLORS.customer, 1.3);
    const ll = L.lanes.loudness;
    const [llo, lhi] = range([tl.customer_loudness_db, tl.agent_loudness_db], 0.1, [-60, 0]);
    drawLine(ctx, L, ll, tl.t_ms, tl.agent_loudness_db, llo, lhi, COLORS.agent, 1.2);
    drawLine(ctx, L, ll, tl.t_ms, tl.customer_loudness_db, llo, lhi, COLORS.customer, 1.2);
    ctx.fillStyle = COLORS.axis;
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "left";
    for (const [ln, lo, hi] of [[pl, plo, phi], [ll, llo, lhi]]) {
      ctx.fillText(hi.toFixed(0), LEFT + 3, ln.y + 7);
      ctx.fillText(lo.toFixed(0), LEFT + 3, ln.y + ln.h - 7);
    }
  }

  function drawOverlay(ms) {
    const canvas = $("overlay");
    const ctx = canvas.getContext("2d");
    const { w, h } = layout;
    ctx.clearRect(0, 0, w, h);
    const x = layout.x(ms);
    ctx.strokeStyle = COLORS.playhead;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(x, TOP - 6);
    ctx.lineTo(x, h - AXIS);
    ctx.stroke();
    ctx.fillStyle = COLORS.playhead;
    ctx.beginPath();
    ctx.moveTo(x - 5, TOP - 10);
    ctx.lineTo(x + 5, TOP - 10);
    ctx.lineTo(x, TOP - 4);
    ctx.closePath();
    ctx.fill();
  }

  function bindCanvas() {
    const wrap = $("canvas-wrap");
    const hover = $("hover");
    wrap.addEventListener("click", (e) => {
      const rect = wrap.getBoundingClientRect();
      const px = e.clientX - rect.left;
      if (px < LEFT) return;
      player.seek(layout.t(px));
      tick();
    });
    wrap.addEventListener("mousemove", (e) => {
      const rect = wrap.getBoundingClientRect();
      const px = e.clientX - rect.left;
      if (px < LEFT || px > layout.w - RIGHT) { hover.hidden = true; return; }
      const ms = layout.t(px);
      const tl = data.timeline;
      const i = Math.min(tl.t_ms.length - 1, Math.max(0, Math.floor(ms / Math.max(1, tl.hop_ms))));
      const d = i >= 0 && tl.distress[i] !== null && tl.distress[i] !== undefined ? ` · distress ${tl.distress[i].toFixed(2)}` : "";
      hover.textContent = `${fmtTime(ms)}${d}`;
      hover.hidden = false;
      hover.style.left = `${Math.min(px + 10, layout.w - 140)}px`;
      hover.style.top = `${e.clientY - rect.top - 24}px`;
    });
    wrap.addEventListener("mouseleave", () => { hover.hidden = true; });
  }

  function followTranscript(ms) {
    const items = data.transcript;
    let idx = -1;
    let lo = 0;
    let hi = items.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (items[mid].start_ms <= ms) { idx = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (idx === currentUtterance) return;
    const list = $("transcript");
    if (currentUtterance >= 0 && list.children[currentUtterance]) list.children[currentUtterance].classList.remove("current");
    currentUtterance = idx;
    if (idx >= 0 && list.children[idx]) {
      const li = list.children[idx];
      li.classList.add("current");
      const top = li.offsetTop - list.offsetTop;
      if (top < list.scrollTop || top > list.scrollTop + list.clientHeight - li.offsetHeight) {
        list.scrollTop = Math.max(0, top - list.clientHeight / 3);
      }
    }
  }

  function tick() {
    if (!player || !layout) return;
    const ms = player.now();
    drawOverlay(ms);
    followTranscript(ms);
    $("clock").textContent = `${fmtTime(ms)} / ${fmtTime(player.duration)}`;
    document.body.dataset.positionMs = String(Math.round(ms));
  }

  function animate() {
    tick();
    if (player && player.playing()) requestAnimationFrame(animate);
  }

  load();
})();
