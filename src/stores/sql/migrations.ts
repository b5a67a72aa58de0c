import type { SqlClient } from './client.js'

// Taken by every starting store for the whole migration: four processes booting
// at once on an empty database apply each migration exactly once.
const migrationLock = 0x6d70705f73657373n // "mpp_sess"

/** Schema versions, applied in order, each once; never edit one that shipped, append. */
const migrations: readonly string[] = [
  `CREATE TABLE mpp_channels (
     id text PRIMARY KEY,
     state jsonb NOT NULL,
     version bigint NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE TABLE mpp_consumed_challenges (
     id text PRIMARY KEY,
     expires_at bigint NOT NULL
   );
   CREATE INDEX mpp_consumed_challenges_expires_at ON mpp_consumed_challenges (expires_at);
   CREATE TABLE mpp_idempotency_records (
     key text PRIMARY KEY,
     state text NOT NULL CHECK (state IN ('pending', 'done')),
     response jsonb,
     expires_at bigint NOT NULL
   );
   CREATE INDEX mpp_idempotency_records_expires_at ON mpp_idempotency_records (expires_at);`,
  // Rate-limit windows (RateLimitStore): one row per key, its window's end (ms,
  // the server's clock) and the takes admitted in it. Unlogged: a take commits
  // without waiting for a WAL flush; a server crash (or a failover) forgets the
  // windows, which only starts them afresh.
  `CREATE UNLOGGED TABLE mpp_rate_limits (
     key text PRIMARY KEY,
     window_end bigint NOT NULL,
     taken integer NOT NULL
   );
   CREATE INDEX mpp_rate_limits_window_end ON mpp_rate_limits (window_end);`,
  // Block cursors (CursorStore): how far the close watcher has handled the
  // chain, one row per name, moved only forward. Logged: a lost cursor would
  // only mean a re-scan from the watcher's bounded look-back.
  `CREATE TABLE mpp_cursors (
     name text PRIMARY KEY,
     block numeric(78, 0) NOT NULL CHECK (block >= 0)
   );`,
  // Half of each channel page left free: a channel's row is rewritten on every
  // reserve and commit, and with room on its page the new version stays there
  // (a HOT update: no index entry, less WAL, pruned in place). Full pages made
  // most updates of many busy channels move rows and insert index entries
  // (measured: 20-40 % HOT at the default 100, 97-99 % at 50, and 40 % less
  // server CPU per write; scripts/bench/pg-profile.ts). Pages already written
  // take it as rows move off them; VACUUM FULL applies it at once.
  `ALTER TABLE mpp_channels SET (fillfactor = 50);`,
]

/** Brings the schema to the newest version, once, under an advisory lock held for the whole migration. */
export async function migrate(sql: SqlClient) {
  await sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [migrationLock.toString()])
    await tx.query(
      'CREATE TABLE IF NOT EXISTS mpp_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    )
    const rows = await tx.query<{ version: number }>('SELECT coalesce(max(version), 0)::integer AS version FROM mpp_schema_migrations')
    const current = Number(rows[0]?.version ?? 0)
    if (current > migrations.length)
      throw new Error(
        `the database schema is version ${current}, newer than this gateway knows (${migrations.length}); upgrade the gateway`,
      )
    for (let version = current + 1; version <= migrations.length; version++) {
      for (const statement of migrations[version - 1]!.split(';')
        .map((s) => s.trim())
        .filter(Boolean))
        await tx.query(statement)
      await tx.query('INSERT INTO mpp_schema_migrations (version) VALUES ($1)', [version])
    }
  })
}
