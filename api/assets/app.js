// Tidewatch dashboard: reads /api/v1, draws each series with uPlot (vendored), the learned band
// shaded and anomalies marked. No build step, no framework.
"use strict";
(function () {
  const body = document.body;
  const errors = [];
  window.addEventListener("error", (e) => { errors.push(String(e.message)); body.dataset.errors = errors.length; });
  window.addEventListener("unhandledrejection", (e) => { errors.push(String(e.reason)); body.dataset.errors = errors.length; });

  // The token the user pastes (read, or admin for the buttons) lives in this tab's sessionStorage
  // only: never in the URL, never in localStorage, gone when the tab closes.
  const tokenInput = document.getElementById("token");
  tokenInput.value = sessionStorage.getItem("tidewatch_token") || "";
  tokenInput.addEventListener("change", () => { sessionStorage.setItem("tidewatch_token", tokenInput.value.trim()); load(); });

  const rank = { pass: 0, learning: 1, unknown: 1, anomaly: 2, fail: 3, error: 4 };
  let monitors = [];
  let selected = null;
  const plots = [];

  function say(text) { document.getElementById("message").textContent = text || ""; }

  async function api(path, opts) {
    const headers = Object.assign({ "Accept": "application/json" }, (opts && opts.headers) || {});
    const token = tokenInput.value.trim();
    if (token) headers["Authorization"] = "Bearer " + token;
    const res = await fetch(path, Object.assign({}, opts, { headers }));
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((data && data.error) || res.statusText);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function badge(status) {
    const s = document.createElement("span");
    s.className = "status " + status;
    s.textContent = status;
    return s;
  }

  function cell(tr, content) {
    const td = document.createElement("td");
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    tr.appendChild(td);
    return td;
  }

  function renderOverview() {
    const byDataset = new Map();
    for (const m of monitors) {
      if (!byDataset.has(m.dataset)) byDataset.set(m.dataset, []);
      byDataset.get(m.dataset).push(m);
    }
    const tbody = document.querySelector("#datasets tbody");
    tbody.textContent = "";
    let problems = 0;
    for (const [dataset, ms] of byDataset) {
      const worst = ms.map((m) => m.status).reduce((a, b) => (rank[b] > rank[a] ? b : a), "pass");
      const tr = document.createElement("tr");
      cell(tr, dataset);
      cell(tr, badge(worst));
      cell(tr, String(ms.length));
      const n = ms.reduce((k, m) => k + m.results.filter((r) => ["fail", "anomaly", "error"].includes(r.status)).length, 0);
      problems += n;
      cell(tr, String(n));
      tbody.appendChild(tr);
      for (const m of ms) {
        const row = document.createElement("tr");
        row.className = "monitor" + (selected === m.name ? " selected" : "");
        row.dataset.monitor = m.name;
        cell(row, "\u2003" + m.name);
        cell(row, badge(m.status));
        cell(row, m.schedule || "on request");
        cell(row, "");
        row.addEventListener("click", () => { selected = m.name; renderOverview(); renderDetail(); });
        tbody.appendChild(row);
      }
    }
    document.getElementById("summary").textContent =
      monitors.length + " monitors, " + byDataset.size + " datasets, " + problems + " problems";
  }

  function fmtTime(t) { return new Date(t).toISOString().replace("T", " ").slice(0, 19) + "Z"; }

  // One x axis for both: the stored buckets (the history the baseline learned from, bucketed
  // metrics only) and the measurements (value, band, anomaly at each scan).
  function chart(container, series) {
    const rows = new Map();
    const row = (x) => { if (!rows.has(x)) rows.set(x, { b: null, v: null, lo: null, hi: null, a: null }); return rows.get(x); };
    for (const b of series.buckets || []) row(Date.parse(b.start) / 1000).b = b.value;
    for (const p of series.points) {
      if (p.value === null) continue;
      const r = row(Date.parse(p.observed_at) / 1000);
      r.v = p.value; r.lo = p.lower; r.hi = p.upper; r.a = p.anomaly ? p.value : null;
    }
    const xs = Array.from(rows.keys()).sort((a, b) => a - b);
    const hasBuckets = (series.buckets || []).length > 1;
    const measured = series.points.filter((p) => p.value !== null).length;
    if (!hasBuckets && measured < 2) {
      const p = document.createElement("p");
      p.className = "nochart";
      p.textContent = measured === 0 ? "no values yet" : "one value so far: " + series.points.find((q) => q.value !== null).value;
      container.appendChild(p);
      return false;
    }
    const col = (k) => xs.map((x) => { const v = rows.get(x)[k]; return v === undefined ? null : v; });
    const width = Math.max(320, container.clientWidth - 16);
    const opts = {
      width, height: 180,
      legend: { show: true },
      scales: { x: { time: true } },
      axes: [{}, { size: 70 }],
      series: [
        {},
        { label: "per bucket", stroke: "#90a4ae", width: 1, spanGaps: true, show: hasBuckets },
        { label: "measured", stroke: "#1565c0", width: 1.5, spanGaps: true, points: { show: true, size: 5 } },
        { label: "lower", stroke: "rgba(46,125,50,.7)", dash: [4, 4], width: 1, spanGaps: true },
        { label: "upper", stroke: "rgba(46,125,50,.7)", dash: [4, 4], width: 1, spanGaps: true },
        { label: "anomaly", stroke: "#e65100", width: 0, paths: () => null,
          points: { show: true, size: 10, fill: "#e65100", stroke: "#e65100" } },
      ],
      bands: [{ series: [4, 3], fill: "rgba(76,175,80,.15)" }],
    };
    const plot = new uPlot(opts, [xs, col("b"), col("v"), col("lo"), col("hi"), col("a")], container);
    plots.push(plot);
    return true;
  }

  async function renderDetail() {
    for (const p of plots.splice(0)) p.destroy();
    const charts = document.getElementById("charts");
    charts.textContent = "";
    const m = monitors.find((x) => x.name === selected);
    const runNow = document.getElementById("run-now");
    if (!m) { document.getElementById("monitor-title").textContent = ""; runNow.hidden = true; return; }
    document.getElementById("monitor-title").textContent = m.name;
    document.getElementById("monitor-meta").textContent = m.dataset + " on " + m.source + " \u00b7 " + (m.schedule || "on request");
    runNow.hidden = false;
    runNow.onclick = async () => {
      try { const r = await api("/api/v1/monitors/" + encodeURIComponent(m.name) + "/runs", { method: "POST" }); say("run of " + m.name + " requested for " + fmtTime(r.scheduled_for)); }
      catch (e) { say("run now: " + e.message); }
    };
    let drawn = 0;
    const ordered = m.results.slice().sort((a, b) => rank[b.status] - rank[a.status]);
    for (const r of ordered) {
      const box = document.createElement("div");
      box.className = "chart";
      box.dataset.metric = r.metric;
      const h = document.createElement("h3");
      h.appendChild(document.createTextNode(r.metric + (r.column ? "(" + r.column + ")" : "")));
      h.appendChild(badge(r.status));
      box.appendChild(h);
      const msg = document.createElement("p");
      msg.className = "msg";
      msg.textContent = r.message;
      box.appendChild(msg);
      charts.appendChild(box);
      const q = "metric=" + encodeURIComponent(r.metric) + (r.column ? "&column=" + encodeURIComponent(r.column) : "") + "&limit=500";
      let s;
      try { s = await api("/api/v1/monitors/" + encodeURIComponent(m.name) + "/series?" + q); }
      catch (e) { msg.textContent = "history: " + e.message; continue; }
      if (chart(box, s)) drawn += 1;
      const anomalies = s.points.filter((p) => p.anomaly).slice(-5);
      if (anomalies.length) {
        const ul = document.createElement("ul");
        ul.className = "anomalies";
        for (const p of anomalies) {
          const li = document.createElement("li");
          li.textContent = "anomaly at " + fmtTime(p.observed_at) + ": " + p.value + " ";
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = "mark expected";
          b.onclick = async () => {
            try {
              const res = await api("/api/v1/monitors/" + encodeURIComponent(m.name) + "/feedback", {
                method: "POST", headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ metric: r.metric, column: r.column, observed_at: p.observed_at }),
              });
              say(res.message);
              li.remove();
            } catch (e) { say("feedback: " + e.message); }
          };
          li.appendChild(b);
          ul.appendChild(li);
        }
        box.appendChild(ul);
      }
    }
    body.dataset.charts = String(drawn);
  }

  function incidentSeries(i) {
    const l = i.labels || {};
    const what = (l.metric || "?") + (l.column ? "(" + l.column + ")" : "");
    return (l.monitor || "") + " " + what;
  }

  // Acknowledge / resolve need an admin token; a read token gets the API's 403 message.
  async function changeIncident(i, action) {
    try {
      await api("/api/v1/incidents/" + i.id + "/" + action, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ by: "dashboard" }),
      });
      say("incident " + i.id + " " + (action === "acknowledge" ? "acknowledged" : "resolved"));
      await renderIncidents();
    } catch (e) { say(action + ": " + (e.status === 401 || e.status === 403 ? "paste an admin token above (" + e.message + ")" : e.message)); }
  }

  async function renderIncidents() {
    const page = await api("/api/v1/incidents?state=open&limit=200");
    const tbody = document.querySelector("#incidents tbody");
    tbody.textContent = "";
    for (const i of page.incidents) {
      const tr = document.createElement("tr");
      tr.dataset.incidentId = String(i.id);
      tr.dataset.state = i.state;
      cell(tr, String(i.id));
      const series = cell(tr, incidentSeries(i));
      series.title = (i.annotations && i.annotations.message) || "";
      cell(tr, badge(i.state === "acknowledged" ? "learning" : i.severity === "critical" ? "fail" : "anomaly")).firstChild.textContent = i.state + " \u00b7 " + i.severity;
      cell(tr, fmtTime(i.first_seen));
      const actions = cell(tr, "");
      for (const action of ["acknowledge", "resolve"]) {
        if (action === "acknowledge" && i.state !== "open") continue;
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.action = action;
        b.textContent = action;
        b.onclick = () => changeIncident(i, action);
        actions.appendChild(b);
      }
      tbody.appendChild(tr);
    }
    document.getElementById("no-incidents").hidden = page.incidents.length > 0;
    body.dataset.incidents = String(page.total);
  }

  async function load() {
    say("");
    try {
      await renderIncidents();
      const page = await api("/api/v1/monitors?limit=1000");
      monitors = page.monitors;
      if (!selected || !monitors.some((m) => m.name === selected)) {
        const worst = monitors.slice().sort((a, b) => rank[b.status] - rank[a.status])[0];
        selected = worst ? worst.name : null;
      }
      renderOverview();
      await renderDetail();
      body.dataset.state = "ready";
    } catch (e) {
      body.dataset.state = "error";
      say(e.status === 401 ? "this server needs a token: enter it above" : "cannot load: " + e.message);
    }
  }

  load();
})();
