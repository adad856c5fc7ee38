/* 知识库 (knowledge base / 答复口径) in the web UI: the admin screen (entries, edits, retiring,
 * the units' proposals), the entries beside the router's suggestion in the 受理台, and 直办 from
 * an entry on a case waiting at the centre. Loaded after app.js and uses its helpers (h, get,
 * post, toast, label ...); like app.js, every text goes on the page as a text node. */
"use strict";

for (const role of ["operator", "admin", "unit", "leader"]) TABS[role].push(["knowledge", "知识库"]);
EXTRA_SCREENS.knowledge = knowledgeScreen;

function kbCanEdit() { return ["operator", "admin"].includes(state.meta.me.role); }
function kbValidity(e) {
  if (!e.valid_from && !e.valid_until) return "长期有效";
  return `${e.valid_from || "—"} 至 ${e.valid_until || "—"}`;
}
function kbState(e) {
  if (e.retired) return h("span", { class: "badge" }, "已停用");
  if (e.offered === false) return h("span", { class: "badge amber" }, "不在有效期");
  return h("span", { class: "badge green" }, "有效");
}
const KB_FIELD_NAMES = { question: "问题", answer: "答复口径", category: "分类", unit: "责任单位", source: "来源", valid_from: "有效期起", valid_until: "有效期止" };

// One suggested entry: its question, answer, owner and source, and (on a case) a button.
function kbItem(e, button) {
  return h("div", { class: "dupe", "data-testid": "kb-item", "data-entry-id": e.id },
    h("div", { class: "row" }, h("strong", { "data-testid": "kb-question" }, e.question),
      h("span", { class: "badge blue right" }, `匹配度 ${Math.round((e.score || 0) * 100)}%`)),
    h("div", { class: "text", "data-testid": "kb-answer-text" }, e.answer),
    h("div", { class: "muted small" }, [e.unit ? `责任单位：${unitName(e.unit)}` : null, e.source ? `来源：${e.source}` : null, `有效期：${kbValidity(e)}`].filter(Boolean).join(" · ")),
    button || null);
}

// ---- 受理台: beside the router's suggestion -------------------------------------------------

function knowledgeBeside(side, contentEl, form) {
  const box = h("div", { class: "card suggest", "data-testid": "kb-suggestions" }, h("h2", {}, "知识库答复口径"),
    h("p", { class: "muted" }, "输入诉求内容后，这里显示可直接答复的口径。"));
  side.appendChild(box);
  let timer = null;
  let seq = 0;
  const render = (items) => {
    clear(box);
    box.appendChild(h("h2", {}, "知识库答复口径"));
    if (!items.length) { box.appendChild(h("p", { class: "muted", "data-testid": "kb-none" }, "没有匹配的答复口径")); return; }
    box.appendChild(h("p", { class: "muted small" }, "咨询类来电可按口径当场答复；提交受理后在工单上点「用此口径直办」。"));
    for (const e of items) box.appendChild(kbItem(e));
  };
  contentEl.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = contentEl.value.trim();
      if (!q) return;
      const mine = ++seq;
      try {
        const res = await get("/api/knowledge/suggest" + qs({ q: q.slice(0, 300) }));
        if (mine === seq) render(res.items || []);
      } catch (e) {
        if (mine === seq) toast(e.message, true);
      }
    }, 300);
  });
  form.addEventListener("reset", () => {
    seq++;
    clear(box);
    box.append(h("h2", {}, "知识库答复口径"), h("p", { class: "muted" }, "输入诉求内容后，这里显示可直接答复的口径。"));
  });
}

// ---- a case at the centre: 直办 from an entry ------------------------------------------------

