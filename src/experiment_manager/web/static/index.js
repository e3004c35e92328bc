// The experiments page: every experiment id in the log dir, and a search over all versions.
"use strict";

(() => {
  const { el, clear, api } = EXPM;
  const SEARCH_PAGE = 100; // results per page; the server counts every match
  // Fields every result row shows anyway (the query's other fields get columns of their own).
  const RESULT_FIELDS = ["experiment_id", "version", "name", "tags", "status", "created_at", "config_name", "duration"];
  // A table of thousands of rows takes the browser seconds to lay out: the first rows
  // show at once, the rest on demand (sorting and the filter always see every row).
  const ROW_LIMIT = 250;

  const tableState = { sortKey: "last_activity", sortDir: -1 };
  let experiments = [];
  let table = null;
  let showAll = false;

  // ---- Experiments table ------------------------------------------------------------

  function statusCell(entry) {
    const counts = entry.status_counts || {};
    const wrap = el("span", { className: "chips" });
    const names = Object.keys(counts).sort(
      (a, b) => EXPM.STATUSES.indexOf(a) - EXPM.STATUSES.indexOf(b) || a.localeCompare(b),
    );
    for (const status of names) wrap.appendChild(EXPM.statusChip(status, counts[status]));
    return wrap;
  }

  function listCell(values, max) {
    const list = Array.isArray(values) ? values.map(String) : [];
    const shown = list.slice(0, max);
    const text = shown.join(", ") + (list.length > max ? ", … (+" + (list.length - max) + ")" : "");
    return el("span", { text, title: list.join("\n") });
  }

  const columns = [
    {
      key: "experiment_id",
      label: "Experiment",
      sort: (e) => e.experiment_id,
      cell: (e) => el("a", { href: EXPM.experimentUrl(e.experiment_id), text: e.experiment_id, className: "id" }),
    },
    {
      key: "versions",
      label: "Versions",
      className: "num",
      defaultDir: -1,
      sort: (e) => (typeof e.versions === "number" ? e.versions : null),
      cell: (e) => EXPM.fmtNum(e.versions),
    },
    {
      key: "latest_version",
      label: "Latest",
      className: "num",
      defaultDir: -1,
      sort: (e) => (typeof e.latest_version === "number" ? e.latest_version : null),
      cell: (e) =>
        typeof e.latest_version === "number"
          ? el("a", { href: EXPM.versionUrl(e.experiment_id, e.latest_version), text: "v" + e.latest_version })
          : "",
    },
    {
      key: "status",
      label: "Status",
      sort: (e) => {
        const counts = e.status_counts || {};
        return counts.running ? "0 running " + counts.running : Object.keys(counts).sort().join(",");
      },
      cell: statusCell,
    },
    {
      key: "last_activity",
      label: "Last activity",
      defaultDir: -1,
      sort: (e) => e.last_activity || null,
      cell: (e) => el("time", { text: EXPM.fmtAgo(e.last_activity), title: EXPM.fmtTime(e.last_activity) }),
    },
    {
      key: "first_created",
      label: "Created",
      defaultDir: -1,
      sort: (e) => e.first_created || null,
      cell: (e) => EXPM.timeCell(e.first_created),
    },
    {
      key: "metric_names",
      label: "Metrics",
      className: "list",
      sort: (e) => (e.metric_names || []).join(","),
      cell: (e) => listCell(e.metric_names, 6),
    },
    {
      key: "config_names",
      label: "Configs",
      className: "list",
      sort: (e) => (e.config_names || []).join(","),
      cell: (e) => listCell(e.config_names, 2),
    },
  ];

  function errorRow(entry) {
    if (!entry.error) return null;
    return el(
      "tr",
      { className: "row-error" },
      el("td", null, el("a", { href: EXPM.experimentUrl(entry.experiment_id), text: entry.experiment_id, className: "id" })),
      el("td", { attrs: { colspan: columns.length - 1 } }, el("span", { className: "chip chip-failed", text: "unreadable" }), " ", el("span", { className: "error-text", text: String(entry.error) })),
    );
  }

  function filterText(entry) {
    if (!entry._text) {
      entry._text = [entry.experiment_id, ...(entry.metric_names || []), ...(entry.config_names || []), entry.error || ""]
        .join("\n")
        .toLowerCase();
    }
    return entry._text;
  }

  function renderExperiments() {
    const container = document.getElementById("experiments");
    const terms = document.getElementById("exp-filter").value.toLowerCase().split(/\s+/).filter(Boolean);
    const rows = terms.length ? experiments.filter((e) => terms.every((t) => filterText(e).includes(t))) : experiments;
    if (!table) {
      table = EXPM.sortableTable(columns, tableState, renderExperiments);
      clear(container).appendChild(table.table);
    }
    const sortedRows = table.sorted(rows);
    const shown = showAll ? sortedRows : sortedRows.slice(0, ROW_LIMIT);
    table.render(shown, errorRow);
    const more = clear(document.getElementById("experiments-more"));
    if (shown.length < sortedRows.length) {
      const button = el("button", { type: "button", className: "secondary small", text: "Show all " + sortedRows.length });
      button.addEventListener("click", () => {
        showAll = true;
        renderExperiments();
      });
      more.append(el("span", { className: "muted", text: "Showing " + shown.length + " of " + sortedRows.length + " (filter or sort to find others). " }), button);
    }
    const total = experiments.length;
    const versions = experiments.reduce((n, e) => n + (typeof e.versions === "number" ? e.versions : 0), 0);
    document.getElementById("exp-count").textContent =
      (rows.length === total ? "" : rows.length + " of ") + total + " experiments · " + versions + " versions";
    if (total === 0) more.appendChild(el("p", { className: "muted", text: "No experiments in this log dir yet." }));
  }

  async function loadExperiments() {
    const container = document.getElementById("experiments");
    try {
      const body = await api(["experiments"]);
      experiments = Array.isArray(body.experiments) ? body.experiments : [];
      renderExperiments();
    } catch (error) {
      clear(container).appendChild(EXPM.errorBox(error, "Could not list experiments."));
    }
    EXPM.markReady("ready");
  }

  // ---- Search -------------------------------------------------------------------------

  /** Metric names the query mentions (metrics.<name>.<agg>), in order. */
  function queryMetrics(query) {
    const names = [];
    const pattern = /metrics\.((?:`[^`]*`|"[^"]*"|'[^']*'|[\w-]+)(?:\.(?:`[^`]*`|"[^"]*"|'[^']*'|[\w-]+))*)\.(last|min|max|mean|count)\b/g;
    for (const match of query.matchAll(pattern)) {
      const name = match[1]
        .split(/\.(?=(?:[^`"']|`[^`]*`|"[^"]*"|'[^']*')*$)/)
        .map((part) => part.replace(/^[`"']|[`"']$/g, ""))
        .join(".");
      if (!names.includes(name)) names.push(name);
    }
    return names;
  }

  function keyMetricsCell(summary, preferred) {
    const metrics = summary.metric_summaries || {};
    const names = preferred.filter((n) => n in metrics);
    for (const name of Object.keys(metrics)) {
      if (names.length >= 4) break;
      if (!names.includes(name)) names.push(name);
    }
    const wrap = el("span", { className: "metrics" });
    for (const name of names) {
      const s = metrics[name] || {};
      wrap.appendChild(
        el(
          "span",
          { className: "metric", title: name + ": last " + EXPM.fmtNum(s.last) + ", min " + EXPM.fmtNum(s.min) + ", max " + EXPM.fmtNum(s.max) + ", count " + EXPM.fmtNum(s.count) },
          el("span", { className: "metric-name", text: name }),
          " ",
          el("span", { className: "metric-value", text: EXPM.fmtNum(s.last) }),
        ),
      );
    }
    const more = Object.keys(metrics).length - names.length;
    if (more > 0) wrap.appendChild(el("span", { className: "muted", text: "+" + more }));
    return wrap;
  }

  function showQueryError(container, error, query) {
    const box = el("div", { className: "error-box", attrs: { role: "alert" } });
    const hasCaret = typeof error.position === "number" && error.position >= 0;
    // The message may carry its own two-line caret drawing: the first line is enough here.
    const message = hasCaret ? String(error.message).split("\n")[0] : String(error.message);
    box.appendChild(el("div", { className: "error-title", text: (error.type || "Error") + ": " + message }));
    if (hasCaret) {
      const position = Math.min(error.position, query.length);
      box.appendChild(
        el(
          "pre",
          { className: "caret" },
          el("span", { className: "caret-query", text: query }),
          "\n",
          el("span", { className: "caret-mark", text: " ".repeat(position) + "^" }),
        ),
      );
    }
    container.appendChild(box);
  }

  let searchSeq = 0;
  let searchOffset = 0;

  async function runSearch(pushHistory, offset) {
    searchOffset = offset || 0;
    const query = document.getElementById("search-q").value.trim();
    const orderBy = document.getElementById("search-order").value.trim();
    const container = document.getElementById("search-results");
    const url = new URL(window.location.href);
    url.search = "";
    if (query) url.searchParams.set("q", query);
    if (orderBy) url.searchParams.set("order_by", orderBy);
    if (searchOffset > 0) url.searchParams.set("offset", String(searchOffset));
    if (pushHistory && url.href !== window.location.href) window.history.pushState(null, "", url.href);
    if (!query && !orderBy) {
      clear(container);
      delete document.body.dataset.searched;
      return;
    }
    const seq = ++searchSeq;
    // A page turn keeps the table in place until the next page is in.
    if (!container.querySelector("table")) clear(container).appendChild(el("p", { className: "muted", text: "Searching…" }));
    let body;
    try {
      body = await api(["search"], { q: query, order_by: orderBy, offset: searchOffset, limit: SEARCH_PAGE });
    } catch (error) {
      if (seq !== searchSeq) return;
      clear(container);
      if (error.type === "QuerySyntaxError" || typeof error.position === "number") showQueryError(container, error, query);
      else container.appendChild(EXPM.errorBox(error, "Search failed."));
      document.body.dataset.searched = "error";
      return;
    }
    if (seq !== searchSeq) return;
    clear(container);
    renderResults(container, body, queryMetrics(query), orderBy);
    document.body.dataset.searched = "ok";
    document.body.dataset.searchedAt = [searchOffset, orderBy, query].join("|");
  }

  /** Sort state for the results' headers, from an order_by of one field. */
  function orderState(orderBy) {
    const match = /^([^\s,]+)(?:\s+(asc|desc))?$/i.exec(orderBy);
    if (!match) return { sortKey: null, sortDir: 1 };
    const descending = (match[2] || "").toLowerCase() === "desc";
    return { sortKey: match[1], sortDir: descending ? -1 : 1 };
  }

  // The versions picked for comparison, kept across pages of the search.
  const picked = new Set();

  function renderPicked() {
    let bar = document.getElementById("compare-picked");
    if (!bar) {
      bar = el("div", { id: "compare-picked", className: "compare-bar" });
      const results = document.getElementById("search-results");
      results.parentNode.insertBefore(bar, results);
    }
    clear(bar);
    if (picked.size === 0) return;
    const href = "/compare?refs=" + [...picked].map(encodeURIComponent).join(",");
    bar.append(
      el("span", { className: "muted", text: picked.size + " picked: " + [...picked].join(", ") + " " }),
      el("a", { id: "compare-link", className: "button small", href, text: "Compare " + picked.size }),
    );
  }

  function renderResults(container, body, preferred, orderBy) {
    const results = Array.isArray(body.results) ? body.results : [];
    const values = Array.isArray(body.values) ? body.values : [];
    const total = typeof body.total === "number" ? body.total : results.length;
    const offset = typeof body.offset === "number" ? body.offset : 0;
    const shown = results.length < total ? " (" + (results.length ? offset + 1 : 0).toLocaleString() + "–" + (offset + results.length).toLocaleString() + " shown)" : "";
    container.appendChild(el("p", { className: "result-count", text: total.toLocaleString() + (total === 1 ? " matching version" : " matching versions") + shown }));
    // Histories the search skipped: one bad file never hides the other results.
    const damaged = Array.isArray(body.damaged) ? body.damaged : [];
    if (damaged.length > 0) {
      const list = el("ul", { className: "damaged-list" });
      for (const entry of damaged) {
        list.appendChild(el("li", {}, el("span", { className: "id", text: String(entry.experiment_id) }), ": ", el("span", { className: "error-text", text: String(entry.error) })));
      }
      const count = damaged.length === 1 ? "1 history file" : damaged.length + " history files";
      container.appendChild(el("div", { id: "search-damaged", className: "error-box", attrs: { role: "status" } }, "Not searched: " + count + " cannot be read (run expm doctor).", list));
    }
    if (total === 0) return;
    results.forEach((r, i) => {
      r._values = Array.isArray(values[i]) ? values[i] : [];
    });
    const state = orderState(orderBy);
    const resultColumns = [
      {
        key: "experiment_id",
        label: "Experiment",
        sort: "experiment_id",
        cell: (r) => el("a", { href: EXPM.experimentUrl(r.experiment_id), text: r.experiment_id, className: "id" }),
      },
      {
        key: "version",
        label: "Version",
        className: "num",
        defaultDir: -1,
        sort: "version",
        cell: (r) => {
          // Versions of any experiments can be picked here and compared together.
          const ref = r.experiment_id + "@" + r.version;
          const box = el("input", { type: "checkbox", className: "compare-pick", checked: picked.has(ref), dataset: { ref }, attrs: { "aria-label": "Compare " + ref } });
          box.addEventListener("change", () => {
            if (box.checked) picked.add(ref);
            else picked.delete(ref);
            renderPicked();
          });
          return el("span", { className: "version-cell" }, box, el("a", { href: EXPM.versionUrl(r.experiment_id, r.version), text: "v" + r.version }));
        },
      },
      {
        key: "name",
        label: "Name",
        sort: "name",
        cell: (r) => el("span", { className: "version-name" }, String(r.name ?? r.config_name ?? ""), r.archived ? el("span", { className: "muted", text: " (archived)" }) : null),
      },
      {
        key: "tags",
        label: "Tags",
        cell: (r) => el("span", { className: "tags" }, (Array.isArray(r.tags) ? r.tags : []).map((tag) => el("span", { className: "tag", text: String(tag) }))),
      },
      { key: "status", label: "Status", sort: "status", cell: (r) => EXPM.statusChip(r.status) },
      { key: "created_at", label: "Created", defaultDir: -1, sort: "created_at", cell: (r) => EXPM.timeCell(r.created_at) },
      { key: "config_name", label: "Config", sort: "config_name", cell: (r) => String(r.config_name ?? "") },
      { key: "duration", label: "Duration", className: "num", sort: "duration", cell: (r) => EXPM.fmtDuration(r.duration) },
    ];
    // The fields the query filters and orders by, as the server names them.
    (Array.isArray(body.fields) ? body.fields : []).forEach((field, index) => {
      if (RESULT_FIELDS.includes(field)) return;
      const numeric = field.startsWith("metrics.");
      resultColumns.push({
        key: field,
        label: field,
        title: field,
        className: "field" + (numeric ? " num" : ""),
        sort: field,
        cell: (r) => {
          const value = r._values[index];
          return el("span", { className: "cell-value", text: numeric ? EXPM.fmtNum(value) : EXPM.fmtValue(value === undefined ? null : value) });
        },
      });
    });
    resultColumns.push({ key: "metrics", label: "Key metrics (last)", cell: (r) => keyMetricsCell(r, preferred) });
    // A header click orders the whole search on the server, not just this page.
    const resultTable = EXPM.sortableTable(resultColumns, state, () => {
      const field = state.sortKey;
      document.getElementById("search-order").value = field + (state.sortDir < 0 ? " desc" : "");
      runSearch(true, 0);
    });
    resultTable.render(results);
    container.appendChild(el("div", { className: "table-wrap results" }, resultTable.table));
    if (total > results.length) container.appendChild(searchPager(offset, results.length, total));
  }

  function searchPager(offset, count, total) {
    const turn = (id, label, to, disabled) => {
      const button = el("button", { type: "button", id, className: "secondary small", text: label, disabled });
      button.addEventListener("click", () => runSearch(true, to));
      return button;
    };
    const last = Math.max(0, Math.ceil(total / SEARCH_PAGE) - 1) * SEARCH_PAGE;
    return el(
      "div",
      { className: "more" },
      el(
        "span",
        { className: "pager" },
        turn("search-first", "« First", 0, offset === 0),
        turn("search-prev", "‹ Previous", Math.max(0, offset - SEARCH_PAGE), offset === 0),
        el("span", { id: "search-page-info", className: "muted", text: (offset + 1).toLocaleString() + "–" + (offset + count).toLocaleString() + " of " + total.toLocaleString() }),
        turn("search-next", "Next ›", offset + SEARCH_PAGE, offset + count >= total),
        turn("search-last", "Last »", last, offset + count >= total),
      ),
    );
  }

  function restoreSearch() {
    const params = new URLSearchParams(window.location.search);
    document.getElementById("search-q").value = params.get("q") || "";
    document.getElementById("search-order").value = params.get("order_by") || "";
    const offset = Number(params.get("offset") || 0);
    runSearch(false, Number.isInteger(offset) && offset > 0 ? offset : 0);
  }

  function init() {
    document.getElementById("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      runSearch(true, 0);
    });
    document.getElementById("search-clear").addEventListener("click", () => {
      document.getElementById("search-q").value = "";
      document.getElementById("search-order").value = "";
      runSearch(true, 0);
    });
    document.getElementById("query-help-toggle").addEventListener("click", (event) => {
      event.preventDefault();
      const help = document.getElementById("query-help");
      help.hidden = !help.hidden;
    });
    document.getElementById("exp-filter").addEventListener("input", () => renderExperiments());
    window.addEventListener("popstate", restoreSearch);
    restoreSearch();
    loadExperiments();
  }

  init();
})();
