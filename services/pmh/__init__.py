"""PMH (Public Medical Hub) linkage: outbox, payloads, relay, simulator (docs/pmh.md)."""
