// The viewer's page, embedded in the binary: no CDN, no build step, nothing
// to install, and a `dreamlake` binary copied anywhere still serves it. The
// chart layer is our own canvas renderer made for M4 data (first, last,
// minimum and maximum a pixel column, from the store's envelope): a general
// charting library (Debian's dygraphs) wants every point it draws, which is
// what an envelope exists to avoid sending.

/// The files of the viewer's page.
enum ViewerAssets {
    static let indexHTML = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>dreamlake</title>
    <link rel="stylesheet" href="/app.css">
    <script src="/app.js" defer></script>
    </head>
    <body>
    <header><a href="#/" id="home">dreamlake</a><span id="where"></span></header>
    <div id="login" hidden>
      <p>This viewer asks for a token: paste one from <code>dreamlake token --user NAME</code>
      (or, from a server on this machine that takes Python dreamlake's built-in secret, your user name).</p>
      <input id="token" type="password" placeholder="token or user name" autocomplete="off"><button id="signin">Sign in</button>
      <p id="login-error" class="error"></p>
    </div>
    <main id="main"></main>
    </body>
    </html>
    """#

    static let appCSS = #"""
    body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
    header { background: #1d3557; color: #fff; padding: 6px 12px; }
    header a { color: #fff; font-weight: bold; text-decoration: none; margin-right: 12px; }
    main { padding: 8px 12px; }
    .layout { display: flex; gap: 12px; }
    .sidebar { min-width: 160px; max-width: 220px; }
    .sidebar ul { list-style: none; padding-left: 12px; margin: 0; }
    .sidebar li { cursor: pointer; white-space: nowrap; }
    .sidebar li.selected { font-weight: bold; }
    .content { flex: 1; overflow-x: auto; }
    table { border-collapse: collapse; background: #fff; }
    th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; white-space: nowrap; }
    th { background: #eef; cursor: pointer; user-select: none; }
    td.num { text-align: right; font-variant-numeric: tabular-nums; }
    .live { color: #2a9d8f; font-weight: bold; }
    .error { color: #c00; }
    .toolbar { margin: 6px 0; display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
    .toolbar input[type=text] { width: 320px; }
    .charts { display: flex; flex-wrap: wrap; gap: 12px; }
    .chart { background: #fff; border: 1px solid #ddd; padding: 4px; }
    .chart h3 { margin: 2px 0; font-size: 13px; }
    .chart canvas { display: block; cursor: crosshair; }
    .chart .info { font-size: 11px; color: #555; min-height: 1.4em; }
    .chart .toolbar { margin: 2px 0; }
    .legend span { margin-right: 10px; }
    .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 3px; }
    .logs { max-height: 360px; overflow-y: auto; background: #fff; border: 1px solid #ddd; font-family: monospace; }
    .logs div { white-space: pre-wrap; padding: 0 4px; }
    .lvl-warn { color: #b36b00; } .lvl-error, .lvl-fatal { color: #c00; } .lvl-debug { color: #888; }
    section { margin-bottom: 16px; }
    h2 { font-size: 15px; margin: 10px 0 4px; }
    """#

    static let appJS = #"""
    "use strict";
    // dreamlake's viewer: the runs table, a run, and a comparison, read from
    // the JSON API (README.md, "The viewer's JSON API"). Charts are drawn from
    // envelopes: first, last, minimum and maximum of each pixel column.
    const $ = (sel, el) => (el || document).querySelector(sel);
    const el = (tag, attrs, ...kids) => {
      const e = document.createElement(tag);
      for (const [k, v] of Object.entries(attrs || {})) {
        if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else if (v !== undefined && v !== null) e.setAttribute(k, v);
      }
      for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
      return e;
    };
    const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
    let timers = [];
    const clearTimers = () => { timers.forEach(clearInterval); timers = []; };

    async function api(path, params) {
      const q = new URLSearchParams(params || {}).toString();
      const r = await fetch("/api/" + path + (q ? "?" + q : ""), { credentials: "same-origin" });
      if (r.status === 401) { showLogin(); throw new Error("sign in first"); }
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.statusText);
      return body;
    }
    function showLogin() { $("#login").hidden = false; }
    async function signIn() {
      // A token is three dot-separated parts; anything else is taken for a user name.
      const value = $("#token").value.trim();
      const body = value.split(".").length === 3 ? { token: value } : { user: value };
      const r = await fetch("/api/login", { method: "POST", credentials: "same-origin", body: JSON.stringify(body) });
      const b = await r.json();
      if (!r.ok) { $("#login-error").textContent = b.error; return; }
      $("#login").hidden = true; route();
    }

    // The view's state lives in the URL: a link shows the same view.
    function parseHash() {
      const h = location.hash.replace(/^#/, "") || "/";
      const [path, query] = h.split("?");
      return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), q: new URLSearchParams(query || "") };
    }
    function setQuery(q) {
      const { parts } = parseHash();
      history.replaceState(null, "", "#/" + parts.map(encodeURIComponent).join("/") + (q.toString() ? "?" + q : ""));
    }
    async function route() {
      clearTimers();
      const { parts, q } = parseHash();
      const main = $("#main");
      main.replaceChildren(el("p", {}, "loading…"));
      try {
        if (parts[0] === "run" && parts.length >= 3) await showRun(main, parts[1], parts[2]);
        else if (parts[0] === "compare") await showCompare(main, (q.get("runs") || "").split(",").filter(Boolean));
        else await showRuns(main, q);
      } catch (e) { main.replaceChildren(el("p", { class: "error" }, String(e.message || e))); }
    }

    // MARK: the runs table
    const fmt = v => v === null || v === undefined ? "" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : String(v);
    function conditionFilter(text) {
      // "lr < 0.01", "loss >= 0.3", "tag:baseline", "folder:/a", else free text.
      const parts = text.split(/\s*(?:,|\band\b)\s*/).filter(Boolean);
      return parts.map(p => {
        let m = p.match(/^([\w./-]+)\s*(<=|>=|!=|==|=|<|>)\s*(-?[\d.eE+-]+|\S+)$/);
        if (m) {
          const [, key, op, raw] = m; const num = Number(raw);
          return row => {
            let v = row.parameters && key in row.parameters ? row.parameters[key] : undefined;
            if (v === undefined) { const t = (row.tracks || []).find(t => t.name === key); v = t ? t.last : undefined; }
            if (v === undefined) v = row[key];
            if (v === undefined || v === null) return false;
            const a = typeof v === "number" && !isNaN(num) ? v : String(v), b = typeof v === "number" && !isNaN(num) ? num : raw;
            switch (op) { case "<": return a < b; case ">": return a > b; case "<=": return a <= b; case ">=": return a >= b; case "!=": return a != b; default: return a == b; }
          };
        }
        m = p.match(/^tag:(.+)$/); if (m) return row => (row.tags || []).includes(m[1]);
        const needle = p.toLowerCase();
        return row => JSON.stringify([row.workspace, row.session, row.folder, row.tags, row.description]).toLowerCase().includes(needle);
      });
    }
    let runsShown = 0;
    async function showRuns(main, q) {
      const seq = ++runsShown;
      const data = await api("runs");
      if (seq !== runsShown) return;  // a later look is on its way: this one is stale
      const runs = data.runs;
      const paramKeys = [...new Set(runs.flatMap(r => Object.keys(r.parameters || {})))].sort();
      const trackNames = [...new Set(runs.flatMap(r => (r.tracks || []).map(t => t.name)))].sort();
      // The track most runs have (ties: by name) unless the URL picks one.
      const having = name => runs.filter(r => (r.tracks || []).some(t => t.name === name)).length;
      const pickedTrack = q.get("track") || trackNames.slice().sort((a, b) => having(b) - having(a))[0] || "";
      const columns = [
        ["run", r => r.workspace + "/" + r.session], ["folder", r => r.folder], ["tags", r => r.tags], ["description", r => r.description],
        ["created", r => r.createdAt], ["last write", r => r.lastWrite], ["status", r => r.error ? "unreadable" : r.live ? "live" : "finished"],
        ["points", r => r.points], ["logs", r => r.logs],
        ["last " + pickedTrack, r => ((r.tracks || []).find(t => t.name === pickedTrack) || {}).last],
        ...paramKeys.map(k => [k, r => (r.parameters || {})[k]]),
      ];
      const folder = q.get("folder") || "";
      const filters = conditionFilter(q.get("q") || "");
      let shown = runs.filter(r => filters.every(f => f(r)) && (!folder || (r.folder || "").startsWith(folder)));
      const sort = q.get("sort"), dir = q.get("dir") === "desc" ? -1 : 1;
      const col = columns.find(c => c[0] === sort);
      if (col) shown = shown.slice().sort((a, b) => {
        const x = col[1](a), y = col[1](b);
        if (x === y) return 0; if (x === undefined || x === null) return 1; if (y === undefined || y === null) return -1;
        return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * dir;
      });
      const selected = new Set((q.get("selected") || "").split(",").filter(Boolean));
      const update = (k, v) => { v ? q.set(k, v) : q.delete(k); if (k !== "page") q.delete("page"); setQuery(q); showRuns(main, q); };
      const filterBox = el("input", { type: "text", id: "filter", placeholder: "filter: text, tag:NAME, lr < 0.01, loss < 0.3", value: q.get("q") || "" });
      filterBox.addEventListener("change", () => update("q", filterBox.value));
      const trackPick = el("select", { id: "track-pick" }, ...trackNames.map(n => el("option", n === pickedTrack ? { selected: "" } : {}, n)));
      trackPick.addEventListener("change", () => update("track", trackPick.value));
      const compare = el("button", { id: "compare", onclick: () => { location.hash = "#/compare?runs=" + [...selected].map(encodeURIComponent).join(","); } }, "Compare selected");
      const header = el("tr", {}, el("th", {}, ""), ...columns.map(([name]) => el("th", { onclick: () => { q.set("dir", sort === name && dir === 1 ? "desc" : "asc"); update("sort", name); } }, name + (sort === name ? (dir === 1 ? " ▲" : " ▼") : ""))));
      // A page of rows at a time: a browser lays out a table of every run's every parameter slowly.
      const pageSize = 100, pages = Math.max(1, Math.ceil(shown.length / pageSize));
      const page = Math.min(pages, Math.max(1, Number(q.get("page")) || 1));
      const pager = el("span", { class: "pager" },
        el("button", { id: "prev", onclick: () => update("page", page > 2 ? String(page - 1) : "") }, "‹"),
        " page " + page + " of " + pages + " ",
        el("button", { id: "next", onclick: () => update("page", String(Math.min(pages, page + 1))) }, "›"));
      if (page <= 1) pager.querySelector("#prev").disabled = true;
      if (page >= pages) pager.querySelector("#next").disabled = true;
      const rows = shown.slice((page - 1) * pageSize, page * pageSize).map(r => {
        const id = r.workspace + "/" + r.session;
        const box = el("input", { type: "checkbox", "data-run": id });
        box.checked = selected.has(id);
        box.addEventListener("change", () => { box.checked ? selected.add(id) : selected.delete(id); q.set("selected", [...selected].join(",")); setQuery(q); });
        return el("tr", { "data-run": id }, el("td", {}, box), ...columns.map(([name, get], i) => {
          const v = get(r);
          if (i === 0) return el("td", {}, el("a", { href: "#/run/" + encodeURIComponent(r.workspace) + "/" + encodeURIComponent(r.session) }, v));
          if (name === "status") return el("td", { class: v === "live" ? "live" : "" }, v);
          return el("td", { class: typeof v === "number" ? "num" : "" }, fmt(v));
        }));
      });
      // The folder tree of the sessions' folder= fields.
      const tree = {};
      for (const r of runs) { let node = tree; for (const part of (r.folder || "").split("/").filter(Boolean)) node = node[part] = node[part] || {}; }
      const renderTree = (node, prefix) => el("ul", {}, ...Object.keys(node).sort().map(k => {
        const path = prefix + "/" + k;
        return el("li", { class: folder === path ? "selected" : "", onclick: ev => { ev.stopPropagation(); update("folder", folder === path ? "" : path); } }, k, Object.keys(node[k]).length ? renderTree(node[k], path) : null);
      }));
      const hadFocus = document.activeElement && document.activeElement.id === "filter";
      main.replaceChildren(el("div", { class: "layout" },
        el("div", { class: "sidebar" }, el("h2", {}, "Folders"), el("div", { class: folder ? "" : "selected", onclick: () => update("folder", "") }, "all"), renderTree(tree, "")),
        el("div", { class: "content" },
          el("div", { class: "toolbar" }, filterBox, el("label", {}, "track: ", trackPick), compare, el("span", { id: "count" }, shown.length + " of " + runs.length + " runs"), pages > 1 ? pager : null),
          el("table", { id: "runs" }, el("thead", {}, header), el("tbody", {}, ...rows)))));
      if (hadFocus) { const f = $("#filter"); f.focus(); f.setSelectionRange(f.value.length, f.value.length); }
      $("#where").textContent = data.root;
    }

    // MARK: charts
    // A chart of one or more series over an index range, drawn from envelopes
    // (one bucket a device pixel column): every extreme drawn where it is.
    function makeChart(title, series, opts) {
      const width = opts.width || 560, height = opts.height || 220, dpr = window.devicePixelRatio || 1;
      const canvas = el("canvas", { width: width * dpr, height: height * dpr, "data-track": title });
      canvas.style.width = width + "px"; canvas.style.height = height + "px";
      const info = el("div", { class: "info" });
      const legend = series.length > 1 ? el("div", { class: "legend" }, ...series.map((s, i) => el("span", {}, el("span", { class: "swatch", "data-color": COLORS[i % COLORS.length] }), s.label))) : null;
      if (legend) legend.querySelectorAll(".swatch").forEach(sw => { sw.style.background = sw.dataset.color; });
      const logBox = el("input", { type: "checkbox" });
      // Smoothing: an exponential moving average, debiased as TensorBoard's, over the faint raw line.
      const smooth = el("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: "0", class: "smoothing" });
      const fields = opts.fields && opts.fields.length > 1 ? el("select", { class: "field" }, ...opts.fields.map(f => el("option", f === opts.field ? { selected: "" } : {}, f))) : null;
      const box = el("div", { class: "chart" }, el("h3", {}, title), legend, canvas, info,
        el("div", { class: "toolbar" }, el("label", {}, logBox, " log y"), el("label", {}, "smoothing ", smooth), fields ? el("label", {}, "field ", fields) : null));
      const state = { range: null, data: [], drag: null, count: 0 };
      if (fields) fields.addEventListener("change", () => { series.forEach(s => { s.field = fields.value; }); load(); });
      smooth.addEventListener("input", () => draw());
      const pad = { l: 52, r: 8, t: 8, b: 20 };
      async function load() {
        const buckets = Math.max(1, Math.floor((width - pad.l - pad.r) * dpr));
        const params = state.range ? { from: state.range[0], to: state.range[1] } : {};
        state.data = await Promise.all(series.map(s => api("envelope", { workspace: s.workspace, session: s.session, track: s.track, field: s.field || "value", buckets, ...params })));
        state.count = Math.max(...state.data.map(d => d.count));
        draw();
        canvas.dataset.loaded = String(Number(canvas.dataset.loaded || 0) + 1);
      }
      function extent() {
        let lo = Infinity, hi = -Infinity, x0 = Infinity, x1 = -Infinity;
        for (const d of state.data) for (const b of d.buckets) {
          x0 = Math.min(x0, b.from); x1 = Math.max(x1, b.to - 1);
          for (const p of [b.min, b.max]) if (p && (!logBox.checked || p[1] > 0)) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); }
        }
        if (state.range) { x0 = state.range[0]; x1 = state.range[1] - 1; }
        if (!isFinite(lo)) { lo = 0; hi = 1; } if (lo === hi) { lo -= 0.5; hi += 0.5; }
        if (x0 >= x1) x1 = x0 + 1;
        return { lo, hi, x0, x1 };
      }
      function draw() {
        const ctx = canvas.getContext("2d");
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.clearRect(0, 0, width, height);
        const { lo, hi, x0, x1 } = extent();
        const ty = logBox.checked ? v => Math.log10(v) : v => v;
        const ylo = ty(lo), yhi = ty(hi);
        const X = i => pad.l + (i - x0) / (x1 - x0) * (width - pad.l - pad.r);
        const Y = v => pad.t + (1 - (ty(v) - ylo) / (yhi - ylo)) * (height - pad.t - pad.b);
        ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#555"; ctx.font = "10px sans-serif"; ctx.lineWidth = 1;
        for (let k = 0; k <= 4; k++) {
          const yv = ylo + (yhi - ylo) * k / 4, v = logBox.checked ? Math.pow(10, yv) : yv, y = Y(v);
          ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(width - pad.r, y); ctx.stroke();
          ctx.fillText(Number(v.toPrecision(4)).toString(), 2, y + 3);
        }
        for (let k = 0; k <= 4; k++) {
          const i = x0 + (x1 - x0) * k / 4, label = String(Math.round(i));
          ctx.textAlign = k === 0 ? "left" : k === 4 ? "right" : "center";
          ctx.fillText(label, k === 4 ? width - pad.r : X(i), height - 6);
        }
        ctx.textAlign = "left";
        const w = Number(smooth.value);
        state.data.forEach((d, si) => {
          const color = COLORS[si % COLORS.length];
          // The bucket's points in index order: the line through them is the line through all its points.
          const pts = d.buckets.flatMap(b => [b.first, b.min, b.max, b.last].filter(p => p && (!logBox.checked || p[1] > 0)).sort((a, c) => a[0] - c[0]))
            .filter((p, i, all) => i === 0 || p[0] !== all[i - 1][0]);
          const line = (points, alpha, lineWidth) => {
            ctx.strokeStyle = color; ctx.globalAlpha = alpha; ctx.lineWidth = lineWidth; ctx.beginPath();
            points.forEach((p, i) => { const x = X(p[0]), y = Y(p[1]); if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y); });
            ctx.stroke(); ctx.globalAlpha = 1;
          };
          if (w > 0 && pts.length > 1) {
            // Each point weighs in as the points between it and the last would (w per index); exact once every point is drawn.
            // weight is TensorBoard's debiasing, 1 - w^n after n points.
            let ema = 0, weight = 0, last = pts[0][0] - 1;
            const smoothed = pts.map(p => {
              const decay = Math.pow(w, p[0] - last); last = p[0];
              ema = decay * ema + (1 - decay) * p[1]; weight = decay * weight + (1 - decay);
              return [p[0], ema / weight];
            });
            line(pts, 0.25, 1); line(smoothed, 1, 1.5);
          } else {
            line(pts, 1, 1);
          }
          // NaN and infinities are marked along the bottom, never drawn as numbers.
          ctx.fillStyle = "#c00";
          for (const b of d.buckets) if (b.nan + b.posInf + b.negInf > 0) ctx.fillRect(X(b.from), height - pad.b - 3, Math.max(1, X(b.to) - X(b.from)), 3);
        });
        if (state.drag) { ctx.fillStyle = "rgba(30,60,120,0.15)"; ctx.fillRect(Math.min(state.drag[0], state.drag[1]), pad.t, Math.abs(state.drag[1] - state.drag[0]), height - pad.t - pad.b); }
        canvas.dataset.x0 = String(x0); canvas.dataset.x1 = String(x1);
      }
      const indexAt = px => { const { x0, x1 } = extent(); return x0 + (px - pad.l) / (width - pad.l - pad.r) * (x1 - x0); };
      canvas.addEventListener("mousedown", e => { state.drag = [e.offsetX, e.offsetX]; });
      canvas.addEventListener("mousemove", e => {
        if (state.drag) { state.drag[1] = e.offsetX; draw(); return; }
        const i = indexAt(e.offsetX);
        const parts = state.data.map((d, si) => {
          const b = d.buckets.find(b => b.from <= i && i < b.to);
          if (!b) return null;
          const v = b.count === 0 ? "no number" : b.to - b.from === 1 ? fmt(b.first[1]) : "min " + fmt(b.min[1]) + " max " + fmt(b.max[1]);
          return (series.length > 1 ? series[si].label + ": " : "") + "[" + b.from + (b.to - b.from > 1 ? "…" + (b.to - 1) : "") + "] " + v + (b.nan ? " NaN×" + b.nan : "") + (b.posInf + b.negInf ? " ∞×" + (b.posInf + b.negInf) : "");
        }).filter(Boolean);
        info.textContent = parts.join("  ·  ");
      });
      canvas.addEventListener("mouseup", e => {
        if (!state.drag) return;
        const [a, b] = [state.drag[0], e.offsetX].sort((p, q) => p - q);
        state.drag = null;
        if (b - a < 3) { draw(); return; }
        const from = Math.max(0, Math.floor(indexAt(a))), to = Math.max(from + 1, Math.ceil(indexAt(b)) + 1);
        state.range = [from, to]; load();
      });
      canvas.addEventListener("dblclick", () => { state.range = null; load(); });
      canvas.addEventListener("wheel", e => {
        e.preventDefault();
        const { x0, x1 } = extent(), at = indexAt(e.offsetX), f = e.deltaY > 0 ? 1.5 : 1 / 1.5;
        const from = Math.max(0, Math.floor(at - (at - x0) * f)), to = Math.min(state.count, Math.ceil(at + (x1 + 1 - at) * f));
        state.range = from <= 0 && to >= state.count ? null : [from, Math.max(from + 1, to)]; load();
      }, { passive: false });
      logBox.addEventListener("change", draw);
      // A live run's chart follows its writer while it is not zoomed.
      if (opts.live) timers.push(setInterval(() => { if (!state.range && !state.drag) load().catch(() => {}); }, 1000));
      load().catch(e => { info.textContent = e.message; });
      return box;
    }

    // MARK: a run
    async function showRun(main, workspace, session) {
      const run = await api("run", { workspace, session });
      const f = run.fields || {};
      $("#where").textContent = workspace + "/" + session + (run.live ? " (live)" : "");
      const meta = el("table", { id: "meta" }, ...[["workspace", workspace], ["session", session], ["description", f.description], ["tags", f.tags], ["folder", f.folder], ["created", f.created_at], ["status", run.live ? "live" : "finished"], ["logs", run.logs]]
        .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, fmt(v)))));
      const params = el("table", { id: "parameters" }, ...Object.entries(run.parameters).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, fmt(v)))));
      const charts = el("div", { class: "charts", id: "charts" });
      for (const t of run.tracks) {
        const fields = t.numericFields.length ? t.numericFields : ["value"];
        const field = fields.includes("value") ? "value" : fields[0];
        charts.append(makeChart(t.name, [{ workspace, session, track: t.name, field, label: session }], { live: run.live, fields, field }));
      }
      // Logs: level filter, text search, and new entries while the run writes.
      const level = el("select", { id: "log-level" }, ...["debug", "info", "warn", "error", "fatal"].map(l => el("option", {}, l)));
      const search = el("input", { type: "text", id: "log-search", placeholder: "search logs" });
      const logs = el("div", { class: "logs", id: "logs" });
      let next = 0;
      const line = e => el("div", { class: "lvl-" + e.level }, e.time + " " + e.level.toUpperCase() + " " + e.message + (e.metadata ? " " + JSON.stringify(e.metadata) : ""));
      async function loadLogs(reset) {
        if (reset) { next = 0; logs.replaceChildren(); }
        const page = await api("logs", { workspace, session, from: next, limit: 1000, level: level.value, q: search.value });
        next = page.next;
        logs.append(...page.entries.map(line));
      }
      level.addEventListener("change", () => loadLogs(true)); search.addEventListener("change", () => loadLogs(true));
      await loadLogs(true);
      if (run.live) timers.push(setInterval(() => loadLogs(false).catch(() => {}), 1000));
      const files = el("table", { id: "files" }, el("tr", {}, ...["path", "file", "size", "tags", "sha256", ""].map(h => el("th", {}, h))),
        ...run.files.map(x => el("tr", {}, el("td", {}, x.path), el("td", {}, x.filename), el("td", { class: "num" }, x.sizeBytes), el("td", {}, fmt(x.tags)), el("td", {}, x.checksum),
          el("td", {}, el("a", { href: "/api/file?" + new URLSearchParams({ workspace, session, id: x.id }), download: x.filename }, "download")))));
      main.replaceChildren(
        el("section", {}, el("h2", {}, "Run"), meta), el("section", {}, el("h2", {}, "Parameters"), params),
        el("section", {}, el("h2", {}, "Tracks"), charts),
        el("section", {}, el("h2", {}, "Logs"), el("div", { class: "toolbar" }, el("label", {}, "level ≥ ", level), search), logs),
        el("section", {}, el("h2", {}, "Files"), files));
    }

