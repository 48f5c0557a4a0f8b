// Where the sign-in form may send the browser afterwards: a path of this site only (the server's safe_next rule).

const HOME = "/console";
const CONTROL = /[\u0000-\u001f\u007f]/;

function unsafe(value) {
  return !value.startsWith("/") || value.startsWith("//") || value.includes("\\") || CONTROL.test(value);
}

/** `value` when it is a same-origin path (checked as given and once more decoded), else the console's first page. */
export function safeNext(value) {
  if (!value) return HOME;
  let decoded;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return HOME;
  }
  if (unsafe(value) || unsafe(decoded)) return HOME;
  // The URL parser has the last word: whatever it makes of the value must stay on this origin.
  const resolved = new URL(value, location.origin);
  return resolved.origin === location.origin ? resolved.pathname + resolved.search + resolved.hash : HOME;
}
