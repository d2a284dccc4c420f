"use strict";
// dreamlake's viewer: the runs table, a run, and a comparison, read from
// the JSON API (README.md, "The viewer's JSON API"). Charts are drawn from
// envelopes: first, last, minimum and maximum of each pixel column.
// The chart layer is our own canvas renderer made for M4 data: a general
// charting library (Debian's dygraphs) wants every point it draws, which is
// what an envelope exists to avoid sending. Embedded in the binary at build
// time (Plugins/EmbedViewerAssets): no CDN, nothing to install.
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
const ORANGE = "#e69f00";
// Twenty colours a run can have, told apart on a white or a dark page.
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
  "#393b79", "#ad494a", "#637939", "#7b4173", "#e6550d", "#3182bd", "#31a354", "#843c39", "#de9ed6", "#6b6ecf"];
// Each run's colour, the same from page to page (kept in this browser's storage), and different from every
// other run's on one page while it shows at most twenty: a run keeps the colour it had unless a run that
// had it first is on the page; a run without one takes the first one free; past twenty, by a hash of its
// name (which is what it keeps, so it comes back the same in any order).
function colorsFor(ids) {
  let kept = {};
  try { kept = JSON.parse(localStorage.getItem("dreamlake.colors") || "{}") || {}; } catch (e) { kept = {}; }
  const used = new Set(), out = {};
  const hash = id => { let h = 2166136261; for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619); return (h >>> 0) % PALETTE.length; };
  // The oldest keeper of a colour wins it, whatever the page's order (the map keeps them oldest first).
  const age = new Map(Object.keys(kept).map((id, k) => [id, k]));
  const known = ids.filter(id => Number.isInteger(kept[id]) && kept[id] >= 0 && kept[id] < PALETTE.length).sort((a, b) => age.get(a) - age.get(b));
  for (const id of known) if (!used.has(kept[id])) { out[id] = kept[id]; used.add(kept[id]); }
  for (const id of ids) if (out[id] === undefined) {
    const free = PALETTE.findIndex((_, k) => !used.has(k));
    out[id] = free >= 0 ? free : hash(id);
    used.add(out[id]);
    delete kept[id];
    kept[id] = out[id];  // the newest last: the oldest go first when the map is trimmed
  }
  const names = Object.keys(kept);
  for (const id of names.slice(0, Math.max(0, names.length - 1000))) delete kept[id];
  try { localStorage.setItem("dreamlake.colors", JSON.stringify(kept)); } catch (e) { /* private mode: colours last the page */ }
  return Object.fromEntries(ids.map(id => [id, PALETTE[out[id]]]));
}
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
    if (parts[0] === "run" && parts.length >= 3) await showRun(main, parts[1], parts[2], q);
    else if (parts[0] === "compare") await showCompare(main, (q.get("runs") || "").split(",").filter(Boolean), q);
    else await showRuns(main, q);
  } catch (e) { main.replaceChildren(el("p", { class: "error" }, String(e.message || e))); }
}

// MARK: the runs table
// A value as a table shows it: integers with thousands separators from 10,000 (1,000,000), other numbers
// to 6 significant digits without trailing zeros (0.01, not 0.0100000).
const fmtNumber = v => Number.isInteger(v) ? (Math.abs(v) >= 10000 ? v.toLocaleString("en-US") : String(v)) : Number(v.toPrecision(6)).toString();
const fmt = v => v === null || v === undefined ? "" : typeof v === "number" ? fmtNumber(v) : Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : String(v);
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
  // Applied as you type (a third of a second after the last key), and at Enter.
  filterBox.addEventListener("change", () => { clearTimeout(showRuns.typing); if ((q.get("q") || "") !== filterBox.value) update("q", filterBox.value); });
  filterBox.addEventListener("input", () => {
    clearTimeout(showRuns.typing);
    showRuns.typing = setTimeout(() => { if ((q.get("q") || "") !== filterBox.value) update("q", filterBox.value); }, 300);
  });
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
      el("table", { id: "runs" }, el("thead", {}, header), el("tbody", {}, ...rows)),
      el("section", {}, el("h2", {}, "Parameters and results"), hparams(shown, paramKeys, pickedTrack)))));
  if (hadFocus) { const f = $("#filter"); f.focus(); f.setSelectionRange(f.value.length, f.value.length); }
  $("#where").textContent = data.root;
}

