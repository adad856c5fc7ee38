/* 市级平台 (docs/city.md): the city's figures, one row per district and the city's total.
 *
 * Plain JavaScript like the districts' app.js: user data goes on the page as text nodes only,
 * and the words the figures are named with are the server's (GET /city/api/meta serves the one
 * vocabulary of engine/vocabulary.py); this file keeps no copy of them. */
"use strict";

// Where the city is served: the page is at the city's "/" and at "/city/" (behind a path prefix
// too, e.g. "/beihai/" or "/beihai/city/"); every path asked for is put after ROOT.
const ROOT = location.pathname.replace(/\/[^/]*$/, "").replace(/\/city$/, "");
// A district's page is d/{id}/ beside the city's root. The address is written here, relative,
// from a literal start (never a URL taken from data): from ".../city/" it is one level up.
const AT_CITY = /\/city\/[^/]*$/.test(location.pathname);
function districtLink(row) {
  const attrs = { "data-testid": "district-link", title: `进入${row.name}` };
  const id = encodeURIComponent(row.key);
  return AT_CITY ? h("a", { ...attrs, href: "../d/" + id + "/" }, row.name)
    : h("a", { ...attrs, href: "./d/" + id + "/" }, row.name);
}
const TOKEN_KEY = "sanshi.city.token"; // sessionStorage: gone when the browser tab closes
const WRONG_TOKEN = "口令不正确：请输入市级平台的访问口令（各区的令牌只能在本区使用）。";
const EXPIRED = "口令已失效，请重新登录。";
const state = { token: null, meta: null };

function $(id) { return document.getElementById(id); }
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
function terms(name) { return state.meta?.vocabulary?.[name]?.terms || []; }
function label(name, code) {
  const t = terms(name).find((x) => x.code === code);
  return t ? t.label : code;
}
function fmtRate(v) { return v === null || v === undefined || !isFinite(v) ? "—" : (v * 100).toFixed(1) + "%"; }
function dateStr(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function get(path, params) {
  const q = new URLSearchParams(Object.entries(params || {}).filter(([, v]) => v)).toString();
  let res;
  try {
    res = await fetch(ROOT + path + (q ? "?" + q : ""), {
      headers: { Authorization: `Bearer ${state.token}` },
      credentials: "omit", // a district's session cookie is not the city's business
    });
  } catch {
    throw new ApiError(0, "无法连接服务器，请检查网络后重试。");
  }
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) throw new ApiError(res.status, (body && body.message) || `请求失败（${res.status}）`);
  return body;
}

// The board draws only the answer to its newest query (newest.js): the one asked on sign-in
// (default dates) must not replace the range asked for after it.

// ---- 登录 -------------------------------------------------------------------------------------

