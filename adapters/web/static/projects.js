/* 实事项目 (practical projects) in the web UI: the list with each project's figures, a project's
 * plan, progress and linked cases, a new project made from cases picked out of a list filtered by
 * street, category and words (the centre or a leader), progress and completion (the owner unit;
 * the centre may complete too). Loaded after app.js and uses its helpers (h, get, post, qs,
 * toast, label, unitName ...); like app.js, every text goes on the page as a text node. */
"use strict";

for (const role of ["operator", "leader", "unit", "admin"]) TABS[role].push(["projects", "实事项目"]);
EXTRA_SCREENS.projects = projectsScreen;

// The statuses a case may be taken into a project from (engine.domain.OPEN_STATUSES).
const PROJECT_LINKABLE = new Set(["received", "dispatched", "claimed", "mediating", "returned", "reopened", "on_hold"]);

function projectCanPlan() { return ["operator", "leader"].includes(state.meta.me.role); }
function projectIsOwner(p) { return state.meta.me.role === "unit" && state.meta.me.unit === p.owner_unit; }
function projectCanComplete(p) { return p.status === "open" && (projectIsOwner(p) || state.meta.me.role === "operator"); }
function projectOnTime(v) { return v === null || v === undefined ? "—" : (v ? "按期" : "逾期"); }
function projectRate(f) { return `${fmtRate(f.satisfaction_rate.value)}（${f.satisfied}/${f.rated}）`; }

function projectsScreen(view) {
  const listCard = h("div", { class: "card" }, h("div", { class: "empty" }, "正在加载…"));
  const detail = h("div", { class: "stack", "data-testid": "project-detail" }, hint(projectCanPlan() ? "点击左侧项目查看，或从工单新建实事项目" : "点击左侧项目查看"));
  view.appendChild(h("div", { class: "grid2" }, listCard, detail));

  const newest = newestOnly();
  const reload = async (selected) => {
    let data;
    try { data = await newest(get("/api/projects")); } catch (e) { if (e !== STALE) clear(listCard).appendChild(h("div", { class: "error" }, e.message)); return; }
    clear(listCard);
    listCard.appendChild(h("div", { class: "row" }, h("h2", {}, "实事项目"), h("span", { class: "muted right" }, `${data.rows.length} 个`),
      projectCanPlan() ? h("button", { type: "button", class: "primary", "data-testid": "project-new", on: { click: () => createForm() } }, "从工单新建项目") : null));
    if (!data.rows.length) { listCard.appendChild(h("div", { class: "empty" }, "还没有实事项目")); return; }
    const body = h("tbody", {});
    for (const p of data.rows) {
      const f = p.figures;
      const tr = h("tr", { "data-project-id": p.project_id, "data-testid": "project-row" },
        h("td", { class: "text" }, p.title), h("td", {}, p.owner_unit_name),
        h("td", {}, h("span", { class: "badge " + (p.status === "completed" ? "green" : "blue") }, p.status_name)),
        h("td", { class: "num" }, String(f.cases)), h("td", { class: "num" }, `${f.milestones_done}/${f.milestones}`),
        h("td", { class: "num" }, `${f.called_back}/${f.cases}`), h("td", { class: "num" }, fmtRate(f.satisfaction_rate.value)));
      tr.addEventListener("click", () => open(p.project_id));
      if (p.project_id === selected) tr.classList.add("selected");
      body.appendChild(tr);
    }
    listCard.appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "project-table" },
      h("thead", {}, h("tr", {}, ["项目名称", "牵头单位", "状态", "关联工单", "节点完成", "已回访", "满意率"].map((t) => h("th", {}, t)))), body)));
  };

  // The project clicked last, or the form opened after it: an older answer draws nothing.
  const newestDetail = newestOnly();
  const open = async (id) => {
    clear(detail).appendChild(hint("正在加载…"));
    let p;
    try { p = await newestDetail(get(`/api/projects/${id}`)); } catch (e) { if (e !== STALE) clear(detail).appendChild(h("div", { class: "card error" }, e.message)); return; }
    for (const tr of listCard.querySelectorAll("tr[data-project-id]")) tr.classList.toggle("selected", tr.dataset.projectId === id);
    clear(detail).append(...projectDetail(p, () => { reload(id); open(id); }));
  };

  const createForm = () => {
    newestDetail(Promise.resolve()).catch(() => {});  // a project still loading must not replace the form
    clear(detail).appendChild(projectCreateForm((created) => { reload(created.project_id); open(created.project_id); }));
  };

  reload();
}

