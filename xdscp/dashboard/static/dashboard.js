// xdscp dashboard: polls the control plane's debug endpoints and draws the mesh.
// Plain DOM and SVG, no library, no network access beyond this origin.
"use strict";

const REFRESH_MS = 3000;
const SVG_NS = "http://www.w3.org/2000/svg";
const XDS_TYPES = ["CDS", "EDS", "LDS", "RDS", "SDS"];
const NODE_W = 200;
const NODE_H = 46;
const COLUMN_GAP = 230;
const ROW_GAP = 34;
const PAD = 24;
const TITLE_H = 22;

const endpoints = { analysis: false, explain: false };
let refreshing = false;
let lastGraph = null;

// --- small helpers -----------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}

// --- proxy sync state ----------------------------------------------------------------
// The server's own words (Istio's proxy-status); older servers: derived the same way.
function typeState(t) {
  if (t.state) return t.state;
  if (t.rejected) return "NACK";
  if (t.version_sent && t.version_sent !== t.version_acked) return "STALE";
  return "SYNCED";
}

// A gateway runs an Envoy this control plane feeds, though not as a sidecar.
function hasProxy(node) {
  return node.proxy ? node.proxy !== "none" : Boolean(node.sidecar);
}

function proxyState(proxy) {
  if (!proxy) return "offline";
  if (proxy.state) return proxy.state.toLowerCase();
  const states = Object.values(proxy.types || {}).map(typeState);
  if (states.includes("NACK")) return "nack";
  if (states.includes("STALE")) return "stale";
  return "synced";
}

