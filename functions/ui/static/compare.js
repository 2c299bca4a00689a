// The compare view: one JSON fetch (the API's comparison), then everything client-side:
// a sortable, filterable table of every task, overlaid per-epoch curves of the selected
// tasks (train solid, val dashed, best epoch marked) and a hyperparameter-vs-metric scatter.
(() => {
  "use strict";
  const root = document.getElementById("compare");
  if (!root) return;
  const base = root.dataset.base;
  const PALETTE = ["#2f6fde", "#d64545", "#1f9d55", "#e08a1e", "#8e44ad", "#16a2b8", "#b5651d", "#e84393",
                   "#596275", "#6ab04c"];
  const $ = (id) => document.getElementById(id);
  const EPOCH_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];  // whole epochs on the x axis
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))) : v == null ? "" : String(v));
  const lowerIsBetter = (m) => /loss|error|mae|mse|rmse|perplexity/i.test(m);
  const COLOURS = {SUCCEEDED: "green", FAILED: "red", TIMED_OUT: "orange", RUNNING: "blue", LAUNCHING: "blue"};

  let rows = [], metrics = [], params = [], shown = [];
  let sortKey = "name", sortDir = 1, chart = null;
  const selected = new Map(); // task_id -> colour

  const started = performance.now();
  const PAGE = 200; // tasks per request: the first rows paint while the rest arrive
  const metricSel = $("metric"), paramSel = $("param");
  metricSel.addEventListener("change", () => { labels(); drawCurves(); drawScatter(); });
  paramSel.addEventListener("change", () => { labels(); drawScatter(); });
  $("filter").addEventListener("input", () => { render(); drawScatter(); });
  $("select-top").addEventListener("click", selectTop);
  $("clear").addEventListener("click", () => { selected.clear(); render(); drawCurves(); drawScatter(); });
  load(null).catch((e) => fail(0, {error: {code: "network", message: String(e), problems: []}}));

  // The API's comparison, page after page while it names a `next` one (an API that answers
  // every task at once simply names none).
  async function load(after) {
    const url = root.dataset.src + "?limit=" + PAGE + (after ? "&after=" + encodeURIComponent(after) : "");
    const r = await fetch(url, {credentials: "same-origin", headers: {accept: "application/json"}});
    const body = await r.json();
    if (!r.ok) return fail(r.status, body);
    if (!after) root.dataset.fetchMs = (performance.now() - started).toFixed(1);
    absorb(body);
    if (!after) root.dataset.firstRowsAt = performance.now().toFixed(1); // since navigation start
    if (body.next) return load(body.next);
    root.dataset.renderedMs = (performance.now() - started).toFixed(1);
    root.dataset.renderedAt = performance.now().toFixed(1);
    root.dataset.ready = "true";
  }

  function absorb(body) {
    const first = rows.length === 0 && metrics.length === 0;
    rows = rows.concat(body.tasks || []);
    const before = metrics.length + "/" + params.length;
    metrics = [...new Set([...metrics, ...(body.metrics || [])])].sort();
    const keys = new Set(params);
    (body.tasks || []).forEach((r) => Object.keys(r.hyperparameters || {}).forEach((k) => keys.add(k)));
    params = [...keys].sort();
    if (first || before !== metrics.length + "/" + params.length) options(first);
    head();
    render();
    labels();
    drawScatter();
  }

  function options(first) {
    const [m, p] = [metricSel.value, paramSel.value];
    metricSel.innerHTML = metrics.map((x) => `<option>${esc(x)}</option>`).join("");
    paramSel.innerHTML = params.map((x) => `<option>${esc(x)}</option>`).join("");
    if (!first) { metricSel.value = m; paramSel.value = p; return; }
    const preferred = ["val_accuracy", "accuracy", "val_loss", "loss"].find((x) => metrics.includes(x));
    if (preferred) metricSel.value = preferred;
    // the hyperparameter that varies most (numbers first) is the likeliest question
    const distinct = (x) => new Set(rows.map((r) => String((r.hyperparameters || {})[x]))).size
      + (rows.some((r) => typeof (r.hyperparameters || {})[x] === "number") ? 0.5 : 0);
    const widest = [...params].sort((a, b) => distinct(b) - distinct(a))[0];
    if (widest) paramSel.value = widest;
  }

  function fail(status, body) {
    const e = (body && body.error) || {code: "error", message: "the API answered " + status, problems: []};
    const problems = (e.problems || []).map((p) => `<li><code>${esc(p.field)}</code>: ${esc(p.message)}</li>`).join("");
    $("error").innerHTML = `<div class="error" role="alert"><strong>${esc(status)} ${esc(e.code)}</strong>: ${esc(e.message)}` +
      (problems ? `<ul class="problems">${problems}</ul>` : "") + "</div>";
    $("count").textContent = "";
  }

  function labels() {
    document.querySelectorAll(".metric-name").forEach((e) => (e.textContent = $("metric").value || "metric"));
    document.querySelectorAll(".param-name").forEach((e) => (e.textContent = $("param").value || "hyperparameter"));
  }

  // -- the table ---------------------------------------------------------------------------
  function value(row, key) {
    const [kind, name] = key.includes(":") ? key.split(/:(.*)/s) : [key, null];
    if (kind === "p") return (row.hyperparameters || {})[name];
    if (kind === "b") return (row.best || {})[name];
    if (kind === "l") return (row.last || {})[name];
    if (kind === "duration") return row.duration_s;
    return row[kind];
  }

  function head() {
    const cols = [["", null, ""], ["Task", "name", ""], ["State", "state", ""], ["Attempts", "attempts", "num"],
      ...params.map((p) => [p, "p:" + p, "num"]),
      ...metrics.flatMap((m) => [["best " + m, "b:" + m, "num"], ["last " + m, "l:" + m, "num"]])];
    if (rows.some((r) => r.duration_s != null)) cols.push(["Duration (s)", "duration", "num"]);
    root.columns = cols;
    const width = ([, key]) => (key === null ? 34 : key === "name" ? 220 : key === "state" ? 110 : 120);
    $("rows").style.width = cols.reduce((sum, c) => sum + width(c), 0) + "px";
    $("rows").innerHTML = "<colgroup>" + cols.map((c) => `<col style="width:${width(c)}px">`).join("") +
      "</colgroup><thead></thead><tbody></tbody>";
    $("rows").tHead.innerHTML = "<tr>" + cols.map(([label, key, cls]) =>
      key ? `<th data-key="${esc(key)}" class="${cls}${key === sortKey ? " sorted" + (sortDir > 0 ? " up" : "") : ""}">${esc(label)}</th>`
          : "<th></th>").join("") + "</tr>";
  }

  const TEST = /^([\w.-]+)\s*(>=|<=|!=|>|<|=)\s*(.+)$/;
  function matcher(text) {
    const tests = text.trim().split(/\s+/).filter(Boolean).map((token) => {
      const m = token.match(TEST);
      if (!m) { const t = token.toLowerCase(); return (r) => (r.name + " " + r.state + " " + r.task_id).toLowerCase().includes(t); }
      const [, name, op, raw] = m;
      const want = isNaN(Number(raw)) ? raw : Number(raw);
      return (r) => {
        let v = (r.hyperparameters || {})[name];
        if (v === undefined) v = (r.best || {})[name];
        if (v === undefined) v = r[name];
        if (v === undefined || v === null) return false;
        switch (op) {
          case "=": return String(v) === String(want);
          case "!=": return String(v) !== String(want);
          case ">": return v > want; case "<": return v < want;
          case ">=": return v >= want; default: return v <= want;
        }
      };
    });
    return (r) => tests.every((t) => t(r));
  }

  function compareBy(key, dir) {
    return (a, b) => {
      const x = value(a, key), y = value(b, key);
      if (x == null && y == null) return 0;
      if (x == null) return 1;
      if (y == null) return -1;
      return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * dir;
    };
  }

  // Only the rows in view (plus a margin) are in the DOM: a 1,000-row table costs seconds of
  // layout on a slow machine; a window of ~60 rows costs milliseconds however many tasks there are.
  const ROW_H = 30, MARGIN = 25;
  const wrap = $("rows").parentElement;
  let painting = false;
  wrap.addEventListener("scroll", () => {
    if (painting) return;
    painting = true;
    requestAnimationFrame(() => { painting = false; paint(); });
  });

  function render() {
    shown = rows.filter(matcher($("filter").value)).sort(compareBy(sortKey, sortDir));
    paint();
    $("count").textContent = `${shown.length} of ${rows.length} tasks · ${selected.size} selected`;
    root.dataset.shown = String(shown.length);
  }

  function paint() {
    const cols = root.columns;
    const view = wrap.clientHeight || 600;
    const start = Math.max(0, Math.floor(wrap.scrollTop / ROW_H) - MARGIN);
    const end = Math.min(shown.length, Math.ceil((wrap.scrollTop + view) / ROW_H) + MARGIN);
    const spacer = (n) => (n > 0 ? `<tr class="spacer"><td colspan="${cols.length}" style="height:${n * ROW_H}px"></td></tr>` : "");
    const html = shown.slice(start, end).map((r) => {
      const colour = selected.get(r.task_id);
      const cells = cols.map(([, key, cls]) => {
        if (key === null) return `<td><input type="checkbox" data-task="${esc(r.task_id)}"${colour ? " checked" : ""}></td>`;
        if (key === "name") {
          const swatch = colour ? `<span class="chip" style="background:${colour}">&nbsp;</span>` : "";
          return `<td class="name" title="${esc(r.name)}">${swatch}<a href="${esc(base)}/jobs/${esc(r.job_id || "")}">${esc(r.name)}</a></td>`;
        }
        if (key === "state") return `<td><span class="badge ${COLOURS[r.state] || "grey"}">${esc(r.state || "")}</span></td>`;
        return `<td class="${cls}">${esc(fmt(value(r, key)))}</td>`;
      }).join("");
      return `<tr data-task="${esc(r.task_id)}"${colour ? ' class="selected"' : ""}>${cells}</tr>`;
    });
    $("rows").tBodies[0].innerHTML = spacer(start) + html.join("") + spacer(shown.length - end);
  }

  $("rows").addEventListener("click", (e) => {
    const th = e.target.closest("th[data-key]");
    if (!th) return;
    const key = th.dataset.key;
    sortDir = key === sortKey ? -sortDir : (key.startsWith("b:") || key.startsWith("l:")) && !lowerIsBetter(key.slice(2)) ? -1 : 1;
    sortKey = key;
    head();
    render();
  });
  $("rows").addEventListener("change", (e) => {
    const box = e.target.closest("input[data-task]");
    if (!box) return;
    toggle(box.dataset.task, box.checked);
    render();
    drawCurves();
    drawScatter();
  });

  function toggle(taskId, on) {
    if (!on) { selected.delete(taskId); return; }
    const used = new Set(selected.values());
    selected.set(taskId, PALETTE.find((c) => !used.has(c)) || PALETTE[selected.size % PALETTE.length]);
  }

  function selectTop() {
    const m = $("metric").value;
    const dir = lowerIsBetter(m) ? 1 : -1;
    selected.clear();
    shown.filter((r) => (r.best || {})[m] != null).sort(compareBy("b:" + m, dir)).slice(0, 5)
      .forEach((r) => toggle(r.task_id, true));
    render();
    drawCurves();
    drawScatter();
  }

  // -- the curves --------------------------------------------------------------------------
  function pair(m) {
    if (m.startsWith("val_") && metrics.includes(m.slice(4))) return [m.slice(4), m];
    if (metrics.includes("val_" + m)) return [m, "val_" + m];
    return [m, null];
  }

  function drawCurves() {
    const box = $("curves");
    if (chart) { chart.destroy(); chart = null; }
    const chosen = rows.filter((r) => selected.has(r.task_id));
    if (!chosen.length || typeof uPlot === "undefined") {
      box.innerHTML = '<p class="muted">Select tasks in the table to overlay their curves.</p>';
      return;
    }
    box.innerHTML = "";
    const m = $("metric").value;
    const [train, val] = pair(m);
    const epochs = new Set();
    chosen.forEach((r) => Object.values(r.series || {}).forEach((pts) => pts.forEach(([e]) => epochs.add(e))));
    const xs = [...epochs].sort((a, b) => a - b);
    const index = new Map(xs.map((e, i) => [e, i]));
    const data = [xs];
    const series = [{label: "epoch"}];
    const line = (r, name) => {
      const ys = new Array(xs.length).fill(null);
      ((r.series || {})[name] || []).forEach(([e, v]) => (ys[index.get(e)] = v));
      return ys;
    };
    chosen.forEach((r) => {
      const colour = selected.get(r.task_id);
      [[train, []], [val, [6, 4]]].forEach(([name, dash]) => {
        if (!name || !(r.series || {})[name]) return;
        data.push(line(r, name));
        series.push({label: `${r.name} ${name}`, stroke: colour, width: 2, dash, spanGaps: true, points: {show: false}});
      });
      const pts = (r.series || {})[m] || [];
      if (pts.length) { // the best epoch of the chosen metric, as one marked point
        const best = pts.reduce((a, b) => ((lowerIsBetter(m) ? b[1] < a[1] : b[1] > a[1]) ? b : a));
        const ys = new Array(xs.length).fill(null);
        ys[index.get(best[0])] = best[1];
        data.push(ys);
        series.push({label: `${r.name} best (epoch ${best[0]})`, stroke: colour, paths: () => null,
                     points: {show: true, size: 11, fill: colour, stroke: "#fff", width: 2}});
      }
    });
    const width = Math.max(360, box.clientWidth || 600);
    chart = new uPlot({width, height: 300, series, scales: {x: {time: false}},
                       axes: [{label: "epoch", incrs: EPOCH_STEPS}, {label: m}], legend: {show: chosen.length <= 2}}, data, box);
    box.dataset.series = String(series.length - 1);
  }

  // -- the scatter -------------------------------------------------------------------------
  function drawScatter() {
    const canvas = $("scatter");
    const ctx = canvas.getContext("2d");
    const dpr = window.devicePixelRatio || 1;
    const W = canvas.clientWidth || 520, H = canvas.clientHeight || 300;
    canvas.width = W * dpr; canvas.height = H * dpr;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const p = $("param").value, m = $("metric").value;
    const pts = shown.map((r) => [(r.hyperparameters || {})[p], (r.best || {})[m], r])
      .filter(([x, y]) => typeof y === "number" && x !== undefined);
    ctx.fillStyle = "#6b7480";
    ctx.font = "12px system-ui, sans-serif";
    if (!pts.length) { ctx.fillText("no tasks with both values", 20, H / 2); return; }
    const categorical = pts.some(([x]) => typeof x !== "number");
    const cats = categorical ? [...new Set(pts.map(([x]) => String(x)))].sort() : [];
    const xv = (x) => (categorical ? cats.indexOf(String(x)) : x);
    let xsAll = pts.map(([x]) => xv(x));
    const log = !categorical && xsAll.every((x) => x > 0) && Math.max(...xsAll) / Math.min(...xsAll) > 50;
    const tx = (x) => (log ? Math.log10(x) : x);
    xsAll = xsAll.map(tx);
    const ys = pts.map(([, y]) => y);
    const [x0, x1] = spread(Math.min(...xsAll), Math.max(...xsAll));
    const [y0, y1] = spread(Math.min(...ys), Math.max(...ys));
    const L = 56, R = 12, T = 10, B = 34;
    const sx = (x) => L + ((tx(xv(x)) - x0) / (x1 - x0)) * (W - L - R);
    const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
    ctx.strokeStyle = "#cfd5dc";
    ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
    ctx.fillText(fmt(y1), 4, T + 10); ctx.fillText(fmt(y0), 4, H - B);
    const xl = (v) => (categorical ? cats[Math.round(v)] ?? "" : fmt(log ? 10 ** v : v));
    ctx.fillText(xl(x0), L, H - B + 16);
    ctx.textAlign = "right"; ctx.fillText(xl(x1), W - R, H - B + 16);
    ctx.textAlign = "center"; ctx.fillText(p + (log ? " (log)" : ""), (L + W - R) / 2, H - 4);
    ctx.textAlign = "left";
    pts.forEach(([x, y, r]) => {
      const colour = selected.get(r.task_id);
      ctx.beginPath();
      ctx.arc(sx(x), sy(y), colour ? 5 : 3, 0, 2 * Math.PI);
      ctx.fillStyle = colour || "rgba(47,111,222,.35)";
      ctx.fill();
      if (colour) { ctx.strokeStyle = "#1d2430"; ctx.stroke(); }
    });
    canvas.dataset.points = String(pts.length);
  }

  function spread(a, b) {
    if (a === b) return [a - 1, b + 1];
    const pad = (b - a) * 0.05;
    return [a - pad, b + pad];
  }
})();
