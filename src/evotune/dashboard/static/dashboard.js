// evotune dashboard: builds the pages from the JSON API.
// Every piece of study data goes into the page through textContent or element properties,
// never through HTML parsing, so names and values are always shown as text.
"use strict";

(function () {
  const PLOT_LABELS = {
    history: "history", parallel: "parallel coordinates", slice: "slices", contour: "contour",
    importance: "importance", lineage: "lineage",
  };

  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "text") node.textContent = value == null ? "" : String(value);
      else if (key === "className") node.className = value;
      else if (key === "title") node.title = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value);
    }
    for (const child of children || []) node.appendChild(child);
    return node;
  }

  function fmt(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") {
      if (Number.isInteger(value)) return String(value);
      return String(parseFloat(value.toPrecision(6)));
    }
    if (typeof value === "boolean") return value ? "true" : "false";
    return String(value);
  }

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
  }

  function ago(iso) {
    if (!iso) return "-";
    const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
    if (isNaN(seconds)) return String(iso);
    if (seconds < 60) return Math.max(0, Math.round(seconds)) + " s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.round(seconds / 3600) + " h ago";
    return Math.round(seconds / 86400) + " days ago";
  }

  async function getJSON(url) {
    const response = await fetch(url, { cache: "no-store", headers: { accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch (error) { body = null; }
    if (!response.ok) {
      const message = body && body.error ? body.error : "request failed (" + response.status + ")";
      const failure = new Error(message);
      failure.status = response.status;
      throw failure;
    }
    return body;
  }

  function setStatus(message) {
    const status = document.getElementById("status");
    status.textContent = message || "";
    status.hidden = !message;
  }

  function markLive() {
    document.getElementById("live").textContent = "updated " + new Date().toLocaleTimeString();
  }

  function schedule(task, seconds) {
    // Poll after each answer (never pile requests up); slow down when the tab is hidden.
    const delay = (document.hidden ? Math.max(10, seconds) : seconds) * 1000;
    window.setTimeout(task, delay);
  }

  // ---------------------------------------------------------------- studies page
  function studiesPage() {
    const body = document.querySelector("#studies tbody");
    let poll = 3;

    async function refresh() {
      try {
        const data = await getJSON("api/studies");
        poll = data.poll_seconds || poll;
        document.getElementById("storage").textContent = "storage: " + data.storage;
        const rows = data.studies.map(function (study) {
          const link = el("a", { href: "study?name=" + encodeURIComponent(study.name), text: study.name });
          return el("tr", { dataset: { name: study.name } }, [
            el("td", {}, [link]), el("td", { text: study.strategy }), el("td", { text: study.direction }),
            el("td", { text: study.metric || "" }), el("td", { className: "num", text: fmt(study.n_trials) }),
            el("td", { className: "num", text: fmt(study.n_complete) }),
            el("td", { className: "num", text: fmt(study.n_failed) }),
            el("td", { className: "num", text: fmt(study.best_value) }),
            el("td", { text: when(study.last_activity) }),
          ]);
        });
        body.replaceChildren(...rows);
        document.getElementById("empty").hidden = rows.length > 0;
        setStatus("");
        markLive();
      } catch (error) {
        setStatus(error.message);
      }
      schedule(refresh, poll);
    }
    refresh();
  }

  // ---------------------------------------------------------------- study page
  function studyPage() {
    const name = new URLSearchParams(window.location.search).get("name") || "";
    const state = {
      revision: null, tableRevision: null, plotRevision: null, plotAt: 0, plotBusy: false,
      plotCost: 0, kind: "history", columns: [], sort: "number", order: "desc", filters: {}, offset: 0,
      limit: 50, poll: 2, summary: null,
    };
    // An array value becomes one query key per item (params=a&params=b): names may hold commas.
    const api = function (path, extra) {
      const query = new URLSearchParams({ name: name });
      for (const [key, value] of Object.entries(extra || {})) {
        for (const item of Array.isArray(value) ? value : [value]) query.append(key, item);
      }
      return path + "?" + query.toString();
    };
    document.getElementById("title").textContent = name;
    document.title = name + " - evotune";

    function card(label, value, className, title) {
      return el("div", { className: "card " + (className || ""), title: title || "" }, [
        el("div", { className: "card-value", text: value }), el("div", { className: "card-label", text: label }),
      ]);
    }

    function keyValueTable(caption, mapping) {
      const rows = Object.entries(mapping).map(function (entry) {
        return el("tr", {}, [el("th", { text: entry[0] }), el("td", { text: fmt(entry[1]) })]);
      });
      return el("table", { className: "kv" }, [el("caption", { text: caption }), el("tbody", {}, rows)]);
    }

    function renderSummary(summary) {
      const counts = summary.counts;
      const strategy = summary.strategy && summary.strategy.type ? summary.strategy.type : "?";
      document.getElementById("cards").replaceChildren(
        card("trials", fmt(counts.total)), card("complete", fmt(counts.complete), "ok"),
        card("failed", fmt(counts.failed), counts.failed ? "bad" : ""),
        card("running", fmt(counts.running + counts.waiting)),
        card("best " + (summary.metric || "value"), summary.best ? fmt(summary.best.value) : "-", "best"),
        card("direction", summary.direction), card("strategy", strategy),
        card("last activity", ago(summary.last_activity), "", when(summary.last_activity)),
      );
      const best = document.getElementById("best");
      if (!summary.best) {
        best.replaceChildren(el("span", { className: "muted", text: "No complete trial yet." }));
      } else {
        const trial = summary.best;
        best.replaceChildren(
          el("p", { className: "best-head", text: "trial " + trial.number + ": " + (summary.metric || "value") +
            " = " + fmt(trial.value) + (trial.origin ? " (" + trial.origin + ")" : "") }),
          el("div", { className: "best-tables" }, [
            keyValueTable("parameters", trial.params), keyValueTable("metrics", trial.metrics),
          ]),
        );
      }
    }

    // -- plots
    function renderTabs(summary) {
      const tabs = document.getElementById("plot-tabs");
      if (tabs.childElementCount) {
        tabs.querySelector('[data-kind="lineage"]').hidden = !summary.has_lineage;
        return;
      }
      for (const kind of summary.plot_kinds) {
        const button = el("button", { type: "button", text: PLOT_LABELS[kind] || kind, dataset: { kind: kind } });
        button.addEventListener("click", function () { chooseKind(kind); });
        if (kind === "lineage") button.hidden = !summary.has_lineage;
        tabs.appendChild(button);
      }
      for (const id of ["contour-x", "contour-y"]) {
        const select = document.getElementById(id);
        select.replaceChildren(el("option", { value: "", text: "(most important)" }),
          ...summary.params.map(function (param) { return el("option", { value: param, text: param }); }));
        select.addEventListener("change", function () { loadPlot(); });
      }
      if (summary.has_lineage) state.kind = "lineage";
      markTab();
    }

    function markTab() {
      for (const button of document.querySelectorAll("#plot-tabs button")) {
        button.classList.toggle("active", button.dataset.kind === state.kind);
        button.setAttribute("aria-pressed", button.dataset.kind === state.kind ? "true" : "false");
      }
      document.getElementById("plot-options").hidden = state.kind !== "contour";
    }

    function chooseKind(kind) {
      state.kind = kind;
      markTab();
      loadPlot();
    }

    function plotParams() {
      if (state.kind !== "contour") return null;
      const x = document.getElementById("contour-x").value;
      const y = document.getElementById("contour-y").value;
      if (!x && !y) return null;
      if (!x || !y || x === y) return undefined;  // wait until two different parameters are chosen
      return [x, y];
    }

    async function loadPlot() {
      if (state.plotBusy || typeof Plotly === "undefined") return;
      const params = plotParams();
      const message = document.getElementById("plot-message");
      const target = document.getElementById("plot");
      if (params === undefined) {
        message.textContent = "Choose two different parameters.";
        message.hidden = false;
        return;
      }
      state.plotBusy = true;
      const revision = state.revision;
      const started = Date.now();
      try {
        const extra = { kind: state.kind };
        if (params) extra.params = params;
        const figure = await getJSON(api("api/plot", extra));
        if (figure.error) {
          message.textContent = figure.error;
          message.hidden = false;
          Plotly.purge(target);
        } else {
          message.hidden = true;
          const layout = Object.assign({}, figure.layout, { autosize: true });
          await Plotly.react(target, figure.data, layout,
            { responsive: true, displaylogo: false, toImageButtonOptions: { filename: "evotune-" + state.kind } });
        }
        state.plotRevision = revision;
        state.plotAt = Date.now();
        state.plotCost = state.plotAt - started;
      } catch (error) {
        message.textContent = error.message;
        message.hidden = false;
        if (error.status === 400) {  // a study this plot cannot draw: tried again when the trials change
          Plotly.purge(target);
          state.plotRevision = revision;
        }  // any other failure is retried at the next poll
      } finally {
        state.plotBusy = false;
      }
    }

    // -- table
    function headerCell(column) {
      const label = el("button", { type: "button", className: "sort", text: column.label,
        title: column.group + " " + column.label });
      if (state.sort === column.id) label.textContent += state.order === "asc" ? " \u25B2" : " \u25BC";
      label.addEventListener("click", function () {
        if (state.sort === column.id) state.order = state.order === "asc" ? "desc" : "asc";
        else { state.sort = column.id; state.order = "asc"; }
        state.offset = 0;
        buildHeader(true);
        loadTable();
      });
      return el("th", { className: column.kind === "number" ? "num " + column.group : column.group }, [label]);
    }

    function filterCell(column) {
      const hint = column.kind === "number" ? ">0.5" : column.kind === "time" ? "UTC date: 2024-05-01" : "text";
      const input = el("input", { type: "search", placeholder: hint,
        "aria-label": "filter " + column.label });
      input.value = state.filters[column.id] || "";
      let timer = null;
      input.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          if (input.value.trim()) state.filters[column.id] = input.value; else delete state.filters[column.id];
          state.offset = 0;
          loadTable();
        }, 250);
      });
      return el("th", {}, [input]);
    }

    function buildHeader(force) {
      const thead = document.querySelector("#trials thead");
      const ids = state.columns.map(function (c) { return c.id; }).join("\u0000");
      if (!force && thead.dataset.ids === ids) return;
      const focused = document.activeElement && document.activeElement.closest("#trials thead")
        ? document.activeElement.getAttribute("aria-label") : null;
      thead.replaceChildren(el("tr", {}, state.columns.map(headerCell)),
        el("tr", { className: "filters" }, state.columns.map(filterCell)));
      thead.dataset.ids = ids;
      if (focused) {
        for (const input of thead.querySelectorAll("input")) {
          if (input.getAttribute("aria-label") === focused) input.focus();
        }
      }
    }

    async function loadTable() {
      const query = { offset: state.offset, limit: state.limit, sort: state.sort, order: state.order,
        filter: JSON.stringify(state.filters) };
      try {
        const data = await getJSON(api("api/trials", query));
        state.columns = data.columns;
        state.tableRevision = data.revision;
        buildHeader(false);
        const stateAt = data.columns.findIndex(function (c) { return c.id === "state"; });
        const rows = data.rows.map(function (row) {
          const cells = row.map(function (value, i) {
            const column = data.columns[i];
            const shown = column.kind === "time" ? when(value) : fmt(value);
            const cell = el("td", { className: column.kind === "number" ? "num" : "", text: shown });
            if ((column.id === "error" || column.kind === "time") && value) cell.title = value;
            return cell;
          });
          const tr = el("tr", { className: "state-" + String(row[stateAt]).toLowerCase(),
            dataset: { number: String(row[0]) } }, cells);
          tr.addEventListener("click", function () { showTrial(row[0]); });
          return tr;
        });
        document.querySelector("#trials tbody").replaceChildren(...rows);
        const shown = data.rows.length;
        document.getElementById("matched").textContent = data.matched === data.total
          ? data.total + " trials" : data.matched + " of " + data.total + " trials match";
        document.getElementById("page-info").textContent = shown
          ? (data.offset + 1) + "-" + (data.offset + shown) : "0";
        document.getElementById("prev").disabled = data.offset <= 0;
        document.getElementById("next").disabled = data.offset + shown >= data.matched;
        setStatus("");
      } catch (error) {
        setStatus(error.message);
      }
    }

    async function showTrial(number) {
      try {
        const trial = await getJSON(api("api/trial", { number: number }));
        document.getElementById("detail-title").textContent = "Trial " + trial.number;
        document.getElementById("detail").textContent = JSON.stringify(trial, null, 2);
        const panel = document.getElementById("detail-panel");
        panel.hidden = false;
        panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
      } catch (error) {
        setStatus(error.message);
      }
    }

    document.getElementById("detail-close").addEventListener("click", function () {
      document.getElementById("detail-panel").hidden = true;
    });
    document.getElementById("prev").addEventListener("click", function () {
      state.offset = Math.max(0, state.offset - state.limit);
      loadTable();
    });
    document.getElementById("next").addEventListener("click", function () {
      state.offset += state.limit;
      loadTable();
    });
    document.getElementById("page-size").addEventListener("change", function (event) {
      state.limit = parseInt(event.target.value, 10);
      state.offset = 0;
      loadTable();
    });
    document.getElementById("clear-filters").addEventListener("click", function () {
      state.filters = {};
      state.offset = 0;
      buildHeader(true);
      loadTable();
    });

    // -- polling
    async function refresh() {
      try {
        const summary = await getJSON(api("api/study"));
        state.poll = summary.poll_seconds || state.poll;
        const first = state.summary === null;
        state.summary = summary;
        state.revision = summary.revision;
        renderSummary(summary);
        renderTabs(summary);
        if (state.tableRevision !== summary.revision) await loadTable();
        // Redraw a changed plot at most every two polls, and never spend more than a fifth
        // of the time drawing (a big plot on a slow machine is redrawn less often).
        const stale = state.plotRevision !== summary.revision;
        const pause = Math.max(2 * state.poll * 1000, 5 * state.plotCost);
        if (first || (stale && Date.now() - state.plotAt > pause)) await loadPlot();
        setStatus("");
        markLive();
      } catch (error) {
        setStatus(error.message);
      }
      schedule(refresh, state.poll);
    }
    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.body.dataset.page === "study") studyPage(); else studiesPage();
  });
})();
