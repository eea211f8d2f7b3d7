"""The HTML pages of the node: where the members' wallet and the back office will live.

Mount point: ``create_app`` includes ``pages.router`` at the root (``/``), after the JSON API
(``/api/v1``), and out of the OpenAPI document. The home page is the first page; each next page
is a module of this package with its own ``router``, included in ``router`` below, and its words
in ``text.py`` (the one place of page text: French first, then English).

Pages read the node's read model, ``node.summary`` (an immutable ``NodeSummary`` the node thread
replaces after every commit), never the node's live state, and the store's query methods for
what the summary does not hold; they never touch SQL, and they submit transactions through the
same ``ctx.admission`` as the API.

How sessions and CSRF will attach (the wallet issue; nothing of it exists yet):

* **Sessions** — a server-side session table in the node-local personal-data store (erasable
  per member), referred to by an opaque random id in a ``Secure; HttpOnly; SameSite=Lax``
  cookie scoped to ``/``; a dependency ``Session = Annotated[Session, Depends(get_session)]``
  reads it for the pages that need a member, and raises a redirect to the login page when
  there is none. The API under ``/api/v1`` never reads the cookie: it stays stateless
  (signed transactions carry their own authority), so a session can never authorise a
  transaction — the member's key, in the browser, signs it.
* **CSRF** — every form of a page carries a token bound to the session (an HMAC of the session
  id); a dependency on the pages' ``POST`` routes compares it (and the ``Origin`` header) before
  the handler runs, and answers 403 otherwise. Being a dependency of the pages' router only, it
  never costs the API's hot path.
* **Language** — ``?lang=en`` today; later the member's choice stored in the session, then the
  ``Accept-Language`` header, French by default (``text.language``).
"""

from __future__ import annotations

from fastapi import APIRouter

from . import home, qr

router = APIRouter(include_in_schema=False)
router.include_router(home.router)
router.include_router(qr.router)

__all__ = ["router"]