// The hyperparameter view: parallel coordinates over the runs the table shows, an axis a numeric parameter
// and one for the picked track's last value, a line a run in its colour (click: the run's page).
// A run lacking a value has no point on that axis (its line breaks there).
function hparams(runs, paramKeys, track) {
  const numeric = paramKeys.filter(k => runs.some(r => typeof (r.parameters || {})[k] === "number"));
  const lastOf = r => ((r.tracks || []).find(t => t.name === track) || {}).last;
  const axes = numeric.map(k => ({ name: k, get: r => (r.parameters || {})[k] }))
    .concat(track ? [{ name: "last " + track, get: lastOf }] : []);
  if (axes.length < 2 || !runs.length) return el("p", { id: "hparams", class: "note" }, "Parallel coordinates need two numeric parameters or results.");
  const W = Math.max(480, 140 * axes.length), H = 260, top = 24, bottom = 24, left = 40, right = 40;
  const ns = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, ...kids) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v); e.append(...kids); return e; };
  const root = svg("svg", { id: "hparams", width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  const xOf = i => left + i * (W - left - right) / (axes.length - 1);
  const scales = axes.map(a => {
    const vs = runs.map(a.get).filter(v => typeof v === "number" && isFinite(v));
    let lo = Math.min(...vs), hi = Math.max(...vs);
    if (!vs.length) { lo = 0; hi = 1; } else if (lo === hi) { lo -= 0.5; hi += 0.5; }
    return v => typeof v === "number" && isFinite(v) ? top + (1 - (v - lo) / (hi - lo)) * (H - top - bottom) : null;
  });
  const colors = colorsFor(runs.map(r => r.workspace + "/" + r.session));
  for (const r of runs) {
    const id = r.workspace + "/" + r.session;
    // Segments between neighbouring axes that both have a value.
    let d = "", pen = false;
    axes.forEach((a, i) => {
      const y = scales[i](a.get(r));
      if (y === null) { pen = false; return; }
      d += (pen ? " L" : " M") + xOf(i).toFixed(1) + " " + y.toFixed(1);
      pen = true;
    });
    const line = svg("path", { d: d.trim(), fill: "none", stroke: colors[id], "stroke-width": "1.5", "data-run": id, class: "hp-line" },
      svg("title", {}, id));
    line.addEventListener("click", () => { location.hash = "#/run/" + encodeURIComponent(r.workspace) + "/" + encodeURIComponent(r.session); });
    root.append(line);
  }
  axes.forEach((a, i) => {
    const vs = runs.map(a.get).filter(v => typeof v === "number" && isFinite(v));
    const ticks = vs.length ? niceTicks(Math.min(...vs), Math.max(...vs), 4) : { ticks: [], step: 1 };
    const g = svg("g", { class: "hp-axis", "data-axis": a.name },
      svg("line", { x1: xOf(i), x2: xOf(i), y1: top, y2: H - bottom }),
      svg("text", { x: xOf(i), y: 14, "text-anchor": "middle" }, a.name),
      ...ticks.ticks.map(t => svg("text", { x: xOf(i) + 4, y: (scales[i](t) ?? 0) + 3, class: "hp-tick" }, tickText(t, ticks.step))));
    root.append(g);
  });
  return root;
}

// MARK: charts
// An envelope sent in columns (form=columns: an array a bucket field, growing numbers as differences;
// README, "The viewer's JSON API") as the buckets the charts draw, each as exact as in rows.
function expandColumns(env) {
  if (env.form !== "columns") return env;
  const n = env.width.length, buckets = new Array(n);
  const point = (at, values, k, from) => at[k] === null ? null : [from + at[k], values[k]];
  let end = 0, lastTime = 0, lastX = 0;
  for (let k = 0; k < n; k++) {
    const from = end + env.gap[k], to = from + env.width[k];
    end = to;
    let t0 = null, t1 = null;
    if (env.t0[k] !== null) {
      t0 = lastTime + env.t0[k];
      t1 = env.t1[k] === null ? null : t0 + env.t1[k];
      lastTime = t1 === null ? t0 : t1;
    }
    const b = { from, to, first: point(env.firstAt, env.first, k, from), last: point(env.lastAt, env.last, k, from),
      min: point(env.minAt, env.min, k, from), max: point(env.maxAt, env.max, k, from), count: env.n[k], nan: env.nan[k],
      posInf: env.posInf[k], negInf: env.negInf[k], missing: env.missing[k], t: [t0, t1] };
    if (env.xFirstAt && env.xFirstDelta) {
      // Whole steps as differences: the first from the last bucket's last, the last from the first.
      let xf = null, xl = null;
      if (env.xFirstDelta[k] !== null) {
        xf = lastX + env.xFirstDelta[k];
        xl = env.xLastDelta[k] === null ? null : xf + env.xLastDelta[k];
        lastX = xl === null ? xf : xl;
      }
      b.x = [env.xFirstAt[k] === null ? null : [from + env.xFirstAt[k], xf], env.xLastAt[k] === null ? null : [from + env.xLastAt[k], xl]];
    } else if (env.xFirstAt) b.x = [point(env.xFirstAt, env.xFirst, k, from), point(env.xLastAt, env.xLast, k, from)];
    buckets[k] = b;
  }
  return { track: env.track, field: env.field, count: env.count, buckets };
}

// The x axes a chart can have. A chart asks the server for the envelope of
// its field, one bucket a device pixel column over the visible indexes;
// each bucket also says where it is on the x axis: its first and last
// point's timestamps always, and its first and last step when the x axis
// is a step. Inside one bucket (one pixel column) x is interpolated.
const STEP_FIELDS = ["step", "global_step", "epoch", "iteration", "iter"];
const stepFieldOf = fields => STEP_FIELDS.find(f => (fields || []).includes(f));
const XMODES = { step: "step", index: "index", time: "wall time", relative: "relative time" };
// (index, x) pairs along a series, in index order: where each bucket is on the x axis.
function anchorsOf(env, mode, t0) {
  if (mode === "index") return null;
  const out = [];
  const push = (i, x) => { if (x !== null && x !== undefined && (!out.length || out[out.length - 1][0] < i)) out.push([i, x]); };
  for (const b of env.buckets) {
    if (mode === "step") { for (const p of b.x || []) if (p) push(p[0], p[1]); }
    else { const off = mode === "relative" ? t0 : 0; push(b.from, b.t[0] === null ? null : b.t[0] - off); push(b.to - 1, b.t[1] === null ? null : b.t[1] - off); }
  }
  return out;
}
// Index to x and back by the anchors (the identity on the index axis), by
// interpolation between the two anchors around `v` in column `by`; x is taken not to decrease.
function along(a, v, by) {
  if (!a) return v;
  if (!a.length) return 0;
  const to = 1 - by;
  let lo = 0, hi = a.length - 1;
  if (v <= a[0][by]) return a[0][to];
  if (v >= a[hi][by]) return a[hi][to];
  while (hi - lo > 1) { const m = (lo + hi) >> 1; if (a[m][by] <= v) lo = m; else hi = m; }
  return a[hi][by] === a[lo][by] ? a[lo][to] : a[lo][to] + (a[hi][to] - a[lo][to]) * (v - a[lo][by]) / (a[hi][by] - a[lo][by]);
}
const toX = (a, i) => along(a, i, 0), toIndex = (a, x) => along(a, x, 1);
const pad2 = n => String(n).padStart(2, "0");
// An x value as the axis shows it: a number, a time of day (or date), or a duration.
function fmtX(mode, x, span) {
  if (mode === "time") {
    const d = new Date(x / 1000);
    const hms = pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds()) + (span < 10e6 ? "." + String(d.getMilliseconds()).padStart(3, "0") : "");
    return span > 86400e6 ? (d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " + hms.slice(0, 5) : hms;
  }
  if (mode === "relative") {
    const s = x / 1e6, a = Math.abs(s);
    if (span < 10e6) return s.toFixed(3) + "s";
    if (a < 3600) return Math.floor(s / 60) + "m" + pad2(Math.floor(a % 60)) + "s";
    return Math.floor(s / 3600) + "h" + pad2(Math.floor((a % 3600) / 60)) + "m";
  }
  return span < 20 && !Number.isInteger(x) ? x.toFixed(2) : String(Math.round(x));
}
const numberText = v => typeof v === "number" ? String(v) : v === undefined || v === null ? "no number" : String(v);
// Ticks at 1, 2 or 5 times a power of ten, about `count` of them over [lo, hi], as TensorBoard's axes have.
function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0) || !isFinite(span)) return { ticks: [lo], step: 1 };
  const raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const ticks = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9 && ticks.length < 50; k++) ticks.push(k === 0 ? 0 : k * step);
  return { ticks, step };
}
// A tick's label with no more digits than the ticks' step needs: an SI suffix from a thousand up
// (20k, 1.5M), plain decimals down to a thousandth (0.5, 0.05), and powers of ten below (1e-5).
function tickText(v, step) {
  const digits = st => Math.max(0, Math.min(12, -Math.floor(Math.log10(st) + 1e-9)));
  const a = Math.abs(v);
  if (v === 0) return "0";
  for (const [u, suffix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (a >= u) return Number((v / u).toFixed(digits(step / u))).toString() + suffix;
  }
  if (a >= 1e-3) return Number(v.toFixed(digits(step))).toString();
  return Number(v.toPrecision(Math.max(1, Math.min(12, Math.floor(Math.log10(a)) - Math.floor(Math.log10(step) + 1e-9) + 1)))).toExponential().replace(/\.?0+e/, "e").replace("e+", "e");
}

// A chart of one or more series (one per run), drawn from envelopes: every extreme drawn where it is.
function makeChart(title, series, opts) {
  // The canvas's size in CSS pixels: the card's width (a card resizes, or goes full-screen), 220 high unless full-screen.
  let width = opts.width || 560, height = opts.height || 220;
  const dpr = window.devicePixelRatio || 1;
  // The step axis needs a step field in every series; otherwise the chart falls back to the index.
  const mode = opts.xmode === "step" && !series.every(s => s.stepField) ? "index" : opts.xmode || "index";
  const canvas = el("canvas", { width: width * dpr, height: height * dpr, "data-track": title, "data-xmode": mode });
  canvas.style.width = width + "px"; canvas.style.height = height + "px";
  const info = el("div", { class: "info", hidden: "" });
  // Each series' colour (its run's, given by the page), and whether it is shown (the page's run list decides).
  const colorOf = si => series[si].color || PALETTE[si % PALETTE.length];
  const shown = si => !opts.shown || opts.shown(series[si]);
  const legend = series.length > 1 ? el("div", { class: "legend" }, ...series.map((s, i) => el("span", { "data-run": s.label }, el("span", { class: "swatch", "data-color": colorOf(i) }), s.label))) : null;
  if (legend) legend.querySelectorAll(".swatch").forEach(sw => { sw.style.background = sw.dataset.color; });
  const logBox = el("input", { type: "checkbox", class: "log-y" });
  const outlierBox = el("input", { type: "checkbox", class: "outliers" });
  const logNote = el("span", { class: "log-note" });
  // Smoothing: an exponential moving average, debiased as TensorBoard's, over the faint raw line.
  const smooth = el("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: "0", class: "smoothing" });
  const fields = opts.fields && opts.fields.length > 1 ? el("select", { class: "field" }, ...opts.fields.map(f => el("option", f === opts.field ? { selected: "" } : {}, f))) : null;
  const fullButton = el("button", { class: "full-screen", title: "full screen (Esc leaves it)" }, "\u2922");
  // Downloads: the chart as drawn (PNG), and the points it draws (CSV: each shown run's first, last, smallest and
  // largest point of every pixel column in view, exact (fetched again so), by index; every point once a column is a point).
  const save = (name, href) => { const a = el("a", { href, download: name }); document.body.append(a); a.click(); a.remove(); };
  const pngButton = el("button", { class: "png", title: "the chart as a PNG image" }, "PNG");
  pngButton.addEventListener("click", () => save(title + ".png", canvas.toDataURL("image/png")));
  const csvButton = el("button", { class: "csv", title: "the points drawn, as CSV" }, "CSV");
  csvButton.addEventListener("click", async () => {
    const { x0, x1 } = extent();
    // The drawn envelopes again, with exact values (those drawn are rounded to the chart's precision).
    const exact = await fetchEnvelopes("exact", shown);
    const quote = v => /[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v);
    const xName = mode === "step" ? series[0].stepField : mode === "index" ? "index" : mode === "time" ? "time_us" : "relative_us";
    const rows = [["run", "index", xName, series[0].field || "value"].map(quote).join(",")];
    exact.forEach((d, si) => {
      if (!d) return;
      const pts = d.env.buckets.flatMap(b => [b.first, b.min, b.max, b.last].filter(Boolean)).sort((p, q) => p[0] - q[0])
        .filter((p, i, all) => i === 0 || p[0] !== all[i - 1][0]);
      for (const p of pts) {
        const x = toX(d.anchors, p[0]);
        if (x >= x0 && x <= x1) rows.push([series[si].label, p[0], x, p[1]].map(quote).join(","));
      }
    });
    save(title + ".csv", URL.createObjectURL(new Blob([rows.join("\n") + "\n"], { type: "text/csv" })));
  });
  const box = el("div", { class: "chart" }, el("h3", {}, fullButton, title + (mode !== opts.xmode ? " (by index: no step field)" : "")), legend, canvas, info,
    el("div", { class: "toolbar" }, el("label", {}, logBox, " log y"), el("label", {}, outlierBox, " ignore outliers"), el("label", {}, "smoothing ", smooth), fields ? el("label", {}, "field ", fields) : null, pngButton, csvButton, logNote));
  // view: the visible x range, null for everything; data: each series' envelope and anchors.
  const state = { view: null, data: [], drag: null, hover: 0, loads: 0 };
  // The chart's smoothing, log y, outliers and zoom, kept in the page's URL (`smooth.TRACK=0.9`, `log.TRACK=1`,
  // `outliers.TRACK=1`, `zoom.TRACK=X0~X1`), so that a link or a reload shows the same chart.
  const kept = k => opts.q ? opts.q.get(k + "." + title) : null;
  const keep = (k, v) => { if (!opts.q) return; v === null ? opts.q.delete(k + "." + title) : opts.q.set(k + "." + title, v); setQuery(opts.q); };
  if (Number(kept("smooth")) > 0 && Number(kept("smooth")) < 1) smooth.value = kept("smooth");
  logBox.checked = kept("log") === "1";
  outlierBox.checked = kept("outliers") === "1";
  const zoom = (kept("zoom") || "").split("~").map(Number);
  if (zoom.length === 2 && zoom.every(Number.isFinite) && zoom[0] < zoom[1]) state.view = zoom;
  const keepView = () => keep("zoom", state.view ? state.view.join("~") : null);
  if (fields) fields.addEventListener("change", () => { series.forEach(s => { s.field = fields.value; }); load(); });
  smooth.addEventListener("input", () => { keep("smooth", Number(smooth.value) > 0 ? smooth.value : null); draw(); });
  const pad = { l: 62, r: 8, t: 8, b: 32 };  // room for the ticks' labels and the axes' titles
  let plotW = width - pad.l - pad.r, plotH = height - pad.t - pad.b;
  // A new size: the canvas and plot follow, and the envelope is fetched again at the new pixel width.
  function resize(w, h) {
    width = Math.max(240, Math.round(w)); height = Math.max(160, Math.round(h));
    plotW = width - pad.l - pad.r; plotH = height - pad.t - pad.b;
    canvas.width = width * dpr; canvas.height = height * dpr;
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
    canvas.dataset.width = String(width);
    if (!box.classList.contains("full")) box.style.width = (width + 2) + "px";
    draw();  // what it has, at once, while the envelope of the new width comes
    load().catch(() => {});
  }
  canvas.dataset.width = String(width);
  // The card is as wide as its chart (its notes wrap), until the user drags it wider or narrower.
  box.style.width = (width + 2) + "px";
  const setFull = full => {
    box.classList.toggle("full", full);
    if (full) box.style.width = "";
    resize(full ? window.innerWidth - 40 : (opts.width || 560), full ? window.innerHeight - 150 : (opts.height || 220));
  };
  fullButton.addEventListener("click", () => setFull(!box.classList.contains("full")));
  document.addEventListener("keydown", e => { if (e.key === "Escape" && box.classList.contains("full")) setFull(false); });
  // A card dragged wider or narrower (its corner) redraws at its new width.
  new ResizeObserver(() => {
    if (box.classList.contains("full") || !box.isConnected || box.clientWidth === 0) return;  // not laid out yet
    const w = box.clientWidth - 10;  // its padding (4 + 4) and the canvas's border allowance
    if (Math.abs(w - width) > 8) resize(w, height);
  }).observe(box);
  // The indexes of series `si` to fetch for the view: on the index axis exactly, else
  // widened to the edges of the buckets that hold the view's ends.
  function rangeOf(si) {
    if (!state.view) return {};
    if (mode === "index") return { from: Math.max(0, Math.floor(state.view[0])), to: Math.max(0, Math.ceil(state.view[1]) + 1) };
    const d = state.data[si];
    if (!d) return {};
    const lo = toIndex(d.anchors, state.view[0]), hi = toIndex(d.anchors, state.view[1]);
    const bs = d.env.buckets;
    const first = bs.find(b => b.to > lo), last = bs.slice().reverse().find(b => b.from <= hi);
    return { from: first ? first.from : 0, to: last ? last.to : Math.ceil(hi) + 1 };
  }
  // Each series' envelope of the view at the chart's pixel width: values rounded to what the chart can show
  // (precision=chart: within 1/65,536 of its span; README, "The viewer's JSON API"), or exact.
  function fetchEnvelopes(precision, only = () => true) {
    const buckets = Math.max(1, Math.floor(plotW * dpr));
    return Promise.all(series.map(async (s, si) => {
      if (!only(si)) return null;
      const env = expandColumns(await api("envelope", { workspace: s.workspace, session: s.session, track: s.track, field: s.field || "value", buckets,
        form: "columns", precision, ...(mode === "step" ? { x: s.stepField } : {}), ...rangeOf(si) }));
      return { env, anchors: anchorsOf(env, mode, s.t0 || 0) };
    }));
  }
  async function load() {
    // Only the newest load is drawn: one begun before a resize or a zoom may finish after a later one.
    const seq = ++state.loads;
    state.loading = true;
    let data;
    try {
      data = await fetchEnvelopes("chart");
    } finally {
      if (seq === state.loads) state.loading = false;
    }
    if (seq !== state.loads) return;
    state.data = data;
    draw();
    canvas.dataset.loaded = String(Number(canvas.dataset.loaded || 0) + 1);
  }
  function extent() {
    let lo = Infinity, hi = -Infinity, x0 = Infinity, x1 = -Infinity;
    for (const d of state.data) {
      const bs = d.env.buckets;
      if (bs.length) { x0 = Math.min(x0, toX(d.anchors, bs[0].from)); x1 = Math.max(x1, toX(d.anchors, bs[bs.length - 1].to - 1)); }
    }
    if (state.view) [x0, x1] = state.view;
    const inView = [];
    for (const d of state.data.filter((_, si) => shown(si))) for (const b of d.env.buckets) for (const p of [b.min, b.max]) {
      if (!p || (logBox.checked && p[1] <= 0)) continue;
      const x = toX(d.anchors, p[0]);
      if (x >= x0 && x <= x1) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); inView.push(p[1]); }
    }
    if (outlierBox.checked && inView.length >= 50) {
      // The y range of the middle 98% of the columns' extremes (a spike drawn off the top, not squashing the rest).
      inView.sort((a, b) => a - b);
      lo = inView[Math.floor(inView.length * 0.01)]; hi = inView[Math.ceil(inView.length * 0.99) - 1];
    }
    if (!isFinite(lo)) { lo = 0; hi = 1; } if (lo === hi) { lo -= 0.5; hi += 0.5; }
    if (!isFinite(x0)) { x0 = 0; x1 = 1; } if (x0 >= x1) x1 = x0 + 1;
    return { lo, hi, x0, x1 };
  }
  function draw() {
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const { lo, hi, x0, x1 } = extent();
    const ty = logBox.checked ? v => Math.log10(v) : v => v;
    const ylo = ty(lo), yhi = ty(hi);
    const X = x => pad.l + (x - x0) / (x1 - x0) * plotW;
    const Y = v => pad.t + (1 - (ty(v) - ylo) / (yhi - ylo)) * plotH;
    // The grid and labels in the page's colours (dark when the system is).
    const style = getComputedStyle(document.documentElement);
    ctx.strokeStyle = style.getPropertyValue("--grid").trim() || "#ccc"; ctx.fillStyle = style.getPropertyValue("--axis").trim() || "#555";
    ctx.font = "10px sans-serif"; ctx.lineWidth = 1;
    // y: nice values (on log y, the powers of ten when two or more are in view, else nice exponents).
    const yt = niceTicks(ylo, yhi, 4);
    const powers = logBox.checked && Math.floor(yhi) - Math.ceil(ylo) >= 1;
    const yTicks = logBox.checked
      ? (powers ? niceTicks(Math.ceil(ylo), Math.floor(yhi), 4).ticks.filter(Number.isInteger) : yt.ticks).map(e => Math.pow(10, e))
      : yt.ticks;
    const yLabels = yTicks.map(v => logBox.checked ? tickText(v, powers ? v : v * (Math.pow(10, yt.step) - 1)) : tickText(v, yt.step));
    yTicks.forEach((v, k) => {
      const y = Y(v);
      ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(width - pad.r, y); ctx.stroke();
      ctx.textAlign = "right"; ctx.fillText(yLabels[k], pad.l - 4, y + 3);
    });
    // x: nice values on the step and index axes, times of day or durations on the time axes.
    const xt = niceTicks(x0, x1, 5);
    const numeric = mode === "step" || mode === "index";
    const xTicks = numeric ? xt.ticks : [0, 1, 2, 3, 4].map(k => x0 + (x1 - x0) * k / 4);
    const xLabels = xTicks.map(x => numeric ? tickText(x, Math.max(xt.step, mode === "index" ? 1 : 0)) : fmtX(mode, x, x1 - x0));
    xTicks.forEach((x, k) => {
      const px = X(x);
      ctx.textAlign = numeric ? (px - pad.l < 12 ? "left" : width - pad.r - px < 12 ? "right" : "center") : k === 0 ? "left" : k === 4 ? "right" : "center";
      ctx.fillText(xLabels[k], px, height - pad.b + 14);
    });
    // The axes' titles: what x measures, under its ticks; the field, along the left edge.
    const xTitle = XMODES[mode] === "step" ? series[0].stepField || "step" : XMODES[mode], yTitle = series[0].field || "value";
    ctx.textAlign = "center"; ctx.fillText(xTitle, pad.l + plotW / 2, height - 3);
    ctx.save(); ctx.translate(10, pad.t + plotH / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(yTitle + (logBox.checked ? " (log)" : ""), 0, 0); ctx.restore();
    canvas.dataset.xtitle = xTitle; canvas.dataset.ytitle = yTitle;
    ctx.textAlign = "left";
    canvas.dataset.yticks = JSON.stringify(yLabels); canvas.dataset.xticks = JSON.stringify(xLabels);
    canvas.dataset.shown = String(series.filter((_, si) => shown(si)).length);
    if (legend) legend.querySelectorAll("[data-run]").forEach((item, si) => item.classList.toggle("off", !shown(si)));
    ctx.save(); ctx.beginPath(); ctx.rect(pad.l, pad.t - 1, plotW, plotH + 2); ctx.clip();
    const w = Number(smooth.value);
    let belowZero = 0;
    const smoothedRanges = [];
    state.data.forEach((d, si) => {
      if (!shown(si)) return;
      const color = colorOf(si), a = d.anchors;
      // The bucket's points in index order: the line through them is the line through all its points.
      const pts = d.env.buckets.flatMap(b => [b.first, b.min, b.max, b.last].filter(p => p && (!logBox.checked || p[1] > 0)).sort((p, q) => p[0] - q[0]))
        .filter((p, i, all) => i === 0 || p[0] !== all[i - 1][0]);
      const line = (points, alpha, lineWidth) => {
        ctx.strokeStyle = color; ctx.globalAlpha = alpha; ctx.lineWidth = lineWidth; ctx.beginPath();
        points.forEach((p, i) => { const x = X(toX(a, p[0])), y = Y(p[1]); if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y); });
        ctx.stroke(); ctx.globalAlpha = 1;
      };
      if (w > 0 && pts.length > 1) {
        // An exponential moving average whose weight w counts per pixel column (the indexes one bucket spans): it
        // smooths over about 1 / (1 - w) columns at any zoom, as TensorBoard's over its 1,000 points does, and is
        // TensorBoard's per point exactly once a bucket is a point. weight is TensorBoard's debiasing, 1 - w^n.
        const bs = d.env.buckets, span = bs.length ? Math.max(1, (bs[bs.length - 1].to - bs[0].from) / bs.length) : 1;
        let ema = 0, weight = 0, last = pts[0][0] - span;
        const smoothed = pts.map(p => {
          const decay = Math.pow(w, (p[0] - last) / span); last = p[0];
          ema = decay * ema + (1 - decay) * p[1]; weight = decay * weight + (1 - decay);
          return [p[0], ema / weight];
        });
        line(pts, 0.25, 1); line(smoothed, 1, 1.5);
        const ys = smoothed.map(p => p[1]);
        smoothedRanges.push(Math.max(...ys) - Math.min(...ys));
      } else {
        line(pts, 1, 1);
      }
      // NaN and infinities are marked along the bottom, never drawn as numbers.
      ctx.fillStyle = "#c00";
      for (const b of d.env.buckets) if (b.nan + b.posInf + b.negInf > 0) {
        const xa = X(toX(a, b.from)), xb = X(toX(a, b.to - 1)) + 1;
        ctx.fillRect(xa, height - pad.b - 3, Math.max(1, xb - xa), 3);
      }
      // On log y, values at or below zero cannot be drawn: their ranges are marked in orange above that row.
      if (logBox.checked) {
        ctx.fillStyle = ORANGE;
        for (const b of d.env.buckets) if (b.min && b.min[1] <= 0) {
          const xa = X(toX(a, b.from)), xb = X(toX(a, b.to - 1)) + 1;
          ctx.fillRect(xa, height - pad.b - 7, Math.max(1, xb - xa), 3);
          belowZero++;
        }
      }
    });
    canvas.dataset.belowZero = String(belowZero);
    canvas.dataset.smoothedRange = smoothedRanges.length ? String(Math.max(...smoothedRanges)) : "";
    logNote.textContent = belowZero ? `values \u2264 0 in ${belowZero} pixel column${belowZero === 1 ? "" : "s"}: marked in orange below, not drawable on log y` : "";
    ctx.restore();
    if (state.drag) { ctx.fillStyle = "rgba(30,60,120,0.15)"; ctx.fillRect(Math.min(state.drag[0], state.drag[1]), pad.t, Math.abs(state.drag[1] - state.drag[0]), plotH); }
    canvas.dataset.x0 = String(x0); canvas.dataset.x1 = String(x1);
  }
  const xAt = px => { const { x0, x1 } = extent(); return x0 + (px - pad.l) / plotW * (x1 - x0); };
  // Hover: each series' bucket under the pointer at once, then its exact point there, asked of the server.
  async function hover(x) {
    const seq = ++state.hover;
    const { x0, x1 } = extent();
    const found = await Promise.all(state.data.map(async (d, si) => {
      const s = series[si], bs = d.env.buckets, i = toIndex(d.anchors, x);
      const k = bs.findIndex(b => b.from <= i && i < b.to);
      if (k < 0) return null;
      // The bucket and its neighbours hold the point: x is interpolated inside a bucket.
      const from = bs[Math.max(0, k - 1)].from, to = bs[Math.min(bs.length - 1, k + 1)].to;
      const by = mode === "step" ? s.stepField : mode === "index" ? "index" : "time";
      const at = mode === "relative" ? x + (s.t0 || 0) : x;
      const r = await api("nearest", { workspace: s.workspace, session: s.session, track: s.track, x: by, at, from, to });
      return r.point;
    }));
    if (seq !== state.hover) return;
    // At the pointer: a line a shown run, with its colour, each value exact (asked of the store).
    const lines = found.map((p, si) => {
      if (!p || !shown(si)) return null;
      const s = series[si], v = p.data[s.field || "value"];
      const where = mode === "step" ? s.stepField + " " + numberText(p.data[s.stepField]) : mode === "index" ? "index " + p.index
        : fmtX(mode, mode === "relative" ? p.timestamp - (s.t0 || 0) : p.timestamp, x1 - x0);
      const chip = el("span", { class: "swatch" });
      chip.style.background = colorOf(si);
      return el("div", {}, chip, (series.length > 1 ? s.label + ": " : "") + where + " " + (s.field || "value") + " " + numberText(v)
        + (mode !== "index" ? " (index " + p.index + ")" : ""));
    }).filter(Boolean);
    info.replaceChildren(...lines);
    info.hidden = !lines.length;
    const px = state.pointer || [0, 0];
    info.style.left = Math.min(canvas.offsetLeft + px[0] + 14, box.clientWidth - info.offsetWidth - 4) + "px";
    info.style.top = (canvas.offsetTop + Math.min(px[1] + 14, height - 8)) + "px";
    info.dataset.exact = String(x);
  }
  canvas.addEventListener("mousedown", e => { state.drag = [e.offsetX, e.offsetX]; });
  canvas.addEventListener("mousemove", e => {
    state.pointer = [e.offsetX, e.offsetY];
    if (state.drag) { state.drag[1] = e.offsetX; draw(); return; }
    const x = xAt(e.offsetX);
    clearTimeout(state.hoverTimer);
    state.hoverTimer = setTimeout(() => hover(x).catch(err => { info.textContent = err.message; info.hidden = false; }), 40);
  });
  canvas.addEventListener("mouseup", e => {
    if (!state.drag) return;
    const [a, b] = [state.drag[0], e.offsetX].sort((p, q) => p - q);
    state.drag = null;
    if (b - a < 3) { draw(); return; }
    state.view = [xAt(a), xAt(b)]; keepView(); load();
  });
  canvas.addEventListener("dblclick", () => { state.view = null; keepView(); load(); });
  canvas.addEventListener("wheel", e => {
    e.preventDefault();
    const { x0, x1 } = extent(), at = xAt(e.offsetX), f = e.deltaY > 0 ? 1.5 : 1 / 1.5;
    const lo = at - (at - x0) * f, hi = at + (x1 - at) * f;
    // Out past every point: the whole track again.
    const all = state.data.every(d => { const bs = d.env.buckets; return !bs.length || (lo <= toX(d.anchors, 0) && hi >= toX(d.anchors, d.env.count - 1)); });
    state.view = all ? null : [lo, hi]; keepView(); load();
  }, { passive: false });
  logBox.addEventListener("change", () => { keep("log", logBox.checked ? "1" : null); draw(); });
  outlierBox.addEventListener("change", () => { keep("outliers", outlierBox.checked ? "1" : null); draw(); });
  // A live chart follows its writer every second, never starting a load while the last one is under way
  // (a newer load wins, so a load slower than the second would otherwise never be drawn).
  if (opts.live) timers.push(setInterval(() => { if (!state.view && !state.drag && !state.loading) load().catch(() => {}); }, 1000));
  load().catch(e => { info.textContent = e.message; info.hidden = false; });
  // The pointer leaves: the tooltip goes, and a lookup under way is not shown.
  canvas.addEventListener("mouseleave", () => { clearTimeout(state.hoverTimer); state.hover++; if (!state.drag) info.hidden = true; });
  box.redraw = draw;
  return box;
}

