// The experiment page: its versions (sorted, filtered and paged by the server, with chosen
// columns), curves of the selected versions, what differs between them, and their
// checkpoints. The selection, the metric, the chart options and the filter live in the URL
// query so a view can be shared. Grouped by a hyperparameter or tag, the table lists each
// group under a header row with its count (the server orders the rows group by group).
// On a dashboard started with --allow-edits (the page then carries the server's edit
// token), names and tags are edited in the table.
"use strict";

(() => {
  const { el, clear, api } = EXPM;
  const AGGREGATES = ["last", "min", "max", "mean", "count"];
  // One page of rows at a time: an experiment may have 10,000 versions, and the table
  // holds only what is on screen (the server sorts and filters all of them).
  const PAGE_SIZE = 100;
  const FILTER_DELAY_MS = 200;
  const REFRESH_MS = 5000;
  // Differ between any two runs whatever was changed: hidden from the diff unless asked.
  // The most versions one range of a link may name (as the API's version lists).
  const MAX_URL_RANGE = 10000;

  const experimentId = EXPM.pathParts()[1] || "";
  const params = new URLSearchParams(window.location.search);

  const state = {
    rows: [], // the page's summaries, in the server's order
    known: new Map(), // every summary received, by version (the selection's labels, checkpoints)
    total: 0, // versions passing the filter
    versionCount: 0,
    statusCounts: {},
    info: null, // the server's description of the columns
    offset: 0,
    selected: new Set(),
    metric: params.get("metric") || "",
    x: ["step", "time", "index"].includes(params.get("x")) ? params.get("x") : "step",
    logY: params.get("log") === "1",
    smoothing: clampSmoothing(params.get("smooth")),
    filter: params.get("filter") || "",
    groupBy: params.get("group") || "",
    showArchived: params.get("archived") === "1",
    groupBand: params.get("band") === "std" ? "std" : "minmax",
    sort: { sortKey: "version", sortDir: -1 },
    columns: [],
    visible: new Set(),
    rawSignature: "",
  };
  let table = null;
  let chart = null;
  let panels = null;
  let parallel = null;
  let scatter = null;
  let hpData = null;
  let groups = null;
  let groupSeq = 0;
  let hpSeq = 0;
  let hpWanted = false; // the section has been in view: its data is kept up to date
  let compareSeq = 0;
  let pageSeq = 0;
  let refreshTimer = null;
  let filterTimer = null;
  let lastRefresh = 0;
  const editable = EXPM.editToken() !== null;
  const collapsedGroups = new Set();

  function clampSmoothing(value) {
    const n = Number(value);
    return Number.isFinite(n) ? Math.min(0.99, Math.max(0, n)) : 0;
  }

  // ---- URL state ------------------------------------------------------------------

  /**
   * A version list as the CLI and the API read one (`3`, `1-6`, `1,3,5-7`): the
   * versions, or a thrown Error naming the part that is not one.
   */
  function parseVersionList(text) {
    const out = new Set();
    for (const raw of text.split(",")) {
      const part = raw.trim();
      const match = /^(\d{1,9})\s*(?:-\s*(\d{1,9}))?$/.exec(part);
      if (!match) throw new Error("versions " + JSON.stringify(part) + ": expected a version number or a range such as 2-4");
      const first = Number(match[1]);
      const last = match[2] === undefined ? first : Number(match[2]);
      if (first < 1) throw new Error("versions " + JSON.stringify(part) + ": versions start at 1");
      if (last < first) throw new Error("versions " + JSON.stringify(part) + ": the range runs backwards");
      if (last - first >= MAX_URL_RANGE) throw new Error("versions " + JSON.stringify(part) + ": a range may name at most " + MAX_URL_RANGE + " versions");
      for (let v = first; v <= last; v++) out.add(v);
    }
    return [...out];
  }

  /**
   * A version list as the CLI and the API read one (`3`, `1-6`, `1,3,5-7`): the
   * versions, or a thrown Error naming the part that is not one.
   */
  function parseVersionList(text) {
    const out = new Set();
    for (const raw of text.split(",")) {
      const part = raw.trim();
      const match = /^(\d{1,9})\s*(?:-\s*(\d{1,9}))?$/.exec(part);
      if (!match) throw new Error("versions " + JSON.stringify(part) + ": expected a version number or a range such as 2-4");
      const first = Number(match[1]);
      const last = match[2] === undefined ? first : Number(match[2]);
      if (first < 1) throw new Error("versions " + JSON.stringify(part) + ": versions start at 1");
      if (last < first) throw new Error("versions " + JSON.stringify(part) + ": the range runs backwards");
      if (last - first >= MAX_URL_RANGE) throw new Error("versions " + JSON.stringify(part) + ": a range may name at most " + MAX_URL_RANGE + " versions");
      for (let v = first; v <= last; v++) out.add(v);
    }
    return [...out];
  }

  /** Sorted versions written back as the shortest list: runs of three or more as ranges. */
  function formatVersionList(sorted) {
    const parts = [];
    for (let i = 0; i < sorted.length; ) {
      let end = i;
      while (end + 1 < sorted.length && sorted[end + 1] === sorted[end] + 1) end++;
      if (end - i >= 2) parts.push(sorted[i] + "-" + sorted[end]);
      else for (let k = i; k <= end; k++) parts.push(String(sorted[k]));
      i = end + 1;
    }
    return parts.join(",");
  }

  function selectedList() {
    return [...state.selected].sort((a, b) => a - b);
  }

  function writeUrl() {
    const query = new URLSearchParams();
    query.set("versions", selectedList().join(","));
    if (state.metric) query.set("metric", state.metric);
    if (state.x !== "step") query.set("x", state.x);
    if (state.logY) query.set("log", "1");
    if (state.smoothing > 0) query.set("smooth", String(state.smoothing));
    if (state.filter) query.set("filter", state.filter);
    if (state.groupBy) query.set("group", state.groupBy);
    if (state.showArchived) query.set("archived", "1");
    if (state.groupBy && state.groupBand !== "minmax") query.set("band", state.groupBand);
    const url = window.location.pathname + "?" + query.toString().replace(/%2C/g, ",");
    // Unchanged (a shared link as opened): a history call would only cost time.
    if (url !== window.location.pathname + window.location.search) {
      window.history.replaceState(null, "", url);
    }
  }

  // ---- Columns --------------------------------------------------------------------

  function distinct(values) {
    return new Set(values.map((v) => JSON.stringify(v === undefined ? null : v))).size;
  }

  /** The columns the versions can show, from the server's description of all of them. */
  function buildColumns(info) {
    const hpKeys = info.hyperparameters || [];
    const metaKeys = info.metadata || [];
    state.metricNames = (info.metrics || []).map((m) => m.name);
    const columns = [
      { key: "version", label: "Version", group: "Run", fixed: true, className: "num", defaultDir: -1, sort: "version", cell: (v) => versionCell(v) },
      { key: "name", label: "Name", group: "Run", sort: "name", cell: (v) => nameCell(v), default: true },
      { key: "tags", label: "Tags", group: "Run", cell: (v) => tagsCell(v), default: true },
      { key: "status", label: "Status", group: "Run", fixed: true, sort: "status", cell: (v) => EXPM.statusChip(v.status) },
      { key: "created_at", label: "Created", group: "Run", fixed: true, defaultDir: -1, sort: "created_at", cell: (v) => EXPM.timeCell(v.created_at) },
      { key: "duration", label: "Duration", group: "Run", fixed: true, className: "num", sort: "duration", cell: (v) => durationCell(v) },
      { key: "config_name", label: "Config", group: "Run", sort: "config_name", cell: (v) => valueSpan(v.config_name), default: Boolean(info.config_varies) },
      { key: "ended_at", label: "Ended", group: "Run", defaultDir: -1, sort: "ended_at", cell: (v) => EXPM.timeCell(v.ended_at) },
      { key: "last_logged_at", label: "Last logged", group: "Run", defaultDir: -1, sort: "last_logged_at", cell: (v) => EXPM.timeCell(v.last_logged_at) },
      { key: "checkpoints", label: "Checkpoints", group: "Run", className: "num", defaultDir: -1, sort: "checkpoints", cell: (v) => String((v.checkpoints || []).length), default: Boolean(info.checkpoints) },
      { key: "resumed", label: "Resumed", group: "Run", className: "num", defaultDir: -1, sort: "resumed", cell: (v) => ((v.resumed || []).length ? String(v.resumed.length) : ""), default: Boolean(info.resumed) },
      { key: "error", label: "Error", group: "Run", sort: "error", cell: (v) => valueSpan(errorText(v.error), "error-text"), default: Boolean(info.errors) },
    ];
    const varying = hpKeys.filter((c) => c.varies).map((c) => c.key);
    const defaultHp = new Set(varying.length > 0 ? varying.slice(0, 12) : hpKeys.slice(0, 6).map((c) => c.key));
    for (const { key, sort } of hpKeys) {
      columns.push({ key: "hp:" + key, label: key, title: "hyperparameters." + key, group: "Hyperparameters", className: "hp", sort, cell: (v) => valueSpan(key in v._hp ? EXPM.fmtValue(v._hp[key]) : ""), default: defaultHp.has(key) });
    }
    for (const { key, sort, varies } of metaKeys) {
      columns.push({ key: "meta:" + key, label: key, title: "metadata." + key, group: "Metadata", sort, cell: (v) => valueSpan(key in v._meta ? EXPM.fmtValue(v._meta[key]) : ""), default: varies && state.versionCount > 1 });
    }
    (info.metrics || []).forEach(({ name, sort }, index) => {
      for (const agg of AGGREGATES) {
        columns.push({
          key: "m:" + agg + ":" + name,
          label: name + " " + agg,
          title: "metrics." + name + "." + agg,
          group: "Metrics",
          className: "num",
          defaultDir: agg === "count" ? -1 : 1,
          sort: sort + "." + agg,
          cell: (v) => metricCell(v, name, agg),
          default: agg === "last" && index < 8,
        });
      }
    });
    state.columns = columns;
  }

  /** The version's link, after a swatch of the colour its curves have in every chart. */
  function versionCell(v) {
    const swatch = el("span", { className: "swatch", attrs: { "aria-hidden": "true" } });
    swatch.style.backgroundColor = MetricChart.colorFor(v.version); // CSSOM: allowed by the CSP
    return el("span", { className: "version-cell" }, swatch, el("a", { href: EXPM.versionUrl(experimentId, v.version), text: "v" + v.version }));
  }

  function nameCell(v) {
    const span = valueSpan(v.name);
    if (v.archived) span.appendChild(el("span", { className: "archived-mark muted", text: " (archived)" }));
    if (!editable) return span;
    const edit = el("button", { type: "button", className: "edit-button", text: "✎", title: "Rename", attrs: { "aria-label": "Rename v" + v.version } });
    edit.addEventListener("click", () => {
      const input = el("input", { type: "text", className: "edit-input", value: v.name || "", attrs: { "aria-label": "New name of v" + v.version, maxlength: "200" } });
      const cell = edit.parentNode;
      clear(cell).appendChild(input);
      input.focus();
      input.select();
      finishOnEnter(input, (text) => edit_(v, "name", { name: text }), () => clear(cell).append(nameCell(v)));
    });
    return el("span", { className: "editable" }, span, edit);
  }

  function tagsCell(v) {
    const tags = Array.isArray(v.tags) ? v.tags : [];
    const chips = tags.map((tag) => {
      const chip = el("span", { className: "tag", text: String(tag) });
      if (editable) {
        const remove = el("button", { type: "button", className: "tag-remove", text: "×", title: "Remove this tag", attrs: { "aria-label": "Remove tag " + tag + " from v" + v.version } });
        remove.addEventListener("click", () => edit_(v, "tags", { remove: [tag] }));
        chip.appendChild(remove);
      }
      return chip;
    });
    const span = el("span", { className: "tags" }, chips);
    if (!editable) return span;
    const add = el("button", { type: "button", className: "edit-button", text: "+", title: "Add a tag", attrs: { "aria-label": "Add a tag to v" + v.version } });
    add.addEventListener("click", () => {
      const input = el("input", { type: "text", className: "edit-input tag-input", attrs: { "aria-label": "New tag of v" + v.version, maxlength: "64" } });
      add.replaceWith(input);
      input.focus();
      finishOnEnter(input, (text) => edit_(v, "tags", { add: text.split(/[\s,]+/).filter(Boolean) }), () => input.replaceWith(add));
    });
    span.appendChild(add);
    return span;
  }

  /** Enter saves the input's text (unless empty), Escape or leaving the field cancels. */
  function finishOnEnter(input, save, cancel) {
    let done = false;
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        const text = input.value.trim();
        done = true;
        if (text) save(text);
        else cancel();
      } else if (event.key === "Escape") {
        done = true;
        cancel();
      }
    });
    input.addEventListener("blur", () => {
      if (!done) cancel();
    });
  }

  /** Sends an edit, then shows the versions and curves as the server now lists them. */
  async function edit_(v, what, body) {
    const status = document.getElementById("edit-status");
    status.textContent = "Saving…";
    try {
      await EXPM.post(["experiments", experimentId, "versions", v.version, what], body);
    } catch (error) {
      clear(status).appendChild(EXPM.errorBox(error, "Could not save."));
      renderTable(false);
      return;
    }
    status.textContent = "Saved.";
    state.known.delete(v.version);
    await showPage();
    try {
      await ensureKnown(selectedList());
    } catch (error) {
      // the labels wait for the next refresh
    }
    updateChart();
    document.body.dataset.edited = String(Number(document.body.dataset.edited || 0) + 1);
  }

  function metricCell(v, name, agg) {
    const s = (v.metric_summaries || {})[name];
    if (!s) return "";
    const span = el("span", { text: EXPM.fmtNum(s[agg]) });
    const at = agg === "min" ? s.argmin_step : agg === "max" ? s.argmax_step : undefined;
    span.title =
      name + " " + agg + " = " + String(s[agg]) + (at !== undefined && at !== null ? " at step " + at : "") +
      "\nlast " + EXPM.fmtNum(s.last) + " · min " + EXPM.fmtNum(s.min) + " · max " + EXPM.fmtNum(s.max) +
      " · mean " + EXPM.fmtNum(s.mean) + " · count " + EXPM.fmtNum(s.count);
    return span;
  }

  function valueSpan(text, className) {
    const value = text === undefined || text === null ? "" : String(text);
    return el("span", { className: "cell-value" + (className ? " " + className : ""), text: value, title: value.length > 24 ? value : undefined });
  }

  function errorText(error) {
    if (!error) return "";
    if (typeof error === "string") return error;
    if (typeof error === "object") return [error.type, error.message].filter(Boolean).join(": ") || JSON.stringify(error);
    return String(error);
  }

  function durationOf(v) {
    const d = EXPM.num(v.duration);
    if (d !== null && Number.isFinite(d)) return d;
    if (v.status === "running") {
      const start = EXPM.parseTime(v.created_at);
      if (start) return (Date.now() - start.getTime()) / 1000;
    }
    return null;
  }

  function durationCell(v) {
    const d = durationOf(v);
    return el("span", { text: EXPM.fmtDuration(d), className: v.status === "running" ? "running-duration" : "" });
  }

  function storageKey() {
    return "expm.columns." + experimentId;
  }

  function loadVisible() {
    let stored = null;
    try {
      stored = JSON.parse(window.localStorage.getItem(storageKey()) || "null");
    } catch (error) {
      stored = null;
    }
    const known = new Set(state.columns.map((c) => c.key));
    if (Array.isArray(stored) && stored.some((key) => known.has(key))) {
      state.visible = new Set(stored.filter((key) => known.has(key)));
    } else {
      state.visible = new Set(state.columns.filter((c) => c.default).map((c) => c.key));
    }
  }

  function saveVisible(reset) {
    try {
      if (reset) window.localStorage.removeItem(storageKey());
      else window.localStorage.setItem(storageKey(), JSON.stringify([...state.visible]));
    } catch (error) {
      // storage may be disabled: columns then last for this page only
    }
  }

  function renderColumnChooser() {
    const count = state.columns.filter((c) => !c.fixed && state.visible.has(c.key)).length;
    document.querySelector("#column-chooser summary").textContent = "Columns (" + count + ")";
    // Hundreds of checkboxes for a wide experiment: built when the chooser is open only.
    if (!document.getElementById("column-chooser").open) return;
    const list = clear(document.getElementById("column-list"));
    const search = document.getElementById("column-search").value.toLowerCase();
    let group = null;
    let box = null;
    for (const column of state.columns) {
      if (column.fixed) continue;
      if (search && !(column.title || column.label).toLowerCase().includes(search)) continue;
      if (column.group !== group) {
        group = column.group;
        box = el("fieldset", { className: "chooser-group" }, el("legend", { text: group }));
        list.appendChild(box);
      }
      const input = el("input", { type: "checkbox", checked: state.visible.has(column.key), dataset: { column: column.key } });
      input.addEventListener("change", () => {
        if (input.checked) state.visible.add(column.key);
        else state.visible.delete(column.key);
        saveVisible(false);
        renderTable(true);
      });
      box.appendChild(el("label", { className: "chooser-item", title: column.title || column.label }, input, " ", column.label));
    }
  }

  // ---- Versions table: one page from the server ------------------------------------

  /** A summary with its flattened keys, remembered by version. */
  function accept(v) {
    v._hp = EXPM.flatten(v.hyperparameters || {});
    v._meta = EXPM.flatten(v.metadata || {});
    state.known.set(v.version, v);
    return v;
  }

  function pageQuery() {
    const column = state.columns.find((c) => c.key === state.sort.sortKey);
    return {
      sort: column ? column.sort : "version",
      order: state.sort.sortDir > 0 ? "asc" : "desc",
      offset: state.offset,
      limit: PAGE_SIZE,
      filter: state.filter,
      // Brushed on the parallel coordinates: only those versions (a brush that holds
      // none asks for a number no version has, for an empty page).
      versions: state.brush ? (state.brush.length ? state.brush.join(",") : "999999999") : undefined,
      all: state.showArchived ? "1" : undefined,
      group_by: state.groupBy || undefined,
    };
  }

  /** The page of rows the view asks for; null when a newer request overtook this one. */
  async function fetchPage() {
    const seq = ++pageSeq;
    const body = await api(["experiments", experimentId], pageQuery());
    return seq === pageSeq ? body : null;
  }

  /** Takes a page in; returns whether the columns changed (new keys or metrics). */
  function acceptPage(body) {
    state.rows = (Array.isArray(body.versions) ? body.versions : []).map(accept);
    state.total = typeof body.total === "number" ? body.total : state.rows.length;
    state.versionCount = typeof body.version_count === "number" ? body.version_count : state.total;
    state.statusCounts = body.status_counts || {};
    state.rowGroups = Array.isArray(body.row_groups) ? body.row_groups : null;
    state.tableGroups = Array.isArray(body.groups) ? body.groups : [];
    // Past the end (versions were filtered away meanwhile): show the last page instead.
    if (state.offset > 0 && state.offset >= state.total) state.offset = Math.max(0, (Math.ceil(state.total / PAGE_SIZE) - 1) * PAGE_SIZE);
    const info = JSON.stringify(body.columns || {});
    if (state.info !== null && JSON.stringify(state.info) === info) return false;
    state.info = body.columns || {};
    const before = state.columns.map((c) => c.key).join("\n");
    buildColumns(state.info);
    if (state.columns.map((c) => c.key).join("\n") !== before) loadVisible();
    return true;
  }

  /** Fetches and shows the page the view names (after a sort, a filter, a page turn). */
  async function showPage() {
    let body;
    try {
      body = await fetchPage();
    } catch (error) {
      const more = clear(document.getElementById("versions-more"));
      more.appendChild(EXPM.errorBox(error, "Could not load the versions."));
      return;
    }
    if (!body) return;
    const overshot = state.offset;
    const rebuild = acceptPage(body);
    if (state.offset !== overshot) return showPage();
    renderTable(rebuild);
    renderSummary();
  }

  function selectColumn() {
    const header = el("input", { type: "checkbox", title: "Select all shown", attrs: { "aria-label": "Select all shown versions" } });
    header.addEventListener("change", () => {
      if (header.checked) for (const v of state.rows) state.selected.add(v.version);
      else for (const v of state.rows) state.selected.delete(v.version);
      selectionChanged();
    });
    return {
      key: "select",
      label: "",
      title: "Select versions to plot and compare",
      className: "select",
      headerNode: header,
      cell: (v) =>
        el("input", {
          type: "checkbox",
          checked: state.selected.has(v.version),
          className: "row-select",
          dataset: { version: String(v.version) },
          attrs: { "aria-label": "Select version " + v.version },
        }),
    };
  }

  function onSort() {
    state.offset = 0;
    showPage();
  }

  function renderTable(rebuild) {
    const container = document.getElementById("versions");
    const columns = [selectColumn(), ...state.columns.filter((c) => c.fixed || state.visible.has(c.key))];
    if (rebuild || !table) {
      table = EXPM.sortableTable(columns, state.sort, onSort);
      table.columns = columns;
      table.tbody.addEventListener("change", (event) => {
        const target = event.target;
        if (!(target instanceof HTMLInputElement) || !target.classList.contains("row-select")) return;
        const version = Number(target.dataset.version);
        if (target.checked) state.selected.add(version);
        else state.selected.delete(version);
        selectionChanged();
      });
      clear(container).appendChild(table.table);
    }
    renderRows(columns.length);
    for (const tr of table.tbody.rows) {
      const input = tr.querySelector("input.row-select");
      if (input && input.checked) tr.classList.add("selected");
    }
    renderPager();
    updateSelectionInfo();
    renderColumnChooser();
    const query = pageQuery();
    // Tests and benchmarks wait for the view they asked for.
    document.body.dataset.table = [query.sort, query.order, query.offset, query.filter].join("|");
    document.body.dataset.tableAt = String(performance.now());
  }

  /** The page's rows; grouped, each group's rows under a header row with its count. */
  function renderRows(width) {
    const keys = state.rowGroups;
    if (!keys || keys.length !== state.rows.length) {
      table.render(state.rows);
      document.body.dataset.tableGroups = "";
      return;
    }
    const counts = new Map(state.tableGroups.map((g) => [g.key, g]));
    const items = [];
    state.rows.forEach((row, i) => {
      if (i === 0 || keys[i] !== keys[i - 1]) items.push({ header: keys[i] });
      items.push(row);
    });
    table.render(items, (item) => (item.header !== undefined ? groupHeader(item.header, counts.get(item.header), width) : null));
    // Each member row knows its group, so a collapsed group hides its rows.
    let key = null;
    for (const tr of table.tbody.rows) {
      if (tr.classList.contains("group-row")) key = tr.dataset.group;
      else {
        tr.dataset.member = key;
        tr.hidden = collapsedGroups.has(key);
      }
    }
    document.body.dataset.tableGroups = state.groupBy + "|" + state.tableGroups.map((g) => g.key + ":" + g.count).join(",");
  }

  function groupHeader(key, group, width) {
    const versions = group ? group.versions : [];
    const collapsed = collapsedGroups.has(key);
    const toggle = el("button", { type: "button", className: "group-toggle", text: collapsed ? "▸" : "▾", attrs: { "aria-expanded": String(!collapsed), "aria-label": (collapsed ? "Expand" : "Collapse") + " group " + key } });
    toggle.addEventListener("click", () => {
      if (collapsedGroups.has(key)) collapsedGroups.delete(key);
      else collapsedGroups.add(key);
      renderTable(false);
    });
    const pick = el("input", { type: "checkbox", className: "group-select", checked: versions.length > 0 && versions.every((n) => state.selected.has(n)), attrs: { "aria-label": "Select every version of group " + key } });
    pick.addEventListener("change", () => {
      for (const n of versions) {
        if (pick.checked) state.selected.add(n);
        else state.selected.delete(n);
      }
      ensureKnown(versions).then(selectionChanged, selectionChanged);
    });
    const label = state.groupBy.startsWith("hp:") ? state.groupBy.slice(3) + " = " : state.groupBy === "tag" ? "tag " : state.groupBy + " = ";
    const count = group ? group.count : 0;
    const cell = el(
      "td",
      { attrs: { colspan: String(width) } },
      pick,
      " ",
      toggle,
      " ",
      el("span", { className: "group-key", text: label + key }),
      " ",
      el("span", { className: "group-count muted", text: count + (count === 1 ? " version" : " versions") }),
    );
    return el("tr", { className: "group-row", dataset: { group: key, count: String(count) } }, cell);
  }

  function renderPager() {
    const more = clear(document.getElementById("versions-more"));
    if (state.total === 0) {
      more.appendChild(el("span", { className: "muted", text: state.filter ? "No version matches the filter." : "No versions." }));
      return;
    }
    const first = state.offset + 1;
    const last = state.offset + state.rows.length;
    const info = el("span", { id: "page-info", className: "muted", text: first.toLocaleString() + "–" + last.toLocaleString() + " of " + state.total.toLocaleString() });
    if (state.total <= PAGE_SIZE && state.offset === 0) {
      more.appendChild(info);
      return;
    }
    const turn = (id, label, offset, disabled) => {
      const button = el("button", { type: "button", id, className: "secondary small", text: label, disabled });
      button.addEventListener("click", () => {
        state.offset = offset;
        showPage();
      });
      return button;
    };
    const lastPage = Math.max(0, Math.ceil(state.total / PAGE_SIZE) - 1) * PAGE_SIZE;
    more.append(
      el(
        "span",
        { className: "pager" },
        turn("page-first", "« First", 0, state.offset === 0),
        turn("page-prev", "‹ Previous", Math.max(0, state.offset - PAGE_SIZE), state.offset === 0),
        info,
        turn("page-next", "Next ›", state.offset + PAGE_SIZE, last >= state.total),
        turn("page-last", "Last »", lastPage, last >= state.total),
      ),
    );
  }

  function updateSelectionInfo() {
    const header = table && table.thead.querySelector("input[type=checkbox]");
    if (header) {
      const selectedShown = state.rows.filter((v) => state.selected.has(v.version)).length;
      header.checked = state.rows.length > 0 && selectedShown === state.rows.length;
      header.indeterminate = selectedShown > 0 && selectedShown < state.rows.length;
    }
    const count = state.selected.size;
    const filtered = state.total === state.versionCount ? "" : state.total.toLocaleString() + " of " + state.versionCount.toLocaleString() + " match · ";
    document.getElementById("selection-count").textContent = filtered + count + " selected";
  }

  function syncRowSelection() {
    if (!table) return;
    const groupsByKey = new Map((state.tableGroups || []).map((g) => [g.key, g.versions]));
    for (const box of table.tbody.querySelectorAll("tr.group-row input.group-select")) {
      const versions = groupsByKey.get(box.closest("tr").dataset.group) || [];
      box.checked = versions.length > 0 && versions.every((n) => state.selected.has(n));
    }
    for (const tr of table.tbody.rows) {
      const input = tr.querySelector("input.row-select");
      if (!input) continue;
      input.checked = state.selected.has(Number(input.dataset.version));
      tr.classList.toggle("selected", input.checked);
    }
    updateSelectionInfo();
  }

  /** Fetches the summaries of versions not seen yet (a shared link's selection). */
  async function ensureKnown(versions) {
    const missing = versions.filter((n) => !state.known.has(n));
    if (missing.length === 0) return;
    const body = await api(["experiments", experimentId], { versions: missing.join(","), limit: missing.length, all: state.showArchived ? "1" : undefined });
    for (const v of Array.isArray(body.versions) ? body.versions : []) accept(v);
  }

  // ---- Selection → chart, diff, checkpoints ------------------------------------------

  function selectionChanged() {
    syncRowSelection();
    renderMetricSelect();
    writeUrl();
    const drawn = updateChart();
    renderCheckpoints();
    compareAfter(drawn);
  }

  // The comparison waits for the curves (what the user looks at first) and for the
  // selection to settle, so a burst of clicks asks for it once.
  let compareTimer = null;

  function compareAfter(drawn) {
    if (compareTimer) window.clearTimeout(compareTimer);
    const seq = ++compareSeq;
    Promise.resolve(drawn)
      .catch(() => {})
      .then(() => {
        if (seq !== compareSeq) return;
        compareTimer = window.setTimeout(() => {
          compareTimer = null;
          if (seq === compareSeq) loadCompare();
        }, 250);
      });
  }

  function labelFor(v, configsVary) {
    // A name the user gave is shown; the default name (the config) only when configs vary.
    const named = v.name && v.name !== v.config_name;
    const text = named ? v.name : configsVary ? v.config_name : "";
    return "v" + v.version + (text ? " " + text : "");
  }

  /** The chart options and the selected versions with their labels. */
  function selectionView() {
    const selected = selectedList()
      .map((n) => state.known.get(n))
      .filter(Boolean);
    const configsVary = distinct(selected.map((v) => v.config_name)) > 1;
    const versions = selected.map((v) => ({ version: v.version, label: labelFor(v, configsVary) }));
    return { x: state.x, logY: state.logY, smoothing: state.smoothing, versions, all: state.showArchived };
  }

  function updateChart() {
    const view = selectionView();
    panels.show(view, state.metricNames || []);
    const grouped = Boolean(state.groupBy);
    document.getElementById("chart").hidden = grouped;
    document.getElementById("group-chart").hidden = !grouped;
    document.getElementById("group-table").hidden = !grouped;
    if (grouped) updateGroups();
    return chart.show(Object.assign({ metric: state.metric }, view));
  }

  /** The selected versions (all listed ones when none is) grouped, as mean and band. */
  async function updateGroups() {
    const seq = ++groupSeq;
    const versions = selectedList();
    let body;
    try {
      body = await api(["experiments", experimentId, "groups"], {
        metric: state.metric,
        by: state.groupBy,
        x: state.x,
        versions: versions.length ? versions.join(",") : undefined,
        all: state.showArchived ? "1" : undefined,
      });
    } catch (error) {
      if (seq !== groupSeq) return;
      groups.clear();
      document.getElementById("group-chart").appendChild(EXPM.errorBox(error, "Could not group the versions."));
      return;
    }
    if (seq !== groupSeq || !state.groupBy) return;
    groups.show(body, state.groupBand, state.logY);
    document.body.dataset.grouped = [body.by, body.metric, (body.groups || []).length].join("|");
  }

  function renderGroupBy() {
    const select = document.getElementById("group-by");
    const keys = ((state.info && state.info.hyperparameters) || []).map((c) => c.key);
    const wanted = ["", "tag", "name", "config_name", ...keys.map((k) => "hp:" + k)];
    if ([...select.options].map((o) => o.value).join("\n") === wanted.join("\n")) return;
    clear(select);
    for (const value of wanted) {
      const text = value === "" ? "none" : value.startsWith("hp:") ? value.slice(3) : value === "config_name" ? "config" : value;
      select.appendChild(el("option", { value, text }));
    }
    if (state.groupBy && !wanted.includes(state.groupBy)) state.groupBy = "";
    select.value = state.groupBy;
  }

  // ---- Hyperparameter views --------------------------------------------------------

  async function loadHparams() {
    if (!hpWanted) return;
    const names = state.metricNames || [];
    if (!state.hpMetric || !names.includes(state.hpMetric)) state.hpMetric = state.metric || names[0] || "";
    const select = clear(document.getElementById("hp-metric"));
    for (const name of names) select.appendChild(el("option", { value: name, text: name }));
    select.value = state.hpMetric;
    const seq = ++hpSeq;
    let body;
    try {
      body = await api(["experiments", experimentId, "hparams"], { metric: state.hpMetric || undefined, agg: state.hpAgg });
    } catch (error) {
      if (seq === hpSeq) clear(document.getElementById("hp-brush")).appendChild(EXPM.errorBox(error, "Could not load the hyperparameters."));
      return;
    }
    if (seq !== hpSeq) return;
    hpData = body;
    const xSelect = clear(document.getElementById("hp-x"));
    (body.axes || []).forEach((axis, i) => xSelect.appendChild(el("option", { value: String(i), text: axis.key })));
    state.hpX = Math.min(state.hpX || 0, Math.max(0, (body.axes || []).length - 1));
    xSelect.value = String(state.hpX);
    parallel.show(body);
    scatter.show(body, state.hpX);
    document.body.dataset.hparams = [body.metric, body.agg, (body.versions || []).length].join("|");
  }

  function brushed(versions) {
    state.brush = versions;
    const note = document.getElementById("hp-brush");
    note.textContent = versions ? versions.length + " version(s) in the brush" : "";
    document.getElementById("hp-clear").hidden = !versions;
    state.offset = 0;
    showPage();
  }

  function renderMetricSelect() {
    const select = document.getElementById("metric-select");
    const names = state.metricNames || [];
    const selectedMetrics = new Set();
    for (const n of state.selected) {
      const v = state.known.get(n);
      if (v) for (const name of Object.keys(v.metric_summaries || {})) selectedMetrics.add(name);
    }
    if (!state.metric || !names.includes(state.metric)) {
      const pool = selectedMetrics.size ? names.filter((n) => selectedMetrics.has(n)) : names;
      state.metric = pool.find((n) => n === "loss") || pool.find((n) => /loss/i.test(n)) || pool[0] || "";
    }
    clear(select);
    for (const name of names) {
      const option = el("option", { value: name, text: name + (selectedMetrics.size && !selectedMetrics.has(name) ? " (not in selection)" : "") });
      select.appendChild(option);
    }
    select.value = state.metric;
    select.disabled = names.length === 0;
  }

  function renderChartStatus(info) {
    const status = clear(document.getElementById("chart-status"));
    document.getElementById("live-indicator").hidden = !info.live;
    const parts = [];
    for (const s of info.series) {
      let text = "v" + s.version + ": ";
      if (s.total === 0) text += "no " + state.metric + " points";
      else {
        text += s.total.toLocaleString() + (s.total === 1 ? " point" : " points");
        if (!s.exact) text += ", drawn as " + s.shown.toLocaleString() + " (min and max per bucket: zoom in for every point)";
        else if (info.zoomed) text += ", " + s.shown.toLocaleString() + " in view (full resolution)";
        if (s.gaps) text += ", " + s.gaps.toLocaleString() + " NaN/∞ not drawn";
      }
      parts.push(el("span", { className: "series-note", text }));
    }
    if (info.zoomed) parts.push(el("span", { className: "series-note zoomed", text: "zoomed (double-click to reset)" }));
    EXPM.append(status, parts);
    // A version that stopped running changes its row too.
    const changed = info.series.some((s) => {
      const v = state.known.get(s.version);
      return v && s.status && v.status !== s.status;
    });
    if (changed && Date.now() - lastRefresh > 2000) refreshVersions();
  }

  async function loadCompare() {
    const container = document.getElementById("diff");
    const versions = selectedList();
    const seq = ++compareSeq;
    if (versions.length >= 2 && !container.querySelector(".diff-section")) {
      clear(container).appendChild(el("p", { className: "muted", text: "Comparing…" }));
    }
    if (versions.length < 2) {
      clear(container).appendChild(el("p", { className: "muted", text: "Select two or more versions to see what differs between them." }));
      return;
    }
    let body;
    try {
      const showAll = document.getElementById("diff-all-fields").checked;
      body = await api(["experiments", experimentId, "compare"], { versions: versions.join(","), all: state.showArchived ? "1" : undefined, all_fields: showAll ? "1" : undefined });
    } catch (error) {
      if (seq !== compareSeq) return;
      clear(container).appendChild(EXPM.errorBox(error, "Could not compare."));
      return;
    }
    if (seq !== compareSeq) return;
    clear(container);
    const order = Array.isArray(body.versions) ? body.versions : versions;
    // The API leaves out what differs between any two runs unless asked (all_fields).
    const environment = body.environment || {};
    const hidden = Array.isArray(body.hidden) ? body.hidden : [];
    container.appendChild(runTable(order));
    container.appendChild(diffTable("Hyperparameters", body.hyperparameters, order, "hyperparameters"));
    container.appendChild(diffTable("Metadata", body.metadata, order, "metadata"));
    const envSection = diffTable("Environment", environment, order, "environment");
    if (hidden.length) envSection.appendChild(el("p", { className: "hint muted", text: hidden.join(", ") + " also differ (they differ between any two runs): tick “show fields that always differ” to see them." }));
    container.appendChild(envSection);
    container.appendChild(metricsTable(body.metrics || {}, order));
    document.body.dataset.compared = versions.join(",");
  }

  /** Each compared version's config name, name, status and duration, side by side. */
  function runTable(order) {
    const rows = {};
    const fields = [["config_name", (v) => v.config_name], ["name", (v) => v.name], ["status", (v) => v.status], ["duration", (v) => EXPM.fmtDuration(durationOf(v))]];
    for (const [key, get] of fields) rows[key] = order.map((n) => (state.known.get(n) ? get(state.known.get(n)) : undefined));
    const section = diffTable("Run", rows, order, "run");
    return section;
  }

  function diffTable(title, diff, order, id) {
    const entries = Object.entries(diff || {});
    const section = el("div", { className: "diff-section", dataset: { diff: id } }, el("h3", { text: title }));
    if (entries.length === 0) {
      section.appendChild(el("p", { className: "muted", text: "identical" }));
      return section;
    }
    const head = el("tr", null, el("th", { text: "key", attrs: { scope: "col" } }), order.map((v) => el("th", { text: "v" + v, attrs: { scope: "col" } })));
    const tbody = el("tbody");
    for (const [key, values] of entries) {
      const tr = el("tr", null, el("th", { className: "key", text: key, attrs: { scope: "row" } }));
      const list = Array.isArray(values) ? values : [values];
      order.forEach((_, i) => {
        const missing = i >= list.length || list[i] === undefined;
        tr.appendChild(el("td", { className: "value" + (missing ? " missing" : ""), text: missing ? "—" : EXPM.fmtValue(list[i]) }));
      });
      tbody.appendChild(tr);
    }
    section.appendChild(el("div", { className: "table-wrap" }, el("table", { className: "data diff" }, el("thead", null, head), tbody)));
    return section;
  }

  function metricsTable(metrics, order) {
    const section = el("div", { className: "diff-section", dataset: { diff: "metrics" } }, el("h3", { text: "Metrics" }));
    const names = [];
    for (const v of order) for (const name of Object.keys(metrics[String(v)] || {})) if (!names.includes(name)) names.push(name);
    if (names.length === 0) {
      section.appendChild(el("p", { className: "muted", text: "no metrics" }));
      return section;
    }
    const head = el("tr", null, el("th", { text: "metric", attrs: { scope: "col" } }), el("th", { text: "", attrs: { scope: "col" } }), order.map((v) => el("th", { text: "v" + v, attrs: { scope: "col" } })));
    const tbody = el("tbody");
    for (const name of names) {
      ["last", "min", "max"].forEach((agg, i) => {
        const tr = el("tr", { className: i === 0 ? "group-start" : "" });
        tr.appendChild(el("th", { className: "key", text: i === 0 ? name : "", attrs: { scope: "row" } }));
        tr.appendChild(el("td", { className: "agg muted", text: agg }));
        for (const v of order) {
          const s = (metrics[String(v)] || {})[name];
          tr.appendChild(el("td", { className: "num", text: s ? EXPM.fmtNum(s[agg]) : "—" }));
        }
        tbody.appendChild(tr);
      });
    }
    section.appendChild(el("div", { className: "table-wrap" }, el("table", { className: "data diff" }, el("thead", null, head), tbody)));
    return section;
  }

  function renderCheckpoints() {
    const container = clear(document.getElementById("checkpoints"));
    const versions = selectedList().map((n) => state.known.get(n)).filter(Boolean);
    if (versions.length === 0) {
      container.appendChild(el("p", { className: "muted", text: "Select versions to list their checkpoints." }));
      return;
    }
    const tbody = el("tbody");
    for (const v of versions) {
      (v.checkpoints || []).forEach((path, i) => {
        tbody.appendChild(
          el(
            "tr",
            null,
            el("td", { className: "num" }, el("a", { href: EXPM.versionUrl(experimentId, v.version), text: "v" + v.version })),
            el("td", { className: "num", text: String(i + 1) }),
            el("td", { className: "path", text: String(path) }),
          ),
        );
      });
    }
    if (!tbody.firstChild) {
      container.appendChild(el("p", { className: "muted", text: "No checkpoints recorded for the selected versions." }));
      return;
    }
    const head = el("tr", null, ["version", "#", "path"].map((t) => el("th", { text: t, attrs: { scope: "col" } })));
    container.appendChild(el("div", { className: "table-wrap" }, el("table", { className: "data" }, el("thead", null, head), tbody)));
    container.appendChild(el("p", { className: "hint muted", text: "Size, time, hash and whether each file still exists are on each version's page." }));
  }

  // ---- Loading -----------------------------------------------------------------------

  function renderSummary() {
    const summary = clear(document.getElementById("summary"));
    const n = state.versionCount;
    summary.append(el("span", { text: n.toLocaleString() + (n === 1 ? " version" : " versions") }));
    const chips = el("span", { className: "chips" });
    for (const status of Object.keys(state.statusCounts)) chips.appendChild(EXPM.statusChip(status, state.statusCounts[status]));
    summary.append(chips);
  }

  async function refreshVersions() {
    lastRefresh = Date.now();
    if (refreshTimer) window.clearTimeout(refreshTimer);
    refreshTimer = null;
    let body;
    try {
      body = await fetchPage();
      // Selected versions on other pages change too (a run ends): their labels, checkpoints.
      const others = selectedList().filter((n) => !(body && body.versions.some((v) => v.version === n)));
      if (body && others.length > 0) {
        const more = await api(["experiments", experimentId], { versions: others.join(","), limit: others.length, all: state.showArchived ? "1" : undefined });
        for (const v of Array.isArray(more.versions) ? more.versions : []) accept(v);
      }
    } catch (error) {
      scheduleRefresh();
      return;
    }
    if (!body) return; // a newer request (a sort, a page turn) shows its own answer
    const signature = JSON.stringify(body);
    if (signature !== state.rawSignature) {
      state.rawSignature = signature;
      const rebuild = acceptPage(body);
      renderSummary();
      renderTable(rebuild);
      renderMetricSelect();
      renderCheckpoints();
    }
    scheduleRefresh();
  }

  function scheduleRefresh() {
    if (refreshTimer || !state.statusCounts.running) return;
    refreshTimer = window.setTimeout(refreshVersions, REFRESH_MS);
  }

  async function load() {
    document.getElementById("crumb-id").textContent = experimentId;
    document.getElementById("title").textContent = experimentId;
    document.title = experimentId + " · experiment_manager";
    // A shared view names its versions. Their curves are asked for once the versions
    // are listed: the workspace's panels on screen first, then the chart below them.
    const fromUrl = params.get("versions");
    let early = [];
    let badUrl = null;
    if (fromUrl !== null && fromUrl.trim() !== "") {
      try {
        early = parseVersionList(fromUrl).sort((a, b) => a - b);
      } catch (error) {
        badUrl = error;
      }
    }
    let body;
    try {
      body = await fetchPage();
    } catch (error) {
      document.getElementById("page-error").appendChild(EXPM.errorBox(error, "Could not load this experiment."));
      for (const panel of document.querySelectorAll("main > section.panel")) panel.hidden = true;
      EXPM.markReady("ready");
      return;
    }
    state.rawSignature = JSON.stringify(body);
    acceptPage(body);
    if (badUrl) document.getElementById("page-error").appendChild(EXPM.errorBox(badUrl, "This link's versions are not a version list:"));
    if (fromUrl !== null) {
      for (const n of early) state.selected.add(n);
    } else if (!state.filter) {
      for (const v of state.rows.slice(0, 5)) state.selected.add(v.version); // the newest
    }
    document.getElementById("version-filter").value = state.filter;
    renderSummary();
    renderTable(true);
    renderMetricSelect();
    renderGroupBy();
    if (state.watchHparams) state.watchHparams(); // the metrics are known now
    // The panels in view ask for their curves now, with the selection known so far.
    panels.show(selectionView(), state.metricNames || []);
    EXPM.markReady("ready");
    if (fromUrl === null && state.filter) {
      // The newest versions, whether or not the filter shows them.
      const newest = await api(["experiments", experimentId], { sort: "version", order: "desc", limit: 5 });
      for (const v of newest.versions || []) state.selected.add(accept(v).version);
    }
    // A shared link may name versions on other pages (or none that exist).
    try {
      await ensureKnown(selectedList());
    } catch (error) {
      // their labels and checkpoints wait for the next refresh
    }
    for (const n of selectedList()) if (!state.known.has(n)) state.selected.delete(n);
    syncRowSelection();
    renderMetricSelect();
    writeUrl();
    renderCheckpoints();
    compareAfter(updateChart());
    scheduleRefresh();
  }

  function init() {
    panels = new MetricPanels.Workspace(document.getElementById("panels"), { experimentId });
    // Below the workspace: drawn once the panels on screen are (or when scrolled to).
    chart = new MetricChart.Chart(document.getElementById("chart"), { experimentId, onUpdate: renderChartStatus, after: () => panels.firstScreen });
    state.hpAgg = "last";
    groups = new GroupChart.Groups(document.getElementById("group-chart"), document.getElementById("group-table"));
    const groupBy = document.getElementById("group-by");
    groupBy.addEventListener("change", () => {
      state.groupBy = groupBy.value;
      state.offset = 0;
      writeUrl();
      showPage(); // the table lists the groups' rows together
      updateChart();
    });
    const band = document.getElementById("group-band");
    band.value = state.groupBand;
    band.addEventListener("change", () => {
      state.groupBand = band.value;
      writeUrl();
      if (state.groupBy && groups.body) groups.show(groups.body, state.groupBand, state.logY);
    });
    parallel = new HyperViews.ParallelCoordinates(document.getElementById("parallel"), { onBrush: brushed });
    scatter = new HyperViews.Scatter(document.getElementById("scatter"), {
      onPick: (version) => {
        if (state.selected.has(version)) state.selected.delete(version);
        else state.selected.add(version);
        ensureKnown([version]).then(selectionChanged, selectionChanged);
      },
    });
    document.getElementById("hp-metric").addEventListener("change", (event) => {
      state.hpMetric = event.target.value;
      loadHparams();
    });
    document.getElementById("hp-agg").addEventListener("change", (event) => {
      state.hpAgg = event.target.value;
      loadHparams();
    });
    document.getElementById("hp-x").addEventListener("change", (event) => {
      state.hpX = Number(event.target.value) || 0;
      if (hpData) scatter.show(hpData, state.hpX);
    });
    document.getElementById("hp-clear").addEventListener("click", () => {
      parallel.show(hpData || { axes: [], versions: [] });
      brushed(null);
    });
    // The views ask for their data once they scroll into view, not before the curves.
    const section = document.getElementById("hp-section");
    if (window.IntersectionObserver) {
      const watch = new IntersectionObserver((entries) => {
        if (!entries.some((e) => e.isIntersecting) || hpWanted || !state.metricNames) return;
        hpWanted = true;
        watch.disconnect();
        loadHparams();
      });
      watch.observe(section);
      state.watchHparams = () => {
        watch.unobserve(section);
        watch.observe(section);
      };
    } else {
      hpWanted = true;
    }
    const panelFilter = document.getElementById("panel-filter");
    panelFilter.addEventListener("input", () => panels.setFilter(panelFilter.value));
    document.getElementById("sync-zoom").addEventListener("change", (event) => panels.setSyncZoom(event.target.checked));
    document.getElementById("panels-reset").addEventListener("click", () => {
      panels.resetLayout();
      updateChart();
    });

    const filter = document.getElementById("version-filter");
    filter.addEventListener("input", () => {
      // Every keystroke would be a request: wait until the typing pauses.
      if (filterTimer) window.clearTimeout(filterTimer);
      filterTimer = window.setTimeout(() => {
        filterTimer = null;
        state.filter = filter.value.trim();
        state.offset = 0;
        writeUrl();
        showPage();
      }, FILTER_DELAY_MS);
    });
    document.getElementById("diff-all-fields").addEventListener("change", () => loadCompare());
    const archived = document.getElementById("show-archived");
    archived.checked = state.showArchived;
    archived.addEventListener("change", () => {
      state.showArchived = archived.checked;
      state.offset = 0;
      if (!state.showArchived) {
        // Hidden again: archived versions leave the selection (the server serves them only when asked).
        for (const n of [...state.selected]) {
          const v = state.known.get(n);
          if (v && v.archived) state.selected.delete(n);
        }
      }
      writeUrl();
      showPage().then(selectionChanged);
    });
    document.getElementById("select-none").addEventListener("click", () => {
      state.selected.clear();
      selectionChanged();
    });
    document.getElementById("column-search").addEventListener("input", renderColumnChooser);
    document.getElementById("column-chooser").addEventListener("toggle", renderColumnChooser);
    document.getElementById("columns-default").addEventListener("click", () => {
      state.visible = new Set(state.columns.filter((c) => c.default).map((c) => c.key));
      saveVisible(true);
      renderTable(true);
    });
    document.getElementById("metric-select").addEventListener("change", (event) => {
      state.metric = event.target.value;
      writeUrl();
      updateChart();
    });
    const xSelect = document.getElementById("x-select");
    xSelect.value = state.x;
    xSelect.addEventListener("change", () => {
      state.x = xSelect.value;
      writeUrl();
      updateChart();
    });
    const log = document.getElementById("log-toggle");
    log.checked = state.logY;
    log.addEventListener("change", () => {
      state.logY = log.checked;
      writeUrl();
      updateChart();
    });
    const smoothing = document.getElementById("smoothing");
    const smoothingValue = document.getElementById("smoothing-value");
    smoothing.value = String(state.smoothing);
    smoothingValue.textContent = state.smoothing.toFixed(2);
    let frame = 0;
    smoothing.addEventListener("input", () => {
      state.smoothing = clampSmoothing(smoothing.value);
      smoothingValue.textContent = state.smoothing.toFixed(2);
      if (frame) return;
      frame = window.requestAnimationFrame(() => {
        frame = 0;
        writeUrl();
        updateChart();
      });
    });
    load();
  }

  init();
})();
