// The web wallet's keys (docs/protocol.md §15; the same bytes as src/lien/wallet/backup.py).
//
// From the password (NFC, UTF-8) and the member's salt, argon2id (hash-wasm, vendored) gives
// 64 bytes; HKDF-SHA256 (empty salt) splits them into the login secret ("LIEN/login/v1"), sent
// to log in, and the key-encryption key ("LIEN/backup/v1"), a non-extractable AES-GCM key that
// never leaves the browser. The backup is the Ed25519 seed sealed under it:
// "b1." + base64url(nonce(12) ‖ AES-256-GCM(seed, aad = account id)).
//
// The device keeps the member's keys as non-extractable CryptoKeys in IndexedDB (structured
// clone keeps them non-extractable): page code may sign with them, but no script can read
// them out. The optional PIN is a gate, not a cipher; see unlockDeviceKey.
import "../vendor/hash-wasm/argon2.umd.min.js"; // defines globalThis.hashwasm
import { accountId, fromHex, hex } from "./protocol.js";
import { base64url, concat, fromBase64url } from "./encoding.js";
import { keyValueStore } from "./idb.js";
import { memoKeyFromSeed } from "./memo.js";

const enc = new TextEncoder();
const ED25519_PKCS8 = fromHex("302e020100300506032b657004220420");
const BACKUP_PREFIX = "b1.";
const NONCE_BYTES = 12;
const SEED_BYTES = 32;
// The bounds a KDF answer from a node must keep (the keystore's, docs/protocol.md §13): a
// hostile node cannot make the browser spend all its memory.
const KDF_BOUNDS = { memory_kib: [8, 1_048_576], time_cost: [1, 16], parallelism: [1, 8] };
export const PIN_ATTEMPTS_MAX = 5;

export class BackupError extends Error {
  constructor(message) {
    super(message);
    this.name = "BackupError";
  }
}

export class PinError extends Error {
  constructor(message, attemptsLeft) {
    super(message);
    this.name = "PinError";
    this.attemptsLeft = attemptsLeft;
  }
}

function checkKdf(kdf) {
  if (kdf?.name !== "argon2id" || typeof kdf.salt !== "string" || !/^[0-9a-f]{32}$/.test(kdf.salt)) {
    throw new TypeError("not argon2id parameters with a 16-byte salt");
  }
  for (const [field, [low, high]] of Object.entries(KDF_BOUNDS)) {
    if (!Number.isSafeInteger(kdf[field]) || kdf[field] < low || kdf[field] > high) {
      throw new RangeError(`kdf ${field} must be ${low}..${high}`);
    }
  }
  if (kdf.memory_kib < 8 * kdf.parallelism) throw new RangeError("kdf memory_kib below 8 × parallelism");
}

const argon2id = (password, kdf, hashLength) => globalThis.hashwasm.argon2id({
  password: enc.encode(password.normalize("NFC")), salt: fromHex(kdf.salt),
  iterations: kdf.time_cost, memorySize: kdf.memory_kib, parallelism: kdf.parallelism,
  hashLength, outputType: "binary",
});

const hkdfInfo = (info) => ({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(), info: enc.encode(info) });

// {loginSecretHex: 64 hex, kek: AES-GCM CryptoKey, non-extractable}.
export async function deriveSecrets(password, kdf) {
  checkKdf(kdf);
  const master = await argon2id(password, kdf, 64);
  const base = await crypto.subtle.importKey("raw", master, "HKDF", false, ["deriveBits", "deriveKey"]);
  master.fill(0);
  const login = await crypto.subtle.deriveBits(hkdfInfo("LIEN/login/v1"), base, 256);
  const kek = await crypto.subtle.deriveKey(hkdfInfo("LIEN/backup/v1"), base,
    { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  return { loginSecretHex: hex(login), kek };
}

// A new Ed25519 seed (32 random bytes). Keep it only as long as it takes to seal and import it.
export const generateSeed = () => crypto.getRandomValues(new Uint8Array(SEED_BYTES));

// {privateKey (Ed25519, sign, non-extractable), memoKey (X25519, non-extractable),
//  publicKeyHex, account}.
export async function importSeed(seed /* Uint8Array(32) */) {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) throw new TypeError("a seed is 32 bytes");
  const pkcs8 = concat(ED25519_PKCS8, seed);
  // WebCrypto gives the public key only through an export: one extractable import to read it,
  // dropped at once; the key kept is imported again, non-extractable.
  const readable = await crypto.subtle.importKey("pkcs8", pkcs8, "Ed25519", true, ["sign"]);
  const publicKey = fromBase64url((await crypto.subtle.exportKey("jwk", readable)).x);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, "Ed25519", false, ["sign"]);
  pkcs8.fill(0);
  return { privateKey, memoKey: await memoKeyFromSeed(seed), publicKeyHex: hex(publicKey),
           account: await accountId(publicKey) };
}

