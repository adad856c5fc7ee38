/* 领导驾驶舱 (issue 19): the comparison table (对比表) with a row picker, sortable columns and
 * export; every numerator and denominator opens the cases behind it (下钻, paged); the trend
 * by day, week or month with the periods still open drawn dashed; the overdue list filtered,
 * paged and exported. Each rate's definition (口径) is a hover away: the vocabulary's
 * `definition`, the same text as docs/rates.md.
 *
 * Loaded after app.js and uses its helpers (h, s, get, qs, label, terms, caseTable, COL,
 * showCase, fmtRate, rateOf, niceMax ...); every text goes on the page as a text node.
 *
 * Sorting is done here, on all rows: a table is never paged (a row per street, community,
 * unit, category, type, channel or month: at most a few hundred), so a click re-orders at once
 * without a round trip; the export passes the same sort to the server (GET /api/stats?sort=),
 * so the file is in the order on screen. */
"use strict";

function rateDefinition(code) {
  return terms("rates").find((t) => t.code === code)?.definition || "";
}

// A download from the API with the page's credentials, saved under the server's file name
// (Content-Disposition filename*, RFC 5987: it names the period and the filters).
async function downloadFrom(path, fallback) {
  const res = await fetch(path, { headers: state.token ? { Authorization: `Bearer ${state.token}` } : {}, credentials: "same-origin" });
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  const disposition = res.headers.get("Content-Disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  const plain = /filename="([^"]+)"/i.exec(disposition);
  const name = star ? decodeURIComponent(star[1]) : plain ? plain[1] : fallback;
  const blob = await res.blob();
  const a = h("a", { href: URL.createObjectURL(blob), download: name });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

function pager(total, offset, size, go, testid) {
  return h("div", { class: "row" },
    h("span", { "data-testid": `${testid}-total` }, `共 ${total} 件`),
    total ? h("span", { class: "muted" }, `第 ${Math.min(total, offset + 1)}–${Math.min(total, offset + size)} 件`) : null,
    h("button", { type: "button", disabled: offset === 0, "data-testid": `${testid}-prev`, on: { click: () => go(Math.max(0, offset - size)) } }, "上一页"),
    h("button", { type: "button", disabled: offset + size >= total, "data-testid": `${testid}-next`, on: { click: () => go(offset + size) } }, "下一页"));
}

// ---- 对比表 ------------------------------------------------------------------------------------

const TABLE_COUNTS = ["received", "accepted"];

function sortTableRows(rows, sort, descending) {
  // As the server's sort (projections/leader_queries.sort_rows): a rate by its value, rows
  // without a value last whichever way; ties by key.
  const byKey = [...rows].sort((a, b) => String(a.key).localeCompare(String(b.key)));
  if (!sort) return rows;
  const isRate = terms("rates").some((t) => t.code === sort);
  const val = (r) => (isRate ? rateOf(r, sort).value : sort === "name" ? r.name : r[sort]);
  const known = byKey.filter((r) => val(r) !== null && val(r) !== undefined);
  const unknown = byKey.filter((r) => val(r) === null || val(r) === undefined);
  known.sort((a, b) => {
    const x = val(a), y = val(b);
    const c = typeof x === "string" ? x.localeCompare(y, "zh-CN") : x - y;
    return descending ? -c : c;
  });
  return [...known, ...unknown];
}

function comparisonCard(params) {
  const dims = terms("stats_dimensions");
  const by = h("select", { "data-testid": "table-by" }, dims.map((t) => h("option", { value: t.code }, t.label)));
  by.value = "unit";
  const exportBtn = h("button", { type: "button", "data-testid": "export-csv", title: "按当前的行、筛选与排序导出，文件名写明期间与筛选条件" }, "导出CSV");
  const body = h("div", {});
  const drill = h("div", { "data-testid": "drill" });
  const card = h("div", { class: "card", "data-testid": "comparison" },
    h("div", { class: "row" }, h("h2", {}, "对比表"), h("label", {}, "行 ", by),
      h("span", { class: "muted small" }, "点击表头排序；点击分子或分母查看对应工单"), h("span", { class: "right" }, exportBtn)),
    body, drill);
  let sort = null;
  let descending = true;
  let data = null;
  let period = {};

  const headCell = (code, text, title) => {
    const mark = sort === code ? (descending ? " ▼" : " ▲") : "";
    return h("th", { class: "num sortable", title: title || null, "data-sort": code, on: { click: () => {
      descending = sort === code ? !descending : true;
      sort = code;
      draw();
    } } }, text + mark);
  };
  const cellLink = (row, field, n, title) => h("button", {
    type: "button", class: "link cell-link", title, "data-field": field,
    on: { click: (ev) => { ev.stopPropagation(); openDrill(row, field, n); } },
  }, String(n));

  function draw() {
    clear(body);
    if (!data) return;
    const rows = sortTableRows(data.rows, sort, descending);
    if (!rows.length) { body.appendChild(h("div", { class: "empty", "data-testid": "comparison-table" }, "所选期间没有数据")); return; }
    const rates = terms("rates");
    const head = h("tr", {},
      h("th", { class: "sortable", "data-sort": "name", on: { click: () => { descending = sort === "name" ? !descending : false; sort = "name"; draw(); } } },
        label("stats_dimensions", data.by) + (sort === "name" ? (descending ? " ▼" : " ▲") : "")),
      TABLE_COUNTS.map((c) => headCell(c, label("counts", c))),
      rates.map((t) => headCell(t.code, t.label, t.definition)));
    const tbody = h("tbody", {});
    for (const r of [...rows, { ...data.total, key: null, name: `合计（${data.total.name}）`, total: true }]) {
      tbody.appendChild(h("tr", { class: r.total ? "total-row" : "", "data-key": r.key ?? "" },
        h("td", {}, r.name),
        TABLE_COUNTS.map((c) => h("td", { class: "num", "data-field": c }, cellLink(r, c, r[c], `${label("counts", c)}：查看这 ${r[c]} 件`))),
        rates.map((t) => {
          const v = rateOf(r, t.code);
          const den = label("counts", t.denominator);
          const num = t.numerator.map((n) => label("counts", n)).join("+");
          return h("td", { class: "num rate-cell", "data-rate": t.code, title: t.definition },
            h("div", { class: "pct" }, fmtRate(v.value)),
            h("div", { class: "frac small" },
              cellLink(r, `${t.code}.numerator`, v.num, `分子（${num}）：查看对应工单`), " / ",
              cellLink(r, `${t.code}.denominator`, v.den, `分母（${den}）：查看对应工单`)));
        })));
    }
    body.appendChild(h("div", { class: "table-wrap" }, h("table", { class: "comparison", "data-testid": "comparison-table" }, h("thead", {}, head), tbody)));
  }

  function openDrill(row, field, shown) {
    const size = 20;
    const detail = h("div", {});
    drill.newest = drill.newest || newestOnly();
    const go = async (offset) => {
      const p = { ...period, field, limit: size, offset };
      if (!row.total) { p.by = data.by; p.key = row.key; }
      let page;
      try { page = await drill.newest(get("/api/stats/cases" + qs(p))); } catch (e) { if (e !== STALE) clear(drill).appendChild(h("div", { class: "error", "data-testid": "drill-error" }, e.message)); return; }
      const counted = page.count !== page.total ? h("span", { class: "muted" }, `计 ${page.count}（一件工单可计多次，如派单两次）`) : null;
      clear(drill).append(
        h("div", { class: "row drill-head" },
          h("h3", {}, `${row.name} · ${page.count_name}`),
          h("span", { class: "badge blue", "data-testid": "drill-count" }, String(page.count)), counted,
          h("button", { type: "button", class: "link right", on: { click: () => clear(drill) } }, "收起")),
        pager(page.total, offset, size, go, "drill"),
        caseTable(page.rows, [COL.received, COL.text, COL.status, COL.category, COL.unit,
          { label: "计数", num: true, render: (c) => String(c.n) }], (id) => showCase(detail, id), "drill-table"),
        detail);
      drill.dataset.shown = String(shown);
    };
    go(0);
  }

  const newest = newestOnly();
  const load = async (p) => {
    period = { ...p };
    clear(drill);
    try {
      data = await newest(get("/api/stats" + qs({ ...p, by: by.value })));
      draw();
    } catch (e) {
      if (e === STALE) return;
      // A combination the views cannot answer (a unit's counts cut by a street...): the
      // server's message says why.
      data = null;
      clear(body).appendChild(h("div", { class: "error", "data-testid": "comparison-error" }, e.message));
    }
    // Tells a watcher (and the browser test) that this answer is on screen.
    card.dataset.generation = String(Number(card.dataset.generation || 0) + 1);
  };
  by.addEventListener("change", () => { sort = null; load(params()); });
  exportBtn.addEventListener("click", async () => {
    try {
      await downloadFrom("/api/stats" + qs({ ...params(), by: by.value, sort: sort || "", order: descending ? "desc" : "asc", format: "csv" }), "七率对比表.csv");
    } catch (e) { toast(e.message, true); }
  });
  return { card, load };
}

// ---- 趋势 --------------------------------------------------------------------------------------

function trendCard() {
  const grain = h("select", { "data-testid": "trend-granularity" },
    h("option", { value: "day" }, "按日"), h("option", { value: "week" }, "按周"), h("option", { value: "month" }, "按月"));
  grain.value = "month";
  const body = h("div", {});
  const card = h("div", { class: "card chart", "data-testid": "trend" },
    h("div", { class: "row" }, h("h2", {}, "趋势"), h("label", { class: "right" }, "粒度 ", grain)), body);
  let last = {};
  const newest = newestOnly();
  const load = async (p) => {
    last = p;
    let data;
    try { data = await newest(get("/api/stats/trend" + qs({ ...p, granularity: grain.value }))); } catch (e) { if (e !== STALE) clear(body).appendChild(h("div", { class: "error" }, e.message)); return; }
    drawTrend(body, data);
  };
  grain.addEventListener("change", () => load(last));
  return { card, load };
}

function drawTrend(body, data) {
  clear(body);
  const rows = data.rows || [];
  if (!rows.some((r) => r.received)) { body.appendChild(h("div", { class: "empty" }, "所选期间没有数据")); }
  const W = 640, H = 240, L = 44, R = 44, T = 14, B = 28;
  const maxN = niceMax(Math.max(0, ...rows.map((r) => r.received || 0)));
  const step = (W - L - R) / Math.max(1, rows.length);
  const y = (v) => T + (H - T - B) * (1 - v / maxN);
  const yr = (v) => T + (H - T - B) * (1 - v);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${label("counts", "received")}量与${label("rates", "handling_rate")}、${label("rates", "satisfaction_rate")}趋势`, "data-testid": "trend-chart" });
  for (let i = 0; i <= 4; i++) {
    const yy = T + (H - T - B) * i / 4;
    svg.appendChild(s("line", { x1: L, x2: W - R, y1: yy, y2: yy, stroke: "#eceff3" }));
    svg.appendChild(s("text", { x: L - 6, y: yy + 4, "text-anchor": "end", "font-size": 10, fill: "#8a94a3" }, String(Math.round(maxN * (1 - i / 4)))));
    svg.appendChild(s("text", { x: W - R + 6, y: yy + 4, "font-size": 10, fill: "#8a94a3" }, `${100 - i * 25}%`));
  }
  const every = Math.ceil(rows.length / 12);
  const lines = { handling_rate: [], satisfaction_rate: [] };
  rows.forEach((r, i) => {
    const x = L + i * step;
    const bw = Math.min(36, Math.max(2, step * 0.6));
    const n = r.received || 0;
    const note = r.open ? "（未结束，仍在办理）" : r.partial ? "（不完整）" : "";
    if (n > 0) {
      const bar = s("rect", { x: x + (step - bw) / 2, y: y(n), width: bw, height: H - B - y(n), rx: 2,
        fill: r.open ? "#d6e6f7" : "#9ec0e8", stroke: r.open ? "#6f9fd4" : "none", "stroke-dasharray": r.open ? "3 2" : "none", "data-open": r.open ? "1" : "0" });
      bar.appendChild(s("title", {}, `${r.name} ${label("counts", "received")} ${n} 件${note}`));
      svg.appendChild(bar);
    }
    if (i % every === 0) {
      const text = data.granularity === "month" ? r.key.slice(2).replace("-", "/") : data.granularity === "week" ? r.key.slice(5) : r.key.slice(5).replace("-", "/");
      svg.appendChild(s("text", { x: x + step / 2, y: H - 10, "text-anchor": "middle", "font-size": 10, fill: r.open ? "#1d5fa8" : "#5b6573" }, text + (r.open ? "*" : "")));
    }
    for (const code of Object.keys(lines)) {
      const v = rateOf(r, code).value;
      if (v !== null && v !== undefined) lines[code].push({ x: x + step / 2, y: yr(v), r, v });
    }
  });
  const colors = { handling_rate: "#1d5fa8", satisfaction_rate: "#e08a00" };
  for (const [code, pts] of Object.entries(lines)) {
    // Segments into an open period are dashed: its rate is still moving, not a collapse.
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1], b = pts[i];
      svg.appendChild(s("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, stroke: colors[code], "stroke-width": 2, "stroke-dasharray": b.r.open ? "5 4" : "none" }));
    }
    for (const p of pts) {
      const dot = s("circle", { cx: p.x, cy: p.y, r: 3.5, fill: p.r.open ? "#fff" : colors[code], stroke: colors[code], "stroke-width": 1.5 });
      dot.appendChild(s("title", {}, `${p.r.name} ${label("rates", code)} ${fmtRate(p.v)}（${rateOf(p.r, code).num}/${rateOf(p.r, code).den}）${p.r.open ? "（未结束，仍在办理）" : ""}`));
      svg.appendChild(dot);
    }
  }
  body.appendChild(svg);
  const open = rows.filter((r) => r.open);
  body.appendChild(h("div", { class: "legend" },
    h("span", {}, h("span", { class: "swatch sw-bar" }), `${label("counts", "received")}量（左轴）`),
    h("span", { title: rateDefinition("handling_rate") }, h("span", { class: "swatch sw-handling" }), `${label("rates", "handling_rate")}（右轴）`),
    h("span", { title: rateDefinition("satisfaction_rate") }, h("span", { class: "swatch sw-satisfaction" }), `${label("rates", "satisfaction_rate")}（右轴）`),
    open.length ? h("span", { class: "open-note", "data-testid": "trend-open" }, h("span", { class: "swatch sw-open" }), `虚线/*：未结束的时段（${open.map((r) => r.name).join("、")}），工单仍在办理，各率尚未定型`) : null));
}

// ---- 超期工单 -----------------------------------------------------------------------------------

function overdueCard(params) {
  const size = 20;
  const body = h("div", {});
  const exportBtn = h("button", { type: "button", "data-testid": "overdue-export" }, "导出超期工单");
  const count = h("span", { class: "badge red", "data-testid": "overdue-count" }, "");
  const card = h("div", { class: "card", "data-testid": "overdue" },
    h("div", { class: "row" }, h("h2", {}, "超期工单"), count, h("span", { class: "muted small" }, "按上方筛选（受理日期、街道、社区、分类、渠道、诉求类型）"), h("span", { class: "right" }, exportBtn)),
    body);
  let p = {};
  const newest = newestOnly();
  const go = async (offset) => {
    let page;
    try { page = await newest(get("/api/overdue" + qs({ ...p, limit: size, offset }))); } catch (e) { if (e !== STALE) clear(body).appendChild(h("div", { class: "error" }, e.message)); return; }
    count.textContent = `${page.total} 件`;
    const detail = h("div", {});
    clear(body).append(pager(page.total, offset, size, go, "overdue"),
      caseTable(page.rows, [COL.handle, COL.unit, { label: "街道/社区", render: (r) => [r.street_name, r.community_name].filter(Boolean).join(" · ") || "—" }, COL.text, COL.status],
        (id) => showCase(detail, id), "overdue-table"),
      detail);
  };
  exportBtn.addEventListener("click", async () => {
    try { await downloadFrom("/api/overdue" + qs({ ...params(), format: "csv" }), "超期工单.csv"); } catch (e) { toast(e.message, true); }
  });
  return { card, load: (q) => { p = q; return go(0); } };
}
