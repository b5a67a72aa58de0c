// A throwaway PostgreSQL for the store row: `DATABASE_URL` when set (left as
// it is), else a fresh cluster in a temporary directory from the local
// PostgreSQL binaries, on a free loopback port, stopped and deleted afterwards.
// Without either the row says "n/a (no PostgreSQL)".
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { track, untrack } from './processes.js'

export type PostgresServer = { connectionString: string; managed: boolean; stop: () => Promise<void> }

/** initdb/postgres from PATH or the Debian layout (/usr/lib/postgresql/<version>/bin). */
function findBinaries(): { initdb: string; postgres: string } | undefined {
  const candidates: string[] = []
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir) candidates.push(dir)
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))
    for (const version of versions) candidates.push(join('/usr/lib/postgresql', version, 'bin'))
  }
  for (const dir of candidates) {
    const initdb = join(dir, 'initdb')
    const postgres = join(dir, 'postgres')
    if (existsSync(initdb) && existsSync(postgres)) return { initdb, postgres }
  }
  return undefined
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

/** PostgreSQL refuses to run as root: pick an unprivileged account to run it as. */
function runAs(): { user: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  for (const user of ['postgres', 'nobody']) {
    const id = spawnSync('id', ['-u', user], { encoding: 'utf8' })
    const group = spawnSync('id', ['-g', user], { encoding: 'utf8' })
    if (id.status === 0 && group.status === 0) return { user, uid: Number(id.stdout.trim()), gid: Number(group.stdout.trim()) }
  }
  throw new Error('running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as')
}

export async function startPostgres(): Promise<PostgresServer | { unavailable: string }> {
  if (process.env.DATABASE_URL) return { connectionString: process.env.DATABASE_URL, managed: false, stop: async () => {} }
  const binaries = findBinaries()
  if (binaries === undefined) return { unavailable: 'n/a (no PostgreSQL)' }

  const dir = mkdtempSync(join(tmpdir(), 'bench-pg-'))
  const dataDir = join(dir, 'data')
  let child: ChildProcess | undefined
  try {
    const account = runAs()
    const owner = account ?? { uid: userInfo().uid, gid: userInfo().gid }
    chmodSync(dir, 0o700)
    execFileSync('chown', ['-R', `${owner.uid}:${owner.gid}`, dir])
    const asUser = account === undefined ? {} : { uid: account.uid, gid: account.gid }
    execFileSync(binaries.initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-instructions'], { ...asUser, stdio: 'ignore' })
    const port = await freePort()
    // Defaults otherwise (fsync and synchronous_commit on): what an operator runs.
    // BENCH_PG_SETTINGS="name=value,…" adds settings, for diagnosis (e.g. synchronous_commit=off).
    const extra = (process.env.BENCH_PG_SETTINGS ?? '').split(',').filter(Boolean).flatMap((setting) => ['-c', setting.trim()])
    child = spawn(binaries.postgres, ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', dir, '-c', 'max_connections=100', ...extra], {
      ...asUser,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    const started = track(child)
    // Registered after the server, so an early exit kills it first, then deletes its files.
    const removal = track({ kill: () => rmSync(dir, { recursive: true, force: true }) })
    const exited = new Promise<void>((resolve) => started.once('exit', () => resolve()))
    let log = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`PostgreSQL did not start within 20 s:\n${log}`)), 20_000)
      started.stderr!.on('data', (chunk: Buffer) => {
        log += chunk.toString()
        if (log.includes('ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      })
      started.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`PostgreSQL exited (${code}) before it was ready:\n${log}`))
      })
    })
    let stopping: Promise<void> | undefined
    return {
      connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
      managed: true,
      stop() {
        stopping ??= (async () => {
          if (started.exitCode === null && started.signalCode === null) {
            started.kill('SIGINT') // fast shutdown
            const timer = setTimeout(() => started.kill('SIGKILL'), 5_000)
            await exited
            clearTimeout(timer)
          }
          rmSync(dir, { recursive: true, force: true })
          untrack(started)
          untrack(removal)
        })()
        return stopping
      },
    }
  } catch (error) {
    child?.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    return { unavailable: `n/a (no PostgreSQL: ${error instanceof Error ? error.message.split('\n')[0] : String(error)})` }
  }
}
