// What every console page shares: sign-out, dialogs, keyboard shortcuts, tabs and unexpected-error toasts.

import { api, session } from "./api.js";
import { act, describe, openDialog, toast, wireDialogs } from "./ui.js";

const GO = { q: "/console", w: "/console/workers", e: "/console/alerts", s: "/console/schedules", d: "/console/dlq", a: "/console/dlq/analytics", l: "/console/live", u: "/console/audit" };
let refreshHandler = null;

/** Register what the `r` shortcut (and the page's Refresh button, if any) does. */
export function onRefresh(handler) {
  refreshHandler = handler;
  const button = document.getElementById("refresh");
  if (button) button.addEventListener("click", () => act(button, () => handler(true)));
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function keyboard() {
  let pendingG = false;
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) || document.querySelector("dialog[open]")) {
      return;
    }
    if (pendingG) {
      pendingG = false;
      const target = GO[event.key];
      if (target) {
        event.preventDefault();
        location.assign(target);
      }
      return;
    }
    if (event.key === "g") {
      pendingG = true;
      setTimeout(() => { pendingG = false; }, 1500);
    } else if (event.key === "/") {
      const search = document.querySelector("[data-search]");
      if (search) {
        event.preventDefault();
        search.focus();
      }
    } else if (event.key === "r" && refreshHandler) {
      event.preventDefault();
      refreshHandler(true);
    } else if (event.key === "?") {
      const help = document.getElementById("shortcuts");
      if (help) openDialog(help);
    }
  });
}

/** Arrow keys, Home and End move between the tabs of a tablist (roving tabindex). */
export function wireTabs(list, onSelect) {
  list.addEventListener("keydown", (event) => {
    const tabs = [...list.querySelectorAll("[role=tab]")];
    const index = tabs.indexOf(document.activeElement);
    if (index < 0) return;
    let next = null;
    if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
    else if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
    else if (event.key === "Home") next = tabs[0];
    else if (event.key === "End") next = tabs[tabs.length - 1];
    if (next) {
      event.preventDefault();
      next.focus();
      onSelect(next);
    }
  });
}

export function markTabs(list, selected) {
  for (const tab of list.querySelectorAll("[role=tab]")) {
    const on = tab === selected || tab.dataset.value === selected;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
  }
}

export function startShell() {
  wireDialogs();
  keyboard();
  const signOut = document.getElementById("sign-out");
  if (signOut) {
    signOut.addEventListener("click", () =>
      act(signOut, async () => {
        await api.post("/auth/logout");
        location.assign("/login");
      }));
  }
  window.addEventListener("unhandledrejection", (event) => toast(describe(event.reason), "error"));
  session().catch((error) => toast(describe(error), "error"));
}
