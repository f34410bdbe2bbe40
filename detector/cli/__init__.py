"""The edge box's ``nce`` sub-commands, one module each: ``config``, ``detect``, ``run``, ``outbox``,
``evidence``, ``keys``. Registered by :data:`nce.cli.COMMAND_MODULES`; each module is imported only
when its command runs."""
