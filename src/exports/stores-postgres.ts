// `mpp-session-gateway/stores/postgres`: the SQL store on a PostgreSQL server (`pg`) or PGlite in process.
export {
  type PgliteStoreOptions,
  type PostgresStoreOptions,
  pgliteStore,
  postgresStore,
  type SqlSessionStore,
  type SqlStoreOptions,
} from '../stores/postgres.js'
