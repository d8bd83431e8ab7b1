"""Cross-cutting code shared by every Tessera service: config, database, errors, tenancy,
gRPC bootstrap and clients, NATS outbox and consumers. Never domain code."""
