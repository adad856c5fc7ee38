/* 认领大厅 (the open shelf) in the web UI.
 *
 * - A unit (a helper outside government, or a department): the items on the shelf of the
 *   services it offers, each with its own claim or a form to apply (认领申请, with a note), and
 *   its claims with what the centre decided.
 * - The centre (operator): every item with every claim, 同意 / 拒绝 (with a reason) each
 *   claim, 下架 an item; on a case waiting at the centre, a form to put it on the shelf (上架),
 *   and on a listed case its claims (shelfForCase, called from app.js's case page).
 * - The leader's screen: 社会力量与微服务 (helpersCard, called from app.js's dashboard): the
 *   helpers' figures, apart from government units' (GET /api/stats/helpers).
 *
 * Loaded after app.js and uses its helpers (h, get, post, label, toast, fmtTime, fmtRate ...);
 * like app.js, every text goes on the page as a text node. Labels of states and figures come
 * from the server's vocabulary (/api/meta: claim_states, shelf_figures). */
"use strict";

TABS.unit.push(["shelf", "认领大厅"]);
TABS.operator.push(["shelf", "认领大厅"]);
EXTRA_SCREENS.shelf = shelfScreen;

function shelfClaimLine(cl, actions) {
  return h("li", { class: "shelf-claim", "data-testid": "shelf-claim", "data-state": cl.state, "data-unit": cl.unit },
    h("div", { class: "row" },
      h("strong", {}, cl.unit_name || unitName(cl.unit)),
      cl.unit_kind ? h("span", { class: "badge" }, label("unit_kinds", cl.unit_kind)) : null,
      h("span", { class: "badge " + ({ pending: "amber", accepted: "green", refused: "red" }[cl.state] || "") }, label("claim_states", cl.state)),
      h("span", { class: "muted small" }, fmtTime(cl.applied_at))),
    h("div", {}, "认领说明：", cl.note),
    cl.reason ? h("div", { class: "muted small", "data-testid": "shelf-claim-reason" }, "中心意见：", cl.reason) : null,
    actions || null);
}

// The centre's 同意 / 拒绝 of one waiting claim; ``done`` reloads what shows it.
function shelfDecideForm(caseId, cl, done) {
  const reason = h("input", { name: "note", placeholder: "拒绝理由（拒绝时必填）", size: 24, "data-testid": "shelf-refuse-reason" });
  const accept = h("button", { type: "button", class: "primary", "data-testid": "shelf-accept" }, "同意认领");
  const refuse = h("button", { type: "button", "data-testid": "shelf-refuse" }, "拒绝");
  const decide = async (accepted, btn) => {
    if (!accepted && !reason.value.trim()) { toast("拒绝认领须写明理由", true); return; }
    btn.disabled = true;
    try {
      const updated = await post(`/api/cases/${caseId}/claims/${cl.number}/decide`, { accepted, note: accepted ? "" : reason.value.trim() });
      toast(accepted ? `已同意「${cl.unit_name}」认领，工单已派给该单位` : `已拒绝「${cl.unit_name}」的认领申请，事项仍在认领大厅`);
      await done(updated);
    } catch (e) {
      toast(e.message, true);
      btn.disabled = false;
    }
  };
  accept.addEventListener("click", () => decide(true, accept));
  refuse.addEventListener("click", () => decide(false, refuse));
  return h("div", { class: "row" }, accept, reason, refuse);
}

