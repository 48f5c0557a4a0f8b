// A form generated from a job contract's JSON schema (pydantic's model_json_schema): one input per field,
// required fields checked before sending, and the API's field errors shown next to their inputs.

import { clear, el } from "./ui.js";

function resolve(schema, root) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return resolve((root.$defs || {})[name] || {}, root);
  }
  if (schema && Array.isArray(schema.anyOf)) {
    const options = schema.anyOf.filter((option) => option.type !== "null");
    if (options.length === 1) return { ...resolve(options[0], root), nullable: true, default: schema.default };
  }
  return schema || {};
}

function kindOf(schema) {
  if (Array.isArray(schema.enum)) return "enum";
  if (schema.type === "boolean") return "boolean";
  if (schema.type === "integer" || schema.type === "number") return "number";
  if (schema.type === "string") return (schema.maxLength || 100000) > 500 ? "text" : "string";
  if (schema.type === "array" && schema.items && ["string", "integer", "number"].includes(schema.items.type)) {
    return "list";
  }
  return "json";
}

function hint(schema, kind) {
  const parts = [];
  if (schema.description) parts.push(schema.description);
  if (kind === "list") parts.push("one per line");
  if (kind === "json") parts.push("JSON");
  if (schema.format === "date-time") parts.push("ISO 8601 with a timezone, e.g. 2030-01-01T09:00:00Z");
  if (schema.format === "email") parts.push("an email address");
  if (schema.minimum !== undefined || schema.maximum !== undefined) {
    parts.push(`${schema.minimum ?? "…"} to ${schema.maximum ?? "…"}`);
  }
  if (schema.minItems || schema.maxItems) parts.push(`${schema.minItems ?? 0} to ${schema.maxItems ?? "…"} items`);
  return parts.join(" · ");
}

function input(name, schema, kind, id) {
  const initial = schema.default ?? null;
  if (kind === "enum") {
    const select = el("select", { id, name });
    if (initial === null) select.appendChild(el("option", { value: "", text: "—" }));
    for (const option of schema.enum) {
      select.appendChild(el("option", { value: String(option), text: String(option), selected: option === initial }));
    }
    return select;
  }
  if (kind === "boolean") return el("input", { id, name, type: "checkbox", checked: initial === true });
  if (kind === "number") {
    return el("input", { id, name, type: "number", step: schema.type === "integer" ? "1" : "any",
      min: schema.minimum, max: schema.maximum, value: initial ?? "" });
  }
  if (kind === "string") {
    return el("input", { id, name, type: schema.format === "email" ? "email" : "text", maxlength: schema.maxLength,
      value: initial ?? "", autocomplete: "off" });
  }
  const area = el("textarea", { id, name, rows: kind === "text" ? 4 : 3, spellcheck: "false" });
  if (initial !== null) area.value = kind === "list" ? initial.join("\n") : kind === "json" ? JSON.stringify(initial) : initial;
  return area;
}

/** Render the fields of `schema` into `fieldset`; returns {read, fill, showErrors, clearErrors}. */
export function schemaForm(fieldset, schema) {
  const legend = fieldset.querySelector("legend");
  clear(fieldset);
  if (legend) fieldset.appendChild(legend);
  const required = new Set(schema.required || []);
  const fields = new Map();
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    const property = resolve(raw, schema);
    const kind = kindOf(property);
    const id = `field-${name}`;
    const control = input(name, property, kind, id);
    const error = el("p", { class: "field-error", id: `${id}-error`, hidden: true });
    control.setAttribute("aria-describedby", `${id}-error`);
    const text = hint(property, kind);
    const wrapper = el("div", { class: `field field-${kind}`, dataset: { field: name } },
      el("label", { for: id }, name, required.has(name) ? el("span", { class: "required", text: " *" }) : null),
      control, text ? el("p", { class: "field-hint", text }) : null, error);
    fieldset.appendChild(wrapper);
    fields.set(name, { control, error, kind, property, required: required.has(name) });
  }

  function setError(name, message) {
    const field = fields.get(name);
    if (!field) return false;
    field.error.textContent = message;
    field.error.hidden = false;
    field.control.setAttribute("aria-invalid", "true");
    return true;
  }

  function clearErrors() {
    for (const field of fields.values()) {
      field.error.textContent = "";
      field.error.hidden = true;
      field.control.removeAttribute("aria-invalid");
    }
  }

  function read() {
    clearErrors();
    const payload = {};
    let valid = true;
    for (const [name, field] of fields) {
      const { control, kind, property } = field;
      if (kind === "boolean") {
        payload[name] = control.checked;
        continue;
      }
      const raw = control.value.trim();
      if (!raw) {
        if (field.required) {
          setError(name, "required");
          valid = false;
        }
        continue;
      }
      if (kind === "number") {
        const value = Number(raw);
        if (!Number.isFinite(value) || (property.type === "integer" && !Number.isInteger(value))) {
          setError(name, property.type === "integer" ? "a whole number" : "a number");
          valid = false;
        } else payload[name] = value;
      } else if (kind === "list") {
        const items = raw.split("\n").map((item) => item.trim()).filter(Boolean);
        const numeric = property.items.type !== "string";
        payload[name] = numeric ? items.map(Number) : items;
      } else if (kind === "json") {
        try {
          payload[name] = JSON.parse(raw);
        } catch (error) {
          setError(name, `not valid JSON (${error.message})`);
          valid = false;
        }
      } else {
        payload[name] = kind === "text" ? control.value : raw;
      }
    }
    return { payload, valid };
  }

  /** Put each API field error next to its input; returns the errors that name no input. */
  function showErrors(errors) {
    const rest = [];
    for (const { field, reason } of errors) {
      const name = String(field).replace(/^payload\./, "").split(".")[0];
      const detail = String(field).includes(".") ? `${field}: ${reason}` : reason;
      if (!setError(name, detail)) rest.push(`${field}: ${reason}`);
    }
    const first = fieldset.querySelector("[aria-invalid=true]");
    if (first) first.focus();
    return rest;
  }

  /** Put the values of `payload` (an object of the schema's shape) into the inputs. */
  function fill(payload) {
    for (const [name, field] of fields) {
      if (!(name in (payload || {}))) continue;
      const value = payload[name];
      if (field.kind === "boolean") field.control.checked = value === true;
      else if (value === null || value === undefined) field.control.value = "";
      else if (field.kind === "list" && Array.isArray(value)) field.control.value = value.join("\n");
      else if (field.kind === "json") field.control.value = JSON.stringify(value);
      else field.control.value = String(value);
    }
  }

  return { read, fill, showErrors, clearErrors };
}
