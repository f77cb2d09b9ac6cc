// Shared by the calls page and the scorecards: the token, API requests, formatting, errors.
// The token comes in the page URL (?token=) and goes to the API as a Bearer header; links
// between pages carry it on.  Plain JS, no dependencies.
"use strict";

window.VA = (function () {
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";

  function withToken(path, query) {
    const q = new URLSearchParams(query || {});
    for (const [k, v] of [...q.entries()]) if (v === "" || v === null || v === undefined) q.delete(k);
    if (token) q.set("token", token);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  }

  class ApiError extends Error {
    constructor(status, code, detail) {
      super(detail || `HTTP ${status}`);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, query) {
    const q = new URLSearchParams(query || {});
    for (const [k, v] of [...q.entries()]) if (v === "") q.delete(k);
    const url = q.toString() ? `${path}?${q}` : path;
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    let res;
    try {
      res = await fetch(url, { headers });
    } catch (err) {
      throw new ApiError(0, "unreachable", `cannot reach the server (${err})`);
    }
    let body = null;
    try { body = await res.json(); } catch (err) { body = null; }
    if (!res.ok) {
      throw new ApiError(res.status, body && body.error, body && body.detail);
    }
    return body;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("data-")) node.dataset[k.slice(5).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function fail(err) {
    document.body.dataset.state = "error";
    const box = document.getElementById("message");
    box.hidden = false;
    box.className = "message";
    box.innerHTML = "";
    let title = "Something went wrong";
    let hint = "";
    if (err.status === 401 || err.status === 403) {
      title = "Not authorized";
      hint = "Open this page with ?token= and a supervisor or QA token " +
        "(voice-assist token qa --url).";
    } else if (err.status === 0) {
      title = "Cannot reach the server";
    }
    box.append(el("h2", { text: title }), el("p", { text: err.message }));
    if (hint) box.append(el("p", { class: "muted", text: hint }));
    for (const id of ["content"]) {
      const c = document.getElementById(id);
      if (c) c.hidden = true;
    }
  }

  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return "–";
    const s = Math.max(0, Math.round(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function fmtDateTime(ms) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function isoDay(ms) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  /** Local midnight of a YYYY-MM-DD day as epoch ms (plus one day when `end`). */
  function dayMs(day, end) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day || "");
    if (!m) return null;
    const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (end ? 1 : 0));
    return d.getTime();
  }

  function fmtPct(x) { return x === null || x === undefined ? "–" : `${Math.round(100 * x)}%`; }
  function fmtSec(ms) { return ms === null || ms === undefined ? "–" : `${(ms / 1000).toFixed(1)} s`; }
  function fmtNum(x, digits) { return x === null || x === undefined ? "–" : x.toFixed(digits === undefined ? 1 : digits); }
  function fmtInt(n) { return n === null || n === undefined ? "–" : n.toLocaleString("en-US"); }

  function nav(here) {
    const box = document.getElementById("nav");
    if (!box) return;
    const pages = [["home", "/", "Home"], ["calls", "/calls", "Calls"], ["agents", "/agents", "Agents"]];
    for (const [key, path, label] of pages) {
      box.append(el("a", { href: withToken(path), class: key === here ? "here" : null, text: label }));
    }
  }

  return { token, withToken, api, ApiError, el, fail, fmtDuration, fmtDateTime, isoDay, dayMs,
           fmtPct, fmtSec, fmtNum, fmtInt, nav };
})();
