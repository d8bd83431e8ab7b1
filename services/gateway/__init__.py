"""The public edge: REST under /api (and AppBuilder's /auth), authentication, CSRF,
workspace selection, and routing to the owning services over gRPC."""
