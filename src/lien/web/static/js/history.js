// /historique: names of counterparts the member may see, and memos decrypted here with the
// member's memo key (the node only holds them encrypted).
import { getJson } from "./forms.js";
import { registerWorker, watchConnection } from "./offline.js";

registerWorker();
watchConnection();

const list = document.querySelector(".statement");

async function fillNames() {
  const unnamed = [...list.querySelectorAll("li[data-counterpart]")].filter(
    (li) => li.dataset.counterpart && !li.querySelector(".name").textContent.trim());
  const accounts = [...new Set(unnamed.map((li) => li.dataset.counterpart))].slice(0, 100);
  if (!accounts.length || !navigator.onLine) return;
  const names = await getJson(`/wallet/api/names?accounts=${accounts.join(",")}`).catch(() => null);
  if (!names) return;
  for (const li of unnamed) {
    const name = names[li.dataset.counterpart];
    if (name) li.querySelector(".name").textContent = name;
  }
}

async function openMemos() {
  const boxes = list.querySelectorAll("[data-memo-box]");
  if (!boxes.length) return;
  const [{ loadDeviceKey }, { decryptMemo }] = await Promise.all([import("./keys.js"), import("./memo.js")]);
  const key = await loadDeviceKey(list.dataset.account);
  if (!key || !key.memoKey) return;
  for (const box of boxes) {
    try {
      const text = await decryptMemo(box.dataset.memoBox, key.memoKey, key.publicKeyHex, box.dataset.theirKey);
      box.textContent = text;
      box.classList.add("decrypted");
    } catch { /* not for this key: stays "encrypted memo" */ }
  }
}

if (list) {
  fillNames().catch(() => {});
  openMemos().catch(() => {});
}
