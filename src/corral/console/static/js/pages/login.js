// The sign-in form: POST /auth/login, then go to the page that sent the browser here.

import { request } from "../api.js";
import { safeNext } from "../next.js";
import { $, describe, showFormError } from "../ui.js";

const form = $("#login");
const error = $("#login-error");

function target() {
  return safeNext(form.dataset.next || "");
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
