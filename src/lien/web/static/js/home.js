// The home page of a federated node: its Fédération section refreshed every few seconds.
// The page itself is fetched again and only that section swapped in, so the server renders it
// (its words in the page's language, the evidence alarm) and this script formats nothing.
const REFRESH_MS = 5000;

async function refresh() {
  if (document.hidden || !navigator.onLine) return;
  const response = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.getElementById("federation");
  const current = document.getElementById("federation");
  if (fresh && current) current.replaceWith(document.adoptNode(fresh));
}

if (document.getElementById("federation")) {
  setInterval(() => { refresh().catch(() => {}); }, REFRESH_MS);
}
