"""Security tests: the service under attack over real HTTP."""
