"""Security tests: the service under attack over real HTTP (issue 14 §3, issue 15)."""
