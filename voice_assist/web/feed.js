/* The feed connection shared by the overlay and the wall board.
 *
 * VAFeed.open({path, token, onOpen(send), onMessage(msg), onStatus(state, text), onRefused(error)})
 * opens a websocket to `path?token=...` and keeps it open:
 *  - a gap in `seq` asks the server for a snapshot (docs/design.md, "Wire protocols");
 *  - lost connections come back with exponential backoff and jitter (0.5 s .. 15 s);
 *  - a refused handshake looks like any network error to a browser, so /v1/whoami is asked
 *    why: a 401 there ends the feed through onRefused(error), anything else retries.
 * Returns {send(obj), stop()}.  Plain JS, no build step.
 */
(function () {
  "use strict";

  function open(opts) {
    var st = { ws: null, attempt: 0, connectedAt: 0, lastSeq: 0, stopped: false };

    function send(obj) {
      if (st.ws && st.ws.readyState === 1) st.ws.send(JSON.stringify(obj));
    }

    function url() {
      var proto = location.protocol === "https:" ? "wss:" : "ws:";
      return proto + "//" + location.host + opts.path + "?token=" + encodeURIComponent(opts.token);
    }

    function connect() {
      if (st.stopped) return;
      opts.onStatus(st.attempt ? "reconnecting" : "connecting", st.attempt ? "Reconnecting" : "Connecting");
      var ws;
      try { ws = new WebSocket(url()); } catch (e) { scheduleReconnect(); return; }
      st.ws = ws;
      st.lastSeq = 0;
      ws.onopen = function () {
        st.connectedAt = Date.now();
        opts.onStatus("live", "Live");
        if (opts.onOpen) opts.onOpen(send);
      };
      ws.onmessage = function (e) {
        var msg;
        try { msg = JSON.parse(e.data); } catch (err) { return; }
        if (typeof msg.seq === "number") {
          if (st.lastSeq && msg.seq !== st.lastSeq + 1) send({ type: "snapshot" });
          st.lastSeq = msg.seq;
        }
        opts.onMessage(msg);
      };
      ws.onclose = function (e) {
        st.ws = null;
        if (Date.now() - st.connectedAt > 5000) st.attempt = 0;
        var wasOpen = !!st.connectedAt;
        st.connectedAt = 0;
        if (e.code === 4401 || e.code === 1006 || !wasOpen) checkToken(); else scheduleReconnect();
      };
    }

    function scheduleReconnect() {
      if (st.stopped) return;
      st.attempt += 1;
      var base = Math.min(15000, 500 * Math.pow(2, st.attempt - 1));
      var delay = base / 2 + Math.random() * base / 2;
      opts.onStatus("reconnecting", "Reconnecting in " + Math.ceil(delay / 1000) + " s");
      setTimeout(connect, delay);
    }

    function checkToken() {
      fetch("/v1/whoami", { headers: { Authorization: "Bearer " + opts.token }, cache: "no-store" })
        .then(function (r) {
          if (r.status === 401) {
            return r.json().then(function (body) { stop(); opts.onRefused(body.error || ""); });
          }
          scheduleReconnect();
        })
        .catch(function () { scheduleReconnect(); });
    }

    function stop() {
      st.stopped = true;
      if (st.ws) st.ws.close();
    }

    connect();
    return { send: send, stop: stop };
  }

  window.VAFeed = { open: open };
})();
