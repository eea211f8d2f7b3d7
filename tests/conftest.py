"""The browser fixtures (``browser_support``: Playwright, Chromium, pages) for every test module
that asks for them; registered here, before any test module imports its helpers, so that pytest
rewrites its assertions."""

pytest_plugins = ("browser_support",)
