// Payment links and account links: the versioned URLs that LIEN QR codes carry.
//
// The same code as src/lien/wallet/payload.py (docs/protocol.md §16); both run the vectors of
// tests/vectors/payload.json. Pure: no I/O, no clock (nowMs is passed in).
//
//   paymentUrl(request) -> string           the link of a payment request (throws PayloadError)
//   accountUrl({base, account}) -> string   the link of an account id
//   parsePaymentUrl(url, {nowMs})           strict parser -> request (nowMs null: no expiry check)
//   parseAccountUrl(url)                    strict parser -> {kind: "account", base, account, version}
//   parseLink(url, {nowMs})                 either, told apart by .kind ("payment" | "account")
//   isAccountId(text), parseAccountId(typed) -> canonical id or null, formatAccountId(id)
//
// A request is {kind: "payment", base, to, currency, amount_minor, reference, expires_ms, name,
// version}: the protocol's names; an absent optional field is null; amounts are integer minor units.

export const VERSION = 1;
export const PAYMENT_KIND = "payer";
export const ACCOUNT_KIND = "compte";
export const url_chars_max = 1024;
export const base_chars_max = 200;
export const reference_bytes_max = 64;
export const name_bytes_max = 80;
export const amount_minor_max = 100000000000;
export const expires_ms_max = Number.MAX_SAFE_INTEGER;

export const ERROR_CODES = Object.freeze([
  "too_long", "bad_url", "bad_base", "unknown_kind", "unknown_version", "bad_encoding",
  "duplicate_parameter", "unknown_parameter", "missing_parameter", "bad_account",
  "bad_currency", "bad_amount", "bad_reference", "bad_name", "bad_expiry", "expired",
]);

export class PayloadError extends Error {
  constructor(code, field, detail) {
    super(`${code}: ${detail}`);
    this.name = "PayloadError";
    this.code = code;
    this.field = field;
    this.detail = detail;
  }
}

// -- account ids (docs/protocol.md §4) ---------------------------------------------------------
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export function isAccountId(text) {
  if (typeof text !== "string" || !/^[0-9A-HJKMNP-TV-Z]{10}[0-9]{2}$/.test(text)) return false;
  let mod = 0; // the body's 50-bit value mod 97, digit by digit (exact, unlike the value * 100)
  for (const ch of text.slice(0, 10)) mod = (mod * 32 + ALPHABET.indexOf(ch)) % 97;
  return String(98 - ((mod * 100) % 97)).padStart(2, "0") === text.slice(10);
}

// What a person typed -> the canonical id, or null: trim, upper-case, drop hyphens and spaces,
// I and L -> 1, O -> 0.
export function parseAccountId(typed) {
  const cleaned = String(typed).trim().toUpperCase().replace(/[- ]/g, "")
    .replace(/[IL]/g, "1").replace(/O/g, "0");
  return isAccountId(cleaned) ? cleaned : null;
}

export function formatAccountId(id) {
  return id.match(/.{1,4}/g).join("-");
}

