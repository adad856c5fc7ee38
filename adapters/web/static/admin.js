/* 管理设置 (district admin) in the web UI: the units, category tree and routing rules the router
 * uses now (the district file with the admin changes over it), adding, editing and deactivating
 * them, and the history of changes (who, when, before → after). The admin role only. Loaded after
 * app.js and uses its helpers (h, get, post, toast, label ...); every text goes on the page as a
 * text node. Each change takes effect at once, without a restart (docs/configuration.md). */
"use strict";

TABS.admin.push(["district", "管理设置"]);
EXTRA_SCREENS.district = districtScreen;

const DS_PLACES = { locality: "属地（社区/街道）", judicial_office: "属地司法所" };
const DS_FIELDS = { name: "名称", kind: "类型", parent: "上级", active: "在用", reason: "理由", description: "说明", keywords: "关键词", unit: "责任单位", handle_workdays: "办理时限（工作日）", category: "分类", to: "承办单位", priority: "优先级", retired: "已停用" };

function dsTarget(units, to) {
  if (!to) return "—";
  if (DS_PLACES[to]) return DS_PLACES[to];
  const u = units.find((x) => x.id === to);
  return u ? u.name : to;
}
function dsValue(v) {
  if (v === null || v === undefined || v === "") return "（空）";
  if (Array.isArray(v)) return v.join("、") || "（空）";
  if (v === true) return "是";
  if (v === false) return "否";
  return String(v);
}
// A changed field's value as the history shows it: names for unit ids, kinds and categories.
function dsShow(data, field, v) {
  if (v === null || v === undefined || v === "") return dsValue(v);
  if (field === "to" || field === "unit" || field === "parent" && data.units.some((u) => u.id === v)) return dsTarget(data.units, v);
  if (field === "kind") return label("unit_kinds", v);
  if (field === "category" || field === "parent") {
    const c = data.categories.find((x) => x.code === v);
    return c ? c.name : v;
  }
  return dsValue(v);
}
function dsInput(attrs) { return h("input", { type: "text", ...attrs }); }
function dsSelect(testid, options, value) {
  const sel = h("select", { "data-testid": testid });
  for (const [v, text] of options) sel.appendChild(h("option", { value: v }, text));
  if (value !== undefined) sel.value = value;
  return sel;
}
function dsWords(text) { return text.split(/[,，、\s]+/).map((w) => w.trim()).filter(Boolean); }

