"""Identity: accounts, workspaces and memberships, password logins, refresh tokens,
sessions and the keys access JWTs are signed with."""
