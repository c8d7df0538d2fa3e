"""Business rules and the only writers. Each operation flushes; the request (or CLI command) commits."""
