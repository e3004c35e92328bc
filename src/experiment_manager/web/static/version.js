// The version page: everything one version recorded, and its curves. Its name, tags and
// note, with the recorded changes to them; on a dashboard started with --allow-edits
// (the page then carries the server's edit token) they can be edited here.
"use strict";

(() => {
  const { el, clear, api } = EXPM;
  const parts = EXPM.pathParts();
  const experimentId = parts[1] || "";
  const version = parts[3] || "";
  const KNOWN = new Set([
    "experiment_id", "version", "created_at", "config_name", "hyperparameters", "metadata",
    "metrics", "checkpoints", "status", "ended_at", "duration", "error", "environment",
    "resumed", "last_logged_at", "steps", "timestamps", "checkpoint_details", "metric_summaries",
    "name", "tags", "note", "events", "archived",
  ]);
  const editable = EXPM.editToken() !== null;

  function section(title, id, ...children) {
    return el("section", { className: "panel", attrs: { id } }, el("h2", { text: title }), ...children);
  }

  /** last/min/max/mean/count of one metric's values (NaN ignored by min, max, mean). */
  function summarize(values, steps) {
    let min = null;
    let max = null;
    let argmin = null;
    let argmax = null;
    let sum = 0;
    let finite = 0;
    for (let i = 0; i < values.length; i++) {
      const y = EXPM.num(values[i]);
      if (y === null || Number.isNaN(y)) continue;
      const step = steps ? steps[i] : i;
      if (min === null || y < min) (min = y), (argmin = step);
      if (max === null || y > max) (max = y), (argmax = step);
      sum += y;
      finite += 1;
    }
    return {
      count: values.length,
      last: values.length ? values[values.length - 1] : null,
      min,
      max,
      argmin,
      argmax,
      mean: finite ? sum / finite : null,
      firstStep: steps && steps.length ? steps[0] : values.length ? 0 : null,
      lastStep: steps && steps.length ? steps[steps.length - 1] : values.length ? values.length - 1 : null,
    };
  }

  function metricsSection(record) {
    const metrics = record.metrics || {};
    const steps = record.steps || {};
    const names = Object.keys(metrics);
    const wrap = section("Metrics", "metrics");
    if (names.length === 0) {
      wrap.appendChild(el("p", { className: "muted", text: "No metrics logged." }));
      return { wrap, names };
    }
    const head = el("tr", null, ["metric", "count", "last", "min", "at step", "max", "at step", "mean", "steps"].map((t, i) => el("th", { text: t, className: i ? "num" : "", attrs: { scope: "col" } })));
    const tbody = el("tbody");
    for (const name of names) {
      const values = Array.isArray(metrics[name]) ? metrics[name] : [];
      const s = summarize(values, Array.isArray(steps[name]) ? steps[name] : null);
      tbody.appendChild(
        el(
          "tr",
          null,
          el("th", { className: "key", text: name, attrs: { scope: "row" } }),
          el("td", { className: "num", text: String(s.count) }),
          el("td", { className: "num", text: EXPM.fmtNum(s.last) }),
          el("td", { className: "num", text: EXPM.fmtNum(s.min) }),
          el("td", { className: "num muted", text: s.argmin === null ? "" : String(s.argmin) }),
          el("td", { className: "num", text: EXPM.fmtNum(s.max) }),
          el("td", { className: "num muted", text: s.argmax === null ? "" : String(s.argmax) }),
          el("td", { className: "num", text: EXPM.fmtNum(s.mean) }),
          el("td", { className: "num muted", text: s.firstStep === null ? "" : s.firstStep + " – " + s.lastStep }),
        ),
      );
    }
    wrap.appendChild(el("div", { className: "table-wrap" }, el("table", { className: "data" }, el("thead", null, head), tbody)));

    const select = el("select", { attrs: { "aria-label": "Metric to plot" } }, names.map((n) => el("option", { value: n, text: n })));
    const xSelect = el("select", { attrs: { "aria-label": "x axis" } }, [["step", "step"], ["time", "wall time"], ["index", "point #"]].map(([v, t]) => el("option", { value: v, text: t })));
    const log = el("input", { type: "checkbox" });
    const toolbar = el(
      "div",
      { className: "panel-head" },
      el("label", null, "plot ", select),
      el("label", null, "x ", xSelect),
      el("label", { className: "check" }, log, " log y"),
      el("span", { id: "live-indicator", className: "live", text: "● live", hidden: true }),
    );
    const chartDiv = el("div", { id: "chart", className: "chart" });
    const status = el("div", { className: "chart-status muted" });
    wrap.append(toolbar, chartDiv, status);
    const chart = new MetricChart.Chart(chartDiv, {
      experimentId,
      onUpdate: (info) => {
        document.getElementById("live-indicator").hidden = !info.live;
        status.textContent = info.series
          .map((s) => s.total.toLocaleString() + (s.total === 1 ? " point" : " points") + (s.exact ? "" : ", drawn as " + s.shown.toLocaleString() + " (min and max per bucket: zoom in for every point)") + (s.gaps ? ", " + s.gaps.toLocaleString() + " NaN/∞ not drawn" : ""))
          .join("; ");
      },
    });
    const preferred = names.find((n) => n === "loss") || names.find((n) => /loss/i.test(n)) || names[0];
    select.value = preferred;
    const show = () =>
      chart.show({
        metric: select.value,
        x: xSelect.value,
        logY: log.checked,
        smoothing: 0,
        versions: [{ version: record.version, label: "v" + record.version }],
      });
    select.addEventListener("change", show);
    xSelect.addEventListener("change", show);
    log.addEventListener("change", show);
    return { wrap, names, show };
  }

  /** Name, tags and note, editable with --allow-edits, and the changes recorded to them. */
  function curationSection(record) {
    const wrap = section("Name, tags and note", "curation");
    const status = el("span", { id: "curation-status", className: "muted", attrs: { role: "status" } });
    const save = async (what, body) => {
      status.textContent = "Saving…";
      let answer;
      try {
        answer = await EXPM.post(["experiments", experimentId, "versions", version, what], body);
      } catch (error) {
        clear(status).appendChild(EXPM.errorBox(error, "Could not save."));
        return;
      }
      status.textContent = "Saved.";
      // The record as stored now (the events list included).
      const fresh = await api(["experiments", experimentId, "versions", version]);
      wrap.replaceWith(curationSection(Object.assign({}, fresh, { name: answer.name, tags: answer.tags, note: answer.note })));
      document.body.dataset.edited = String(Number(document.body.dataset.edited || 0) + 1);
    };
    const tags = Array.isArray(record.tags) ? record.tags : [];
    const form = el("div", { className: "curation-form" });
    if (editable) {
      const name = el("input", { type: "text", id: "edit-name", className: "edit-input", value: record.name || "", attrs: { maxlength: "200", "aria-label": "Name" } });
      const rename = el("button", { type: "button", id: "save-name", className: "secondary small", text: "Rename" });
      rename.addEventListener("click", () => save("name", { name: name.value }));
      const chips = tags.map((tag) => {
        const remove = el("button", { type: "button", className: "tag-remove", text: "×", attrs: { "aria-label": "Remove tag " + tag } });
        remove.addEventListener("click", () => save("tags", { remove: [tag] }));
        return el("span", { className: "tag" }, String(tag), remove);
      });
      const newTag = el("input", { type: "text", id: "edit-tag", className: "edit-input tag-input", attrs: { maxlength: "64", "aria-label": "New tag", placeholder: "new tag" } });
      const addTag = el("button", { type: "button", id: "add-tag", className: "secondary small", text: "Add tag" });
      addTag.addEventListener("click", () => {
        const items = newTag.value.split(/[\s,]+/).filter(Boolean);
        if (items.length) save("tags", { add: items });
      });
      const note = el("textarea", { id: "edit-note", value: record.note || "", attrs: { maxlength: "100000", "aria-label": "Note" } });
      const setNote = el("button", { type: "button", id: "save-note", className: "secondary small", text: "Save note" });
      setNote.addEventListener("click", () => save("note", { note: note.value }));
      form.append(
        el("label", { text: "name", attrs: { for: "edit-name" } }), el("span", { className: "editable" }, name, rename),
        el("span", { text: "tags" }), el("span", { className: "tags" }, chips, newTag, addTag),
        el("label", { text: "note", attrs: { for: "edit-note" } }), el("div", null, note, setNote),
      );
    } else {
      form.append(
        el("span", { text: "name" }), el("span", { text: record.name || "" }),
        el("span", { text: "tags" }), el("span", { className: "tags" }, tags.map((t) => el("span", { className: "tag", text: String(t) }))),
        el("span", { text: "note" }), el("pre", { className: "note", text: record.note || "" }),
      );
    }
    wrap.append(form, status);
    const events = Array.isArray(record.events) ? record.events : [];
    if (events.length > 0) {
      wrap.appendChild(el("h3", { text: "Changes" }));
      wrap.appendChild(objectsTable(events.map((e) => ({ at: e.at, who: (e.user || "?") + "@" + (e.host || "?"), action: e.action, value: e.value })), ["at", "who", "action", "value"]));
    }
    return wrap;
  }

  function errorSection(error) {
    const wrap = section("Error", "error");
    if (error && typeof error === "object") {
      const rest = Object.assign({}, error);
      const traceback = rest.traceback;
      delete rest.traceback;
      wrap.appendChild(EXPM.kvTable(rest, { flat: true }));
      if (traceback) wrap.appendChild(el("pre", { className: "traceback", text: String(traceback) }));
    } else {
      wrap.appendChild(el("pre", { className: "traceback", text: String(error) }));
    }
    return wrap;
  }

  function objectsTable(rows, preferredKeys) {
    const keys = [...preferredKeys];
    for (const row of rows) for (const key of Object.keys(row || {})) if (!keys.includes(key)) keys.push(key);
    const head = el("tr", null, keys.map((k) => el("th", { text: k, attrs: { scope: "col" } })));
    const tbody = el("tbody");
    for (const row of rows) {
      tbody.appendChild(el("tr", null, keys.map((k) => el("td", { className: "value", text: row && k in row ? EXPM.fmtValue(row[k]) : "" }))));
    }
    return el("div", { className: "table-wrap" }, el("table", { className: "data" }, el("thead", null, head), tbody));
  }

  function checkpointsSection(record) {
    const wrap = section("Checkpoints", "checkpoints");
    const details = Array.isArray(record.checkpoint_details) ? record.checkpoint_details : null;
    const paths = Array.isArray(record.checkpoints) ? record.checkpoints : [];
    if ((!details || details.length === 0) && paths.length === 0) {
      wrap.appendChild(el("p", { className: "muted", text: "No checkpoints recorded." }));
      return wrap;
    }
    if (!details || details.length === 0) {
      wrap.appendChild(objectsTable(paths.map((path) => ({ path })), ["path"]));
      return wrap;
    }
    const head = el("tr", null, ["path", "step", "added", "file", "size", "modified", "sha256", "metrics"].map((t) => el("th", { text: t, attrs: { scope: "col" } })));
    const tbody = el("tbody");
    for (const c of details) {
      const exists = c.exists === true ? el("span", { className: "chip chip-finished", text: "exists" }) : c.exists === false ? el("span", { className: "chip chip-failed", text: "missing" }) : el("span", { className: "muted", text: "?" });
      const metrics = c.metrics && typeof c.metrics === "object" ? Object.entries(c.metrics).map(([k, v]) => k + "=" + EXPM.fmtValue(v)).join(", ") : "";
      const sha = c.sha256 ? String(c.sha256) : "";
      const mtime = EXPM.num(c.mtime);
      tbody.appendChild(
        el(
          "tr",
          null,
          el("td", { className: "path", text: String(c.path ?? ""), title: c.abspath ? String(c.abspath) : undefined }),
          el("td", { className: "num", text: c.step === null || c.step === undefined ? "" : String(c.step) }),
          el("td", null, EXPM.timeCell(c.added_at)),
          el("td", null, exists),
          el("td", { className: "num", text: EXPM.fmtBytes(c.size), title: c.size === null || c.size === undefined ? undefined : String(c.size) + " bytes" }),
          el("td", { text: mtime !== null && Number.isFinite(mtime) ? EXPM.fmtTime(new Date(mtime * 1000).toISOString()) : typeof c.mtime === "string" ? EXPM.fmtTime(c.mtime) : "" }),
          el("td", { className: "hash", text: sha ? sha.slice(0, 12) + "…" : "", title: sha || undefined }),
          el("td", { className: "value", text: metrics }),
        ),
      );
    }
    wrap.appendChild(el("div", { className: "table-wrap" }, el("table", { className: "data" }, el("thead", null, head), tbody)));
    return wrap;
  }

  function render(record) {
    const content = clear(document.getElementById("content"));
    document.getElementById("status").appendChild(EXPM.statusChip(record.status));

    const overview = {
      experiment_id: record.experiment_id,
      version: record.version,
      config_name: record.config_name,
      status: record.status,
      created_at: record.created_at,
      ended_at: record.ended_at,
      duration: record.duration === null || record.duration === undefined ? null : EXPM.fmtDuration(record.duration) + "  (" + EXPM.fmtValue(record.duration) + " s)",
      last_logged_at: record.last_logged_at,
      checkpoints: Array.isArray(record.checkpoints) ? record.checkpoints.length : 0,
      resumed: Array.isArray(record.resumed) ? record.resumed.length : 0,
      archived: record.archived ? true : undefined,
    };
    for (const key of Object.keys(overview)) if (overview[key] === undefined) delete overview[key];
    const overviewTable = EXPM.kvTable(overview, { flat: true });
    for (const row of overviewTable.querySelectorAll("tr")) {
      const key = row.firstChild.textContent;
      if (key.endsWith("_at") && record[key]) {
        const td = row.lastChild;
        td.textContent = EXPM.fmtTime(record[key]);
        td.title = String(record[key]);
      }
    }
    content.appendChild(
      el(
        "div",
        { className: "grid-3" },
        section("Overview", "overview", overviewTable),
        section("Hyperparameters", "hyperparameters", EXPM.kvTable(record.hyperparameters || {}, { empty: "No hyperparameters." })),
        section("Metadata", "metadata", EXPM.kvTable(record.metadata || {}, { empty: "No metadata." })),
      ),
    );
    content.appendChild(curationSection(record));
    if (record.error) content.appendChild(errorSection(record.error));

    const metrics = metricsSection(record);
    content.appendChild(metrics.wrap);
    content.appendChild(checkpointsSection(record));
    if (Array.isArray(record.resumed) && record.resumed.length > 0) {
      content.appendChild(section("Resumed", "resumed", objectsTable(record.resumed, [])));
    }
    content.appendChild(section("Environment", "environment", EXPM.kvTable(record.environment || {}, { empty: "No environment captured." })));
    const other = {};
    for (const [key, value] of Object.entries(record)) if (!KNOWN.has(key)) other[key] = value;
    if (Object.keys(other).length > 0) content.appendChild(section("Other fields", "other", EXPM.kvTable(other)));
    if (metrics.show) metrics.show();
  }

  async function load() {
    const experimentLink = document.getElementById("crumb-experiment");
    experimentLink.textContent = experimentId;
    experimentLink.setAttribute("href", EXPM.experimentUrl(experimentId));
    document.getElementById("crumb-version").textContent = "v" + version;
    document.getElementById("title").textContent = experimentId + " · v" + version;
    document.title = experimentId + " v" + version + " · experiment_manager";
    document.getElementById("download").setAttribute("href", EXPM.apiUrl(["experiments", experimentId, "versions", version], { download: 1 }));
    document.getElementById("open-experiment").setAttribute("href", EXPM.experimentUrl(experimentId, { versions: version }));
    let record;
    try {
      record = await api(["experiments", experimentId, "versions", version]);
    } catch (error) {
      clear(document.getElementById("content")).appendChild(EXPM.errorBox(error, "Could not load this version."));
      EXPM.markReady("ready");
      return;
    }
    render(record);
    EXPM.markReady("ready");
  }

  load();
})();