function shelfItemCard(item, isCentre, reload) {
  const card = h("div", { class: "card shelf-item", "data-testid": "shelf-item", "data-case": item.case_id },
    h("div", { class: "row" },
      h("span", { class: "badge blue", "data-testid": "shelf-service" }, item.service_name),
      h("strong", {}, item.summary),
      h("span", { class: "muted small right" }, `上架 ${fmtTime(item.listed_at)}`)),
    h("div", { class: "muted small" }, [item.street_name, item.category ? item.category_name : null].filter(Boolean).join(" · ") || "—"));
  const claims = item.claims || [];
  if (isCentre) {
    const list = h("ol", { class: "shelf-claims" }, claims.map((cl) => shelfClaimLine(cl, cl.state === "pending" ? shelfDecideForm(item.case_id, cl, reload) : null)));
    const withdraw = h("button", { type: "button", "data-testid": "shelf-withdraw" }, "下架");
    withdraw.addEventListener("click", async () => {
      withdraw.disabled = true;
      try {
        await post(`/api/cases/${item.case_id}/shelf/withdraw`, { note: "中心下架" });
        toast("已下架，工单回到待派单");
        await reload();
      } catch (e) {
        toast(e.message, true);
        withdraw.disabled = false;
      }
    });
    const open = h("button", { type: "button", class: "link", "data-testid": "shelf-open" }, "查看工单");
    const detail = h("div", {});
    open.addEventListener("click", () => showCase(detail, item.case_id, reload));
    append(card, [claims.length ? list : h("div", { class: "empty" }, "暂无认领申请"), h("div", { class: "row" }, open, withdraw), detail]);
    return card;
  }
  const mine = claims[claims.length - 1];
  if (mine && mine.state !== "lapsed") {
    card.appendChild(h("ol", { class: "shelf-claims" }, shelfClaimLine(mine)));
    return card;
  }
  const note = h("input", { name: "note", placeholder: "认领说明：如何办理、何时到场", size: 36, required: true, "data-testid": "shelf-claim-note" });
  const apply = h("button", { type: "submit", class: "primary", "data-testid": "shelf-apply" }, "申请认领");
  const form = h("form", { class: "row" }, note, apply);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    apply.disabled = true;
    try {
      await post(`/api/cases/${item.case_id}/claims`, { note: note.value.trim() });
      toast("已提交认领申请，等待中心审核");
      await reload();
    } catch (e) {
      toast(e.message, true);
      apply.disabled = false;
    }
  });
  card.appendChild(form);
  return card;
}

async function shelfScreen(view) {
  const me = state.meta.me;
  const isCentre = me.role !== "unit";
  const head = h("div", { class: "card" }, h("h2", {}, "认领大厅"),
    h("p", { class: "muted small" }, isCentre
      ? "中心上架的群众需求，由职能部门、社会企业、社会组织、志愿服务队申请认领；中心审核：同意即派给认领单位办理，拒绝须写理由（事项仍在大厅）。"
      : "中心上架的群众需求（本单位服务清单内的事项）。申请认领后由中心审核，同意后工单进入本单位工单箱，按常规签收、办结。"));
  const items = h("div", { class: "stack", "data-testid": "shelf-items" }, h("div", { class: "empty" }, "正在加载…"));
  const mine = isCentre ? null : h("div", { class: "card", "data-testid": "shelf-my-claims" }, h("h3", {}, "本单位的认领申请"));
  view.appendChild(h("div", { class: "stack" }, head, items, mine));

  const newest = newestOnly();
  const reload = async () => {
    let data;
    try {
      data = await newest(get("/api/shelf"));
    } catch (e) {
      if (e !== STALE) clear(items).appendChild(h("div", { class: "error" }, e.message));
      return;
    }
    const served = data.services ? `本单位服务清单：${data.services.map((c) => (data.menu.find((m) => m.code === c) || {}).name || c).join("、")}` : null;
    clear(items);
    if (served) items.appendChild(h("div", { class: "muted small", "data-testid": "shelf-services" }, served));
    if (!data.items.length) items.appendChild(h("div", { class: "empty", "data-testid": "shelf-empty" }, "认领大厅暂无待认领事项"));
    for (const item of data.items) items.appendChild(shelfItemCard(item, isCentre, reload));
    if (mine) {
      let claims = [];
      try { claims = await get(`/api/units/${encodeURIComponent(me.unit)}/claims`); } catch (e) { toast(e.message, true); }
      clear(mine).append(h("h3", {}, "本单位的认领申请"), claims.length
        ? h("ol", { class: "shelf-claims" }, claims.map((cl) => shelfClaimLine({ ...cl, note: `${cl.summary}（${cl.service_name}）— ${cl.note}` })))
        : h("div", { class: "empty" }, "暂无"));
    }
    items.dataset.generation = String(Number(items.dataset.generation || 0) + 1);
  };
  reload();
}

