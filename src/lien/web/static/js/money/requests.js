// The payment requests of the account, on /compte (templates/_requests.html): those it sent and
// those it is asked to pay, with their status as the node derives it from the chain
// (GET /api/v1/accounts/{id}/requests: en attente, payée, refusée, expirée), kept live by the
// account's event stream. The member asked to pay opens *Payer* (the payment confirmation of
// /payer, split shown) or refuses here: a `decline_request` signed on this device, its body
// deterministic (nonce = the request's id) so that a double tap declines once. The open
// requests this member is asked to pay are also shown at the top of the page (#request-banner,
// what a client sees when a till asks them to pay), with the same *Payer* and *Refuser*.
import { loadDeviceKey } from "../keys.js";
import { decryptMemo, isMemoBox } from "../memo.js";
import {
  $, api, coalesced, displayAccount, formatAmount, lang, member, msg, names, oncePerItem, root,
  show, watch,
} from "./common.js";

const me = await member();
const list = $("#requests-list");
const banner = $("#request-banner");
const problem = $("#requests-problem");
const otherKeys = {}; // account → its first owner key (to open the notes this member sealed)
let timer = null;

const time = (ms) => new Date(ms).toLocaleString(lang === "fr" ? "fr-FR" : "en-GB", {
  day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
});

async function note(r, key) {
  if (!r.memo) return "";
  if (!isMemoBox(r.memo)) return msg("note", { text: r.memo });
  if (!key?.memoKey) return msg("note-sealed");
  let their = r.payee_key;
  if (r.role === "payee") {
    if (!(r.from in otherKeys)) {
      const { status, json } = await api(`/api/v1/accounts/${r.from}`);
      otherKeys[r.from] = status === 200 ? json.keys[0] : "";
    }
    their = otherKeys[r.from];
  }
  try {
    return msg("note", { text: await decryptMemo(r.memo, key.memoKey, key.publicKeyHex, their) });
  } catch {
    return msg("note-sealed");
  }
}

// The status a member reads now: an open request past its validity is expired.
const statusNow = (r) => (r.status === "open" && r.expires_ms <= Date.now() ? "expired" : r.status);

function payButtons(r) {
  const pay = document.createElement("a");
  pay.className = "button";
  pay.href = `/payer?demande=${r.id}`;
  pay.textContent = msg("pay");
  const refuse = document.createElement("button");
  refuse.type = "button";
  refuse.className = "secondary";
  refuse.textContent = msg("decline");
  refuse.addEventListener("click", () => decline(r, refuse));
  return [pay, " ", refuse];
}

// The requests waiting for this member's answer, newest first, at the top of the page.
function renderBanner(requests, known) {
  const open = requests.filter((r) => r.role === "payer" && statusNow(r) === "open")
    .sort((a, b) => b.expires_ms - a.expires_ms);
  banner.replaceChildren(...open.map((r) => {
    const item = document.createElement("div");
    item.className = "card request-alert";
    item.dataset.bannerRequest = r.id;
    const line = document.createElement("p");
    line.className = "big";
    line.textContent = msg("asked-you", {
      payee: known[r.to] || displayAccount(r.to), amount: formatAmount(r.amount_minor, r.currency),
    });
    const until = document.createElement("p");
    until.className = "muted";
    until.textContent = msg("until", { time: time(r.expires_ms) });
    item.append(line, until, ...payButtons(r));
    return item;
  }));
}

async function render(requests) {
  const [known, key] = await Promise.all([
    names(requests.map((r) => (r.role === "payer" ? r.to : r.from))),
    loadDeviceKey(me.account).catch(() => null),
  ]);
  const items = [];
  for (const r of requests) {
    const status = statusNow(r);
    const li = document.createElement("li");
    li.className = "request";
    li.dataset.request = r.id;
    li.dataset.status = status;
    li.dataset.role = r.role;
    const other = r.role === "payer" ? r.to : r.from;
    const who = known[other] || displayAccount(other);
    const line = document.createElement("p");
    line.textContent = r.role === "payer"
      ? msg("asked-you", { payee: who, amount: formatAmount(r.amount_minor, r.currency) })
      : msg("you-asked", { payer: who, amount: formatAmount(r.amount_minor, r.currency) });
    const badge = document.createElement("span");
    badge.className = `badge status-${status}`;
    badge.textContent = msg(`status-${status}`);
    line.append(" ", badge);
    if (status === "open") line.append(" ", msg("until", { time: time(r.expires_ms) }));
    li.append(line);
    const text = await note(r, key);
    if (text) {
      const p = document.createElement("p");
      p.className = "muted memo";
      p.textContent = text;
      li.append(p);
    }
    if (status === "open" && r.role === "payer") li.append(...payButtons(r));
    items.push(li);
  }
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = msg("none");
    items.push(li);
  }
  list.replaceChildren(...items);
  if (banner) renderBanner(requests, known);
  // an open request turns expired on screen when its time comes, without a reload
  clearTimeout(timer);
  const next = Math.min(...requests.filter((r) => statusNow(r) === "open").map((r) => r.expires_ms));
  if (Number.isFinite(next)) timer = setTimeout(() => render(requests), Math.min(next - Date.now() + 50, 2 ** 30));
}

const refresh = coalesced(async () => {
  const { status, json } = await api(`/api/v1/accounts/${me.account}/requests`);
  if (status === 200) await render(json.requests);
  else if (status !== 404) problem.textContent = msg("network");
});

const act = oncePerItem({ me, problem, doneText: msg("declined-done"), after: refresh });
const decline = (r, button) =>
  act(r.id, button, () => ({
    chain: root.dataset.chain, type: "decline_request", expires: r.expires_ms, nonce: r.id,
    from: me.account, to: r.to, currency: r.currency, request: r.id,
  }));

show(list);
watch(me.account, () => refresh().catch(() => {}));
await refresh();
root.dataset.ready = "true";
