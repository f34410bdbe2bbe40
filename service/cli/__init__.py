"""The case service's ``nce`` sub-commands, one module each: ``serve``, ``db``, ``admin``, ``ledger``.
Registered by :data:`nce.cli.COMMAND_MODULES`; each module is imported only when its command runs."""