// The x axis picker of a page of charts: kept in the URL.
function xPicker(q, modes) {
  const pick = el("select", { id: "x-axis" }, ...Object.entries(XMODES).filter(([m]) => modes.includes(m)).map(([m, label]) => el("option", m === q.get("x") ? { value: m, selected: "" } : { value: m }, label)));
  pick.addEventListener("change", () => { q.set("x", pick.value); setQuery(q); route(); });
  return el("label", {}, "x axis ", pick);
}
// The x axis a page shows: the URL's, else the step when every track has one.
function xModeOf(q, tracks) {
  const x = q.get("x");
  if (x && XMODES[x]) return x;
  return tracks.length && tracks.every(t => stepFieldOf(t.numericFields)) ? "step" : "index";
}
// A track whose points hold no number: a table of its points, a page at a time.
function pointsTable(workspace, session, t) {
  const body = el("tbody"), box = el("div", { class: "chart points-table", "data-track": t.name });
  let from = Math.max(0, t.count - 20);
  const pager = el("div", { class: "toolbar" });
  async function show() {
    const page = await api("points", { workspace, session, track: t.name, from, limit: 20 });
    const keys = [...new Set(page.points.flatMap(p => Object.keys(p.data)))];
    body.replaceChildren(el("tr", {}, el("th", {}, "index"), ...keys.map(k => el("th", {}, k))),
      ...page.points.map(p => el("tr", {}, el("td", { class: "num" }, p.index), ...keys.map(k => el("td", {}, fmt(p.data[k]))))));
    pager.replaceChildren(
      el("button", { onclick: () => { from = Math.max(0, from - 20); show(); } }, "‹"),
      " points " + from + "–" + Math.min(t.count, from + 20) + " of " + t.count + " ",
      el("button", { onclick: () => { from = Math.min(Math.max(0, t.count - 1), from + 20); show(); } }, "›"));
  }
  show().catch(e => { body.replaceChildren(el("tr", {}, el("td", { class: "error" }, e.message))); });
  box.append(el("h3", {}, t.name), el("table", {}, body), pager);
  return box;
}
// Parameters as their tree: a nested object is a row that holds its keys.
function parameterTree(obj) {
  const rows = [];
  const walk = (o, depth, prefix) => {
    for (const [k, v] of Object.entries(o)) {
      const isTree = v && typeof v === "object" && !Array.isArray(v);
      const th = el("th", { "data-key": prefix + k }, k);
      th.style.paddingLeft = (6 + 14 * depth) + "px";
      rows.push(el("tr", { class: isTree ? "branch" : "" }, th, el("td", {}, isTree ? "" : fmt(v))));
      if (isTree) walk(v, depth + 1, prefix + k + ".");
    }
  };
  walk(obj, 0, "");
  return el("table", { id: "parameters" }, ...rows);
}