// On the case page (the centre): 上架 a case waiting at the centre, or its listing and claims.
function shelfForCase(c, refresh) {
  const can = c.shelf_actions || [];
  if (!can.length && !c.shelf) return null;
  const box = h("div", { class: "card suggest", "data-testid": "shelf-case" }, h("h3", {}, "认领大厅"));
  if (c.shelf) {
    box.appendChild(h("div", {}, h("span", { class: "badge blue" }, c.shelf.service_name), " ", c.shelf.summary,
      h("span", { class: "muted small" }, `（${fmtTime(c.shelf.at)} 上架）`)));
    const waiting = (c.shelf_claims || []).filter((cl) => cl.state === "pending");
    box.appendChild(h("ol", { class: "shelf-claims" }, (c.shelf_claims || []).filter((cl) => cl.listing === c.shelf.number).map((cl) =>
      shelfClaimLine(cl, cl.state === "pending" && can.includes("decide_claim") ? shelfDecideForm(c.id, cl, refresh) : null))));
    if (!waiting.length) box.appendChild(h("div", { class: "muted small" }, "暂无待审核的认领申请"));
    return box;
  }
  if (!can.includes("shelve")) return null;
  const service = h("select", { name: "service", "data-testid": "shelf-service-select" }, h("option", { value: "" }, "所需服务…"));
  get("/api/shelf").then((d) => { for (const m of d.menu || []) service.appendChild(h("option", { value: m.code }, m.name)); }).catch(() => {});
  const summary = h("textarea", { name: "summary", rows: 2, cols: 50, "data-testid": "shelf-summary", placeholder: "需求说明（认领单位可见，不写来电人姓名和号码）" });
  summary.value = (c.content || "").slice(0, 200);
  const go = h("button", { type: "submit", class: "primary", "data-testid": "shelf-list" }, "上架认领");
  const form = h("form", { class: "action" }, h("div", { class: "row" }, service, go), summary);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!service.value) { toast("请选择所需服务", true); return; }
    go.disabled = true;
    try {
      const updated = await post(`/api/cases/${c.id}/shelf`, { service: service.value, summary: summary.value.trim() });
      await refresh(updated, "已上架认领大厅，等待认领");
    } catch (e) {
      toast(e.message, true);
      go.disabled = false;
    }
  });
  box.appendChild(h("p", { class: "muted small" }, "不派单，放入认领大厅，由提供该服务的单位申请认领。"));
  box.appendChild(form);
  return box;
}

// 社会力量与微服务 on the leader's screen (and the admin's): counted apart, never ranked.
function helpersCard() {
  const card = h("div", { class: "card", "data-testid": "helpers-card" }, h("h2", {}, "社会力量与微服务"));
  const f = (code) => label("shelf_figures", code);
  const cols = ["micro_services", "handling", "claims", "accepted", "refused", "pending", "followups", "satisfaction_rate"];
  const cell = (r, code) => code === "satisfaction_rate" ? fmtRate(r[code].value) : String(r[code]);
  const newest = newestOnly();
  const load = async (p) => {
    let data;
    try {
      data = await newest(get("/api/stats/helpers" + qs({ from: p.from, to: p.to })));
    } catch (e) {
      if (e !== STALE) clear(card).append(h("h2", {}, "社会力量与微服务"), h("div", { class: "error" }, e.message));
      return;
    }
    const T = data.total;
    const rows = [...data.rows, ...data.kinds.map((k) => ({ ...k, kind: null, subtotal: true })), { ...T, subtotal: true }];
    clear(card).append(
      h("h2", {}, "社会力量与微服务"),
      h("p", { class: "muted small" }, "社会企业、社会组织、志愿服务队认领并办结的群众需求（微服务），单独统计，不计入承办单位排名。"),
      h("div", { class: "row" },
        h("span", { "data-testid": "helpers-micro" }, `${f("micro_services")} `, h("strong", {}, String(T.micro_services)), " 件"),
        h("span", {}, `认领大厅待认领 ${data.on_shelf} 件`),
        h("span", {}, `${f("satisfaction_rate")} ${fmtRate(T.satisfaction_rate.value)}`)),
      h("div", { class: "table-wrap" }, h("table", { "data-testid": "helpers-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "单位"), h("th", {}, "类型"), cols.map((c) => h("th", { class: "num" }, f(c))))),
        h("tbody", {}, rows.map((r) => h("tr", { class: r.subtotal ? "subtotal" : null, "data-key": r.key },
          h("td", {}, r.subtotal ? h("strong", {}, r.name) : r.name), h("td", {}, r.kind ? label("unit_kinds", r.kind) : ""),
          cols.map((c) => h("td", { class: "num" }, cell(r, c)))))))));
    card.dataset.generation = String(Number(card.dataset.generation || 0) + 1);
  };
  return { card, load };
}
