// Calls page: every stored call, filtered, sorted, searched and paged by the server
// (GET /api/calls).  The page's own URL holds the same parameters as the API (plus
// from/to as local days), so a reload, the back button or a link from a scorecard
// shows the same calls.  Plain JS, no dependencies.
"use strict";

(function () {
  const { el } = VA;
  const $ = (id) => document.getElementById(id);
  const FIELDS = ["q", "agent", "from", "to", "status", "min_duration_s", "max_duration_s",
    "min_distress", "min_episodes", "min_unacknowledged", "min_dismissed", "min_script"];
  const KEEP = ["sort", "order", "limit"];
  const ASC_FIRST = new Set(["agent", "status"]);
  let state = {};
  let last = null;
  let seq = 0;

  function readUrl() {
    const p = new URLSearchParams(location.search);
    const s = {};
    for (const [k, v] of p.entries()) if (k !== "token" && v !== "") s[k] = v;
    return s;
  }

  function writeUrl(push) {
    const url = VA.withToken(location.pathname, state);
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  }

  function hasFilters(s) {
    return Object.keys(s).some((k) => !["sort", "order", "limit", "offset"].includes(k));
  }

  function apiQuery(s) {
    const q = { ...s };
    if (q.from) { q.since = String(VA.dayMs(q.from, false)); delete q.from; }
    if (q.to) { q.until = String(VA.dayMs(q.to, true)); delete q.to; }
    return q;
  }

  // -- the form ---------------------------------------------------------------------------

  function fillForm() {
    for (const name of FIELDS) {
      const input = $(`f-${name}`);
      let v = state[name] || "";
      const scale = Number(input.dataset.scale || 1);
      if (v && scale !== 1) v = String(Number(v) / scale);
      input.value = v;
    }
    if (!state.from && state.since && /^\d+$/.test(state.since)) $("f-from").value = VA.isoDay(Number(state.since));
    if (!state.to && state.until && /^\d+$/.test(state.until)) $("f-to").value = VA.isoDay(Number(state.until) - 1);
    $("page-size").value = state.limit || "50";
  }

  function readForm() {
    const s = {};
    for (const k of KEEP) if (state[k]) s[k] = state[k];
    for (const name of FIELDS) {
      const input = $(`f-${name}`);
      let v = input.value.trim();
      if (v === "") continue;
      const scale = Number(input.dataset.scale || 1);
      if (scale !== 1 && !Number.isNaN(Number(v))) v = String(Number(v) * scale);
      s[name] = v;
    }
    // a period that came as epoch ms (a scorecard link) stays exact while its day is unchanged
    if (state.since && s.from === VA.isoDay(Number(state.since))) { delete s.from; s.since = state.since; }
    if (state.until && s.to === VA.isoDay(Number(state.until) - 1)) { delete s.to; s.until = state.until; }
    return s;
  }

  // -- loading ----------------------------------------------------------------------------

  async function load() {
    const mine = ++seq;
    document.body.dataset.state = "loading";
    let page;
    try {
      page = await VA.api("/api/calls", apiQuery(state));
    } catch (err) {
      if (mine !== seq) return;
      if (err.status === 400) {
        const box = $("form-error");
        box.hidden = false;
        box.textContent = err.message;
        document.body.dataset.state = "invalid";
        return;
      }
      VA.fail(err);
      return;
    }
    if (mine !== seq) return;
    $("form-error").hidden = true;
    last = page;
    render(page);
    document.body.dataset.state = "ready";
  }

  // -- rendering --------------------------------------------------------------------------

  function searchWords() {
    return (state.q || "").toLowerCase().match(/[\p{L}\p{N}_]+/gu) || [];
  }

  function highlighted(text) {
    const words = searchWords();
    const span = el("span");
    if (!words.length) { span.textContent = text; return span; }
    const esc = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const re = new RegExp(`(?<![\\p{L}\\p{N}_])(${esc.join("|")})[\\p{L}\\p{N}_]*`, "giu");
    let at = 0;
    for (const m of text.matchAll(re)) {
      span.append(text.slice(at, m.index), el("mark", { text: m[0] }));
      at = m.index + m[0].length;
    }
    span.append(text.slice(at));
    return span;
  }

  function count(n, cls) {
    if (n === null || n === undefined) return el("td", { class: "num zero", text: "–" });
    return el("td", { class: `num ${n === 0 ? "zero" : cls || ""}`, text: String(n) });
  }

  function distressCell(x) {
    if (x === null || x === undefined) return el("td", { class: "zero", text: "–" });
    const level = x >= 0.75 ? "high" : x >= 0.5 ? "elevated" : "calm";
    const fill = el("span", { class: level });
    fill.style.width = `${Math.round(100 * Math.max(0, Math.min(1, x)))}%`;
    return el("td", {}, el("span", { class: "meter" }, fill), x.toFixed(2));
  }

  function row(c) {
    const status = c.error ? "damaged" : c.status;
    const tr = el("tr", { "data-call-id": c.call_id });
    tr.append(
      el("td", { class: "mono", title: new Date(c.started_at_ms).toString(), text: VA.fmtDateTime(c.started_at_ms) }),
      el("td", {}, el("a", { href: VA.withToken(`/agents/${encodeURIComponent(c.agent_id)}`), text: c.agent_id })),
      el("td", { class: "num", text: VA.fmtDuration(c.duration_ms) }),
      el("td", {}, el("span", { class: `status ${status}`, title: c.error || c.end_reason || "", text: status })),
      distressCell(c.max_distress),
      count(c.n_episodes),
      count(c.n_unacknowledged, "bad"),
      count(c.n_followed),
      count(c.n_dismissed, "warn"),
      count(c.n_script, "warn"),
      el("td", { class: "num", text: VA.fmtPct(c.agent_talk_ratio) }),
      el("td", { class: "num", text: c.overtalk_ms === null ? "–" : `${(c.overtalk_ms / 1000).toFixed(1)} s` }),
      el("td", {}, el("a", { class: "replay mono", href: VA.withToken(`/replay/${encodeURIComponent(c.call_id)}`), title: "replay this call", text: c.call_id })),
    );
    const rows = [tr];
    if (c.match) {
      tr.classList.add("has-match");
      const who = el("span", { class: "mono", text: `${c.match.channel} ${VA.fmtDuration(c.match.start_ms)}  ` });
      rows.push(el("tr", { class: "match" }, el("td", { colspan: "13" }, who, highlighted(c.match.text))));
    }
    return rows;
  }

  function render(page) {
    const tbody = $("calls").querySelector("tbody");
    tbody.innerHTML = "";
    for (const c of page.calls) tbody.append(...row(c));
    const filtered = hasFilters(state);
    const empty = $("empty");
    empty.hidden = page.calls.length > 0;
    empty.innerHTML = "";
    if (!page.calls.length) {
      if (page.total === 0 && !filtered) {
        empty.append("No stored calls yet. Calls are stored as they happen: ",
          el("code", { text: "make run" }), " streams a demo call.");
      } else if (page.total === 0) {
        empty.textContent = "No call matches these filters.";
      } else {
        empty.textContent = "No calls on this page.";
      }
    }
    const first = page.calls.length ? page.offset + 1 : 0;
    const lastN = page.offset + page.calls.length;
    $("range").textContent = page.total ? `${VA.fmtInt(first)}–${VA.fmtInt(lastN)} of ${VA.fmtInt(page.total)}` : "";
    $("headline").innerHTML = "";
    $("headline").append(
      el("span", { class: "big", text: VA.fmtInt(page.total) }),
      ` ${page.total === 1 ? "call" : "calls"}${filtered ? (page.total === 1 ? " matches" : " match") : ""}`,
    );
    $("prev").disabled = page.offset === 0;
    $("next").disabled = page.next_offset === null;
    const sort = state.sort || "started";
    const order = state.order || "desc";
    for (const th of document.querySelectorAll("th[data-sort]")) {
      if (th.dataset.sort === sort) th.setAttribute("aria-sort", order === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    const csv = apiQuery(state);
    delete csv.limit;
    delete csv.offset;
    $("csv").href = VA.withToken("/api/calls.csv", csv);
  }

  // -- events -----------------------------------------------------------------------------

  function go(next, push) {
    state = next;
    writeUrl(push !== false);
    fillForm();
    load();
  }

  function bind() {
    $("filters").addEventListener("submit", (e) => {
      e.preventDefault();
      go(readForm());
    });
    $("clear").addEventListener("click", () => {
      const s = {};
      for (const k of KEEP) if (state[k]) s[k] = state[k];
      go(s);
    });
    for (const th of document.querySelectorAll("th[data-sort]")) {
      th.addEventListener("click", () => {
        const key = th.dataset.sort;
        const s = { ...state };
        delete s.offset;
        if ((s.sort || "started") === key) s.order = (s.order || "desc") === "desc" ? "asc" : "desc";
        else { s.sort = key; s.order = ASC_FIRST.has(key) ? "asc" : "desc"; }
        if (s.sort === "started") delete s.sort;
        if (s.order === "desc") delete s.order;
        go(s);
      });
    }
    const step = (dir) => {
      if (!last) return;
      const limit = Number(state.limit || 50);
      const offset = Math.max(0, Number(state.offset || 0) + dir * limit);
      const s = { ...state };
      if (offset) s.offset = String(offset); else delete s.offset;
      go(s);
    };
    $("prev").addEventListener("click", () => step(-1));
    $("next").addEventListener("click", () => step(1));
    $("page-size").addEventListener("change", (e) => {
      const s = { ...state, limit: e.target.value };
      delete s.offset;
      if (s.limit === "50") delete s.limit;
      go(s);
    });
    window.addEventListener("popstate", () => { state = readUrl(); fillForm(); load(); });
  }

  async function agentIds() {
    try {
      const body = await VA.api("/api/agents");
      const list = $("agent-ids");
      for (const a of body.agents) list.append(el("option", { value: a.agent_id }));
    } catch (err) { /* the listing says what is wrong */ }
  }

  VA.nav("calls");
  state = readUrl();
  fillForm();
  bind();
  load().then(() => { if (document.body.dataset.state !== "error") agentIds(); });
})();
