// 来源 (the source) of a case that did not come from a resident: 媒体监督's report, 诉前调解's
// referral, 镇呼市应's requesting street. Loaded after places.js; added to app.js's case page
// through its hook (window.sanshiCasePanels), so app.js does not change for it.
// The fields are the channel adapters' (docs/channels.md): extra.report_*, extra.court,
// extra.dispute_type, extra.mediation_deadline, extra.requesting_unit, extra.department_asked.
"use strict";

(function () {
  const row = (term, value, testid) =>
    value ? [h("dt", {}, term), h("dd", testid ? { "data-testid": testid } : {}, value)] : null;

  function sourcePanel(c) {
    const x = c.extra || {};
    let title = null;
    let rows = [];
    if (c.channel === "media") {
      title = "媒体报道";
      rows = [
        row("媒体名称", x.report_outlet, "source-outlet"),
        row("报道标题", x.report_title, "source-title"),
        // As text, not a link: the UI never sets an address from data (tests/faults/test_api_abuse.py).
        row("原文链接", x.report_url, "source-report-url"),
        row("发布时间", x.report_published_at ? fmtTime(x.report_published_at) : null),
      ];
    } else if (c.channel === "court") {
      title = "诉前调解委派";
      rows = [
        row("委派法院", x.court),
        row("纠纷类型", x.dispute_type, "source-dispute-type"),
        row("调解期限", x.mediation_deadline ? fmtTime(x.mediation_deadline) : null),
        row("案号", "已加密保存（仅存其密钥散列）"),
      ];
    } else if (c.channel === "town") {
      title = "镇呼市应";
      const asked = x.department_asked ? (x.department_configured ? unitName(x.department_asked) : x.department_asked) : null;
      rows = [
        row("请求单位", x.requesting_unit ? unitName(x.requesting_unit) : null, "source-requesting-unit"),
        row("请求部门", asked, "source-department"),
      ];
    }
    if (!title) return null;
    return h("div", { class: "case-source", "data-testid": "case-source" }, h("h3", {}, title), h("dl", {}, ...rows));
  }

  window.sanshiCasePanels = [...(window.sanshiCasePanels || []), sourcePanel];
})();