function districtScreen(view) {
  const top = h("div", { class: "stack" }, h("div", { class: "card" }, h("div", { class: "empty" }, "正在加载…")));
  view.appendChild(top);
  const act = async (call, done) => {
    try {
      await call();
      toast(done + "，已生效");
      // Other screens read names from /api/meta: keep it in step with the change.
      state.meta = await get("/api/meta");
      await reload();
    } catch (e) {
      toast(e.message, true);
    }
  };

  const reload = async () => {
    let data, hist;
    try {
      [data, hist] = await Promise.all([get("/api/admin/settings"), get("/api/admin/history")]);
    } catch (e) {
      clear(top).appendChild(h("div", { class: "card error" }, e.message));
      return;
    }
    clear(top);
    top.append(h("p", { class: "muted small" }, "修改立即生效（无需重启），并记入修改记录。配置文件中的项目标「配置文件」，管理员增改的标「管理设置」。"),
      rulesCard(data), unitsCard(data), categoriesCard(data), historyCard(data, hist.items || []));
  };

  const source = (row) => h("span", { class: "badge" + (row.source === "admin" ? " blue" : "") }, row.source === "admin" ? "管理设置" : "配置文件");
  const activeUnits = (data) => data.units.filter((u) => u.active && u.kind !== "centre");
  const targets = (data) => [...Object.entries(DS_PLACES), ...activeUnits(data).map((u) => [u.id, u.name])];
  const inlineEdit = (cell, value, save) => {
    const input = dsInput({ value, size: 14, "data-testid": "ds-edit-input" });
    clear(cell).append(input, h("button", { type: "button", class: "primary", "data-testid": "ds-edit-save", on: { click: () => save(input.value.trim()) } }, "保存"));
    input.focus();
  };

  // ---- 派单规则 ----
  const rulesCard = (data) => {
    const card = h("div", { class: "card", "data-testid": "ds-rules" }, h("h2", {}, "派单规则（关键词 → 承办单位）"),
      h("p", { class: "muted small" }, "规则按工单的一级分类匹配，来电内容含任一关键词即适用；管理设置的规则先于配置文件的规则，优先级大者先适用。派单目录（分类的责任单位）仍先于规则。"));
    const category = dsSelect("ds-rule-category", state.meta.categories.map((c) => [c.code, c.name]));
    const words = dsInput({ placeholder: "关键词，用逗号或空格分隔", size: 22, "data-testid": "ds-rule-keywords" });
    const to = dsSelect("ds-rule-to", targets(data));
    const priority = h("input", { type: "number", min: 1, max: 1000, value: 100, class: "ds-narrow", "data-testid": "ds-rule-priority" });
    card.appendChild(h("div", { class: "row" }, "分类", category, words, "派给", to, "优先级", priority,
      h("button", { type: "button", class: "primary", "data-testid": "ds-rule-add", on: { click: () => act(() => post("/api/admin/rules", { category: category.value, keywords: dsWords(words.value), to: to.value, priority: Number(priority.value) }), "已新增派单规则") } }, "新增规则")));
    const body = h("tbody");
    for (const r of data.rules) {
      const prio = h("td", { class: "num" }, r.priority === null ? "—" : String(r.priority));
      const tr = h("tr", { "data-testid": "ds-rule", "data-rule-id": r.id },
        h("td", {}, source(r)), prio, h("td", {}, r.category ? categoryName(r.category) : (r.channels || []).map((c) => label("channels", c) + "渠道").join("、")),
        h("td", {}, r.keywords.length ? r.keywords.join("、") : h("span", { class: "muted" }, "（任意内容）")),
        h("td", {}, dsTarget(data.units, r.to)));
      const ops = h("td", {});
      if (r.source === "admin") {
        ops.append(
          h("button", { type: "button", class: "link", "data-testid": "ds-rule-priority-edit", on: { click: () => inlineEdit(prio, String(r.priority), (v) => act(() => post(`/api/admin/rules/${encodeURIComponent(r.id)}`, { priority: Number(v) }), "已修改优先级")) } }, "改优先级"),
          h("button", { type: "button", class: "link danger", "data-testid": "ds-rule-remove", on: { click: () => act(() => post(`/api/admin/rules/${encodeURIComponent(r.id)}/remove`), "已删除派单规则") } }, "删除"));
      }
      tr.appendChild(ops);
      body.appendChild(tr);
    }
    card.appendChild(h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["来源", "优先级", "分类", "关键词", "承办单位", ""].map((t) => h("th", {}, t)))), body)));
    return card;
  };

  // ---- 单位 ----
  const unitsCard = (data) => {
    const card = h("div", { class: "card", "data-testid": "ds-units" }, h("h2", {}, "单位"),
      h("p", { class: "muted small" }, "停用的单位不再派新单，已有工单照常办理。"));
    const id = dsInput({ placeholder: "单位代码（如 wenlv）", size: 14, "data-testid": "ds-unit-id" });
    const name = dsInput({ placeholder: "单位名称", size: 18, "data-testid": "ds-unit-name" });
    const kind = dsSelect("ds-unit-kind", terms("unit_kinds").filter((t) => t.code !== "centre").map((t) => [t.code, t.label]));
    const parent = dsSelect("ds-unit-parent", [["", "（无上级）"], ...data.units.filter((u) => u.active).map((u) => [u.id, u.name])]);
    card.appendChild(h("div", { class: "row" }, id, name, kind, parent,
      h("button", { type: "button", class: "primary", "data-testid": "ds-unit-add", on: { click: () => act(() => post("/api/admin/units", { id: id.value.trim(), name: name.value.trim(), kind: kind.value, parent: parent.value }), "已新增单位") } }, "新增单位")));
    const body = h("tbody");
    for (const u of data.units) {
      const nameCell = h("td", {}, u.name);
      const ops = h("td", {});
      if (u.kind !== "centre") {
        ops.appendChild(h("button", { type: "button", class: "link", "data-testid": "ds-unit-rename", on: { click: () => inlineEdit(nameCell, u.name, (v) => act(() => post(`/api/admin/units/${encodeURIComponent(u.id)}/rename`, { name: v }), "已改名")) } }, "改名"));
        if (u.active) ops.appendChild(h("button", { type: "button", class: "link danger", "data-testid": "ds-unit-deactivate", on: { click: () => act(() => post(`/api/admin/units/${encodeURIComponent(u.id)}/deactivate`, { reason: "" }), `已停用「${u.name}」`) } }, "停用"));
      }
      body.appendChild(h("tr", { "data-testid": "ds-unit", "data-unit-id": u.id },
        h("td", {}, source(u)), h("td", { class: "mono" }, u.id), nameCell, h("td", {}, label("unit_kinds", u.kind)),
        h("td", {}, u.parent ? dsTarget(data.units, u.parent) : "—"),
        h("td", {}, u.active ? h("span", { class: "badge green" }, "在用") : h("span", { class: "badge" }, "已停用")), ops));
    }
    card.appendChild(h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["来源", "代码", "名称", "类型", "上级", "状态", ""].map((t) => h("th", {}, t)))), body)));
    return card;
  };

  // ---- 分类 ----
  const categoriesCard = (data) => {
    const card = h("div", { class: "card", "data-testid": "ds-categories" }, h("h2", {}, "诉求分类目录"),
      h("p", { class: "muted small" }, "可在一级或二级分类下新增子分类（最多三级）；责任单位和办理时限写入派单目录。一级分类由配置文件定义。"));
    const parents = data.categories.filter((c) => c.level < 3).map((c) => [c.code, `${"　".repeat(c.level - 1)}${c.name}（${c.code}）`]);
    const parent = dsSelect("ds-cat-parent", parents);
    const code = dsInput({ placeholder: "代码末段（如 smoke）", size: 12, "data-testid": "ds-cat-code" });
    const name = dsInput({ placeholder: "中文名称", size: 12, "data-testid": "ds-cat-name" });
    const words = dsInput({ placeholder: "关键词", size: 14, "data-testid": "ds-cat-keywords" });
    const unit = dsSelect("ds-cat-unit", [["", "（责任单位：按规则）"], ...targets(data)]);
    const days = h("input", { type: "number", min: 1, max: 60, placeholder: "时限", class: "ds-narrow", "data-testid": "ds-cat-days" });
    card.appendChild(h("div", { class: "row" }, parent, code, name, words, unit, days,
      h("button", { type: "button", class: "primary", "data-testid": "ds-cat-add", on: { click: () => act(() => post("/api/admin/categories", { parent: parent.value, code: code.value.trim(), name: name.value.trim(), keywords: dsWords(words.value), unit: unit.value, handle_workdays: days.value ? Number(days.value) : null }), "已新增分类") } }, "新增分类")));
    const body = h("tbody");
    for (const c of data.categories) {
      const nameCell = h("td", {}, `${"　".repeat(c.level - 1)}${c.name}`);
      const ops = h("td", {});
      if (c.level > 1) {
        ops.append(
          h("button", { type: "button", class: "link", "data-testid": "ds-cat-relabel", on: { click: () => inlineEdit(nameCell, c.name, (v) => act(() => post(`/api/admin/categories/${encodeURIComponent(c.code)}/relabel`, { name: v }), "已改名")) } }, "改名"),
          h("button", { type: "button", class: "link danger", "data-testid": "ds-cat-retire", on: { click: () => inlineEdit(ops, "", (v) => act(() => post(`/api/admin/categories/${encodeURIComponent(c.code)}/retire`, { reason: v }), "已停用分类")) } }, "停用"));
      }
      body.appendChild(h("tr", { "data-testid": "ds-category", "data-code": c.code },
        h("td", {}, source(c)), nameCell, h("td", { class: "mono small" }, c.code),
        h("td", {}, c.unit ? dsTarget(data.units, c.unit) : "—"), h("td", { class: "num" }, c.handle_workdays ? `${c.handle_workdays} 个工作日` : "—"), ops));
    }
    card.appendChild(h("div", { class: "table-wrap ds-scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ["来源", "名称", "代码", "责任单位", "办理时限", ""].map((t) => h("th", {}, t)))), body)));
    if (data.retired_categories.length) card.appendChild(h("p", { class: "muted small" }, "已停用：" + data.retired_categories.map((r) => `${r.code}（${r.reason}）`).join("；")));
    return card;
  };

  // ---- 修改记录 ----
  const historyCard = (data, items) => {
    const card = h("div", { class: "card", "data-testid": "ds-history" }, h("h2", {}, `修改记录（${items.length}）`));
    if (!items.length) { card.appendChild(h("p", { class: "muted" }, "暂无")); return card; }
    const body = h("tbody");
    for (const e of items) {
      const what = h("td", {});
      for (const [k, [before, after]] of Object.entries(e.change || {})) {
        if (dsValue(before) === dsValue(after)) continue;  // e.g. no description given
        what.appendChild(h("div", { class: "small" }, `${DS_FIELDS[k] || k}：`, h("span", { class: "muted" }, dsShow(data, k, before)), " → ", h("strong", {}, dsShow(data, k, after))));
      }
      body.appendChild(h("tr", { "data-testid": "ds-history-row" },
        h("td", {}, fmtTime(e.at)), h("td", {}, e.principal), h("td", {}, label("admin_changes", e.event)), h("td", { class: "mono small" }, e.target || "—"), what));
    }
    card.appendChild(h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["时间", "操作人", "修改", "对象", "修改前 → 修改后"].map((t) => h("th", {}, t)))), body)));
    return card;
  };

  reload();
}
