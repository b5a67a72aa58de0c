// A real, throwaway PostgreSQL server for the tests and the benchmark, from
// Debian's `postgresql` package: initdb into a temporary directory, the server
// on 127.0.0.1 at a free port (and a unix socket in that directory). Tuned for
// speed unless `durable` (the benchmark measures what an operator runs). As
// root it runs as the `postgres` system user (PostgreSQL refuses root).
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

export type PostgresServer = {
  /** `postgres://postgres@127.0.0.1:<port>/<database>` */
  connectionString: string
  port: number
  /** Milliseconds from initdb to the database being created. */
  startMs: number
  /** Another empty database on the same server. */
  createDatabase(name: string): Promise<string>
  /** Stops the server (immediately: nothing here needs to survive) and removes its directory. Safe to call twice. */
  stop(): Promise<void>
}

const install = 'Install it: `apt-get update && apt-get install -y postgresql` (Debian), or put initdb and postgres on PATH.'

/** The directory holding initdb and postgres: Debian's versioned directory, newest first, else PATH. */
export function postgresBinDir(): string {
  const debian = '/usr/lib/postgresql'
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((name) => existsSync(join(debian, name, 'bin', 'postgres')) && existsSync(join(debian, name, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a))
    if (versions[0] !== undefined) return join(debian, versions[0], 'bin')
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb'))) return dir
  }
  throw new Error(`PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or on PATH. ${install}`)
}

/** The uid/gid to run the server as: the `postgres` user when we are root, else ourselves. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    return { uid, gid }
  } catch {
    throw new Error(`Running as root, but there is no \`postgres\` system user to run the server as (PostgreSQL refuses root). ${install}`)
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

const running = new Set<ChildProcess>()
let exitHookInstalled = false
function installExitHook() {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // SIGQUIT: immediate shutdown, children included. The directory is left behind only then.
  process.once('exit', () => {
    for (const child of running) child.kill('SIGQUIT')
  })
}

export type StartPostgresOptions = {
  database?: string
  startTimeoutMs?: number
  /** Keep PostgreSQL's durability defaults (fsync, synchronous commit) instead of turning them off. */
  durable?: boolean
  /** Further server settings (`name → value`). */
  settings?: Record<string, string>
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const started = performance.now()
  const bin = postgresBinDir()
  const user = serverUser()
  const dir = mkdtempSync(join(tmpdir(), 'mpp-pg-'))
  const data = join(dir, 'data')
  if (user !== undefined) chownSync(dir, user.uid, user.gid)
  chmodSync(dir, 0o700)
  const asServer = user === undefined ? {} : { uid: user.uid, gid: user.gid }
  // The server user cannot read root's cwd or HOME; give it its own.
  const env = { ...process.env, HOME: dir, LC_ALL: 'C', LANG: 'C' }

  try {
    const init = spawnSync(
      join(bin, 'initdb'),
      ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions'],
      {
        ...asServer,
        cwd: dir,
        env,
        encoding: 'utf8',
      },
    )
    if (init.status !== 0)
      throw new Error(`initdb failed (status ${init.status}):\n${init.stderr}${init.error ? `\n${init.error.message}` : ''}`)
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }

  const startTimeoutMs = options.startTimeoutMs ?? 20_000
  let child: ChildProcess | undefined
  let port = 0
  let log = ''
  // A port picked free may be taken before the server binds it: try another.
  for (let attempt = 1; child === undefined; attempt++) {
    port = await freePort()
    const settings = {
      listen_addresses: '127.0.0.1',
      port: String(port),
      unix_socket_directories: dir,
      ...(options.durable ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', shared_buffers: '32MB' }),
      max_connections: '200',
      logging_collector: 'off',
      log_min_messages: 'warning',
      ...options.settings,
    }
    const args = ['-D', data, ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])]
    const candidate = spawn(join(bin, 'postgres'), args, { ...asServer, cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] })
    running.add(candidate)
    installExitHook()
    log = ''
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), startTimeoutMs)
      const onData = (chunk: Buffer) => {
        log = (log + chunk.toString()).slice(-8000)
        if (log.includes('database system is ready to accept connections')) done(true)
      }
      const onExit = () => done(false)
      function done(ok: boolean) {
        clearTimeout(timer)
        candidate.stderr!.off('data', onData)
        candidate.off('exit', onExit)
        candidate.stderr!.resume() // keep draining
        resolve(ok)
      }
      candidate.stderr!.on('data', onData)
      candidate.once('exit', onExit)
    })
    if (ready) {
      child = candidate
      candidate.once('exit', () => running.delete(candidate))
      break
    }
    candidate.kill('SIGQUIT')
    running.delete(candidate)
    if (attempt >= 3 || !/could not bind|Address already in use/i.test(log)) {
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`PostgreSQL did not start within ${startTimeoutMs} ms:\n${log}`)
    }
  }

  const server = child
  const exited = new Promise<void>((resolve) => {
    if (server.exitCode !== null || server.signalCode !== null) resolve()
    else server.once('exit', () => resolve())
  })
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`
  async function createDatabase(name: string) {
    const admin = new pg.Client({ connectionString: urlOf('postgres') })
    await admin.connect()
    try {
      await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`)
    } finally {
      await admin.end()
    }
    return urlOf(name)
  }

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      if (server.exitCode === null && server.signalCode === null) {
        server.kill('SIGQUIT')
        const timer = setTimeout(() => server.kill('SIGKILL'), 3_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    })())

  try {
    const connectionString = await createDatabase(options.database ?? 'mpp_test')
    return { connectionString, port, startMs: performance.now() - started, createDatabase, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
