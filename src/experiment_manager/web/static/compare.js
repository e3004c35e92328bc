// The compare page: versions of any experiments (refs=a@1,b@2, from the search page's
// selection) overlaid on one chart and diffed side by side: their config, name,
// status and duration, the hyperparameters, metadata and environment that differ
// (environment.pid and argv only when asked), and each metric's summary.
"use strict";

(() => {
  const { el, clear, api } = EXPM;
  const params = new URLSearchParams(window.location.search);
  const refs = (params.get("refs") || "").split(",").map((r) => r.trim()).filter(Boolean);
  const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  let comparison = null;
  let plot = null;
  let seq = 0;

  // Versions of different experiments share numbers: colours follow the refs' order.
  const colorOf = (index) => MetricChart.colorFor(index + 1);

  function fmt(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "--";
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-4 || abs >= 1e7)) return value.toExponential(2).replace("e+", "e");
    return String(Number(value.toPrecision(6)));
  }

  function section(title, id, rows, order) {
    const box = el("div", { className: "diff-section", dataset: { diff: id } }, el("h3", { text: title }));
    const entries = Object.entries(rows || {});
    if (entries.length === 0) {
      box.appendChild(el("p", { className: "muted", text: "identical" }));
      return box;
    }
    const head = el("tr", null, el("th", { text: "key", attrs: { scope: "col" } }), order.map((r) => el("th", { text: r, attrs: { scope: "col" } })));
    const tbody = el("tbody");
    for (const [key, values] of entries) {
      const tr = el("tr", null, el("th", { className: "key", text: key, attrs: { scope: "row" } }));
      order.forEach((_, i) => tr.appendChild(el("td", { className: "value", text: values[i] === undefined || values[i] === null ? "—" : EXPM.fmtValue(values[i]) })));
      tbody.appendChild(tr);
    }
    box.appendChild(el("div", { className: "table-wrap" }, el("table", { className: "data diff" }, el("thead", null, head), tbody)));
    return box;
  }

  async function loadDiff() {
    const container = document.getElementById("compare-diff");
    const allFields = document.getElementById("compare-all-fields").checked;
    try {
      comparison = await api(["compare"], { refs: refs.join(","), all_fields: allFields ? "1" : undefined });
    } catch (error) {
      clear(container).appendChild(EXPM.errorBox(error, "Could not compare these versions."));
      return false;
    }
    clear(container);
    const order = comparison.refs;
    const run = Object.assign({}, comparison.run);
    run.duration = (run.duration || []).map((d) => EXPM.fmtDuration(d));
    delete run.created_at;
    container.appendChild(section("Run", "run", run, order));
    container.appendChild(section("Hyperparameters", "hyperparameters", comparison.hyperparameters, order));
    container.appendChild(section("Metadata", "metadata", comparison.metadata, order));
    const env = section("Environment", "environment", comparison.environment, order);
    if ((comparison.hidden || []).length) env.appendChild(el("p", { className: "hint muted", text: comparison.hidden.join(", ") + " also differ (they differ between any two runs)." }));
    container.appendChild(env);
    const metrics = {};
    for (const ref of order) {
      for (const [name, s] of Object.entries(comparison.metrics[ref] || {})) {
        for (const agg of ["last", "min", "max"]) {
          const key = name + " " + agg;
          metrics[key] = metrics[key] || order.map(() => null);
          metrics[key][order.indexOf(ref)] = s[agg];
        }
      }
    }
    container.appendChild(section("Metrics", "metrics", metrics, order));
    document.body.dataset.compared = order.join(",");
    return true;
  }

  function renderRefs() {
    const box = clear(document.getElementById("refs"));
    refs.forEach((ref, i) => {
      const at = ref.lastIndexOf("@");
      const swatch = el("span", { className: "swatch", attrs: { "aria-hidden": "true" } });
      swatch.style.backgroundColor = colorOf(i); // CSSOM: allowed by the CSP
      const link = el("a", { href: EXPM.versionUrl(ref.slice(0, at), ref.slice(at + 1)), text: ref });
      box.appendChild(el("span", { className: "version-cell ref" }, swatch, link, " "));
    });
  }

  function renderMetricSelect() {
    const names = [];
    for (const ref of comparison.refs) for (const name of Object.keys(comparison.metrics[ref] || {})) if (!names.includes(name)) names.push(name);
    const select = clear(document.getElementById("compare-metric"));
    for (const name of names) select.appendChild(el("option", { value: name, text: name }));
    const wanted = params.get("metric");
    select.value = names.includes(wanted) ? wanted : names.find((n) => /loss/i.test(n)) || names[0] || "";
  }

  async function loadCurves() {
    const metric = document.getElementById("compare-metric").value;
    const x = document.getElementById("compare-x").value;
    const div = document.getElementById("compare-chart");
    const mine = ++seq;
    if (!metric) {
      clear(div).appendChild(el("p", { className: "chart-empty", text: "No metric to plot." }));
      return;
    }
    let body;
    try {
      body = await api(["series"], { metric, refs: refs.join(","), x, buckets: 600 });
    } catch (error) {
      if (mine === seq) clear(div).appendChild(EXPM.errorBox(error, "Could not load the curves."));
      return;
    }
    if (mine !== seq || !window.uPlot) return;
    const curves = body.series.map((s) => ({
      ref: s.ref,
      x: (s.x || []).map(EXPM.plotNum),
      y: (s.y || []).map(EXPM.plotNum),
      resumes: (Array.isArray(s.resumes) ? s.resumes : []).filter((m) => m && Number.isFinite(Number(m.x))),
    }));
    // Where a version was resumed: a dashed line in its colour, labelled (as on the
    // experiment page's chart).
    const marks = [];
    curves.forEach((c, i) => {
      for (const m of c.resumes) marks.push({ ref: c.ref, x: Number(m.x), label: c.ref + " " + String(m.label || "resumed"), color: colorOf(i), curve: i });
    });
    const drawMarks = (u) => {
      const ratio = window.uPlot.pxRatio || 1;
      const { left, top, width, height } = u.bbox;
      u.ctx.save();
      u.ctx.font = Math.round(11 * ratio) + "px " + FONT.replace(/^\d+px /, "");
      u.ctx.textBaseline = "top";
      marks.forEach((m, k) => {
        if (u.series[m.curve + 1].show === false) return;
        const px = Math.round(u.valToPos(m.x, "x", true)) + 0.5;
        if (px < left || px > left + width) return;
        u.ctx.strokeStyle = m.color;
        u.ctx.fillStyle = m.color;
        u.ctx.lineWidth = Math.max(1, ratio);
        u.ctx.setLineDash([5 * ratio, 3 * ratio]);
        u.ctx.beginPath();
        u.ctx.moveTo(px, top);
        u.ctx.lineTo(px, top + height);
        u.ctx.stroke();
        const right = px > left + width * 0.7;
        u.ctx.textAlign = right ? "right" : "left";
        u.ctx.fillText(m.label, px + (right ? -4 : 4) * ratio, top + (4 + 14 * (k % 4)) * ratio);
      });
      u.ctx.restore();
    };
    const { xs, rows } = MetricChart.align(curves);
    const data = [xs];
    curves.forEach((c, i) => {
      const out = new Array(xs.length);
      c.y.forEach((y, k) => {
        out[rows[i][k]] = y;
      });
      data.push(out);
    });
    if (plot) plot.destroy();
    clear(div);
    plot = new window.uPlot(
      {
        width: Math.max(300, div.clientWidth || 880),
        height: 420,
        scales: { x: { time: x === "time" } },
        axes: [{ font: FONT, label: x }, { font: FONT, label: metric, size: 72, values: (u, s) => s.map(fmt) }],
        series: [{ label: x }, ...curves.map((c, i) => ({ label: c.ref, stroke: colorOf(i), width: 1.5, spanGaps: false, value: (u, v) => fmt(v) }))],
        cursor: { drag: { x: true, y: false } },
        hooks: { draw: [drawMarks] },
      },
      data,
      div,
    );
    div.comparePlot = {
      refs: curves.map((c) => c.ref),
      points: curves.map((c) => c.y.length),
      resumes: marks.map((m) => ({ ref: m.ref, x: m.x, label: m.label, color: m.color })),
      plot,
    };
    window.requestAnimationFrame(() => {
      div.dataset.draws = String((Number(div.dataset.draws) || 0) + 1);
    });
  }

  async function init() {
    renderRefs();
    document.getElementById("compare-all-fields").addEventListener("change", loadDiff);
    document.getElementById("compare-metric").addEventListener("change", loadCurves);
    document.getElementById("compare-x").addEventListener("change", loadCurves);
    if (refs.length < 2) {
      clear(document.getElementById("compare-diff")).appendChild(el("p", { className: "muted", text: "Select two or more versions in a search to compare them (refs=id@version,...)." }));
      EXPM.markReady("ready");
      return;
    }
    const ok = await loadDiff();
    if (ok) {
      renderMetricSelect();
      await loadCurves();
    }
    EXPM.markReady("ready");
  }

  // After every deferred script, the chart library included, has run.
  if (document.readyState === "complete") init();
  else document.addEventListener("DOMContentLoaded", init);
})();