function projectFigures(p) {
  const f = p.figures;
  const kpi = (name, value, testid) => h("div", { class: "kpi", "data-testid": testid }, h("div", { class: "muted small" }, name), h("strong", {}, value));
  return h("div", { class: "kpis", "data-testid": "project-figures" },
    kpi("关联工单", `${f.cases} 件`, "project-cases"),
    kpi("节点按期", `${f.milestones_on_time}/${f.milestones}`, "project-milestones"),
    kpi("按期完成", projectOnTime(f.on_time), "project-on-time"),
    kpi("已回访群众", `${f.called_back}/${f.cases} 人`, "project-called-back"),
    kpi("满意率", projectRate(f), "project-satisfaction"));
}

function projectDetail(p, refresh) {
  const head = h("div", { class: "card" },
    h("div", { class: "row" }, h("h2", { "data-testid": "project-title" }, p.title),
      h("span", { class: "badge right " + (p.status === "completed" ? "green" : "blue"), "data-testid": "project-status" }, p.status_name)),
    h("p", { class: "muted" }, `牵头单位：${p.owner_unit_name} · 完成时限：${p.deadline} · 预算：${p.budget || "—"}`),
    p.result ? h("p", { "data-testid": "project-result" }, `完成情况：${p.result}（${fmtTime(p.completed_at)}）`) : null,
    projectFigures(p));

  const steps = h("tbody", {});
  for (const m of p.milestones) {
    steps.appendChild(h("tr", { "data-testid": "milestone-row" }, h("td", {}, String(m.number)), h("td", { class: "text" }, m.title), h("td", {}, m.due),
      h("td", {}, m.done_at ? fmtTime(m.done_at) : "未完成"), h("td", {}, projectOnTime(m.on_time)), h("td", { class: "text" }, m.last_note || "—")));
  }
  const plan = h("div", { class: "card" }, h("h3", {}, "实施计划"), h("table", { "data-testid": "milestone-table" },
    h("thead", {}, h("tr", {}, ["序号", "节点", "计划完成", "实际完成", "是否按期", "最新进度"].map((t) => h("th", {}, t)))), steps));
  if (p.progress && p.progress.length) {
    plan.appendChild(h("h3", {}, "进度报告"));
    const list = h("ul", { class: "plain", "data-testid": "progress-list" });
    for (const r of p.progress) list.appendChild(h("li", {}, `${fmtTime(r.at)} · 节点 ${r.milestone}${r.done ? "（已完成）" : ""}：${r.note}`));
    plan.appendChild(list);
  }

  const cases = h("tbody", {});
  for (const c of p.cases) {
    cases.appendChild(h("tr", { "data-testid": "linked-case" }, h("td", {}, fmtTime(c.received_at)), h("td", { class: "text" }, c.snippet),
      h("td", {}, c.street_name), h("td", {}, c.category_name), h("td", {}, statusBadge(c.status, c.status_name)), h("td", {}, c.last_rating_name || "—")));
  }
  const linked = h("div", { class: "card" }, h("h3", {}, `关联工单（${p.cases.length} 件）`), h("div", { class: "table-wrap" }, h("table", { "data-testid": "linked-cases" },
    h("thead", {}, h("tr", {}, ["受理时间", "诉求内容", "街道", "分类", "状态", "回访评价"].map((t) => h("th", {}, t)))), cases)));

  const out = [head];
  if (p.status === "open" && projectIsOwner(p)) out.push(progressForm(p, refresh));
  if (projectCanComplete(p)) out.push(completeForm(p, refresh));
  out.push(plan, linked);
  if (p.status === "open" && projectCanPlan()) out.push(casePicker("关联更多工单", "关联所选工单", async (ids) => {
    await post(`/api/projects/${p.project_id}/cases`, { case_ids: ids });
    toast(`已关联 ${ids.length} 件工单`);
    refresh();
  }));
  return out;
}

