"""The federation: several associations' nodes on one ledger.

The layer above the node that joins nodes together: local NATS servers a node may start and
supervise (``natsd``), the validators' signatures travelling over NATS (finality), catching up
from peers' certified blocks over HTTP, the watch of the peers' heights for a node's pages
(``peers``), and the demo federation. The ordering itself is
``lien.ordering.jetstream``, a backend of the ordering interface like the embedded log.
"""
