// The key of a till's device: an Ed25519 key made here, its private half non-extractable (it
// can sign, it can never be read out), kept in this browser's IndexedDB with the business it
// pays for once the business granted it (a `delegate` transaction with caps).
const DB = "lien-till";
const STORE = "till";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run(mode, action) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const request = action(db.transaction(STORE, mode).objectStore(STORE));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  } finally {
    db.close();
  }
}

const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");

// This device's till key {privateKey, publicKeyHex, business}, made on first use.
export async function tillKey() {
  const stored = await run("readonly", (s) => s.get("key"));
  if (stored) return stored;
  const pair = await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"]);
  const publicKeyHex = hex(await crypto.subtle.exportKey("raw", pair.publicKey));
  const key = { privateKey: pair.privateKey, publicKeyHex, business: "" };
  await run("readwrite", (s) => s.put(key, "key"));
  return key;
}

export async function setBusiness(business) {
  const key = await tillKey();
  key.business = business;
  await run("readwrite", (s) => s.put(key, "key"));
  return key;
}
