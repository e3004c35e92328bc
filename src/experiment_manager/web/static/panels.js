// The workspace: a grid of chart panels, one per metric, for the selected versions.
//
// Metrics are grouped by the prefix before their first "/" (train/loss and train/acc
// together), metrics without one first, and system/ metrics in a group of their own at
// the end (the same rules as GET /api/experiments/{id}/panels). A panel can be
// collapsed, enlarged (the grid's full width, taller) and moved within its group; the
// layout is kept in the browser per experiment. A panel asks for its curves only once
// it is near the screen, so a workspace of many metrics costs what is in view. Zooming
// one panel zooms the others (sync zoom, on by default).
//
// First draw: the panels on screen are found from their boxes as soon as the grid is
// built (not at the observer's first report, a frame or more later), their curves come
// in one request (GET /api/experiments/{id}/panels/series, every metric at once), at
// about one point per horizontal pixel of a panel, and every panel takes the width the
// grid was measured at once, so drawing them forces no layout per panel.
"use strict";

const MetricPanels = (() => {
  const { el, clear } = EXPM;
  const HEIGHT = 220;
  const WIDE_HEIGHT = 380;
  const MIN_PANEL_WIDTH = 380; // style.css: .panel-grid's column width
  const SYSTEM = "system";
  // Metrics per /panels/series request: a screen of panels goes in a few requests that
  // the server works on side by side, and the first panels are drawn while it reads
  // the others.
  const BATCH = 4;
  const PIXELS_PER_BUCKET = 3;

  /** Groups of metric names: [{name, system, metrics}], as the API's /panels gives them. */
  function groupMetrics(names) {
    const groups = new Map();
    for (const name of names) {
      const cut = name.indexOf("/");
      const prefix = cut > 0 ? name.slice(0, cut) : "";
      if (!groups.has(prefix)) groups.set(prefix, []);
      groups.get(prefix).push(name);
    }
    const order = [...groups.keys()].sort((a, b) => {
      const rank = (g) => (g === "" ? 0 : g === SYSTEM ? 2 : 1);
      return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
    });
    return order.map((prefix) => ({
      name: prefix,
      system: prefix === SYSTEM,
      metrics: groups.get(prefix).slice().sort(),
    }));
  }

  class Workspace {
    constructor(container, options) {
      this.container = container;
      this.experimentId = options.experimentId;
      this.syncZoom = options.syncZoom !== false;
      this.panels = new Map(); // metric -> {node, chart, visible, collapsed, wide}
      this.view = null; // {x, logY, smoothing, versions}
      this.metrics = [];
      this.filter = "";
      this.layout = this.loadLayout();
      this.batch = null; // the requests waiting to leave together: {key, params, metrics, waiting}
      this.widths = null; // {narrow, wide}: a panel's plot width, measured once per layout
      // Resolved once the panels on the first screen have drawn (or could not): the
      // page's other charts wait for it (see MetricChart's `after`).
      this.firstScreen = new Promise((resolve) => {
        this.firstScreenDone = resolve;
      });
      this.firstPending = null; // the first screen's panels not drawn yet
      this.observer = window.IntersectionObserver
        ? new IntersectionObserver((entries) => this.onIntersect(entries), { rootMargin: "0px" })
        : null;
      container.metricPanels = this; // tests and benchmarks read the panels from here
      window.addEventListener("resize", () => {
        this.widths = null; // new panels read their own box until the next first draw
      });
    }

    // ---- Layout kept in the browser ----------------------------------------------------

    storageKey() {
      return "expm.panels." + this.experimentId;
    }

    loadLayout() {
      try {
        const stored = JSON.parse(window.localStorage.getItem(this.storageKey()) || "null");
        if (stored && typeof stored === "object") {
          return {
            order: Array.isArray(stored.order) ? stored.order.filter((m) => typeof m === "string") : [],
            collapsed: Array.isArray(stored.collapsed) ? stored.collapsed : [],
            wide: Array.isArray(stored.wide) ? stored.wide : [],
            closedGroups: Array.isArray(stored.closedGroups) ? stored.closedGroups : [],
          };
        }
      } catch (error) {
        // storage may be disabled or hold something else: start from the default layout
      }
      return { order: [], collapsed: [], wide: [], closedGroups: [] };
    }

    saveLayout() {
      try {
        window.localStorage.setItem(this.storageKey(), JSON.stringify(this.layout));
      } catch (error) {
        // storage may be disabled: the layout lasts for this page only
      }
    }

    resetLayout() {
      this.layout = { order: [], collapsed: [], wide: [], closedGroups: [] };
      try {
        window.localStorage.removeItem(this.storageKey());
      } catch (error) {
        // nothing stored
      }
      this.render(true);
    }

    /** A group's metrics in the user's order (moved ones first where they were put). */
    ordered(metrics) {
      const rank = new Map(this.layout.order.map((m, i) => [m, i]));
      return metrics.slice().sort((a, b) => {
        const ra = rank.has(a) ? rank.get(a) : Infinity;
        const rb = rank.has(b) ? rank.get(b) : Infinity;
        return ra - rb || (a < b ? -1 : a > b ? 1 : 0);
      });
    }

    // ---- Showing -------------------------------------------------------------------------

    /** Shows the selected versions in one panel per metric; panels in view load now. */
    show(view, metrics) {
      this.view = Object.assign({}, view);
      const names = (metrics || []).slice();
      const changed = names.join("\n") !== this.metrics.join("\n");
      this.metrics = names;
      if (changed || this.panels.size === 0) {
        this.render(true);
        this.findVisible();
      }
      for (const panel of this.panels.values()) {
        panel.stale = true;
        if (panel.visible && !panel.collapsed) this.load(panel);
      }
    }

    /**
     * Which panels are on screen, from their boxes (one layout for all of them), so the
     * first request leaves now rather than at the observer's first report. The panels'
     * plot width is measured in the same pass.
     */
    findVisible() {
      const height = window.innerHeight || 1000;
      const nodes = [...this.panels.values()];
      const boxes = nodes.map((panel) => panel.node.getBoundingClientRect());
      nodes.forEach((panel, i) => {
        const box = boxes[i];
        if (box.height > 0 && box.bottom > 0 && box.top < height) panel.visible = true;
      });
      this.measure();
      if (this.firstPending === null) {
        const shown = this.view && this.view.versions.length > 0;
        this.firstPending = new Set(shown ? nodes.filter((p) => p.visible && !p.collapsed).map((p) => p.metric) : []);
        // Whatever happens (an error, a slow server), the rest of the page waits no longer.
        window.setTimeout(() => this.firstScreenDone(), 3000);
        if (this.firstPending.size === 0) this.firstScreenDone();
      }
    }

    /** A panel drew: when it was the first screen's last, the rest of the page may draw. */
    panelDrawn(panel) {
      if (!this.firstPending || !this.firstPending.delete(panel.metric)) return;
      if (this.firstPending.size === 0) this.firstScreenDone();
    }

    /** A narrow and a wide panel's plot width (what the grid gives them), read once. */
    measure() {
      const narrow = [...this.panels.values()].find((p) => !p.wide && !p.collapsed && !p.node.hidden);
      const wide = [...this.panels.values()].find((p) => p.wide && !p.collapsed && !p.node.hidden);
      const width = (panel) => (panel ? panel.chartDiv.clientWidth : 0);
      this.widths = { narrow: width(narrow), wide: width(wide) };
    }

    plotWidth(panel) {
      if (!this.widths) return 0;
      return panel.wide ? this.widths.wide : this.widths.narrow;
    }

    /**
     * One request for every panel that asks in this turn of the event loop: the
     * panels' series requests differ only in their metric, so they go together.
     */
    loadBatched(metric, params, signal) {
      const { metric: _omitted, ...shared } = params;
      const key = JSON.stringify(shared);
      if (!this.batch || this.batch.key !== key || this.batch.metrics.length >= BATCH) {
        const batch = { key, params: shared, metrics: [], waiting: new Map() };
        this.batch = batch;
        queueMicrotask(() => this.sendBatch(batch));
      }
      const batch = this.batch;
      return new Promise((resolve, reject) => {
        if (!batch.waiting.has(metric)) {
          batch.metrics.push(metric);
          batch.waiting.set(metric, []);
        }
        batch.waiting.get(metric).push({ resolve, reject, signal });
      });
    }

    async sendBatch(batch) {
      if (this.batch === batch) this.batch = null;
      performance.mark("expm:panels-request");
      let body;
      try {
        body = await EXPM.apiMany(["experiments", this.experimentId, "panels", "series"], batch.params, "metric", batch.metrics);
      } catch (error) {
        for (const waiters of batch.waiting.values()) for (const w of waiters) w.reject(error);
        return;
      }
      performance.mark("expm:panels-parsed");
      const results = new Map((body.results || []).map((r) => [r.metric, r]));
      for (const [metric, waiters] of batch.waiting) {
        const found = results.get(metric);
        for (const w of waiters) {
          if (w.signal && w.signal.aborted) w.reject(new DOMException("aborted", "AbortError"));
          else if (found) w.resolve({ metric, x: body.x, series: found.series });
          else w.reject(new Error("no answer for metric " + metric));
        }
      }
    }

    setFilter(text) {
      this.filter = text.trim().toLowerCase();
      for (const [metric, panel] of this.panels) {
        panel.node.hidden = Boolean(this.filter) && !metric.toLowerCase().includes(this.filter);
      }
      for (const group of this.container.querySelectorAll(".panel-group")) {
        group.hidden = ![...group.querySelectorAll(".metric-panel")].some((node) => !node.hidden);
      }
    }

    render(rebuild) {
      if (!rebuild) return;
      for (const panel of this.panels.values()) {
        if (this.observer) this.observer.unobserve(panel.node);
        if (panel.chart) panel.chart.stopPolling();
        if (panel.chart) panel.chart.destroyPlot();
      }
      this.panels.clear();
      const container = clear(this.container);
      if (this.metrics.length === 0) {
        container.appendChild(el("p", { className: "muted", text: "No metrics logged yet." }));
        return;
      }
      for (const group of groupMetrics(this.metrics)) {
        const title = group.name === "" ? "Metrics" : group.name + "/";
        const details = el("details", { className: "panel-group", dataset: { group: group.name } });
        details.open = !this.layout.closedGroups.includes(group.name);
        details.addEventListener("toggle", () => {
          const closed = new Set(this.layout.closedGroups);
          if (details.open) closed.delete(group.name);
          else closed.add(group.name);
          this.layout.closedGroups = [...closed];
          this.saveLayout();
          if (details.open) this.loadVisible();
        });
        details.appendChild(
          el("summary", null, el("span", { className: "group-title", text: title }), el("span", { className: "muted", text: " " + group.metrics.length + (group.metrics.length === 1 ? " metric" : " metrics") })),
        );
        const grid = el("div", { className: "panel-grid" });
        for (const metric of this.ordered(group.metrics)) grid.appendChild(this.makePanel(metric, group));
        details.appendChild(grid);
        container.appendChild(details);
      }
      if (this.filter) this.setFilter(this.filter);
      this.widths = null;
      this.container.dataset.panels = String(this.panels.size);
    }

    makePanel(metric, group) {
      const collapsed = this.layout.collapsed.includes(metric);
      const wide = this.layout.wide.includes(metric);
      const button = (label, title, action) => {
        const b = el("button", { type: "button", className: "panel-button", text: label, title, attrs: { "aria-label": title + ": " + metric } });
        b.addEventListener("click", action);
        return b;
      };
      const chartDiv = el("div", { className: "panel-chart", dataset: { metric } });
      const node = el("div", { className: "metric-panel" + (wide ? " wide" : "") + (collapsed ? " collapsed" : ""), dataset: { metric } });
      const panel = { metric, group: group.name, node, chartDiv, chart: null, visible: false, collapsed, wide, stale: true };
      const head = el(
        "div",
        { className: "metric-panel-head" },
        el("span", { className: "metric-name", text: metric, title: metric }),
        el(
          "span",
          { className: "panel-tools" },
          button("◀", "Move earlier", () => this.move(panel, -1)),
          button("▶", "Move later", () => this.move(panel, 1)),
          button(wide ? "⤡" : "⤢", wide ? "Shrink" : "Enlarge", () => this.toggleWide(panel)),
          button(collapsed ? "▸" : "▾", collapsed ? "Expand" : "Collapse", () => this.toggleCollapsed(panel)),
        ),
      );
      node.append(head, chartDiv);
      chartDiv.hidden = collapsed;
      this.panels.set(metric, panel);
      if (this.observer) this.observer.observe(node);
      else panel.visible = true;
      return node;
    }

    chartFor(panel) {
      if (panel.chart) return panel.chart;
      panel.chart = new MetricChart.Chart(panel.chartDiv, {
        experimentId: this.experimentId,
        height: panel.wide ? WIDE_HEIGHT : HEIGHT,
        compact: true,
        bucketWidth: () => this.panelWidth(panel),
        widthHint: () => this.plotWidth(panel),
        loader: (params, signal) => this.loadBatched(panel.metric, params, signal),
        onDrawn: () => this.panelDrawn(panel),
        onZoom: (range) => this.zoomed(panel, range),
      });
      return panel.chart;
    }

    /** A panel's bucket count: from its measured width, else from the window's. */
    panelWidth(panel) {
      const measured = this.plotWidth(panel);
      // A bucket per PIXELS_PER_BUCKET pixels of the plot area: its min and max keep
      // every spike, and a small panel shows no more (zooming in refetches the range).
      if (measured > 0) return Math.max(60, Math.floor((measured - 60) / PIXELS_PER_BUCKET));
      const page = Math.min(window.innerWidth || 1000, 1800) - 70;
      if (panel.wide) return Math.max(100, Math.floor((page - 80) / PIXELS_PER_BUCKET));
      const columns = Math.max(1, Math.floor(page / MIN_PANEL_WIDTH));
      return Math.max(60, Math.floor((page / columns - 80) / PIXELS_PER_BUCKET));
    }

    load(panel) {
      if (!this.view || !panel.stale) return;
      panel.stale = false;
      const chart = this.chartFor(panel);
      if (this.syncZoom && this.range !== undefined && this.range !== null) chart.pendingRange = this.range;
      chart.show(Object.assign({}, this.view, { metric: panel.metric }));
    }

    loadVisible() {
      for (const panel of this.panels.values()) if (panel.visible && !panel.collapsed) this.load(panel);
    }

    onIntersect(entries) {
      for (const entry of entries) {
        const panel = this.panels.get(entry.target.dataset.metric);
        if (!panel) continue;
        panel.visible = entry.isIntersecting;
        if (panel.visible && !panel.collapsed) this.load(panel);
      }
    }

    // ---- Panel tools -----------------------------------------------------------------

    move(panel, step) {
      const grid = panel.node.parentNode;
      const nodes = [...grid.children];
      const index = nodes.indexOf(panel.node);
      const target = index + step;
      if (target < 0 || target >= nodes.length) return;
      if (step < 0) grid.insertBefore(panel.node, nodes[target]);
      else grid.insertBefore(panel.node, nodes[target].nextSibling);
      // Remember every panel's place in this group, in front of the others.
      const placed = [...grid.children].map((node) => node.dataset.metric);
      this.layout.order = placed.concat(this.layout.order.filter((m) => !placed.includes(m)));
      this.saveLayout();
    }

    toggleWide(panel) {
      panel.wide = !panel.wide;
      panel.node.classList.toggle("wide", panel.wide);
      const wide = new Set(this.layout.wide);
      if (panel.wide) wide.add(panel.metric);
      else wide.delete(panel.metric);
      this.layout.wide = [...wide];
      this.saveLayout();
      const b = panel.node.querySelector(".panel-tools button:nth-child(3)");
      b.textContent = panel.wide ? "⤡" : "⤢";
      b.title = panel.wide ? "Shrink" : "Enlarge";
      this.widths = null; // measured again at the next first draw
      if (panel.chart) {
        panel.chart.height = panel.wide ? WIDE_HEIGHT : HEIGHT;
        window.requestAnimationFrame(() => {
          if (panel.chart.plot) panel.chart.plot.setSize({ width: panel.chart.measuredWidth(), height: panel.chart.height });
        });
      }
    }

    toggleCollapsed(panel) {
      panel.collapsed = !panel.collapsed;
      panel.node.classList.toggle("collapsed", panel.collapsed);
      panel.chartDiv.hidden = panel.collapsed;
      const collapsed = new Set(this.layout.collapsed);
      if (panel.collapsed) collapsed.add(panel.metric);
      else collapsed.delete(panel.metric);
      this.layout.collapsed = [...collapsed];
      this.saveLayout();
      const b = panel.node.querySelector(".panel-tools button:nth-child(4)");
      b.textContent = panel.collapsed ? "▸" : "▾";
      b.title = panel.collapsed ? "Expand" : "Collapse";
      if (!panel.collapsed && panel.visible) this.load(panel);
    }

    /** One panel was zoomed by the user: the others follow when zoom is synced. */
    zoomed(source, range) {
      if (!this.syncZoom) return;
      this.range = range;
      for (const panel of this.panels.values()) {
        if (panel === source || !panel.chart) continue;
        panel.chart.zoomTo(range, true);
      }
    }

    setSyncZoom(on) {
      this.syncZoom = Boolean(on);
      if (!on) this.range = undefined;
    }

    /** What each panel shows, for tests: [{metric, group, loaded, collapsed, wide, drawn}]. */
    describe() {
      return [...this.container.querySelectorAll(".metric-panel")].map((node) => {
        const panel = this.panels.get(node.dataset.metric);
        return {
          metric: panel.metric,
          group: panel.group,
          loaded: Boolean(panel.chart && panel.chart.plot),
          requested: Boolean(panel.chart),
          collapsed: panel.collapsed,
          wide: panel.wide,
          hidden: node.hidden,
          draws: panel.chart ? panel.chart.draws : 0,
        };
      });
    }
  }

  return { Workspace, groupMetrics };
})();
