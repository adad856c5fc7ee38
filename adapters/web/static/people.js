/* 人员账号 (named people): password login with a cookie session, and the admin's people screen.
 * Loaded after app.js and uses its helpers (h, clear, $, get, post, api, toast, label, unitName,
 * state, login, logout). The session cookie is HttpOnly: the page holds only the CSRF token the
 * login answer gives (state.csrf), which api() sends with every request that changes something. */
"use strict";

// ---- login with account and password ------------------------------------------------------------

function personLoginForm() {
  const account = h("input", { name: "login", autocomplete: "username", required: true, "data-testid": "login-name", placeholder: "登录名" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "login-password" });
  const error = h("p", { class: "error", role: "alert", "data-testid": "person-login-error" });
  const form = h("form", { "data-testid": "person-login-form" },
    h("label", {}, "登录名", account),
    h("label", {}, "密码", password),
    h("button", { type: "submit", class: "primary", "data-testid": "person-login" }, "账号登录"),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    try {
      const res = await fetch("/api/session", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ login: account.value.trim(), password: password.value }),
      });
      const data = await res.json().catch(() => null);
      if (!res.ok) throw new ApiError(res.status, data);
      password.value = "";
      await enterAsPerson(data.csrf_token);
    } catch (e) {
      error.textContent = e.status === 401 ? "登录名或密码错误" : e.message;
    }
  });
  return form;
}

async function enterAsPerson(csrf) {
  sessionStorage.removeItem("sanshi-token");
  state.csrf = csrf;
  await login(null);
}

async function restoreSession() {
  // A page reload while the cookie still holds a session (GET needs no CSRF token).
  const res = await fetch("/api/session", { credentials: "same-origin" });
  if (!res.ok) return false;
  const me = await res.json();
  if (!me.csrf_token) return false;
  // Someone logged in with the form while this answer was on its way (a slow server): entering
  // again would redraw the screen under their hands and drop the case they opened.
  if (state.meta || state.csrf) return true;
  await enterAsPerson(me.csrf_token);
  return true;
}

document.addEventListener("DOMContentLoaded", async () => {
  const section = $("login");
  const tokenForm = $("login-form");
  section.insertBefore(personLoginForm(), tokenForm);
  const divider = h("p", { class: "muted small", "data-testid": "token-login-hint" }, "或使用访问令牌登录（演示用共享令牌）：");
  section.insertBefore(divider, tokenForm);
  let opts = { shared_tokens: true, session: false };
  try {
    opts = await (await fetch("/api/auth/options", { credentials: "same-origin" })).json();
  } catch { /* keep both forms */ }
  if (!opts.shared_tokens) { tokenForm.hidden = true; divider.hidden = true; }
  if (opts.demo) demoButtons(section).catch(() => {});
  if (opts.session && !sessionStorage.getItem("sanshi-token")) restoreSession().catch(() => {});
});

// 演示登录: only when the server says it runs in demo mode (never in production), one button per
// role that opens a real session of that named person (adapters/http/demo_login.py).
async function demoButtons(section) {
  const res = await fetch("/api/demo/accounts", { credentials: "same-origin" });
  if (!res.ok) return;
  const people = await res.json();
  if (!people.length) return;
  const error = h("p", { class: "error", role: "alert" });
  const buttons = people.map((p) => {
    const b = h("button", { type: "button", "data-testid": `demo-login-${p.login}`, "data-role": p.role, title: `以${p.name}（${p.label}）的身份登录` },
      h("strong", {}, p.label), h("span", { class: "muted small" }, ` ${p.name}`));
    b.addEventListener("click", async () => {
      error.textContent = "";
      try {
        const r = await fetch("/api/demo/session", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ login: p.login }),
        });
        const data = await r.json().catch(() => null);
        if (!r.ok) throw new ApiError(r.status, data);
        await enterAsPerson(data.csrf_token);
      } catch (e) { error.textContent = e.message; }
    });
    return b;
  });
  const box = h("div", { class: "demo-login", "data-testid": "demo-login" },
    h("p", { class: "small" }, h("strong", {}, "演示模式"), "：点击一个角色，即以该演示人员的身份登录（操作记在其名下）。"),
    h("div", { class: "demo-buttons" }, buttons), error);
  section.insertBefore(box, section.querySelector("form"));
}

// ---- 人员管理 (admin) -----------------------------------------------------------------------------

function roleOptions(sel) {
  for (const t of terms("roles")) sel.appendChild(h("option", { value: t.code }, t.label));
  return sel;
}

function unitOptions(sel) {
  sel.appendChild(h("option", { value: "" }, "（中心）"));
  for (const u of state.meta.units) if (u.kind !== "centre") sel.appendChild(h("option", { value: u.id }, u.name));
  return sel;
}

function shownOnce(title, secret) {
  return h("div", { class: "card", "data-testid": "shown-once" },
    h("strong", {}, title), " ", h("code", { "data-testid": "secret" }, secret),
    h("p", { class: "muted small" }, "只显示这一次，请当面或通过安全渠道交给本人；系统只保存其散列值。"));
}

