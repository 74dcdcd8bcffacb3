"""Where to connect: the --dsn rule, the embedded local cluster and the PostgreSQL binaries it runs."""
