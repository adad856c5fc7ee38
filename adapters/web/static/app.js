/* 三事通解 web UI: plain JavaScript, no libraries, no network beyond this server.
 *
 * Every piece of user data is put on the page with textContent (the h() helper below turns
 * strings into text nodes); nothing is ever assigned to innerHTML. */
"use strict";

/* The words (status, channel, rate, rating, role ... names) are the server's: /api/meta serves
 * its one vocabulary (engine/vocabulary.py) once at login and terms()/label() read it. This
 * file keeps no copy of them, nor of the overdue rule: rows carry `overdue` and the deadline
 * they concern, computed by the server. */

// token: a shared or personal Bearer token; csrf: set instead when a person logged in with a
// password (the session is an HttpOnly cookie the page never sees; people.js).
const state = { token: null, csrf: null, meta: null, tab: null };

// Where this district's app is mounted: "" on its own server, "/d/haicheng" when a city serves
// several districts (docs/city.md). The page is always served at the mount's "/", and every
// path the scripts ask for ("/api/...") is the district's, so fetch puts the mount before it.
const MOUNT = location.pathname.replace(/\/[^/]*$/, "");
const fetchFromServerRoot = window.fetch.bind(window);
window.fetch = (input, init) =>
  fetchFromServerRoot(
    typeof input === "string" && input.startsWith("/") && !input.startsWith("//") ? MOUNT + input : input,
    init,
  );

// ---- DOM helpers ------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
function $(id) { return document.getElementById(id); }
const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  return el;
}

