"""The records service: the user data of every schema, one real PostgreSQL table per
schema inside one PostgreSQL schema per app, behind RecordsService over gRPC."""