    // MARK: a comparison
    async function showCompare(main, ids) {
      const runs = await Promise.all(ids.map(id => { const [workspace, session] = id.split("/"); return api("run", { workspace, session }); }));
      $("#where").textContent = "comparing " + ids.length + " runs";
      const keys = [...new Set(runs.flatMap(r => Object.keys(r.parameters)))].sort();
      const differing = keys.filter(k => new Set(runs.map(r => JSON.stringify(r.parameters[k]))).size > 1);
      const diff = el("table", { id: "param-diff" }, el("tr", {}, el("th", {}, "parameter"), ...runs.map(r => el("th", {}, r.workspace + "/" + r.session))),
        ...differing.map(k => el("tr", {}, el("th", {}, k), ...runs.map(r => el("td", {}, fmt(r.parameters[k]))))));
      const names = [...new Set(runs.flatMap(r => r.tracks.map(t => t.name)))].sort();
      const charts = el("div", { class: "charts", id: "charts" }, ...names.map(name => makeChart(name,
        runs.filter(r => r.tracks.some(t => t.name === name)).map(r => ({ workspace: r.workspace, session: r.session, track: name, label: r.workspace + "/" + r.session })),
        { live: runs.some(r => r.live) })));
      main.replaceChildren(el("section", {}, el("h2", {}, "Parameters that differ"), diff), el("section", {}, el("h2", {}, "Tracks"), charts));
    }

    window.addEventListener("hashchange", route);
    window.addEventListener("DOMContentLoaded", () => { $("#signin").addEventListener("click", signIn); route(); });
    """#
}