// "b1...": the seed sealed under the kek. nonce: only for test vectors (random otherwise).
export async function sealBackup(seed, kek, account,
  nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES))) {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) throw new TypeError("a seed is 32 bytes");
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: enc.encode(account) }, kek, seed);
  return BACKUP_PREFIX + base64url(concat(nonce, new Uint8Array(sealed)));
}

// The seed of a backup; a BackupError for a wrong password, another account or a damaged text.
export async function openBackup(backup, kek, account) {
  let box;
  try {
    if (!backup.startsWith(BACKUP_PREFIX)) throw new TypeError();
    box = fromBase64url(backup.slice(BACKUP_PREFIX.length));
  } catch {
    throw new BackupError("not a LIEN key backup");
  }
  if (box.length !== NONCE_BYTES + SEED_BYTES + 16) throw new BackupError("not a LIEN key backup");
  try {
    return new Uint8Array(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: box.slice(0, NONCE_BYTES), additionalData: enc.encode(account) },
      kek, box.slice(NONCE_BYTES)));
  } catch {
    throw new BackupError("wrong password, or a damaged backup");
  }
}

// -- the device's keys, in IndexedDB ------------------------------------------------------------
const deviceKeys = keyValueStore("lien-wallet", "device-keys");
const getRecord = (account) => deviceKeys.get(account);
const putRecord = (account, record) => deviceKeys.put(account, record);

// Keeps {privateKey, memoKey, publicKeyHex} (non-extractable CryptoKeys) for account.
export async function saveDeviceKey(account, { privateKey, memoKey, publicKeyHex }) {
  for (const key of [privateKey, memoKey]) {
    if (!(key instanceof CryptoKey) || key.extractable) throw new TypeError("only non-extractable keys are kept");
  }
  await putRecord(account, { privateKey, memoKey, publicKeyHex, pin: null, failures: 0 });
}

// {privateKey, memoKey, publicKeyHex, hasPin} or null. With a PIN set, use unlockDeviceKey.
export async function loadDeviceKey(account) {
  const record = await getRecord(account);
  if (record === null) return null;
  if (record.pin !== null) return { publicKeyHex: record.publicKeyHex, hasPin: true };
  const { privateKey, memoKey, publicKeyHex } = record;
  return { privateKey, memoKey, publicKeyHex, hasPin: false };
}

export const forgetDeviceKey = (account) => deviceKeys.delete(account);

// -- the PIN gate ---------------------------------------------------------------------------------
// What it protects: a phone left unlocked, or lent, with the wallet open: whoever holds it
// cannot pay without the PIN, and PIN_ATTEMPTS_MAX wrong PINs forget the device's key (the
// member then logs in with the password, which restores the key from the backup).
// What it does not: the keys are non-extractable but not encrypted under the PIN (a PIN is
// too short to be a key: 10^6 guesses take seconds offline), so malware on the device or a
// script running in the wallet's origin can use them without it. The gate is enforced by this
// code only; the real protection of the key at rest is the operating system's and browser's.
const PIN_KDF = { name: "argon2id", memory_kib: 19456, time_cost: 2, parallelism: 1 };

function checkPin(pin) {
  if (typeof pin !== "string" || !/^[0-9]{4,8}$/.test(pin)) throw new PinError("a PIN is 4 to 8 digits");
}

export async function setDevicePin(account, pin) {
  checkPin(pin);
  const record = await getRecord(account);
  if (record === null) throw new PinError("no key kept on this device");
  const salt = hex(crypto.getRandomValues(new Uint8Array(16)));
  const verifier = hex(await argon2id(pin, { ...PIN_KDF, salt }, 32));
  await putRecord(account, { ...record, pin: { salt, verifier }, failures: 0 });
}

// {privateKey, memoKey, publicKeyHex}; a PinError with attemptsLeft on a wrong PIN (0: the key
// was forgotten).
export async function unlockDeviceKey(account, pin) {
  const record = await getRecord(account);
  if (record === null) throw new PinError("no key kept on this device", 0);
  if (record.pin !== null) {
    checkPin(pin);
    const verifier = hex(await argon2id(pin, { ...PIN_KDF, salt: record.pin.salt }, 32));
    if (verifier !== record.pin.verifier) {
      const failures = record.failures + 1;
      if (failures >= PIN_ATTEMPTS_MAX) await forgetDeviceKey(account);
      else await putRecord(account, { ...record, failures });
      throw new PinError("wrong PIN", PIN_ATTEMPTS_MAX - failures);
    }
    if (record.failures !== 0) await putRecord(account, { ...record, failures: 0 });
  }
  const { privateKey, memoKey, publicKeyHex } = record;
  return { privateKey, memoKey, publicKeyHex };
}
