// The sign-in form: POST /auth/login, then go to the page that sent the browser here.

import { request } from "../api.js";
import { $, describe, showFormError } from "../ui.js";

const form = $("#login");
const error = $("#login-error");

function target() {
  const next = form.dataset.next || "/console";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/console";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = form.elements.email.value.trim();
  const password = form.elements.password.value;
  if (!email || !password) {
    showFormError(error, "enter your email and password");
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  showFormError(error, "");
  try {
    await request("POST", "/auth/login", { body: { email, password } });
    location.assign(target());
  } catch (failure) {
    showFormError(error, describe(failure));
    button.disabled = false;
  }
});
