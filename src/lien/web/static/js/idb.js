// A small key-value store over IndexedDB: one database holding one object store, opened for
// each call and closed after it (a page keeps no connection that would block an upgrade).
// Values are stored by structured clone, so non-extractable CryptoKeys keep their properties.
export function keyValueStore(dbName, storeName) {
  const open = () =>
    new Promise((resolve, reject) => {
      const request = indexedDB.open(dbName, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(storeName);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });

  // Resolves once the transaction is committed (not merely when the request succeeded).
  async function run(mode, action) {
    const db = await open();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(storeName, mode);
        const request = action(tx.objectStore(storeName));
        tx.oncomplete = () => resolve(request.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  return {
    get: async (key) => (await run("readonly", (s) => s.get(key))) ?? null,
    put: (key, value) => run("readwrite", (s) => s.put(value, key)),
    delete: (key) => run("readwrite", (s) => s.delete(key)),
  };
}