// --- problems: NACKs, rejected objects, analysis and run-time messages ----------------
function collectProblems(proxies, config, analysis, graph) {
  const problems = [];
  // A dead or stuck config source freezes the mesh on old config while everything
  // else looks healthy: it heads the list.
  if (config.source && config.source.up === false) {
    problems.push({
      kind: "source",
      severity: "error",
      badge: "CONFIG SOURCE DOWN",
      title: "config source",
      objects: [],
      text: config.source.reason || "not ready",
      hint: `edits do not reach proxies; they keep generation ${config.generation}`,
      where: "",
    });
  }
  for (const [key, proxy] of Object.entries(proxies)) {
    for (const [type, t] of Object.entries(proxy.types || {})) {
      if (!t.rejected || !t.last_nack) continue;
      problems.push({
        kind: "nack",
        severity: "error",
        badge: "NACK",
        title: `${key} rejected ${type}`,
        objects: t.last_nack.provenance || [],
        text: t.last_nack.error,
        hint: `the proxy keeps running version ${(t.version_acked || "none").slice(0, 12)}; fix the object(s) named`,
        where: t.last_nack.resources && t.last_nack.resources.length ? `resources: ${t.last_nack.resources.join(", ")}` : "",
        proxy: key,
      });
    }
  }
  for (const error of config.errors || []) {
    problems.push({
      kind: "config",
      severity: "error",
      badge: "REJECTED",
      title: `${error.kind}/${error.namespace}/${error.name}`,
      objects: [`${error.kind}/${error.namespace}/${error.name}`],
      text: error.message,
      hint: "not applied; its last good version (if any) stays in force",
      where: [error.source, error.document !== null && error.document !== undefined ? `doc ${error.document}` : "", error.field].filter(Boolean).join(" · "),
    });
  }
  for (const error of config.extension_errors || []) {
    problems.push({
      kind: "extension", severity: "error", badge: "EXTENSION", title: String(error.extension || "extension"),
      objects: error.objects || [], text: error.message || JSON.stringify(error), hint: "", where: "",
    });
  }
  const seen = new Set();
  const messages = [...((analysis && analysis.messages) || []), ...(graph.runtime_messages || [])];
  for (const m of messages) {
    const id = `${m.code}|${m.object}|${m.field}|${m.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    problems.push({
      kind: "analysis",
      severity: String(m.severity || "info").toLowerCase(),
      badge: m.istio_code ? `${m.code} · ${m.istio_code}` : m.code,
      title: m.object,
      objects: [m.object, ...(m.related || [])],
      text: m.message,
      hint: m.hint,
      where: [m.source, m.document !== null && m.document !== undefined ? `doc ${m.document}` : "", m.field].filter(Boolean).join(" · "),
    });
  }
  const rank = { error: 0, warning: 1, info: 2 };
  problems.sort((a, b) => (rank[a.severity] ?? 3) - (rank[b.severity] ?? 3));
  return problems;
}

function renderProblems(problems) {
  const list = document.getElementById("problems");
  document.getElementById("problem-count").textContent = problems.length ? `(${problems.length})` : "";
  const items = problems.map((p) =>
    h("li", { class: `${p.severity} ${p.kind}`, "data-kind": p.kind },
      h("div", {}, h("span", { class: "badge" }, p.badge), h("span", { class: "object" }, p.title)),
      h("div", { class: "text" }, p.text),
      p.where ? h("div", { class: "where" }, p.where) : null,
      p.hint ? h("div", { class: "hint" }, `→ ${p.hint}`) : null,
      p.objects.length && p.kind === "nack" ? h("div", { class: "where" }, `objects: ${p.objects.join(", ")}`) : null));
  if (!items.length) items.push(h("li", { class: "ok" }, "No NACKs, rejected objects or analysis messages."));
  list.replaceChildren(...items);
}

// --- proxies table -----------------------------------------------------------------
function renderProxies(proxies, graph) {
  const body = document.querySelector("#proxies tbody");
  const rows = [];
  const workloads = graph.nodes.filter((n) => n.kind === "workload" && hasProxy(n));
  const keys = [...new Set([...workloads.map((n) => n.key), ...Object.keys(proxies)])].sort();
  const gateways = new Set(workloads.filter((n) => n.proxy === "gateway").map((n) => n.key));
  for (const key of keys) {
    const proxy = proxies[key];
    const cells = XDS_TYPES.map((type) => {
      const t = proxy && proxy.types ? proxy.types[type] : null;
      if (!t) return h("td", {}, h("span", { class: "state" }, "–"));
      const state = typeState(t);
      const version = (t.version_acked || t.version_sent || "").slice(0, 8);
      // the server's age, not our clock against its timestamps
      const when = age(t.age_seconds ?? (t.acked_at || t.sent_at ? (Date.now() - Date.parse(t.acked_at || t.sent_at)) / 1000 : null));
      return h("td", { title: state === "NACK" && t.last_nack ? t.last_nack.error : `sent ${t.version_sent}\nacked ${t.version_acked}` },
        h("span", { class: `state ${state}` }, state, h("small", {}, `${version} ${when}`)));
    });
    rows.push(h("tr", { "data-proxy": key, "data-state": proxyState(proxy), "data-kind": gateways.has(key) ? "gateway" : "sidecar" },
      h("td", {}, key, gateways.has(key) ? h("span", { class: "badge gateway" }, "gateway") : null),
      h("td", { class: "identity" }, proxy ? (proxy.peer_identity || "(no client certificate)") : "not connected"),
      cells));
  }
  body.replaceChildren(...rows);
}

// --- graph layout: columns by layer, rows ordered by neighbours (barycenter) --------
function layout(graph) {
  const byLayer = new Map();
  for (const node of graph.nodes) {
    if (!byLayer.has(node.layer)) byLayer.set(node.layer, []);
    byLayer.get(node.layer).push(node);
  }
  const columns = [...byLayer.keys()].sort((a, b) => a - b).map((layer) =>
    byLayer.get(layer).sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id)));
  const neighbours = new Map(graph.nodes.map((n) => [n.id, []]));
  for (const edge of graph.edges) {
    if (!neighbours.has(edge.source) || !neighbours.has(edge.target)) continue;
    neighbours.get(edge.source).push(edge.target);
    neighbours.get(edge.target).push(edge.source);
  }
  const row = new Map();
  const number = () => columns.forEach((col) => col.forEach((n, i) => row.set(n.id, i)));
  number();
  const sweep = (col) => {
    const score = (n) => {
      const near = neighbours.get(n.id).filter((m) => row.has(m));
      return near.length ? near.reduce((sum, m) => sum + row.get(m), 0) / near.length : row.get(n.id);
    };
    const scores = new Map(col.map((n) => [n.id, score(n)]));
    col.sort((a, b) => scores.get(a.id) - scores.get(b.id) || a.id.localeCompare(b.id));
    col.forEach((n, i) => row.set(n.id, i));
  };
  for (let pass = 0; pass < 4; pass++) {
    for (let i = 1; i < columns.length; i++) sweep(columns[i]);
    for (let i = columns.length - 2; i >= 0; i--) sweep(columns[i]);
  }
  const tallest = Math.max(1, ...columns.map((c) => c.length));
  const position = new Map();
  columns.forEach((col, c) => {
    const offset = ((tallest - col.length) * (NODE_H + ROW_GAP)) / 2;
    col.forEach((node, r) => position.set(node.id, {
      x: PAD + c * (NODE_W + COLUMN_GAP),
      y: PAD + TITLE_H + offset + r * (NODE_H + ROW_GAP),
      column: c,
    }));
  });
  return {
    columns,
    position,
    width: PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * COLUMN_GAP,
    height: PAD * 2 + TITLE_H + tallest * (NODE_H + ROW_GAP) - ROW_GAP + 16,
  };
}

function columnTitle(col) {
  const kinds = new Set(col.map((n) => n.kind));
  if (kinds.size === 1 && kinds.has("service")) return "services";
  if (col.every((n) => n.layer === 0)) return "callers";
  return "workloads";
}

// Two lines: what config says (split, subsets), then what the sidecars counted.
function edgeLabel(edge, traffic) {
  const parts = [];
  if (edge.kind === "calls") {
    const weights = Object.entries(edge.subset_weights || {});
    if (edge.routes.length > 1) parts.push(`${edge.routes.length} routes`);
    else if (weights.length > 1 || (weights.length === 1 && weights[0][0])) {
      parts.push(weights.map(([subset, w]) => `${subset || "all"} ${w}%`).join(" · "));
    }
    for (const subset of edge.empty_subsets || []) parts.push(`⚠ ${subset}: no endpoints`);
  } else {
    if (edge.subsets.length) parts.push(edge.subsets.join(", "));
    if (edge.weight !== null && edge.weight !== undefined) parts.push(`${edge.weight}%`);
  }
  let counted = "";
  if (traffic) {
    counted = `${traffic.requests} req`;
    if (traffic.rps) counted += ` · ${traffic.rps}/s`;
    if (traffic.errors_5xx) counted += ` · ${traffic.errors_5xx} 5xx`;
  }
  return [{ text: parts.join(" · "), cls: "config" }, { text: counted, cls: "counted" }].filter((l) => l.text);
}

function edgeText(x, y, lines, anchor) {
  const first = y - (lines.length - 1) * 13;
  return s("text", { x, y: first, "text-anchor": anchor },
    lines.map((line, i) => s("tspan", { x, y: first + i * 13, class: line.cls }, line.text)));
}

function edgeTitle(edge) {
  const lines = [`${edge.source} → ${edge.target}`];
  for (const route of edge.routes || []) {
    const split = route.splits.map((sp) => `${sp.subset || "(all)"}:${sp.port} ${sp.weight}%`).join(", ");
    lines.push(`route ${route.name || "(unnamed)"} [${route.match}] → ${split}`);
  }
  if (edge.provenance.length) lines.push(`from ${edge.provenance.join(", ")}`);
  return lines.join("\n");
}

function nodeDetail(node) {
  if (node.kind === "service") {
    const ports = node.ports.map((p) => `${p.protocol ? p.protocol.toLowerCase() : "port"} ${p.number}`).join(", ");
    return [node.namespace, ports].filter(Boolean).join(" · ");
  }
  const version = node.labels.version ? `${node.labels.version} · ` : "";
  const gateway = node.proxy === "gateway" ? "gateway · " : "";
  return `${gateway}${version}${node.address || node.namespace}`;
}

function renderGraph(graph, proxies, problems) {
  const svg = document.getElementById("mesh");
  const { columns, position, width, height } = layout(graph);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const troubled = new Set();
  const bySource = new Map(graph.nodes.filter((n) => n.source).map((n) => [n.source, n.id]));
  for (const p of problems) {
    // a NACK concerns its proxy; the objects behind the rejected response are listed
    if (p.proxy) troubled.add(`workload:${p.proxy}`);
    else for (const ref of p.objects) if (bySource.has(ref)) troubled.add(bySource.get(ref));
  }
  const defs = s("defs", {},
    s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#829ab1" })));
  const titles = columns.map((col, c) => s("text", { class: "column-title", x: PAD + c * (NODE_W + COLUMN_GAP), y: PAD + 8 }, columnTitle(col)));
  const edges = [];
  for (const edge of graph.edges) {
    const a = position.get(edge.source);
    const b = position.get(edge.target);
    if (!a || !b) continue;
    const traffic = (graph.traffic || {})[edge.id];
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2;
    let d, lx, ly;
    if (b.column > a.column) {
      const x2 = b.x, y2 = b.y + NODE_H / 2, mid = (x1 + x2) / 2;
      d = `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`;
      // near the target, where fanned-out edges are furthest apart
      lx = x2 - 12; ly = y2 - 8;
    } else { // back to an earlier column (a call cycle): loop below the nodes
      const x2 = b.x + NODE_W / 2, y2 = b.y + NODE_H, low = Math.max(a.y, b.y) + NODE_H + 30;
      d = `M ${x1} ${y1} C ${x1 + 60} ${low}, ${x2} ${low}, ${x2} ${y2}`;
      lx = (x1 + x2) / 2; ly = low;
    }
    const classes = ["edge", edge.kind];
    if (traffic && traffic.requests > 0) classes.push("traffic");
    if (traffic && traffic.errors_5xx > 0) classes.push("errors");
    const widthPx = traffic && traffic.rps ? Math.min(6, 1.5 + Math.log2(1 + traffic.rps)) : null;
    edges.push(s("g", { class: classes.join(" "), "data-edge-id": edge.id, "data-source": edge.source, "data-target": edge.target },
      s("title", {}, edgeTitle(edge)),
      s("path", { d, "marker-end": "url(#arrow)", style: widthPx ? `stroke-width:${widthPx}px` : null }),
      edgeText(lx, ly, edgeLabel(edge, traffic), b.column > a.column ? "end" : "middle")));
  }
  const nodes = [];
  for (const node of graph.nodes) {
    const p = position.get(node.id);
    const classes = ["node", node.kind];
    if (node.proxy === "gateway") classes.push("gateway");
    if (troubled.has(node.id)) classes.push("problem");
    const children = [
      s("title", {}, [node.kind === "service" ? node.host : node.key, node.source ? `defined by ${node.source}` : "",
        node.labels ? Object.entries(node.labels).map(([k, v]) => `${k}=${v}`).join(" ") : ""].filter(Boolean).join("\n")),
      s("rect", { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: node.kind === "service" ? 22 : 5 }),
      s("text", { class: "name", x: p.x + 14, y: p.y + 19 }, node.name),
      s("text", { class: "detail", x: p.x + 14, y: p.y + 35 }, nodeDetail(node)),
    ];
    let state = null;
    if (node.kind === "workload") {
      state = hasProxy(node) ? proxyState(proxies[node.key]) : "offline";
      children.push(s("circle", { class: state, cx: p.x + NODE_W - 12, cy: p.y + 12, r: 5 }));
    }
    nodes.push(s("g", { class: classes.join(" "), "data-node-id": node.id, "data-state": state }, children));
  }
  svg.replaceChildren(defs, ...titles, s("g", { class: "edges" }, edges), s("g", { class: "nodes" }, nodes));
  const failed = Object.entries(graph.sidecars || {}).filter(([, v]) => v.error);
  const notes = [failed.length
    ? `Traffic unavailable from ${failed.map(([k, v]) => `${k} (${v.error})`).join(", ")}.`
    : "Traffic counts are requests since each sidecar started, read from its Prometheus port."];
  if (graph.hidden_calls) {
    notes.push(`${graph.hidden_calls} more calls the config allows are not drawn (every sidecar reaches every service it sees); calls with traffic are.`);
  }
  if (graph.filtered) notes.push(`Showing ${graph.nodes.length} of ${graph.filtered} nodes.`);
  if (graph.truncated) notes.push(`The control plane sent ${graph.truncated.message.replace(/\?namespace=NS&filter=TEXT/, "the filter box")}.`);
  if (graph.building) notes.push(graph.building);
  document.getElementById("graph-note").textContent = notes.join(" ");
}

// Nodes whose name matches the filter, with their neighbours (for large meshes).
function filtered(graph) {
  const text = document.getElementById("graph-filter").value.trim().toLowerCase();
  if (!text) return graph;
  const keep = new Set(graph.nodes.filter((n) => n.id.toLowerCase().includes(text)).map((n) => n.id));
  for (const e of graph.edges) {
    if (keep.has(e.source) || keep.has(e.target)) { keep.add(e.source); keep.add(e.target); }
  }
  return {
    ...graph,
    nodes: graph.nodes.filter((n) => keep.has(n.id)),
    edges: graph.edges.filter((e) => keep.has(e.source) && keep.has(e.target)),
    filtered: graph.nodes.length,
  };
}

// --- explain form --------------------------------------------------------------------
function fillWorkloads(graph) {
  const select = document.getElementById("explain-from");
  const keys = graph.nodes.filter((n) => n.kind === "workload").map((n) => n.key).sort();
  const current = [...select.options].map((o) => o.value);
  if (keys.join() === current.join()) return;
  const chosen = select.value;
  const callers = new Set(graph.edges.filter((e) => e.kind === "calls").map((e) => e.source.replace(/^workload:/, "")));
  select.replaceChildren(...keys.map((k) => h("option", { value: k }, k)));
  select.value = keys.includes(chosen) ? chosen : (keys.find((k) => callers.has(k)) || keys[0] || "");
}

function clusterText(name) {
  // outbound|8080|v1|order-service.default.svc.cluster.local -> order-service:8080 v1
  const parts = String(name || "").split("|");
  if (parts.length !== 4) return name || "";
  return `${parts[3].split(".")[0]}:${parts[1]}${parts[2] ? ` ${parts[2]}` : ""}`;
}

// Until the user types a URL, suggest one the selected caller has a route to.
function suggestUrl(graph) {
  const url = document.getElementById("explain-url");
  if (url.dataset.edited) return;
  const from = document.getElementById("explain-from").value;
  const caller = graph.nodes.find((n) => n.id === `workload:${from}`);
  if (caller && caller.proxy === "gateway" && caller.entries && caller.entries.length) {
    // a gateway is asked where requests enter it: its own listener, a host it answers
    const entry = caller.entries[0];
    url.value = `http://${entry.host || caller.address}:${entry.port}/`;
    return;
  }
  const call = graph.edges.find((e) => e.kind === "calls" && e.source === `workload:${from}`);
  const node = call && graph.nodes.find((n) => n.id === call.target);
  if (!node || !call.ports.length) return;
  const sameNamespace = node.namespace === from.split("/")[0];
  url.value = `http://${sameNamespace ? node.name : `${node.name}.${node.namespace}`}:${call.ports[0]}/`;
}

