// The demo's web chat: plays the demo people against the local Bot API (see bot/devtools/demo/web.py).
// Every text from the bot or a person goes into the page with textContent or as the text of an
// element built here; nothing is ever parsed as HTML.
"use strict";

(() => {
  const POLL_MS = 500;
  const S = {
    lang: localStorage.getItem("demo.lang") || "",
    texts: {},
    people: [],
    group: null,
    bot: null,
    origin: "",
    me: Number(localStorage.getItem("demo.me")) || 0,
    chat: localStorage.getItem("demo.chat") === "group" ? "group" : "private",
    revision: 0,
    messages: new Map(), // "chat:id" → message as /api/messages gives it
    pinned: {},
    unread: {},
    replyTo: null,
    polling: false,
    loaded: false,
  };
  const $ = (id) => document.getElementById(id);

  // Small helpers ------------------------------------------------------------------------

  function t(key, params) {
    let text = S.texts[key] || key;
    for (const [name, value] of Object.entries(params || {})) {
      text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    const response = await fetch(path, options);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const error = new Error((data && data.error) || "http-" + response.status);
      error.code = (data && data.error) || "";
      throw error;
    }
    return data;
  }

  function person(id) { return S.people.find((p) => p.id === id); }
  function chatId() { return S.chat === "group" ? S.group.id : S.me; }
  function key(chat, id) { return chat + ":" + id; }
  function isAdmin(p) { return p && (p.group_status === "creator" || p.group_status === "administrator"); }

  // Links: this server's own addresses become paths, so they work from wherever the page is.
  function localUrl(url) {
    if (S.origin && (url === S.origin || url.startsWith(S.origin + "/"))) {
      return url.slice(S.origin.length) || "/";
    }
    return url;
  }
  function safeHref(url) {
    const local = localUrl(String(url || ""));
    if (local.startsWith("/") && !local.startsWith("//")) return local;
    try {
      const parsed = new URL(local);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") return parsed.href;
    } catch (e) { /* not a URL */ }
    return null;
  }
  function link(href, text) {
    const a = el("a", "", text);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  // Toasts and alerts (a bot's callback answers) ----------------------------------------

  let toastTimer = null;
  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 2600);
  }
  function alertBox(text) {
    $("alert-text").textContent = text;
    $("alert").hidden = false;
    $("alert-ok").focus();
  }

  // Telegram entities → elements ---------------------------------------------------------

  // Telegram finds links and /commands in plain text itself; so does the page.
  const AUTO_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]|(^|[\s(])(\/[A-Za-z0-9_]{1,32})(?![\w/])/g;

  function appendPlain(parent, text, linkify) {
    if (!text) return;
    if (!linkify) { parent.appendChild(document.createTextNode(text)); return; }
    let last = 0;
    for (const match of text.matchAll(AUTO_RE)) {
      let start = match.index;
      let found = match[0];
      if (match[2]) { start += match[1].length; found = match[2]; }
      parent.appendChild(document.createTextNode(text.slice(last, start)));
      if (match[2]) {
        const command = el("span", "command", found);
        command.addEventListener("click", (event) => { event.stopPropagation(); sendText(found); });
        parent.appendChild(command);
      } else {
        const href = safeHref(found);
        parent.appendChild(href ? link(href, found) : document.createTextNode(found));
      }
      last = start + found.length;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function entityNode(entity, text) {
    switch (entity.type) {
      case "bold": return el("b");
      case "italic": return el("i");
      case "underline": return el("u");
      case "strikethrough": return el("s");
      case "code": return el("code");
      case "pre": { const pre = el("pre"); pre.appendChild(el("code")); return pre; }
      case "blockquote":
      case "expandable_blockquote": return el("blockquote");
      case "spoiler": {
        const span = el("span", "spoiler");
        span.addEventListener("click", () => span.classList.add("shown"));
        return span;
      }
      case "text_link":
      case "url": {
        const href = safeHref(entity.type === "url" ? text : entity.url);
        return href ? link(href) : el("span");
      }
      case "bot_command": {
        const span = el("span", "command");
        span.addEventListener("click", (event) => { event.stopPropagation(); sendText(text); });
        return span;
      }
      case "mention":
      case "hashtag":
      case "cashtag": return el("span", "mention");
      default: return el("span");
    }
  }

  // Entities are nested (Telegram's HTML parse gives them sorted by offset, longest first);
  // offsets are UTF-16 units, as JavaScript strings are.
  function renderEntities(parent, text, start, end, entities, linkify) {
    let position = start;
    let i = 0;
    while (i < entities.length) {
      const entity = entities[i];
      const from = Math.max(entity.offset, position);
      const to = Math.min(entity.offset + entity.length, end);
      let j = i + 1;
      const inner = [];
      while (j < entities.length && entities[j].offset < entity.offset + entity.length) {
        inner.push(entities[j]);
        j += 1;
      }
      if (to > from) {
        appendPlain(parent, text.slice(position, from), linkify);
        const node = entityNode(entity, text.slice(from, to));
        const target = node.tagName === "PRE" ? node.firstChild : node;
        const plainInside = linkify && !["A", "PRE", "CODE"].includes(node.tagName);
        renderEntities(target, text, from, to, inner, plainInside);
        parent.appendChild(node);
        position = to;
      }
      i = j;
    }
    appendPlain(parent, text.slice(position, end), linkify);
  }

  function formatted(text, entities) {
    const box = el("div", "text");
    const sorted = (entities || []).slice().sort((a, b) => a.offset - b.offset || b.length - a.length);
    renderEntities(box, text || "", 0, (text || "").length, sorted, true);
    return box;
  }

  // Messages → elements ------------------------------------------------------------------

  // The server writes the time as the bot's cards do (Kigali, 24-hour): never the browser's zone.
  function timeOf(message) {
    return message.time || "";
  }

  function sizeText(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function serviceText(service) {
    switch (service.kind) {
      case "added": return t("demo-service-added", { actor: service.actor, name: service.names.join(", ") });
      case "left": return t("demo-service-left", { name: service.names.join(", ") });
      case "migrated": return t("demo-service-migrated");
      case "pinned": return t("demo-service-pinned", { actor: service.actor });
      default: return t("demo-service-other");
    }
  }

  function renderMessage(message) {
    if (message.service) {
      const row = el("div", "row service-row");
      row.dataset.id = message.id;
      row.appendChild(el("div", "service", serviceText(message.service)));
      return row;
    }
    const mine = message.from.id === S.me;
    const row = el("div", "row " + (mine ? "out" : "in"));
    row.dataset.id = message.id;
    const bubble = el("div", "bubble");
    row.appendChild(bubble);
    if (S.chat === "group" && !mine) {
      bubble.appendChild(el("div", "author c" + (Math.abs(message.from.id || 0) % 4), message.from.name));
    }
    if (message.reply_to) {
      const quote = el("div", "reply-quote");
      quote.appendChild(el("b", "", message.reply_to.name));
      quote.appendChild(el("span", "", message.reply_to.text));
      quote.addEventListener("click", () => scrollToMessage(message.reply_to.id));
      bubble.appendChild(quote);
    }
    if (message.photo) {
      bubble.classList.add("media");
      const img = el("img", "photo");
      img.alt = t("demo-photo");
      img.src = message.photo.url;
      if (message.photo.width && message.photo.height) {
        img.width = message.photo.width;
        img.height = message.photo.height;
      }
      img.addEventListener("load", () => { if (stickToBottom) scrollToBottom(); });
      img.addEventListener("click", () => window.open(message.photo.url, "_blank", "noopener"));
      bubble.appendChild(img);
    }
    if (message.document) {
      const doc = el("a", "doc");
      doc.href = message.document.url;
      doc.download = message.document.name;
      doc.title = t("demo-download");
      const icon = el("span", "doc-icon");
      icon.appendChild(document.createTextNode("\u2B07"));
      const info = el("span", "doc-info");
      info.appendChild(el("div", "doc-name", message.document.name));
      info.appendChild(el("div", "doc-size", sizeText(message.document.size)));
      doc.appendChild(icon);
      doc.appendChild(info);
      bubble.appendChild(doc);
    }
    let body;
    if (message.unsupported) {
      body = el("div", "text unsupported", t("demo-unsupported"));
    } else {
      body = formatted(message.text, message.entities);
    }
    const meta = el("span", "meta");
    const stamp = (message.edited ? t("demo-edited") + " " : "") + timeOf(message) + (mine ? " \u2713\u2713" : "");
    meta.textContent = stamp;
    if (message.via) meta.textContent = t("demo-via", { name: "@" + message.via }) + " \u00B7 " + stamp;
    if (message.photo && !message.text) {
      meta.classList.add("meta-only");
      bubble.appendChild(meta);
    } else {
      body.appendChild(meta);
      bubble.appendChild(body);
    }
    // As a double tap on Telegram's phone apps: reply to this message.
    bubble.addEventListener("dblclick", (event) => {
      if (event.target.closest("a, .command, .spoiler, img")) return;
      setReply(message);
    });
    if (message.buttons && message.buttons.length) {
      row.classList.add("has-keyboard");
      row.appendChild(renderKeyboard(message));
    }
    return row;
  }

  function renderKeyboard(message) {
    const keyboard = el("div", "keyboard");
    message.buttons.forEach((buttons) => {
      const line = el("div", "kb-row");
      buttons.forEach((button) => {
        const node = el("button", "kb-btn", button.text);
        node.type = "button";
        node.title = button.text;
        const corner = { url: "\u2197", start: "\u2197", telegram: "\u2197", inline: "\u21AA", copy: "\u2398" }[button.kind];
        if (corner) node.appendChild(el("span", "corner", corner));
        node.addEventListener("click", () => pressButton(message, button, node));
        line.appendChild(node);
      });
      keyboard.appendChild(line);
    });
    return keyboard;
  }

  // Buttons --------------------------------------------------------------------------------

  async function pressButton(message, button, node) {
    switch (button.kind) {
      case "callback": {
        if (node.classList.contains("busy")) return;
        node.classList.add("busy");
        try {
          const result = await api("/api/press", {
            chat_id: message.chat_id, message_id: message.id, user_id: S.me,
            data: button.data, lang: S.lang,
          });
          const answer = result && result.answer;
          if (answer && answer.text) {
            if (answer.show_alert) alertBox(answer.text); else toast(answer.text);
          }
          poll();
        } catch (error) {
          toast(t(error.code === "not-member" ? "demo-error-not-member" : "demo-error-button"));
        } finally {
          node.classList.remove("busy");
        }
        return;
      }
      case "url": {
        const href = safeHref(button.url);
        if (href) window.open(href, "_blank", "noopener");
        return;
      }
      case "start":
        switchChat("private");
        if (button.payload) await sendText("/start " + button.payload);
        return;
      case "inline": toast(t("demo-note-inline")); return;
      case "telegram": toast(t("demo-note-telegram")); return;
      case "copy":
        try { await navigator.clipboard.writeText(button.copy); toast(t("demo-copied")); }
        catch (e) { alertBox(button.copy); }
        return;
      default: toast(t("demo-note-unsupported"));
    }
  }

  // The list of messages -----------------------------------------------------------------

  let stickToBottom = true;
  function nearBottom() {
    const box = $("messages");
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }
  function scrollToBottom() {
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
  }
  function scrollToMessage(id) {
    const row = $("messages").querySelector('.row[data-id="' + Number(id) + '"]');
    if (!row) return;
    row.scrollIntoView({ block: "center" });
    row.classList.remove("highlight");
    void row.offsetWidth;
    row.classList.add("highlight");
  }

  function chatMessages(chat) {
    return Array.from(S.messages.values())
      .filter((m) => m.chat_id === chat && !m.deleted)
      .sort((a, b) => a.id - b.id);
  }

  function renderChat() {
    const box = $("messages");
    box.textContent = "";
    const list = chatMessages(chatId());
    if (!list.length) {
      box.appendChild(el("div", "empty", t(S.chat === "group" ? "demo-empty-group" : "demo-empty-private")));
    }
    list.forEach((message) => box.appendChild(renderMessage(message)));
    renderPinned();
    scrollToBottom();
  }

  function placeMessage(message) {
    const box = $("messages");
    const existing = box.querySelector('.row[data-id="' + message.id + '"]');
    if (message.deleted) { if (existing) existing.remove(); return; }
    const node = renderMessage(message);
    if (existing) { existing.replaceWith(node); return; }
    const empty = box.querySelector(".empty");
    if (empty) empty.remove();
    const after = Array.from(box.querySelectorAll(".row")).find((row) => Number(row.dataset.id) > message.id);
    box.insertBefore(node, after || null);
  }

  function renderPinned() {
    const id = S.pinned[String(chatId())];
    const message = id ? S.messages.get(key(chatId(), id)) : null;
    const bar = $("pinned");
    if (!message || message.deleted) { bar.hidden = true; return; }
    $("pinned-label").textContent = t("demo-pinned");
    $("pinned-text").textContent = (message.text || (message.photo ? t("demo-photo") : "")).split("\n")[0];
    bar.hidden = false;
    bar.onclick = () => scrollToMessage(id);
  }

  // Header, tabs, pickers ----------------------------------------------------------------

  function renderChrome() {
    document.documentElement.lang = S.lang;
    document.title = t("demo-page-title");
    $("banner").textContent = t("demo-banner");
    $("phone-of-label").textContent = t("demo-phone-of");
    $("person").title = t("demo-phone-of");
    $("language-label").textContent = t("demo-language");
    $("input").placeholder = t("demo-input-placeholder");
    $("send-label").textContent = t("demo-send");
    $("menu-button").textContent = t("demo-menu");
    $("alert-ok").textContent = t("demo-ok");
    $("reply-cancel").title = t("demo-cancel");
    $("offline").textContent = t("demo-offline");

    const personSelect = $("person");
    personSelect.textContent = "";
    S.people.forEach((p) => {
      const role = isAdmin(p) ? t("demo-role-owner") : t("demo-role-member");
      const option = el("option", "", p.name + " (" + role + ")");
      option.value = String(p.id);
      option.selected = p.id === S.me;
      personSelect.appendChild(option);
    });
    const languageSelect = $("language");
    languageSelect.textContent = "";
    S.languages.forEach((language) => {
      const option = el("option", "", language.name);
      option.value = language.code;
      option.selected = language.code === S.lang;
      languageSelect.appendChild(option);
    });
    renderHeader();
  }

  function renderHeader() {
    const inGroup = S.chat === "group";
    const title = inGroup ? S.group.title : S.bot.name;
    $("chat-name").textContent = title;
    $("chat-subtitle").textContent = inGroup
      ? t("demo-group-members", { count: S.people.length + 1 })
      : t("demo-chat-bot-subtitle");
    const avatar = $("avatar");
    avatar.textContent = (title || "?").trim().charAt(0).toUpperCase();
    avatar.classList.toggle("group", inGroup);
    renderTabs();
  }

  function renderTabs() {
    [["private", S.me, S.bot.name], ["group", S.group.id, S.group.title]].forEach(([name, id, label]) => {
      const tab = $("tab-" + name);
      tab.textContent = label;
      tab.setAttribute("aria-selected", String(S.chat === name));
      const count = S.unread[id] || 0;
      if (count && S.chat !== name) tab.appendChild(el("span", "badge", String(count)));
    });
  }

  function switchChat(name) {
    if (S.chat !== name) setReply(null);
    S.chat = name;
    localStorage.setItem("demo.chat", name);
    S.unread[chatId()] = 0;
    closeMenu();
    renderHeader();
    renderChat();
  }

  // Composing ----------------------------------------------------------------------------

  function setReply(message) {
    S.replyTo = message ? message.id : null;
    $("reply-bar").hidden = !message;
    if (message) {
      $("reply-name").textContent = t("demo-reply-to", { name: message.from.name });
      $("reply-snippet").textContent = (message.text || (message.photo ? t("demo-photo") : "")).split("\n")[0];
      $("input").focus();
    }
  }

  async function sendText(text) {
    const value = text.trim() ? text : "";
    if (!value) return;
    const body = { chat_id: chatId(), user_id: S.me, text: value, lang: S.lang };
    if (S.replyTo) body.reply_to = S.replyTo;
    try {
      const result = await api("/api/send", body);
      setReply(null);
      stickToBottom = true;
      merge([result.message]);
      scrollToBottom();
      poll();
      return true;
    } catch (error) {
      toast(t(error.code === "not-member" ? "demo-error-not-member" : "demo-error-send"));
      return false;
    }
  }

  function autosize() {
    const input = $("input");
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
    $("send").disabled = !input.value.trim();
  }

  // The command menu, from the bot's setMyCommands.
  function closeMenu() { $("menu").hidden = true; }
  async function toggleMenu() {
    const menu = $("menu");
    if (!menu.hidden) { closeMenu(); return; }
    menu.textContent = "";
    let commands = [];
    try {
      const query = "?chat_id=" + chatId() + "&user_id=" + S.me + "&lang=" + encodeURIComponent(S.lang);
      commands = (await api("/api/commands" + query)).commands;
    } catch (e) { commands = []; }
    if (!commands.length) menu.appendChild(el("div", "menu-empty", t("demo-menu-empty")));
    commands.forEach((command) => {
      const item = el("button", "menu-item");
      item.type = "button";
      item.appendChild(el("span", "cmd", "/" + command.command));
      item.appendChild(el("span", "desc", command.description));
      item.addEventListener("click", () => { closeMenu(); sendText("/" + command.command); });
      menu.appendChild(item);
    });
    menu.hidden = false;
  }

  // Polling for what changed -------------------------------------------------------------

  function merge(messages) {
    const current = chatId();
    stickToBottom = nearBottom();
    let touched = false;
    messages.forEach((message) => {
      const k = key(message.chat_id, message.id);
      const known = S.messages.get(k);
      if (known && known.revision >= message.revision) return;
      S.messages.set(k, message);
      const fresh = S.loaded && !known && !message.deleted;
      if (fresh && message.from.id !== S.me && message.chat_id !== current) {
        S.unread[message.chat_id] = (S.unread[message.chat_id] || 0) + 1;
      }
      if (message.chat_id === current) {
        placeMessage(message);
        touched = true;
        if (!known && message.force_reply && message.from.is_bot) setReply(message);
      }
    });
    if (touched && stickToBottom) scrollToBottom();
    renderTabs();
  }

  let pollTimer = null;
  async function poll() {
    clearTimeout(pollTimer);
    if (S.polling) { pollTimer = setTimeout(poll, POLL_MS); return; }
    S.polling = true;
    try {
      const data = await api("/api/messages?since=" + S.revision);
      $("offline").hidden = true;
      S.pinned = data.pinned || {};
      merge(data.messages);
      S.revision = Math.max(S.revision, data.revision);
      S.loaded = true;
      renderPinned();
    } catch (e) {
      $("offline").hidden = false;
    } finally {
      S.polling = false;
      pollTimer = setTimeout(poll, POLL_MS);
    }
  }

  async function loadState() {
    const state = await api("/api/state" + (S.lang ? "?lang=" + encodeURIComponent(S.lang) : ""));
    S.lang = state.lang;
    S.texts = state.texts;
    S.languages = state.languages;
    S.people = state.people;
    S.group = state.group;
    S.bot = state.bot;
    S.origin = state.origin;
    if (!person(S.me)) S.me = S.people[0].id;
  }

  async function start() {
    await loadState();
    renderChrome();
    renderChat();
    autosize();
    $("tab-private").addEventListener("click", () => switchChat("private"));
    $("tab-group").addEventListener("click", () => switchChat("group"));
    $("person").addEventListener("change", (event) => {
      S.me = Number(event.target.value);
      localStorage.setItem("demo.me", String(S.me));
      setReply(null);
      S.unread = {};
      renderChrome();
      renderChat();
    });
    $("language").addEventListener("change", async (event) => {
      S.lang = event.target.value;
      localStorage.setItem("demo.lang", S.lang);
      await loadState();
      renderChrome();
      renderChat();
    });
    $("composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("input");
      const text = input.value;
      if (!text.trim()) return;
      input.value = "";
      autosize();
      if (!(await sendText(text))) { input.value = text; autosize(); }
    });
    $("input").addEventListener("input", autosize);
    $("input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("composer").requestSubmit();
      }
    });
    $("menu-button").addEventListener("click", toggleMenu);
    $("reply-cancel").addEventListener("click", () => setReply(null));
    $("alert-ok").addEventListener("click", () => { $("alert").hidden = true; });
    $("messages").addEventListener("click", closeMenu);
    poll();
  }

  document.addEventListener("DOMContentLoaded", () => {
    start().catch(() => { $("offline").hidden = false; setTimeout(() => location.reload(), 2000); });
  });
})();
