// What the wallet's forms share: JSON calls to the node with the CSRF token, field errors
// next to their field (aria-describedby already points at each field's error slot), and a
// submit button that works once at a time (a double click sends once).

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// POST JSON; the answer as {ok, status, data, retryAfter} (never throws on an HTTP error).
export async function postJson(url, body, token = csrfToken()) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
    body: JSON.stringify(body ?? {}),
  });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return { ok: response.ok, status: response.status, data, retryAfter: Number.isFinite(retry) ? retry : 60 };
}

export async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) return null;
  return response.json();
}

export function message(form, name, values = {}) {
  const key = "msg" + name.replace(/(^|-)([a-z])/g, (_, __, c) => c.toUpperCase());
  let text = form.dataset[key] || name;
  for (const [k, v] of Object.entries(values)) text = text.replace(`%(${k})s`, String(v));
  return text;
}

export function fieldError(form, name, text) {
  const slot = form.querySelector(`[data-error-for="${name}"]`);
  const input = form.elements.namedItem(name);
  if (slot) { slot.textContent = text || ""; slot.hidden = !text; }
  if (input && input.setAttribute) {
    if (text) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  }
}

export function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for]")) fieldError(form, slot.dataset.errorFor, "");
}

// Show `errors` ({field: text}); focus the form's first field in error. True when none.
export function showErrors(form, errors) {
  const names = Object.keys(errors);
  for (const name of names) fieldError(form, name, errors[name]);
  const first = [...form.elements].find((el) => el.name in errors && !el.disabled);
  if (first) first.focus();
  return names.length === 0;
}

export function say(element, text) {
  element.textContent = text || "";
  element.hidden = !text;
}

// On submit, `valid()` first (it shows the field errors; false stops there), then `work`, one
// at a time: the button is disabled while it runs; a second submit meanwhile is ignored.
export function onSubmitOnce(form, button, valid, work) {
  let busy = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy || !valid()) return;
    busy = true;
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await work();
    } finally {
      busy = false;
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
}

export function randomHex(bytes) {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

export const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

// The KDF of a new password: argon2id, a fresh salt (the contract's KdfParams.to_json()).
export function newKdf() {
  return { name: "argon2id", salt: randomHex(16), memory_kib: 19456, time_cost: 2, parallelism: 1 };
}

// SIRET: 14 digits whose Luhn sum is a multiple of 10.
export function siretValid(text) {
  if (!/^\d{14}$/.test(text)) return false;
  let sum = 0;
  for (let i = 0; i < 14; i++) {
    let d = text.charCodeAt(13 - i) - 48;
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0;
}
