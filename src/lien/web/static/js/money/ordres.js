// *Ordres permanents*: the member's standing orders, as payer and as payee
// (GET /api/v1/accounts/{id}/orders: next due date, runs, status, last result), kept live by the
// account's event stream (a run is a transaction of both accounts); a new order signed here
// once (`standing_order`, docs/protocol.md §7): its note sealed for payer and payee, its
// reference hashed, its dates the member's local date and time as ms since the epoch; the
// payer revokes (*Révoquer*), the payee cancels (*Annuler*): a `revoke_standing_order`.
// Every submission is one signed body, so a double tap creates or revokes once.
import { encryptMemo, referenceHash } from "../memo.js";
import {
  $, AmountError, Submission, accountPicker, api, body, coalesced, currency, displayAccount,
  formatAmount, lang, member, msg, names, oncePerItem, parseAmount, root, show, unlockedKey, watch,
} from "./common.js";

const ORDER_DUE_MS_MAX = 253402300799999; // docs/protocol.md §5 `order_due_ms_max`
const COUNT_MAX = 1000000;
const reasons = JSON.parse(root.dataset.reasons || "{}");

const me = await member();
let payee = null; // {id, name, key}
let submission = null;
const picker = accountPicker(me, {
  input: $("#to"), status: $("#to-status"), select: $("#known"), unknown: "unknown-payee",
  onChange: (chosen) => {
    payee = chosen;
    submission = null;
  },
});

const longTime = (ms) => new Date(ms).toLocaleString(lang === "fr" ? "fr-FR" : "en-GB", {
  weekday: "long", day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit",
});
const longDate = (ms) => new Date(ms).toLocaleDateString(lang === "fr" ? "fr-FR" : "en-GB", {
  day: "numeric", month: "long", year: "numeric",
});

// ---- the list ----
const list = $("#orders-list");
const listProblem = $("#orders-problem");

function describe(o, who) {
  const amount = formatAmount(o.amount_minor, o.currency);
  const period = msg(`period-${o.period}`);
  return o.role === "payer"
    ? msg("you-pay", { amount, payee: who, period })
    : msg("pays-you", { amount, payer: who, period });
}

function lastResult(o) {
  if (!o.last_result) return "";
  if (o.last_result === "ok") return msg("last-ok");
  return msg("last-refused", { reason: reasons[o.last_result] ?? o.last_result });
}