// MARK: a run
async function showRun(main, workspace, session, q) {
  const run = await api("run", { workspace, session });
  const f = run.fields || {};
  $("#where").textContent = workspace + "/" + session + (run.live ? " (live)" : "");
  const meta = el("table", { id: "meta" }, ...[["workspace", workspace], ["session", session], ["description", f.description], ["tags", f.tags], ["folder", f.folder], ["created", f.created_at], ["status", run.live ? "live" : "finished"], ["logs", run.logs]]
    .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, fmt(v)))));
  const params = parameterTree(run.parametersNested);
  const charts = el("div", { class: "charts", id: "charts" });
  const plotted = run.tracks.filter(t => t.numericFields.length || t.count === 0);
  const xmode = xModeOf(q, plotted);
  const color = colorsFor([workspace + "/" + session])[workspace + "/" + session];
  for (const t of run.tracks) {
    if (!plotted.includes(t)) { charts.append(pointsTable(workspace, session, t)); continue; }
    // The step field is the x axis, not a line to plot: the value, else the first other number.
    const fields = t.numericFields.length ? t.numericFields : ["value"];
    const stepField = stepFieldOf(fields);
    const field = fields.includes("value") ? "value" : fields.find(f => f !== stepField) || fields[0];
    charts.append(makeChart(t.name, [{ workspace, session, track: t.name, field, stepField, t0: t.firstTimestamp, label: session, color }], { live: run.live, fields, field, xmode, q }));
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
    el("section", {}, el("h2", {}, "Tracks"), el("div", { class: "toolbar" }, xPicker(q, Object.keys(XMODES))), charts),
    el("section", {}, el("h2", {}, "Logs"), el("div", { class: "toolbar" }, el("label", {}, "level ≥ ", level), search), logs),
    el("section", {}, el("h2", {}, "Files"), files));
}

