// LIEN's service worker (served at /sw.js, scope /). It keeps the app's shell and the last
// /compte and /historique pages. Pages go to the network first; when the network fails, the
// last copy is answered, marked data-offline="1" so the page shows "Hors ligne — dernier
// solde connu" and disables payments. Nothing else is cached: no API answer, no payment.
const SHELL = "lien-shell-v1";
const PAGES = "lien-pages-v1";
const SHELL_FILES = [
  "/static/css/app.css", "/static/js/forms.js", "/static/js/offline.js", "/static/js/wallet.js",
  "/static/js/history.js", "/static/icons/lien.svg", "/static/icons/lien-192.png",
  "/static/icons/lien-512.png", "/manifest.webmanifest",
];
const KEPT_PAGES = new Set(["/compte", "/historique"]);

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) =>
    Promise.all(SHELL_FILES.map((url) => cache.add(url).catch(() => undefined)))));
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (![SHELL, PAGES].includes(name)) await caches.delete(name);
    await self.clients.claim();
  })());
});

async function page(request, path) {
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) {
      const cache = await caches.open(PAGES);
      await cache.put(path, response.clone());
    }
    return response;
  } catch (error) {
    const cached = await caches.match(path, { cacheName: PAGES });
    if (!cached) throw error;
    const html = (await cached.text()).replace(/data-offline="0"/g, 'data-offline="1"');
    return new Response(html, { status: 200, headers: cached.headers });
  }
}

async function shell(request) {
  try {
    const response = await fetch(request);
    if (response.ok) (await caches.open(SHELL)).put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await caches.match(request, { cacheName: SHELL });
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && KEPT_PAGES.has(url.pathname)) {
    event.respondWith(page(request, url.pathname));
  } else if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(shell(request));
  }
});