// -- checks shared by the makers and the parsers -----------------------------------------------
const BASE_RE = /^(https?):\/\/([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::([1-9][0-9]{0,4}))?$/;
const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1"]);
const DEFAULT_PORTS = { https: "443", http: "80" };
const PATH_RE = /^\/([a-z]+)\/v([0-9]+)$/;
const CURRENCY_RE = /^[A-Z][A-Z0-9]{1,11}$/;
const POSITIVE_RE = /^[1-9][0-9]{0,15}$/;
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LINK_RE = /^[A-Za-z0-9\-._~%:/?&=+]*$/;
const UNRESERVED_RE = /^[A-Za-z0-9\-._~]$/;
const PARAMETERS = { payer: ["to", "cur", "amount", "ref", "exp", "name"], compte: ["id"] };
const REQUIRED = { payer: ["to", "cur"], compte: ["id"] };

const fail = (code, field, detail) => { throw new PayloadError(code, field, detail); };
const show = (value) => JSON.stringify(String(value).slice(0, 40));

function checkBase(base) {
  const match = typeof base === "string" && base.length <= base_chars_max ? BASE_RE.exec(base) : null;
  if (!match) fail("bad_base", "base", `${show(base)} is not an origin`);
  const [, scheme, host, port] = match;
  if (!host.split(".").every((label) => LABEL_RE.test(label))) {
    fail("bad_base", "base", `${show(host)} is not a host name`);
  }
  if (scheme === "http" && !LOCAL_HOSTS.has(host)) {
    fail("bad_base", "base", "http is only for localhost and 127.0.0.1");
  }
  if (port !== undefined && (Number(port) > 65535 || port === DEFAULT_PORTS[scheme])) {
    fail("bad_base", "base", `port ${port} is out of range or the default`);
  }
}

function checkAccount(value, field) {
  if (!isAccountId(value)) fail("bad_account", field, `${show(value)} is not a valid account id`);
}

function checkCurrency(value) {
  if (typeof value !== "string" || !CURRENCY_RE.test(value)) {
    fail("bad_currency", "cur", `${show(value)} is not a currency code`);
  }
}

function checkAmount(value) {
  if (!Number.isInteger(value) || value < 1 || value > amount_minor_max) {
    fail("bad_amount", "amount", `${show(value)} is not in 1..${amount_minor_max}`);
  }
}

function checkExpiry(value) {
  if (!Number.isInteger(value) || value < 1 || value > expires_ms_max) {
    fail("bad_expiry", "exp", `${show(value)} is not a time in ms`);
  }
}

function checkText(value, field, code, bytesMax) {
  if (typeof value !== "string" || LONE_SURROGATE_RE.test(value)) {
    fail(code, field, "not valid Unicode text");
  }
  const size = new TextEncoder().encode(value).length;
  if (size < 1 || size > bytesMax) fail(code, field, `${size} bytes, not in 1..${bytesMax}`);
  if (CONTROL_RE.test(value) || value.normalize("NFC") !== value) {
    fail(code, field, "control characters, or not in NFC");
  }
}

const given = (value) => value !== null && value !== undefined;

function checkRequest(request) {
  const version = request.version ?? VERSION;
  if (version !== VERSION) fail("unknown_version", null, `version ${show(version)}`);
  checkBase(request.base);
  checkAccount(request.to, "to");
  checkCurrency(request.currency);
  if (given(request.amount_minor)) {
    checkAmount(request.amount_minor);
    if (!given(request.expires_ms)) fail("missing_parameter", "exp", "a request with an amount expires");
  }
  if (given(request.reference)) checkText(request.reference, "ref", "bad_reference", reference_bytes_max);
  if (given(request.expires_ms)) checkExpiry(request.expires_ms);
  if (given(request.name)) checkText(request.name, "name", "bad_name", name_bytes_max);
}

// -- making ------------------------------------------------------------------------------------
// Percent-encode every byte but the unreserved ones (RFC 3986) and the space, written "+":
// a browser keeps the link as is, and every wallet decodes it the same way.
function encode(text) {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    const ch = String.fromCharCode(byte);
    out += UNRESERVED_RE.test(ch) ? ch
      : byte === 0x20 ? "+" : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

export function paymentUrl(request) {
  checkRequest(request);
  const pairs = [["to", request.to], ["cur", request.currency]];
  if (given(request.amount_minor)) pairs.push(["amount", String(request.amount_minor)]);
  if (given(request.reference)) pairs.push(["ref", request.reference]);
  if (given(request.expires_ms)) pairs.push(["exp", String(request.expires_ms)]);
  if (given(request.name)) pairs.push(["name", request.name]);
  const query = pairs.map(([key, value]) => `${key}=${encode(value)}`).join("&");
  return `${request.base}/${PAYMENT_KIND}/v${VERSION}?${query}`;
}

export function accountUrl(link) {
  const version = link.version ?? VERSION;
  if (version !== VERSION) fail("unknown_version", null, `version ${show(version)}`);
  checkBase(link.base);
  checkAccount(link.account, "id");
  return `${link.base}/${ACCOUNT_KIND}/v${VERSION}?id=${link.account}`;
}

// -- parsing -----------------------------------------------------------------------------------
// application/x-www-form-urlencoded: "+" is a space, %XX a byte; strict UTF-8.
function decode(text, field) {
  const bytes = [];
  for (let i = 0; i < text.length;) {
    const ch = text[i];
    if (ch === "%") {
      const pair = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(pair)) fail("bad_encoding", field, "a % not followed by two hex digits");
      bytes.push(parseInt(pair, 16));
      i += 3;
    } else {
      bytes.push(ch === "+" ? 0x20 : ch.charCodeAt(0));
      i += 1;
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(new Uint8Array(bytes));
  } catch {
    return fail("bad_encoding", field, "not UTF-8");
  }
}

function split(url, kindWanted) {
  if (typeof url !== "string") fail("bad_url", null, "not a text");
  if (url.length > url_chars_max) {
    fail("too_long", null, `${url.length} characters, more than ${url_chars_max}`);
  }
  if (!LINK_RE.test(url)) fail("bad_url", null, "a character outside the link's set (a fragment?)");
  const schemeEnd = url.indexOf("://");
  const pathStart = schemeEnd > 0 ? url.indexOf("/", schemeEnd + 3) : -1;
  if (pathStart < 0) fail("bad_url", null, "no scheme://host/path");
  const base = url.slice(0, pathStart);
  const rest = url.slice(pathStart);
  const mark = rest.indexOf("?");
  const path = mark < 0 ? rest : rest.slice(0, mark);
  const query = mark < 0 ? "" : rest.slice(mark + 1);
  checkBase(base);
  const match = PATH_RE.exec(path);
  const kind = match ? match[1] : null;
  if (!match || !(kind in PARAMETERS)) fail("unknown_kind", null, `${show(path)} is not a LIEN link's path`);
  if (kindWanted !== null && kind !== kindWanted) {
    fail("unknown_kind", null, `a /${kind}/ link, not a /${kindWanted}/ link`);
  }
  if (match[2] !== String(VERSION)) fail("unknown_version", null, `version ${match[2].slice(0, 8)}`);
  if (!query) fail("missing_parameter", null, "no query");
  const params = new Map();
  for (const part of query.split("&")) {
    const equals = part.indexOf("=");
    const key = equals < 0 ? part : part.slice(0, equals);
    const raw = equals < 0 ? "" : part.slice(equals + 1);
    if (!key || equals < 0 || !raw) fail("bad_url", key || null, `${show(part)} is not name=value`);
    if (!PARAMETERS[kind].includes(key)) fail("unknown_parameter", null, `${show(key)} is not a parameter`);
    if (params.has(key)) fail("duplicate_parameter", key, `${key} appears twice`);
    params.set(key, decode(raw, key));
  }
  for (const key of REQUIRED[kind]) {
    if (!params.has(key)) fail("missing_parameter", key, `${key} is required`);
  }
  return { base, kind, params };
}

function positive(params, key, code) {
  if (!params.has(key)) return null;
  const value = params.get(key);
  if (!POSITIVE_RE.test(value)) fail(code, key, `${show(value)} is not a positive integer in digits`);
  return Number(value); // at most 16 digits: the checks below bound it below 2**53
}

function payment(base, params, nowMs) {
  checkAccount(params.get("to"), "to");
  checkCurrency(params.get("cur"));
  const request = {
    kind: "payment",
    base,
    to: params.get("to"),
    currency: params.get("cur"),
    amount_minor: positive(params, "amount", "bad_amount"),
    reference: params.get("ref") ?? null,
    expires_ms: positive(params, "exp", "bad_expiry"),
    name: params.get("name") ?? null,
    version: VERSION,
  };
  checkRequest(request);
  if (nowMs !== null && request.expires_ms !== null && request.expires_ms <= nowMs) {
    fail("expired", "exp", `expired at ${request.expires_ms}, now ${nowMs}`);
  }
  return request;
}

function clock(options) {
  const nowMs = options?.nowMs;
  if (nowMs === null || Number.isInteger(nowMs)) return nowMs;
  throw new TypeError("nowMs: an integer (ms since the epoch), or null to skip the expiry check");
}

export function parsePaymentUrl(url, options) {
  const nowMs = clock(options);
  const { base, params } = split(url, PAYMENT_KIND);
  return payment(base, params, nowMs);
}

function account(base, params) {
  checkAccount(params.get("id"), "id");
  return { kind: "account", base, account: params.get("id"), version: VERSION };
}

export function parseAccountUrl(url) {
  const { base, params } = split(url, ACCOUNT_KIND);
  return account(base, params);
}

export function parseLink(url, options) {
  const nowMs = clock(options);
  const { base, kind, params } = split(url, null);
  return kind === PAYMENT_KIND ? payment(base, params, nowMs) : account(base, params);
}
