// 附件与属地地图 (attachments and the area maps). Loaded after app.js; it adds to app.js
// through the hooks app.js offers (window.sanshiCasePanels, sanshiScreens, sanshiEvidence,
// sanshiIntakeFiles, sanshiEventText), so the two files change independently.
//
// The maps are SVG drawn here from the district config's polygons (GET /api/places/areas): no
// tile server can be reached from the centre's network and nothing may load from a CDN, and a
// map of 20-odd polygons with a pin needs no library: an equirectangular projection scaled by
// cos(latitude) is exact enough at a district's size.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  let areasCache = null;
  const areasOnce = () => (areasCache = areasCache || get("/api/places/areas").catch(() => ({ features: [] })));

  function projector(features, width, height, pad) {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    const walk = (coords, fn) => (typeof coords[0] === "number" ? fn(coords) : coords.forEach((c) => walk(c, fn)));
    for (const f of features) walk(f.geometry.coordinates, ([x, y]) => { minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y); });
    const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
    const scale = Math.min((width - 2 * pad) / ((maxX - minX) * k || 1), (height - 2 * pad) / ((maxY - minY) || 1));
    return ([x, y]) => [pad + (x - minX) * k * scale, height - pad - (y - minY) * scale];
  }

  function pathOf(geometry, project) {
    const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    return polys.map((rings) => rings.map((ring) => "M" + ring.map((p) => project(p).map((v) => v.toFixed(1)).join(",")).join("L") + "Z").join("")).join("");
  }

  function centroid(geometry, project) {
    const ring = (geometry.type === "Polygon" ? geometry.coordinates : geometry.coordinates[0])[0];
    let sx = 0, sy = 0;
    for (const p of ring.slice(0, -1)) { const [x, y] = project(p); sx += x; sy += y; }
    return [sx / (ring.length - 1), sy / (ring.length - 1)];
  }

  function svgEl(tag, attrs, text) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // ---- the case's pin on its area ----------------------------------------------------------------

  function placePanel(c) {
    const box = h("div", { class: "place-box", "data-testid": "case-place" });
    Promise.all([areasOnce(), get(`/api/cases/${c.id}/place`)]).then(([areas, place]) => {
      const communities = (areas.features || []).filter((f) => f.properties.kind === "community");
      const street = place.street;
      const shown = communities.filter((f) => !street || f.properties.street === street);
      if (!shown.length || (!place.point && !place.locality)) return;
      const W = 360, H = 220;
      const project = projector(shown, W, H, 12);
      const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "map", role: "img", "aria-label": "工单位置示意图" });
      for (const f of shown) {
        const mine = f.properties.unit === place.locality;
        svg.appendChild(svgEl("path", { d: pathOf(f.geometry, project), class: mine ? "area mine" : "area plain", "data-unit": f.properties.unit }));
        const [x, y] = centroid(f.geometry, project);
        svg.appendChild(svgEl("text", { x, y, class: "area-label", "text-anchor": "middle" }, f.properties.name));
      }
      if (place.point) {
        const [x, y] = project([place.point.lng, place.point.lat]);
        svg.appendChild(svgEl("circle", { cx: x, cy: y, r: 6, class: "pin", "data-testid": "case-pin" }));
      }
      box.appendChild(h("h3", {}, "位置（边界为示意）"));
      box.appendChild(svg);
    }).catch(() => {});
    return box;
  }

  // ---- attachments on the case page ----------------------------------------------------------------

  // The files need the Bearer token, so they are fetched, not linked. A preview becomes a data:
  // URL (the page's CSP allows img-src 'self' data:, not blob:); the original opens as a blob
  // in a tab of its own.
  // A shared or personal token as Bearer; a person's cookie session (password or demo login)
  // with its CSRF token instead, as api() does.
  function authInit(method = "GET") {
    const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
    if (!state.token && state.csrf && method !== "GET") headers["X-CSRF-Token"] = state.csrf;
    return { method, headers, credentials: "same-origin" };
  }
  async function fetchBlob(url) {
    const res = await fetch(url, authInit());
    if (!res.ok) throw new Error(`附件读取失败（${res.status}）`);
    return res.blob();
  }
  async function fetchDataUrl(url) {
    const blob = await fetchBlob(url);
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }
  async function fetchBlobUrl(url) { return URL.createObjectURL(await fetchBlob(url)); }

  function fmtSize(n) { return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(n / 1024)) + " KB"; }

  function attachmentsPanel(c) {
    const box = h("div", { class: "attachments", "data-testid": "attachments" });
    get(`/api/cases/${c.id}/attachments`).then((list) => {
      const photos = (c.extra && Array.isArray(c.extra.photos)) ? c.extra.photos : [];
      if (!list.length && !photos.length) return;
      box.appendChild(h("h3", {}, `附件（${list.length}）`));
      const grid = h("div", { class: "attachment-grid" });
      for (const a of list) {
        const item = h("figure", { class: "attachment", "data-testid": "attachment", "data-kind": a.kind, "data-stage": a.stage });
        if (a.preview_url) {
          const img = h("img", { alt: a.name, "data-testid": "attachment-preview" });
          fetchDataUrl(a.preview_url).then((u) => { img.src = u; }).catch(() => {});
          item.appendChild(img);
        }
        const open = h("button", { type: "button", class: "link" }, a.name);
        open.addEventListener("click", async () => {
          try { window.open(await fetchBlobUrl(a.url), "_blank", "noopener"); } catch (e) { toast(e.message, true); }
        });
        item.appendChild(h("figcaption", {}, h("span", { class: "badge" + (a.stage === "evidence" ? " green" : "") }, a.stage_name), " ", open,
          h("span", { class: "muted small" }, ` ${a.kind_name} · ${fmtSize(a.size)}${a.unit_name ? " · " + a.unit_name : ""}${a.public ? " · 已公开" : ""}`)));
        if (state.meta?.me?.role === "operator" && a.kind === "image") {
          const toggle = h("button", { type: "button", class: "link small" }, a.public ? "取消公开" : "设为公开");
          toggle.addEventListener("click", async () => {
            try { await post(`${a.url}/public`, { public: !a.public }); toast(a.public ? "附件已取消公开" : "附件已设为公开（公共空间类工单经 Open311 展示预览图）"); showCase(box.closest("[data-testid=case-detail]").parentElement, c.id); } catch (e) { toast(e.message, true); }
          });
          item.appendChild(toggle);
        }
        grid.appendChild(item);
      }
      box.appendChild(grid);
      if (photos.length && state.meta?.me?.role === "operator") photoFetches(c, box);
      else if (photos.length) box.appendChild(h("p", { class: "muted small" }, "APP 照片链接（按原样保存）：", ...photos.map((p) => h("code", {}, " " + p))));
    }).catch(() => {});
    return box;
  }

  // The app's photo URLs and what became of each (adapters/attachments/queue.py): fetched after
  // intake from the allowed hosts only, failures with their reason.
  const FETCH_STATUS = { stored: "已保存为附件", pending: "待抓取", failed: "抓取失败", kept: "未抓取（主机不在允许列表，按原样保存）", not_queued: "未抓取" };
  function photoFetches(c, box) {
    get(`/api/cases/${c.id}/photo-fetches`).then((r) => {
      const rows = r.photos.map((p) => h("li", { "data-testid": "photo-fetch", "data-status": p.status },
        h("span", { class: "badge" + (p.status === "stored" ? " green" : p.status === "failed" ? " red" : p.status === "pending" ? " amber" : "") }, FETCH_STATUS[p.status] || p.status),
        " ", h("code", {}, p.url),
        p.reason && p.status !== "kept" ? h("span", { class: "muted small" }, `（${p.reason}${p.attempts ? `，已尝试 ${p.attempts} 次` : ""}）`) : null));
      box.appendChild(h("div", { class: "small" }, h("strong", {}, "APP 照片链接"), h("ul", {}, rows)));
    }).catch(() => {});
  }

  async function uploadFiles(caseId, input) {
    const stored = [];
    for (const file of input.files || []) {
      const body = new FormData();
      body.append("file", file, file.name);
      const res = await fetch(`/api/cases/${caseId}/attachments`, { ...authInit("POST"), body });
      let data = null;
      try { data = await res.json(); } catch { data = null; }
      if (!res.ok) throw new Error(`${file.name}：${(data && data.message) || "上传失败（" + res.status + "）"}`);
      stored.push(data);
    }
    return stored;
  }

  const ACCEPT = "image/jpeg,image/png,image/webp,image/gif,audio/*,application/pdf";
  // 办结凭证: the resolve form's file input; the photos go up before the case is resolved.
  window.sanshiEvidence = (c) => {
    const input = h("input", { type: "file", multiple: true, accept: ACCEPT, "data-testid": "evidence-files" });
    return { el: h("label", { class: "muted small" }, "办结凭证（照片/录音/PDF，可多选） ", input), upload: () => uploadFiles(c.id, input) };
  };
  // 受理附件: the intake form's file input, sent once the case exists.
  window.sanshiIntakeFiles = () => {
    const input = h("input", { type: "file", multiple: true, accept: ACCEPT, "data-testid": "intake-files" });
    return { el: h("label", { class: "full" }, "附件（照片/录音/PDF，可多选）", input), upload: (caseId) => uploadFiles(caseId, input) };
  };
  window.sanshiCasePanels = [attachmentsPanel, placePanel];
  window.sanshiEventText = (e) => {
    if (e.type === "AttachmentAdded") return `${e.data.name || ""}（${e.data.stage === "evidence" ? "办结凭证" : "受理附件"}）`;
    if (e.type === "AttachmentPublicity") return e.data.public ? "设为公开" : "取消公开";
    return null;
  };

  // ---- the leader's map: case counts by area --------------------------------------------------------

  function mapScreen(view) {
    const to = new Date();
    const from = new Date(to.getFullYear(), to.getMonth() - 2, 1);
    const f = { from: h("input", { type: "date", value: dateStr(from) }), to: h("input", { type: "date", value: dateStr(new Date(to.getTime() + 86400000)) }) };
    const card = h("div", { class: "card", "data-testid": "area-map" }, h("div", { class: "row" }, h("h2", {}, "区域工单分布"), h("label", {}, "自 ", f.from), h("label", {}, "至 ", f.to),
      h("span", { class: "muted small right" }, "边界为示意图（配置文件中的 GeoJSON），非测绘数据")));
    const body = h("div", {});
    card.appendChild(body);
    const newest = newestOnly();
    const load = async () => {
      clear(body).appendChild(h("div", { class: "empty" }, "正在加载…"));
      try {
        const [areas, counts] = await newest(Promise.all([areasOnce(), get("/api/places/counts" + qs({ from: f.from.value, to: f.to.value }))]));
        const communities = (areas.features || []).filter((x) => x.properties.kind === "community");
        if (!communities.length) { clear(body).appendChild(hint("本区配置中没有区域边界（places.geojson）。")); return; }
        const W = 900, H = 420;
        const project = projector(communities, W, H, 16);
        const max = Math.max(1, ...communities.map((x) => counts.communities[x.properties.unit]?.received || 0));
        const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "map big", role: "img", "aria-label": "各社区工单数" });
        for (const x of communities) {
          const n = counts.communities[x.properties.unit] || { received: 0, open: 0 };
          const shade = n.received ? 0.15 + 0.75 * (n.received / max) : 0;
          const path = svgEl("path", { d: pathOf(x.geometry, project), class: "area heat", "fill-opacity": shade.toFixed(2), "data-unit": x.properties.unit, "data-count": n.received });
          path.appendChild(svgEl("title", {}, `${x.properties.name}：受理 ${n.received} 件，未办结 ${n.open} 件`));
          svg.appendChild(path);
          const [cx, cy] = centroid(x.geometry, project);
          svg.appendChild(svgEl("text", { x: cx, y: cy - 4, class: "area-label", "text-anchor": "middle" }, x.properties.name));
          svg.appendChild(svgEl("text", { x: cx, y: cy + 14, class: "area-count", "text-anchor": "middle", "data-testid": `count-${x.properties.unit}` }, String(n.received)));
        }
        const rows = Object.entries(counts.streets).sort((a, b) => b[1].received - a[1].received);
        clear(body).appendChild(svg);
        body.appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "area-table" },
          h("thead", {}, h("tr", {}, ["街道", "受理", "未办结"].map((t) => h("th", {}, t)))),
          h("tbody", {}, rows.map(([id, n]) => h("tr", {}, h("td", {}, unitName(id)), h("td", {}, String(n.received)), h("td", {}, String(n.open)))),
            h("tr", {}, h("td", {}, "未定属地"), h("td", {}, String(counts.unplaced.received)), h("td", {}, String(counts.unplaced.open)))))));
      } catch (e) {
        if (e !== STALE) clear(body).appendChild(h("div", { class: "error" }, e.message));
      }
    };
    f.from.addEventListener("change", load);
    f.to.addEventListener("change", load);
    view.appendChild(card);
    load();
  }

  window.sanshiScreens = { map: mapScreen };
  for (const role of ["leader", "admin", "operator"]) if (TABS[role] && !TABS[role].some((t) => t[0] === "map")) TABS[role].push(["map", "区域地图"]);
})();