function toast(message, isError) {
  const t = $("toast");
  t.textContent = message;
  t.className = "toast" + (isError ? " error" : "");
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, isError ? 6000 : 3000);
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  // Beijing time, whatever the browser's zone.
  const b = new Date(d.getTime() + 8 * 3600 * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${b.getUTCFullYear()}-${p(b.getUTCMonth() + 1)}-${p(b.getUTCDate())} ${p(b.getUTCHours())}:${p(b.getUTCMinutes())}`;
}
function fmtRate(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; }
function dateStr(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
function unitName(id) {
  if (!id) return "—";
  const u = (state.meta?.units || []).find((x) => x.id === id);
  return u ? u.name : id;
}
function categoryName(code) {
  if (!code) return "—";
  const c = (state.meta?.categories || []).find((x) => x.code === code);
  return c ? c.name : code;
}
// The terms of one vocabulary ([{code, label, ...}], in order) and the label of one code (the
// code itself when the vocabulary does not know it).
// The district's centre is whichever unit the config gives kind "centre" (its id is the district's).
function centreId() { return (state.meta?.units || []).find((u) => u.kind === "centre")?.id; }
function terms(name) { return state.meta?.vocabulary?.[name]?.terms || []; }
function label(name, code) {
  if (code === null || code === undefined || code === "") return "—";
  const t = terms(name).find((x) => x.code === code);
  return t ? t.label : String(code);
}
function statusName(code) { return label("statuses", code); }
function deadlineOf(row, kind) { return kind === "claim" ? row.claim_deadline : row.handle_deadline; }
function overdueText(row) {
  // How long past the deadline the server says was missed first.
  const missed = deadlineOf(row, row.overdue_kind);
  const ms = missed ? Date.now() - new Date(missed).getTime() : 0;
  if (ms <= 0) return "超期";
  const days = Math.floor(ms / 86400000);
  return days >= 1 ? `超期 ${days} 天` : `超期 ${Math.max(1, Math.floor(ms / 3600000))} 小时`;
}

// The server decides (projections/queries.py, _overdue_flags); a row without the flag is not late.
function isOverdue(row) { return !!row.overdue; }

// ---- API --------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `请求失败（${status}）`);
    this.status = status;
    this.code = body && body.error;
  }
}

// Requests on their way: 退出 lets them finish first (ending the session under a screen that is
// still loading answered its requests 401).
const inflight = new Set();

async function api(method, path, body) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  if (!state.token && state.csrf && method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const sent = fetch(path, init);
  inflight.add(sent);
  let res;
  try { res = await sent; } finally { inflight.delete(sent); }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    if (res.status === 401) logout();
    throw new ApiError(res.status, data);
  }
  return data;
}
const get = (path) => api("GET", path);
const post = (path, body) => api("POST", path, body);
function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) u.set(k, v);
  const q = u.toString();
  return q ? "?" + q : "";
}
function rowsOf(data) {
  if (Array.isArray(data)) return data;
  if (!data) return [];
  return data.rows || data.cases || data.items || [];
}

// ---- login and tabs ---------------------------------------------------------------------------

const TABS = {
  operator: [["intake", "受理台"], ["forms", "一表通"], ["queue", "待派单"], ["returns", "待审退单"], ["extensions", "待审延期"], ["holds", "待审挂起"], ["followup", "回访"], ["coop", "协办与吹哨"], ["censures", "通报追责"], ["search", "工单查询"]],
  unit: [["inbox", "工单箱"], ["assists", () => label("unit_queues", "assists")], ["search", "本单位工单"]],
  leader: [["dashboard", "领导驾驶舱"], ["instructions", "批示跟踪"], ["coop", "协办与吹哨"], ["search", "工单查询"]],
  admin: [["dashboard", "领导驾驶舱"], ["search", "工单查询"], ["people", "人员管理"], ["audit", "查阅审计"], ["quarantine", "隔离事件"]],
};

// Screens other script files add (knowledge.js: 知识库), by tab id; their tabs they add to TABS.
const EXTRA_SCREENS = {};

async function login(token) {
  state.token = token;
  try {
    state.meta = await get("/api/meta");
  } catch (e) {
    state.token = null;
    throw e;
  }
  if (token) sessionStorage.setItem("sanshi-token", token);
  const me = state.meta.me;
  $("district-name").textContent = `${state.meta.district.name} · 三事通解`;
  const role = label("roles", me.role);
  const display = me.role === "unit" ? me.unit_name : me.name || role;
  // A named person of a unit: their name and the unit (a shared unit token's name is the unit's).
  const person = me.role === "unit" && me.name && me.name !== me.unit_name;
  $("who").textContent = person ? `${me.name}（${me.unit_name}）` : display === role ? display : `${display}（${role}）`;
  $("logout").hidden = false;
  $("login").hidden = true;
  renderTabs();
  const wanted = location.hash.slice(1);
  const tabs = TABS[me.role].map((t) => t[0]);
  show(tabs.includes(wanted) ? wanted : tabs[0]);
}

async function logout() {
  if (inflight.size) {
    await Promise.race([Promise.allSettled([...inflight]), new Promise((done) => setTimeout(done, 3000))]);
  }
  // The login form shows once the server has ended the session (a tab closed right after 退出
  // must not leave it alive).
  const ending = state.csrf ? fetch("/api/session", { method: "DELETE", credentials: "same-origin" }).catch(() => {}) : null;
  state.csrf = null;
  state.token = null;
  state.meta = null;
  sessionStorage.removeItem("sanshi-token");
  clear($("tabs"));
  clear($("view"));
  $("who").textContent = "";
  $("logout").hidden = true;
  if (ending) await ending;
  $("login").hidden = false;
}

function renderTabs() {
  const nav = clear($("tabs"));
  for (const [id, title] of TABS[state.meta.me.role]) {
    nav.appendChild(h("button", { type: "button", "data-tab": id, "data-testid": `tab-${id}`, on: { click: () => show(id) } }, typeof title === "function" ? title() : title));
  }
}

function show(tab) {
  state.tab = tab;
  history.replaceState(null, "", "#" + tab);
  for (const b of $("tabs").querySelectorAll("button")) b.classList.toggle("active", b.dataset.tab === tab);
  const view = clear($("view"));
  const screens = { ...(window.sanshiScreens || {}), intake: intakeScreen, queue: queueScreen, followup: followupScreen, search: searchScreen, inbox: inboxScreen, dashboard: dashboardScreen, holds: holdsScreen, instructions: instructionsScreen, assists: assistsScreen, coop: coopScreen, forms: formsScreen, censures: censureScreen, audit: auditScreen, quarantine: quarantineScreen, returns: returnsScreen, people: peopleScreen, ...EXTRA_SCREENS };
  screens[tab](view);
}

// ---- case detail (shared) ---------------------------------------------------------------------

function statusBadge(status, name) {
  // A case received and not dispatched waits in the centre's 待派单 queue: say so.
  if (status === "received") name = "待派单";
  const cls = { dispatched: "blue", claimed: "blue", mediating: "amber", returned: "amber", reopened: "red", resolved: "green", closed: "green", answered_directly: "green", rejected: "", merged: "", on_hold: "amber" }[status] || "";
  return h("span", { class: "badge " + cls, "data-testid": "status" }, name || statusName(status));
}

async function showCase(container, caseId, onChange) {
  clear(container);
  container.appendChild(h("div", { class: "empty" }, "正在加载…"));
  // The case clicked last: a slower answer for the one clicked before must not replace it.
  container.newest = container.newest || newestOnly();
  let c, events;
  try {
    [c, events] = await container.newest(Promise.all([get(`/api/cases/${caseId}`), get(`/api/cases/${caseId}/events`)]));
  } catch (e) {
    if (e !== STALE) clear(container).appendChild(h("div", { class: "error" }, e.message));
    return;
  }
  renderCase(container, c, events, onChange);
}

function renderCase(container, c, events, onChange) {
  clear(container);
  const d = c.dispatch;
  const refresh = async (updated, message) => {
    toast(message || "已保存");
    if (onChange) onChange(updated);
    await showCase(container, c.id, onChange);
  };
  const card = h("div", { class: "card detail", "data-testid": "case-detail", "data-case-id": c.id },
    h("div", { class: "row" },
      h("h2", {}, "工单详情"),
      statusBadge(c.status, c.status_name),
      c.urgent ? h("span", { class: "badge red" }, "紧急") : null,
      c.escalation_level > 0 ? h("span", { class: "badge red" }, `督办 ${c.escalation_level} 级`) : null,
      c.reported_by > 1 ? h("span", { class: "badge amber", "data-testid": "reported-by" }, `${c.reported_by} 人反映`) : null,
      c.masked ? h("span", { class: "badge" }, "来电人信息已脱敏") : null,
      c.confidential ? h("span", { class: "badge amber", "data-testid": "confidential" }, "保密件") : null,
      c.appeal ? h("span", { class: "badge", "data-testid": "case-appeal" }, c.appeal + (c.appeal_type ? "" : "（预判）")) : null,
      h("span", { class: "muted small right", title: c.id, "data-testid": "case-order-no" }, c.order_no ? `工单编号 ${c.order_no}` : c.id),
      typeof printCase === "function" ? h("button", { type: "button", "data-testid": "print-case", on: { click: () => printCase(c.id) } }, "打印") : null),
    instructionsBox(c),
    returnBox(c),
    holdBox(c),
    partsBox(c),
    mergeBox(c),
    notesBox(c),
    h("div", { class: "content", "data-testid": "case-content" }, c.content),
    (window.sanshiCasePanels || []).map((panel) => panel(c)),  // places.js: attachments, place
    h("dl", {},
      h("dt", {}, "渠道"), h("dd", {}, label("channels", c.channel)),
      h("dt", {}, "受理时间"), h("dd", {}, fmtTime(c.received_at)),
      h("dt", {}, "来电人"), h("dd", { "data-testid": "caller-name" }, c.caller_name || "—"),
      h("dt", {}, "联系电话"), h("dd", { "data-testid": "caller-phone" },
        c.masked && c.confidential ? "保密件，请联系中心转达" : c.caller_phone || "—"),
      h("dt", {}, "诉求地址"), h("dd", {}, c.address || "—"),
      h("dt", {}, "属地"), h("dd", {}, [c.street_name, c.locality_name !== c.street_name ? c.locality_name : null].filter(Boolean).join(" / ") || "—"),
      h("dt", {}, "分类"), h("dd", {}, c.category_name || "—"),
      h("dt", {}, "承办单位"), h("dd", { "data-testid": "assigned-unit" }, c.assigned_unit_name
        || (c.resolved_unit && c.resolved_unit !== centreId() ? `${unitName(c.resolved_unit)}（已办结）` : null)
        || (c.resolved_unit && c.resolved_unit === centreId() ? "中心直办" : null)
        || (d ? `（曾派）${d.unit_name}` : "—")),
      h("dt", {}, label("deadline_kinds", "claim")), h("dd", {}, d ? fmtTime(d.claim_deadline) : "—"),
      h("dt", {}, label("deadline_kinds", "handle")), h("dd", {}, d ? fmtTime(d.handle_deadline) : "—"),
      c.manual_reason ? [h("dt", {}, "转人工原因"), h("dd", {}, c.manual_reason)] : null,
      d && d.extension_requested_to ? [h("dt", {}, "申请延期至"), h("dd", {}, fmtTime(d.extension_requested_to))] : null,
      c.rating ? [h("dt", {}, "回访评价"), h("dd", {}, label("ratings", c.rating))] : null,
      c.return_count ? [h("dt", {}, "退单次数"), h("dd", {}, String(c.return_count))] : null,
      d && d.note ? [h("dt", {}, "派单说明"), h("dd", { "data-testid": "dispatch-note" }, d.note)] : null),
    callbacksBox(c),
  );
  // 知识库: the entries that may answer a case waiting at the centre (knowledge.js).
  if (typeof knowledgeForCase === "function") append(card, [knowledgeForCase(c, refresh)]);
  // 认领大厅: 上架 a case waiting at the centre, or its claims (shelf.js).
  if (typeof shelfForCase === "function") append(card, [shelfForCase(c, refresh)]);
  const actions = h("div", { class: "actions" });
  for (const a of c.actions || []) {
    // A return waiting for review is decided in its own form (派单 there approves it too).
    if (a === "dispatch" && c.return_review) continue;
    const form = actionForm(a, c, refresh);
    if (form) actions.appendChild(form);
  }
  if ((c.actions || []).length) card.appendChild(actions);
  card.appendChild(h("h3", {}, "办理过程"));
  const tl = h("ol", { class: "timeline", "data-testid": "timeline" });
  for (const e of events || []) {
    const extra = [];
    if (e.type === "Returned" || e.type === "Rejected") extra.push("理由：" + (e.data.reason || ""));
    if (e.type === "Resolved") extra.push("结果：" + (e.data.result || ""));
    if (e.type === "FollowedUp") extra.push((e.data.solved ? "已解决" : "未解决") + (e.data.rating ? "，" + label("ratings", e.data.rating) : ""));
    if (e.type === "Reopened") extra.push(e.data.reason || "");
    if (e.type === "Escalated") extra.push("超过" + label("deadline_kinds", e.data.kind));
    if (e.type === "SentToManual") extra.push(e.data.reason || "");
    if (e.type === "Classified") extra.push(categoryName(e.data.category) + (e.data.override ? "（人工改分类）" : ""));
    if (e.type === "Dispatched") extra.push(`办理时限 ${fmtTime(e.data.handle_deadline)}`);
    if (e.type === "ExtensionRequested") extra.push(`申请延至 ${fmtTime(e.data.until)}` + (e.data.reason ? `，${e.data.reason}` : ""));
    if (e.type === "ExtensionDecided") extra.push(e.data.granted ? `同意，延至 ${fmtTime(e.data.until)}` : "不同意");
    if (e.type === "MediationConcluded") extra.push((e.data.agreement ? "达成协议" : "未达成协议") + (e.data.summary ? `：${e.data.summary}` : ""));
    if (e.type === "AnsweredDirectly") extra.push((e.data.entry ? "（知识库答复口径）" : "") + (e.data.answer || ""));
    if (e.type === "Merged") extra.push(`并入 ${e.data.target}` + (e.data.reason?.note ? `：${e.data.reason.note}` : ""));
    if (e.type === "Unmerged") extra.push(e.data.note || "");
    if (e.type === "OriginalResolved") extra.push(`原件办理结果：${e.data.result || ""}`);
    if (e.type === "MergeDeclined") extra.push(`未并入 ${e.data.target}`);
    if (e.type === "LinkedToForm") extra.push(`第 ${e.data.item} 项 · ${e.data.title || ""}`);
    if (e.type === "Urged") extra.push(e.data.note || "");
    if (e.type === "ContactRevealed") extra.push(e.principal || "");
    if (e.type === "HoldRequested") extra.push(e.data.reason || "");
    if (e.type === "HoldDecided") extra.push(e.data.granted ? "同意挂起" : `不同意：${e.data.note || ""}`);
    if (e.type === "Resumed") extra.push(`办理时限顺延至 ${fmtTime(e.data.handle_deadline)}`);
    if (e.type === "Instructed") extra.push(e.data.text || "");
    if (e.type === "InstructionAnswered") extra.push((e.data.reply || "") + (e.data.on_time === false ? "（逾期回复）" : ""));
    const coop = coopEventText(e);
    if (coop) extra.push(coop);
    extra.push(...reviewEventText(e));
    const more = window.sanshiEventText ? window.sanshiEventText(e) : null;  // places.js
    if (more) extra.push(more);
    tl.appendChild(h("li", {},
      h("span", { class: "when" }, fmtTime(e.at)),
      h("strong", {}, e.type_name),
      e.unit_name ? " · " + e.unit_name : "",
      extra.length ? " · " + extra.join(" ") : "",
      e.actor ? h("span", { class: "muted small", "data-testid": "actor" }, " · " + e.actor) : null));
  }
  card.appendChild(tl);
  container.appendChild(card);
}

// 领导批示: shown at the top of the case, the latest first, with the unit's reply.
function instructionsBox(c) {
  const list = c.instructions || [];
  if (!list.length) return null;
  return h("div", { class: "card instructions", "data-testid": "instructions" },
    h("h3", {}, "领导批示"),
    list.map((i) => h("div", { class: "instruction", "data-testid": "instruction" },
      h("div", {}, h("strong", {}, i.text)),
      h("div", { class: "muted small" }, `${fmtTime(i.at)} 批示 · 回复时限 ${fmtTime(i.due)}`),
      i.answered_at
        ? h("div", { "data-testid": "instruction-reply" }, "回复：", i.reply, " ",
          h("span", { class: "badge " + (i.on_time ? "green" : "red") }, i.on_time ? "按时回复" : "逾期回复"))
        : h("span", { class: "badge amber" }, "待回复"))));
}

// 挂起: the request waiting for the centre, the suspension, or the centre's last refusal.
function holdBox(c) {
  const hold = c.hold || {};
  const rows = [];
  if (hold.requested) rows.push(`申请挂起：${hold.requested.reason}` + (hold.requested.expected_resume ? `（预计 ${fmtTime(hold.requested.expected_resume)} 恢复）` : "") + "，待中心审批");
  if (hold.held_since) rows.push(`挂起中（自 ${fmtTime(hold.held_since)}），办理时限暂停计算` + (hold.resume_expected ? `，${fmtTime(hold.resume_expected)} 自动恢复办理` : ""));
  if (hold.refusal_note && !hold.requested && !hold.held_since) rows.push(`中心不同意挂起：${hold.refusal_note}`);
  if (!rows.length) return null;
  return h("div", { class: "card", "data-testid": "hold-state" }, rows.map((t) => h("div", {}, t)));
}

function unitSelect(exclude) {
  const sel = h("select", { name: "unit", required: true, "data-testid": "dispatch-unit" }, h("option", { value: "" }, "选择承办单位"));
  // Grouped by kind (职能部门, 街道, 社区, 司法所, …) in the vocabulary's order: a list of dozens
  // of units is found by kind first.
  const groups = new Map(terms("unit_kinds").map((t) => [t.code, h("optgroup", { label: t.label, "data-kind": t.code })]));
  for (const u of state.meta.units) {
    if (u.kind === "centre" || u.active === false || (exclude || []).includes(u.id)) continue;  // 停用: no new cases
    if (!groups.has(u.kind)) groups.set(u.kind, h("optgroup", { label: label("unit_kinds", u.kind), "data-kind": u.kind }));
    groups.get(u.kind).appendChild(h("option", { value: u.id }, u.name));
  }
  for (const g of groups.values()) if (g.children.length) sel.appendChild(g);
  return sel;
}

function actionForm(action, c, done) {
  const run = async (ev, fn) => {
    ev.preventDefault();
    const btns = ev.target.querySelectorAll ? ev.target.querySelectorAll("button") : [];
    btns.forEach((b) => { b.disabled = true; });
    try {
      const updated = await fn();
      await done(updated, doneText(action, updated, ev.target.querySelector?.("h4")?.textContent, ev.submitter?.value));
    } catch (e) {
      toast(e.message, true);
      btns.forEach((b) => { b.disabled = false; });
    }
  };
  const path = (p) => `/api/cases/${c.id}/${p}`;
  const act = (code) => label("actions", code);
  const box = (title, ...kids) => h("form", { class: "action", "data-action": action }, h("h4", {}, title), ...kids);
  switch (action) {
    case "dispatch": {
      const sel = unitSelect(c.returned_by);
      const note = h("input", { name: "note", placeholder: "派单说明（可选）", size: 30 });
      const advice = h("span", { class: "muted small", "data-testid": "dispatch-advice" });
      const assisting = unitChecks("assist", (u) => !(c.returned_by || []).includes(u.id));  // 协办单位（可选）
      const f = box(c.status === "received" ? act("dispatch") : "转派", h("div", { class: "row" }, sel, note, h("button", { class: "primary", type: "submit", "data-testid": "do-dispatch" }, act("dispatch"))), advice,
        h("details", {}, h("summary", {}, "同时派给协办单位（可选）"), assisting.el));
      // The router's proposal for this text (never a unit that returned it) preselected.
      get("/api/routing/suggest" + qs({ text: c.content, address: c.address, category: c.category || "" }))
        .then((sg) => {
          if (sg.unit && !(c.returned_by || []).includes(sg.unit) && !sel.value) {
            sel.value = sg.unit;
            advice.textContent = `智能分拨建议：${sg.unit_name}（${sg.category_name}）`;
          }
        })
        .catch(() => {});
      f.addEventListener("submit", (ev) => run(ev, () => post(path("dispatch"), { unit: sel.value, note: note.value, assisting: assisting.values().filter((u) => u !== sel.value) })));
      return f;
    }
    case "reclassify": {
      const sel = h("select", { name: "category" });
      for (const cat of state.meta.categories) sel.appendChild(h("option", { value: cat.code, selected: cat.code === c.category }, cat.name));
      const f = box("改分类", h("div", { class: "row" }, sel, h("button", { type: "submit" }, "保存分类")));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("reclassify"), { category: sel.value })));
      return f;
    }
    case "answer": {
      const t = h("textarea", { rows: 2, required: true, placeholder: "直接答复内容" });
      const f = box(`${act("answer_directly")}（当场答复）`, t, h("div", { class: "row" }, h("button", { type: "submit" }, act("answer_directly"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("answer"), { answer: t.value })));
      return f;
    }
    case "reject": {
      const t = h("input", { required: true, placeholder: "不予受理理由（如：属110警情）", size: 40 });
      const f = box(act("reject"), h("div", { class: "row" }, t, h("button", { type: "submit", class: "danger" }, act("reject"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("reject"), { reason: t.value })));
      return f;
    }
    case "extension/decide": {
      const note = h("input", { placeholder: "审批意见", size: 30 });
      const f = box(`${act("decide_extension")}（申请至 ${fmtTime(c.dispatch.extension_requested_to)}）`, h("div", { class: "row" }, note,
        h("button", { type: "submit", class: "primary", value: "yes" }, "同意"),
        h("button", { type: "submit", value: "no" }, "不同意")));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("extension/decide"), { granted: ev.submitter?.value === "yes", note: note.value })));
      return f;
    }
    case "followup": {
      const solved = h("select", { name: "solved", "data-testid": "followup-solved" }, h("option", { value: "true" }, "已解决"), h("option", { value: "false" }, "未解决"));
      const rating = h("select", { name: "rating", "data-testid": "followup-rating" }, h("option", { value: "" }, "未评价"));
      for (const t of terms("ratings")) rating.appendChild(h("option", { value: t.code }, t.label));
      const comment = h("input", { name: "comment", placeholder: "回访记录", size: 30 });
      const f = box(act("follow_up"), h("div", { class: "row" }, h("label", {}, "是否解决 ", solved), h("label", {}, "满意度 ", rating), comment,
        h("button", { type: "submit", class: "primary", "data-testid": "do-followup" }, "提交回访")),
        h("p", { class: "muted small" }, "不满意或未解决将自动重办，重新派单。"));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("followup"), { solved: solved.value === "true", rating: rating.value || null, comment: comment.value })));
      return f;
    }
    case "merge": {
      const into = h("input", { required: true, placeholder: "原件工单 id", size: 38, "data-testid": "merge-into" });
      const note = h("input", { placeholder: "合并说明", size: 24, "data-testid": "merge-note" });
      const f = box(act("merge"), h("div", { class: "row" }, into, note, h("button", { type: "submit", "data-testid": "do-merge" }, "并入原件")),
        h("p", { class: "muted small" }, "并入后不再单独派单；原件办结时回访本来电人。"));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("merge"), { into: into.value.trim(), note: note.value })));
      return f;
    }
    case "unmerge": {
      const note = h("input", { placeholder: "撤销理由", size: 30, "data-testid": "unmerge-note" });
      const f = box(act("unmerge"), h("div", { class: "row" }, note, h("button", { type: "submit", class: "danger", "data-testid": "do-unmerge" }, "撤销合并，单独立案")));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("unmerge"), { note: note.value })));
      return f;
    }
    case "urge": {
      const note = h("input", { placeholder: "催办说明", size: 30 });
      const f = box(act("urge"), h("div", { class: "row" }, note, h("button", { type: "submit" }, act("urge"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("urge"), { note: note.value })));
      return f;
    }
    case "claim": {
      const f = box(act("claim"), h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "do-claim" }, act("claim"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("claim"))));
      return f;
    }
    case "return": {
      const t = h("input", { required: true, placeholder: "退单理由（必填）", size: 40, "data-testid": "return-reason" });
      // 建议承办单位 (optional): the centre's review sends the case there unless it chooses another.
      const sel = unitSelect([c.assigned_unit]);
      sel.required = false;
      sel.setAttribute("data-testid", "return-suggested");
      sel.firstChild.textContent = "建议承办单位（选填）";
      const f = box(act("return"), h("div", { class: "row" }, t, sel, h("button", { type: "submit", class: "danger", "data-testid": "do-return" }, act("return"))),
        h("p", { class: "muted small" }, "退单须经中心审核；中心不同意时工单退回本单位。"));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("return"), { reason: t.value, suggested_unit: sel.value || null })));
      return f;
    }
    case "extend": {
      const until = h("input", { type: "datetime-local", required: true });
      const reason = h("input", { required: true, placeholder: "延期理由", size: 26 });
      const f = box(act("request_extension"), h("div", { class: "row" }, h("label", {}, "延期至 ", until), reason, h("button", { type: "submit" }, "提交申请")));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("extend"), { until: until.value + ":00+08:00", reason: reason.value })));
      return f;
    }
    case "mediation/start": {
      const f = box("调解", h("div", { class: "row" }, h("button", { type: "submit" }, act("start_mediation"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("mediation/start"))));
      return f;
    }
    case "mediation/conclude": {
      const agreement = h("select", {}, h("option", { value: "true" }, "达成协议"), h("option", { value: "false" }, "未达成协议"));
      const summary = h("input", { placeholder: "调解情况", size: 30 });
      const f = box(act("conclude_mediation"), h("div", { class: "row" }, agreement, summary, h("button", { type: "submit" }, act("conclude_mediation"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("mediation/conclude"), { agreement: agreement.value === "true", summary: summary.value })));
      return f;
    }
    case "contact": {
      // 查看联系方式: recorded in the case's history (who, when); the number is shown here only.
      const shown = h("span", { class: "phone", "data-testid": "revealed-phone" });
      const f = box("联系来电人", h("div", { class: "row" },
        h("button", { type: "submit", "data-testid": "do-contact" }, act("reveal_contact")), shown),
        h("p", { class: "muted small" }, "查看将记入办理过程"));
      f.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        try {
          const r = await post(path("contact"));
          shown.textContent = r.caller_phone || "（未留电话）";
        } catch (e) {
          toast(e.message, true);
        }
      });
      return f;
    }
    case "hold": {
      const reason = h("input", { required: true, placeholder: "挂起理由（如：等待法院开庭）", size: 30, "data-testid": "hold-reason" });
      const until = h("input", { type: "date" });
      const f = box(act("request_hold"), h("div", { class: "row" }, reason, h("label", {}, "预计恢复 ", until),
        h("button", { type: "submit", "data-testid": "do-hold" }, "提交申请")));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("hold"), { reason: reason.value, expected_resume: until.value ? until.value + "T09:00:00+08:00" : null })));
      return f;
    }
    case "hold/decide": {
      const note = h("input", { placeholder: "审批意见（不同意时必填）", size: 30, "data-testid": "hold-note" });
      const r = c.hold?.requested || {};
      const f = box(`${act("decide_hold")}（${r.reason || ""}）`, h("div", { class: "row" }, note,
        h("button", { type: "submit", class: "primary", value: "yes", "data-testid": "do-hold-approve" }, "同意挂起"),
        h("button", { type: "submit", value: "no", "data-testid": "do-hold-refuse" }, "不同意")));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("hold/decide"), { granted: ev.submitter?.value === "yes", note: note.value })));
      return f;
    }
    case "resume": {
      const f = box(act("resume"), h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "do-resume" }, act("resume"))),
        h("p", { class: "muted small" }, "办理时限按挂起的工作日顺延。"));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("resume"))));
      return f;
    }
    case "instruct": {
      const t = h("textarea", { rows: 2, required: true, placeholder: "批示内容", "data-testid": "instruct-text" });
      const f = box(act("instruct"), t, h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "do-instruct" }, "发出批示")));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("instruct"), { text: t.value })));
      return f;
    }
    case "instruction/reply": {
      const t = h("textarea", { rows: 2, required: true, placeholder: "批示回复（办理情况）", "data-testid": "instruction-reply-text" });
      const f = box(act("answer_instruction"), t, h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "do-instruction-reply" }, act("answer_instruction"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("instruction/reply"), { reply: t.value })));
      return f;
    }
    case "resolve": {
      const t = h("textarea", { rows: 2, required: true, placeholder: "办理结果（必填）", "data-testid": "resolve-result" });
      const files = window.sanshiEvidence ? window.sanshiEvidence(c) : null;  // places.js: 办结凭证
      const f = box(act("resolve"), t, files ? files.el : null, h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "do-resolve" }, act("resolve"))));
      f.addEventListener("submit", (ev) => run(ev, async () => { if (files) await files.upload(); return post(path("resolve"), { result: t.value }); }));
      return f;
    }
    default:
      return reviewForm(action, c, run, path, box, act) || coopActionForm(action, c, { run, path, act, box });
  }
}

// ---- 主办/协办 and 吹哨报到 ---------------------------------------------------------------------

// Checkboxes of units (not the centre), for 协办 at dispatch, 增派协办 and 吹哨.
function unitChecks(prefix, keep) {
  const el = h("div", { class: "row checks", "data-testid": `${prefix}-units` });
  for (const u of state.meta.units) {
    if (u.kind === "centre" || (keep && !keep(u))) continue;
    el.appendChild(h("label", { class: "small" }, h("input", { type: "checkbox", value: u.id, "data-testid": `${prefix}-unit-${u.id}` }), " ", u.name));
  }
  return { el, values: () => [...el.querySelectorAll("input:checked")].map((i) => i.value) };
}

// The parts of a co-handled case: who assists, its state and clocks, its feedback; the whistles.
function partsBox(c) {
  const parts = c.parts || [];
  if (!parts.length && !(c.whistles || []).length) return null;
  return h("div", { class: "card parts", "data-testid": "parts" },
    h("h3", {}, "主办 / 协办"),
    h("div", { class: "muted small" }, `主办单位：${c.assigned_unit_name || unitName(c.resolved_unit) || "—"}`),
    (c.whistles || []).map((w) => h("div", { class: "small", "data-testid": "whistle" },
      h("span", { class: "badge amber" }, "吹哨"), ` ${w.unit_name} ${fmtTime(w.at)} 点名 ${w.department_names.join("、")} 于 ${fmtTime(w.due)} 前报到：${w.reason}`)),
    h("table", {}, h("thead", {}, h("tr", {}, ["协办单位", "状态", "签收/报到时限", "办理时限", "反馈"].map((t) => h("th", {}, t)))),
      h("tbody", {}, parts.map((p) => h("tr", { "data-testid": "part", "data-unit": p.unit, "data-state": p.state },
        h("td", {}, p.unit_name, p.whistle ? h("span", { class: "badge" }, "吹哨") : null),
        h("td", {}, h("span", { class: "badge " + ({ reported: "green", closed: "green", returned: "red", claimed: "blue" }[p.state] || "amber") }, p.state_name),
          p.escalations ? h("span", { class: "badge red" }, "已督办") : null),
        h("td", {}, fmtTime(p.claim_deadline), (p.state === "claimed" || p.state === "reported") ? ` · 已${p.whistle ? "报到" : "签收"}` : ""),
        h("td", {}, fmtTime(p.handle_deadline)),
        h("td", { class: "text" }, p.feedback || (p.note ? `（${p.note}）` : "—")))))));
}

function coopEventText(e) {
  const d = e.data || {};
  switch (e.type) {
    case "AssistAdded": return `协办：${unitName(d.unit)}` + (d.whistle ? "（吹哨）" : "");
    case "Whistled": return `点名 ${(d.departments || []).map(unitName).join("、")}，${fmtTime(d.due)} 前报到：${d.reason || ""}`;
    case "PartClaimed": return d.on_time === false ? "（超时）" : "";
    case "PartReported": return (d.feedback || "") + (d.on_time === false ? "（逾期反馈）" : "");
    case "PartReturned": return "理由：" + (d.reason || "");
    case "PartClosed": return `${unitName(d.unit)}：${d.note || ""}`;
    case "PartEscalated": return "超过" + label("deadline_kinds", d.kind);
    default: return "";
  }
}

function coopActionForm(action, c, { run, path, act, box }) {
  const me = state.meta.me || {};
  const mine = (c.parts || []).find((p) => p.unit === me.unit && (p.state === "assigned" || p.state === "claimed"));
  switch (action) {
    case "assist": {
      const taken = new Set([c.assigned_unit, ...(c.parts || []).filter((p) => p.state === "assigned" || p.state === "claimed").map((p) => p.unit)]);
      const pick = unitChecks("add-assist", (u) => !taken.has(u.id));
      const note = h("input", { placeholder: "派单说明（可选）", size: 30 });
      const f = box(act("add_assist"), h("details", {}, h("summary", {}, "选择协办单位"), pick.el),
        h("div", { class: "row" }, note, h("button", { type: "submit", "data-testid": "do-assist" }, act("add_assist"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("assist"), { units: pick.values(), note: note.value })));
      return f;
    }
    case "parts/close": {
      const sel = h("select", { "data-testid": "close-part" });
      for (const p of c.parts || []) if (p.state !== "reported" && p.state !== "closed") sel.appendChild(h("option", { value: p.number }, `${p.unit_name}（${p.state_name}）`));
      const note = h("input", { required: true, placeholder: "关闭意见（必填）", size: 26, "data-testid": "close-part-note" });
      const f = box(act("close_part"), h("div", { class: "row" }, sel, note, h("button", { type: "submit", "data-testid": "do-close-part" }, act("close_part"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path(`parts/${sel.value}/close`), { note: note.value })));
      return f;
    }
    case "whistle": {
      const taken = new Set([c.assigned_unit, ...(c.parts || []).filter((p) => p.state === "assigned" || p.state === "claimed").map((p) => p.unit)]);
      const pick = unitChecks("whistle", (u) => !taken.has(u.id) && u.kind !== "community" && u.kind !== "street");
      const reason = h("input", { required: true, placeholder: "吹哨事由（必填）", size: 36, "data-testid": "whistle-reason" });
      const f = box(`${act("whistle")}（街乡吹哨、部门报到）`, h("div", { class: "muted small" }, "点名部门限时报到，逾期由系统督办"), pick.el,
        h("div", { class: "row" }, reason, h("button", { type: "submit", class: "primary", "data-testid": "do-whistle" }, "吹哨")));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("whistle"), { departments: pick.values(), reason: reason.value })));
      return f;
    }
    case "part/claim": {
      const word = mine && mine.whistle ? "报到" : act("claim_part");
      const f = box(`${word}（${mine ? "时限 " + fmtTime(mine.claim_deadline) : ""}）`, h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "do-claim-part" }, word)));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("part/claim"))));
      return f;
    }
    case "part/report": {
      const t = h("textarea", { rows: 2, required: true, placeholder: "本单位办理情况（必填）", "data-testid": "part-feedback" });
      const f = box(act("report_part"), t, h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "do-report-part" }, act("report_part"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("part/report"), { feedback: t.value })));
      return f;
    }
    case "part/return": {
      const t = h("input", { required: true, placeholder: "退回理由（必填）", size: 30, "data-testid": "part-return-reason" });
      const f = box(act("return_part"), h("div", { class: "row" }, t, h("button", { type: "submit", "data-testid": "do-return-part" }, act("return_part"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("part/return"), { reason: t.value })));
      return f;
    }
    default:
      return null;
  }
}


// ---- 退单审核, 转办, 回访未接通, 未接通结案 (the centre) and what a unit reads of them ------------------

function reviewForm(action, c, run, path, box, act) {
  switch (action) {
    case "return/review": {
      const r = c.return_review || {};
      const sel = unitSelect(c.returned_by);
      sel.required = false;
      sel.setAttribute("data-testid", "review-unit");
      if (r.suggested_unit) sel.value = r.suggested_unit;
      const note = h("input", { placeholder: "审核意见（不同意时必填，退回原单位）", size: 34, "data-testid": "review-note" });
      const f = box(`${act("review_return")}（${r.unit_name || ""}：${r.reason || ""}）`,
        r.suggested_unit ? h("p", { class: "small" }, `退单单位建议转：${r.suggested_unit_name}`) : null,
        h("div", { class: "row" }, h("label", {}, "转派给 ", sel), note),
        h("div", { class: "row" },
          h("button", { type: "submit", class: "primary", value: "yes", "data-testid": "do-review-approve" }, "同意退单并转派"),
          h("button", { type: "submit", value: "no", "data-testid": "do-review-refuse" }, "不同意，退回原单位")));
      f.addEventListener("submit", (ev) => run(ev, () => {
        const approved = ev.submitter?.value === "yes";
        return post(path("return/review"), approved ? { approved, unit: sel.value || null, note: note.value } : { approved, note: note.value });
      }));
      return f;
    }
    case "transfer": {
      const sel = unitSelect([...(c.returned_by || []), c.assigned_unit]);
      sel.setAttribute("data-testid", "transfer-unit");
      const note = h("input", { required: true, placeholder: "转办说明（必填，新承办单位可见）", size: 30, "data-testid": "transfer-note" });
      const f = box(act("transfer"), h("div", { class: "row" }, sel, note, h("button", { type: "submit", "data-testid": "do-transfer" }, act("transfer"))));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("transfer"), { unit: sel.value, note: note.value })));
      return f;
    }
    case "callback/unanswered": {
      const note = h("input", { placeholder: "回访记录（如：无人接听）", size: 26 });
      const f = box(`${act("callback_unanswered")}（已 ${c.callbacks_unanswered || 0} 次，满 ${c.max_unanswered} 次可未接通结案）`,
        h("div", { class: "row" }, note, h("button", { type: "submit", "data-testid": "do-unanswered" }, "记一次未接通")));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("callback/unanswered"), { note: note.value })));
      return f;
    }
    case "close/unreachable": {
      const f = box(act("close_unreachable"), h("div", { class: "row" },
        h("button", { type: "submit", class: "danger", "data-testid": "do-close-unreachable" }, act("close_unreachable"))),
        h("p", { class: "muted small" }, "未接通结案单独统计，不计入解决率、满意率。"));
      f.addEventListener("submit", (ev) => run(ev, () => post(path("close/unreachable"), { note: `回访 ${c.callbacks_unanswered} 次均未接通` })));
      return f;
    }
    default:
      return null;
  }
}

// 协办待反馈 (unit): its open parts, the oldest first.
function assistsScreen(view) {
  const me = state.meta.me;
  listScreen(view, `协办待反馈 · ${me.unit_name}`, async () => rowsOf(await get(`/api/units/${encodeURIComponent(me.unit)}/assists`)), [
    { label: "协办时限", render: (r) => h("span", {}, fmtTime(r.part.next_deadline), r.part.overdue ? h("span", { class: "badge red" }, label("unit_queues", "overdue")) : "") },
    COL.text,
    { label: "协办状态", render: (r) => h("span", { class: "badge" }, r.part.whistle ? (r.part.state === "assigned" ? "待报到" : "已报到") : r.part.state_name) },
    { label: "主办单位", render: (r) => r.unit_name || unitName(r.unit) },
  ], "assists-table", 60);
}

// 协办与吹哨 (centre, leader): docs/rates.md — each part's own figures, whistles and report-ins.
async function coopScreen(view) {
  const card = h("div", { class: "card", "data-testid": "coop-figures" }, h("h2", {}, "协办与吹哨统计"), "正在加载…");
  view.appendChild(card);
  let f;
  try { f = await get("/api/stats/coop"); } catch (e) { clear(card).appendChild(h("div", { class: "error" }, e.message)); return; }
  const t = (cols, rows, testid) => rows.length
    ? h("div", { class: "table-wrap" }, h("table", { "data-testid": testid }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c[0])))),
      h("tbody", {}, rows.map((r) => h("tr", {}, cols.map((c) => h("td", {}, c[1](r))))))))
    : h("div", { class: "empty" }, "暂无");
  const T = f.total;
  clear(card).append(
    h("h2", {}, "协办与吹哨统计"),
    h("div", { class: "muted small" }, "全区每件工单只计一次（主办单位的七率含协办件）；协办单位的协办任务另计响应与按时反馈。"),
    h("div", { class: "row" }, h("span", {}, `协办任务 ${T.parts} 项`), h("span", {}, `吹哨 ${T.whistles} 次`), h("span", {}, `点名部门 ${T.called} 个次`),
      h("span", {}, `报到率 ${fmtRate(T.report.report_rate.value)}`)),
    h("h3", {}, "吹哨（街道、社区）"),
    t([["单位", (r) => r.name], ["吹哨次数", (r) => String(r.whistles)], ["点名部门", (r) => String(r.called)]], f.whistles, "coop-whistles"),
    h("h3", {}, "部门报到"),
    t([["部门", (r) => r.name], ["被吹哨", (r) => String(r.whistled)], ["已报到", (r) => String(r.reported_in)], ["按时报到", (r) => String(r.reported_in_on_time)],
      ["报到率", (r) => fmtRate(r.report_rate.value)], ["平均报到用时（分钟）", (r) => r.mean_minutes_to_report === null ? "—" : String(r.mean_minutes_to_report)]], f.reports, "coop-reports"),
    h("h3", {}, "协办单位"),
    t([["单位", (r) => r.name], ["协办任务", (r) => String(r.parts)], ["协办响应率", (r) => fmtRate(r.response_rate.value)], ["已反馈", (r) => String(r.reported)],
      ["按时反馈率", (r) => fmtRate(r.on_time_rate.value)], ["退回", (r) => String(r.returned)], ["中心关闭", (r) => String(r.closed)], ["未完成", (r) => String(r.outstanding)]], f.parts, "coop-parts"));
}

// The return waiting for the centre, or the centre's refusal of the last one (the unit sees it).
function returnBox(c) {
  const r = c.return_review;
  if (r) {
    return h("div", { class: "card", "data-testid": "return-state" },
      h("div", {}, `${r.unit_name || unitName(r.unit)} 退单：${r.reason}`),
      r.suggested_unit ? h("div", {}, `建议转：${r.suggested_unit_name || unitName(r.suggested_unit)}`) : null,
      h("div", { class: "muted small" }, `${fmtTime(r.at)} 退单，待中心审核`));
  }
  if (c.return_refusal && c.assigned_unit) {
    return h("div", { class: "card instructions", "data-testid": "return-refusal" },
      h("strong", {}, "中心不同意退单："), c.return_refusal);
  }
  return null;
}

// What the centre wrote to the unit: dispatch and transfer notes, 催办, its decisions.
function notesBox(c) {
  const notes = c.centre_notes || [];
  if (!notes.length) return null;
  return h("div", { class: "card", "data-testid": "centre-notes" }, h("h3", {}, "中心意见"),
    h("ul", {}, notes.slice().reverse().map((n) => h("li", { "data-testid": "centre-note" },
      h("span", { class: "muted small" }, `${fmtTime(n.at)} ${n.kind_name}${n.unit_name ? " · " + n.unit_name : ""}：`), n.text))));
}

// 回访: what the resident said (the unit reads it too).
function callbacksBox(c) {
  const calls = c.callbacks || [];
  if (!calls.length) return null;
  return h("div", { "data-testid": "callbacks" }, h("h3", {}, "回访记录"),
    h("ul", {}, calls.map((x) => h("li", { "data-testid": "callback" },
      `${fmtTime(x.at)} ${x.solved ? "已解决" : "未解决"}，${x.rating ? label("ratings", x.rating) : "未评价"}`,
      x.comment ? `：群众意见「${x.comment}」` : ""))));
}

function reviewEventText(e) {
  const d = e.data || {};
  if (e.type === "Returned" && d.suggested_unit) return [`建议转 ${unitName(d.suggested_unit)}`];
  if (e.type === "ReturnReviewed") return [d.approved ? `同意，转派 ${unitName(d.to_unit)}` : `不同意，退回原单位`, d.note ? `意见：${d.note}` : ""];
  if (e.type === "Transferred") return [`转 ${unitName(d.to_unit)}`, d.note || ""];
  if (e.type === "CallbackUnanswered") return [`第 ${d.attempt} 次未接通`];
  if (e.type === "ClosedUnreachable") return [`回访 ${d.attempts} 次均未接通`];
  if (e.type === "Urged" || e.type === "HoldDecided" || e.type === "ExtensionDecided") return [];
  return [];
}

// ---- case tables (shared) ---------------------------------------------------------------------

function caseTable(rows, columns, onPick, testid) {
  if (!rows.length) return h("div", { class: "empty", "data-testid": testid }, "暂无工单");
  const head = h("tr", {}, columns.map((col) => h("th", { class: col.num ? "num" : "" }, col.label)));
  const body = h("tbody", {});
  for (const r of rows) {
    const id = r.case_id || r.id;
    const tr = h("tr", { class: isOverdue(r) ? "overdue" : "", "data-case-id": id },
      columns.map((col) => h("td", { class: (col.num ? "num " : "") + (col.text ? "text" : "") }, col.render(r))));
    tr.addEventListener("click", () => {
      body.querySelectorAll("tr.selected").forEach((x) => x.classList.remove("selected"));
      tr.classList.add("selected");
      onPick(id);
    });
    body.appendChild(tr);
  }
  return h("div", { class: "table-wrap" }, h("table", { "data-testid": testid }, h("thead", {}, head), body));
}

const COL = {
  received: { label: "受理时间", render: (r) => fmtTime(r.received_at) },
  text: { label: "诉求内容", text: true, render: (r) => (r.snippet || r.content || "").slice(0, 80) },
  status: { label: "状态", render: (r) => statusBadge(r.status, r.status_name) },
  category: { label: "分类", render: (r) => r.category_name || categoryName(r.category) },
  unit: { label: "承办单位", render: (r) => r.unit_name || unitName(r.unit || r.resolved_unit) },
  handle: { get label() { return label("deadline_kinds", "handle"); }, render: (r) => h("span", {}, fmtTime(r.handle_deadline), isOverdue(r) ? h("span", { class: "badge red" }, overdueText(r)) : "") },
  claim: { get label() { return label("deadline_kinds", "claim"); }, render: (r) => fmtTime(r.claim_deadline) },
  next: {
    label: "下一时限",
    render: (r) => {
      // Which clock runs next (签收 until claimed, then 办理) is the server's to say.
      const kind = r.next_deadline_kind;
      return h("span", {}, kind ? h("span", { class: "muted small" }, label("deadline_kinds", kind) + " ") : null, fmtTime(r.next_deadline),
        isOverdue(r) ? h("span", { class: "badge red" }, overdueText(r)) : "");
    },
  },
  address: { label: "地址", render: (r) => r.address || "—" },
  channel: { label: "渠道", render: (r) => label("channels", r.channel) },
  reason: { label: "原因", render: (r) => r.manual_reason || "—" },
};

// ---- 受理台 (operator) ------------------------------------------------------------------------

function newOrderNo() {
  const d = new Date();
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `WEB${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}${p(Math.floor(Math.random() * 10000), 4)}`;
}

function intakeScreen(view) {
  let orderNo = newOrderNo();
  const f = {
    phone: h("input", { name: "caller_phone", "data-testid": "caller_phone", placeholder: "来电号码" }),
    name: h("input", { name: "caller_name", "data-testid": "caller_name", placeholder: "来电人" }),
    address: h("input", { name: "address", "data-testid": "address", placeholder: "例如：海城区茶亭路32号" }),
    content: h("textarea", { name: "content", rows: 6, required: true, maxlength: 4000, "data-testid": "content", placeholder: "记录来电人反映的问题" }),
    appeal: h("select", { name: "appeal_type" }, h("option", { value: "" }, "（未选择）"), terms("appeal_types").map((t) => h("option", { value: t.code }, t.label))),
    urgent: h("input", { type: "checkbox", name: "urgent" }),
    confidential: h("input", { type: "checkbox", name: "confidential", "data-testid": "intake-confidential" }),
    keepSeparate: h("input", { type: "checkbox", name: "keep_separate", "data-testid": "intake-keep-separate" }),
    category: h("select", { name: "category", "data-testid": "category" }, h("option", { value: "" }, "由系统智能分类")),
  };
  for (const c of state.meta.categories) f.category.appendChild(h("option", { value: c.code }, c.name));
  const files = window.sanshiIntakeFiles ? window.sanshiIntakeFiles() : null;  // places.js: 受理附件
  const counter = h("span", { class: "muted small" }, "0 / 4000");
  // 不合并: offered when the router proposes to merge the case into an open one.
  const keepBox = h("label", { class: "check full", hidden: true, "data-testid": "keep-separate-box" }, f.keepSeparate, "不合并，单独立案（智能分拨提示将自动合并）");
  const suggestBox = h("div", { class: "card suggest", "data-testid": "suggestion" }, h("h2", {}, "智能分拨建议"), h("p", { class: "muted" }, "输入诉求内容后，这里显示建议的分类、承办单位和疑似重复工单。"));
  const result = h("div", { "data-testid": "intake-result" });
  // 来电弹屏 below the form, not between its fields: the history arrives a moment after the
  // number is typed, and a box that opened above the checkboxes moved them under the
  // operator's click (a tick meant for 保密件 landed on another control).
  const history = callerHistoryBox(f.phone);
  const form = h("form", { class: "card", "data-testid": "intake-form" },
    h("div", { class: "row" }, h("h2", {}, "来电受理"), h("span", { class: "muted small right" }, "来电流水号 ", h("span", { "data-testid": "order-no" }, orderNo))),
    h("div", { class: "form-grid" },
      h("label", {}, "来电号码", f.phone),
      h("label", {}, "来电人", f.name),
      h("label", { class: "full" }, "诉求地址", f.address),
      h("label", { class: "full" }, h("span", { class: "row" }, "诉求内容", counter), f.content),
      h("label", {}, "诉求类型", f.appeal),
      h("label", {}, "分类预判", f.category),
      h("label", { class: "check" }, f.urgent, "紧急（揪心事，30分钟内签收）"),
      h("label", { class: "check" }, f.confidential, "保密件（来电人要求保密：承办单位看不到姓名和电话，由中心转达）"),
      keepBox,
      files ? files.el : null,
    ),
    h("div", { class: "row", style: null }, h("button", { type: "submit", class: "primary", "data-testid": "submit-case" }, "提交受理"), h("button", { type: "reset" }, "清空")));

  let timer = null;
  let seq = 0;
  const suggest = () => {
    clearTimeout(timer);
    counter.textContent = `${f.content.value.length} / 4000`;
    timer = setTimeout(async () => {
      const text = f.content.value.trim();
      if (!text) return;
      const mine = ++seq;
      try {
        const sg = await get("/api/routing/suggest" + qs({ text, address: f.address.value, category: f.category.value, urgent: f.urgent.checked ? "true" : "" }));
        if (mine === seq) {
          renderSuggestion(suggestBox, sg);
          keepBox.hidden = !(sg.duplicates || []).some((d) => d.would_merge);
        }
      } catch (e) {
        if (mine === seq) toast(e.message, true);
      }
    }, 300);
  };
  for (const el of [f.content, f.address, f.category, f.urgent]) el.addEventListener("input", suggest);
  f.category.addEventListener("change", suggest);
  form.addEventListener("reset", () => { setTimeout(() => { counter.textContent = "0 / 4000"; keepBox.hidden = true; }, 0); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true;
    try {
      const c = await post("/api/cases", {
        order_no: orderNo,
        received_at: new Date().toISOString(),
        caller_phone: f.phone.value,
        caller_name: f.name.value,
        address: f.address.value,
        content: f.content.value,
        appeal_type: f.appeal.value,
        urgency: f.urgent.checked ? "紧急" : "一般",
        category: f.category.value,
        confidential: f.confidential.checked,
        keep_separate: !keepBox.hidden && f.keepSeparate.checked,
      });
      // Kafka mode answers 202 once the record is safe in the queue (受理); the worker routes it
      // a moment later. The toast says so at once, the case is shown when it is there.
      const routed = c.status === "queued" && c.id ? await waitForRouting(c.id) : c;
      if (files && c.id && routed) await files.upload(c.id);
      toast(c.duplicate ? "该工单已受理过（重复提交）" : intakeText(routed || c));
      orderNo = newOrderNo();
      form.querySelector("[data-testid=order-no]").textContent = orderNo;
      form.reset();
      seq++;  // a suggestion still on its way belongs to the case just submitted
      clearSuggestion(suggestBox);
      f.content.focus();
      if (routed) await showCase(result, c.id);
      else clear(result);
    } catch (e) {
      toast(e.message, true);
    } finally {
      btn.disabled = false;
    }
  });
  // Ctrl+Enter (⌘+Enter) submits from any field of the form.
  form.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
  });
  const side = h("div", { class: "stack" }, suggestBox);
  // 知识库: the best entries beside the router's suggestion as the operator types (knowledge.js).
  if (typeof knowledgeBeside === "function") knowledgeBeside(side, f.content, form);
  view.appendChild(h("div", { class: "grid2" }, h("div", { class: "stack" }, form, history, result), side));
  f.phone.focus();
}

function clearSuggestion(box) {
  clear(box);
  box.appendChild(h("h2", {}, "智能分拨建议"));
  box.appendChild(h("p", { class: "muted" }, "输入诉求内容后，这里显示建议的分类、承办单位和疑似重复工单。"));
}

// What the toast says after an intake: where the case went, not its status twice.
// The case a queued record became, once the worker has routed it (null after ~15 s: the toast
// then says it is queued, and the case is found later in 工单查询).
async function waitForRouting(caseId) {
  for (let i = 0; i < 30; i++) {
    try {
      return await get(`/api/cases/${caseId}`);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return null;
}

function intakeText(c) {
  const unit = c.assigned_unit_name;
  const took = `受理成功${c.order_no ? "，工单编号 " + c.order_no : ""}`;
  if (c.status === "queued") return `${took}，正在分拨派单，稍后可在工单查询中查看`;
  if (c.status === "dispatched" && unit) return `${took}，已派单至 ${unit}`;
  if (c.status === "merged") return `${took}，已并入在办原件`;
  if (c.status === "received") return `${took}，待派单` + (c.manual_reason ? `（${c.manual_reason}）` : "");
  return `${took}（${c.status_name}）`;
}

// What the toast says after an action on a case: the action and its outcome.
function doneText(action, c, title, choice) {
  const unit = c && c.assigned_unit_name;
  switch (action) {
    case "dispatch": return unit ? `已派单至 ${unit}` : "已" + label("actions", "dispatch");
    case "return": return unit ? `已退单，已转派 ${unit}` : "已退单，退回中心待派单";
    case "reclassify": return `已改分类为 ${c.category_name || ""}`;
    case "extension/decide": case "hold/decide":
      return choice === "no" ? "已驳回申请" : `已批准${action === "hold/decide" ? "挂起" : "延期"}`;
    default: return title ? `已${title.replace(/[（(].*$/, "")}` : "已保存";
  }
}

function renderSuggestion(box, sg) {
  clear(box);
  box.appendChild(h("h2", {}, "智能分拨建议"));
  box.appendChild(h("dl", {},
    h("dt", {}, "建议分类"), h("dd", { "data-testid": "suggest-category" }, sg.category_name || "—", h("span", { class: "muted small" }, `  置信度 ${Math.round((sg.confidence || 0) * 100)}%`)),
    h("dt", {}, "建议承办"), h("dd", { "data-testid": "suggest-unit" }, sg.unit_name || "中心人工派单"),
    h("dt", {}, "属地"), h("dd", {}, sg.locality_name || "未识别"),
    h("dt", {}, "紧急程度"), h("dd", {}, sg.urgent ? h("span", { class: "badge red" }, "紧急") : "一般"),
    sg.manual_reason ? [h("dt", {}, "说明"), h("dd", {}, sg.manual_reason)] : null));
  box.appendChild(h("h3", {}, `疑似重复工单（${sg.duplicates.length}）`));
  if (!sg.duplicates.length) box.appendChild(h("p", { class: "muted", "data-testid": "no-duplicates" }, "未发现相似的在办工单"));
  for (const d of sg.duplicates) {
    box.appendChild(h("div", { class: "dupe", "data-testid": "duplicate" },
      h("div", { class: "row" }, h("span", { class: "badge amber" }, `相似度 ${Math.round(d.similarity * 100)}%`), statusBadge(d.status, d.status_name),
        d.would_merge ? h("span", { class: "badge red" }, "提交后将自动合并") : null, h("span", { class: "muted small right" }, fmtTime(d.received_at))),
      h("div", { class: "text" }, d.content),
      h("div", { class: "muted small" }, `${d.address || ""} ${d.unit_name ? "· " + d.unit_name : ""}`)));
  }
}

// ---- 待派单 and 回访 (operator) ----------------------------------------------------------------

function hint(text) { return h("div", { class: "card empty" }, text); }

async function listScreen(view, title, load, columns, testid, refreshSeconds) {
  const detail = h("div", {}, hint("点击左侧工单，查看详情并办理"));
  const listCard = h("div", { class: "card" }, h("h2", {}, title), h("div", { class: "empty" }, "正在加载…"));
  view.appendChild(h("div", { class: "grid2" }, listCard, detail));
  let selected = null;
  const newest = newestOnly();
  const reload = async () => {
    let rows;
    try { rows = await newest(load()); } catch (e) { if (e !== STALE) clear(listCard).appendChild(h("div", { class: "error" }, e.message)); return; }
    clear(listCard);
    listCard.appendChild(h("div", { class: "row" }, h("h2", {}, title), h("span", { class: "muted right" }, `${rows.length} 件`)));
    listCard.appendChild(caseTable(rows, columns, (id) => { selected = id; showCase(detail, id, () => reload()); }, testid));
    if (selected) listCard.querySelector(`tr[data-case-id="${CSS.escape(selected)}"]`)?.classList.add("selected");
  };
  await reload();
  if (refreshSeconds) {
    // New dispatches appear without a reload; the open detail (and any half-typed form) stays.
    const timer = setInterval(() => {
      if (!document.body.contains(listCard)) { clearInterval(timer); return; }
      reload();
    }, refreshSeconds * 1000);
  }
}

function queueScreen(view) {
  pagedScreen(view, "待派单（中心人工队列）", "/api/queue/manual",
    [COL.received, COL.text, COL.status, COL.reason], "queue-table");
}

// A work queue the server counts and pages (oldest first): 待派单, 待审退单, 待审延期, 待审挂起, 待回访.
function pagedScreen(view, title, url, columns, testid, below, byUnit) {
  const size = 50;
  let offset = 0;
  // byUnit: the queue can be narrowed to one unit (?unit=), the filter kept across pages.
  let unitFilter = null;
  if (byUnit) {
    unitFilter = h("select", { "data-testid": `${testid}-unit` }, h("option", { value: "" }, "全部单位"),
      state.meta.units.filter((u) => u.kind !== "centre").map((u) => h("option", { value: u.id }, u.name)));
    unitFilter.addEventListener("change", () => { offset = 0; draw(); });
  }
  const pager = h("div", { class: "row", "data-testid": `${testid}-pager` });
  const box = h("div", {});
  view.appendChild(h("div", { class: "card" }, pager));
  view.appendChild(box);
  if (below) view.appendChild(below);
  // Each page or filter draws a new list, but all of them the one pager: only the newest may.
  const newest = newestOnly();
  const draw = () => {
    clear(box);
    listScreen(box, title, async () => {
      const page = await newest(get(url + qs({ limit: size, offset, unit: unitFilter ? unitFilter.value : "" })));
      append(clear(pager), [
        unitFilter ? h("label", {}, "单位 ", unitFilter) : null,
        h("span", { "data-testid": `${testid}-total` }, `共 ${page.total} 件`),
        page.total ? h("span", { class: "muted" }, `第 ${offset + 1}–${offset + page.rows.length} 件`) : null,
        page.closable ? h("span", { class: "badge amber" }, `可未接通结案 ${page.closable} 件`) : null,
        h("button", { type: "button", disabled: offset === 0, on: { click: () => { offset = Math.max(0, offset - size); draw(); } } }, "上一页"),
        h("button", { type: "button", disabled: offset + size >= page.total, on: { click: () => { offset += size; draw(); } } }, "下一页")]);
      return page.rows;
    }, columns, testid, 60);
  };
  draw();
}

function returnsScreen(view) {
  const pairs = h("div", { class: "card", "data-testid": "return-pairs" }, "正在加载…");
  pagedScreen(view, "待审退单（退单时间早者在前）", "/api/queue/returns", [
    { label: "退单时间", render: (r) => fmtTime(r.return_pending_at) },
    COL.text,
    { label: "退单单位", render: (r) => r.return_from_name || unitName(r.return_from) },
    { label: "建议转", render: (r) => r.return_suggested_name || "—" },
    { label: "退单理由", text: true, render: (r) => r.return_reason || "—" },
  ], "returns-table", pairs, true);
  get("/api/stats/returns").then((data) => {
    clear(pairs).append(h("h2", {}, "退单争议（按退单单位与建议单位）"));
    if (!data.rows.length) { pairs.appendChild(h("div", { class: "empty" }, "暂无退单")); return; }
    const head = h("tr", {}, ["退单单位", "建议单位", "退单", "同意", "转建议单位", "不同意", "待审", "反向退单"].map((t) => h("th", {}, t)));
    const body = h("tbody", {}, data.rows.map((r) => h("tr", {},
      h("td", {}, r.unit_name), h("td", {}, r.suggested_unit_name || "（未建议）"),
      [r.returns, r.approved, r.approved_to_suggested, r.refused, r.pending, r.reverse].map((n) => h("td", { class: "num" }, String(n))))));
    pairs.appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "return-pairs-table" }, h("thead", {}, head), body)));
  }).catch((e) => { clear(pairs).appendChild(h("div", { class: "error" }, e.message)); });
}

function holdsScreen(view) {
  pagedScreen(view, "待审挂起（承办单位申请）", "/api/queue/holds",
    [COL.received, COL.text, COL.unit, COL.status], "holds-table", null, true);
}

// ---- 批示跟踪 (leader) --------------------------------------------------------------------------

function instructionsScreen(view) {
  const counts = h("div", { class: "card", "data-testid": "instruction-counts" }, "正在加载…");
  view.appendChild(counts);
  const box = h("div", {});
  view.appendChild(box);
  const columns = [
    { label: "批示状态", render: (r) => r.instruction_due
      ? h("span", { class: "badge " + (r.instruction_overdue ? "red" : "amber") }, r.instruction_overdue ? "逾期未回复" : "待回复")
      : h("span", { class: "badge green" }, "已回复") },
    { label: "回复时限", render: (r) => r.instruction_due ? fmtTime(r.instruction_due) : "—" },
    { label: "批示/回复/按时", num: true, render: (r) => `${r.instructions}/${r.instructions_answered}/${r.instructions_on_time}` },
    COL.text, COL.unit, COL.status,
  ];
  // Counted and paged by the server (pagedScreen), the counts over every 批示件.
  pagedScreen(box, "批示件", "/api/queue/instructions", columns, "instructions-table");
  get("/api/queue/instructions" + qs({ limit: 1 })).then((data) => {
    const k = data.counts;
    clear(counts).append(
      h("h2", {}, "批示跟踪"),
      h("div", { class: "row" },
        h("span", {}, `批示件 ${k.cases} 件`), h("span", {}, `批示 ${k.instructions} 条`),
        h("span", {}, `已回复 ${k.answered}`), h("span", {}, `按时回复 ${k.answered_on_time}`),
        h("span", {}, `待回复 ${k.pending}`), h("span", { class: k.pending_overdue ? "badge red" : "" }, `逾期未回复 ${k.pending_overdue}`)));
  }).catch((e) => { clear(counts).appendChild(h("div", { class: "error" }, e.message)); });
}

function followupScreen(view) {
  pagedScreen(view, "待回访（已办结、直办、合并件；等待最久者在前）", "/api/queue/followup", [
    { label: "待回访自", render: (r) => fmtTime(r.callback_since) },
    COL.text,
    { label: "承办单位", render: (r) => r.resolved_unit_name || unitName(r.resp_unit) },
    COL.status,
    { label: "未接通", num: true, render: (r) => r.callbacks_unanswered ? h("span", { class: "badge " + (r.callback_closable ? "red" : "amber") }, `${r.callbacks_unanswered} 次`) : "—" },
  ], "followup-table", null, true);
}

function searchScreen(view) {
  const status = h("select", {}, h("option", { value: "" }, "全部状态"));
  for (const t of terms("statuses")) status.appendChild(h("option", { value: t.code }, t.label));
  const category = h("select", {}, h("option", { value: "" }, "全部分类"), state.meta.categories.map((c) => h("option", { value: c.code }, c.name)));
  const idBox = h("input", { placeholder: "工单编号（如 HC20261201000001）", size: 30, "data-testid": "open-id" });
  const q = h("input", { placeholder: "诉求内容关键词", size: 18, "data-testid": "search-q" });
  const listCard = h("div", { class: "card" });
  const detail = h("div", {}, hint("点击左侧工单查看详情"));
  const bar = h("form", { class: "card filters" }, h("label", {}, "关键词", q), h("label", {}, "状态", status), h("label", {}, "分类", category),
    h("button", { type: "submit", class: "primary" }, "查询"), h("span", { class: "right row" }, idBox, h("button", { type: "button", on: { click: () => idBox.value.trim() && showCase(detail, idBox.value.trim()) } }, "打开")));
  // One newest for the list, shared with 查找 (findBar), which draws in the same card.
  listCard.newest = listCard.newest || newestOnly();
  const load = async () => {
    clear(listCard).appendChild(h("div", { class: "empty" }, "正在加载…"));
    try {
      const rows = rowsOf(await listCard.newest(get("/api/cases" + qs({ q: q.value.trim(), status: status.value, category: category.value, limit: 200 }))));
      clear(listCard).appendChild(caseTable(rows, [COL.received, COL.text, COL.status, COL.category, COL.unit], (id) => showCase(detail, id, load), "search-table"));
    } catch (e) {
      if (e !== STALE) clear(listCard).appendChild(h("div", { class: "error" }, e.message));
    }
  };
  bar.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  view.appendChild(h("div", { class: "stack" }, findBar(listCard, detail), bar, h("div", { class: "grid2" }, listCard, detail)));
  load();
}

// ---- 工单箱 (unit) -----------------------------------------------------------------------------

function inboxScreen(view) {
  const me = state.meta.me;
  // Above the list, the unit's work queues with their counts (unitQueueBar); picking one shows
  // that queue, counted and paged by the server; 全部 is the whole inbox.
  unitQueueBar(view, (box) => listScreen(box, `工单箱 · ${me.unit_name}`, async () => {
    // The server orders by the next deadline (签收 before claiming, 办理 after).
    return rowsOf(await get(`/api/units/${encodeURIComponent(me.unit)}/inbox`));
  }, [COL.next, COL.text, COL.status, COL.category], "inbox-table", 60));
}

// ---- 领导驾驶舱 (leader) -----------------------------------------------------------------------

function dashboardScreen(view) {
  const today = new Date();
  const from = h("input", { type: "date", "data-testid": "from", value: dateStr(new Date(today.getFullYear() - 1, today.getMonth() + 1, 1)) });
  const to = h("input", { type: "date", "data-testid": "to", value: dateStr(new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1)) });
  const street = h("select", { "data-testid": "filter-street" }, h("option", { value: "" }, "全部街道"), state.meta.units.filter((u) => u.kind === "street").map((u) => h("option", { value: u.id }, u.name)));
  const community = h("select", { "data-testid": "filter-community" }, h("option", { value: "" }, "全部社区"), state.meta.units.filter((u) => u.kind === "community").map((u) => h("option", { value: u.id }, u.name)));
  const category = h("select", { "data-testid": "filter-category" }, h("option", { value: "" }, "全部分类"), state.meta.categories.map((c) => h("option", { value: c.code }, c.name)));
  const channel = h("select", { "data-testid": "filter-channel" }, h("option", { value: "" }, "全部渠道"), terms("channels").map((t) => h("option", { value: t.code }, t.label)));
  const appealType = h("select", { "data-testid": "filter-appeal_type" }, h("option", { value: "" }, "全部类型"), terms("appeal_types").map((t) => h("option", { value: t.code }, t.label)));
  const caseList = h("select", { "data-testid": "filter-case_list" }, h("option", { value: "" }, "全部清单"), terms("case_lists").map((t) => h("option", { value: t.code }, t.label)));
  const params = () => ({ from: from.value, to: to.value, street: street.value, community: community.value, category: category.value, channel: channel.value, appeal_type: appealType.value, case_list: caseList.value });
  const bar = h("form", { class: "card filters" },
    h("label", {}, "起始日期", from), h("label", {}, "截止日期（不含）", to), h("label", {}, "街道", street), h("label", {}, "社区", community),
    h("label", {}, "分类", category), h("label", {}, "渠道", channel), h("label", {}, label("stats_dimensions", "appeal_type"), appealType),
    h("label", {}, label("stats_dimensions", "case_list"), caseList),
    h("button", { type: "submit", class: "primary", "data-testid": "refresh-dashboard" }, "查询"));
  const rates = h("div", { class: "rates", "data-testid": "rates" });
  const kpis = h("div", { class: "kpis card", "data-testid": "kpis" });
  // tables.js: 对比表 (with its export), 趋势, 超期工单.
  const table = comparisonCard(params);
  const trend = trendCard();
  const ranking = h("div", { class: "card" }, h("h2", {}, "承办单位排名"));
  const overdue = overdueCard(params);
  const censures = censureCard();
  // shelf.js: 社会力量与微服务, the helpers' figures apart from government units'.
  const helpers = typeof helpersCard === "function" ? helpersCard() : null;
  view.appendChild(h("div", { class: "stack" }, bar, kpis, rates, table.card, h("div", { class: "dash" }, trend.card, ranking), censures, helpers && helpers.card, overdue.card));

  const newest = newestOnly();
  const load = async () => {
    const p = params();
    table.load(p);
    trend.load(p);
    overdue.load(p);
    if (helpers) helpers.load(p);
    try {
      const [total, rank] = await newest(Promise.all([
        get("/api/stats" + qs(p)),
        get("/api/ranking" + qs({ from: p.from, to: p.to })),
      ]));
      renderRates(rates, kpis, total.total || total);
      renderRanking(ranking, rank, false, !!(p.street || p.category || p.channel));
      // Tells a watcher (and the browser test) that a fresh set of numbers is on screen.
      rates.dataset.generation = String(Number(rates.dataset.generation || 0) + 1);
    } catch (e) {
      if (e !== STALE) toast(e.message, true);
    }
  };
  bar.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  load();
}

function rateOf(row, field) {
  // Accept both {"handling_rate": 0.9, "handling_num": .., "handling_den": ..} and
  // {"handling_rate": {"value", "numerator", "denominator"}}.
  const v = row[field];
  if (v && typeof v === "object") return { value: v.value ?? v.rate ?? null, num: v.numerator, den: v.denominator };
  const base = field.replace(/_rate$/, "");
  return { value: v ?? null, num: row[`${base}_numerator`] ?? row[`${field}_numerator`], den: row[`${base}_denominator`] ?? row[`${field}_denominator`] };
}

function renderRates(rates, kpis, total) {
  clear(rates);
  for (const { code: field, label: name } of terms("rates")) {
    const r = rateOf(total || {}, field);
    const low = r.value !== null && (field === "return_rate" ? r.value > 0.2 : r.value < 0.8);
    // The rate's definition (口径) on hover: the vocabulary's text, as docs/rates.md.
    rates.appendChild(h("div", { class: "rate" + (low ? " low" : ""), "data-testid": `rate-${field}`, "data-value": r.value ?? "", title: rateDefinition(field) },
      h("div", { class: "label" }, name),
      h("div", { class: "value" }, fmtRate(r.value)),
      h("div", { class: "frac" }, r.num !== undefined && r.den !== undefined ? `${r.num} / ${r.den}` : "")));
  }
  clear(kpis);
  const n = (k) => (total && total[k] !== undefined ? total[k] : "—");
  kpis.appendChild(h("span", { "data-testid": "kpi-received" }, label("counts", "received"), h("strong", {}, String(n("received")))));
  for (const k of ["resolved", "followups", "dissatisfied", "accepted"]) {
    kpis.appendChild(h("span", {}, label("counts", k), h("strong", { "data-testid": `kpi-${k}` }, String(n(k)))));
  }
}

function niceMax(n) {
  // Four whole-number steps on the axis.
  if (n <= 4) return 4;
  const raw = n / 4;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const k of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    const step = k * p;
    if (step >= raw && Number.isInteger(step)) return step * 4;
  }
  return 40 * p;
}

// 承办单位排名 (GET /api/ranking): one table per kind of unit, picked by the buttons above it;
// the units below the district's minimum volume listed apart (样本不足) under the ranked ones;
// the rule in words under the table, as the server writes it from the district's weights.
function renderRanking(card, data, showAll, filtered) {
  clear(card);
  const groups = (data && data.groups) || [];
  const volume = label("counts", data?.volume || "dispatched") + "量";
  const picked = groups.find((g) => g.kind === card.dataset.kind)
    || groups.find((g) => g.rows.length)
    || groups.find((g) => g.unranked.some((r) => r[data.volume || "dispatched"] > 0))
    || groups[0];
  if (picked) card.dataset.kind = picked.kind;
  const redraw = (all) => renderRanking(card, data, all, filtered);
  const rows = picked ? picked.rows : [];
  const apart = picked ? picked.unranked : [];
  const toggle = rows.length > 10 || apart.length
    ? h("button", { type: "button", class: "link right", "data-testid": "ranking-toggle", on: { click: () => redraw(!showAll) } },
      showAll ? "只看前 10 名" : `显示全部 ${rows.length + apart.length} 个单位`)
    : null;
  card.appendChild(h("div", { class: "row" }, h("h2", {}, "承办单位排名"), filtered ? h("span", { class: "muted small" }, "全区口径，不受街道/分类/渠道筛选影响") : null, toggle));
  card.appendChild(h("div", { class: "row ranking-kinds", "data-testid": "ranking-kinds" }, groups.map((g) => h("button", {
    type: "button", class: g === picked ? "primary" : "", "data-testid": `ranking-kind-${g.kind}`,
    on: { click: () => { card.dataset.kind = g.kind; redraw(false); } },
  }, `${g.kind_name} `, h("span", { class: "badge" }, String(g.rows.length))))));
  if (!picked) { card.appendChild(h("div", { class: "empty" }, "所选期间没有数据")); return; }
  const cells = (r, place) => [
    h("td", { class: "num" }, place),
    h("td", {}, r.unit_name || r.name || unitName(r.unit || r.key)),
    h("td", { class: "num", title: (r.unscored || []).length ? `无数据、未计分：${r.unscored.map((f) => label("rates", f)).join("、")}` : null },
      r.score !== undefined && r.score !== null ? (Number(r.score) * 100).toFixed(1) : "—"),
    ...["handling_rate", "on_time_rate", "satisfaction_rate"].map((f) => h("td", { class: "num" }, fmtRate(rateOf(r, f).value))),
    h("td", { class: "num" }, String(r[data.volume || "dispatched"] ?? "—")),
  ];
  const ranked = h("tbody", {}, (showAll ? rows : rows.slice(0, 10)).map((r) =>
    h("tr", { "data-testid": "ranking-row", "data-unit": r.key, "data-rank": r.rank }, cells(r, String(r.rank)))));
  // 样本不足: all of them with 显示全部, else as many as fill the first ten lines.
  const room = showAll ? apart.length : Math.max(0, 10 - rows.length);
  const unranked = apart.length && room ? h("tbody", { class: "unranked", "data-testid": "ranking-unranked" },
    h("tr", {}, h("td", { colspan: 7, class: "muted small" }, `样本不足（${volume}不足 ${data.min_volume} 件，不参与排名）`)),
    apart.slice(0, room).map((r) => h("tr", { class: "muted", "data-testid": "ranking-unranked-row", "data-unit": r.key },
      cells(r, r.reason === "no_data" ? "无数据" : "样本不足")))) : null;
  if (!rows.length) card.appendChild(h("div", { class: "empty" }, `所选期间没有${picked.kind_name}达到 ${data.min_volume} 件`));
  card.appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "ranking-table", "data-kind": picked.kind },
    h("thead", {}, h("tr", {}, h("th", { class: "num" }, "名次"), h("th", {}, picked.kind_name), h("th", { class: "num" }, "综合得分"), ["handling_rate", "on_time_rate", "satisfaction_rate"].map((f) => h("th", { class: "num" }, label("rates", f))), h("th", { class: "num" }, volume))),
    ranked, unranked)));
  card.appendChild(h("p", { class: "muted small", "data-testid": "ranking-definition" }, data.definition || ""));
}

// ---- 查阅审计 (admin) --------------------------------------------------------------------------

async function auditScreen(view) {
  const card = h("div", { class: "card" }, h("h2", {}, "个人信息查阅记录"));
  view.appendChild(card);
  try {
    const rows = await get("/api/audit?limit=200");
    const body = h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, fmtTime(r.at)), h("td", {}, r.principal), h("td", {}, label("roles", r.role)), h("td", {}, r.case_id), h("td", {}, { events: "事件流", contact: label("actions", "reveal_contact"), open311: "Open311" }[r.what] || "工单"), h("td", {}, r.masked ? "脱敏" : "明文"))));
    card.appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "audit-table" }, h("thead", {}, h("tr", {}, ["时间", "查阅人", "角色", "工单", "内容", "方式"].map((x) => h("th", {}, x)))), body)));
  } catch (e) {
    card.appendChild(h("div", { class: "error" }, e.message));
  }
}

// ---- 隔离事件 (admin): events the views could not apply -----------------------------------------

async function quarantineScreen(view) {
  const card = h("div", { class: "card" }, h("h2", {}, "隔离事件"));
  view.appendChild(card);
  try {
    const data = await get("/api/admin/quarantine?limit=1000");
    card.appendChild(h("span", { class: "badge " + (data.total ? "red" : "green"), "data-testid": "quarantine-count" }, `${data.total} 个`));
    card.appendChild(h("p", { class: "muted small" }, "统计视图无法应用的事件已隔离，其余事件照常统计；事件日志仍保存原样。修复后运行 sanshi projections rebuild 重新应用。"));
    if (!data.rows.length) {
      card.appendChild(h("div", { class: "empty" }, "没有隔离事件"));
      return;
    }
    const body = h("tbody", {}, data.rows.map((r) => h("tr", {}, h("td", {}, String(r.position)), h("td", {}, r.case_id), h("td", {}, String(r.version)), h("td", {}, r.event_type), h("td", {}, r.error))));
    card.appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "quarantine-table" }, h("thead", {}, h("tr", {}, ["日志位置", "工单", "版本", "事件类型", "原因"].map((x) => h("th", {}, x)))), body)));
  } catch (e) {
    card.appendChild(h("div", { class: "error" }, e.message));
  }
}

// ---- merges under the centre's hand, 一表通, 通报/追责 ----------------------------------------------

// N 人反映: the original's merged callers; a merged caller's told result; the item's 一表通 form.
function mergeBox(c) {
  const rows = [];
  if ((c.merged_callers || []).length) {
    rows.push(h("h3", {}, `合并件（${c.reported_by} 人反映）`));
    rows.push(h("ul", { class: "merged", "data-testid": "merged-callers" }, c.merged_callers.map((m) => h("li", { "data-testid": "merged-caller" },
      h("a", { href: "#", on: { click: (ev) => { ev.preventDefault(); showCase(ev.target.closest(".detail").parentNode, m.id); } } }, m.caller_name || "（未留姓名）"),
      ` · ${label("channels", m.channel)} · ${fmtTime(m.received_at)} · `, statusBadge(m.status, m.status_name),
      m.callback_due && m.status === "merged" ? h("span", { class: "badge amber" }, "待回访") : null))));
  }
  if (c.merged_into) rows.push(h("div", { "data-testid": "merged-into" }, "已并入原件 ",
    h("a", { href: "#", "data-testid": "open-original", on: { click: (ev) => { ev.preventDefault(); showCase(ev.target.closest(".detail").parentNode, c.merged_into); } } }, c.merged_into)));
  if (c.callback_due && c.status === "merged") rows.push(h("div", { "data-testid": "original-result" }, `原件已办结，回访时告知：${c.original_result || ""}`));
  if (c.form) {
    rows.push(h("div", { "data-testid": "case-form" }, `一表通（${c.form.kind_name}）第 ${c.form.item} 项：`,
      h("a", { href: "#", on: { click: (ev) => { ev.preventDefault(); const root = ev.target.closest(".detail").parentNode; formPage(root, c.form.form_id); } } }, c.form.title)));
  }
  if (!rows.length) return null;
  return h("div", { class: "card", "data-testid": "merge-state" }, rows);
}

function formsScreen(view) {
  const kind = h("select", { "data-testid": "form-kind" }, terms("form_kinds").map((t) => h("option", { value: t.code }, t.label)));
  const title = h("input", { required: true, placeholder: "如：茶亭路网格 11 月第 2 次巡查", size: 40, "data-testid": "form-title" });
  const items = h("div", { class: "stack", "data-testid": "form-items" });
  const addItem = () => {
    const n = items.children.length + 1;
    const row = h("div", { class: "row form-item", "data-testid": "form-item" },
      h("strong", {}, `事项 ${n}`),
      h("input", { required: true, placeholder: "事项内容", size: 44, "data-testid": "item-content" }),
      h("input", { placeholder: "地址", size: 22, "data-testid": "item-address" }),
      h("button", { type: "button", on: { click: () => { row.remove(); } } }, "删除"));
    items.appendChild(row);
  };
  addItem();
  const result = h("div", { "data-testid": "form-result" });
  const form = h("form", { class: "card", "data-testid": "form-form" },
    h("h2", {}, "一表通：一张表，多个事项各自立案分拨"),
    h("div", { class: "row" }, h("label", {}, "类型 ", kind), h("label", {}, "标题 ", title)),
    items,
    h("div", { class: "row" },
      h("button", { type: "button", "data-testid": "add-item", on: { click: addItem } }, "＋ 添加事项"),
      h("button", { type: "submit", class: "primary", "data-testid": "submit-form" }, "提交一表通")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const list = [...items.querySelectorAll("[data-testid=form-item]")].map((r) => ({
      content: r.querySelector("[data-testid=item-content]").value,
      address: r.querySelector("[data-testid=item-address]").value,
    }));
    try {
      const f = await post("/api/forms", { ref: newOrderNo().replace("WEB", "YBT"), kind: kind.value, title: title.value, items: list });
      toast(`已受理 ${f.items.length} 个事项，各自分拨`);
      renderForm(result, f);
    } catch (e) {
      toast(e.message, true);
    }
  });
  view.appendChild(h("div", { class: "stack" }, form, result));
}

async function formPage(container, formId) {
  clear(container).appendChild(h("div", { class: "empty" }, "正在加载…"));
  try {
    renderForm(container, await get(`/api/forms/${formId}`));
  } catch (e) {
    clear(container).appendChild(h("div", { class: "error" }, e.message));
  }
}

// The parent: every item with its unit and status; complete when every item has ended.
function renderForm(container, f) {
  clear(container);
  const detail = h("div", {});
  const table = h("table", { "data-testid": "form-items-table" },
    h("thead", {}, h("tr", {}, ["事项", "内容", "承办单位", "状态"].map((t) => h("th", {}, t)))),
    h("tbody", {}, f.items.map((i) => h("tr", { "data-testid": "form-item-row", "data-case-id": i.case_id, class: i.visible ? "clickable" : "",
      on: { click: () => { if (i.visible) showCase(detail, i.case_id, () => formPage(container, f.id)); } } },
      h("td", {}, String(i.item)), h("td", {}, i.content ? i.content.slice(0, 60) : "（其他单位事项）"),
      h("td", { "data-testid": "form-item-unit" }, i.unit_name || "中心人工派单"), h("td", {}, statusBadge(i.status, i.status_name))))));
  container.appendChild(h("div", { class: "card", "data-testid": "form-page", "data-form-id": f.id },
    h("div", { class: "row" }, h("h2", {}, f.title), h("span", { class: "badge" }, f.kind_name),
      h("span", { class: "badge " + (f.complete ? "green" : "amber"), "data-testid": "form-complete" }, f.complete ? "全部办结" : `已办结 ${f.items_done} / ${f.items.length}`),
      h("span", { class: "muted small right" }, fmtTime(f.submitted_at))),
    table));
  container.appendChild(detail);
}

function censureScreen(view) {
  const kind = h("select", { "data-testid": "censure-kind" }, terms("censure_kinds").map((t) => h("option", { value: t.code }, t.label)));
  const unit = unitSelect([]);
  unit.setAttribute("data-testid", "censure-unit");
  const reason = h("input", { required: true, placeholder: "理由（必填）", size: 40, "data-testid": "censure-reason" });
  const caseId = h("input", { placeholder: "相关工单 id（可选）", size: 38 });
  const done = h("div", { "data-testid": "censure-result" });
  const form = h("form", { class: "card" }, h("h2", {}, "通报 / 追责（计入承办单位月度考核）"),
    h("div", { class: "row" }, kind, unit, reason, caseId, h("button", { type: "submit", class: "danger", "data-testid": "do-censure" }, "记录")), done);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await post("/api/censures", { kind: kind.value, unit: unit.value, reason: reason.value, case_id: caseId.value.trim() || null });
      toast("已记录");
      done.textContent = `${r.kind_name}：${r.unit_name}，${r.reason}（${fmtTime(r.at)}）`;
      form.reset();
    } catch (e) {
      toast(e.message, true);
    }
  });
  view.appendChild(form);
}

// ---- start ------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      await login($("token").value.trim());
    } catch (e) {
      $("login-error").textContent = e.status === 401 ? "令牌无效，请检查后重试" : e.message;
    }
  });
  $("logout").addEventListener("click", logout);
  const saved = sessionStorage.getItem("sanshi-token");
  if (saved) login(saved).catch(() => logout());
  else logout();
});

// ---- 查找与来电弹屏 (issue 18: search, caller history, order numbers) ---------------------------

COL.orderNo = { label: "工单编号", render: (r) => r.order_no || "—" };
COL.appeal = { label: "诉求类型", render: (r) => r.appeal_type || "—" };

// 来电弹屏: as the operator types the number, that number's open and past cases (debounced).
function callerHistoryBox(phoneInput) {
  const box = h("div", { class: "card caller-history", "data-testid": "caller-history", hidden: true });
  let timer = null;
  let seq = 0;
  const render = (data) => {
    clear(box);
    box.hidden = false;
    box.appendChild(h("h2", {}, "来电历史"));
    if (!data.cases.length) {
      box.appendChild(h("p", { class: "muted small" }, "该号码没有历史工单（首次来电）"));
      return;
    }
    const open = data.cases.filter((c) => c.open).length;
    box.appendChild(h("p", { class: "small" }, h("strong", {}, `该号码来电 ${data.cases.length} 件`), `，在办 ${open} 件`));
    box.appendChild(h("table", { class: "small" },
      h("thead", {}, h("tr", {}, ["工单编号", "受理时间", "状态", "承办单位", "诉求类型", "最近评价", "诉求内容"].map((t) => h("th", {}, t)))),
      h("tbody", {}, data.cases.map((c) => h("tr", { "data-testid": "history-row" },
        h("td", {}, c.order_no || "—"), h("td", {}, fmtTime(c.received_at)),
        h("td", {}, statusBadge(c.status, c.status_name)), h("td", {}, c.unit_name || "—"),
        h("td", {}, c.appeal_type || "—"), h("td", {}, c.last_rating_name || "—"),
        h("td", {}, (c.snippet || "").slice(0, 40)))))));
  };
  const digitsOf = () => phoneInput.value.replace(/[^0-9０-９]/g, "").length;
  const look = () => {
    clearTimeout(timer);
    if (digitsOf() < 7) { box.hidden = true; return; }
    timer = setTimeout(async () => {
      // Read the number again when the timer fires: a submit within the debounce resets the
      // form, and an empty phone is a request the server refuses (422).
      const phone = phoneInput.value;
      if (digitsOf() < 7) return;
      const mine = ++seq;
      try {
        const data = await get("/api/callers/history" + qs({ phone }));
        if (mine === seq) render(data);
      } catch (e) {
        if (mine === seq) toast(e.message, true);
      }
    }, 250);
  };
  phoneInput.addEventListener("input", look);
  // The input is not in its form yet when the form is being built: hook the reset on first input.
  let hooked = false;
  phoneInput.addEventListener("input", () => {
    if (hooked || !phoneInput.form) return;
    hooked = true;
    phoneInput.form.addEventListener("reset", () => { clearTimeout(timer); seq++; box.hidden = true; });
  });
  return box;
}

// 查找: one box for a number, an order number, a name or a word of the text.
function findBar(listCard, detail) {
  const q = h("input", { placeholder: "来电号码 / 工单编号 / 来电人 / 诉求内容", size: 36, "data-testid": "find-q" });
  const kind = h("select", { "data-testid": "find-kind" },
    [["auto", "自动识别"], ["phone", "来电号码"], ["order_no", "工单编号"], ["name", "来电人"], ["text", "诉求内容"]].map(([v, t]) => h("option", { value: v }, t)));
  const KIND_ZH = { phone: "来电号码", order_no: "工单编号", name: "来电人", text: "诉求内容" };
  let offset = 0;
  listCard.newest = listCard.newest || newestOnly();
  const run = async () => {
    clear(listCard).appendChild(h("div", { class: "empty" }, "正在查找…"));
    try {
      const r = await listCard.newest(get("/api/search" + qs({ q: q.value.trim(), kind: kind.value, limit: 50, offset })));
      const head = h("p", { class: "small", "data-testid": "find-summary" }, `按${KIND_ZH[r.kind]}查找「${r.q}」：共 ${r.total}${r.capped ? "+" : ""} 件`);
      const more = r.offset + r.rows.length < r.total
        ? h("button", { type: "button", on: { click: () => { offset += 50; run(); } } }, "下一页") : null;
      clear(listCard).append(head, caseTable(r.rows, [COL.orderNo, COL.received, COL.text, COL.status, COL.appeal, COL.unit], (id) => showCase(detail, id), "find-table"));
      if (more) listCard.appendChild(more);
    } catch (e) {
      if (e !== STALE) clear(listCard).appendChild(h("div", { class: "error" }, e.message));
    }
  };
  const bar = h("form", { class: "card filters", "data-testid": "find-form" }, h("label", {}, "查找", q), h("label", {}, "按", kind),
    h("button", { type: "submit", class: "primary", "data-testid": "find-submit" }, "查找"));
  bar.addEventListener("submit", (ev) => { ev.preventDefault(); if (q.value.trim()) { offset = 0; run(); } });
  return bar;
}

// ---- 承办单位工作队列 (unit): 待签收, 办理中, 今日到期, 已超期, 协办待反馈, 批示 --------------------------

// Counts and pages are the server's (GET /api/units/{unit}/queues[/{queue}]): "today" is the
// service's day in Beijing time, and which case is due or late the server decides (issue 17).
const QUEUE_BADGE = { overdue: "red", due_today: "amber", instructions: "amber" };

function unitQueueBar(view, drawAll) {
  const me = state.meta.me;
  const base = `/api/units/${encodeURIComponent(me.unit)}`;
  const bar = h("div", { class: "card row queue-bar", "data-testid": "unit-queues" }, h("span", { class: "muted" }, "正在加载…"));
  const box = h("div", {});
  view.append(bar, box);
  let current = "";
  const newest = newestOnly();
  const drawBar = async () => {
    let data;
    try { data = await newest(get(base + "/queues")); } catch (e) { if (e !== STALE) clear(bar).appendChild(h("div", { class: "error" }, e.message)); return; }
    const button = (code, text, total) => h("button", {
      type: "button", class: current === code ? "primary" : "", "data-testid": `queue-${code || "all"}`,
      title: code ? terms("unit_queues").find((t) => t.code === code)?.hint || "" : "",
      on: { click: () => pick(code) },
    }, text, total === null ? null : h("span", { class: "badge " + (total ? QUEUE_BADGE[code] || "" : ""), "data-testid": `queue-${code}-count` }, String(total)));
    clear(bar).append(button("", "全部", null), ...data.queues.map((q) => button(q.queue, label("unit_queues", q.queue), q.total)));
  };
  const pick = (code) => {
    // 协办待反馈 has its own tab (its rows are parts of other units' cases).
    if (code === "assists") { show("assists"); return; }
    current = code;
    drawBar();
    clear(box);
    if (!code) { drawAll(box); return; }
    const columns = code === "instructions"
      ? [{ label: "批示回复时限", render: (r) => fmtTime(r.instruction_due) }, COL.text, COL.status, COL.category]
      : [code === "to_claim" ? COL.claim : COL.handle, COL.text, COL.status, COL.category];
    pagedScreen(box, `${label("unit_queues", code)} · ${me.unit_name}`, `${base}/queues/${code}`, columns, "unit-queue-table");
  };
  pick("");
  // New dispatches and deadlines passing move the counts without a reload.
  const timer = setInterval(() => { if (!document.body.contains(bar)) { clearInterval(timer); return; } drawBar(); }, 60 * 1000);
}

// ---- 通报 / 追责 on the dashboard (leader): per unit, for one month ------------------------------

// The numbers are the stats API's (GET /api/stats?by=unit over the month: counts notices and
// accountabilities), the words the vocabulary's (counts, censure_kinds).
function censureCard() {
  const today = new Date();
  const month = h("input", { type: "month", "data-testid": "censure-month", value: dateStr(today).slice(0, 7) });
  const title = state.meta.vocabulary?.censure_kinds?.title || "";
  const card = h("div", { class: "card", "data-testid": "censure-figures" });
  const body = h("div", {});
  card.append(h("div", { class: "row" }, h("h2", {}, `${title}（按单位，月度）`), h("label", { class: "right" }, "月份 ", month)), body);
  const newest = newestOnly();
  const load = async () => {
    if (!month.value) return;
    const [y, m] = month.value.split("-").map(Number);
    const from = `${month.value}-01`;
    const to = dateStr(new Date(y, m, 1));
    let data;
    try { data = await newest(get("/api/stats" + qs({ by: "unit", from, to }))); } catch (e) { if (e !== STALE) clear(body).appendChild(h("div", { class: "error" }, e.message)); return; }
    const fields = ["notices", "accountabilities"];
    const rows = rowsOf(data).filter((r) => fields.some((f) => r[f]));
    rows.sort((a, b) => (b.accountabilities - a.accountabilities) || (b.notices - a.notices) || String(a.key).localeCompare(String(b.key)));
    const total = data.total || {};
    clear(body).append(h("div", { class: "kpis", "data-testid": "censure-totals" },
      fields.map((f) => h("span", {}, label("counts", f), h("strong", { "data-testid": `censure-total-${f}` }, String(total[f] ?? 0))))));
    if (!rows.length) { body.appendChild(h("div", { class: "empty", "data-testid": "censure-table" }, "本月无记录")); return; }
    body.appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "censure-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "单位"), fields.map((f) => h("th", { class: "num" }, label("counts", f))))),
      h("tbody", {}, rows.map((r) => h("tr", { "data-unit": r.key }, h("td", {}, r.name || unitName(r.key)),
        fields.map((f) => h("td", { class: "num", "data-field": f }, String(r[f] ?? 0)))))))));
    card.dataset.generation = String(Number(card.dataset.generation || 0) + 1);
  };
  month.addEventListener("change", load);
  load();
  return card;
}

// ---- 待审延期 (operator): requests for more time, counted and paged by the server ----------------

EXTRA_SCREENS.extensions = (view) => pagedScreen(view, "待审延期（办理时限近者在前）", "/api/queue/extensions", [
  COL.handle,
  { label: "申请延至", render: (r) => fmtTime(r.extension_requested_to) },
  COL.text,
  COL.unit,
], "extensions-table", null, true);