function showLogin(message) {
  state.token = null;
  state.meta = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("board").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

async function signIn(token) {
  state.token = token;
  try {
    state.meta = await get("/city/api/meta");
  } catch (e) {
    showLogin(e.status === 401 ? WRONG_TOKEN : e.message);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  const name = state.meta.city.name;
  $("city-name").textContent = `${name} · 市级平台`;
  document.title = `${name} · 市级平台`;
  $("who").textContent = state.meta.reader || "";
  $("logout").hidden = false;
  $("login").hidden = true;
  $("login-error").textContent = "";
  $("board").hidden = false;
  if (!$("from").value) {
    const today = new Date();
    $("from").value = dateStr(new Date(today.getFullYear() - 1, today.getMonth() + 1, 1));
    $("to").value = dateStr(new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1));
  }
  await load();
}

// ---- 各区办理情况 -------------------------------------------------------------------------------

const newestStats = newestOnly();
async function load() {
  let stats;
  try {
    stats = await newestStats(get("/city/api/stats", { from: $("from").value, to: $("to").value }));
  } catch (e) {
    if (e === STALE) return;
    if (e.status === 401) showLogin(EXPIRED);
    else boardError(e.message);
    return;
  }
  boardError("");
  render(stats);
}

function boardError(message) {
  $("board-error").textContent = message;
  $("board-error").hidden = !message;
}

const COUNT_COLUMNS = ["received", "accepted", "resolved"];
const MOVED_COLUMNS = ["transferred_in", "transferred_out"];

function countCell(row, field) {
  const v = row[field];
  return h("td", { class: "num", "data-testid": field, "data-value": v ?? "" }, v ?? "—");
}

function rateCell(row, t) {
  const r = row[t.code] || {};
  const has = r.denominator > 0 && r.value !== null && r.value !== undefined;
  return h("td", {
    class: "num", "data-testid": t.code, "data-value": has ? r.value : "",
    title: has ? `${t.label}：${r.numerator} / ${r.denominator}` : `${t.label}：没有分母（0）`,
  }, has ? fmtRate(r.value) : "—", has ? h("span", { class: "frac" }, `${r.numerator}/${r.denominator}`) : null);
}

function render(stats) {
  const rates = terms("rates");
  const mounts = Object.fromEntries((state.meta.districts || []).map((d) => [d.id, d.mount]));
  const table = clear($("city-table"));
  table.appendChild(h("thead", {}, h("tr", {},
    h("th", {}, "区"),
    COUNT_COLUMNS.map((f) => h("th", { class: "num" }, label("counts", f))),
    rates.map((t) => h("th", { class: "num", title: t.definition || "" }, t.label)),
    MOVED_COLUMNS.map((f) => h("th", { class: "num" }, label("city_counts", f))))));
  table.appendChild(h("tbody", {}, (stats.rows || []).map((row) => h("tr", { "data-testid": `row-${row.key}`, "data-district": row.key },
    h("td", { "data-testid": "name" },
      mounts[row.key] ? districtLink(row) : row.name),
    COUNT_COLUMNS.map((f) => countCell(row, f)),
    rates.map((t) => rateCell(row, t)),
    MOVED_COLUMNS.map((f) => countCell(row, f))))));
  const total = stats.total || {};
  table.appendChild(h("tfoot", {}, h("tr", { "data-testid": "row-total" },
    h("td", { "data-testid": "name" }, `合计（${total.name || state.meta.city.name}）`),
    COUNT_COLUMNS.map((f) => countCell(total, f)),
    rates.map((t) => rateCell(total, t)),
    h("td", { class: "num", colspan: 2, "data-testid": "transfers", "data-value": total.transfers ?? "" },
      `${label("city_counts", "transfers")} ${total.transfers ?? "—"} 件`))));

  const kpis = clear($("kpis"));
  const range = stats.from || stats.to ? `${stats.from || "最早"} 至 ${stats.to || "今"}（不含）` : "全部";
  kpis.appendChild(h("span", { "data-testid": "range-text" }, "统计区间", h("strong", {}, range)));
  for (const f of COUNT_COLUMNS) {
    kpis.appendChild(h("span", {}, `全市${label("counts", f)}`, h("strong", { "data-testid": `kpi-${f}` }, total[f] ?? "—")));
  }
  for (const code of ["handling_rate", "satisfaction_rate"]) {
    kpis.appendChild(h("span", {}, label("rates", code), h("strong", { "data-testid": `kpi-${code}` }, fmtRate(total[code]?.value))));
  }
  kpis.appendChild(h("span", {}, label("city_counts", "transfers"), h("strong", { "data-testid": "kpi-transfers" }, total.transfers ?? "—")));
  // Tells a watcher (and the browser test) that a fresh set of numbers is on screen.
  table.dataset.generation = String(Number(table.dataset.generation || 0) + 1);
}

// ---- start ------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim();
    $("login-error").textContent = "";
    if (token) signIn(token);
  });
  $("range").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  $("logout").addEventListener("click", () => showLogin(""));
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) signIn(kept);
  else showLogin("");
});
