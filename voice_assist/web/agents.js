// Agent scorecards: /agents (every agent over a period) and /agents/{id} (one agent: the
// figures, a trend by week drawn as SVG, and the calls behind each figure).
// Data: GET /api/agents, /api/agents/{id}, /api/calls.  Plain JS, no dependencies.
"use strict";

(function () {
  const { el } = VA;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const DAY_MS = 86400000;
  const parts = location.pathname.split("/").filter(Boolean);
  const agentId = parts.length > 1 ? decodeURIComponent(parts[1]) : null;
  const url = new URLSearchParams(location.search);
  let period = { days: url.get("days") || "", from: url.get("from") || "", to: url.get("to") || "" };
  let overview = null;
  let card = null;
  let sortKey = "agent_id";
  let sortDesc = false;
  let selected = "calls";

  // -- period -----------------------------------------------------------------------------

  function periodQuery() {
    const q = {};
    if (period.days) q.since = String(Date.now() - Number(period.days) * DAY_MS);
    else if (period.from) q.since = String(VA.dayMs(period.from, false));
    if (!period.days && period.to) q.until = String(VA.dayMs(period.to, true));
    return q;
  }

  function periodParams() {
    const q = {};
    for (const k of ["days", "from", "to"]) if (period[k]) q[k] = period[k];
    return q;
  }

  function showPeriod() {
    for (const b of $("presets").querySelectorAll("button")) {
      const on = period.days ? b.dataset.days === period.days : !period.from && !period.to && b.dataset.days === "";
      b.classList.toggle("on", on);
    }
    $("p-from").value = period.days ? "" : period.from;
    $("p-to").value = period.days ? "" : period.to;
  }

  function setPeriod(next) {
    period = next;
    history.replaceState(null, "", VA.withToken(location.pathname, periodParams()));
    showPeriod();
    load();
  }

  function bindPeriod() {
    for (const b of $("presets").querySelectorAll("button")) {
      b.addEventListener("click", () => setPeriod({ days: b.dataset.days, from: "", to: "" }));
    }
    $("p-apply").addEventListener("click", () => {
      setPeriod({ days: "", from: $("p-from").value, to: $("p-to").value });
    });
  }

  // -- loading ----------------------------------------------------------------------------

  async function load() {
    document.body.dataset.state = "loading";
    try {
      if (agentId === null) {
        overview = await VA.api("/api/agents", periodQuery());
        renderOverview();
      } else {
        card = await VA.api(`/api/agents/${encodeURIComponent(agentId)}`, periodQuery());
        renderAgent();
        await loadBehind(selected);
      }
    } catch (err) {
      if (err.status === 400) {
        $("period-error").hidden = false;
        $("period-error").textContent = err.message;
        document.body.dataset.state = "invalid";
        return;
      }
      VA.fail(err);
      return;
    }
    $("period-error").hidden = true;
    document.body.dataset.state = "ready";
  }

  // -- all agents -------------------------------------------------------------------------

  const COLUMNS = [
    ["calls", (a) => VA.fmtInt(a.calls)],
    ["talk_ms", (a) => (a.talk_ms / 3600000).toFixed(1)],
    ["episodes", (a) => VA.fmtInt(a.episodes)],
    ["share_acknowledged", (a) => VA.fmtPct(a.share_acknowledged)],
    ["ack_median_ms", (a) => VA.fmtSec(a.ack_median_ms)],
    ["ack_p90_ms", (a) => VA.fmtSec(a.ack_p90_ms)],
    ["followed", (a) => VA.fmtInt(a.followed)],
    ["dismissed", (a) => VA.fmtInt(a.dismissed)],
    ["expired", (a) => VA.fmtInt(a.expired)],
    ["script_per_hour", (a) => VA.fmtNum(a.script_per_hour)],
    ["talk_ratio", (a) => VA.fmtPct(a.talk_ratio)],
    ["overtalk_share", (a) => VA.fmtPct(a.overtalk_share)],
  ];

  function renderOverview() {
    $("overview").hidden = false;
    const agents = [...overview.agents];
    agents.sort((x, y) => {
      const a = x[sortKey];
      const b = y[sortKey];
      if (a === b) return x.agent_id < y.agent_id ? -1 : 1;
      if (a === null) return 1;
      if (b === null) return -1;
      return (a < b ? -1 : 1) * (sortDesc ? -1 : 1);
    });
    const tbody = $("agents").querySelector("tbody");
    tbody.innerHTML = "";
    for (const a of agents) {
      const href = VA.withToken(`/agents/${encodeURIComponent(a.agent_id)}`, periodParams());
      const tr = el("tr", { "data-agent-id": a.agent_id }, el("td", {}, el("a", { href, text: a.agent_id })));
      for (const [key, fmt] of COLUMNS) {
        let cls = "num";
        if (key === "share_acknowledged" && a[key] !== null) cls += a[key] < 0.5 ? " bad" : "";
        tr.append(el("td", { class: cls, text: fmt(a) }));
      }
      tbody.append(tr);
    }
    for (const th of $("agents").querySelectorAll("th[data-key]")) {
      if (th.dataset.key === sortKey) th.setAttribute("aria-sort", sortDesc ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
    const calls = overview.agents.reduce((n, a) => n + a.calls, 0);
    $("overview-empty").hidden = overview.agents.length > 0;
    $("overview-empty").textContent = "No stored calls in this period.";
    $("headline").innerHTML = "";
    $("headline").append(el("span", { class: "big", text: VA.fmtInt(overview.agents.length) }),
      ` agents · ${VA.fmtInt(calls)} calls`);
  }

  function bindOverview() {
    for (const th of $("agents").querySelectorAll("th[data-key]")) {
      th.dataset.sort = th.dataset.key;
      th.addEventListener("click", () => {
        const key = th.dataset.key;
        if (key === sortKey) sortDesc = !sortDesc;
        else { sortKey = key; sortDesc = key !== "agent_id"; }
        renderOverview();
      });
    }
  }

  // -- one agent: figures -----------------------------------------------------------------

  function figureCards(f) {
    const share = f.share_acknowledged;
    return [
      { key: "calls", label: "Calls", value: VA.fmtInt(f.calls), detail: `${(f.talk_ms / 3600000).toFixed(1)} h of calls`, behind: "all calls" },
      { key: "episodes", label: "Distress episodes", value: VA.fmtInt(f.episodes), detail: `${f.unacknowledged} not acknowledged`, behind: "calls with episodes" },
      { key: "unacknowledged", label: "Episodes acknowledged", value: VA.fmtPct(share), cls: share === null ? "" : share >= 0.8 ? "good" : share < 0.5 ? "bad" : "", detail: `${f.acknowledged} of ${f.acknowledged + f.unacknowledged} in the empathy test`, behind: "calls with an episode not acknowledged" },
      { key: "ack_time", label: "Time to acknowledge", value: f.ack_median_ms === null ? "–" : `${(f.ack_median_ms / 1000).toFixed(1)} s`, detail: `median · p90 ${VA.fmtSec(f.ack_p90_ms)}`, behind: "calls with an acknowledgement" },
      { key: "dismissed", label: "Prompts", value: `${f.followed} / ${f.prompts}`, detail: `followed · ${f.dismissed} dismissed · ${f.expired} expired`, stack: [f.followed, f.dismissed, f.expired], behind: "calls with a dismissed prompt" },
      { key: "script", label: "Script nudges per hour", value: VA.fmtNum(f.script_per_hour), detail: `${f.script_nudges} nudges`, behind: "calls with script nudges" },
      { key: "talk_ratio", label: "Agent talk", value: VA.fmtPct(f.talk_ratio), detail: "share of talk time, by call length", behind: "calls by agent talk" },
      { key: "overtalk", label: "Overtalk", value: VA.fmtPct(f.overtalk_share), detail: `${(f.overtalk_ms / 60000).toFixed(1)} min talking over each other`, behind: "calls by overtalk" },
    ];
  }

  function renderAgent() {
    $("agent").hidden = false;
    $("title").textContent = "";
    $("title").append("Scorecard ", el("span", { class: "sub mono", text: agentId }));
    document.title = `${agentId} · scorecard · voice_assist`;
    const f = card.figures;
    $("headline").innerHTML = "";
    $("headline").append(el("span", { class: "big", text: VA.fmtInt(f.calls) }),
      ` calls · ${(f.talk_ms / 3600000).toFixed(1)} h · `, el("a", { href: VA.withToken("/agents", periodParams()), text: "all agents" }));
    const box = $("cards");
    box.innerHTML = "";
    for (const c of figureCards(f)) {
      const node = el("div", { class: `card${c.key === selected ? " on" : ""}`, "data-figure": c.key, tabindex: "0", role: "button" },
        el("div", { class: "label", text: c.label }),
        el("div", { class: `value ${c.cls || ""}`, text: c.value }),
        el("div", { class: "detail", text: c.detail }));
      if (c.stack) {
        const total = Math.max(1, c.stack.reduce((a, b) => a + b, 0));
        const bar = el("div", { class: "stack" });
        ["followed", "dismissed", "expired"].forEach((cls, i) => {
          const s = el("span", { class: cls });
          s.style.width = `${(100 * c.stack[i]) / total}%`;
          bar.append(s);
        });
        node.append(bar);
      }
      node.append(el("a", { class: "behind", href: VA.withToken("/calls", card.behind[c.key]), text: `${c.behind} →` }));
      node.addEventListener("click", (e) => {
        if (e.target.tagName === "A") return;
        selected = c.key;
        for (const n of box.querySelectorAll(".card")) n.classList.toggle("on", n.dataset.figure === selected);
        loadBehind(selected);
      });
      box.append(node);
    }
    renderTrends();
  }

  // -- one agent: the calls behind a figure ---------------------------------------------------

  async function loadBehind(key) {
    const params = { ...card.behind[key], limit: "25" };
    const page = await VA.api("/api/calls", params);
    const label = figureCards(card.figures).find((c) => c.key === key).behind;
    $("behind-title").textContent = `${label[0].toUpperCase()}${label.slice(1)} (${VA.fmtInt(page.total)})`;
    const tbody = $("behind").querySelector("tbody");
    tbody.innerHTML = "";
    const n = (v, cls) => el("td", { class: `num ${v ? cls || "" : "zero"}`, text: v === null ? "–" : String(v) });
    for (const c of page.calls) {
      tbody.append(el("tr", { "data-call-id": c.call_id },
        el("td", { class: "mono", text: VA.fmtDateTime(c.started_at_ms) }),
        el("td", { class: "num", text: VA.fmtDuration(c.duration_ms) }),
        el("td", {}, el("span", { class: `status ${c.error ? "damaged" : c.status}`, text: c.error ? "damaged" : c.status })),
        el("td", { class: "num", text: c.max_distress === null ? "–" : c.max_distress.toFixed(2) }),
        n(c.n_episodes), n(c.n_unacknowledged, "bad"), n(c.n_followed), n(c.n_dismissed, "warn"),
        n(c.n_expired), n(c.n_script, "warn"),
        el("td", { class: "num", text: VA.fmtPct(c.agent_talk_ratio) }),
        el("td", { class: "num", text: c.overtalk_ms === null ? "–" : `${(c.overtalk_ms / 1000).toFixed(1)} s` }),
        el("td", {}, el("a", { class: "replay mono", href: VA.withToken(`/replay/${encodeURIComponent(c.call_id)}`), text: c.call_id }))));
    }
    if (!page.calls.length) tbody.append(el("tr", {}, el("td", { colspan: "13", class: "empty", text: "no calls" })));
    const more = $("behind-more");
    more.innerHTML = "";
    more.append(el("span", { class: "muted", text: page.total > page.calls.length ? `the first ${page.calls.length}` : "" }),
      el("a", { href: VA.withToken("/calls", card.behind[key]), text: "open in the calls page →" }));
  }

  // -- one agent: trends by week (SVG) --------------------------------------------------------

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 1.2, 1.6, 2, 3, 4, 5, 6, 8, 10]) if (v <= m * p) return m * p;  // clean halves
    return 10 * p;
  }

  function drawTrend(title, weeks, value, opts) {
    const panel = el("div", { class: "panel trend", "data-trend": opts.key });
    panel.append(el("h2", { text: title }));
    $("trends").append(panel);
    const W = Math.max(240, panel.clientWidth - 24);
    const H = 150;
    const L = 40, R = 8, T = 8, B = 22;
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
    const values = weeks.map(value);
    const present = values.filter((v) => v !== null && v !== undefined);
    const ymax = opts.yMax !== undefined ? opts.yMax : niceMax(Math.max(0, ...present));
    const n = weeks.length;
    const x = (i) => L + (n <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
    const y = (v) => T + (H - T - B) * (1 - v / ymax);
    for (const frac of [0, 0.5, 1]) {
      const gy = y(frac * ymax);
      svg.append(svgEl("line", { class: frac === 0 ? "axis" : "gridline", x1: L, x2: W - R, y1: gy, y2: gy }));
      const label = svgEl("text", { x: L - 4, y: gy + 3, "text-anchor": "end" });
      label.textContent = opts.fmt(frac * ymax);
      svg.append(label);
    }
    const ticks = n <= 3 ? [...Array(n).keys()] : [0, Math.floor((n - 1) / 2), n - 1];
    for (const i of ticks) {
      const t = svgEl("text", { x: x(i), y: H - 6, "text-anchor": n <= 1 ? "middle" : i === 0 ? "start" : i === n - 1 ? "end" : "middle" });
      t.textContent = weeks[i].week_start.slice(5);
      svg.append(t);
    }
    let points = 0;
    if (opts.bars) {
      const bw = Math.max(2, Math.min(24, ((W - L - R) / Math.max(1, n)) * 0.7));
      values.forEach((v, i) => {
        if (!v) return;
        points++;
        const rect = svgEl("rect", { class: "barfill", x: x(i) - bw / 2, y: y(v), width: bw, height: y(0) - y(v) });
        rect.append(svgEl("title"));
        rect.firstChild.textContent = `week of ${weeks[i].week_start}: ${opts.fmt(v)}`;
        svg.append(rect);
      });
    } else {
      let d = "";
      let pen = false;  // a week without a value breaks the line
      values.forEach((v, i) => {
        if (v === null || v === undefined) { pen = false; return; }
        d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
        pen = true;
      });
      svg.append(svgEl("path", { class: "line", d: d.trim() }));
      values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        points++;
        const dot = svgEl("circle", { class: "dot", cx: x(i), cy: y(v), r: 3 });
        dot.append(svgEl("title"));
        dot.firstChild.textContent = `week of ${weeks[i].week_start}: ${opts.fmt(v)} (${weeks[i].calls} calls)`;
        svg.append(dot);
      });
    }
    svg.dataset.points = String(points);
    panel.append(svg);
  }

  function axisNumber(v) {
    return v === 0 || v >= 10 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
  }

  function renderTrends() {
    const box = $("trends");
    box.innerHTML = "";
    const weeks = card.weeks;
    if (!weeks.length) return;
    drawTrend("Episodes acknowledged, by week", weeks, (w) => w.share_acknowledged,
      { key: "share_acknowledged", yMax: 1, fmt: (v) => `${Math.round(100 * v)}%` });
    drawTrend("Median time to acknowledge (s)", weeks, (w) => (w.ack_median_ms === null ? null : w.ack_median_ms / 1000),
      { key: "ack_median_s", fmt: axisNumber });
    drawTrend("Script nudges per hour", weeks, (w) => (w.calls ? w.script_per_hour : null),
      { key: "script_per_hour", fmt: axisNumber });
    drawTrend("Calls per week", weeks, (w) => w.calls,
      { key: "calls", bars: true, fmt: (v) => String(Math.round(v)) });
  }

  // -- start ------------------------------------------------------------------------------

  VA.nav("agents");
  showPeriod();
  bindPeriod();
  if (agentId === null) bindOverview();
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (card) renderTrends(); }, 150);
  });
  load();
})();