function renderExplain(answer) {
  const out = document.getElementById("explain-result");
  if (answer.error) {
    out.replaceChildren(h("p", { class: "error" }, answer.error));
    return;
  }
  const rows = [];
  const add = (term, ...value) => rows.push(h("dt", {}, term), h("dd", {}, ...value));
  if (answer.listener) add("listener", `${answer.listener.name} (${answer.listener.protocol})`, answer.listener.sources && answer.listener.sources.length ? ` · from ${answer.listener.sources.join(", ")}` : "");
  const r = answer.route;
  if (r) {
    add("route", [r.object, r.rule, r.action].filter(Boolean).join(" · ") || r.name || "(default route)");
    if (r.delegate) add("delegated to", `${r.delegate} ${r.delegate_rule}`);
    if (r.skipped && r.skipped.length) {
      const rule = (sk) => [sk.object, sk.rule].filter(Boolean).join(" ") + (sk.delegate ? ` → ${sk.delegate} ${sk.delegate_rule}` : "");
      add("not matched", h("ul", {}, r.skipped.map((sk) => h("li", {}, `${rule(sk) || sk.route}: ${(sk.failed || []).join("; ")}`))));
    }
  } else if (answer.protocol === "http") {
    add("route", "no route matches");
  }
  for (const d of answer.destinations || []) {
    add(`${d.share}% →`, h("span", { class: "destination" },
      `${clusterText(d.cluster)}`,
      d.tls ? ` · ${d.tls.mode}${d.tls.decided_by ? ` (${d.tls.decided_by})` : ""}` : "",
      d.endpoints && d.endpoints.length ? h("ul", {}, d.endpoints.map((e) => h("li", {},
        `${e.workload || e.address} ${e.address}:${e.port}`,
        e.inbound ? ` · ${e.inbound.peer_authentication || ""} · ${e.inbound.verdict}` : ""))) : h("ul", {}, h("li", {}, "no endpoints"))));
  }
  if (answer.outcomes && answer.outcomes.length) {
    add("outcomes", h("ul", {}, answer.outcomes.map((o) => h("li", { class: `outcome ${o.result}` },
      `${o.share}% ${o.result}${o.status ? ` ${o.status}` : ""}${o.cluster ? ` via ${clusterText(o.cluster)}` : ""}${o.detail ? ` — ${o.detail}` : ""}`))));
  }
  if (answer.notes && answer.notes.length) add("notes", h("ul", {}, answer.notes.map((n) => h("li", {}, n))));
  out.replaceChildren(h("dl", {}, rows), h("details", {}, h("summary", {}, "full answer (JSON)"), h("pre", {}, JSON.stringify(answer, null, 2))));
}

