// SPDX-License-Identifier: MIT
// ipopd's status page: reads status.json (what `ipopctl status --json`
// prints) every 5 s and draws it.  Names, JIDs, ids and addresses come
// from the network: they only ever go into the page as text nodes and
// attribute values (textContent, setAttribute), never as markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const KNOWN = new Set(["name", "running", "node_id", "device", "mode", "overlay", "addresses", "links",
  "signal_refused", "no_route", "relayed_packets", "relay_drops", "state_file", "pending_identities"]);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  n = Number(n) || 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function rtt(us) { return us ? (us / 1000).toFixed(1) + " ms" : "-"; }

function short(s, max) {
  s = String(s || "");
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

// The path as a person reads it: direct (host, srflx, prflx), TURN relay,
// or through another member of the group.
function pathOf(l) {
  if (l.relay) return "member";
  if (l.state !== "connected") return "none";
  return l.path === "relay" || l.remote_path === "relay" ? "relay" : "direct";
}

function pathText(l, byId) {
  const p = pathOf(l);
  if (p === "member") {
    const m = byId.get(l.relay);
    return "through member " + (m ? label(m) : short(l.relay, 12));
  }
  if (p === "none") return "-";
  return p + " (" + l.path + "/" + l.remote_path + ")";
}

function label(l) { return l.name || l.jid || l.address || short(l.peer_id, 12); }

function value(v) {
  if (v === null || v === undefined) return "-";
  if (Array.isArray(v)) return v.length ? v.map(value).join(", ") : "-";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function facts(n) {
  const dl = el("dl", { class: "facts" });
  const add = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, value(v)));
  add("state", n.running ? "running" : "not running (see the log)");
  add("node id", n.node_id);
  add("device", (n.device || "-") + " (mode " + n.mode + ")");
  add("overlay", n.overlay);
  add("addresses", n.addresses);
  add("signalling refused", n.signal_refused);
  if (n.relayed_packets || n.relay_drops)
    add("relayed for others", n.relayed_packets + " packets (" + n.relay_drops + " dropped)");
  // What newer ipopd versions add (signalling state, reasons): shown as given.
  for (const [k, v] of Object.entries(n)) if (!KNOWN.has(k)) add(k.replace(/_/g, " "), v);
  for (const p of n.pending_identities || [])
    add("refused identity", p.detail);
  return dl;
}

// The overlay as this node sees it: itself in the middle, its peers on a
// circle (sorted by id, so they keep their places), a spoke for each link
// drawn by state and path, and a chord from the relaying member to each
// peer reached through one.  Readable up to some hundred peers.
function drawing(n) {
  const links = [...n.links].sort((a, b) => (a.peer_id < b.peer_id ? -1 : 1));
  const size = 760, c = size / 2, count = links.length;
  const r = count > 24 ? 250 : 180, dot = count > 32 ? 3.5 : 5;
  const s = svg("svg", { class: count <= 16 ? "overlay few" : "overlay", viewBox: `0 0 ${size} ${size}`, role: "img",
    "aria-label": `overlay of ${count} peers` });
  const pos = new Map();
  links.forEach((l, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(count, 1);
    pos.set(l.peer_id, { x: c + r * Math.cos(a), y: c + r * Math.sin(a), a });
  });
  const edges = svg("g", {}), nodes = svg("g", {});
  for (const l of links) {
    const p = pos.get(l.peer_id), via = l.relay && pos.get(l.relay);
    const cls = `state-${l.state} path-${pathOf(l)}`;
    if (via) {
      // A chord bent toward the centre: member to peer.
      const mx = (via.x + p.x) / 2, my = (via.y + p.y) / 2;
      const qx = c + (mx - c) * 0.4, qy = c + (my - c) * 0.4;
      edges.append(svg("path", { class: cls, d: `M${via.x},${via.y} Q${qx},${qy} ${p.x},${p.y}` }));
    } else {
      edges.append(svg("line", { class: cls, x1: c, y1: c, x2: p.x, y2: p.y }));
    }
  }
  for (const l of links) {
    const p = pos.get(l.peer_id), deg = (p.a * 180) / Math.PI, left = Math.cos(p.a) < 0;
    const g = svg("g", { class: "peer", "data-peer-id": l.peer_id });
    g.append(svg("title", {}, `${label(l)}\n${l.peer_id}\n${l.state} ${pathText(l, pos) || ""}`));
    g.append(svg("circle", { class: `node state-${l.state}`, cx: p.x, cy: p.y, r: dot }));
    const lx = c + (r + dot + 4) * Math.cos(p.a), ly = c + (r + dot + 4) * Math.sin(p.a);
    g.append(svg("text", {
      x: lx, y: ly, "dominant-baseline": "middle", "text-anchor": left ? "end" : "start",
      transform: `rotate(${left ? deg + 180 : deg} ${lx} ${ly})`,
    }, short(label(l), 22)));
    nodes.append(g);
  }
  s.append(edges, nodes);
  s.append(svg("circle", { class: "self", cx: c, cy: c, r: 8 }));
  s.append(svg("text", { class: "self", x: c, y: c + 22, "text-anchor": "middle" },
    "this node " + short(n.node_id, 8)));
  return s;
}

