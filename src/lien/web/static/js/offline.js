// The installable app: registers the service worker (root scope) and, when this page is the
// last known copy (the worker served it from its cache) or the device is offline, shows the
// "Hors ligne" banner and disables every payment action (no offline payments).

export function registerWorker() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
}

function setPaymentsEnabled(enabled) {
  for (const link of document.querySelectorAll(".pay-action")) {
    if (enabled) {
      if (link.dataset.href) link.setAttribute("href", link.dataset.href);
      link.removeAttribute("aria-disabled");
    } else {
      if (link.hasAttribute("href")) link.dataset.href = link.getAttribute("href");
      link.removeAttribute("href");
      link.setAttribute("aria-disabled", "true");
    }
  }
}

export function watchConnection() {
  const banner = document.getElementById("offline");
  const cached = banner && banner.dataset.offline === "1";
  const update = () => {
    const offline = cached || !navigator.onLine;
    if (banner) banner.hidden = !offline;
    document.body.classList.toggle("is-offline", offline);
    setPaymentsEnabled(!offline);
  };
  addEventListener("online", update);
  addEventListener("offline", update);
  update();
}