function knowledgeForCase(c, refresh) {
  if (!(c.actions || []).includes("answer")) return null;
  const consult = (c.manual_reason || "").includes("咨询");
  const box = h("div", { class: "card suggest", "data-testid": "kb-case" },
    h("div", { class: "row" }, h("h3", {}, "知识库答复口径"), consult ? h("span", { class: "badge amber", "data-testid": "kb-consultation" }, "咨询") : null),
    h("p", { class: "muted small" }, "正在查找…"));
  get("/api/knowledge/suggest" + qs({ q: (c.content || "").slice(0, 300), limit: 3 }))
    .then((res) => {
      const items = res.items || [];
      box.removeChild(box.lastChild);
      if (!items.length) { box.appendChild(h("p", { class: "muted small", "data-testid": "kb-none" }, "没有匹配的答复口径")); return; }
      for (const e of items) {
        const btn = h("button", { type: "button", class: "primary", "data-testid": "kb-answer" }, "用此口径直办");
        btn.addEventListener("click", async () => {
          btn.disabled = true;
          try {
            const updated = await post(`/api/cases/${c.id}/answer-from-knowledge`, { entry_id: e.id });
            await refresh(updated);
            toast(`已按知识库口径「${e.question}」直办，工单已办结`);
          } catch (err) {
            toast(err.message, true);
            btn.disabled = false;
          }
        });
        box.appendChild(kbItem(e, h("div", { class: "row" }, btn)));
      }
    })
    .catch((err) => { box.lastChild.textContent = err.message; });
  return box;
}

// ---- the 知识库 screen ---------------------------------------------------------------------

