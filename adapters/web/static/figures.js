/* 本单位考核 (a unit's own figures) in the web UI: the unit's seven rates with their numerators
 * and denominators, its place among the units of its kind (第 k / n 名（街道）, or 样本不足) with
 * the ranking's rule in words, and its rates month by month. Everything comes from
 * GET /api/units/{unit}/figures (the same numbers as /api/stats with the unit filter); a unit
 * may read only its own. Loaded after app.js and uses its helpers (h, get, label, renderRates
 * ...); like app.js, every text goes on the page as a text node. */
"use strict";

TABS.unit.push(["figures", "本单位考核"]);
EXTRA_SCREENS.figures = figuresScreen;

// The periods a unit looks at most: this month, last month, the year so far, the last 12 months.
function figuresPeriod(preset) {
  const t = new Date();
  const y = t.getFullYear(), m = t.getMonth();
  const tomorrow = dateStr(new Date(y, m, t.getDate() + 1));
  if (preset === "month") return [dateStr(new Date(y, m, 1)), tomorrow];
  if (preset === "last_month") return [dateStr(new Date(y, m - 1, 1)), dateStr(new Date(y, m, 1))];
  if (preset === "year") return [dateStr(new Date(y, 0, 1)), tomorrow];
  return [dateStr(new Date(y - 1, m + 1, 1)), tomorrow];
}

// The rates a month row shows, in the vocabulary's order.
function figuresMonthTable(rows) {
  if (!rows.length) return h("div", { class: "empty" }, "所选期间没有数据");
  const rates = terms("rates");
  const body = h("tbody", {}, rows.map((r) => h("tr", { "data-testid": "figures-month", "data-month": r.key },
    h("td", {}, r.name || r.key),
    h("td", { class: "num" }, String(r.dispatched ?? 0)),
    rates.map((t) => {
      const v = rateOf(r, t.code);
      return h("td", { class: "num", title: v.den ? `${v.num} / ${v.den}` : "无数据" }, fmtRate(v.value));
    }))));
  return h("div", { class: "table-wrap" }, h("table", { "data-testid": "figures-months" },
    h("thead", {}, h("tr", {}, h("th", {}, "月份"), h("th", { class: "num" }, label("counts", "dispatched") + "量"), rates.map((t) => h("th", { class: "num" }, t.label)))),
    body));
}

function figuresScreen(view) {
  const me = state.meta.me;
  const preset = h("select", { "data-testid": "figures-preset" },
    [["months12", "近12个月"], ["month", "本月"], ["last_month", "上月"], ["year", "今年"], ["custom", "自定义"]].map(([v, t]) => h("option", { value: v }, t)));
  const [f0, t0] = figuresPeriod("months12");
  const from = h("input", { type: "date", "data-testid": "figures-from", value: f0 });
  const to = h("input", { type: "date", "data-testid": "figures-to", value: t0 });
  preset.addEventListener("change", () => { if (preset.value === "custom") return; [from.value, to.value] = figuresPeriod(preset.value); load(); });
  // Dates typed by hand are a period of their own.
  for (const input of [from, to]) input.addEventListener("change", () => { preset.value = "custom"; });
  const bar = h("form", { class: "card filters" }, h("label", {}, "期间", preset), h("label", {}, "起始日期", from), h("label", {}, "截止日期（不含）", to),
    h("button", { type: "submit", class: "primary", "data-testid": "figures-refresh" }, "查询"));
  const head = h("div", { class: "card", "data-testid": "figures-head" }, h("div", { class: "empty" }, "正在加载…"));
  const rates = h("div", { class: "rates", "data-testid": "rates" });
  const kpis = h("div", { class: "kpis card", "data-testid": "kpis" });
  const trend = h("div", { class: "card chart" }, h("h2", {}, "月度趋势"));
  const months = h("div", { class: "card" }, h("h2", {}, "各月七率"));
  view.appendChild(h("div", { class: "stack" }, bar, head, kpis, rates, trend, months));

  const newest = newestOnly();
  const load = async () => {
    let data;
    try {
      data = await newest(get(`/api/units/${encodeURIComponent(me.unit)}/figures` + qs({ from: from.value, to: to.value })));
    } catch (e) {
      if (e !== STALE) clear(head).appendChild(h("div", { class: "error" }, e.message));
      return;
    }
    const place = data.place || {};
    // append() skips the lines that do not apply (Element.append would print "null").
    append(clear(head), [
      h("div", { class: "row" },
        h("h2", {}, `本单位考核 · ${data.name}`),
        h("span", { class: "badge " + (place.ranked ? "blue" : "amber"), "data-testid": "figures-place" }, place.text || "—"),
        place.ranked && place.score !== null ? h("span", { "data-testid": "figures-score" }, "综合得分 ", h("strong", {}, (place.score * 100).toFixed(1))) : null,
        h("span", { class: "muted small right" }, `${data.from || "—"} 至 ${data.to || "—"}（不含）`)),
      (place.unscored || []).length ? h("p", { class: "muted small" }, `无数据、未计分：${place.unscored.map((f) => label("rates", f)).join("、")}`) : null,
      h("p", { class: "muted small", "data-testid": "figures-definition" }, `名次口径：${data.definition}`)]);
    renderRates(rates, kpis, data.figures);
    // The dashboard's trend drawing (tables.js), by month over the unit's period.
    const chart = h("div", {});
    clear(trend).append(h("h2", {}, "月度趋势"), chart);
    drawTrend(chart, { granularity: "month", rows: (data.months || []).map((r) => ({ ...r, name: r.name || r.key })) });
    clear(months).append(h("h2", {}, "各月七率"), figuresMonthTable(data.months || []));
    // Tells a watcher (and the browser test) that fresh numbers are on screen.
    head.dataset.generation = String(Number(head.dataset.generation || 0) + 1);
  };
  bar.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  load();
}
