// Versions grouped by a hyperparameter or a tag: each group's mean curve with a band.
//
// Draws GET /api/experiments/{id}/groups (every version of a group resampled onto one
// shared x grid): per group a mean line and a filled band between its min and max, or
// mean ± std; and a table of the groups with their counts. Group colours follow the
// order of the groups (the versions' own colours belong to single curves).
"use strict";

const GroupChart = (() => {
  const { el, clear } = EXPM;
  const HEIGHT = 420;
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

  function colorOf(index) {
    return COLORS[index % COLORS.length];
  }

  function fmt(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "--";
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-4 || abs >= 1e7)) return value.toExponential(2).replace("e+", "e");
    return String(Number(value.toPrecision(6)));
  }

  class Groups {
    constructor(div, table) {
      this.div = div;
      this.table = table;
      this.plot = null;
      this.body = null;
      this.draws = 0;
      div.groupChart = this; // tests read what is drawn from here
    }

    clear() {
      if (this.plot) this.plot.destroy();
      this.plot = null;
      clear(this.div);
      clear(this.table);
    }

    /** Draws one answer of /groups with a min–max ("minmax") or ±std ("std") band. */
    show(body, band, logY) {
      this.body = body;
      this.band = band;
      this.clear();
      const groups = (body.groups || []).filter((g) => g.mean.length);
      if (!window.uPlot || groups.length === 0 || !body.x.length) {
        this.div.appendChild(el("p", { className: "chart-empty", text: "No points to group." }));
        this.renderTable(body.groups || []);
        return;
      }
      const data = [body.x];
      const series = [{ label: body.x_label || body.xName || "x" }];
      const bands = [];
      groups.forEach((g, i) => {
        const color = colorOf(i);
        const lower = band === "std" ? g.mean.map((m, k) => (m === null || g.std[k] === null ? null : m - g.std[k])) : g.min;
        const upper = band === "std" ? g.mean.map((m, k) => (m === null || g.std[k] === null ? null : m + g.std[k])) : g.max;
        const base = data.length;
        data.push(g.mean, upper, lower);
        series.push(
          { label: g.key + " (n=" + g.versions.length + ")", stroke: color, width: 2, value: (u, v) => fmt(v) },
          { label: g.key + (band === "std" ? " +std" : " max"), stroke: color + "55", width: 1, value: (u, v) => fmt(v) },
          { label: g.key + (band === "std" ? " −std" : " min"), stroke: color + "55", width: 1, value: (u, v) => fmt(v) },
        );
        bands.push({ series: [base + 1, base + 2], fill: color + "26" });
      });
      const options = {
        width: Math.max(300, Math.round(this.div.clientWidth || 880)),
        height: HEIGHT,
        scales: { x: { time: body.x_axis === "time" }, y: logY ? { distr: 3, log: 10 } : { auto: true } },
        axes: [{ font: FONT, label: body.x_axis || "x" }, { font: FONT, label: body.metric + " (mean)", size: 72, values: (u, s) => s.map(fmt) }],
        series,
        bands,
        legend: { live: true },
      };
      this.plot = new window.uPlot(options, data, this.div);
      this.renderTable(body.groups || []);
      window.requestAnimationFrame(() => {
        this.draws += 1;
        this.div.dataset.draws = String(this.draws);
      });
    }

    renderTable(groups) {
      const head = el("tr", null, ["group", "versions", "count", "last mean", "last ± std", "last min–max"].map((t) => el("th", { text: t, attrs: { scope: "col" } })));
      const tbody = el("tbody");
      groups.forEach((g, i) => {
        const lastIndex = (() => {
          for (let k = g.mean.length - 1; k >= 0; k--) if (g.mean[k] !== null) return k;
          return -1;
        })();
        const swatch = el("span", { className: "swatch", attrs: { "aria-hidden": "true" } });
        swatch.style.backgroundColor = colorOf(i); // CSSOM: allowed by the CSP
        const at = (list) => (lastIndex >= 0 ? list[lastIndex] : null);
        tbody.appendChild(
          el(
            "tr",
            { dataset: { group: g.key } },
            el("td", null, swatch, g.key),
            el("td", { className: "num", text: g.versions.map((v) => "v" + v).join(", ") }),
            el("td", { className: "num group-count", text: String(g.versions.length) }),
            el("td", { className: "num", text: fmt(at(g.mean)) }),
            el("td", { className: "num", text: "± " + fmt(at(g.std)) }),
            el("td", { className: "num", text: fmt(at(g.min)) + " – " + fmt(at(g.max)) }),
          ),
        );
      });
      this.table.appendChild(el("div", { className: "table-wrap" }, el("table", { className: "data groups" }, el("thead", null, head), tbody)));
    }
  }

  return { Groups, colorOf };
})();
