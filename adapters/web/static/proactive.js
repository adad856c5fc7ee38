/* 主动治理 (problems found before anyone calls) and 诉源治理 on the leader's and the centre's
 * screen: the place × category surges of GET /api/proactive/surges and the repeated places of
 * GET /api/proactive/repeated, each a candidate for 每月一题 or a 实事项目 with the cases behind
 * it (the surge's through the comparison table's drill-down, GET /api/stats/cases); and the
 * disputes settled before court (GET /api/stats/source-governance), per judicial office or
 * street and month. Loaded after app.js and uses its helpers (h, get, qs, label, caseTable ...);
 * every text goes on the page as a text node. The method is docs/proactive.md. */
"use strict";

TABS.leader.push(["proactive", "主动治理"]);
TABS.operator.push(["proactive", "主动治理"]);
EXTRA_SCREENS.proactive = proactiveScreen;

function proactiveDay(offset) {
  const t = new Date();
  return dateStr(new Date(t.getFullYear(), t.getMonth(), t.getDate() + offset));
}

function fmtP(p) {
  if (p === null || p === undefined) return "—";
  if (p === 0) return "< 1e-300";
  return p < 0.001 ? p.toExponential(1) : p.toFixed(4);
}

// The cases behind a candidate, below its table: a list to click through to each case.
async function proactiveCases(box, title, loadRows) {
  const detail = h("div", {});
  box.newest = box.newest || newestOnly();
  clear(box).appendChild(h("div", { class: "empty" }, "正在加载…"));
  let rows;
  try { rows = await box.newest(loadRows()); } catch (e) { if (e !== STALE) clear(box).appendChild(h("div", { class: "error" }, e.message)); return; }
  clear(box).append(
    h("div", { class: "row drill-head" }, h("h3", {}, title), h("span", { class: "badge blue", "data-testid": "proactive-cases-count" }, String(rows.length)),
      h("button", { type: "button", class: "link right", on: { click: () => clear(box) } }, "收起")),
    caseTable(rows, [COL.received, COL.text, COL.status, COL.category, COL.unit, COL.address], (id) => showCase(detail, id), "proactive-cases"),
    detail);
}

function surgesCard() {
  const windowSel = h("select", { "data-testid": "surge-window" }, h("option", { value: "day" }, "按日"), h("option", { value: "week" }, "按周"));
  const from = h("input", { type: "date", "data-testid": "surge-from", value: proactiveDay(-14) });
  const to = h("input", { type: "date", "data-testid": "surge-to", value: proactiveDay(1) });
  const method = h("p", { class: "muted small", "data-testid": "surge-method" });
  const body = h("div", {});
  const cases = h("div", { "data-testid": "surge-drill" });
  const form = h("form", { class: "row" }, h("label", {}, "窗口 ", windowSel), h("label", {}, "起始日期 ", from), h("label", {}, "截止日期（不含） ", to),
    h("button", { type: "submit", class: "primary", "data-testid": "surge-refresh" }, "查询"));
  const card = h("div", { class: "card", "data-testid": "surges" },
    h("h2", {}, "激增候选（每月一题 / 实事项目候选）"),
    h("p", { class: "muted small" }, "某街道某类诉求在一日或一周内的件数明显高于其近几周的平常水平（泊松基线）。点击“查看工单”列出对应工单。"),
    form, method, body, cases);

  const newest = newestOnly();
  const load = async () => {
    let data;
    try {
      data = await newest(get("/api/proactive/surges" + qs({ window: windowSel.value, from: from.value, to: to.value })));
    } catch (e) { if (e !== STALE) clear(body).appendChild(h("div", { class: "error", "data-testid": "surge-error" }, e.message)); return; }
    const m = data.method;
    const tested = data.windows.filter((w) => w.tested).length;
    method.textContent = `方法：近 ${m.history_weeks} 周为基线，按全区同类诉求平滑、每日不低于 ${m.floor_per_day} 件、按星期调整；`
      + `件数 ≥ ${m.min_count} 且 P(X ≥ 件数) < ${m.alpha} ÷ ${m.cells} 个格（${fmtP(m.threshold)}）时列出。检验了 ${tested} 个${data.window_name}。`;
    clear(cases);
    if (!data.rows.length) {
      clear(body).appendChild(h("div", { class: "empty", "data-testid": "surge-table" }, "所选期间没有明显高于平常的街道与分类"));
    } else {
      const place = label("stats_dimensions", data.place_kind);
      const tbody = h("tbody", {}, data.rows.map((r) => h("tr", { "data-testid": "surge-row", "data-place": r.place, "data-category": r.category, "data-from": r.from },
        h("td", {}, r.window === "day" ? r.from : `${r.from} 至 ${r.to}（不含）`),
        h("td", {}, r.place_name), h("td", {}, r.category_name),
        h("td", { class: "num", "data-field": "count" }, String(r.count)),
        h("td", { class: "num", "data-field": "baseline" }, String(r.baseline)),
        h("td", { class: "num" }, r.ratio === null ? "—" : `${r.ratio} 倍`),
        h("td", { class: "num" }, fmtP(r.p_value)),
        h("td", {}, h("button", { type: "button", class: "link", "data-testid": "surge-cases", on: { click: () => {
          const d = r.drill;
          proactiveCases(cases, `${r.place_name} · ${r.category_name} · ${r.from}`, async () => {
            const page = await get("/api/stats/cases" + qs({ ...d, limit: 500 }));
            return page.rows;
          });
        } } }, `查看工单（${r.count}）`)))));
      clear(body).appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "surge-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "时段"), h("th", {}, place), h("th", {}, "分类"), h("th", { class: "num" }, "件数"),
          h("th", { class: "num", title: "按近几周推算的平常件数（泊松基线）" }, "平常水平"), h("th", { class: "num" }, "倍数"),
          h("th", { class: "num", title: "平常水平下出现这么多件的概率" }, "概率"), h("th", {}, "工单"))),
        tbody)));
    }
    card.dataset.generation = String(Number(card.dataset.generation || 0) + 1);
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  return { card, load };
}

