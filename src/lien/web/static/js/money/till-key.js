// The key of a till's device: an Ed25519 key made here, its private half non-extractable (it
// can sign, it can never be read out), kept in this browser's IndexedDB with the business it
// pays for once the business granted it (a `delegate` transaction with caps).
import { keyValueStore } from "../idb.js";
import { hex } from "../protocol.js";

const till = keyValueStore("lien-till", "till");

// This device's till key {privateKey, publicKeyHex, business}, made on first use.
export async function tillKey() {
  const stored = await till.get("key");
  if (stored) return stored;
  const pair = await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"]);
  const publicKeyHex = hex(await crypto.subtle.exportKey("raw", pair.publicKey));
  const key = { privateKey: pair.privateKey, publicKeyHex, business: "" };
  await till.put("key", key);
  return key;
}

export async function setBusiness(business) {
  const key = await tillKey();
  key.business = business;
  await till.put("key", key);
  return key;
}