async function explainSubmit(event) {
  event.preventDefault();
  const params = new URLSearchParams();
  params.set("from", document.getElementById("explain-from").value);
  params.set("url", document.getElementById("explain-url").value.trim());
  params.set("method", document.getElementById("explain-method").value);
  for (const header of document.getElementById("explain-headers").value.split(";")) {
    if (header.trim()) params.append("header", header.trim());
  }
  const out = document.getElementById("explain-result");
  out.replaceChildren(h("p", { class: "note" }, "explaining…"));
  try {
    // a 400 answer carries {"error": ...}: read the body whatever the status
    const response = await fetch(`/debug/explain?${params}`, { cache: "no-store" });
    renderExplain(await response.json());
  } catch (error) {
    out.replaceChildren(h("p", { class: "error" }, String(error)));
  }
}

// --- polling -------------------------------------------------------------------------
async function discover() {
  try {
    // `/debug` lists the endpoints ({path, description} each; plain paths in older servers)
    const paths = (await getJSON("/debug")).map((e) => (typeof e === "string" ? e : e.path));
    endpoints.analysis = paths.includes("/debug/analysis");
    endpoints.explain = paths.includes("/debug/explain");
  } catch (error) {
    endpoints.analysis = endpoints.explain = false;
  }
  document.getElementById("explain-form").hidden = !endpoints.explain;
  document.getElementById("explain-absent").hidden = endpoints.explain;
}