// MARK: a comparison
async function showCompare(main, ids, q) {
  const runs = await Promise.all(ids.map(id => { const [workspace, session] = id.split("/"); return api("run", { workspace, session }); }));
  $("#where").textContent = "comparing " + ids.length + " runs";
  const keys = [...new Set(runs.flatMap(r => Object.keys(r.parameters)))].sort();
  const differing = keys.filter(k => new Set(runs.map(r => JSON.stringify(r.parameters[k]))).size > 1);
  const diff = el("table", { id: "param-diff" }, el("tr", {}, el("th", {}, "parameter"), ...runs.map(r => el("th", {}, r.workspace + "/" + r.session))),
    ...differing.map(k => el("tr", {}, el("th", {}, k), ...runs.map(r => el("td", {}, fmt(r.parameters[k]))))));
  const names = [...new Set(runs.flatMap(r => r.tracks.filter(t => t.numericFields.length).map(t => t.name)))].sort();
  const xmode = xModeOf(q, runs.flatMap(r => r.tracks.filter(t => names.includes(t.name))));
  const labels = runs.map(r => r.workspace + "/" + r.session);
  // Runs grouped by a parameter or by their folder (`group=KEY` in the URL): a group's runs share its colour
  // (kept from page to page as a run's is), and its box in the run list switches them all.
  const groupKey = q.get("group") || "";
  const groupOf = r => groupKey === "folder" ? (r.folder || "/") : groupKey in r.parameters ? JSON.stringify(r.parameters[groupKey]) : "(none)";
  const groupName = (r, g) => groupKey === "folder" || !(groupKey in r.parameters) ? g : fmt(r.parameters[groupKey]);
  const groups = groupKey ? [...new Set(runs.map(groupOf))] : [];
  const groupColors = colorsFor(groups.map(g => "group " + groupKey + " = " + g));
  const colors = groupKey ? Object.fromEntries(runs.map((r, i) => [labels[i], groupColors["group " + groupKey + " = " + groupOf(r)]])) : colorsFor(labels);
  // The runs shown: every one, until its box in the run list is unticked or the runs filter leaves it out.
  const ticked = new Set(labels);
  const runFilter = el("input", { type: "text", id: "run-filter", placeholder: "filter runs (regular expression)" });
  const matches = (box, label) => { try { return new RegExp(box.value, "i").test(label); } catch (e) { return label.includes(box.value); } };
  const isShown = label => ticked.has(label) && matches(runFilter, label);
  const chartList = names.map(name => makeChart(name,
    runs.filter(r => r.tracks.some(t => t.name === name)).map(r => {
      const t = r.tracks.find(t => t.name === name), label = r.workspace + "/" + r.session;
      return { workspace: r.workspace, session: r.session, track: name, stepField: stepFieldOf(t.numericFields), t0: t.firstTimestamp, label, color: colors[label] };
    }),
    { live: runs.some(r => r.live), xmode, shown: s => isShown(s.label), q }));
  const charts = el("div", { class: "charts", id: "charts" }, ...chartList);
  const redraw = () => {
    runList.querySelectorAll("[data-run]").forEach(item => item.classList.toggle("filtered", !matches(runFilter, item.dataset.run)));
    chartList.forEach(c => c.redraw());
  };
  const swatch = color => { const chip = el("span", { class: "swatch" }); chip.style.background = color; return chip; };
  const boxes = {};
  const runItem = label => {
    const box = boxes[label] = el("input", { type: "checkbox", checked: "", "data-run": label });
    box.addEventListener("change", () => { if (box.checked) ticked.add(label); else ticked.delete(label); redraw(); });
    return el("label", { "data-run": label }, box, swatch(colors[label]), label);
  };
  const runList = el("div", { id: "run-list" }, ...(!groupKey ? labels.map(runItem) : groups.map(g => {
    const members = labels.filter((_, i) => groupOf(runs[i]) === g), first = runs[labels.indexOf(members[0])];
    const box = el("input", { type: "checkbox", checked: "", "data-group": g });
    box.addEventListener("change", () => {
      for (const label of members) { if (box.checked) ticked.add(label); else ticked.delete(label); boxes[label].checked = box.checked; }
      redraw();
    });
    const head = el("label", { class: "group-head" }, box, swatch(colors[members[0]]), groupKey + " = " + groupName(first, g) + " (" + members.length + ")");
    return el("div", { class: "group", "data-group": g }, head, ...members.map(runItem));
  })));
  runFilter.addEventListener("input", redraw);
  const groupPick = el("select", { id: "group-by" }, el("option", { value: "" }, "no grouping"),
    ...["folder", ...keys].map(k => el("option", k === groupKey ? { value: k, selected: "" } : { value: k }, k)));
  groupPick.addEventListener("change", () => { if (groupPick.value) q.set("group", groupPick.value); else q.delete("group"); setQuery(q); route(); });
  // The charts shown: those whose track name holds the filter's text.
  const trackFilter = el("input", { type: "text", id: "track-filter", placeholder: "filter tracks" });
  trackFilter.addEventListener("input", () => chartList.forEach((c, i) => { c.hidden = !names[i].toLowerCase().includes(trackFilter.value.toLowerCase()); }));
  main.replaceChildren(el("div", { class: "with-sidebar" },
    el("aside", { class: "sidebar" }, el("h2", {}, "Runs"), runFilter, el("label", { class: "group-by" }, "group by ", groupPick), runList),
    el("div", {}, el("section", {}, el("h2", {}, "Parameters that differ"), diff),
      el("section", {}, el("h2", {}, "Tracks"), el("div", { class: "toolbar" }, xPicker(q, Object.keys(XMODES)), trackFilter), charts))));
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => { $("#signin").addEventListener("click", signIn); route(); });