async function peopleScreen(view) {
  const out = h("div", {});
  const f = {
    login: h("input", { required: true, placeholder: "登录名（小写字母、数字）", "data-testid": "person-login-new" }),
    name: h("input", { required: true, placeholder: "姓名", "data-testid": "person-name" }),
    role: roleOptions(h("select", { "data-testid": "person-role" })),
    unit: unitOptions(h("select", { "data-testid": "person-unit" })),
    password: h("input", { type: "password", placeholder: "初始密码（留空则自动生成）", autocomplete: "new-password", "data-testid": "person-password" }),
  };
  const form = h("form", { class: "card", "data-testid": "person-form" }, h("h2", {}, "新建人员账号"),
    h("div", { class: "form-grid" },
      h("label", {}, "登录名", f.login), h("label", {}, "姓名", f.name),
      h("label", {}, "角色", f.role), h("label", {}, "所属单位（承办单位人员必选）", f.unit),
      h("label", { class: "full" }, "初始密码", f.password)),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "create-person" }, "新建")));
  const list = h("div", { class: "card" });
  const detail = h("div", {});
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const p = await post("/api/people", { login: f.login.value.trim(), name: f.name.value.trim(), role: f.role.value, unit: f.unit.value || null, password: f.password.value || null });
      toast(`已新建账号 ${p.name}（${p.role_name}${p.unit_name && p.role === "unit" ? "，" + p.unit_name : ""}）`);
      clear(out);
      if (p.password) out.appendChild(shownOnce(`${p.name} 的初始密码：`, p.password));
      form.reset();
      await load();
    } catch (e) { toast(e.message, true); }
  });
  const newest = newestOnly();
  async function load() {
    clear(list).appendChild(h("h2", {}, "人员"));
    let rows;
    try { rows = await newest(get("/api/people")); } catch (e) { if (e === STALE) return; throw e; }
    if (!rows.length) { list.appendChild(h("p", { class: "muted" }, "尚无人员账号")); return; }
    list.appendChild(h("div", { class: "table-wrap" }, h("table", { "data-testid": "people-table" },
      h("thead", {}, h("tr", {}, ["登录名", "姓名", "角色", "单位", "状态"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((p) => {
        const tr = h("tr", { "data-person": p.login }, h("td", {}, p.login), h("td", {}, p.name), h("td", {}, p.role_name),
          h("td", {}, p.role === "unit" ? p.unit_name : "中心"), h("td", {}, p.disabled ? h("span", { class: "badge red" }, "已停用") : h("span", { class: "badge green" }, "正常")));
        tr.addEventListener("click", () => personDetail(detail, p.id, load));
        return tr;
      })))));
  }
  view.appendChild(h("div", { class: "grid2" }, h("div", { class: "stack" }, form, out, list), detail));
  await load().catch((e) => toast(e.message, true));
}

async function personDetail(box, id, reload) {
  // The person clicked last: a slower answer for the one clicked before must not replace it
  // (its buttons would act on the other account).
  box.newest = box.newest || newestOnly();
  let p;
  try { p = await box.newest(get(`/api/people/${id}`)); } catch (e) { if (e === STALE) return; throw e; }
  clear(box);
  const once = h("div", {});
  const act = async (path, body, message) => {
    try {
      const r = await post(`/api/people/${id}/${path}`, body);
      toast(message(r));
      await personDetail(box, id, reload);
      if (r.password) box.insertBefore(shownOnce(`${p.name} 的新密码：`, r.password), box.firstChild.nextSibling);
      if (r.token) box.insertBefore(shownOnce(`${p.name} 的个人令牌：`, r.token), box.firstChild.nextSibling);
      await reload();
    } catch (e) { toast(e.message, true); }
  };
  const role = roleOptions(h("select", {}));
  role.value = p.role;
  const unit = unitOptions(h("select", {}));
  unit.value = p.role === "unit" ? p.unit : "";
  box.appendChild(h("div", { class: "card", "data-testid": "person-detail" },
    h("h2", {}, `${p.name}（${p.login}）`),
    once,
    h("dl", {}, h("dt", {}, "角色"), h("dd", {}, p.role_name), h("dt", {}, "单位"), h("dd", {}, p.role === "unit" ? p.unit_name : "中心"),
      h("dt", {}, "状态"), h("dd", {}, p.disabled ? "已停用" : "正常")),
    h("div", { class: "row" },
      p.disabled
        ? h("button", { type: "button", "data-testid": "enable-person", on: { click: () => act("enable", undefined, () => `已启用 ${p.name} 的账号`) } }, "启用")
        : h("button", { type: "button", "data-testid": "disable-person", on: { click: () => act("disable", undefined, () => `已停用 ${p.name} 的账号，其登录和令牌即时失效`) } }, "停用"),
      h("button", { type: "button", "data-testid": "reset-password", on: { click: () => act("password", {}, () => `已重置 ${p.name} 的密码`) } }, "重置密码"),
      h("button", { type: "button", "data-testid": "issue-token", on: { click: () => act("tokens", undefined, () => `已为 ${p.name} 发放个人令牌`) } }, "发放个人令牌")),
    h("div", { class: "row" }, role, unit,
      h("button", { type: "button", on: { click: () => act("role", { role: role.value, unit: unit.value || null }, (r) => `已将 ${p.name} 调整为 ${r.role_name}${r.role === "unit" ? "（" + r.unit_name + "）" : ""}`) } }, "调整角色")),
    h("h3", {}, "个人令牌"),
    (p.tokens || []).length ? h("ul", {}, p.tokens.map((t) => h("li", {}, h("code", {}, t.token_id), " ",
      t.revoked ? h("span", { class: "badge" }, "已吊销")
        : h("button", { type: "button", class: "link", on: { click: () => act(`tokens/${t.token_id}/revoke`, undefined, () => `已吊销令牌 ${t.token_id}`) } }, "吊销"))))
      : h("p", { class: "muted" }, "无"),
    h("h3", {}, "变更记录"),
    h("ol", { class: "timeline", "data-testid": "person-history" }, (p.history || []).map((e) =>
      h("li", {}, h("span", { class: "when" }, fmtTime(e.at)), h("strong", {}, e.type_name), ` · ${e.by_name}`)))));
}
