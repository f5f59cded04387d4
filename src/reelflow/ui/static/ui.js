// reelflow UI: live updates of a running run (its graph, tasks and status) and of a running
// task's logs, by polling the JSON API every two seconds until the run or attempt ends.
"use strict";
(function () {
  const PERIOD_MS = 2000;

  function fmtDuration(s) {
    if (s === null || s === undefined) return "-";
    if (s < 60) return s < 10 ? s.toFixed(2) + "s" : s.toFixed(1) + "s";
    const m = Math.floor(Math.round(s) / 60), r = Math.round(s) % 60;
    const h = Math.floor(m / 60);
    return h ? h + "h " + String(m % 60).padStart(2, "0") + "m" : m + "m " + String(r).padStart(2, "0") + "s";
  }

  function setStatus(el, status) {
    if (!el) return;
    el.textContent = status;
    el.className = el.className.replace(/\b(succeeded|failed|running|interrupted|caught|pending|passed|warning)\b/g, "").trim() + " " + status;
  }

  function poll(url, apply) {
    let stopped = false;
    async function tick() {
      if (stopped) return;
      try {
        const reply = await fetch(url, { headers: { Accept: "application/json" } });
        if (reply.ok && apply(await reply.json()) === false) { stopped = true; return; }
      } catch (e) { /* the server may be restarting: try again */ }
      setTimeout(tick, PERIOD_MS);
    }
    setTimeout(tick, PERIOD_MS);
  }

  function followRun(root) {
    poll(root.dataset.poll, function (state) {
      setStatus(document.getElementById("run-status"), state.status);
      const d = document.getElementById("run-duration");
      if (d) d.textContent = fmtDuration(state.duration);
      for (const [name, node] of Object.entries(state.nodes)) {
        const g = document.querySelector('svg.dag g.node[data-step="' + CSS.escape(name) + '"]');
        if (!g) continue;
        g.setAttribute("class", "node " + node.status);
        const s = g.querySelector(".node-status");
        if (s) s.textContent = node.status;
      }
      for (const task of state.tasks) {
        const row = document.querySelector('tr[data-task="' + task.id + '"]');
        if (!row) continue;
        setStatus(row.querySelector(".task-status"), task.status);
        const td = row.querySelector(".task-duration");
        if (td) td.textContent = fmtDuration(task.duration);
      }
      // A new task (or the run's end, with its final guards and artifacts) needs the page.
      if (!state.running || state.tasks.length !== Number(root.dataset.tasks)) {
        window.location.reload();
        return false;
      }
      return true;
    });
  }

  function followLogs(root) {
    poll(root.dataset.poll, function (logs) {
      document.getElementById("stdout").textContent = logs.stdout || "(empty)";
      document.getElementById("stderr").textContent = logs.stderr || "(empty)";
      if (!logs.running) { window.location.reload(); return false; }
      return true;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const run = document.getElementById("run");
    if (run && run.dataset.poll) followRun(run);
    const logs = document.getElementById("logs");
    if (logs && logs.dataset.poll) followLogs(logs);
  });
})();
