// Helpers shared by every page of the dashboard.
//
// Security rule for all pages: data from the server is only ever put into the page with
// textContent / createElement / setAttribute (never innerHTML and friends), URLs are built
// with encodeURIComponent / URLSearchParams. The chart library (uPlot) also writes its
// legend with textContent and its axis titles on a canvas.
"use strict";

const EXPM = (() => {
  const STATUSES = ["running", "finished", "failed", "killed", "crashed"];

  /** Creates an element. props: className, text, title, href, attrs {}, dataset {}, on {}. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null) continue;
        if (key === "className") node.className = value;
        else if (key === "text") node.textContent = String(value);
        else if (key === "attrs") {
          for (const [name, v] of Object.entries(value)) {
            if (v !== undefined && v !== null && v !== false) node.setAttribute(name, String(v));
          }
        } else if (key === "dataset") Object.assign(node.dataset, value);
        else if (key === "on") {
          for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
        } else if (key === "href") node.setAttribute("href", safeHref(value));
        else node[key] = value;
      }
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else if (child instanceof Node) node.appendChild(child);
      else node.appendChild(document.createTextNode(String(child)));
    }
    return node;
  }

  /** Only same-origin absolute paths become links: no javascript:, data: or other schemes. */
  function safeHref(value) {
    const text = String(value);
    return text.startsWith("/") && !text.startsWith("//") ? text : "#";
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // ---- URLs -------------------------------------------------------------------------

  function experimentUrl(id, query) {
    const base = "/experiments/" + encodeURIComponent(id);
    return query ? base + "?" + new URLSearchParams(query).toString() : base;
  }

  function versionUrl(id, version) {
    return experimentUrl(id) + "/versions/" + encodeURIComponent(String(version));
  }

  function apiUrl(path, params) {
    const url = "/api/" + path.map((part) => encodeURIComponent(String(part))).join("/");
    if (!params) return url;
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
    }
    const text = search.toString();
    return text ? url + "?" + text : url;
  }

  /** The path segments after a prefix, decoded: pathParts() of /experiments/a%20b → ["experiments", "a b"]. */
  function pathParts() {
    return window.location.pathname
      .split("/")
      .filter((part) => part !== "")
      .map((part) => {
        try {
          return decodeURIComponent(part);
        } catch (error) {
          return part;
        }
      });
  }

  // ---- API --------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, type, message, position) {
      super(message);
      this.status = status;
      this.type = type;
      this.position = position;
    }
  }

  async function api(path, params, options) {
    return request(apiUrl(path, params), { headers: { Accept: "application/json" }, signal: options && options.signal });
  }

  /** GET with one parameter repeated (name=a&name=b), as /panels/series takes its metrics. */
  async function apiMany(path, params, name, values, options) {
    const url = apiUrl(path, params);
    const extra = new URLSearchParams();
    for (const value of values) extra.append(name, String(value));
    const joined = url + (url.includes("?") ? "&" : "?") + extra.toString();
    return request(joined, { headers: { Accept: "application/json" }, signal: options && options.signal });
  }

  /**
   * The server's edit token, when it was started with --allow-edits (the page then
   * shows edit controls); null on a read-only dashboard.
   */
  function editToken() {
    const meta = document.querySelector('meta[name="expm-edit-token"]');
    const token = meta ? meta.getAttribute("content") : "";
    return token ? token : null;
  }

  /** POSTs a JSON body to an edit endpoint with the page's token; returns the answer. */
  async function post(path, body) {
    const token = editToken();
    if (!token) throw new ApiError(0, "ReadOnly", "this dashboard is read-only (expm ui --allow-edits to edit)");
    return request(apiUrl(path), {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-Expm-Token": token },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
  }

  async function request(url, init) {
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      if (error && error.name === "AbortError") throw error;
      throw new ApiError(0, "NetworkError", "The server did not answer (" + String(error) + ")");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (!response.ok || body === null) {
      const info = body && body.error ? body.error : {};
      throw new ApiError(
        response.status,
        info.type || "HTTPError",
        info.message || "HTTP " + response.status + " " + response.statusText,
        typeof info.position === "number" ? info.position : undefined,
      );
    }
    return body;
  }

  // ---- Values -----------------------------------------------------------------------

  /** A JSON number or one of the strings "NaN", "Infinity", "-Infinity" → a JS number (or null). */
  function num(value) {
    if (typeof value === "number") return value;
    if (value === "NaN") return NaN;
    if (value === "Infinity") return Infinity;
    if (value === "-Infinity") return -Infinity;
    return null;
  }

  /** A plottable number: non-finite values become null (a gap). */
  function plotNum(value) {
    const n = num(value);
    return n === null || !Number.isFinite(n) ? null : n;
  }

  function fmtNum(value) {
    if (value === null || value === undefined) return "";
    const n = num(value);
    if (n === null) return String(value);
    if (Number.isNaN(n)) return "NaN";
    if (n === Infinity) return "∞";
    if (n === -Infinity) return "−∞";
    if (Number.isInteger(n) && Math.abs(n) < 1e15) return String(n);
    const abs = Math.abs(n);
    if (abs !== 0 && (abs < 1e-4 || abs >= 1e6)) return n.toExponential(3).replace("e+", "e");
    return String(Number(n.toPrecision(5)));
  }

  /** Any stored value (hyperparameter, metadata, environment) as one line of text. */
  function fmtValue(value) {
    if (value === null || value === undefined) return value === null ? "null" : "";
    if (typeof value === "string") {
      if (value === "NaN" || value === "Infinity" || value === "-Infinity") return fmtNum(value);
      return value;
    }
    if (typeof value === "number") return fmtNum(value);
    if (typeof value === "boolean") return String(value);
    return JSON.stringify(value);
  }

  function pad(n, width) {
    return String(n).padStart(width || 2, "0");
  }

  function parseTime(iso) {
    if (typeof iso !== "string") return null;
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? null : new Date(ms);
  }

  /** An ISO time as local "YYYY-MM-DD HH:MM:SS". */
  function fmtTime(iso) {
    const date = parseTime(iso);
    if (!date) return iso ? String(iso) : "";
    return (
      date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds())
    );
  }

  function fmtAgo(iso) {
    const date = parseTime(iso);
    if (!date) return "";
    const seconds = (Date.now() - date.getTime()) / 1000;
    if (seconds < 0) return fmtTime(iso);
    if (seconds < 60) return Math.floor(seconds) + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    if (seconds < 86400 * 30) return Math.floor(seconds / 86400) + " d ago";
    return fmtTime(iso).slice(0, 10);
  }

  function fmtDuration(seconds) {
    const s = num(seconds);
    if (s === null || !Number.isFinite(s)) return "";
    if (s < 1) return (s * 1000).toFixed(0) + " ms";
    if (s < 60) return s.toFixed(1) + " s";
    const total = Math.round(s);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const sec = total % 60;
    return h > 0 ? h + "h " + pad(m) + "m" : m + "m " + pad(sec) + "s";
  }

  function fmtBytes(size) {
    const n = num(size);
    if (n === null || !Number.isFinite(n)) return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? String(value) : value.toFixed(1)) + " " + units[unit];
  }

  /** Nested dicts → {"a.b.c": value}; lists and scalars are leaves. */
  function flatten(value, prefix, out) {
    const result = out || {};
    if (value && typeof value === "object" && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length === 0 && prefix) result[prefix] = value;
      for (const key of keys) flatten(value[key], prefix ? prefix + "." + key : key, result);
    } else if (prefix) {
      result[prefix] = value;
    }
    return result;
  }

  // ---- Pieces of UI ---------------------------------------------------------------

  function statusChip(status, count) {
    const known = STATUSES.includes(status) ? status : "other";
    const label = count === undefined ? String(status) : String(status) + " " + count;
    return el("span", { className: "chip chip-" + known, text: label, title: String(status) });
  }

  function timeCell(iso) {
    return el("time", { text: fmtTime(iso), title: iso ? String(iso) : "", attrs: { datetime: iso } });
  }

  /** Compare for sorting: numbers before strings, missing (null/undefined/NaN/"") last. */
  function compareValues(a, b) {
    const missingA = a === null || a === undefined || a === "" || Number.isNaN(a);
    const missingB = b === null || b === undefined || b === "" || Number.isNaN(b);
    if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
    const numA = typeof a === "number";
    const numB = typeof b === "number";
    if (numA && numB) return a - b;
    if (numA !== numB) return numA ? -1 : 1;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  /** A sort value for a stored value: numbers (incl. "NaN"/"Infinity" strings) as numbers. */
  function sortValue(value) {
    if (value === null || value === undefined) return null;
    if (typeof value === "number" || typeof value === "string") {
      const n = num(value);
      if (n !== null) return Number.isNaN(n) ? null : n;
      return value;
    }
    if (typeof value === "boolean") return value ? 1 : 0;
    return JSON.stringify(value);
  }

  /**
   * A table whose header sorts on click. columns: [{key, label, title, sort(row), cell(row)
   * → Node|string, className}]; state: {sortKey, sortDir (1|-1)}. Returns {table, render(rows)}.
   */
  function sortableTable(columns, state, onSort) {
    const table = el("table", { className: "data" });
    const thead = el("thead");
    const tbody = el("tbody");
    table.append(thead, tbody);

    function renderHead() {
      clear(thead);
      const row = el("tr");
      for (const column of columns) {
        const sortable = Boolean(column.sort);
        const th = el("th", {
          className: (column.className || "") + (sortable ? " sortable" : ""),
          title: column.title || column.label,
          attrs: { scope: "col" },
        });
        if (column.headerNode) th.appendChild(column.headerNode);
        else th.textContent = column.label;
        if (sortable) {
          th.tabIndex = 0;
          if (state.sortKey === column.key) {
            th.classList.add(state.sortDir > 0 ? "sorted-asc" : "sorted-desc");
            th.setAttribute("aria-sort", state.sortDir > 0 ? "ascending" : "descending");
          }
          const activate = () => {
            if (state.sortKey === column.key) state.sortDir = -state.sortDir;
            else {
              state.sortKey = column.key;
              state.sortDir = column.defaultDir || 1;
            }
            if (onSort) onSort();
          };
          th.addEventListener("click", (event) => {
            if (event.target instanceof HTMLInputElement) return;
            activate();
          });
          th.addEventListener("keydown", (event) => {
            if (event.key === "Enter" || event.key === " ") {
              event.preventDefault();
              activate();
            }
          });
        }
        row.appendChild(th);
      }
      thead.appendChild(row);
    }

    function sorted(rows) {
      const column = columns.find((c) => c.key === state.sortKey);
      if (!column || !column.sort) return rows.slice();
      const dir = state.sortDir;
      const keyed = rows.map((row, index) => ({ row, index, value: column.sort(row) }));
      keyed.sort((x, y) => {
        const missingX = x.value === null || x.value === undefined || x.value === "";
        const missingY = y.value === null || y.value === undefined || y.value === "";
        if (missingX || missingY) return missingX === missingY ? x.index - y.index : missingX ? 1 : -1;
        return dir * compareValues(x.value, y.value) || x.index - y.index;
      });
      return keyed.map((entry) => entry.row);
    }

    function render(rows, rowFn) {
      renderHead();
      const fragment = document.createDocumentFragment();
      for (const row of rows) {
        const custom = rowFn ? rowFn(row) : null;
        if (custom) {
          fragment.appendChild(custom);
          continue;
        }
        const tr = el("tr");
        for (const column of columns) {
          const content = column.cell(row);
          const td = el("td", { className: column.className || "" });
          if (content instanceof Node) td.appendChild(content);
          else if (content !== undefined && content !== null) td.textContent = String(content);
          tr.appendChild(td);
        }
        fragment.appendChild(tr);
      }
      clear(tbody);
      tbody.appendChild(fragment);
    }

    return { table, thead, tbody, render, sorted };
  }

  /** A two-column key/value table from a flat object. */
  function kvTable(object, options) {
    const flat = options && options.flat ? object : flatten(object || {});
    const keys = Object.keys(flat);
    if (keys.length === 0) return el("p", { className: "muted", text: (options && options.empty) || "none" });
    const tbody = el("tbody");
    for (const key of keys) {
      tbody.appendChild(
        el("tr", null, el("th", { text: key, attrs: { scope: "row" } }), el("td", { className: "value", text: fmtValue(flat[key]) })),
      );
    }
    return el("table", { className: "data kv" }, tbody);
  }

  function errorBox(error, prefix) {
    const message = error instanceof Error ? error.message : String(error);
    const type = error && error.type ? error.type + ": " : "";
    return el("div", { className: "error-box", attrs: { role: "alert" } }, prefix ? prefix + " " : "", type + message);
  }

  /** Marks the page as rendered (tests and benchmarks wait on these attributes). */
  function markReady(name) {
    const key = name || "ready";
    document.body.dataset[key] = String(performance.now());
    // ...and once the browser has laid out and painted what was rendered.
    window.requestAnimationFrame(() => {
      window.setTimeout(() => {
        document.body.dataset[key + "Painted"] = String(performance.now());
      }, 0);
    });
  }

  return {
    STATUSES,
    el,
    append,
    clear,
    safeHref,
    experimentUrl,
    versionUrl,
    apiUrl,
    pathParts,
    ApiError,
    api,
    apiMany,
    editToken,
    post,
    num,
    plotNum,
    fmtNum,
    fmtValue,
    fmtTime,
    fmtAgo,
    fmtDuration,
    fmtBytes,
    parseTime,
    flatten,
    statusChip,
    timeCell,
    compareValues,
    sortValue,
    sortableTable,
    kvTable,
    errorBox,
    markReady,
  };
})();
