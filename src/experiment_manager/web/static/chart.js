// An overlay of one metric over several versions, drawn with Plotly (scatter traces only:
// SVG, no WebGL, nothing that needs eval under the dashboard's Content-Security-Policy).
//
// The server reduces each curve to about two points (min and max) per horizontal pixel;
// zooming refetches the visible x-range at pixel resolution, a double click resets.
// Running versions are polled every 2 s for the points after the ones already drawn,
// which are appended with Plotly.extendTraces.
"use strict";

const MetricChart = (() => {
  const PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#e6550d", "#31a354", "#756bb1", "#843c39", "#3182bd",
    "#637939", "#d6616b", "#7b4173", "#636363",
  ];
  const POLL_MS = 2000;
  const MARGIN = { l: 64, r: 16, t: 8, b: 48 };
  const POINT_BUDGET = 24000;
  const X_TITLES = { step: "step", time: "wall time", index: "point #" };

  // plotly.js is big (~5 MB): it is loaded once, in parallel with the first data request,
  // so that tables show before it is parsed.
  let plotlyPromise = null;

  function loadPlotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!plotlyPromise) {
      plotlyPromise = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = "/static/vendor/plotly.min.js";
        script.async = true;
        script.addEventListener("load", () => {
          performance.mark("expm:plotly-ready");
          return window.Plotly ? resolve(window.Plotly) : reject(new Error("plotly.js defined no Plotly"));
        });
        script.addEventListener("error", () => {
          plotlyPromise = null;
          reject(new Error("could not load /static/vendor/plotly.min.js"));
        });
        document.head.appendChild(script);
      });
    }
    return plotlyPromise;
  }

  function colorFor(version) {
    return PALETTE[(Number(version) - 1 + PALETTE.length * 1000) % PALETTE.length] || PALETTE[0];
  }

  // Wall times are epoch seconds; Plotly's date axis shows a millisecond number as UTC, so
  // shift by the local offset to show local time (and shift back when reading a range).
  const TZ_MS = new Date().getTimezoneOffset() * 60000;

  function toPlotX(mode, value) {
    const n = EXPM.plotNum(value);
    if (n === null) return null;
    return mode === "time" ? n * 1000 - TZ_MS : n;
  }

  function fromPlotX(mode, value) {
    if (mode !== "time") return Number(value);
    let ms = typeof value === "number" ? value : Date.parse(String(value).replace(" ", "T") + "Z");
    if (typeof value !== "number" && Number.isNaN(ms)) ms = Date.parse(String(value));
    return (ms + TZ_MS) / 1000;
  }

  /** Debiased exponential moving average (as TensorBoard): NaN/null points stay gaps. */
  function emaStart() {
    return { last: 0, count: 0 };
  }

  function emaApply(state, ys, weight) {
    const out = new Array(ys.length);
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (y === null || !Number.isFinite(y)) {
        out[i] = null;
        continue;
      }
      state.last = state.last * weight + (1 - weight) * y;
      state.count += 1;
      out[i] = state.last / (1 - Math.pow(weight, state.count));
    }
    return out;
  }

  class Chart {
    constructor(div, options) {
      this.div = div;
      this.experimentId = options.experimentId;
      this.onUpdate = options.onUpdate || (() => {});
      this.view = null; // {metric, x, logY, smoothing, versions: [{version, label}]}
      this.series = []; // [{version, label, status, total, exact, inRange, x, y, ema, color}]
      this.range = null; // zoomed x-range in API units, or null for everything
      this.generation = 0;
      this.fetchSeq = 0;
      this.abort = null;
      this.pollTimer = null;
      this.sinceFetch = 0;
      this.draws = 0;
      this.listening = false;
      this.lastError = null;
    }

    /** Shows a view; refetches only when the metric, the x mode or the versions changed. */
    async show(view) {
      const old = this.view;
      this.view = Object.assign({}, view);
      const key = (v) => v.metric + "\u0000" + v.x + "\u0000" + v.versions.map((e) => e.version).join(",");
      if (!old || key(old) !== key(view)) {
        this.range = null;
        this.generation += 1;
        this.stopPolling();
        if (!view.metric || view.versions.length === 0) {
          this.series = [];
          this.clearPlot();
          return;
        }
        await this.fetch();
      } else {
        const labels = new Map(view.versions.map((v) => [Number(v.version), v.label]));
        let relabelled = false;
        for (const s of this.series) {
          const label = labels.get(Number(s.version));
          if (label && label !== s.label) {
            s.label = label;
            relabelled = true;
          }
        }
        if (relabelled || old.logY !== view.logY || old.smoothing !== view.smoothing) {
          if (this.series.length > 0) this.draw();
        }
      }
    }

    /** Replaces the plot (if any) with a message. */
    showMessage(node) {
      if (window.Plotly && this.div.data) window.Plotly.purge(this.div);
      this.listening = false;
      EXPM.clear(this.div).appendChild(node);
    }

    clearPlot() {
      const text = this.view && this.view.metric ? "Select versions to plot." : "No metric to plot.";
      this.showMessage(EXPM.el("p", { className: "chart-empty", text }));
      this.onUpdate(this.info());
    }

    /**
     * One bucket per horizontal pixel of the plot area (the server keeps each bucket's
     * min and max, so spikes survive), but at most POINT_BUDGET points over all curves:
     * an SVG of 20 curves x 2 points x 1,300 pixels takes the browser too long to draw.
     * Zooming in brings back the full resolution.
     */
    buckets() {
      const width = Math.round((this.div.clientWidth || 880) - MARGIN.l - MARGIN.r);
      const curves = Math.max(1, this.view ? this.view.versions.length : 1);
      return Math.max(100, Math.min(width, Math.floor(POINT_BUDGET / (2 * curves))));
    }

    async fetch() {
      const view = this.view;
      const generation = this.generation;
      const seq = ++this.fetchSeq;
      if (this.abort) this.abort.abort();
      const controller = new AbortController();
      this.abort = controller;
      const params = {
        metric: view.metric,
        versions: view.versions.map((v) => v.version).join(","),
        x: view.x,
        buckets: this.buckets(),
      };
      if (this.range) {
        const pad = (this.range[1] - this.range[0]) * 0.01;
        params.start = this.range[0] - pad;
        params.end = this.range[1] + pad;
      }
      this.div.classList.add("loading");
      performance.mark("expm:series-request");
      let body;
      try {
        body = await EXPM.api(["experiments", this.experimentId, "series"], params, { signal: controller.signal });
      } catch (error) {
        if (error && error.name === "AbortError") return;
        if (seq !== this.fetchSeq) return;
        this.div.classList.remove("loading");
        this.lastError = error;
        this.series = [];
        this.showMessage(EXPM.errorBox(error, "Could not load the curves."));
        this.onUpdate(this.info());
        return;
      }
      performance.mark("expm:series-parsed");
      try {
        await loadPlotly();
      } catch (error) {
        this.div.classList.remove("loading");
        this.showMessage(EXPM.errorBox(error));
        return;
      }
      if (seq !== this.fetchSeq || generation !== this.generation) return;
      this.div.classList.remove("loading");
      this.lastError = null;
      const labels = new Map(view.versions.map((v) => [Number(v.version), v.label]));
      this.series = (Array.isArray(body.series) ? body.series : []).map((s) => ({
        version: s.version,
        label: labels.get(Number(s.version)) || "v" + s.version,
        status: s.status,
        total: typeof s.total === "number" ? s.total : 0,
        inRange: s.in_range,
        exact: Boolean(s.exact),
        x: (s.x || []).map((value) => toPlotX(view.x, value)),
        y: (s.y || []).map(EXPM.plotNum),
        color: colorFor(s.version),
      }));
      this.sinceFetch = 0;
      this.draw();
      this.schedulePoll();
    }

    traces() {
      const view = this.view;
      const smoothing = Number(view.smoothing) || 0;
      const raw = [];
      const main = [];
      for (const s of this.series) {
        const name = EXPM.plotlyText(s.label);
        s.ema = emaStart();
        const base = {
          type: "scatter",
          mode: s.x.length === 1 ? "markers" : "lines",
          x: s.x.slice(),
          legendgroup: "v" + s.version,
          line: { color: s.color, width: 1.5 },
          marker: { color: s.color, size: 6 },
          connectgaps: false,
        };
        if (smoothing > 0) {
          raw.push(
            Object.assign({}, base, {
              uid: "raw-" + s.version,
              name,
              y: s.y.slice(),
              opacity: 0.25,
              showlegend: false,
              hoverinfo: "skip",
              meta: { version: s.version, role: "raw" },
            }),
          );
        }
        main.push(
          Object.assign({}, base, {
            uid: "main-" + s.version,
            name,
            y: smoothing > 0 ? emaApply(s.ema, s.y, smoothing) : s.y.slice(),
            hovertemplate: "%{y:.6~g}",
            meta: { version: s.version, role: smoothing > 0 ? "smoothed" : "main" },
          }),
        );
      }
      return raw.concat(main);
    }

    layout() {
      const view = this.view;
      return {
        uirevision: [view.metric, view.x, view.logY ? "log" : "lin", view.versions.map((v) => v.version).join(",")].join("|"),
        margin: MARGIN,
        height: 420,
        hovermode: "x unified",
        dragmode: "zoom",
        showlegend: true,
        legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom" },
        font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12 },
        xaxis: {
          title: { text: EXPM.plotlyText(X_TITLES[view.x] || view.x) },
          type: view.x === "time" ? "date" : "linear",
          zeroline: false,
          showspikes: false,
        },
        yaxis: {
          title: { text: EXPM.plotlyText(view.metric) },
          type: view.logY ? "log" : "linear",
          exponentformat: "e",
          zeroline: false,
        },
        paper_bgcolor: "#ffffff",
        plot_bgcolor: "#ffffff",
      };
    }

    draw() {
      if (!window.Plotly) return;
      if (!this.div.data) EXPM.clear(this.div);
      const config = {
        responsive: true,
        displaylogo: false,
        doubleClick: "reset+autosize",
        showTips: false,
        modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
      };
      performance.mark("expm:draw-start");
      const drawn = window.Plotly.react(this.div, this.traces(), this.layout(), config);
      if (!this.listening) {
        this.listening = true;
        this.div.on("plotly_relayout", (event) => this.onRelayout(event));
      }
      this.onUpdate(this.info());
      Promise.resolve(drawn).then(() => this.countDraw());
    }

    /** Tests and benchmarks wait on these attributes of the chart's div. */
    countDraw() {
      performance.mark("expm:drawn");
      this.draws += 1;
      this.div.dataset.draws = String(this.draws);
      this.div.dataset.drawnAt = String(performance.now());
    }

    onRelayout(event) {
      if (!event || !this.view) return;
      const mode = this.view.x;
      let range;
      if (event["xaxis.autorange"] === true) {
        range = null;
      } else if ("xaxis.range[0]" in event && "xaxis.range[1]" in event) {
        range = [fromPlotX(mode, event["xaxis.range[0]"]), fromPlotX(mode, event["xaxis.range[1]"])];
      } else if (Array.isArray(event["xaxis.range"])) {
        range = [fromPlotX(mode, event["xaxis.range"][0]), fromPlotX(mode, event["xaxis.range"][1])];
      } else {
        return;
      }
      if (range && !(Number.isFinite(range[0]) && Number.isFinite(range[1]))) return;
      if (range && range[0] > range[1]) range = [range[1], range[0]];
      const same =
        (range === null && this.range === null) ||
        (range && this.range && range[0] === this.range[0] && range[1] === this.range[1]);
      if (same) return;
      this.range = range;
      this.fetch();
    }

    // ---- Live updates ------------------------------------------------------------------

    running() {
      return this.series.filter((s) => s.status === "running");
    }

    schedulePoll() {
      if (this.pollTimer || this.running().length === 0) return;
      this.pollTimer = window.setTimeout(() => this.poll(), POLL_MS);
    }

    stopPolling() {
      if (this.pollTimer) window.clearTimeout(this.pollTimer);
      this.pollTimer = null;
    }

    async poll() {
      this.pollTimer = null;
      const generation = this.generation;
      const seq = this.fetchSeq;
      const view = this.view;
      const running = this.running();
      const answers = await Promise.all(
        running.map((s) =>
          EXPM.api(["experiments", this.experimentId, "versions", s.version, "points"], {
            metric: view.metric,
            after: s.total,
            x: view.x,
          }).then(
            (body) => ({ s, body }),
            (error) => ({ s, error }),
          ),
        ),
      );
      if (generation !== this.generation || seq !== this.fetchSeq || !this.div.data) return;
      const update = { x: [], y: [] };
      const indices = [];
      const smoothing = Number(view.smoothing) || 0;
      const offset = smoothing > 0 ? this.series.length : 0;
      let added = 0;
      let statusChanged = false;
      const incoming = answers.reduce((n, a) => n + (a.body && Array.isArray(a.body.y) ? a.body.y.length : 0), 0);
      if (this.sinceFetch + incoming > 2 * this.buckets()) {
        // More new points than the reduced view holds: reduce again rather than append.
        this.sinceFetch = 0;
        this.fetch();
        return;
      }
      for (const { s, body } of answers) {
        if (!body) continue;
        if (body.status && body.status !== s.status) {
          s.status = body.status;
          statusChanged = true;
        }
        const xs = (body.x || []).map((value) => toPlotX(view.x, value));
        const ys = (body.y || []).map(EXPM.plotNum);
        const count = Math.min(xs.length, ys.length);
        const total = typeof body.total === "number" ? body.total : s.total + count;
        if (count === 0 || total <= s.total) continue;
        const newX = xs.slice(0, count);
        const newY = ys.slice(0, count);
        s.total = total;
        for (let i = 0; i < count; i++) {
          s.x.push(newX[i]);
          s.y.push(newY[i]);
        }
        added += count;
        const index = this.series.indexOf(s);
        if (smoothing > 0) {
          indices.push(index);
          update.x.push(newX);
          update.y.push(newY);
        }
        indices.push(offset + index);
        update.x.push(newX);
        update.y.push(smoothing > 0 ? emaApply(s.ema, newY, smoothing) : newY);
      }
      this.sinceFetch += added;
      if (indices.length > 0) {
        window.Plotly.extendTraces(this.div, update, indices);
        this.countDraw();
        this.div.dataset.livePoints = String((Number(this.div.dataset.livePoints) || 0) + added);
      }
      if (indices.length > 0 || statusChanged) this.onUpdate(this.info());
      this.schedulePoll();
    }

    info() {
      return {
        series: this.series.map((s) => ({
          version: s.version,
          status: s.status,
          total: s.total,
          shown: s.x.length,
          gaps: s.y.reduce((n, y) => (y === null ? n + 1 : n), 0),
          inRange: s.inRange,
          exact: s.exact,
        })),
        zoomed: this.range !== null,
        live: this.pollTimer !== null || this.running().length > 0,
        error: this.lastError,
      };
    }
  }

  return { Chart, emaApply, emaStart, colorFor, loadPlotly };
})();
