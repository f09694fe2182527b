// ccm admin page: plain JS, no build step. Talks to the JSON admin API under /api/ (docs/admin-api.md).
"use strict";

(() => {
  const TOKEN_KEY = "ccm_admin_token";
  const REDACTED = "********";

  // provider types (grouped, with their default base URLs), OAuth sign-in flows and the
  // [router] slots: all from the server (GET /api/catalog), filled in by loadCatalog()
  let PROVIDER_TYPES = []; // [[group, [[type, default base URL], ...]], ...]
  let DEFAULT_BASE = new Map();
  let NO_KEY_TYPES = new Set();
  let LOCATED_TYPES = new Set(); // types that take project_id + location instead of a base URL
  let OAUTH_FLOWS = new Map(); // flow name -> title
  let FLOW_FOR_TYPE = new Map(); // provider type -> the flow it signs in with by default
  let ROUTER_SLOTS = []; // [[key, hint], ...]
  let catalogLoaded = false;

  const EXAMPLE_REQUEST = {
    model: "claude-haiku-4-5",
    max_tokens: 512,
    messages: [{ role: "user", content: "Write a five-word title for this chat." }],
  };

  // ------------------------------------------------------------------ helpers

  const $ = (sel, root = document) => root.querySelector(sel);

  /** Build an element: el("td", {class: "x", title: "y"}, "text", childNode, ...). Text is never parsed as HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), guard(v));
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, String(v));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }

  /** Wrap an (async) handler so that nothing it throws escapes as an unhandled error. */
  function guard(fn) {
    return function guarded(...args) {
      try {
        const r = fn.apply(this, args);
        if (r && typeof r.then === "function") r.then(null, showGlobalError);
        return r;
      } catch (e) {
        showGlobalError(e);
        return undefined;
      }
    };
  }

  function on(target, event, fn) {
    target.addEventListener(event, guard(fn));
  }

  function debounce(fn, ms) {
    let timer = null;
    const g = guard(fn);
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => g(...args), ms);
    };
  }

  function showGlobalError(e) {
    const box = $("#global-msg");
    const msg = e && e.message ? e.message : String(e);
    clear(box, el("strong", {}, "Page error: "), msg, " ",
      el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => { box.hidden = true; } }, "dismiss"));
    box.hidden = false;
  }

  window.addEventListener("unhandledrejection", (ev) => {
    ev.preventDefault();
    showGlobalError(ev.reason);
  });
  window.addEventListener("error", (ev) => {
    showGlobalError(ev.error || ev.message);
  });

  function getToken() {
    try {
      return localStorage.getItem(TOKEN_KEY) || "";
    } catch {
      return "";
    }
  }

  function setConn(state, text) {
    const c = $("#conn");
    c.className = "conn conn-" + state;
    c.textContent = text;
  }

  /**
   * Call the admin API. Never throws: resolves to {ok, status, data, message, diagnostics}.
   * Every write carries Content-Type: application/json.
   */
  /** The server's catalog of provider types, OAuth flows and router slots (once). */
  async function ensureCatalog() {
    if (catalogLoaded) return true;
    const res = await api("GET", "/api/catalog");
    if (!res.ok || !res.data || !Array.isArray(res.data.groups)) return false;
    const c = res.data;
    const types = c.groups.flatMap((g) => g.types);
    PROVIDER_TYPES = c.groups.map((g) => [g.name, g.types.map((t) => [t.type, t.base_url])]);
    DEFAULT_BASE = new Map(types.map((t) => [t.type, t.base_url]));
    NO_KEY_TYPES = new Set(types.filter((t) => !t.needs_key).map((t) => t.type));
    LOCATED_TYPES = new Set(types.filter((t) => t.requires === "project_id+location").map((t) => t.type));
    FLOW_FOR_TYPE = new Map(types.filter((t) => t.oauth_flow).map((t) => [t.type, t.oauth_flow]));
    OAUTH_FLOWS = new Map(c.oauth_flows.map((f) => [f.name, f.title]));
    ROUTER_SLOTS = c.router_slots.map((slot) => [slot.key, slot.hint]);
    catalogLoaded = true;
    const type = $("#prov-type").value || "anthropic";
    const flow = $("#prov-oauth-flow").value || "claude-max";
    fillProviderTypes();
    clear($("#prov-oauth-flow"), [...OAUTH_FLOWS].map(([name, title]) => el("option", { value: name }, title)));
    $("#prov-type").value = type;
    $("#prov-oauth-flow").value = flow;
    updateBaseHint();
    return true;
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = getToken();
    if (token) headers.Authorization = "Bearer " + token;
    const init = { method, headers, cache: "no-store", credentials: "same-origin" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      if (body !== undefined) init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      setConn("down", "offline");
      return { ok: false, status: 0, data: null, diagnostics: [], message: "cannot reach ccm (" + (e && e.message ? e.message : e) + ")" };
    }
    let text = "";
    try {
      text = await resp.text();
    } catch {
      text = "";
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (resp.ok) {
      setConn("ok", "connected");
      return { ok: true, status: resp.status, data, diagnostics: [], message: "" };
    }
    // the API's messages say what to do: show them as they are, without codes
    let message = "";
    if (data && typeof data === "object" && data.error) {
      const err = data.error;
      message = (typeof err === "string" ? err : err.message) || "";
    } else if (typeof data === "string" && data.trim()) {
      message = data.trim().slice(0, 300);
    }
    if (!message) {
      message = resp.status >= 500
        ? "ccm could not do this (it answered " + resp.status + "); its log says why."
        : "ccm refused this (it answered " + resp.status + ").";
    }
    if (resp.status === 401 || resp.status === 403) {
      setConn("warn", "not authorised");
      if (!token && resp.status === 401) message += ": enter it under Admin token in Overview";
    } else {
      setConn("ok", "connected");
    }
    const diagnostics = data && typeof data === "object" && Array.isArray(data.diagnostics) ? data.diagnostics : [];
    return { ok: false, status: resp.status, data, diagnostics, message };
  }

  function diagText(d) {
    let where = "";
    if (d.line) where = d.line + (d.column ? ":" + d.column : "");
    return where;
  }

  /** A list of diagnostics: "path:3:22 error: message". */
  function diagList(diags) {
    if (!diags || !diags.length) return null;
    return el("ul", { class: "diag-list" }, diags.map((d) => el("li", { class: "diag " + (d.severity === "warning" ? "warning" : "error") },
      el("span", { class: "diag-where mono" }, (d.path ? shortPath(d.path) + ":" : "") + (diagText(d) || "?")),
      el("span", { class: "diag-sev" }, d.severity || "error"),
      el("span", { class: "diag-msg" }, d.message || ""),
    )));
  }

  /**
   * Show an API result. Success: the container is cleared and, for an action (okText given),
   * a toast says what happened. Failure: the message (and diagnostics) in the container, and
   * a toast as well for an action (okText given, or `action`).
   */
  function showResult(container, res, okText, action) {
    if (res.ok) {
      clear(container);
      if (okText) toast("ok", okText);
    } else {
      clear(container, el("div", { class: "alert alert-error", role: "alert" },
        el("div", { class: "alert-title" }, res.message),
        diagList(res.diagnostics)));
      if (okText || action) toast("error", res.message);
    }
  }

  /** A message in the corner that goes away by itself (errors stay longer). */
  function toast(kind, text, ms) {
    const box = $("#toasts");
    const t = el("div", { class: "toast toast-" + kind, role: kind === "error" ? "alert" : null },
      el("span", { class: "toast-text" }, text));
    const remove = () => t.remove();
    t.append(el("button", { class: "toast-close", type: "button", "aria-label": "dismiss", onclick: remove }, "×"));
    box.append(t);
    while (box.children.length > 4) box.firstChild.remove();
    setTimeout(remove, ms || (kind === "error" ? 12000 : 5000));
    return t;
  }

  /** Run `fn` with `btn` showing a spinner (and disabled) until it settles. */
  async function busy(btn, fn) {
    if (!btn) return fn();
    btn.disabled = true;
    btn.classList.add("busy");
    btn.setAttribute("aria-busy", "true");
    try {
      return await fn();
    } finally {
      btn.disabled = false;
      btn.classList.remove("busy");
      btn.removeAttribute("aria-busy");
    }
  }

  function showError(container, message) {
    clear(container, el("div", { class: "alert alert-error", role: "alert" }, el("div", { class: "alert-title" }, message)));
  }

  function shortPath(p) {
    return String(p);
  }

  function fmtUptime(s) {
    if (typeof s !== "number" || !isFinite(s)) return "–";
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) return `${d}d ${h}h ${m}m`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${sec}s`;
    return `${sec}s`;
  }

  function toDate(t) {
    if (t === null || t === undefined || t === "") return null;
    if (typeof t === "number") return new Date(t > 1e12 ? t : t * 1000);
    const d = new Date(t);
    return isNaN(d.getTime()) ? null : d;
  }

  function fmtTime(t) {
    const d = toDate(t);
    if (!d) return String(t ?? "–");
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  /** US dollars: null (no price known) is a dash, never $0; small sums keep 3 significant digits. */
  function fmtUsd(v) {
    if (typeof v !== "number" || !isFinite(v)) return "–";
    if (v === 0) return "$0.00";
    if (Math.abs(v) >= 1) return "$" + v.toFixed(2);
    return "$" + Number(v.toPrecision(3)).toString();
  }

  /** 1234 -> "1,234"; 1234567 -> "1.23M" when `short`. */
  function fmtNum(n, short) {
    if (typeof n !== "number" || !isFinite(n)) return "–";
    if (short && Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + "M";
    if (short && Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return n.toLocaleString("en-US");
  }

  function plural(n, word) {
    return fmtNum(n) + " " + word + (n === 1 ? "" : "s");
  }

  function fmtMs(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return "–";
    return ms >= 10000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms) + " ms";
  }

  /** A local date and time, to the minute: 2025-06-01 14:05. */
  function fmtDateTime(t) {
    const d = toDate(t);
    if (!d) return String(t ?? "–");
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  /** "in 59 min", "3 h ago", "in 2 days". */
  function fmtRelative(t) {
    const d = toDate(t);
    if (!d) return "";
    const ms = d.getTime() - Date.now();
    const m = Math.round(Math.abs(ms) / 60000);
    let span;
    if (m < 1) span = "less than a minute";
    else if (m < 90) span = m + " min";
    else if (m < 36 * 60) span = Math.round(m / 60) + " h";
    else span = Math.round(m / 1440) + " days";
    return ms >= 0 ? "in " + span : span + " ago";
  }

  function fmtExpiry(t) {
    const rel = fmtRelative(t);
    return fmtDateTime(t) + (rel ? " (" + rel + ")" : "");
  }

  function statusClass(status) {
    if (typeof status === "number") {
      if (status >= 200 && status < 300) return "ok";
      if (status === 0) return "err";
      return status >= 500 || status === 429 ? "err" : "warn";
    }
    const s = String(status || "").toLowerCase();
    if (["ok", "success", "200"].includes(s)) return "ok";
    if (!s) return "muted";
    return "err";
  }

  function badge(text, cls) {
    return el("span", { class: "badge badge-" + cls }, text);
  }

  /**
   * A provider's key as the API shows it: a `$VAR` reference as written, with whether the
   * variable is set (from /api/status's key_status), so a typo in its name shows; a literal
   * key stays masked.
   */
  function keyDisplay(key, status) {
    if (key === null || key === undefined || key === "") {
      return status === "none" ? el("span", { class: "muted" }, "not needed") : el("span", { class: "muted" }, "none");
    }
    const k = String(key);
    if (k.startsWith("$")) {
      const ks = String(status || "");
      const set = ks.startsWith("from ");
      const unset = ks.endsWith("is not set");
      return el("span", { class: "key-ref" }, el("code", { class: "env" }, k),
        set ? el("span", { class: "badge badge-ok", title: "the variable is set where ccm runs" }, "set")
          : unset ? el("span", { class: "badge badge-err", title: ks + " where ccm runs: check its name, or set it and restart ccm" }, "not set")
            : null);
    }
    return el("code", { title: "a literal key: never shown" }, k);
  }

  /** A delete button that asks for a second click before it acts. */
  function confirmButton(label, action) {
    let armed = false;
    let timer = null;
    const btn = el("button", { class: "btn btn-small btn-danger-ghost", type: "button" }, label);
    on(btn, "click", async () => {
      if (!armed) {
        armed = true;
        btn.textContent = "Confirm?";
        btn.classList.add("armed");
        timer = setTimeout(() => {
          armed = false;
          btn.textContent = label;
          btn.classList.remove("armed");
        }, 3000);
        return;
      }
      clearTimeout(timer);
      armed = false;
      btn.textContent = label;
      btn.classList.remove("armed");
      await busy(btn, action);
    });
    return btn;
  }

  // ------------------------------------------------------------------ navigation

  const TABS = ["overview", "usage", "requests", "providers", "models", "rules", "test", "logs"];
  let current = null;
  const loaders = {};
  const leavers = {};

  function showTab() {
    let name = location.hash.replace(/^#/, "");
    if (!TABS.includes(name)) name = "overview";
    if (current && current !== name && leavers[current]) leavers[current]();
    current = name;
    for (const t of TABS) $("#tab-" + t).hidden = t !== name;
    for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.tab === name);
    document.title = "ccm admin · " + name[0].toUpperCase() + name.slice(1);
    if (loaders[name]) guard(loaders[name])();
  }

  // ------------------------------------------------------------------ overview

  let overviewTimer = null;
  let overviewGen = 0;
  let lastStatus = null; // the last /api/status answer, to redraw when the tokens change

  async function loadOverview() {
    await ensureCatalog();
    const gen = ++overviewGen;
    clearTimeout(overviewTimer);
    const res = await api("GET", "/api/status");
    if (gen !== overviewGen) return;
    const msg = $("#overview-msg");
    if (!res.ok) {
      showResult(msg, res);
    } else {
      // the tokens, and which providers sign in with them (status does not say)
      const [tres] = await Promise.all([fetchTokens(), fetchProviders()]);
      if (gen !== overviewGen) return;
      clear(msg);
      lastStatus = res.data || {};
      renderStatus(lastStatus);
      await Promise.all([loadCosts(), loadConnect(lastStatus)]);
      if (gen !== overviewGen) return;
      if (tres.ok) clear($("#oauth-list-msg"));
      else showResult($("#oauth-list-msg"), tres);
      renderTokens();
    }
    if (current === "overview") overviewTimer = setTimeout(guard(loadOverview), 5000);
  }

  leavers.overview = () => {
    overviewGen++;
    clearTimeout(overviewTimer);
  };

  function renderStatus(s) {
    $("#st-version").textContent = s.version ?? "–";
    $("#st-uptime").textContent = fmtUptime(s.uptime_s);
    const models = Array.isArray(s.models) ? s.models.length : s.models;
    $("#st-models").textContent = models ?? "–";
    const requests = Array.isArray(s.requests) ? s.requests.length : (s.requests && typeof s.requests === "object" ? (s.requests.total ?? JSON.stringify(s.requests)) : s.requests);
    $("#st-requests").textContent = requests ?? "–";
    $("#st-config").textContent = s.config_path || "–";
    $("#st-rules").textContent = s.rules_path || "generated from [router] in the config";
    $("#st-rules-version").textContent = s.rules_version ?? "–";
    const errBox = $("#reload-error");
    if (s.last_reload_error) {
      clear(errBox, el("div", { class: "alert-title" }, "Last reload failed — the previous config is still serving"),
        el("pre", { class: "mono" }, String(s.last_reload_error)));
      errBox.hidden = false;
      clear($("#st-reload"), badge("failed", "err"));
    } else {
      errBox.hidden = true;
      clear($("#st-reload"), badge("ok", "ok"));
    }
    const tbody = $("#st-providers tbody");
    const provs = Array.isArray(s.providers) ? s.providers : [];
    clear(tbody, provs.length ? provs.map((p) => el("tr", {},
      el("td", { class: "strong" }, p.name),
      el("td", {}, p.provider_type ?? ""),
      el("td", { class: "hide-narrow" }, p.dialect ?? ""),
      el("td", {}, p.enabled === false ? badge("disabled", "muted") : badge("enabled", "ok")),
      el("td", { class: "mono small hide-narrow wrap" }, p.base_url || ""),
      el("td", {}, oauthProvider(p.name) ? oauthKeyDisplay(oauthProvider(p.name)) : keyStatusBadge(p.key_status), keyLines(p.keys)),
      el("td", {}, circuitBadge(p.health)),
      el("td", { class: "num" }, p.recent_failures ? badge(String(p.recent_failures), "err") : el("span", { class: "muted" }, "0")),
      el("td", { class: "small wrap last-error" }, p.last_error ? el("span", { class: "text-err" }, p.last_error) : el("span", { class: "muted" }, "–")),
    )) : el("tr", {}, el("td", { colspan: 9, class: "empty" }, "No providers configured.")));
  }

  /** Today's and this week's cost from the usage ledger. */
  async function loadCosts() {
    const res = await api("GET", "/api/usage/summary");
    const d = res.ok && res.data && typeof res.data === "object" ? res.data : null;
    for (const span of ["today", "week"]) {
      const value = $("#st-cost-" + span);
      const sub = $("#st-cost-" + span + "-sub");
      value.title = "";
      if (!d) {
        value.textContent = "–";
        sub.textContent = res.message || "";
      } else if (d.enabled === false) {
        value.textContent = "–";
        sub.textContent = "ledger off";
        value.title = d.message || "";
      } else {
        const t = d[span] || {};
        value.textContent = t.requests && t.cost_usd === null ? "–" : fmtUsd(t.cost_usd ?? 0);
        sub.textContent = plural(t.requests || 0, "request") + (t.unpriced_requests ? " · " + fmtNum(t.unpriced_requests) + " without a price" : "");
        value.title = span === "week" ? "since Monday 00:00" : "since midnight";
      }
    }
  }

  /** How to point Claude Code at this server: `ccm code`, or the variables by hand. */
  async function loadConnect(status) {
    const res = await api("GET", "/api/config");
    const server = res.ok && res.data && res.data.server ? res.data.server : {};
    const key = server.api_key;
    let token = "ccm-local";
    let hint = "Without [server] api_key ccm takes any client key; the token keeps Claude Code from asking you to log in.";
    if (typeof key === "string" && key.startsWith("$")) {
      token = '"' + key + '"';
      hint = `The token is [server] api_key, read from ${key} in your shell.`;
    } else if (key) {
      token = "'<your [server] api_key>'";
      hint = "Put your [server] api_key in place of the placeholder (the page never shows keys).";
    }
    const cfg = status && status.config_path ? String(status.config_path) : "";
    const standard = /[\\/]\.claude-code-mux[\\/]config\.toml$/.test(cfg);
    const quoted = /^[\w@%+=:,./~-]+$/.test(cfg) ? cfg : "'" + cfg.replace(/'/g, "'\\''") + "'";
    snippet($("#connect-code"), cfg && !standard ? "ccm code --config " + quoted : "ccm code");
    snippet($("#connect-env"), `ANTHROPIC_BASE_URL=${location.origin} ANTHROPIC_AUTH_TOKEN=${token} ANTHROPIC_API_KEY= claude`);
    $("#connect-hint").textContent = hint + " ANTHROPIC_API_KEY is emptied so a real Anthropic key in your shell is not sent as well.";
  }

  /** A command in a box with a Copy button. */
  function snippet(pre, text) {
    if (pre.textContent === text && pre.parentNode.querySelector(".copy")) return;
    pre.textContent = text;
    const box = pre.parentNode;
    for (const b of box.querySelectorAll(".copy")) b.remove();
    const btn = el("button", { class: "btn btn-small copy", type: "button" }, "Copy");
    on(btn, "click", async () => {
      try {
        await navigator.clipboard.writeText(text);
        toast("ok", "Copied.", 2000);
      } catch {
        const range = document.createRange();
        range.selectNodeContents(pre);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        toast("ok", "Selected: press Ctrl+C (⌘C) to copy.", 4000);
      }
    });
    box.append(btn);
  }

  /** The provider's circuit breaker: closed (healthy), half-open (probing) or open (skipped). */
  function circuitBadge(h) {
    if (!h || typeof h !== "object" || !h.circuit) return el("span", { class: "muted" }, "–");
    const cls = h.circuit === "closed" ? "ok" : h.circuit === "open" ? "err" : "warn";
    const title = [
      typeof h.ok === "number" ? h.ok + " ok" : null,
      typeof h.failed === "number" ? h.failed + " failed" : null,
      h.consecutive_failures ? h.consecutive_failures + " in a row" : null,
    ].filter(Boolean).join(", ");
    return el("span", { class: "badge badge-" + cls, title: title || null }, h.circuit);
  }

  /** A key pool: one line per key, by fingerprint (never the key): ok, resting until, removed. */
  function keyLines(keys) {
    if (!Array.isArray(keys) || keys.length < 2 && !(keys[0] && keys[0].state !== "ok")) return null;
    return el("div", { class: "small" }, ...keys.map((k) => {
      const name = (k.fingerprint ? "fp:" + k.fingerprint : "") + (k.key ? " " + k.key : "");
      let state = badge("ok", "ok");
      if (k.state === "resting") {
        const until = new Date(k.until * 1000).toLocaleTimeString();
        state = badge("resting until " + until, "warn");
      } else if (k.state === "removed") state = badge("removed: " + (k.reason || ""), "err");
      else if (k.state === "fault") state = badge(k.reason || "fault", "err");
      return el("div", { class: "key-line mono" }, name.trim() + " ", state);
    }));
  }

  function keyStatusBadge(ks) {
    if (ks === null || ks === undefined) return el("span", { class: "muted" }, "–");
    const s = String(ks);
    // ccm answers "set", "from $VAR", "none" (not needed), "missing" or "$VAR is not set"
    let cls = "err";
    if (s === "set" || s.startsWith("from ")) cls = "ok";
    else if (s === "none") cls = "muted";
    return badge(s, cls);
  }

  // ------------------------------------------------------------------ OAuth tokens

  let oauthTokens = []; // GET /api/oauth/tokens: {provider_id, expires_at, is_expired, needs_refresh, flow?, project_id?}
  let tokensShown = null; // what the tokens table shows, to redraw it only when it changes

  async function fetchTokens() {
    const res = await api("GET", "/api/oauth/tokens");
    if (res.ok) oauthTokens = Array.isArray(res.data) ? res.data : [];
    return res;
  }

  function tokenFor(id) {
    return (id && oauthTokens.find((t) => t.provider_id === id)) || null;
  }

  /** The configured provider of this name when it signs in with OAuth, else null. */
  function oauthProvider(name) {
    return providers.find((p) => p.name === name && p.auth_type === "oauth") || null;
  }

  function tokenIdOf(p) {
    return p.oauth_provider || p.name;
  }

  function tokenBadge(t) {
    if (!t) return badge("not signed in", "err");
    if (t.is_expired) return el("span", { class: "badge badge-err", title: "refreshed at the next request if its refresh token still works" }, "expired");
    if (t.needs_refresh) return el("span", { class: "badge badge-warn", title: "refreshed at the next request" }, "needs refresh");
    return badge("valid", "ok");
  }

  /** The key cell of an OAuth provider: its token's state. */
  function oauthKeyDisplay(p) {
    const id = tokenIdOf(p);
    return el("span", { class: "nowrap", title: "OAuth token “" + id + "”" }, badge("OAuth", "muted"), " ", tokenBadge(tokenFor(id)));
  }

  function renderTokens(force) {
    const users = new Map();
    for (const p of providers) {
      if (p.auth_type !== "oauth") continue;
      const id = tokenIdOf(p);
      if (!users.has(id)) users.set(id, []);
      users.get(id).push(p.name);
    }
    const key = JSON.stringify([oauthTokens, [...users]]);
    const tbody = $("#oauth-tokens tbody");
    // the periodic redraw leaves the table alone when nothing changed or a Delete awaits its confirmation
    if (!force && (key === tokensShown || tbody.querySelector(".armed"))) return;
    tokensShown = key;
    if (!oauthTokens.length) {
      clear(tbody, el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No OAuth tokens. Sign in from a provider's form (Authentication: OAuth sign-in).")));
      return;
    }
    clear(tbody, oauthTokens.map((t) => {
      const id = t.provider_id;
      const refresh = el("button", { class: "btn btn-small", type: "button" }, "Refresh");
      on(refresh, "click", () => refreshToken(id, refresh));
      const by = users.get(id) || [];
      return el("tr", { dataset: { token: id } },
        el("td", { class: "strong mono" }, id),
        el("td", {}, t.flow ? OAUTH_FLOWS.get(t.flow) || t.flow : el("span", { class: "muted" }, "–"),
          t.project_id ? el("span", { class: "sub muted small mono" }, "project " + t.project_id) : null),
        el("td", {}, by.length ? by.join(", ") : el("span", { class: "muted" }, "no provider")),
        el("td", { class: "nowrap", title: t.expires_at || null }, fmtExpiry(t.expires_at)),
        el("td", {}, tokenBadge(t)),
        el("td", { class: "actions" }, refresh, confirmButton("Delete", () => deleteToken(id))));
    }));
  }

  async function reloadTokens() {
    const res = await fetchTokens();
    if (res.ok) clear($("#oauth-list-msg"));
    else showResult($("#oauth-list-msg"), res);
    renderTokens(true);
    if (current === "overview" && lastStatus) renderStatus(lastStatus);
    if (current === "providers") renderProviders();
    updateOAuthStatus();
  }

  async function refreshToken(id, btn) {
    const res = await busy(btn, () => api("POST", "/api/oauth/tokens/refresh", { provider_id: id }));
    const d = res.data && typeof res.data === "object" ? res.data : {};
    await reloadTokens();
    showResult($("#oauth-msg"), res, `Refreshed token “${id}”, expires ${fmtExpiry(d.expires_at)}.`);
  }

  async function deleteToken(id) {
    const res = await api("POST", "/api/oauth/tokens/delete", { provider_id: id });
    await reloadTokens();
    showResult($("#oauth-msg"), res, `Deleted token “${id}”. Providers that used it must sign in again.`);
  }

  function renderTokenState() {
    const t = getToken();
    $("#token-state").textContent = t ? "a token is set" : "no token set";
  }

  // ------------------------------------------------------------------ providers

  let providers = [];
  let editingProvider = null; // the provider object being edited, or null when adding
  let keyStatus = new Map(); // provider name -> key_status from /api/status

  async function fetchKeyStatus() {
    const res = await api("GET", "/api/status");
    if (res.ok && res.data && Array.isArray(res.data.providers)) {
      keyStatus = new Map(res.data.providers.map((p) => [p.name, p.key_status]));
    }
    return res;
  }

  async function fetchProviders() {
    const res = await api("GET", "/api/providers");
    if (res.ok && Array.isArray(res.data)) providers = res.data;
    return res;
  }

  async function loadProviders() {
    await ensureCatalog();
    const [res, tres] = await Promise.all([fetchProviders(), fetchTokens(), fetchKeyStatus()]);
    if (!res.ok) {
      showResult($("#prov-list-msg"), res);
      return;
    }
    if (tres.ok) clear($("#prov-list-msg"));
    else showResult($("#prov-list-msg"), tres);
    renderProviders();
    updateOAuthStatus();
  }

  function renderProviders() {
    const tbody = $("#prov-table tbody");
    clear(tbody, providers.length ? providers.map((p) => el("tr", { dataset: { name: p.name } },
      el("td", { class: "strong" }, p.name),
      el("td", {}, p.provider_type),
      el("td", { class: "mono small hide-narrow wrap" }, p.base_url || el("span", { class: "muted" }, DEFAULT_BASE.get(p.provider_type) ? "default" : "–")),
      el("td", {}, enabledSwitch(p)),
      el("td", {}, p.auth_type === "oauth" ? oauthKeyDisplay(p) : keyDisplay(p.api_key, keyStatus.get(p.name))),
      el("td", { class: "actions" },
        el("button", { class: "btn btn-small", type: "button", onclick: () => editProvider(p) }, "Edit"),
        confirmButton("Delete", () => deleteProvider(p.name))),
    )) : el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No providers yet. Add one with the form.")));
  }

  /** Switch a provider on or off from the table: the same PUT as the form, with `enabled`
   * only (true is the default, so the API removes the key rather than writing `enabled = true`). */
  function enabledSwitch(p) {
    const input = el("input", { type: "checkbox", class: "prov-enabled", "aria-label": (p.enabled === false ? "enable " : "disable ") + p.name });
    input.checked = p.enabled !== false;
    const label = el("label", { class: "switch", title: input.checked ? "enabled: click to disable" : "disabled: click to enable" },
      input, el("span", { class: "track" }), el("span", { class: "switch-label" }, input.checked ? "on" : "off"));
    on(input, "change", async () => {
      const want = input.checked;
      input.disabled = true;
      const res = await api("PUT", "/api/providers/" + encodeURIComponent(p.name), providerBody(p, { enabled: want }));
      input.disabled = false;
      if (!res.ok) {
        input.checked = !want;
        showResult($("#prov-list-msg"), res, null, true);
        return;
      }
      showResult($("#prov-list-msg"), res, `Provider “${p.name}” ${want ? "enabled" : "disabled"}.`);
      await loadProviders();
    });
    return label;
  }

  /**
   * What to PUT for a provider: its view from the API with `changes`, less what the view only
   * shows (defaults the file does not have, empty lists and maps, nulls), so that an edit
   * writes only what changed.
   */
  function providerBody(p, changes) {
    const body = Object.assign({}, p, changes || {});
    for (const k of Object.keys(body)) if (body[k] === null || body[k] === undefined) delete body[k];
    if (body.auth_type === "apikey") delete body.auth_type;
    for (const k of ["models", "headers"]) {
      const v = body[k];
      if (v && typeof v === "object" && !Object.keys(v).length) delete body[k];
    }
    return body;
  }

  function fillProviderTypes() {
    const sel = $("#prov-type");
    clear(sel, PROVIDER_TYPES.map(([group, types]) => el("optgroup", { label: group },
      types.map(([t]) => el("option", { value: t }, t)))));
  }

  function updateBaseHint() {
    const t = $("#prov-type").value;
    const def = DEFAULT_BASE.get(t) || "";
    $("#prov-base").placeholder = def || "required for this type";
    $("#prov-base-hint").textContent = def ? "Empty: the type's default, " + def : "This type has no default base URL: give one.";
    if (NO_KEY_TYPES.has(t)) $("#prov-key").placeholder = "not needed for " + t;
    else $("#prov-key").placeholder = "$ENV_VAR (recommended) or the key";
  }

  function resetProviderForm() {
    editingProvider = null;
    $("#prov-form").reset();
    $("#prov-type").value = "anthropic";
    $("#prov-enabled").checked = true;
    $("#prov-form-title").textContent = "Add provider";
    $("#prov-key").type = "password";
    clear($("#prov-key-status"));
    updateBaseHint();
    resetAuth("apikey");
  }

  function editProvider(p) {
    editingProvider = p;
    $("#prov-form-title").textContent = "Edit provider “" + p.name + "”";
    $("#prov-name").value = p.name || "";
    $("#prov-type").value = p.provider_type || "anthropic";
    $("#prov-key").value = p.auth_type === "oauth" ? "" : p.api_key || "";
    keyInputFollows();
    const ks = keyStatus.get(p.name);
    clear($("#prov-key-status"), ks && String(p.api_key || "").startsWith("$") ? ["Key: ", keyDisplay(p.api_key, ks), " ", el("span", { class: "muted" }, ks)] : null);
    $("#prov-base").value = p.base_url || "";
    $("#prov-enabled").checked = p.enabled !== false;
    clear($("#prov-msg"));
    updateBaseHint();
    resetAuth(p.auth_type === "oauth" ? "oauth" : "apikey");
    $("#prov-name").focus();
  }

  /** A `$VAR` reference is shown as written; a literal key is typed blind. */
  function keyInputFollows() {
    const input = $("#prov-key");
    input.type = input.value.trim().startsWith("$") ? "text" : "password";
  }

  // ---- authentication: API key or OAuth sign-in

  // the sign-in in progress: {state, providerId, flow, paste, deadline, before}; the PKCE
  // verifier stays on the server, the state only in this variable
  const signin = { session: null, pollTimer: null, flowTouched: false };

  function authMode() {
    return $("#prov-auth-oauth").checked ? "oauth" : "apikey";
  }

  /** The token id this provider signs in under: its name (an oauth_provider set by hand is kept). */
  function tokenId() {
    const p = editingProvider;
    if (p && p.auth_type === "oauth" && p.oauth_provider) return p.oauth_provider;
    return $("#prov-name").value.trim();
  }

  function resetAuth(mode) {
    endSignIn();
    $("#prov-auth-" + mode).checked = true;
    signin.flowTouched = false;
    const known = tokenFor(mode === "oauth" ? tokenId() : "");
    const flow = known && OAUTH_FLOWS.has(known.flow) ? known.flow : FLOW_FOR_TYPE.get($("#prov-type").value);
    $("#prov-oauth-flow").value = flow || "claude-max";
    clear($("#prov-oauth-msg"));
    updateAuthFields();
  }

  function updateAuthFields() {
    const oauth = authMode() === "oauth";
    $("#prov-key-fields").hidden = oauth;
    $("#prov-oauth-fields").hidden = !oauth;
    updateOAuthStatus();
    if (oauth) guard(showFlowSetup)();
  }

  /** The type chose the flow unless the user did. */
  function followTypeFlow() {
    const flow = FLOW_FOR_TYPE.get($("#prov-type").value);
    if (flow && !signin.flowTouched && !signin.session) $("#prov-oauth-flow").value = flow;
    if (authMode() === "oauth") guard(showFlowSetup)();
  }

  // ---- a flow this ccm cannot start (no client id in its environment): what to set and why
  // GET /api/oauth/flows: [{flow, title, ready, set: [variables], client_of, otherwise, message}]
  let flowSetup = null;

  async function loadFlowSetup() {
    const res = await api("GET", "/api/oauth/flows");
    flowSetup = new Map(res.ok && Array.isArray(res.data) ? res.data.map((f) => [f.flow, f]) : []);
  }

  /** The box saying what a flow needs: the variables, why, restart, and what works instead;
   * "error" after a refused sign-in, else a note shown as soon as the flow is chosen. */
  function setupBox(s, kind) {
    const vars = Array.isArray(s.set) ? s.set : [];
    const names = [];
    vars.forEach((v, i) => names.push(i ? " and " : "", el("code", {}, String(v))));
    const error = kind === "error";
    return el("div", { class: "alert " + (error ? "alert-error" : "alert-info"), role: error ? "alert" : "status", id: "prov-oauth-setup", dataset: { flow: String(s.flow || "") } },
      el("div", { class: "alert-title" }, `This ccm cannot start a “${s.title || s.flow}” sign-in yet`),
      el("p", {}, "Set ", ...names, " in the environment ccm runs in (the shell or service that runs ",
        el("code", {}, "ccm start"), "), then restart ccm: a running ccm reads its environment once."),
      el("p", { class: "small" }, `Why: ccm ships no OAuth client ids. This sign-in needs the public client of ${s.client_of || "an application the provider trusts"}, which is another application's: whether to use it is yours to judge.`),
      s.otherwise ? el("p", { class: "small" }, codeSpans(s.otherwise)) : null);
  }

  /** Text with `backticked` parts as <code>. */
  function codeSpans(text) {
    return String(text).split("`").map((part, i) => (i % 2 ? el("code", {}, part) : part));
  }

  async function showFlowSetup() {
    if (flowSetup === null) await loadFlowSetup();
    if (authMode() !== "oauth" || signin.session) return;
    const flow = $("#prov-oauth-flow").value;
    const s = flowSetup.get(flow);
    const msg = $("#prov-oauth-msg");
    const shown = $("#prov-oauth-setup");
    if (shown && shown.dataset.flow === flow) return; // already said (maybe as the error)
    if (s && !s.ready) clear(msg, setupBox(s));
    else if (shown) clear(msg);
  }

  function updateOAuthStatus() {
    const id = tokenId();
    const p = editingProvider;
    const byHand = p && p.auth_type === "oauth" && p.oauth_provider && p.oauth_provider !== p.name;
    clear($("#prov-oauth-hint"), id
      ? ["Token id ", el("code", { id: "prov-oauth-id" }, id), byHand ? " (this provider's oauth_provider)" : " (the provider's name)",
        ". Saving writes ", el("code", {}, 'auth_type = "oauth"'), " and no key."]
      : "Give the provider a name first: the token is saved under it.");
    const t = tokenFor(id);
    clear($("#prov-oauth-status"), !id ? null
      : t ? [tokenBadge(t), " ", el("span", { class: "muted" }, "expires " + fmtExpiry(t.expires_at))]
        : el("span", { class: "muted" }, "not signed in yet"));
    // a sign-in started under another id would save its token there: start again
    if (signin.session && signin.session.providerId !== id) {
      endSignIn();
      clear($("#prov-oauth-msg"), el("div", { class: "alert alert-info" }, "The name changed: sign in again (the token is saved under the name)."));
    }
  }

  function endSignIn() {
    signin.session = null;
    clearTimeout(signin.pollTimer);
    signin.pollTimer = null;
    $("#prov-oauth-step").hidden = true;
    $("#prov-oauth-code").value = "";
    $("#prov-oauth-link").setAttribute("href", "#");
  }

  /** Open the provider's page in a new window; a blocked pop-up is not an error (the link stays). */
  function openSignInWindow(url) {
    try {
      window.open(url, "_blank", "noopener,noreferrer");
    } catch {
      /* blocked or not allowed here: the user follows the link instead */
    }
  }

  async function startSignIn() {
    const msg = $("#prov-oauth-msg");
    const id = tokenId();
    if (!id) return showError(msg, "Give the provider a name first: the token is saved under it.");
    const flow = $("#prov-oauth-flow").value;
    const btn = $("#prov-oauth-signin");
    const res = await busy(btn, () => api("POST", "/api/oauth/authorize", { flow, provider_id: id }));
    if (!res.ok && res.data && typeof res.data === "object" && res.data.setup) {
      const setup = res.data.setup;
      if (flowSetup) flowSetup.set(setup.flow, setup);
      return clear(msg, setupBox(setup, "error"));
    }
    if (!res.ok) return showResult(msg, res, null, true);
    const d = res.data && typeof res.data === "object" ? res.data : {};
    if (typeof d.url !== "string" || !/^https?:\/\//i.test(d.url) || typeof d.state !== "string" || !d.state) {
      return showError(msg, "Unexpected answer from /api/oauth/authorize (no http(s) url or no state).");
    }
    endSignIn();
    const before = tokenFor(d.provider_id || id);
    const s = {
      state: d.state,
      providerId: d.provider_id || id,
      flow: d.flow || flow,
      paste: d.paste !== false,
      deadline: Date.now() + (Number(d.expires_in) > 0 ? Number(d.expires_in) : 600) * 1000,
      before: before ? before.expires_at : null,
    };
    signin.session = s;
    const minutes = Math.max(1, Math.round((s.deadline - Date.now()) / 60000));
    clear($("#prov-oauth-instructions"),
      d.instructions || "Sign in and authorize in the window that opened.",
      s.paste ? "" : " If it does not (the page fails to load), paste the address-bar URL below.",
      el("span", { class: "muted" }, ` The sign-in is valid for ${minutes} min.`));
    $("#prov-oauth-link").setAttribute("href", d.url);
    $("#prov-oauth-step").hidden = false;
    clear(msg);
    openSignInWindow(d.url);
    if (!s.paste) watchForToken(s);
  }

  async function completeSignIn() {
    const msg = $("#prov-oauth-msg");
    const s = signin.session;
    if (!s) return showError(msg, "Start with Sign in.");
    const code = $("#prov-oauth-code").value.trim();
    if (!code) return showError(msg, "Paste the code (or the address-bar URL) first.");
    const btn = $("#prov-oauth-complete");
    const res = await busy(btn, () => api("POST", "/api/oauth/exchange", { state: s.state, code }));
    if (s !== signin.session) return undefined; // abandoned meanwhile
    if (!res.ok) return showResult(msg, res, null, true);
    const d = res.data && typeof res.data === "object" ? res.data : {};
    return signedIn(d.provider_id || s.providerId, d.expires_at);
  }

  async function signedIn(id, expiresAt) {
    endSignIn();
    const p = editingProvider;
    const inUse = p && p.auth_type === "oauth" && tokenIdOf(p) === id;
    const text = `Signed in, expires ${fmtExpiry(expiresAt)}. Token “${id}” saved` + (inUse ? "." : "; save the provider to use it.");
    clear($("#prov-oauth-msg"), el("div", { class: "alert alert-ok" }, text));
    toast("ok", text);
    await reloadTokens();
  }

  /** A flow that comes back to ccm by itself (google): watch the token list until the token is new. */
  function watchForToken(s) {
    clearTimeout(signin.pollTimer);
    signin.pollTimer = setTimeout(guard(async () => {
      if (s !== signin.session) return;
      if (Date.now() > s.deadline) {
        endSignIn();
        showError($("#prov-oauth-msg"), "This sign-in has expired: sign in again.");
        return;
      }
      const res = await fetchTokens();
      if (s !== signin.session) return;
      const t = res.ok ? tokenFor(s.providerId) : null;
      if (t && t.expires_at !== s.before) {
        await signedIn(t.provider_id, t.expires_at);
        return;
      }
      watchForToken(s);
    }), 2000);
  }

  async function saveProvider(ev) {
    ev.preventDefault();
    const name = $("#prov-name").value.trim();
    const type = $("#prov-type").value;
    const key = $("#prov-key").value.trim();
    const base = $("#prov-base").value.trim();
    const msg = $("#prov-msg");
    if (!name) return showError(msg, "A provider needs a name.");
    if (!base && !DEFAULT_BASE.get(type) && !LOCATED_TYPES.has(type)) return showError(msg, `The type ${type} needs a base URL.`);
    // start from the stored object so that fields this form does not show (models, headers, ...) survive
    const oauth = authMode() === "oauth";
    const id = tokenId();
    const body = providerBody(editingProvider || {});
    body.name = name;
    body.provider_type = type;
    body.enabled = $("#prov-enabled").checked;
    if (key && !oauth) body.api_key = key;
    else delete body.api_key; // OAuth: no key (an edit removes a stored one)
    if (base) body.base_url = base;
    else delete body.base_url;
    for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
    if (oauth) {
      body.auth_type = "oauth";
      body.oauth_provider = id;
    } else if (editingProvider && editingProvider.auth_type === "oauth") {
      // back to a key: null removes both from the file (apikey is the default)
      body.auth_type = null;
      body.oauth_provider = null;
    }
    // the API's view fills in defaults; sending them back would write them into the file
    if (body.auth_type === "apikey") delete body.auth_type;
    const res = await busy($("#prov-save"), () => (editingProvider
      ? api("PUT", "/api/providers/" + encodeURIComponent(editingProvider.name), body)
      : api("POST", "/api/providers", body)));
    if (!res.ok) return showResult(msg, res, null, true);
    const unsigned = oauth && !tokenFor(id);
    resetProviderForm();
    showResult(msg, res, `Saved provider “${name}”.` + (unsigned ? ` It has no OAuth token “${id}” yet: Edit it and Sign in.` : ""));
    await loadProviders();
  }

  async function deleteProvider(name) {
    const res = await api("DELETE", "/api/providers/" + encodeURIComponent(name));
    const msg = $("#prov-list-msg");
    showResult(msg, res, `Deleted provider “${name}”.`);
    if (res.ok) {
      if (editingProvider && editingProvider.name === name) resetProviderForm();
      await loadProviders();
    }
  }

  // ------------------------------------------------------------------ models

  let models = [];
  let editingModel = null;
  let mapRows = [];

  async function fetchModels() {
    const res = await api("GET", "/api/models-config");
    if (res.ok && Array.isArray(res.data)) models = res.data;
    return res;
  }

  function sortedMappings(m) {
    return (m.mappings || []).map((x, i) => [x, i]).sort((a, b) => ((a[0].priority ?? 1) - (b[0].priority ?? 1)) || (a[1] - b[1])).map((x) => x[0]);
  }

  async function loadModels() {
    const [mres, pres] = await Promise.all([fetchModels(), fetchProviders()]);
    const msg = $("#model-list-msg");
    if (!mres.ok) return showResult(msg, mres);
    if (!pres.ok) showResult(msg, pres);
    else clear(msg);
    renderModels();
    renderMapRows();
  }

  function renderModels() {
    const list = $("#model-list");
    const known = new Map(providers.map((p) => [p.name, p]));
    if (!models.length) return clear(list, el("p", { class: "empty" }, "No models yet. Add one with the form."));
    clear(list, models.map((m) => el("div", { class: "model-item", dataset: { name: m.name } },
      el("div", { class: "model-head" },
        el("span", { class: "model-name" }, m.name),
        el("span", { class: "muted small" }, (m.mappings || []).length + " mapping" + ((m.mappings || []).length === 1 ? "" : "s")),
        el("span", { class: "spacer" }),
        el("button", { class: "btn btn-small", type: "button", onclick: () => editModel(m) }, "Edit"),
        confirmButton("Delete", () => deleteModel(m.name))),
      el("ol", { class: "chain" }, sortedMappings(m).map((x) => {
        const p = known.get(x.provider);
        return el("li", {},
          el("span", { class: "prio", title: "priority" }, x.priority ?? 1),
          el("span", { class: "strong" }, x.provider),
          !p ? badge("unknown provider", "err") : p.enabled === false ? badge("disabled", "muted") : null,
          el("span", { class: "arrow" }, "→"),
          el("code", {}, x.actual_model));
      })))));
  }

  function providerSelect(value) {
    const names = providers.map((p) => p.name);
    const sel = el("select", { class: "map-provider" },
      names.length ? null : el("option", { value: "" }, "(no providers)"),
      names.map((n) => el("option", { value: n }, n)),
      value && !names.includes(value) ? el("option", { value }, value + " (missing)") : null);
    if (value) sel.value = value;
    return sel;
  }

  function renderMapRows() {
    const tbody = $("#map-table tbody");
    if (!mapRows.length) {
      return clear(tbody, el("tr", {}, el("td", { colspan: 4, class: "empty" }, "No mappings: add at least one.")));
    }
    clear(tbody, mapRows.map((row, i) => {
      const sel = providerSelect(row.provider);
      if (!row.provider && sel.value) row.provider = sel.value;
      on(sel, "change", () => { row.provider = sel.value; });
      const input = el("input", { class: "map-model", placeholder: "model id at the provider", value: row.actual_model });
      on(input, "input", () => { row.actual_model = input.value; });
      return el("tr", {},
        el("td", { class: "num" }, el("span", { class: "prio" }, i + 1)),
        el("td", {}, sel),
        el("td", {}, input),
        el("td", { class: "actions nowrap" },
          el("button", { class: "btn btn-icon", type: "button", title: "move up", "aria-label": "move up", disabled: i === 0, onclick: () => moveRow(i, -1) }, "▲"),
          el("button", { class: "btn btn-icon", type: "button", title: "move down", "aria-label": "move down", disabled: i === mapRows.length - 1, onclick: () => moveRow(i, 1) }, "▼"),
          el("button", { class: "btn btn-icon btn-danger-ghost", type: "button", title: "remove", "aria-label": "remove", onclick: () => { mapRows.splice(i, 1); renderMapRows(); } }, "✕")));
    }));
  }

  function moveRow(i, d) {
    const j = i + d;
    if (j < 0 || j >= mapRows.length) return;
    [mapRows[i], mapRows[j]] = [mapRows[j], mapRows[i]];
    renderMapRows();
  }

  function resetModelForm() {
    editingModel = null;
    $("#model-form").reset();
    $("#model-form-title").textContent = "Add model";
    mapRows = [{ provider: "", actual_model: "" }];
    renderMapRows();
  }

  function editModel(m) {
    editingModel = m;
    $("#model-form-title").textContent = "Edit model “" + m.name + "”";
    $("#model-name").value = m.name;
    mapRows = sortedMappings(m).map((x) => Object.assign({}, x));
    clear($("#model-msg"));
    renderMapRows();
    $("#model-name").focus();
  }

  async function saveModel(ev) {
    ev.preventDefault();
    const msg = $("#model-msg");
    const name = $("#model-name").value.trim();
    if (!name) return showError(msg, "A model needs a name.");
    const rows = mapRows.filter((r) => r.provider || (r.actual_model || "").trim());
    for (const r of rows) {
      if (!r.provider) return showError(msg, "Every mapping needs a provider.");
      if (!(r.actual_model || "").trim()) return showError(msg, `The mapping to ${r.provider} needs an actual model.`);
    }
    const mappings = rows.map((r, i) => Object.assign({}, r, { actual_model: r.actual_model.trim(), priority: i + 1 }));
    const body = Object.assign({}, editingModel || {}, { name, mappings });
    const res = await busy($("#model-save"), () => (editingModel
      ? api("PUT", "/api/models/" + encodeURIComponent(editingModel.name), body)
      : api("POST", "/api/models", body)));
    if (!res.ok) return showResult(msg, res, null, true);
    resetModelForm();
    showResult(msg, res, `Saved model “${name}”.`);
    await loadModels();
  }

  async function deleteModel(name) {
    const res = await api("DELETE", "/api/models/" + encodeURIComponent(name));
    showResult($("#model-list-msg"), res, `Deleted model “${name}”.`);
    if (res.ok) {
      if (editingModel && editingModel.name === name) resetModelForm();
      await loadModels();
    }
  }

  // ------------------------------------------------------------------ rules editor

  const rules = {
    loaded: false,
    savedText: "",
    fromToml: false,
    diagnostics: [],
    checkedText: null, // the text the diagnostics belong to
    checkSeq: 0,
    explainSeq: 0,
  };

  function lineCount(text) {
    return text.split("\n").length;
  }

  /** Draw the gutter (line numbers, marked lines) and the backdrop (highlights, inline messages). */
  function renderEditor() {
    const ta = $("#rules-text");
    const text = ta.value;
    const lines = text.split("\n");
    const stale = rules.checkedText !== text;
    const byLine = new Map();
    for (const d of rules.diagnostics) {
      if (!d.line || d.line > lines.length) continue;
      if (!byLine.has(d.line)) byLine.set(d.line, []);
      byLine.get(d.line).push(d);
    }
    const sevOf = (ds) => (ds.some((d) => d.severity !== "warning") ? "error" : "warning");

    const gutter = $("#gutter");
    const gfrag = document.createDocumentFragment();
    lines.forEach((_, i) => {
      const n = i + 1;
      const ds = byLine.get(n);
      gfrag.append(el("div", {
        class: "gl" + (ds ? " " + sevOf(ds) : ""),
        dataset: { line: n },
        title: ds ? ds.map((d) => diagText(d) + " " + d.message).join("\n") : null,
      }, String(n)));
    });
    gutter.replaceChildren(gfrag);

    const back = $("#backdrop");
    const bfrag = document.createDocumentFragment();
    lines.forEach((line, i) => {
      const ds = byLine.get(i + 1);
      if (!ds) {
        bfrag.append(el("div", { class: "bl" }, line || "\u200b"));
        return;
      }
      const col = Math.max(1, Math.min(ds[0].column || 1, line.length + 1));
      const before = line.slice(0, col - 1);
      const rest = line.slice(col - 1);
      const m = /^\S+/.exec(rest);
      const mark = m ? m[0] : "";
      bfrag.append(el("div", { class: "bl " + sevOf(ds) + (stale ? " stale" : ""), dataset: { line: i + 1 } },
        before,
        el("span", { class: "squiggle" }, mark || "\u200b"),
        rest.slice(mark.length),
        el("span", { class: "inline-diag" }, ds.map((d) => "  ◀ " + diagText(d) + " " + d.message).join("   "))));
    });
    back.replaceChildren(bfrag);
    syncScroll();
  }

  function syncScroll() {
    const ta = $("#rules-text");
    $("#gutter").scrollTop = ta.scrollTop;
    $("#backdrop").scrollTop = ta.scrollTop;
    $("#backdrop").scrollLeft = ta.scrollLeft;
  }

  function setRulesState(text, cls) {
    const p = $("#rules-state");
    p.textContent = text;
    p.className = "pill pill-" + cls;
  }

  function renderDiagnostics() {
    const ul = $("#rules-diags");
    const ds = rules.diagnostics;
    clear(ul, ds.map((d) => el("li", { class: "diag " + (d.severity === "warning" ? "warning" : "error") },
      el("button", { class: "diag-where mono linklike", type: "button", onclick: () => gotoLine(d.line, d.column) }, diagText(d) || "–"),
      el("span", { class: "diag-sev" }, d.severity || "error"),
      el("span", { class: "diag-msg" }, d.message || ""))));
    const errors = ds.filter((d) => d.severity !== "warning").length;
    const warnings = ds.length - errors;
    const ta = $("#rules-text");
    const dirty = ta.value !== rules.savedText;
    if (rules.checkedText !== ta.value) setRulesState("checking…", "muted");
    else if (errors) setRulesState(errors + " error" + (errors > 1 ? "s" : ""), "err");
    else if (warnings) setRulesState("ok, " + warnings + " warning" + (warnings > 1 ? "s" : "") + (dirty ? " · unsaved" : ""), "warn");
    else setRulesState(dirty ? "ok · unsaved" : "ok · saved", "ok");
  }

  function gotoLine(line, column) {
    if (!line) return;
    const ta = $("#rules-text");
    const lines = ta.value.split("\n");
    let pos = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
    pos += Math.max(0, (column || 1) - 1);
    ta.focus();
    ta.setSelectionRange(pos, pos);
    const lh = parseFloat(getComputedStyle(ta).lineHeight) || 20;
    ta.scrollTop = Math.max(0, (line - 3) * lh);
    syncScroll();
  }

  async function loadRules() {
    const [res] = await Promise.all([api("GET", "/api/rules")]);
    const msg = $("#rules-msg");
    if (!res.ok) {
      showResult(msg, res);
      return;
    }
    const data = res.data || {};
    const ta = $("#rules-text");
    // keep unsaved edits when the user comes back to the tab
    if (!rules.loaded || ta.value === rules.savedText) {
      ta.value = data.text || "";
      rules.diagnostics = [];
      rules.checkedText = null;
    }
    rules.savedText = data.text || "";
    rules.loaded = true;
    rules.fromToml = !!data.from_toml;
    showRulesSource(data);
    clear(msg);
    renderEditor();
    await Promise.all([checkRules(), explainNow(), loadRouter()]);
  }

  /** Where the rules come from: [router] (the slot card shows) or a file (a way back). */
  function showRulesSource(data) {
    $("#rules-path").textContent = data.path || "";
    $("#rules-toml-note").hidden = !rules.fromToml;
    $("#rules-file-note").hidden = rules.fromToml;
    $("#router-card").hidden = !rules.fromToml;
  }

  /** Rules generated from [router] start with a "# generated from [router]" comment; a file
   * saved from them is no longer generated, so the comment does not go into it. */
  function withoutGeneratedHeader(text) {
    return text.replace(/^(?:#\s*generated from \[router\][^\n]*\n)+/, "");
  }

  async function useRouterSlots() {
    const res = await busy($("#rules-use-router"), () => api("PUT", "/api/router", { rules: null }));
    if (!res.ok) return showResult($("#rules-msg"), res, null, true);
    toast("ok", "The [router] slots route again. The rules file stays on disk, unused.");
    rules.loaded = false; // take the generated rules, whatever the editor held
    return loadRules();
  }

  async function checkRules() {
    const text = $("#rules-text").value;
    const seq = ++rules.checkSeq;
    const res = await api("POST", "/api/rules/check", { text });
    if (seq !== rules.checkSeq) return null; // a newer check is on its way
    const msg = $("#rules-msg");
    if (!res.ok) {
      // a 422 with diagnostics is still an answer about the text
      if (res.diagnostics.length) {
        rules.diagnostics = res.diagnostics;
        rules.checkedText = text;
        clear(msg);
      } else {
        showResult(msg, res);
        return null;
      }
    } else {
      const data = res.data || {};
      rules.diagnostics = Array.isArray(data.diagnostics) ? data.diagnostics : [];
      rules.checkedText = text;
      clear(msg);
    }
    renderEditor();
    renderDiagnostics();
    return rules.diagnostics;
  }

  const checkSoon = debounce(async () => {
    await checkRules();
    await explainNow(); // the panel follows the draft once it compiles
  }, 400);

  async function saveRules() {
    const ta = $("#rules-text");
    if (rules.fromToml) {
      const plain = withoutGeneratedHeader(ta.value);
      if (plain !== ta.value) {
        ta.value = plain;
        renderEditor();
      }
    }
    const text = ta.value;
    const msg = $("#rules-msg");
    const btn = $("#rules-save");
    btn.disabled = true;
    btn.classList.add("busy");
    try {
      const ds = await checkRules();
      if (ds === null) return;
      const errors = ds.filter((d) => d.severity !== "warning");
      if (errors.length) {
        showError(msg, `Save refused: the rules have ${errors.length} error${errors.length > 1 ? "s" : ""} (first at line ${errors[0].line || "?"}). Fix them first; the running rules are unchanged.`);
        msg.firstChild.classList.add("save-refused");
        return;
      }
      const res = await api("PUT", "/api/rules", { text });
      if (!res.ok) {
        if (res.diagnostics.length) {
          rules.diagnostics = res.diagnostics;
          rules.checkedText = text;
          renderEditor();
          renderDiagnostics();
        }
        showResult(msg, res, null, true);
        msg.firstChild.classList.add("save-refused");
        return;
      }
      rules.savedText = text;
      const data = res.data && typeof res.data === "object" ? res.data : {};
      const where = data.path ? " to " + data.path : "";
      showResult(msg, res, "Saved" + where + ". The proxy now routes with these rules.");
      renderDiagnostics();
      // the rules may now come from a file rather than [router]
      const again = await api("GET", "/api/rules");
      if (again.ok && again.data) {
        rules.fromToml = !!again.data.from_toml;
        showRulesSource(again.data);
      }
      await explainNow();
    } finally {
      btn.disabled = false;
      btn.classList.remove("busy");
    }
  }

  // ------------------------------------------------------------------ explain

  function parseJsonField(text, what) {
    try {
      return { value: JSON.parse(text) };
    } catch (e) {
      return { error: what + " is not valid JSON: " + e.message };
    }
  }

  async function explainNow() {
    const out = $("#explain-out");
    const req = parseJsonField($("#explain-req").value, "The request");
    if (req.error) return showError(out, req.error);
    const body = { request: req.value };
    // unsaved edits that compile are explained as they stand; otherwise the running rules
    const ta = $("#rules-text");
    const draft = rules.loaded && ta.value !== rules.savedText && rules.checkedText === ta.value
      && !rules.diagnostics.some((d) => d.severity === "error");
    if (draft) body.text = ta.value;
    const by = $("#explain-by");
    if (by) by.textContent = draft ? "routing of this request by the unsaved rules in the editor" : "routing of this request by the running rules";
    const htext = $("#explain-headers").value.trim();
    if (htext) {
      const h = parseJsonField(htext, "Headers");
      if (h.error) return showError(out, h.error);
      if (!h.value || typeof h.value !== "object" || Array.isArray(h.value)) return showError(out, "Headers must be a JSON object.");
      body.headers = h.value;
    }
    const seq = ++rules.explainSeq;
    const res = await api("POST", "/api/explain", body);
    if (seq !== rules.explainSeq) return;
    if (!res.ok) return showResult(out, res);
    renderExplain(out, res.data || {});
  }

  const explainSoon = debounce(explainNow, 400);

  function renderExplain(out, x) {
    const chain = Array.isArray(x.chain) ? x.chain : [];
    const trace = Array.isArray(x.trace) ? x.trace : [];
    clear(out,
      x.error ? el("div", { class: "alert alert-error" }, el("div", { class: "alert-title" }, x.error)) : null,
      el("dl", { class: "kv compact" },
        el("dt", {}, "Rule"), el("dd", { id: "explain-rule" }, el("strong", {}, x.rule ?? "–"), x.location ? el("span", { class: "muted small" }, "  " + x.location) : null),
        el("dt", {}, "Model"), el("dd", { id: "explain-model" }, el("code", {}, x.model ?? "–"),
          x.original_model && x.original_model !== x.model ? el("span", { class: "muted small" }, "  from " + x.original_model + (x.rewritten_model && x.rewritten_model !== x.original_model ? " → " + x.rewritten_model : "")) : null),
        (x.strip || []).length ? [el("dt", {}, "Strip"), el("dd", {}, x.strip.map((s) => el("div", { class: "mono small" }, "/" + s.regex + "/ from " + s.field)))] : null,
      ),
      el("h3", {}, "Chain"),
      chain.length
        ? el("table", { class: "table compact", id: "explain-chain" },
          el("thead", {}, el("tr", {}, el("th", { class: "num" }, "#"), el("th", {}, "Provider"), el("th", {}, "Actual model"), el("th", { class: "num" }, "Priority"))),
          el("tbody", {}, chain.map((c, i) => el("tr", {},
            el("td", { class: "num" }, i + 1), el("td", { class: "strong" }, c.provider), el("td", {}, el("code", {}, c.actual_model)), el("td", { class: "num" }, c.priority ?? "")))))
        : el("p", { class: "muted" }, "No provider serves this model."),
      (x.skipped || []).length ? el("ul", { class: "skipped" }, x.skipped.map((s) => el("li", { class: "muted small" }, "skipped: " + s))) : null,
      el("h3", {}, "Trace"),
      el("ol", { class: "trace", id: "explain-trace" }, trace.map((t) => el("li", { class: t.held ? "held" : "not-held" },
        el("div", { class: "trace-head" },
          el("span", { class: "mark" }, t.held ? "✓" : "✗"),
          el("span", { class: "strong" }, t.rule),
          t.kind && t.kind !== t.rule ? el("span", { class: "muted small" }, t.kind) : null,
          el("span", { class: "spacer" }),
          el("span", { class: "muted small mono", title: t.location || null }, t.location || "")),
        t.text ? el("div", { class: "trace-text mono" }, t.text) : null,
        (t.checks || []).length ? el("ul", { class: "checks" }, t.checks.map((c) => el("li", { class: c.held ? "held" : "not-held" },
          el("span", { class: "mark" }, c.held ? "✓" : "✗"), el("code", {}, c.expr), el("span", { class: "muted" }, " — " + c.value)))) : null,
        t.effect ? el("div", { class: "small" }, "→ " + t.effect) : null,
        t.captures ? el("div", { class: "small mono" }, Object.entries(t.captures).map(([k, v]) => "$" + k + " = " + JSON.stringify(v)).join(", ")) : null,
      ))),
      x.features && Object.keys(x.features).length
        ? el("details", { class: "features" }, el("summary", {}, "Features"),
          el("dl", { class: "kv compact" }, Object.entries(x.features).flatMap(([k, v]) => [el("dt", { class: "mono" }, k), el("dd", { class: "mono small wrap" }, typeof v === "string" ? v : JSON.stringify(v))])))
        : null,
    );
  }

  // ------------------------------------------------------------------ [router] slots

  let routerData = {};

  async function loadRouter() {
    await ensureCatalog();
    const card = $("#router-card");
    if (!rules.fromToml) {
      card.hidden = true;
      return;
    }
    const res = await api("GET", "/api/router");
    card.hidden = false;
    if (!res.ok) {
      showResult($("#router-msg"), res);
      return;
    }
    routerData = res.data && typeof res.data === "object" ? res.data : {};
    renderRouter();
  }

  function renderRouter() {
    const names = ROUTER_SLOTS.map(([k]) => k);
    const extra = Object.keys(routerData).filter((k) => !names.includes(k) && k !== "rules" && typeof routerData[k] !== "object");
    const modelNames = models.map((m) => m.name);
    clear($("#router-fields"),
      el("datalist", { id: "router-models" }, modelNames.map((n) => el("option", { value: n }))),
      [...ROUTER_SLOTS, ...extra.map((k) => [k, ""])].map(([k, hint]) => el("label", { class: "slot" },
        el("span", { class: "slot-name mono" }, k),
        el("input", {
          name: k, class: "mono", value: routerData[k] ?? "", placeholder: hint || "",
          list: k.endsWith("regex") || k.endsWith("threshold") ? null : "router-models",
        }))));
  }

  async function saveRouter(ev) {
    ev.preventDefault();
    const body = {};
    for (const input of document.querySelectorAll("#router-fields input")) {
      const k = input.name;
      const v = input.value.trim();
      const old = routerData[k];
      let value = v === "" ? null : v;
      if (k === "long_context_threshold" && value !== null) {
        if (!/^\d+$/.test(value)) return showError($("#router-msg"), "long_context_threshold must be a whole number of tokens.");
        value = parseInt(value, 10);
      }
      if ((old ?? null) !== value) body[k] = value;
    }
    if (!Object.keys(body).length) return showResult($("#router-msg"), { ok: true }, "Nothing changed.");
    const res = await busy($("#router-save"), () => api("PUT", "/api/router", body));
    showResult($("#router-msg"), res, "Saved [router].");
    if (res.ok) {
      routerData = res.data && typeof res.data === "object" ? res.data : routerData;
      renderRouter();
      // the generated rules follow [router]
      const again = await api("GET", "/api/rules");
      if (again.ok && again.data) {
        const ta = $("#rules-text");
        if (ta.value === rules.savedText) ta.value = again.data.text || "";
        rules.savedText = again.data.text || "";
        renderEditor();
        await Promise.all([checkRules(), explainNow()]);
      }
    }
  }

  // ------------------------------------------------------------------ test

  async function loadTest() {
    const [mres, pres] = await Promise.all([fetchModels(), fetchProviders()]);
    clear($("#test-models"), models.map((m) => el("option", { value: m.name })));
    const sel = $("#test-provider");
    const keep = sel.value;
    clear(sel, el("option", { value: "" }, "— follow the chain —"), providers.map((p) => el("option", { value: p.name }, p.name)));
    sel.value = providers.some((p) => p.name === keep) ? keep : "";
    const bad = !mres.ok ? mres : !pres.ok ? pres : null;
    if (bad) showResult($("#test-out"), bad);
  }

  async function sendTest(ev) {
    ev.preventDefault();
    const out = $("#test-out");
    const model = $("#test-model").value.trim();
    const message = $("#test-message").value;
    if (!model) return showError(out, "Choose a model.");
    if (!message.trim()) return showError(out, "Write a message.");
    const body = { model, message };
    const provider = $("#test-provider").value;
    if (provider) body.provider = provider;
    const max = parseInt($("#test-max").value, 10);
    if (max > 0) body.max_tokens = max;
    body.stream = $("#test-stream").checked;
    clear($("#test-busy"), el("span", { class: "spinner", id: "test-spinner" }), " ",
      body.stream ? "streaming the answer…" : "waiting for the answer…");
    const started = performance.now();
    try {
      const res = await busy($("#test-send"), () => api("POST", "/api/test", body));
      if (!res.ok && !(res.data && typeof res.data === "object" && "status" in res.data && !res.data.error)) {
        showResult(out, res, null, true);
        return;
      }
      const r = res.data || {};
      renderTestResult(out, r, performance.now() - started);
      if (statusClass(r.status) === "ok") toast("ok", `Answered by ${(r.route || {}).provider || "?"} in ${fmtMs(r.latency_ms)}${r.stream ? " (streamed)" : ""}.`);
      else toast("error", r.error || "The test failed.");
    } finally {
      clear($("#test-busy"));
    }
  }

  /** One upstream attempt: {provider, actual_model, status (null: no HTTP answer), reason, ms}. */
  function attemptStatus(a) {
    if (a === null || typeof a !== "object") return String(a);
    if (a.status !== null && a.status !== undefined) return String(a.status);
    return "failed";
  }

  function attemptsList(attempts) {
    if (!Array.isArray(attempts)) return el("span", {}, attempts ?? "–");
    if (!attempts.length) return el("span", { class: "muted" }, "none: no provider was tried");
    return el("ol", { class: "attempts", id: "test-attempts" }, attempts.map((a) => {
      if (a === null || typeof a !== "object") return el("li", {}, String(a));
      const st = attemptStatus(a);
      const ms = typeof a.ms === "number" ? a.ms : a.latency_ms;
      const reason = a.reason || a.error || "";
      return el("li", {},
        badge(st, statusClass(a.status ?? 0)), " ",
        el("span", { class: "strong" }, a.provider ?? ""),
        a.actual_model ? [" ", el("code", {}, a.actual_model)] : null,
        typeof ms === "number" ? el("span", { class: "muted small" }, " · " + fmtMs(ms)) : null,
        reason && st !== "200" ? el("div", { class: "small text-err" }, reason) : null);
    }));
  }

  function renderTestResult(out, r, clientMs) {
    const route = r.route && typeof r.route === "object" ? r.route : {};
    const ok = statusClass(r.status) === "ok";
    // the API puts the error text in `error` and the upstream's answer object in `message`
    let errorText = typeof r.error === "string" ? r.error : r.error && r.error.message;
    if (!errorText && typeof r.message === "string" && !ok) errorText = r.message;
    if (!errorText && !ok && r.message && typeof r.message === "object" && r.message.error) errorText = r.message.error.message;
    const raw = r.message && typeof r.message === "object" ? r.message : null;
    clear(out,
      el("div", { class: "result-head" },
        badge(ok ? String(r.status ?? "ok") + " OK" : String(r.status ?? "error"), statusClass(r.status)),
        r.stream ? badge("streamed", "muted") : null,
        el("span", { class: "muted" }, "latency " + fmtMs(typeof r.latency_ms === "number" ? r.latency_ms : clientMs))),
      errorText || !ok ? el("div", { class: "alert alert-error", role: "alert" }, el("div", { class: "alert-title" }, errorText || "The test failed.")) : null,
      el("h3", {}, "Answer"),
      r.text ? el("div", { class: "answer", id: "test-answer" }, r.text) : el("p", { class: "muted", id: "test-answer" }, ok ? "(empty answer)" : "(no answer)"),
      el("h3", {}, "Route"),
      el("dl", { class: "kv compact", id: "test-route" },
        el("dt", {}, "Rule"), el("dd", {}, route.rule ?? "–"),
        el("dt", {}, "Model"), el("dd", {}, el("code", {}, route.model ?? "–")),
        el("dt", {}, "Provider"), el("dd", {}, route.provider ? el("strong", {}, route.provider) : el("span", { class: "muted" }, "–"))),
      el("h3", {}, "Attempts"),
      attemptsList(r.attempts),
      raw ? el("details", { class: "raw" }, el("summary", {}, "Raw answer"), el("pre", { class: "mono small" }, JSON.stringify(raw, null, 2))) : null);
  }

  // ------------------------------------------------------------------ usage (charts)

  const charts = {}; // id -> uPlot instance
  let usageData = null;
  let usageGen = 0;

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function palette(i) {
    return cssVar("--chart-" + ((i % 8) + 1)) || "#2b59c3";
  }

  function usageQuery() {
    const q = new URLSearchParams({ since: $("#usage-range").value, bucket: $("#usage-bucket").value, by: $("#usage-by").value });
    return "/api/usage?" + q.toString();
  }

  async function loadUsage() {
    const gen = ++usageGen;
    const res = await busy($("#usage-refresh"), () => api("GET", usageQuery()));
    if (gen !== usageGen || current !== "usage") return;
    const msg = $("#usage-msg");
    if (!res.ok) {
      showResult(msg, res);
      return;
    }
    usageData = res.data || {};
    const d = usageData;
    const empty = d.enabled === false || !(d.totals && d.totals.requests);
    clear(msg, empty ? el("div", { class: "card empty-state", id: "usage-empty" },
      el("strong", {}, d.enabled === false ? "The usage ledger is off" : "No requests in this range"),
      d.message || "Try a longer range, or send something through ccm (the Test tab does).") : null);
    renderUsageStats(d.totals || {});
    renderUsageTable($("#usage-providers tbody"), d.by_provider || [], "provider");
    renderUsageTable($("#usage-models tbody"), d.by_model || [], "model");
    drawUsageCharts();
  }

  leavers.usage = () => {
    usageGen++;
  };

  function renderUsageStats(t) {
    $("#us-requests").textContent = fmtNum(t.requests ?? 0);
    $("#us-requests-sub").textContent = [t.errors ? plural(t.errors, "error") : null, t.failovers ? fmtNum(t.failovers) + " failed over" : null].filter(Boolean).join(" · ");
    $("#us-tokens").textContent = fmtNum(t.input_tokens ?? 0, true) + " / " + fmtNum(t.output_tokens ?? 0, true);
    const cached = (t.cache_read_input_tokens || 0) + (t.cache_creation_input_tokens || 0);
    $("#us-tokens-sub").textContent = cached ? fmtNum(t.cache_read_input_tokens || 0, true) + " cache read, " + fmtNum(t.cache_creation_input_tokens || 0, true) + " cache write" : "";
    $("#us-cost").textContent = t.requests && t.cost_usd === null ? "–" : fmtUsd(t.cost_usd ?? 0);
    $("#us-cost-sub").textContent = t.unpriced_requests ? fmtNum(t.unpriced_requests) + " without a price" : "";
    $("#us-latency").textContent = t.p50_ms === null || t.p50_ms === undefined ? "–" : fmtMs(t.p50_ms) + " / " + fmtMs(t.p95_ms);
    $("#us-latency-sub").textContent = t.ttfb_p50_ms !== null && t.ttfb_p50_ms !== undefined ? "first byte " + fmtMs(t.ttfb_p50_ms) + " / " + fmtMs(t.ttfb_p95_ms) : "";
  }

  function renderUsageTable(tbody, rows, name) {
    if (!rows.length) return clear(tbody, el("tr", {}, el("td", { colspan: 8, class: "empty" }, "Nothing in this range.")));
    clear(tbody, rows.map((r) => el("tr", { dataset: { key: r[name] ?? "" } },
      el("td", { class: name === "model" ? "mono small wrap" : "strong" }, r[name] ?? el("span", { class: "muted" }, name === "provider" ? "none answered" : "–")),
      el("td", { class: "num" }, fmtNum(r.requests)),
      el("td", { class: "num" }, r.errors ? badge(fmtNum(r.errors), "err") : el("span", { class: "muted" }, "0")),
      el("td", { class: "num" }, fmtNum(r.input_tokens, true)),
      el("td", { class: "num" }, fmtNum(r.output_tokens, true)),
      el("td", { class: "num cost", title: r.unpriced_requests ? r.unpriced_requests + " without a price" : null }, fmtUsd(r.cost_usd), r.unpriced_requests && r.cost_usd !== null ? "+?" : ""),
      el("td", { class: "num" }, fmtMs(r.p50_ms)),
      el("td", { class: "num" }, fmtMs(r.p95_ms)))));
  }

  /** An x-axis label: the day (month/day) at midnight or for daily points, else the hour. */
  function timeTick(v, bucket) {
    const d = new Date(v * 1000);
    const day = `${d.getMonth() + 1}/${d.getDate()}`;
    if (bucket === "day" || (d.getHours() === 0 && d.getMinutes() === 0)) return day;
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  /** uPlot draws into a box: its width follows the card, its colours the page's (light or dark). */
  function chartOptions(box, series, fmtValue) {
    const axis = {
      stroke: cssVar("--muted"),
      grid: { stroke: cssVar("--grid"), width: 1 },
      ticks: { stroke: cssVar("--grid"), width: 1 },
      font: "11px " + cssVar("--sans"),
    };
    const bucket = usageData && usageData.bucket;
    const step = bucket === "day" ? 86400 : 3600;
    return {
      width: Math.max(200, box.clientWidth),
      height: 220,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        // half a bucket of room at each end, so the first and last bars show whole
        x: { time: true, range: (u, min, max) => [min - step / 2, max + step / 2] },
        y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] },
      },
      axes: [
        Object.assign({}, axis, {
          // ticks on whole buckets: days for daily points, hours (or several) for hourly ones
          incrs: bucket === "day" ? [86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400]
            : [3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400],
          values: (u, splits) => splits.map((v) => timeTick(v, bucket)),
        }),
        Object.assign({}, axis, { size: 72, values: (u, vals) => vals.map((v) => fmtValue(v, true)) }),
      ],
      series: [{ value: (u, v) => (v === null ? "–" : fmtDateTime(v)) }, ...series],
    };
  }

  /** Stacked series: each key's values drawn on top of the ones before it (filled areas), the
   * legend and the cursor showing the key's own value. */
  function stacked(keys, rows, fmtValue) {
    const n = rows.length ? rows[0].length : 0;
    const sums = [];
    let acc = new Array(n).fill(0);
    rows.forEach((row) => {
      acc = acc.map((a, i) => a + (row[i] || 0));
      sums.push(acc.slice());
    });
    // drawn from the top sum down, so each lower one paints over the one above
    const order = keys.map((k, i) => i).reverse();
    const bars = window.uPlot && window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.7, 48] }) : undefined;
    const series = order.map((i) => ({
      label: String(keys[i] ?? "none"),
      stroke: palette(i),
      fill: palette(i) + "cc",
      width: 1,
      paths: bars,
      points: { show: false },
      value: (u, v, sidx, idx) => (idx === null || idx === undefined ? "–" : fmtValue(rows[i][idx] || 0)),
    }));
    return { series, data: order.map((i) => sums[i]) };
  }

  function drawChart(id, series, data, fmtValue) {
    const box = $("#" + id);
    if (charts[id]) {
      charts[id].destroy();
      delete charts[id];
    }
    box.replaceChildren();
    if (typeof window.uPlot !== "function") {
      box.append(el("div", { class: "chart-empty" }, "The chart library did not load."));
      return;
    }
    const t = usageData && usageData.timeline ? usageData.timeline.t || [] : [];
    if (!t.length) {
      box.append(el("div", { class: "chart-empty" }, "No data."));
      return;
    }
    charts[id] = new window.uPlot(chartOptions(box, series, fmtValue), [t, ...data], box);
    watchSize(box, id);
  }

  /** A chart follows its box's width (window resized, layout changed while the tab was away). */
  const sized = new Map(); // box -> chart id
  const sizeWatcher = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
    // resized in the next frame: resizing inside the observer's callback would loop
    const todo = entries.map((e) => [charts[sized.get(e.target)], Math.floor(e.contentRect.width)]);
    requestAnimationFrame(guard(() => {
      for (const [u, width] of todo) {
        if (u && width > 0 && Math.abs(width - u.width) > 1) u.setSize({ width: Math.max(200, width), height: u.height });
      }
    }));
  }) : null;

  function watchSize(box, id) {
    if (!sizeWatcher || sized.has(box)) {
      sized.set(box, id);
      return;
    }
    sized.set(box, id);
    sizeWatcher.observe(box);
  }

  function drawUsageCharts() {
    const d = usageData;
    if (!d || !d.timeline) return;
    const tl = d.timeline;
    const s = d.series || { keys: [] };
    const by = s.by || "provider";
    $("#chart-requests-by").textContent = "by " + by;
    $("#chart-cost-by").textContent = "by " + by;
    const count = (v) => fmtNum(Math.round(v * 100) / 100, true);
    const keys = s.keys && s.keys.length ? s.keys : ["all"];
    const req = s.keys && s.keys.length ? stacked(keys, s.requests, count) : stacked(keys, [tl.requests], count);
    drawChart("chart-requests", req.series, req.data, count);
    const line = (label, i, dash) => ({ label, stroke: palette(i), width: 2, dash, points: { size: 5, fill: palette(i) } });
    drawChart("chart-tokens", [line("input", 0), line("output", 1), line("cache read", 2, [4, 3]), line("cache write", 4, [4, 3])],
      [tl.input_tokens, tl.output_tokens, tl.cache_read_input_tokens, tl.cache_creation_input_tokens], count);
    const usd = (v, axis) => (axis ? fmtUsd(v) : fmtUsd(v));
    const costRows = s.keys && s.keys.length ? s.cost_usd.map((row) => row.map((v) => v || 0)) : [tl.cost_usd.map((v) => v || 0)];
    const cost = stacked(keys, costRows, usd);
    drawChart("chart-cost", cost.series, cost.data, usd);
    const ms = (v) => fmtMs(v);
    drawChart("chart-latency", [line("p50", 0), line("p95", 3), line("first byte p50", 2, [4, 3]), line("first byte p95", 1, [4, 3])],
      [tl.p50_ms, tl.p95_ms, tl.ttfb_p50_ms, tl.ttfb_p95_ms], ms);
  }

  const redrawCharts = debounce(() => {
    if (current === "usage" && usageData) drawUsageCharts();
  }, 150);

  // ------------------------------------------------------------------ requests (the ledger)

  const reqView = { offset: 0, limit: 50, total: 0, open: new Set(), gen: 0, choicesFor: null };

  function reqFilters() {
    const f = {
      since: $("#req-since").value,
      session: $("#req-session").value,
      model: $("#req-model").value,
      provider: $("#req-provider").value,
      status: $("#req-status").value,
    };
    for (const k of Object.keys(f)) if (!f[k]) delete f[k];
    return f;
  }

  /** Fill a filter's <select> keeping its choice (a choice no longer offered stays listed). */
  function fillSelect(sel, items, label) {
    const keep = sel.value;
    clear(sel, el("option", { value: "" }, "any"), items.map((v) => el("option", { value: v }, label ? label(v) : v)),
      keep && !items.includes(keep) ? el("option", { value: keep }, label ? label(keep) : keep) : null);
    sel.value = keep;
  }

  async function loadRequestChoices() {
    const since = $("#req-since").value || "90d";
    if (reqView.choicesFor === since) return;
    const res = await api("GET", "/api/usage/filters?since=" + encodeURIComponent(since));
    if (!res.ok || !res.data) return;
    reqView.choicesFor = since;
    const d = res.data;
    const sessions = (d.sessions || []).map((x) => x.session_id);
    const counts = new Map((d.sessions || []).map((x) => [x.session_id, x.requests]));
    fillSelect($("#req-session"), sessions, (id) => shortId(id) + (counts.has(id) ? " (" + counts.get(id) + ")" : ""));
    fillSelect($("#req-model"), d.models || []);
    fillSelect($("#req-provider"), d.providers || []);
  }

  function shortId(id) {
    const s = String(id || "");
    return s.length > 13 ? s.slice(0, 8) + "…" + s.slice(-4) : s;
  }

  async function loadRequests() {
    const gen = ++reqView.gen;
    await loadRequestChoices();
    const q = new URLSearchParams(Object.assign(reqFilters(), { limit: reqView.limit, offset: reqView.offset }));
    const res = await busy($("#req-refresh"), () => api("GET", "/api/usage/requests?" + q.toString()));
    if (gen !== reqView.gen || current !== "requests") return;
    const msg = $("#req-msg");
    if (!res.ok) {
      showResult(msg, res);
      return;
    }
    const d = res.data || {};
    reqView.total = d.total || 0;
    clear(msg, d.enabled === false || d.message ? el("div", { class: "empty-state", id: "req-empty" },
      el("strong", {}, d.enabled === false ? "The usage ledger is off" : "Nothing recorded yet"), d.message) : null);
    renderRequests(Array.isArray(d.rows) ? d.rows : []);
    const first = reqView.total ? reqView.offset + 1 : 0;
    const last = Math.min(reqView.offset + reqView.limit, reqView.total);
    $("#req-count").textContent = reqView.total ? `${fmtNum(first)}–${fmtNum(last)} of ${fmtNum(reqView.total)}` : "no requests";
    $("#req-newer").disabled = reqView.offset <= 0;
    $("#req-older").disabled = last >= reqView.total;
  }

  leavers.requests = () => {
    reqView.gen++;
  };

  function renderRequests(rows) {
    const tbody = $("#req-table tbody");
    if (!rows.length) return clear(tbody, el("tr", {}, el("td", { colspan: 9, class: "empty" }, "No requests match.")));
    clear(tbody, rows.flatMap((r) => {
      const open = reqView.open.has(r.request_id);
      const failed = r.status >= 400 || r.error_type;
      const tr = el("tr", { class: "req" + (open ? " open" : ""), tabindex: 0, "aria-expanded": open ? "true" : "false", dataset: { id: r.request_id || "" } },
        el("td", { class: "nowrap small", title: r.request_id || null }, el("span", { class: "caret" }, "▸"), " ", fmtDateTime(r.ts), el("span", { class: "muted" }, ":" + String(toDate(r.ts).getSeconds()).padStart(2, "0"))),
        el("td", { class: "sess hide-narrow", title: r.session_id || null }, r.session_id ? shortId(r.session_id) : el("span", { class: "muted" }, "–")),
        el("td", { class: "hide-narrow" }, r.rule ?? el("span", { class: "muted" }, "–")),
        el("td", {}, el("code", { class: "nowrap" }, r.model ?? r.requested_model ?? "–"),
          r.requested_model && r.requested_model !== r.model ? el("div", { class: "muted small" }, "from " + r.requested_model) : null),
        el("td", {}, r.provider ? [el("span", { class: "strong" }, r.provider), r.actual_model ? el("div", { class: "mono small muted" }, r.actual_model) : null] : el("span", { class: "muted" }, "none")),
        el("td", { class: "nowrap" }, badge(String(r.status ?? "?"), failed ? (r.status >= 500 || r.status === 429 || (r.status < 400 && r.error_type) ? "err" : "warn") : "ok"),
          r.failover ? [" ", el("span", { class: "badge badge-warn", title: "an earlier provider failed" }, "failover")] : null,
          r.stream ? [" ", el("span", { class: "badge badge-muted" }, "stream")] : null,
          r.error_type ? el("div", { class: "small text-err" }, r.error_type) : null),
        el("td", { class: "num" }, fmtNum(r.input_tokens ?? null, true) + " / " + fmtNum(r.output_tokens ?? null, true)),
        el("td", { class: "num cost" }, r.subscription && r.cost_usd === null ? el("span", { class: "muted", title: "subscription: not billed per token" }, "subscription") : fmtUsd(r.cost_usd)),
        el("td", { class: "num nowrap", title: r.ttfb_ms !== null ? "first byte " + fmtMs(r.ttfb_ms) : null }, fmtMs(r.total_ms)));
      const toggle = () => toggleRequest(r, tr);
      on(tr, "click", toggle);
      on(tr, "keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          return toggle();
        }
        return undefined;
      });
      const rowsOut = [tr];
      if (open) {
        const detail = el("tr", { class: "detail" }, el("td", { colspan: 9 }, el("span", { class: "spinner" })));
        rowsOut.push(detail);
        guard(() => fillRequestDetail(r, detail))();
      }
      return rowsOut;
    }));
  }

  async function toggleRequest(r, tr) {
    const id = r.request_id;
    if (reqView.open.has(id)) {
      reqView.open.delete(id);
      tr.classList.remove("open");
      tr.setAttribute("aria-expanded", "false");
      const next = tr.nextElementSibling;
      if (next && next.classList.contains("detail")) next.remove();
      return;
    }
    reqView.open.add(id);
    tr.classList.add("open");
    tr.setAttribute("aria-expanded", "true");
    const detail = el("tr", { class: "detail" }, el("td", { colspan: 9 }, el("span", { class: "spinner" }), " loading…"));
    tr.after(detail);
    await fillRequestDetail(r, detail);
  }

  async function fillRequestDetail(r, detail) {
    const res = await api("GET", "/api/usage/requests/" + encodeURIComponent(r.request_id));
    const cell = detail.firstChild;
    if (!res.ok) return showResult(cell, res);
    const x = res.data || {};
    const kv = (k, v) => [el("dt", {}, k), el("dd", {}, v ?? el("span", { class: "muted" }, "–"))];
    clear(cell, el("div", { class: "req-detail" },
      el("div", {},
        el("h3", {}, "Attempts"),
        attemptsList(x.attempts || [])),
      el("div", {},
        el("h3", {}, "Request"),
        el("dl", { class: "kv compact" },
          kv("Request id", el("code", {}, x.request_id)),
          kv("Session", x.session_id ? el("code", {}, x.session_id) : null),
          kv("Rule", x.rule),
          kv("Asked for", x.requested_model ? el("code", {}, x.requested_model) : null),
          kv("Model", x.model ? el("code", {}, x.model) : null),
          kv("Answered by", x.provider ? [el("strong", {}, x.provider), " ", el("code", {}, x.actual_model || "")] : null),
          kv("Tokens", `${fmtNum(x.input_tokens ?? null)} in, ${fmtNum(x.output_tokens ?? null)} out, ${fmtNum(x.cache_read_input_tokens ?? 0)} cache read, ${fmtNum(x.cache_creation_input_tokens ?? 0)} cache write`),
          kv("Cost", x.subscription && x.cost_usd === null ? "subscription (not billed per token)" : fmtUsd(x.cost_usd)),
          kv("Time", `first byte ${fmtMs(x.ttfb_ms)}, total ${fmtMs(x.total_ms)}` + (x.stream ? " (stream)" : "")),
          kv("Client key", x.client_key ? el("code", { title: "fingerprint, not the key" }, x.client_key) : null)))));
    const list = cell.querySelector("#test-attempts");
    if (list) list.removeAttribute("id"); // the Test tab's id
    return undefined;
  }

  // ------------------------------------------------------------------ logs

  let logsTimer = null;
  let logsGen = 0;

  async function loadLogs() {
    const gen = ++logsGen;
    clearTimeout(logsTimer);
    const res = await api("GET", "/api/logs?limit=200");
    if (gen !== logsGen || current !== "logs") return;
    if (!res.ok) {
      showResult($("#logs-msg"), res);
    } else {
      clear($("#logs-msg"));
      renderLogs(Array.isArray(res.data) ? res.data : []);
      $("#logs-state").textContent = "updated " + fmtTime(Date.now()).slice(0, 8) + " · auto-refresh every 3 s";
    }
    logsTimer = setTimeout(guard(loadLogs), 3000);
  }

  leavers.logs = () => {
    logsGen++;
    clearTimeout(logsTimer);
  };

  function attemptsCell(a) {
    if (!Array.isArray(a)) return el("span", {}, a ?? "–");
    return el("span", { class: "attempt-cell" },
      el("span", { class: "strong attempt-count" }, String(a.length)),
      a.map((x, i) => {
        const st = attemptStatus(x);
        const title = x && typeof x === "object"
          ? [x.provider, x.actual_model, x.reason, typeof x.ms === "number" ? fmtMs(x.ms) : null].filter(Boolean).join(" · ")
          : null;
        return [i ? el("span", { class: "muted" }, "→") : null,
          el("span", { class: "badge badge-" + statusClass(x && typeof x === "object" ? (x.status ?? 0) : x), title },
            x && typeof x === "object" && x.provider ? el("span", { class: "who" }, x.provider + " ") : null, st)];
      }));
  }

  function renderLogs(rows) {
    const tbody = $("#logs-table tbody");
    if (!rows.length) return clear(tbody, el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No requests yet.")));
    clear(tbody, rows.map((r) => {
      const d = toDate(r.time);
      return el("tr", {},
        el("td", { class: "mono small nowrap", title: d ? d.toLocaleString() : null }, fmtTime(r.time)),
        el("td", {}, r.rule ?? "–"),
        el("td", {}, el("code", {}, r.model ?? "–"),
          r.original_model && r.original_model !== r.model ? el("div", { class: "muted small" }, "from " + r.original_model) : null),
        el("td", {}, r.provider ?? el("span", { class: "muted" }, "–")),
        el("td", {}, attemptsCell(r.attempts)),
        el("td", {}, badge(String(r.status ?? "?"), statusClass(r.status))),
        el("td", { class: "num nowrap" }, fmtMs(r.latency_ms)));
    }));
  }

  // ------------------------------------------------------------------ start

  function init() {
    loaders.overview = () => {
      renderTokenState();
      return loadOverview();
    };
    loaders.usage = loadUsage;
    loaders.requests = () => {
      reqView.offset = 0;
      return loadRequests();
    };
    loaders.providers = loadProviders;
    loaders.models = loadModels;
    loaders.rules = loadRules;
    loaders.test = loadTest;
    loaders.logs = loadLogs;

    // overview: admin token
    on($("#token-form"), "submit", (ev) => {
      ev.preventDefault();
      const v = $("#token-input").value.trim();
      try {
        if (v) localStorage.setItem(TOKEN_KEY, v);
        else localStorage.removeItem(TOKEN_KEY);
      } catch (e) {
        showError($("#overview-msg"), "Cannot store the token: " + e.message);
      }
      $("#token-input").value = "";
      renderTokenState();
      return loadOverview();
    });
    on($("#token-clear"), "click", () => {
      try {
        localStorage.removeItem(TOKEN_KEY);
      } catch {
        /* storage unavailable: nothing stored */
      }
      renderTokenState();
      return loadOverview();
    });

    // providers
    fillProviderTypes();
    resetProviderForm();
    on($("#prov-type"), "change", () => { updateBaseHint(); followTypeFlow(); });
    on($("#prov-name"), "input", updateOAuthStatus);
    on($("#prov-key"), "input", keyInputFollows);
    for (const r of document.querySelectorAll("#prov-auth input")) on(r, "change", updateAuthFields);
    on($("#prov-oauth-flow"), "change", () => { signin.flowTouched = true; showFlowSetup(); });
    on($("#prov-oauth-signin"), "click", startSignIn);
    on($("#prov-oauth-complete"), "click", completeSignIn);
    on($("#prov-oauth-abandon"), "click", () => { endSignIn(); clear($("#prov-oauth-msg")); });
    on($("#prov-oauth-code"), "keydown", (ev) => {
      if (ev.key !== "Enter") return undefined;
      ev.preventDefault(); // Enter completes the sign-in rather than saving the form
      return completeSignIn();
    });
    on($("#prov-form"), "submit", saveProvider);
    on($("#prov-cancel"), "click", () => { resetProviderForm(); clear($("#prov-msg")); });
    on($("#prov-new"), "click", () => { resetProviderForm(); clear($("#prov-msg")); $("#prov-name").focus(); });

    // models
    resetModelForm();
    on($("#map-add"), "click", () => { mapRows.push({ provider: "", actual_model: "" }); renderMapRows(); });
    on($("#model-form"), "submit", saveModel);
    on($("#model-cancel"), "click", () => { resetModelForm(); clear($("#model-msg")); });
    on($("#model-new"), "click", () => { resetModelForm(); clear($("#model-msg")); $("#model-name").focus(); });

    // rules
    const ta = $("#rules-text");
    on(ta, "input", () => {
      renderEditor();
      setRulesState("checking…", "muted");
      checkSoon();
    });
    on(ta, "scroll", syncScroll);
    on(ta, "keydown", (ev) => {
      if (ev.key === "Tab" && !ev.shiftKey && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
        ev.preventDefault();
        document.execCommand("insertText", false, "  ");
      } else if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") {
        ev.preventDefault();
        return saveRules();
      }
      return undefined;
    });
    on($("#rules-check"), "click", () => busy($("#rules-check"), checkRules));
    on($("#rules-save"), "click", saveRules);
    $("#explain-req").value = JSON.stringify(EXAMPLE_REQUEST, null, 2);
    on($("#explain-req"), "input", explainSoon);
    on($("#explain-headers"), "input", explainSoon);
    on($("#router-form"), "submit", saveRouter);
    on($("#rules-use-router"), "click", useRouterSlots);

    // test
    on($("#test-form"), "submit", sendTest);

    // usage
    for (const id of ["#usage-range", "#usage-bucket", "#usage-by"]) on($(id), "change", loadUsage);
    on($("#usage-refresh"), "click", loadUsage);
    on($("#usage-form"), "submit", (ev) => ev.preventDefault());
    if (!sizeWatcher) on(window, "resize", redrawCharts);
    if (window.matchMedia) {
      const scheme = window.matchMedia("(prefers-color-scheme: dark)");
      if (scheme.addEventListener) scheme.addEventListener("change", guard(redrawCharts));
    }

    // requests
    const refilter = () => {
      reqView.offset = 0;
      return loadRequests();
    };
    for (const id of ["#req-session", "#req-model", "#req-provider", "#req-status"]) on($(id), "change", refilter);
    on($("#req-since"), "change", () => {
      reqView.choicesFor = null;
      return refilter();
    });
    on($("#req-refresh"), "click", () => {
      reqView.choicesFor = null;
      return loadRequests();
    });
    on($("#req-reset"), "click", () => {
      $("#req-form").reset();
      reqView.choicesFor = null;
      return refilter();
    });
    on($("#req-form"), "submit", (ev) => ev.preventDefault());
    on($("#req-newer"), "click", () => {
      reqView.offset = Math.max(0, reqView.offset - reqView.limit);
      return loadRequests();
    });
    on($("#req-older"), "click", () => {
      reqView.offset += reqView.limit;
      return loadRequests();
    });

    on(window, "hashchange", showTab);
    showTab();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", guard(init));
  else guard(init)();
})();
