"""The ``lien`` command: node administration and a wallet for power users (see ``main``)."""
