"""The browser fixtures (``browser_support``: Playwright, Chromium, pages) and a served node
(``served_support``: ``node``, ``founders``) for every test module that asks for them;
registered here, before any test module imports its helpers, so that pytest rewrites their
assertions."""

pytest_plugins = ("browser_support", "served_support")
