// Hyperparameter views on canvas: parallel coordinates and a scatter plot.
//
// Both draw GET /api/experiments/{id}/hparams: one axis per hyperparameter that differs
// between versions plus a metric aggregate, one row per version, in the version's
// colour (the table's swatch). On the parallel coordinates, dragging along an axis
// brushes a range; versions outside any brush are greyed and the versions table shows
// only the brushed ones (a click on an axis without dragging clears its brush). The
// scatter plots any hyperparameter against the metric; a click on a point selects the
// version.
"use strict";

const HyperViews = (() => {
  const MARGIN = { top: 28, bottom: 24, left: 40, right: 40 };
  const GREY = "rgba(160, 166, 178, 0.35)";
  const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

  /** A scale of one axis: value -> 0..1 (null for a missing value). */
  function scaleFor(axis, values) {
    if (axis.kind === "category") {
      const cats = axis.categories || [];
      const index = new Map(cats.map((c, i) => [c, i]));
      return {
        at: (v) => (index.has(v) ? (cats.length === 1 ? 0.5 : index.get(v) / (cats.length - 1)) : null),
        ticks: cats.map((c, i) => [cats.length === 1 ? 0.5 : i / (cats.length - 1), c]),
      };
    }
    const nums = values.filter((v) => typeof v === "number" && Number.isFinite(v));
    let lo = Math.min(...nums);
    let hi = Math.max(...nums);
    if (!nums.length) [lo, hi] = [0, 1];
    const log = nums.length > 1 && lo > 0 && hi / lo >= 100; // learning rates: spread evenly
    const f = log ? Math.log10 : (x) => x;
    const a = f(lo);
    const b = f(hi);
    const at = (v) => (typeof v === "number" && Number.isFinite(v) && !(log && v <= 0) ? (b === a ? 0.5 : (f(v) - a) / (b - a)) : null);
    const ticks = [lo, hi].filter((v, i, all) => all.indexOf(v) === i).map((v) => [at(v), fmt(v)]);
    return { at, ticks, log };
  }

  function fmt(v) {
    if (typeof v !== "number" || !Number.isFinite(v)) return String(v);
    const abs = Math.abs(v);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return v.toExponential(1).replace("e+", "e");
    return String(Number(v.toPrecision(4)));
  }

  /** A canvas sized to its box at the screen's pixel ratio; returns its context. */
  function prepare(canvas, height) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(300, canvas.parentNode.clientWidth || 600);
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px"; // CSSOM: allowed by the CSP
    canvas.style.height = height + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.font = FONT;
    return { ctx, width, height };
  }

  class ParallelCoordinates {
    constructor(canvas, options) {
      this.canvas = canvas;
      this.height = options.height || 300;
      this.onBrush = options.onBrush || (() => {});
      this.data = null;
      this.brushes = new Map(); // axis index -> [lo, hi] in 0..1 (0 is the bottom)
      this.drag = null;
      canvas.parallelCoordinates = this; // tests read what is drawn from here
      canvas.addEventListener("mousedown", (e) => this.down(e));
      window.addEventListener("mousemove", (e) => this.move(e));
      window.addEventListener("mouseup", (e) => this.up(e));
    }

    show(data) {
      this.data = data;
      this.brushes.clear();
      this.draw();
    }

    axes() {
      const axes = (this.data.axes || []).map((a) => ({ key: a.key, kind: a.kind, categories: a.categories }));
      if (this.data.metric) axes.push({ key: this.data.metric + " " + this.data.agg, kind: "number", metric: true });
      return axes;
    }

    column(i) {
      const rows = this.data.versions || [];
      const axes = this.axes();
      return rows.map((r) => (axes[i].metric ? r.metric : r.values[i]));
    }

    /** Versions within every brush (all when nothing is brushed). */
    brushed() {
      const rows = this.data ? this.data.versions || [] : [];
      if (this.brushes.size === 0) return rows.map((r) => r.version);
      const scales = this.axes().map((a, i) => scaleFor(a, this.column(i)));
      return rows
        .filter((r, ri) =>
          [...this.brushes].every(([i, [lo, hi]]) => {
            const t = scales[i].at(this.column(i)[ri]);
            return t !== null && t >= lo && t <= hi;
          }),
        )
        .map((r) => r.version);
    }

    geometry(width) {
      const count = this.axes().length;
      const inner = width - MARGIN.left - MARGIN.right;
      const x = (i) => MARGIN.left + (count === 1 ? inner / 2 : (inner * i) / (count - 1));
      const y = (t) => MARGIN.top + (1 - t) * (this.height - MARGIN.top - MARGIN.bottom);
      return { x, y, count };
    }

    draw() {
      const { ctx, width } = prepare(this.canvas, this.height);
      ctx.clearRect(0, 0, width, this.height);
      if (!this.data || (this.data.versions || []).length === 0 || this.axes().length === 0) {
        ctx.fillStyle = "#6b7385";
        ctx.fillText("No hyperparameters that differ between versions.", MARGIN.left, this.height / 2);
        this.lines = 0;
        return;
      }
      const axes = this.axes();
      const { x, y } = this.geometry(width);
      const scales = axes.map((a, i) => scaleFor(a, this.column(i)));
      const keep = new Set(this.brushed());
      const rows = this.data.versions;
      let lines = 0;
      // Greyed lines first, coloured ones over them.
      for (const pass of [false, true]) {
        rows.forEach((r, ri) => {
          if (keep.has(r.version) !== pass) return;
          ctx.strokeStyle = pass ? MetricChart.colorFor(r.version) : GREY;
          ctx.lineWidth = pass ? 2 : 1;
          ctx.beginPath();
          let started = false;
          axes.forEach((_, i) => {
            const t = scales[i].at(this.column(i)[ri]);
            if (t === null) {
              started = false;
              return;
            }
            if (started) ctx.lineTo(x(i), y(t));
            else ctx.moveTo(x(i), y(t));
            started = true;
          });
          ctx.stroke();
          lines += 1;
        });
      }
      this.lines = lines;
      axes.forEach((a, i) => {
        ctx.strokeStyle = "#1d2433";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(x(i), y(0));
        ctx.lineTo(x(i), y(1));
        ctx.stroke();
        ctx.fillStyle = "#1d2433";
        ctx.textAlign = "center";
        ctx.fillText(a.key + (scales[i].log ? " (log)" : ""), x(i), MARGIN.top - 12);
        ctx.textAlign = "left";
        ctx.fillStyle = "#6b7385";
        for (const [t, label] of scales[i].ticks) if (t !== null) ctx.fillText(String(label).slice(0, 18), x(i) + 4, y(t) + 4);
        const brush = this.brushes.get(i);
        if (brush) {
          ctx.fillStyle = "rgba(36, 87, 197, 0.18)";
          ctx.fillRect(x(i) - 7, y(brush[1]), 14, y(brush[0]) - y(brush[1]));
        }
      });
      this.canvas.dataset.drawn = String((Number(this.canvas.dataset.drawn) || 0) + 1);
    }

    position(event) {
      const box = this.canvas.getBoundingClientRect();
      return [event.clientX - box.left, event.clientY - box.top, box.width];
    }

    down(event) {
      if (!this.data) return;
      const [px, py, width] = this.position(event);
      const { x, count } = this.geometry(width);
      for (let i = 0; i < count; i++) {
        if (Math.abs(px - x(i)) <= 12) {
          this.drag = { axis: i, from: py, to: py };
          event.preventDefault();
          return;
        }
      }
    }

    move(event) {
      if (!this.drag) return;
      this.drag.to = this.position(event)[1];
    }

    up() {
      if (!this.drag) return;
      const { axis, from, to } = this.drag;
      this.drag = null;
      const plot = this.height - MARGIN.top - MARGIN.bottom;
      const t = (py) => Math.min(1, Math.max(0, 1 - (py - MARGIN.top) / plot));
      if (Math.abs(to - from) < 3) this.brushes.delete(axis);
      else this.brushes.set(axis, [Math.min(t(from), t(to)), Math.max(t(from), t(to))]);
      this.draw();
      this.onBrush(this.brushes.size ? this.brushed() : null);
    }
  }

  class Scatter {
    constructor(canvas, options) {
      this.canvas = canvas;
      this.height = options.height || 300;
      this.onPick = options.onPick || (() => {});
      this.data = null;
      this.axis = 0;
      this.points = [];
      canvas.scatterPlot = this; // tests read what is drawn from here
      canvas.addEventListener("click", (e) => this.click(e));
    }

    show(data, axis) {
      this.data = data;
      this.axis = Math.max(0, Math.min(axis || 0, (data.axes || []).length - 1));
      this.draw();
    }

    draw() {
      const { ctx, width } = prepare(this.canvas, this.height);
      ctx.clearRect(0, 0, width, this.height);
      this.points = [];
      const axes = (this.data && this.data.axes) || [];
      const rows = (this.data && this.data.versions) || [];
      if (!axes.length || !this.data.metric) {
        ctx.fillStyle = "#6b7385";
        ctx.fillText(axes.length ? "No metric to plot against." : "No hyperparameters to plot.", MARGIN.left, this.height / 2);
        return;
      }
      const axis = axes[this.axis];
      const xs = scaleFor(axis, rows.map((r) => r.values[this.axis]));
      const ys = scaleFor({ kind: "number" }, rows.map((r) => r.metric));
      const left = MARGIN.left + 30;
      const X = (t) => left + t * (width - left - MARGIN.right);
      const Y = (t) => MARGIN.top + (1 - t) * (this.height - MARGIN.top - MARGIN.bottom);
      ctx.strokeStyle = "#cdd2db";
      ctx.strokeRect(left, MARGIN.top, width - left - MARGIN.right, this.height - MARGIN.top - MARGIN.bottom);
      ctx.fillStyle = "#6b7385";
      for (const [t, label] of xs.ticks) if (t !== null) ctx.fillText(String(label).slice(0, 18), X(t) - 10, this.height - 6);
      for (const [t, label] of ys.ticks) if (t !== null) ctx.fillText(String(label), 4, Y(t) + 4);
      ctx.fillStyle = "#1d2433";
      ctx.fillText(axis.key + (xs.log ? " (log)" : "") + "  →", left, this.height - 6 - 12);
      ctx.fillText("↑ " + this.data.metric + " " + this.data.agg, left + 4, MARGIN.top - 10);
      rows.forEach((r) => {
        const tx = xs.at(r.values[this.axis]);
        const ty = ys.at(r.metric);
        if (tx === null || ty === null) return;
        const px = X(tx);
        const py = Y(ty);
        ctx.fillStyle = MetricChart.colorFor(r.version);
        ctx.beginPath();
        ctx.arc(px, py, 5, 0, 2 * Math.PI);
        ctx.fill();
        this.points.push({ version: r.version, x: px, y: py });
      });
      this.canvas.dataset.drawn = String((Number(this.canvas.dataset.drawn) || 0) + 1);
    }

    click(event) {
      const box = this.canvas.getBoundingClientRect();
      const px = event.clientX - box.left;
      const py = event.clientY - box.top;
      let best = null;
      for (const p of this.points) {
        const d = Math.hypot(p.x - px, p.y - py);
        if (d <= 8 && (!best || d < best.d)) best = { d, version: p.version };
      }
      if (best) this.onPick(best.version);
    }
  }

  return { ParallelCoordinates, Scatter, scaleFor };
})();
