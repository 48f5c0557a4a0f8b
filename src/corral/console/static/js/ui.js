// DOM helpers of the console. Text from jobs, errors and the API is only ever set with textContent.

export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = String(value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

export function $(selector, root = document) {
  const found = root.querySelector(selector);
  if (!found) throw new Error(`missing element ${selector}`);
  return found;
}

// ---- formatting -----------------------------------------------------------------------------------------------

export function fmtNumber(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return new Intl.NumberFormat("en").format(value);
}

export function fmtPercent(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return "–";
  return `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)}%`;
}

export function fmtTime(ms) {
  if (!ms) return "–";
  const date = new Date(ms);
  return date.toLocaleString("en-GB", { hour12: false, year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function fmtAgo(ms) {
  if (!ms) return "–";
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function pretty(value) {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

export function truncate(text, length = 120) {
  const value = String(text ?? "");
  return value.length > length ? `${value.slice(0, length - 1)}…` : value;
}

// ---- states: loading, empty, error ----------------------------------------------------------------------------

export function setState(container, kind, message) {
  clear(container);
  container.dataset.kind = kind || "";
  container.hidden = !kind;
  if (!kind) return;
  const classes = { loading: "state-loading", empty: "state-empty", error: "state-error" };
  container.appendChild(el("p", { class: classes[kind] || "", text: message }));
  if (kind === "loading") container.closest("[aria-busy]")?.setAttribute("aria-busy", "true");
}

export function describe(error) {
  if (error && error.title) return error.detail ? `${error.title}: ${error.detail}` : error.title;
  return String((error && error.message) || error);
}

// ---- toasts ---------------------------------------------------------------------------------------------------

export function toast(message, kind = "ok") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const item = el("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    el("span", { text: message }),
    el("button", { type: "button", class: "ghost", "aria-label": "Dismiss", text: "✕", onclick: () => item.remove() }));
  showAboveDialogs(region);
  region.appendChild(item);
  setTimeout(() => item.remove(), kind === "error" ? 12000 : 5000);
}

// A modal dialog covers the page and makes the rest of it inert: while one is open, the toasts live inside it
// (they are fixed to the viewport either way), and go back to the page when it closes.
function showAboveDialogs(region) {
  const dialog = [...document.querySelectorAll("dialog[open]")].pop();
  const host = dialog || document.body;
  if (region.parentElement === host) return;
  host.appendChild(region);
  if (dialog) dialog.addEventListener("close", () => document.body.appendChild(region), { once: true });
}

/** Run `action` with `button` disabled; toast its outcome; errors are shown, never swallowed. */
export async function act(button, action, success) {
  if (button) button.disabled = true;
  try {
    const result = await action();
    const message = typeof success === "function" ? success(result) : success;
    if (message) toast(message, "ok");
    return result;
  } catch (error) {
    toast(describe(error), "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- dialogs --------------------------------------------------------------------------------------------------

export function openDialog(dialog) {
  if (!dialog.open) dialog.showModal();
  const first = dialog.querySelector("[autofocus], input:not([type=hidden]), select, textarea, button:not(.close)");
  if (first) first.focus();
}

export function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}

export function wireDialogs(root = document) {
  for (const button of root.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => closeDialog(button.closest("dialog")));
  }
}

export function showFormError(element, message) {
  element.textContent = message || "";
  element.hidden = !message;
}

/**
 * The confirmation dialog: resolves with the typed phrase (or "" when none is asked), or null when cancelled.
 * `phrase`, when given, must be typed exactly before Confirm is enabled.
 */
export function confirmAction({ title, text, sample = [], phrase = null, confirmLabel = "Confirm" }) {
  const dialog = $("#confirm-dialog");
  $("#confirm-title", dialog).textContent = title;
  $("#confirm-text", dialog).textContent = text;
  const list = clear($("#confirm-sample", dialog));
  for (const item of sample) list.appendChild(el("li", { class: "mono", text: item }));
  list.hidden = sample.length === 0;
  const typed = $("#confirm-typed", dialog);
  const input = $("#confirm-phrase", dialog);
  const submit = $("#confirm-submit", dialog);
  const error = $("#confirm-error", dialog);
  showFormError(error, "");
  submit.textContent = confirmLabel;
  input.value = "";
  typed.hidden = phrase === null;
  $("#confirm-expected", dialog).textContent = phrase ?? "";
  const sync = () => { submit.disabled = phrase !== null && input.value !== phrase; };
  sync();
  input.oninput = sync;
  return new Promise((resolve) => {
    const form = $("#confirm-form", dialog);
    let settled = false;
    const finish = (value) => {
      if (settled) return;
      settled = true;
      form.onsubmit = null;
      dialog.onclose = null;
      resolve(value);
    };
    form.onsubmit = (event) => {
      event.preventDefault();
      if (phrase !== null && input.value !== phrase) {
        showFormError(error, `type ${phrase} exactly to confirm`);
        return;
      }
      const value = phrase === null ? "" : input.value;
      finish(value);
      closeDialog(dialog);
    };
    dialog.onclose = () => finish(null);
    openDialog(dialog);
  });
}
