-- Accounts of the HTTP API: users with argon2 hashes and a role, revoked tokens (kept
-- until they would have expired anyway) and server settings such as the token key.

CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
