// A job's page: progress bar, epochs table and curves, kept live by polling the API (through
// live.json) while the job is active, without reloading; one reload when it ends shows its
// final checkpoints and attempts.
(() => {
  "use strict";
  const root = document.getElementById("job");
  if (!root) return;
  const TERMINAL = new Set(["SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED"]);
  const COLOURS = {SUCCEEDED: "green", FAILED: "red", TIMED_OUT: "orange", RUNNING: "blue", LAUNCHING: "blue"};
  const PALETTE = ["#2f6fde", "#d64545", "#1f9d55", "#e08a1e", "#8e44ad", "#16a2b8"];
  const $ = (id) => document.getElementById(id);
  const EPOCH_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];  // whole epochs on the x axis
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))) : v == null ? "" : String(v));
  let chart = null, shownEpochs = -1, metrics = [];
  root.dataset.updates = "0";

  function render({job, epochs}) {
    const state = $("state");
    state.textContent = job.state;
    state.className = "badge " + (COLOURS[job.state] || "grey");
    const total = Number((job.metadata || {}).total_epochs) || null;
    const bar = $("bar");
    bar.className = "bar " + (COLOURS[job.state] || "grey");
    if (total) bar.style.width = Math.min(100, (100 * epochs.length) / total).toFixed(1) + "%";
    else if (job.state === "RUNNING") bar.classList.add("indeterminate");
    else bar.style.width = TERMINAL.has(job.state) ? "100%" : "0%";
    const last = epochs.length ? epochs[epochs.length - 1].metrics : {};
    const shown = Object.entries(last).slice(0, 4).map(([k, v]) => `${k}=${fmt(v)}`).join(" ");
    $("progress-text").textContent = `${epochs.length}${total ? " / " + total : ""} epochs · ${job.state}` + (shown ? " · " + shown : "");
    if (job.reason) $("reason").textContent = job.reason + (job.failure_kind ? ` (${job.failure_kind})` : "");
    if (epochs.length !== shownEpochs) {
      shownEpochs = epochs.length;
      table(epochs);
      curves(epochs);
    }
    root.dataset.epochs = String(epochs.length);
    root.dataset.state = job.state;
  }

  function table(epochs) {
    metrics = [...new Set(epochs.flatMap((e) => Object.keys(e.metrics || {})))].sort();
    $("epochs").tHead.innerHTML = "<tr><th>Epoch</th>" + metrics.map((m) => `<th>${esc(m)}</th>`).join("") + "<th>Reported</th></tr>";
    $("epochs").tBodies[0].innerHTML = epochs.map((e) => `<tr><td>${e.epoch}</td>` +
      metrics.map((m) => `<td>${esc(fmt((e.metrics || {})[m]))}</td>`).join("") +
      `<td>${esc((e.reported_at || "").slice(11, 19))}</td></tr>`).join("") ||
      `<tr><td class="empty" colspan="${metrics.length + 2}">No epochs reported yet.</td></tr>`;
  }

  function curves(epochs) {
    const box = $("curves");
    if (typeof uPlot === "undefined") return;
    if (chart) { chart.destroy(); chart = null; }
    if (!epochs.length) { box.innerHTML = '<p class="muted">No epochs reported yet.</p>'; return; }
    box.innerHTML = "";
    const xs = epochs.map((e) => e.epoch);
    const lossy = (m) => /loss|error/i.test(m);
    const series = [{label: "epoch"}], data = [xs];
    metrics.forEach((m, i) => {
      data.push(epochs.map((e) => ((e.metrics || {})[m] ?? null)));
      series.push({label: m, stroke: PALETTE[i % PALETTE.length], width: 2, scale: lossy(m) ? "loss" : "y",
                   dash: m.startsWith("val_") ? [6, 4] : [], spanGaps: true});
    });
    const axes = [{label: "epoch", incrs: EPOCH_STEPS}, {scale: "y", label: "metric"}];
    if (metrics.some(lossy)) axes.push({scale: "loss", side: 1, label: "loss", grid: {show: false}});
    chart = new uPlot({width: Math.max(360, box.clientWidth || 600), height: 280, series, axes,
                       scales: {x: {time: false}}}, data, box);
  }

  function poll() {
    setTimeout(async () => {
      try {
        const r = await fetch(root.dataset.live, {credentials: "same-origin", headers: {accept: "application/json"}});
        if (r.ok) {
          const body = await r.json();
          render(body);
          root.dataset.updates = String(Number(root.dataset.updates) + 1);
          if (TERMINAL.has(body.job.state)) { setTimeout(() => window.location.reload(), 600); return; }
        }
      } catch (e) { /* the platform restarting: keep trying */ }
      poll();
    }, 1000);
  }

  // a deferred script: the page is parsed (and uPlot, deferred before it, loaded) by now
  render(JSON.parse($("initial").textContent));
  if (root.dataset.terminal !== "true") poll();
})();
