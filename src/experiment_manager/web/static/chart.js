// An overlay of one metric over several versions, drawn with uPlot on a canvas.
//
// The server reduces each curve to about two points (min and max) per horizontal pixel;
// dragging over the plot zooms in and refetches that x-range at pixel resolution (every
// point once the range is small enough), a double click goes back to the whole curve.
// Running versions are polled every 2 s for the points after the ones already drawn.
//
// uPlot draws series that share one x array; curves of different versions have their
// own x values, so they are merged into one sorted x array (a value repeated within a
// curve, such as a step logged again after a resume, keeps a row of its own) and each
// curve leaves `undefined` (drawn through) at the other curves' rows. NaN and ±∞
// become `null`, which uPlot draws as a gap. A resumed version has a dashed marker, in
// its colour, where the run went on (the series' `resumes`); the points a resume from a
// step superseded are not in the series, so they are not drawn.
"use strict";

const MetricChart = (() => {
  const PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#e6550d", "#31a354", "#756bb1", "#843c39", "#3182bd",
    "#637939", "#d6616b", "#7b4173", "#636363",
  ];
  const POLL_MS = 2000;
  const HEIGHT = 420;
  const AXIS_SPACE = 72; // the y axis's width: the plot area is the rest
  const COMPACT_AXIS_SPACE = 56; // a panel's y axis
  const PAGE_SPACE = 70; // the page's and the panel's side padding around the chart
  const MAX_WIDTH = 1800; // the page's widest layout (style.css: main)
  const POINT_BUDGET = 24000;
  const X_TITLES = { step: "step", time: "wall time", index: "point #" };
  // The page's own font, without uPlot's default list of emoji fonts (looking those
  // up the first time text is drawn on a canvas costs a first visit noticeable time).
  const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  const LABEL_FONT = "bold " + FONT;
  // Steps and point numbers are whole numbers: ticks between them would be fractions.
  const INTEGER_INCRS = [];
  for (let e = 0; e < 16; e++) for (const m of [1, 2, 5]) INTEGER_INCRS.push(m * Math.pow(10, e));

  // Set once every deferred script (the chart library included) has run.
  let pageLoaded = document.readyState === "complete";
  document.addEventListener("DOMContentLoaded", () => {
    pageLoaded = true;
  });

  function colorFor(version) {
    return PALETTE[(Number(version) - 1 + PALETTE.length * 1000) % PALETTE.length] || PALETTE[0];
  }

  /** The same colour, see-through (for the raw curve under a smoothed one). */
  function faded(color) {
    return color + "40";
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

  /** Tick and hover text: short, exponent for very large or small numbers. */
  function fmt(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "--";
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-4 || abs >= 1e7)) return value.toExponential(2).replace("e+", "e");
    return String(Number(value.toPrecision(6)));
  }

  /**
   * Merge the curves' ascending x arrays into one: returns the merged x values and, per
   * curve, the row of each of its points. Equal x values of different curves share a
   * row (so hovering shows them together); a curve's own repeats get rows of their own.
   */
  function align(curves) {
    const k = curves.length;
    const pos = new Array(k).fill(0);
    const rows = curves.map((c) => new Int32Array(c.x.length));
    const xs = [];
    for (;;) {
      let min = Infinity;
      for (let c = 0; c < k; c++) {
        if (pos[c] < curves[c].x.length && curves[c].x[pos[c]] < min) min = curves[c].x[pos[c]];
      }
      if (min === Infinity) break;
      const row = xs.length;
      xs.push(min);
      for (let c = 0; c < k; c++) {
        if (pos[c] < curves[c].x.length && curves[c].x[pos[c]] === min) {
          rows[c][pos[c]] = row;
          pos[c] += 1;
        }
      }
    }
    return { xs, rows };
  }

  /** A curve's values spread over the merged rows (undefined elsewhere). */
  function spread(length, rows, ys, logY) {
    const out = new Array(length);
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      out[rows[i]] = y === null || (logY && !(y > 0)) ? null : y;
    }
    return out;
  }

  /** Sorts a curve's points by x (stably) after appended points went backwards. */
  function sortCurve(s) {
    const order = s.x.map((_, i) => i).sort((a, b) => s.x[a] - s.x[b] || a - b);
    s.x = order.map((i) => s.x[i]);
    s.y = order.map((i) => s.y[i]);
  }

  // For each series, the point nearest to the hovered row that the series has.
  function nearestDefined(u, seriesIdx, hoveredIdx) {
    const ys = u.data[seriesIdx];
    if (hoveredIdx === null || hoveredIdx === undefined || ys[hoveredIdx] !== undefined) return hoveredIdx;
    const xs = u.data[0];
    const x = xs[hoveredIdx];
    let left = hoveredIdx - 1;
    let right = hoveredIdx + 1;
    while (left >= 0 && ys[left] === undefined) left -= 1;
    while (right < ys.length && ys[right] === undefined) right += 1;
    const hasLeft = left >= 0;
    const hasRight = right < ys.length;
    if (!hasLeft && !hasRight) return null;
    if (!hasRight) return left;
    if (!hasLeft) return right;
    return x - xs[left] <= xs[right] - x ? left : right;
  }

  class Chart {
    constructor(div, options) {
      this.div = div;
      this.experimentId = options.experimentId;
      this.onUpdate = options.onUpdate || (() => {});
      // A panel of the workspace: its own height, no legend (the table's swatches name
      // the colours), buckets for its own width, and zooms reported to its grid.
      this.height = options.height || HEIGHT;
      this.compact = Boolean(options.compact);
      this.bucketWidth = options.bucketWidth || null;
      // The workspace measures its panels once and fetches them together: a panel's
      // width is the grid's (no layout forced per chart) and its curves come in the
      // workspace's batched request.
      this.widthHint = options.widthHint || null;
      this.loader = options.loader || null;
      this.after = options.after || null;
      this.onDrawn = options.onDrawn || (() => {});
      this.onZoom = options.onZoom || (() => {});
      this.view = null; // {metric, x, logY, smoothing, versions: [{version, label}]}
      this.series = []; // [{version, label, status, total, exact, inRange, x, y, color}]
      this.drawn = []; // what the plot shows: [{version, role, label, x, y}] (uPlot series 1..n)
      this.range = null; // zoomed x-range in API units, or null for everything
      this.plot = null;
      this.plotShape = "";
      this.generation = 0;
      this.fetchSeq = 0;
      this.abort = null;
      this.pollTimer = null;
      this.sinceFetch = 0;
      this.draws = 0;
      this.lastError = null;
      this.waitingForLibrary = false;
      div.metricChart = this; // tests and benchmarks read what is drawn from here
      if (window.ResizeObserver) {
        new ResizeObserver(() => this.resize()).observe(div);
      }
    }

    /** Shows a view; refetches only when the metric, the x mode or the versions changed. */
    async show(view) {
      const old = this.view;
      this.view = Object.assign({}, view);
      const key = (v) => v.metric + "\u0000" + v.x + "\u0000" + Boolean(v.all) + "\u0000" + v.versions.map((e) => e.version).join(",");
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

    destroyPlot() {
      if (this.plot) this.plot.destroy();
      this.plot = null;
      this.plotShape = "";
      this.drawn = [];
    }

    /** Replaces the plot (if any) with a message. */
    showMessage(node) {
      this.destroyPlot();
      EXPM.clear(this.div).appendChild(node);
    }

    clearPlot() {
      const text = this.view && this.view.metric ? "Select versions to plot." : "No metric to plot.";
      this.showMessage(EXPM.el("p", { className: "chart-empty", text }));
      this.onUpdate(this.info());
    }

    width() {
      const hint = this.widthHint ? this.widthHint() : 0;
      if (hint > 0) return Math.max(200, Math.round(hint));
      return Math.max(300, Math.round(this.div.clientWidth || 880));
    }

    /** The width the chart's box has now (the box was resized: read it, not the hint). */
    measuredWidth() {
      if (this.widthHint && this.div.clientWidth > 0) return Math.max(200, Math.round(this.div.clientWidth));
      return this.width();
    }

    resize() {
      if (this.plot && Math.abs(this.plot.width - this.measuredWidth()) > 1) {
        this.plot.setSize({ width: this.measuredWidth(), height: this.height });
      }
    }

    /**
     * One bucket per horizontal pixel of the plot area (the server keeps each bucket's
     * min and max, so spikes survive), within a total point budget over all curves.
     * Zooming in brings back the full resolution.
     */
    buckets() {
      // From the window, not the chart's box: reading a box's size forces the page's
      // first layout, and the request should leave before that work, not after it.
      const width = this.bucketWidth
        ? this.bucketWidth()
        : Math.min(window.innerWidth || 1000, MAX_WIDTH) - PAGE_SPACE - AXIS_SPACE;
      const curves = Math.max(1, this.view ? this.view.versions.length : 1);
      // A panel asks for what its width decides; the focus chart for at least 100.
      const floor = this.compact ? 40 : 100;
      return Math.max(floor, Math.min(width, Math.floor(POINT_BUDGET / (2 * curves))));
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
        all: view.all ? "1" : undefined,
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
        body = this.loader
          ? await this.loader(params, controller.signal)
          : await EXPM.api(["experiments", this.experimentId, "series"], params, { signal: controller.signal });
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
      if (seq !== this.fetchSeq || generation !== this.generation) return;
      this.div.classList.remove("loading");
      this.lastError = null;
      // The labels of the view shown now: names may have arrived while the curves loaded.
      const labels = new Map(this.view.versions.map((v) => [Number(v.version), v.label]));
      this.series = (Array.isArray(body.series) ? body.series : []).map((s) => {
        const x = (s.x || []).map(EXPM.plotNum);
        const y = (s.y || []).map(EXPM.plotNum);
        const curve = {
          version: s.version,
          label: labels.get(Number(s.version)) || "v" + s.version,
          status: s.status,
          total: typeof s.total === "number" ? s.total : 0,
          inRange: s.in_range,
          exact: Boolean(s.exact),
          x: [],
          y: [],
          color: colorFor(s.version),
          // Where the version was resumed, on this x axis: drawn as labelled markers.
          resumes: (Array.isArray(s.resumes) ? s.resumes : []).filter((m) => m && Number.isFinite(Number(m.x))),
        };
        for (let i = 0; i < Math.min(x.length, y.length); i++) {
          if (x[i] === null) continue;
          curve.x.push(x[i]);
          curve.y.push(y[i]);
        }
        return curve;
      });
      this.sinceFetch = 0;
      this.draw();
      this.schedulePoll();
      if (this.pendingRange !== undefined) {
        const pending = this.pendingRange;
        this.pendingRange = undefined;
        if (pending) this.zoomTo(pending, true);
      }
    }

    /** The curves to draw: raw ones (faded) under their smoothed twins when smoothing. */
    curves() {
      const smoothing = Number(this.view.smoothing) || 0;
      const raw = [];
      const main = [];
      for (const s of this.series) {
        const base = { version: s.version, label: s.label, color: s.color, x: s.x };
        if (smoothing > 0) {
          raw.push(Object.assign({}, base, { role: "raw", label: s.label + " (raw)", y: s.y.slice() }));
        }
        main.push(
          Object.assign({}, base, {
            role: smoothing > 0 ? "smoothed" : "main",
            y: smoothing > 0 ? emaApply(emaStart(), s.y, smoothing) : s.y.slice(),
          }),
        );
      }
      return raw.concat(main);
    }

    options(curves) {
      const view = this.view;
      const self = this;
      return {
        width: this.width(),
        height: this.height,
        pxAlign: false,
        scales: {
          x: { time: view.x === "time" },
          y: view.logY ? { distr: 3, log: 10 } : { auto: true },
        },
        axes: [
          {
            label: X_TITLES[view.x] || view.x,
            font: FONT,
            labelFont: LABEL_FONT,
            values: view.x === "time" ? undefined : (u, splits) => splits.map(fmt),
            incrs: view.x === "time" ? undefined : INTEGER_INCRS,
          },
          // A panel's title names its metric already.
          { label: this.compact ? undefined : view.metric, font: FONT, labelFont: LABEL_FONT, size: this.compact ? COMPACT_AXIS_SPACE : AXIS_SPACE, values: (u, splits) => splits.map(fmt) },
        ],
        series: [
          { label: X_TITLES[view.x] || view.x, value: view.x === "time" ? undefined : (u, v) => fmt(v) },
          ...curves.map((c) => ({
            label: c.label,
            stroke: c.role === "raw" ? faded(c.color) : c.color,
            width: c.role === "raw" ? 1 : 1.5,
            spanGaps: false,
            points: { show: c.x.length <= 1 ? true : undefined, size: 6, fill: c.color },
            value: (u, v) => fmt(v),
          })),
        ],
        legend: { live: true, show: !this.compact },
        cursor: {
          drag: { x: true, y: false, setScale: false },
          dataIdx: nearestDefined,
          bind: {
            // A double click shows the whole curve again (refetched, not just rescaled).
            dblclick: () => () => {
              self.zoomTo(null);
              return null;
            },
          },
        },
        hooks: {
          draw: [(u) => self.drawResumes(u)],
          setSelect: [
            (u) => {
              if (u.select.width < 2) return;
              const low = u.posToVal(u.select.left, "x");
              const high = u.posToVal(u.select.left + u.select.width, "x");
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              self.zoomTo([low, high]);
            },
          ],
          setSeries: [
            (u, index, opts) => {
              // A raw curve follows its smoothed twin in and out of view.
              if (index === null || opts.show === undefined) return;
              const hit = self.drawn[index - 1];
              if (!hit) return;
              self.drawn.forEach((d, i) => {
                if (i !== index - 1 && d.version === hit.version && u.series[i + 1].show !== opts.show) {
                  u.setSeries(i + 1, { show: opts.show }, false);
                }
              });
            },
          ],
        },
      };
    }

    /**
     * Zoom to an x-range in API units (null: everything) and refetch it at full
     * resolution. A drag over the plot and a double click end here.
     */
    zoomTo(range, quiet) {
      if (!this.view) return;
      if (this.series.length === 0) {
        this.pendingRange = range; // a panel not loaded yet takes it when it loads
        return;
      }
      if (range) {
        let [low, high] = range.map(Number);
        if (!(Number.isFinite(low) && Number.isFinite(high))) return;
        if (low > high) [low, high] = [high, low];
        range = [low, high];
        if (this.plot) this.plot.setScale("x", { min: low, max: high });
      }
      const same =
        (range === null && this.range === null) ||
        (range && this.range && range[0] === this.range[0] && range[1] === this.range[1]);
      if (same) return;
      this.range = range;
      if (!quiet) this.onZoom(range);
      this.fetch();
    }

    /**
     * A panel's reduced curves with x snapped to its pixel columns (a curve kept whole is
     * left as it is). The server keeps each bucket's min and max at their own x, so the
     * versions' points fall on different x values and the merged rows (what uPlot walks
     * for every curve) number the points of all curves together; snapped, the curves
     * share at most one row per pixel column (plus repeats), and nothing moves by more
     * than half a pixel.
     */
    snapped(curves) {
      if (!this.compact || this.range !== null || this.series.every((s) => s.exact)) return curves;
      let low = Infinity;
      let high = -Infinity;
      for (const c of curves) {
        if (c.x.length === 0) continue;
        low = Math.min(low, c.x[0]);
        high = Math.max(high, c.x[c.x.length - 1]);
      }
      const columns = Math.max(1, this.width() - COMPACT_AXIS_SPACE);
      const step = (high - low) / columns;
      if (!(step > 0) || !Number.isFinite(step)) return curves;
      const exact = new Set(this.series.filter((s) => s.exact).map((s) => s.version));
      return curves.map((c) => {
        if (exact.has(c.version)) return c;
        const x = c.x.map((v) => low + Math.round((v - low) / step) * step);
        return Object.assign({}, c, { x });
      });
    }

    /**
     * A chart below the screen (the experiment page's overlay, under the workspace)
     * waits to be drawn until what is on screen has drawn (the ``after`` option: a
     * function giving a promise) or it is scrolled to, so the first screen comes first.
     * Returns whether the draw was put off.
     */
    deferred() {
      if (!this.after || this.plot || this.mayDraw) return false;
      const box = this.div.getBoundingClientRect();
      if (box.top < (window.innerHeight || 1000) && box.bottom > 0) return false;
      this.drawDeferred = true;
      let watch = null;
      const go = () => {
        if (!this.drawDeferred) return;
        this.drawDeferred = false;
        this.mayDraw = true; // once is enough: later draws replace a plot in place
        if (watch) watch.disconnect();
        this.draw();
      };
      if (window.IntersectionObserver) {
        watch = new IntersectionObserver((entries) => {
          if (entries.some((e) => e.isIntersecting)) go();
        });
        watch.observe(this.div);
      }
      Promise.resolve(this.after()).then(go, go);
      return true;
    }

    draw() {
      if (this.drawDeferred || this.deferred()) return;
      if (!window.uPlot) {
        // The library is the page's last script: data can come back before it has run
        // (deferred scripts run before DOMContentLoaded, so after that it is missing).
        if (!pageLoaded) {
          if (!this.waitingForLibrary) {
            this.waitingForLibrary = true;
            document.addEventListener("DOMContentLoaded", () => {
              this.waitingForLibrary = false;
              if (this.series.length > 0) this.draw();
            });
          }
          return;
        }
        this.showMessage(EXPM.errorBox(new Error("the chart library (uPlot) did not load")));
        return;
      }
      performance.mark("expm:draw-start");
      const curves = this.snapped(this.curves());
      const { xs, rows } = align(curves);
      const logY = Boolean(this.view.logY);
      const data = [xs, ...curves.map((c, i) => spread(xs.length, rows[i], c.y, logY))];
      const shape = JSON.stringify([
        this.view.metric,
        this.view.x,
        logY,
        curves.map((c) => [c.version, c.role, c.label, c.x.length <= 1]),
      ]);
      const hidden = new Set();
      if (this.plot && shape === this.plotShape) {
        this.drawn = curves;
        this.plot.setData(data, this.range === null);
        if (this.range) this.plot.setScale("x", { min: this.range[0], max: this.range[1] });
      } else {
        if (this.plot) {
          // Keep the curves the user hid through a redraw with other options.
          this.drawn.forEach((d, i) => {
            if (!this.plot.series[i + 1].show) hidden.add(d.version);
          });
        }
        this.destroyPlot();
        EXPM.clear(this.div);
        this.drawn = curves;
        const options = this.options(curves);
        // A panel has no legend to show values in: no hover dots either (fewer nodes
        // to build for each of its curves).
        if (this.compact) options.cursor.points = { show: false };
        curves.forEach((c, i) => {
          if (hidden.has(c.version)) options.series[i + 1].show = false;
        });
        this.plot = new window.uPlot(options, data, this.div);
        this.plotShape = shape;
        if (this.range) this.plot.setScale("x", { min: this.range[0], max: this.range[1] });
      }
      this.onUpdate(this.info());
      // uPlot draws synchronously; the next frame is when the user sees it.
      window.requestAnimationFrame(() => this.countDraw());
    }

    /**
     * The resume markers of the curves shown: where each version was resumed, as
     * {version, x, label, color, left} (left: CSS pixels from the plot's left edge).
     */
    resumeMarks() {
      const u = this.plot;
      if (!u) return [];
      const marks = [];
      for (const s of this.series) {
        const index = this.drawn.findIndex((d) => d.version === s.version && d.role !== "raw");
        if (index < 0 || u.series[index + 1].show === false) continue; // its curve is hidden
        for (const mark of s.resumes || []) {
          const x = Number(mark.x);
          const left = u.valToPos(x, "x");
          if (!(left >= 0 && left <= u.bbox.width / (window.uPlot.pxRatio || 1))) continue; // zoomed away
          marks.push({ version: s.version, x, label: "v" + s.version + " " + String(mark.label || "resumed"), color: s.color, left });
        }
      }
      return marks;
    }

    /** Draws each resume as a dashed vertical line in its version's colour, labelled. */
    drawResumes(u) {
      const marks = this.resumeMarks();
      if (marks.length === 0) return;
      const ratio = window.uPlot.pxRatio || 1;
      const { top, height } = u.bbox;
      const ctx = u.ctx;
      ctx.save();
      ctx.font = Math.round(11 * ratio) + "px " + FONT.replace(/^\d+px /, "");
      ctx.textBaseline = "top";
      marks.forEach((mark, i) => {
        const px = Math.round(u.valToPos(mark.x, "x", true)) + 0.5;
        ctx.strokeStyle = mark.color;
        ctx.lineWidth = Math.max(1, ratio);
        ctx.setLineDash([5 * ratio, 3 * ratio]);
        ctx.beginPath();
        ctx.moveTo(px, top);
        ctx.lineTo(px, top + height);
        ctx.stroke();
        if (!this.compact) {
          // Beside the line, on the side with room for it.
          const right = px > u.bbox.left + u.bbox.width * 0.7;
          ctx.textAlign = right ? "right" : "left";
          ctx.fillStyle = mark.color;
          ctx.fillText(mark.label, px + (right ? -4 : 4) * ratio, top + (4 + 14 * (i % 4)) * ratio);
        }
      });
      ctx.restore();
    }

    /** Tests and benchmarks wait on these attributes of the chart's div. */
    countDraw() {
      performance.mark("expm:drawn");
      this.draws += 1;
      this.div.dataset.draws = String(this.draws);
      this.div.dataset.drawnAt = String(performance.now());
      this.onDrawn(this);
    }

    /** What is drawn, per uPlot series: {version, role, label, visible, x, y}. */
    traces() {
      return this.drawn.map((d, i) => ({
        version: d.version,
        role: d.role,
        label: d.label,
        visible: this.plot ? this.plot.series[i + 1].show !== false : true,
        x: d.x.slice(),
        y: d.y.slice(),
      }));
    }

    /** The axes as drawn: {xLabel, yLabel, yLog, xRange: [min, max] or null}. */
    describe() {
      if (!this.plot) return { xLabel: null, yLabel: null, yLog: false, xRange: null };
      const x = this.plot.scales.x;
      return {
        xLabel: this.plot.axes[0].label,
        yLabel: this.plot.axes[1].label,
        yLog: this.plot.scales.y.distr === 3,
        xRange: x.min === null || x.min === undefined ? null : [x.min, x.max],
      };
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
      if (generation !== this.generation || seq !== this.fetchSeq || !this.plot) return;
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
        const xs = (body.x || []).map(EXPM.plotNum);
        const ys = (body.y || []).map(EXPM.plotNum);
        const count = Math.min(xs.length, ys.length);
        const total = typeof body.total === "number" ? body.total : s.total + count;
        if (count === 0 || total <= s.total) continue;
        s.total = total;
        let unsorted = false;
        for (let i = 0; i < count; i++) {
          if (xs[i] === null) continue;
          if (s.x.length > 0 && xs[i] < s.x[s.x.length - 1]) unsorted = true;
          s.x.push(xs[i]);
          s.y.push(ys[i]);
          added += 1;
        }
        if (unsorted) sortCurve(s);
      }
      this.sinceFetch += added;
      if (added > 0) {
        this.draw();
        this.div.dataset.livePoints = String((Number(this.div.dataset.livePoints) || 0) + added);
      }
      if (added > 0 || statusChanged) this.onUpdate(this.info());
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

  return { Chart, emaApply, emaStart, colorFor, align };
})();