function repeatedCard() {
  const day = h("input", { type: "date", "data-testid": "repeat-day", value: proactiveDay(0) });
  const body = h("div", {});
  const cases = h("div", { "data-testid": "repeat-drill" });
  const form = h("form", { class: "row" }, h("label", {}, "截至 ", day), h("button", { type: "submit", class: "primary", "data-testid": "repeat-refresh" }, "查询"));
  const note = h("p", { class: "muted small" });
  const card = h("div", { class: "card", "data-testid": "repeated" }, h("h2", {}, "重复投诉的地点"), note, form, body, cases);
  const newest = newestOnly();
  const load = async () => {
    let data;
    try { data = await newest(get("/api/proactive/repeated" + qs({ day: day.value }))); } catch (e) { if (e !== STALE) clear(body).appendChild(h("div", { class: "error" }, e.message)); return; }
    note.textContent = `同一地址、同一类诉求，${data.days} 天内有 ${data.min_callers} 位及以上不同来电人反映。`;
    clear(cases);
    if (!data.rows.length) {
      clear(body).appendChild(h("div", { class: "empty", "data-testid": "repeat-table" }, "没有多人重复反映的地点"));
    } else {
      clear(body).appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "repeat-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "地点"), h("th", {}, "分类"), h("th", {}, "街道"), h("th", {}, "社区"), h("th", { class: "num" }, "来电人数"), h("th", { class: "num" }, "工单数"), h("th", {}, "最近一次"), h("th", {}, "工单"))),
        h("tbody", {}, data.rows.map((r) => h("tr", { "data-testid": "repeat-row", "data-address": r.address },
          h("td", {}, r.address), h("td", {}, r.category_name), h("td", {}, r.street_name || "—"), h("td", {}, r.community_name || "—"),
          h("td", { class: "num" }, String(r.callers)), h("td", { class: "num" }, String(r.cases)), h("td", {}, fmtTime(r.last_at)),
          h("td", {}, h("button", { type: "button", class: "link", "data-testid": "repeat-cases", on: { click: () => {
            proactiveCases(cases, `${r.address} · ${r.category_name}`, async () =>
              (await Promise.all(r.case_ids.slice(0, 50).map((id) => get(`/api/cases/${encodeURIComponent(id)}`)))).map((c) => ({ ...c, unit: c.unit || c.assigned_unit })));
          } } }, `查看工单（${r.cases}）`))))))));
    }
    card.dataset.generation = String(Number(card.dataset.generation || 0) + 1);
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  return { card, load };
}

function sourceGovernanceCard() {
  const by = h("select", { "data-testid": "source-by" }, h("option", { value: "judicial_office" }, "按司法所"), h("option", { value: "street" }, "按街道"));
  const body = h("div", {});
  const card = h("div", { class: "card", "data-testid": "source-governance" },
    h("div", { class: "row" }, h("h2", {}, "诉源治理（化解在诉前）"), h("label", {}, "行 ", by), h("span", { class: "muted small" }, "近12个月，按受理月份；比率悬停看口径")), body);
  const counts = terms("source_counts");
  const rates = terms("source_rates");
  const newest = newestOnly();
  const load = async () => {
    let data;
    try { data = await newest(get("/api/stats/source-governance" + qs({ by: by.value }))); } catch (e) { if (e !== STALE) clear(body).appendChild(h("div", { class: "error" }, e.message)); return; }
    const rowOf = (r, cls) => h("tr", { class: cls || "", "data-testid": "source-row", "data-key": r.key ?? "", "data-month": r.month ?? "" },
      h("td", {}, r.month || "全期"), h("td", {}, r.name),
      counts.map((c) => h("td", { class: "num", "data-field": c.code }, String(r[c.code]))),
      rates.map((t) => h("td", { class: "num", title: t.definition, "data-rate": t.code },
        fmtRate(r[t.code].value), h("div", { class: "frac small muted" }, `${r[t.code].numerator} / ${r[t.code].denominator}`))));
    const rows = [...data.rows.map((r) => rowOf(r)), ...data.by_key.map((r) => rowOf(r, "total-row")), rowOf(data.total, "total-row")];
    clear(body).appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "source-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "月份"), h("th", {}, by.value === "street" ? "街道" : "司法所"),
        counts.map((c) => h("th", { class: "num" }, c.label)), rates.map((t) => h("th", { class: "num", title: t.definition }, t.label)))),
      h("tbody", {}, rows))));
    card.dataset.generation = String(Number(card.dataset.generation || 0) + 1);
  };
  by.addEventListener("change", load);
  return { card, load };
}

function proactiveScreen(view) {
  const surges = surgesCard();
  const repeated = repeatedCard();
  const source = sourceGovernanceCard();
  view.appendChild(h("div", { class: "stack" }, surges.card, repeated.card, source.card));
  surges.load();
  repeated.load();
  source.load();
}