function knowledgeScreen(view) {
  const listCard = h("div", { class: "card" }, h("div", { class: "empty" }, "正在加载…"));
  const detail = h("div", { class: "stack" }, hint(kbCanEdit() ? "点击左侧条目查看和修改，或新增条目" : "点击左侧条目查看"));
  view.appendChild(h("div", { class: "grid2" }, h("div", { class: "stack" }, listCard, h("div", { "data-testid": "kb-proposals" })), detail));
  const proposalsBox = view.querySelector("[data-testid=kb-proposals]");
  let showRetired = false;
  const newest = newestOnly();
  const reload = async (selected) => {
    let data;
    try { data = await newest(get("/api/knowledge" + qs({ include_retired: showRetired ? "true" : "", limit: 500 }))); } catch (e) { if (e !== STALE) clear(listCard).appendChild(h("div", { class: "error" }, e.message)); return; }
    clear(listCard);
    const retiredBox = h("input", { type: "checkbox", checked: showRetired });
    retiredBox.addEventListener("change", () => { showRetired = retiredBox.checked; reload(); });
    listCard.appendChild(h("div", { class: "row" }, h("h2", {}, "知识库（答复口径）"), h("span", { class: "muted right" }, `${data.total} 条`),
      h("label", { class: "check" }, retiredBox, "含已停用"),
      kbCanEdit() ? h("button", { type: "button", class: "primary", "data-testid": "kb-new", on: { click: () => editForm(null) } }, "新增条目") : null));
    const body = h("tbody", {});
    for (const e of data.items) {
      const tr = h("tr", { "data-entry-id": e.id },
        h("td", { class: "text" }, e.question), h("td", {}, e.category ? categoryName(e.category) : "—"),
        h("td", {}, e.unit ? unitName(e.unit) : "中心"), h("td", {}, kbValidity(e)),
        h("td", { class: "num" }, String(e.answers)), h("td", {}, kbState(e)));
      tr.addEventListener("click", () => open(e.id));
      if (e.id === selected) tr.classList.add("selected");
      body.appendChild(tr);
    }
    listCard.appendChild(h("div", { class: "table-wrap" }, h("table", { class: "kb-table", "data-testid": "kb-table" },
      h("thead", {}, h("tr", {}, ["问题", "分类", "责任单位", "有效期", "答复次数", "状态"].map((t, i) => h("th", { class: i === 4 ? "num" : "" }, t)))), body)));
    await loadProposals();
  };

  const loadProposals = async () => {
    clear(proposalsBox);
    if (state.meta.me.role === "leader") return;
    let items;
    try { items = (await get("/api/knowledge/proposals" + qs({ state: kbCanEdit() ? "pending" : "" }))).items; } catch (e) { return; }
    const card = h("div", { class: "card" }, h("h2", {}, kbCanEdit() ? `待审修改建议（${items.length}）` : `本单位的修改建议（${items.length}）`));
    if (!items.length) card.appendChild(h("p", { class: "muted" }, "暂无"));
    for (const p of items) card.appendChild(proposalView(p, true));
    proposalsBox.appendChild(card);
  };

  const proposalView = (p, withQuestion) => {
    const changes = Object.entries(p.changes).map(([k, [before, after]]) =>
      h("div", { class: "small" }, `${KB_FIELD_NAMES[k] || k}：`, h("span", { class: "muted" }, before || "（空）"), " → ", h("strong", {}, after || "（空）")));
    const stateText = { pending: "待审核", accepted: "已采纳", rejected: "未采纳" }[p.state];
    const box = h("div", { class: "dupe", "data-testid": "kb-proposal" },
      h("div", { class: "row" }, h("span", { class: "badge amber" }, stateText), withQuestion ? h("strong", {}, p.question) : null,
        h("span", { class: "muted small right" }, `${unitName(p.unit)} · ${fmtTime(p.proposed_at)}`)),
      changes, p.note ? h("div", { class: "muted small" }, `理由：${p.note}`) : null,
      p.decision_note ? h("div", { class: "muted small" }, `审核意见：${p.decision_note}`) : null);
    if (kbCanEdit() && p.state === "pending") {
      const note = h("input", { placeholder: "审核意见（不采纳须填写）", size: 28 });
      const decide = async (accept) => {
        try {
          await post(`/api/knowledge/${p.entry_id}/proposals/${p.number}/decide`, { accept, note: note.value });
          toast(accept ? `已采纳${unitName(p.unit)}的修改建议，条目已更新` : `已不采纳${unitName(p.unit)}的修改建议`);
          await reload(p.entry_id);
          open(p.entry_id);
        } catch (e) { toast(e.message, true); }
      };
      box.appendChild(h("div", { class: "row" }, note,
        h("button", { type: "button", class: "primary", "data-testid": "kb-accept", on: { click: () => decide(true) } }, "采纳"),
        h("button", { type: "button", on: { click: () => decide(false) } }, "不采纳")));
    }
    return box;
  };

  // The entry clicked last, or the form opened after it: an older answer draws nothing.
  const newestDetail = newestOnly();
  const open = async (id) => {
    let e;
    try { e = await newestDetail(get(`/api/knowledge/${id}`)); } catch (err) { if (err !== STALE) toast(err.message, true); return; }
    listCard.querySelectorAll("tr.selected").forEach((x) => x.classList.remove("selected"));
    listCard.querySelector(`tr[data-entry-id="${CSS.escape(id)}"]`)?.classList.add("selected");
    clear(detail);
    const card = h("div", { class: "card detail", "data-testid": "kb-detail" },
      h("div", { class: "row" }, h("h2", {}, "条目详情"), kbState(e), h("span", { class: "muted small right" }, `答复 ${e.answers} 次`)),
      h("div", { class: "content" }, e.question),
      h("div", { class: "content" }, e.answer),
      h("dl", {},
        h("dt", {}, "分类"), h("dd", {}, e.category ? categoryName(e.category) : "—"),
        h("dt", {}, "责任单位"), h("dd", {}, e.unit ? unitName(e.unit) : "中心"),
        h("dt", {}, "来源"), h("dd", {}, e.source || "—"),
        h("dt", {}, "有效期"), h("dd", {}, kbValidity(e)),
        h("dt", {}, "创建"), h("dd", {}, `${e.created_by} · ${fmtTime(e.created_at)}`),
        h("dt", {}, "最近修改"), h("dd", {}, `${e.updated_by} · ${fmtTime(e.updated_at)}（共 ${e.changes} 次变更）`),
        e.retired ? [h("dt", {}, "停用理由"), h("dd", {}, e.retired_reason)] : null));
    detail.appendChild(card);
    if (!e.retired && kbCanEdit()) {
      card.appendChild(h("div", { class: "row" },
        h("button", { type: "button", "data-testid": "kb-edit", on: { click: () => editForm(e) } }, "修改"),
        retireForm(e)));
    }
    if (!e.retired && state.meta.me.role === "unit") detail.appendChild(proposeForm(e));
    if ((e.proposals || []).length) {
      detail.appendChild(h("div", { class: "card" }, h("h3", {}, "修改建议"), e.proposals.map((p) => proposalView({ ...p, question: null }, false))));
    }
  };

  const retireForm = (e) => {
    const reason = h("input", { placeholder: "停用理由", size: 24, "data-testid": "kb-retire-reason" });
    const f = h("form", { class: "row" }, reason, h("button", { type: "submit", class: "danger" }, "停用"));
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await post(`/api/knowledge/${e.id}/retire`, { reason: reason.value });
        toast(`已停用条目「${e.question}」，不再推荐`);
        await reload(e.id);
        open(e.id);
      } catch (err) { toast(err.message, true); }
    });
    return f;
  };

  const fields = (e) => {
    const cat = h("select", { name: "category" }, h("option", { value: "" }, "（不限）"));
    for (const c of state.meta.categories) cat.appendChild(h("option", { value: c.code, selected: e && c.code === e.category }, c.name));
    const unit = h("select", { name: "unit" }, h("option", { value: "" }, "中心"));
    for (const u of state.meta.units || []) if (u.kind !== "centre") unit.appendChild(h("option", { value: u.id, selected: e && u.id === e.unit }, u.name));
    return {
      question: h("textarea", { rows: 2, required: true, maxlength: 500, "data-testid": "kb-f-question", value: e ? e.question : "" }),
      answer: h("textarea", { rows: 5, required: true, maxlength: 4000, "data-testid": "kb-f-answer", value: e ? e.answer : "" }),
      category: cat,
      unit,
      source: h("input", { "data-testid": "kb-f-source", value: e ? e.source : "" }),
      valid_from: h("input", { type: "date", "data-testid": "kb-f-from", value: e?.valid_from || "" }),
      valid_until: h("input", { type: "date", "data-testid": "kb-f-until", value: e?.valid_until || "" }),
    };
  };
  const fieldsGrid = (f) => h("div", { class: "form-grid" },
    h("label", { class: "full" }, "问题", f.question), h("label", { class: "full" }, "答复口径", f.answer),
    h("label", {}, "分类", f.category), h("label", {}, "责任单位", f.unit),
    h("label", { class: "full" }, "来源", f.source),
    h("label", {}, "有效期起", f.valid_from), h("label", {}, "有效期止", f.valid_until));
  const values = (f, e) => {
    const out = {};
    for (const [k, el] of Object.entries(f)) {
      const v = el.value.trim();
      const before = e ? (e[k] ?? "") : "";
      if (!e || v !== before) out[k] = k.startsWith("valid_") && !v ? null : v;
    }
    return out;
  };

  const editForm = (e) => {
    newestDetail(Promise.resolve()).catch(() => {});  // an entry still loading must not replace the form
    clear(detail);
    const f = fields(e);
    const form = h("form", { class: "card", "data-testid": "kb-form" }, h("h2", {}, e ? "修改条目" : "新增条目"), fieldsGrid(f),
      h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "kb-save" }, "保存"),
        h("button", { type: "button", on: { click: () => (e ? open(e.id) : clear(detail)) } }, "取消")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const saved = e ? await post(`/api/knowledge/${e.id}/edit`, values(f, e)) : await post("/api/knowledge", values(f, null));
        toast(e ? `已保存对「${saved.question}」的修改` : `已新增条目「${saved.question}」`);
        await reload(saved.id);
        open(saved.id);
      } catch (err) { toast(err.message, true); }
    });
    detail.appendChild(form);
  };

  const proposeForm = (e) => {
    const f = fields(e);
    const note = h("input", { placeholder: "修改理由", size: 30, "data-testid": "kb-f-note" });
    const form = h("form", { class: "card", "data-testid": "kb-propose" }, h("h3", {}, "建议修改（由中心审核）"), fieldsGrid(f),
      h("div", { class: "row" }, note, h("button", { type: "submit", class: "primary", "data-testid": "kb-propose-submit" }, "提交建议")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const r = await post(`/api/knowledge/${e.id}/propose`, { ...values(f, e), note: note.value });
        toast(`已提交第 ${r.number} 号修改建议，等待中心审核`);
        await reload(e.id);
        open(e.id);
      } catch (err) { toast(err.message, true); }
    });
    return form;
  };

  reload();
}
