/* 报表 (日报/周报/月报, a custom range) and 工单打印 in the web UI. The server draws the A4 sheet
 * (GET /api/reports?format=html, GET /api/cases/{id}/print; adapters/reports/html.py, escaped,
 * no script); this file fetches it with the caller's token and opens it in a tab of its own
 * (never parsed into the app's page). Loaded after app.js and uses its helpers (h, qs,
 * toast, terms, state ...). */
"use strict";

for (const role of ["leader", "admin"]) TABS[role].push(["reports", "报表"]);
EXTRA_SCREENS.reports = reportsScreen;

// The caller's headers, as app.js's api() sends them on a GET.
function reportHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

async function fetchOrThrow(path) {
  const res = await fetch(path, { headers: reportHeaders(), credentials: "same-origin" });
  if (!res.ok) {
    if (res.status === 401) logout();
    throw new ApiError(res.status, await res.json().catch(() => null));
  }
  return res;
}

// The server's A4 page opened as a document of its own in a new tab (a blob: address holding
// what the server sent), never parsed into the app's page. The tab is opened at the click, which
// popup blockers allow, and pointed at the page once it has come; print: the tab's print dialog.
async function openSheet(path, print) {
  const win = window.open("", "_blank");
  if (!win) { toast("浏览器阻止了新标签页，请允许本站弹出窗口后重试", true); return false; }
  try {
    const res = await fetchOrThrow(path);
    const url = URL.createObjectURL(new Blob([await res.text()], { type: "text/html;charset=utf-8" }));
    win.location.href = url;
    if (print) {
      const ready = setInterval(() => {
        if (win.closed) { clearInterval(ready); return; }
        if (win.location.href === url && win.document.readyState === "complete") { clearInterval(ready); win.print(); }
      }, 200);
    }
    return true;
  } catch (e) {
    win.close();
    toast(e.message, true);
    return false;
  }
}

// RFC 5987 filename* first (the Chinese name), else the ASCII one.
function fileNameOf(res, fallback) {
  const cd = res.headers.get("Content-Disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(cd);
  if (star) { try { return decodeURIComponent(star[1]); } catch { /* the plain one below */ } }
  const plain = /filename="([^"]+)"/i.exec(cd);
  return plain ? plain[1] : fallback;
}

function pad2(n) { return String(n).padStart(2, "0"); }
function isoWeekOf(d) {
  const t = new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(t.getUTCFullYear(), 0, 1));
  return `${t.getUTCFullYear()}-W${pad2(Math.ceil(((t - yearStart) / 86400000 + 1) / 7))}`;
}

function reportsScreen(view) {
  const today = new Date();
  const ymd = `${today.getFullYear()}-${pad2(today.getMonth() + 1)}-${pad2(today.getDate())}`;
  const kind = h("select", { "data-testid": "report-kind" },
    terms("report_kinds").map((t) => h("option", { value: t.code }, t.label)));
  kind.value = "month";
  const month = h("input", { type: "month", value: ymd.slice(0, 7), "data-testid": "report-month" });
  const week = h("input", { type: "week", value: isoWeekOf(today), "data-testid": "report-week" });
  const day = h("input", { type: "date", value: ymd, "data-testid": "report-day" });
  const from = h("input", { type: "date", value: ymd.slice(0, 8) + "01", "data-testid": "report-from" });
  const to = h("input", { type: "date", value: ymd, "data-testid": "report-to" });
  const street = h("select", { "data-testid": "report-street" }, h("option", { value: "" }, "全部街道"),
    state.meta.units.filter((u) => u.kind === "street").map((u) => h("option", { value: u.id }, u.name)));
  const category = h("select", { "data-testid": "report-category" }, h("option", { value: "" }, "全部分类"),
    state.meta.categories.map((c) => h("option", { value: c.code }, c.name)));
  const channel = h("select", { "data-testid": "report-channel" }, h("option", { value: "" }, "全部渠道"),
    terms("channels").map((t) => h("option", { value: t.code }, t.label)));
  const pickers = {
    month: h("label", {}, "月份", month),
    week: h("label", {}, "周", week),
    day: h("label", {}, "日期", day),
    range: h("span", { class: "row" }, h("label", {}, "起始日期", from), h("label", {}, "截止日期（不含）", to)),
  };
  const showPicker = () => { for (const [k, el] of Object.entries(pickers)) el.hidden = k !== kind.value; };
  kind.addEventListener("change", showPicker);
  showPicker();
  const params = () => {
    const p = { street: street.value, category: category.value, channel: channel.value };
    if (kind.value === "range") return { ...p, from: from.value, to: to.value };
    return { ...p, period: { month: month.value, week: week.value, day: day.value }[kind.value] };
  };
  const download = h("button", { type: "button", "data-testid": "report-xlsx" }, "下载 Excel");
  const printBtn = h("button", { type: "button", "data-testid": "report-print" }, "打印");
  const bar = h("form", { class: "card filters report-controls" },
    h("label", {}, "报表", kind), Object.values(pickers),
    h("label", {}, "街道", street), h("label", {}, "分类", category), h("label", {}, "渠道", channel),
    h("button", { type: "submit", class: "primary", "data-testid": "report-show" }, "生成"), download, printBtn);
  const host = h("div", { class: "card muted", "data-testid": "report-host" }, "选择报表期间和筛选条件，点击“生成”在新标签页打开 A4 报表（可打印或另存为 PDF）。");
  view.append(bar, host);

  const open = async (print) => {
    if (await openSheet("/api/reports" + qs({ ...params(), format: "html" }), print)) {
      clear(host).appendChild(document.createTextNode("报表已在新标签页打开；在该页按 Ctrl+P 打印或另存为 PDF。"));
    }
  };
  bar.addEventListener("submit", (ev) => { ev.preventDefault(); open(false); });
  download.addEventListener("click", async () => {
    try {
      const res = await fetchOrThrow("/api/reports" + qs({ ...params(), format: "xlsx" }));
      const a = h("a", { href: URL.createObjectURL(await res.blob()), download: fileNameOf(res, "三事报表.xlsx") });
      document.body.appendChild(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    } catch (e) {
      toast(e.message, true);
    }
  });
  printBtn.addEventListener("click", () => open(true));
}

// ---- 工单打印 ------------------------------------------------------------------------------------

// The case detail's 打印 button: the case's A4 page in a new tab, its print dialog open.
async function printCase(caseId) {
  await openSheet(`/api/cases/${encodeURIComponent(caseId)}/print`, true);
}