function progressForm(p, refresh) {
  const milestone = h("select", { name: "milestone", "data-testid": "progress-milestone" }, p.milestones.map((m) => h("option", { value: m.number }, `${m.number}. ${m.title}`)));
  const note = h("textarea", { name: "note", rows: 2, required: true, "data-testid": "progress-note", placeholder: "进展情况" });
  const done = h("input", { type: "checkbox", "data-testid": "progress-done" });
  const form = h("form", { class: "card", "data-testid": "progress-form" }, h("h3", {}, "报告进度"),
    h("label", {}, "节点", milestone), h("label", {}, "说明", note), h("label", { class: "check" }, done, "该节点已完成"),
    h("button", { type: "submit", class: "primary" }, "提交进度"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await post(`/api/projects/${p.project_id}/progress`, { milestone: Number(milestone.value), note: note.value, done: done.checked });
      toast("进度已提交");
      refresh();
    } catch (e) { toast(e.message, true); }
  });
  return form;
}

function completeForm(p, refresh) {
  const result = h("textarea", { name: "result", rows: 2, required: true, "data-testid": "complete-result", placeholder: "完成情况（将作为办理结果告知每位关联群众，并转入回访）" });
  const form = h("form", { class: "card", "data-testid": "complete-form" }, h("h3", {}, "项目完成"),
    h("label", {}, "完成情况", result),
    h("button", { type: "submit", class: "primary" }, "确认完成并转回访"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const done = await post(`/api/projects/${p.project_id}/complete`, { result: result.value });
      toast(`项目已完成，${done.resolved_now} 件工单转入回访`);
      refresh();
    } catch (e) { toast(e.message, true); }
  });
  return form;
}