// The server cuts a large graph (`truncated`); the filter box narrows it there too.
function graphPath() {
  const text = document.getElementById("graph-filter").value.trim();
  return text ? `/debug/graph?filter=${encodeURIComponent(text)}` : "/debug/graph";
}

let filterTimer = null;

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const [graph, proxies, config, analysis] = await Promise.all([
      getJSON(graphPath()),
      getJSON("/debug/proxies"),
      getJSON("/debug/config"),
      endpoints.analysis ? getJSON("/debug/analysis") : Promise.resolve(null),
    ]);
    const problems = collectProblems(proxies, config, analysis, graph);
    lastGraph = { graph, proxies, problems };
    renderGraph(filtered(graph), proxies, problems);
    renderProblems(problems);
    renderProxies(proxies, graph);
    fillWorkloads(graph);
    suggestUrl(graph);
    const states = Object.values(proxies).map(proxyState);
    const nacks = states.filter((x) => x === "nack").length;
    document.getElementById("summary").textContent =
      `generation ${config.generation} · ${states.length} proxies · ${states.filter((x) => x === "synced").length} synced` +
      (nacks ? ` · ${nacks} NACK` : "") + ` · ${problems.length} problem${problems.length === 1 ? "" : "s"}`;
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.generation = String(config.generation);
  } catch (error) {
    document.getElementById("updated").textContent = `control plane unreachable: ${error.message}`;
  } finally {
    refreshing = false;
  }
}

document.getElementById("explain-form").addEventListener("submit", explainSubmit);
document.getElementById("explain-url").addEventListener("input", (event) => {
  event.target.dataset.edited = "1";
});
document.getElementById("explain-from").addEventListener("change", () => {
  if (lastGraph) suggestUrl(lastGraph.graph);
});
document.getElementById("graph-filter").addEventListener("input", () => {
  if (lastGraph) renderGraph(filtered(lastGraph.graph), lastGraph.proxies, lastGraph.problems);
  clearTimeout(filterTimer);
  filterTimer = setTimeout(refresh, 400);
});
discover().then(refresh);
setInterval(refresh, REFRESH_MS);