async function render(orders) {
  const known = await names(orders.map((o) => (o.role === "payer" ? o.to : o.from)));
  const items = orders.map((o) => {
    const li = document.createElement("li");
    li.className = "order";
    li.dataset.order = o.id;
    li.dataset.status = o.status;
    li.dataset.role = o.role;
    const other = o.role === "payer" ? o.to : o.from;
    const line = document.createElement("p");
    line.textContent = describe(o, known[other] || displayAccount(other));
    const badge = document.createElement("span");
    badge.className = `badge status-${o.status}`;
    badge.textContent = msg(`status-${o.status}`);
    line.append(" ", badge);
    li.append(line);
    const details = [];
    if (o.next_due_ms !== null) details.push(msg("next", { time: longTime(o.next_due_ms) }));
    details.push(o.count_max ? msg("runs-of", { runs: o.runs, max: o.count_max }) : msg("runs", { runs: o.runs }));
    if (o.until_ms) details.push(msg("until", { time: longDate(o.until_ms) }));
    const last = lastResult(o);
    if (last) details.push(last);
    for (const text of details) {
      const p = document.createElement("p");
      p.className = text === last && o.last_result !== "ok" ? "muted last refused" : "muted";
      p.textContent = text;
      li.append(p);
    }
    if (o.status === "active") {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = msg(o.role === "payer" ? "revoke" : "cancel");
      button.addEventListener("click", () => revoke(o, button));
      li.append(button);
    }
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = msg("none");
    items.push(li);
  }
  list.replaceChildren(...items);
}

const refresh = coalesced(async () => {
  const { status, json } = await api(`/api/v1/accounts/${me.account}/orders`);
  if (status === 200) await render(json.orders);
  else if (status !== 404) listProblem.textContent = msg("network");
});

const act = oncePerItem({ me, problem: listProblem, doneText: msg("revoked-done"), after: refresh });
const revoke = (o, button) =>
  act(o.id, button, () => body("revoke_standing_order", { account: me.account, order: o.id }));

// ---- the form ----

// "2030-01-15" and "09:30" → ms since the epoch of that local date and time; null if not a date.
function localMs(dateText, timeText = "00:00") {
  const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(dateText);
  const t = /^(\d{2}):(\d{2})/.exec(timeText || "00:00");
  if (!d || !t) return null;
  const ms = new Date(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(t[1]), Number(t[2])).getTime();
  return Number.isFinite(ms) ? ms : null;
}

// The order's fields read from the form (each field's French message shown), or null.
function readForm() {
  for (const id of ["amount-error", "date-error", "count-error", "until-error"]) $("#" + id).textContent = "";
  let ok = true;
  let amount = null;
  try {
    amount = parseAmount($("#amount").value);
  } catch (e) {
    if (!(e instanceof AmountError)) throw e;
    $("#amount-error").textContent = e.message;
    ok = false;
  }
  const period = $("#period").value;
  const first = localMs($("#first-date").value, $("#first-time").value);
  if (first === null) {
    $("#date-error").textContent = msg("date-empty");
    ok = false;
  } else if (first <= Date.now()) {
    $("#date-error").textContent = msg("date-past");
    ok = false;
  } else if (first > ORDER_DUE_MS_MAX) {
    $("#date-error").textContent = msg("date-far");
    ok = false;
  }
  const fields = { period };
  if (period !== "once") {
    const countText = $("#count").value.trim();
    if (countText) {
      const count = /^[0-9]{1,7}$/.test(countText) ? Number(countText) : 0;
      if (count < 1 || count > COUNT_MAX) {
        $("#count-error").textContent = msg("count-invalid");
        ok = false;
      } else {
        fields.count_max = count;
      }
    }
    if ($("#until").value) {
      // the whole last day: no payment is due after its end
      const until = localMs($("#until").value, "00:00");
      const end = until === null ? null : Math.min(until + 86400000 - 1, ORDER_DUE_MS_MAX);
      if (end === null || (first !== null && end < first)) {
        $("#until-error").textContent = msg("until-before");
        ok = false;
      } else {
        fields.until_ms = end;
      }
    }
  }
  if (!ok) return null;
  return { amount, first_due_ms: first, ...fields };
}

async function create(key, order) {
  const problem = $("#problem");
  if (!submission) {
    const fields = { from: me.account, to: payee.id, currency, ...order };
    const reference = $("#reference").value.trim();
    if (reference) fields.reference = await referenceHash(payee.id, reference);
    const memo = $("#memo").value.trim();
    if (memo) {
      try {
        fields.memo = await encryptMemo(memo, key.memoKey, key.publicKeyHex, payee.key);
      } catch {
        problem.textContent = msg("memo-long");
        return;
      }
    }
    submission = new Submission(body("standing_order", fields), key);
    root.dataset.txId = await submission.id();
  }
  const outcome = await submission.submit();
  if (outcome.ok) {
    $("#result-text").textContent = msg("created", {
      amount: formatAmount(order.amount), payee: payee.name || displayAccount(payee.id),
      period: msg(`period-${order.period}`), time: longTime(order.first_due_ms),
    });
    show($("#order-form"), false);
    show($("#result"));
    root.dataset.created = outcome.id;
    await refresh();
    return;
  }
  problem.textContent = outcome.text;
  if (!outcome.retry) submission = null;
}

let busy = false;
$("#order-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (busy) return;
  busy = true;
  $("#create").disabled = true;
  $("#problem").textContent = "";
  try {
    const order = readForm();
    if (!payee) {
      $("#problem").textContent = msg("no-payee");
      return;
    }
    if (order === null) return;
    await create(await unlockedKey(me), order);
  } finally {
    busy = false;
    $("#create").disabled = false;
  }
});
for (const id of ["amount", "period", "first-date", "first-time", "count", "until", "reference", "memo"]) {
  $("#" + id).addEventListener("input", () => { submission = null; });
}
$("#period").addEventListener("change", () => show($("#bounds"), $("#period").value !== "once"));
watch(me.account, () => refresh().catch(() => {}));
await Promise.all([picker.fillKnown(), refresh()]);
root.dataset.ready = "true";
