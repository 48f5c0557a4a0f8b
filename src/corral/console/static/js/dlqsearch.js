// The DLQ search box's `field:value` syntax, turned into the API's filter parameters.
// Known keys filter by index (queue, name, fp, replays, status, job, error, since, until); any other `key:value`
// is a payload field search; the remaining words are free text.

const KEYS = {
  queue: "queue", name: "name", job: "job_id", job_id: "job_id", id: "job_id", fp: "fingerprint",
  fingerprint: "fingerprint", replays: "replays", status: "status", error: "error",
};

function tokens(text) {
  const found = [];
  const pattern = /(\S+?):"([^"]*)"|(\S+?):(\S+)|"([^"]*)"|(\S+)/g;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    if (match[1] !== undefined) found.push({ key: match[1], value: match[2] });
    else if (match[3] !== undefined) found.push({ key: match[3], value: match[4] });
    else found.push({ key: null, value: match[5] ?? match[6] });
  }
  return found;
}

/** {params, errors}: the filter parameters a search text means (params.field is a list of `name:value`). */
export function parseSearch(text) {
  const params = { field: [] };
  const words = [];
  const errors = [];
  for (const { key, value } of tokens(text.trim())) {
    if (key === null) {
      words.push(value);
      continue;
    }
    const lowered = key.toLowerCase();
    if (lowered in KEYS) {
      const name = KEYS[lowered];
      if (name === "replays" && !/^[0-5]$/.test(value)) errors.push("replays: a number from 0 to 5");
      params[name] = value;
    } else if (lowered === "since" || lowered === "until") {
      const at = Date.parse(value);
      if (Number.isNaN(at)) errors.push(`${lowered}: a date, e.g. 2030-01-31 or 2030-01-31T09:00`);
      else params[lowered] = at;
    } else {
      params.field.push(`${key}:${value}`);
    }
  }
  if (words.length) params.q = words.join(" ");
  return { params, errors };
}
