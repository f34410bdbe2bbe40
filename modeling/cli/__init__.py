"""The toolchain's ``nce`` sub-commands: ``data`` (synthetic data, scenario clips) and ``model``
(train, export, eval, fp-check). Registered by :data:`nce.cli.COMMAND_MODULES`."""
