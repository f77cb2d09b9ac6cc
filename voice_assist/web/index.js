// Landing page: carry a ?token= on to the pages, and say what that token opens.
"use strict";

(function () {
  const token = new URLSearchParams(location.search).get("token");
  if (!token) return;
  const links = [...document.querySelectorAll(".pages a")];
  for (const a of links) a.href = `${a.getAttribute("href")}?token=${encodeURIComponent(token)}`;
  const who = document.getElementById("who");
  fetch("/v1/whoami", { headers: { Authorization: `Bearer ${token}` } })
    .then((res) => res.json().then((body) => ({ ok: res.ok, body })))
    .then(({ ok, body }) => {
      if (!ok) {
        who.textContent = `This token is not valid: ${body.error || "refused"}.`;
        return;
      }
      const until = new Date(body.expires_at_s * 1000).toLocaleString();
      const role = body.role === "agent" ? `agent ${body.agent_id}` : body.role;
      who.textContent = `Signed in as ${role} until ${until}.`;
      for (const a of links) {
        if (!a.dataset.role.split(" ").includes(body.role)) a.classList.add("off");
      }
    })
    .catch(() => { who.textContent = ""; });
})();