function legend() {
  const p = el("p", { class: "legend" });
  for (const [cls, text] of [["state-connected", "connected, direct"], ["state-connected path-relay", "TURN relay"],
    ["path-member", "through a member"], ["state-connecting", "connecting"], ["state-failed", "failed"]]) {
    const i = el("i", {});
    i.style.borderColor = { "state-connected": "#1a7f37", "state-connected path-relay": "#1a7f37",
      "path-member": "#8250df", "state-connecting": "#bf8700", "state-failed": "#cf222e" }[cls];
    if (cls.includes("path-")) i.style.borderTopStyle = "dashed";
    p.append(el("span", {}, i, text));
  }
  return p;
}

function table(n) {
  const byId = new Map(n.links.map((l) => [l.peer_id, l]));
  const t = el("table", { class: "links" });
  t.append(el("thead", {}, el("tr", {}, ...["peer", "name", "address", "state", "path", "RTT", "in", "out",
    "packets in/out", "drops in/out"].map((h) => el("th", {}, h)))));
  const body = el("tbody", {});
  for (const l of n.links) {
    const state = l.state + (l.state !== "connected" && l.reason && l.reason !== "none" ? " (" + l.reason + ")" : "");
    body.append(el("tr", { class: "member", "data-peer-id": l.peer_id },
      el("td", { class: "id", title: l.peer_id }, short(l.peer_id, 12)),
      el("td", {}, l.name && l.jid ? l.name + " (" + l.jid + ")" : l.name || l.jid || "-"),
      el("td", { class: "id" }, l.address || "-"),
      el("td", { class: l.state }, state),
      el("td", {}, pathText(l, byId)),
      el("td", { class: "num" }, rtt(l.rtt_us)),
      el("td", { class: "num" }, bytes(l.rx_bytes)),
      el("td", { class: "num" }, bytes(l.tx_bytes)),
      el("td", { class: "num" }, `${l.rx_packets} / ${l.tx_packets}`),
      el("td", { class: "num" }, `${l.rx_drops} / ${l.tx_drops}`)));
  }
  t.append(body);
  return t;
}

function network(n) {
  const up = n.links.filter((l) => l.state === "connected" || l.relay).length;
  const sec = el("section", { class: "network", "data-network": n.name });
  sec.append(el("h2", {}, "network " + n.name + " ",
    el("small", {}, `${n.links.length} peers, ${up} reachable`)));
  sec.append(el("div", { class: "overview" }, facts(n), drawing(n)));
  sec.append(legend());
  sec.append(n.links.length ? table(n) : el("p", {}, "No links yet."));
  return sec;
}

async function refresh() {
  const main = document.getElementById("networks");
  const summary = document.getElementById("summary");
  try {
    const r = await fetch("status.json", { cache: "no-store" });
    if (!r.ok) throw new Error("status.json: HTTP " + r.status);
    const doc = await r.json();
    main.replaceChildren(...doc.networks.map(network));
    summary.textContent = `ipopd ${doc.version}: ${doc.networks.length} networks, ` +
      `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.ready = "1";
  } catch (e) {
    summary.replaceChildren(el("span", { class: "error" }, "cannot read status.json: " + e.message));
  }
}

refresh();
setInterval(refresh, 5000);