// Cases picked from a list filtered by street, category and words; only open ones can be ticked.
function casePicker(title, button, onPick) {
  const street = h("select", { "data-testid": "pick-street" }, h("option", { value: "" }, "全部街道"), state.meta.units.filter((u) => u.kind === "street").map((u) => h("option", { value: u.id }, u.name)));
  const category = h("select", { "data-testid": "pick-category" }, h("option", { value: "" }, "全部分类"), state.meta.categories.map((c) => h("option", { value: c.code }, c.name)));
  const words = h("input", { type: "search", "data-testid": "pick-q", placeholder: "诉求内容关键词" });
  const all = h("input", { type: "checkbox", "data-testid": "pick-all" });
  const body = h("tbody", {});
  const count = h("span", { class: "muted", "data-testid": "pick-count" }, "");
  const box = h("div", { class: "card", "data-testid": "case-picker" }, h("h3", {}, title),
    h("div", { class: "filters" }, h("label", {}, "街道", street), h("label", {}, "分类", category), h("label", {}, "关键词", words),
      h("button", { type: "button", "data-testid": "pick-search", on: { click: () => load() } }, "查找工单")),
    h("div", { class: "table-wrap" }, h("table", { "data-testid": "pick-table" },
      h("thead", {}, h("tr", {}, h("th", {}, all), ["受理时间", "诉求内容", "分类", "状态"].map((t) => h("th", {}, t)))), body)),
    h("div", { class: "row" }, count, h("button", { type: "button", class: "primary right", "data-testid": "pick-submit", on: { click: () => submit() } }, button)));
  const boxes = () => [...body.querySelectorAll("input[type=checkbox]")];
  const recount = () => { count.textContent = `已选 ${boxes().filter((b) => b.checked).length} 件`; };
  all.addEventListener("change", () => { for (const b of boxes()) if (!b.disabled) b.checked = all.checked; recount(); });
  const newest = newestOnly();
  const load = async () => {
    let rows;
    try { rows = rowsOf(await newest(get("/api/cases" + qs({ street: street.value, category: category.value, q: words.value.trim(), limit: 200 })))); } catch (e) { if (e !== STALE) toast(e.message, true); return; }
    clear(body);
    for (const c of rows) {
      const ok = PROJECT_LINKABLE.has(c.status);
      const tick = h("input", { type: "checkbox", value: c.case_id, disabled: !ok, on: { change: recount } });
      body.appendChild(h("tr", { "data-testid": "pick-row" }, h("td", {}, tick), h("td", {}, fmtTime(c.received_at)), h("td", { class: "text" }, c.snippet),
        h("td", {}, c.category_name), h("td", {}, statusBadge(c.status, c.status_name))));
    }
    if (!rows.length) body.appendChild(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "没有符合条件的工单")));
    all.checked = false;
    recount();
  };
  const submit = async () => {
    const ids = boxes().filter((b) => b.checked).map((b) => b.value);
    if (!ids.length) { toast("请先勾选工单", true); return; }
    try { await onPick(ids); } catch (e) { toast(e.message, true); }
  };
  box.picked = () => boxes().filter((b) => b.checked).map((b) => b.value);
  return box;
}

function projectCreateForm(onCreated) {
  const units = state.meta.units.filter((u) => u.kind !== "centre" && u.active !== false);
  const f = {
    title: h("input", { name: "title", required: true, maxlength: 200, "data-testid": "project-title-input", placeholder: "如：茶亭路路灯整体改造" }),
    owner: h("select", { name: "owner_unit", "data-testid": "project-owner" }, units.map((u) => h("option", { value: u.id }, u.name))),
    deadline: h("input", { type: "date", name: "deadline", required: true, "data-testid": "project-deadline" }),
    budget: h("input", { name: "budget", "data-testid": "project-budget", placeholder: "如：区财政 80 万元" }),
  };
  const steps = h("div", { class: "stack", "data-testid": "milestones" });
  const addStep = () => {
    const n = steps.children.length + 1;
    steps.appendChild(h("div", { class: "row" }, h("span", {}, `节点 ${n}`),
      h("input", { name: "m-title", required: true, placeholder: "节点名称", "data-testid": "milestone-title" }),
      h("input", { type: "date", name: "m-due", required: true, "data-testid": "milestone-due" })));
  };
  addStep();
  const picker = casePicker("选择关联工单", "立项并关联所选工单", async (ids) => submit(ids));
  const form = h("form", { class: "card", "data-testid": "project-form" }, h("h2", {}, "新建实事项目"),
    h("label", {}, "项目名称", f.title), h("label", {}, "牵头单位", f.owner), h("label", {}, "完成时限", f.deadline), h("label", {}, "预算", f.budget),
    h("h3", {}, "实施计划"), steps,
    h("button", { type: "button", "data-testid": "milestone-add", on: { click: addStep } }, "增加节点"));
  const submit = async (ids) => {
    if (!form.reportValidity()) return;
    const milestones = [...steps.children].map((row) => ({ title: row.querySelector("[name=m-title]").value, due: row.querySelector("[name=m-due]").value }));
    const created = await post("/api/projects", { title: f.title.value, owner_unit: f.owner.value, deadline: f.deadline.value, budget: f.budget.value, milestones, case_ids: ids });
    toast(`已立项「${created.title}」，关联 ${created.figures.cases} 件工单`);
    onCreated(created);
  };
  return h("div", { class: "stack" }, form, picker);
}
