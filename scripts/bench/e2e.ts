// Row 8: end to end over HTTP on loopback. This process starts anvil (Tempo
// mode) and deploys the escrow, funds one payer key per client worker, starts
// the gateway in a server process and the load in a client process, and stops
// all three afterwards, whatever happens. The gateway is either the lean one
// (e2e-server.ts: memory store, logging off) or the deployable Node entry,
// src/node.ts from environment variables (PGlite or PostgreSQL, one log line
// per request).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import { deployEscrow, fundPathUsd, startAnvil, testAccounts, testClient } from '../../test/harness/local-chain.js'
import { wranglerDev, wranglerDevReady } from '../../test/harness/wrangler-dev.js'
import { closedPort } from '../../test/support/ports.js'
import { track } from './processes.js'

export type E2eOptions = {
  /** Client workers, each on its own channel, one request in flight each. Default 8. */
  workers?: number
  /** Untimed warm-up, ms. Default 2,000. */
  warmupMs?: number
  /** Timed run, ms. Default 10,000. */
  durationMs?: number
  /** Stop early after this many timed completions. Default 200,000. */
  maxCompletions?: number
  /** Server bucket size (base units). Default 100,000: a completion here costs ~800, so ~125 per bucket. */
  bucketSize?: bigint
  /** Then unpaid requests only (each a 402 and its challenge), ms. Default 5,000. */
  challengeMs?: number
  /** Which gateway serves. Default `memory`. */
  gateway?: E2eGateway
  /**
   * How the client pays (e2e-client.ts): `challenge` (default) an unpaid request's 402, then the paid retry;
   * `next` the challenge the previous paid response carried, with the bucket's voucher; `next-signed` that
   * challenge with a fresh voucher signed per request (the memory gateway then verifies up to 100,000 vouchers
   * per channel per second instead of 10).
   */
  pay?: 'challenge' | 'next' | 'next-signed'
}

/**
 * `memory`: e2e-server.ts, the memory store with logging off (the payment
 * code's own cost). `node`: the deployable Node entry (src/node.ts) with its
 * JSON log line per request on stdout, on PGlite or on the PostgreSQL at
 * `databaseUrl`. `wrangler-dev`: src/worker.ts under `wrangler dev` (Durable
 * Objects store, local only): wrangler's Node process, its proxy workerd and
 * the Worker's workerd, whose CPU is counted together (the process group) —
 * local tooling, not what Cloudflare runs.
 */
export type E2eGateway =
  | { kind: 'memory' }
  | { kind: 'node'; store: 'pglite' }
  | { kind: 'node'; store: 'postgresql'; databaseUrl: string }
  | { kind: 'wrangler-dev' }

export type E2eResult = {
  workers: number
  channelsOpenedMs: number
  seconds: number
  completions: number
  requests: number
  refreshes: number
  failures: number
  completionsPerSecond: number
  requestsPerSecond: number
  roundTripsPerCompletion: number
  latencyMs: { p50: number; p90: number; p99: number; max: number }
  warmupCompletions: number
  anvilStartMs: number
  /** CPU over the timed window: cores kept busy, and CPU ms per paid completion, per process. */
  cpu: { serverCores: number; clientCores: number; serverMsPerCompletion: number; clientMsPerCompletion: number }
  /** The 402 alone over HTTP: challenges per second, and per second of the gateway's CPU (one core's worth). */
  challenge: {
    challenges: number
    seconds: number
    perSecond: number
    serverCores: number
    serverMicrosecondsPerChallenge: number
    perServerCore: number
  }
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))
const nodeEntry = fileURLToPath(new URL('../../src/node.ts', import.meta.url))
// Children run from the repository root, where `--import tsx` resolves.
const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const tsxLoader = ['--import', 'tsx']
// BENCH_CPU_PROF_DIR=dir: the server and client processes write V8 CPU profiles there (node --cpu-prof).
const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF_DIR] : []

/** Spawns a TypeScript child with this Node; `line(pattern)` resolves with its first stdout line matching. */
function child(file: string, env: Record<string, string>, timeoutMs: number) {
  return spawned(file, [...profile, ...tsxLoader, file], env, timeoutMs)
}

/** Spawns this Node with `args` in its own process group (so everything it starts is counted and stopped with it). */
function spawned(file: string, args: string[], env: Record<string, string>, timeoutMs: number) {
  const spawned = track(
    spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    }),
  )
  const lines: string[] = []
  const waiting: { pattern: RegExp; resolve: (line: string) => void }[] = []
  let partial = ''
  let stderr = ''
  let exited: number | null | undefined
  spawned.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000)
  })
  spawned.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n')
    partial = parts.pop()!
    for (const line of parts) {
      lines.push(line)
      for (const waiter of waiting.filter((candidate) => candidate.pattern.test(line))) {
        waiting.splice(waiting.indexOf(waiter), 1)
        waiter.resolve(line)
      }
    }
  })
  const exit = new Promise<number | null>((resolve) =>
    spawned.once('exit', (code) => {
      exited = code
      resolve(code)
    }),
  )
  function line(pattern: RegExp): Promise<string> {
    const seen = lines.find((candidate) => pattern.test(candidate))
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${file} printed no ${pattern} within ${timeoutMs} ms\n${stderr}`)), timeoutMs)
      const settle = (value: string) => {
        clearTimeout(timer)
        resolve(value)
      }
      waiting.push({ pattern, resolve: settle })
      void exit.then((code) => {
        clearTimeout(timer)
        reject(new Error(`${file} exited (${code ?? exited}) before printing ${pattern}\n${stderr}`))
      })
    })
  }
  return { process: spawned, line }
}

/**
 * CPU seconds (user + system) the processes of `pid`'s group (it leads one:
 * spawned detached) have used so far, from /proc: the gateway and whatever it
 * started (wrangler's workerd processes).
 */
function cpuSeconds(pid: number): number {
  let ticks = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // The process group is field 5 of the whole line; utime and stime 14 and 15 (3, 12 and 13 after the command).
    if (Number(fields[2]) === pid) ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks / clockTicks
}
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

/** Stops a child and its process group. */
async function stopChild(process_: ChildProcess) {
  if (process_.exitCode !== null || process_.signalCode !== null) return
  const exited = new Promise<void>((resolve) => process_.once('exit', () => resolve()))
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-process_.pid!, name)
    } catch {
      // The group is gone already.
    }
  }
  signal('SIGTERM')
  const timer = setTimeout(() => signal('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}

/** The gateway's variables (README: configuration), the same on Node and Workers. */
function nodeEntryEnv(anvil: { rpcUrl: string; chain: { id: number } }, escrow: string, bucketSize: string): Record<string, string> {
  return {
    MPP_SECRET_KEY: 'bench-e2e-secret-key-at-least-32-bytes',
    RPC_URL: anvil.rpcUrl,
    CHAIN_ID: String(anvil.chain.id),
    ESCROW_ADDRESS: escrow,
    TOKEN_ADDRESS: pathUsdAddress,
    PAYEE_PRIVATE_KEY: generatePrivateKey(),
    BUCKET_SIZE: bucketSize,
  }
}

export async function benchEndToEnd(options: E2eOptions = {}): Promise<E2eResult> {
  const workers = options.workers ?? 8
  const durationMs = options.durationMs ?? 10_000
  const warmupMs = options.warmupMs ?? 2_000
  const challengeMs = options.challengeMs ?? 5_000
  const anvil = await startAnvil({ tempo: true })
  track({ kill: () => void anvil.stop() })
  const children: ChildProcess[] = []
  let pgliteDir: string | undefined
  let persistDir: string | undefined
  try {
    const funder = testClient(anvil, testAccounts[0]!)
    const escrow = await deployEscrow(testClient(anvil, testAccounts[3]!))
    const deposit = 1_000_000_000_000n
    const payerKeys: Hex[] = []
    for (let i = 0; i < workers; i++) {
      const key = generatePrivateKey()
      await fundPathUsd(funder, privateKeyToAccount(key).address, deposit)
      payerKeys.push(key)
    }

    const gateway = options.gateway ?? { kind: 'memory' }
    const bucketSize = String(options.bucketSize ?? 100_000n)
    let server: ReturnType<typeof child>
    let url: string
    if (gateway.kind === 'memory') {
      server = child(
        here('e2e-server.ts'),
        {
          BENCH_RPC_URL: anvil.rpcUrl,
          BENCH_CHAIN_ID: String(anvil.chain.id),
          BENCH_ESCROW: escrow,
          BENCH_CURRENCY: pathUsdAddress,
          BENCH_PAYEE_KEY: generatePrivateKey(),
          BENCH_BUCKET_SIZE: bucketSize,
          ...(options.pay === 'next-signed' ? { BENCH_VOUCHER_RATE_LIMIT: '100000' } : {}),
        },
        30_000,
      )
      children.push(server.process)
      url = (await server.line(/^listening /)).slice('listening '.length).trim()
    } else if (gateway.kind === 'wrangler-dev') {
      persistDir = mkdtempSync(join(tmpdir(), 'bench-e2e-wrangler-'))
      const port = await closedPort()
      const command = wranglerDev({ port, persistTo: persistDir, vars: nodeEntryEnv(anvil, escrow, bucketSize) })
      server = spawned('wrangler dev', command.args, command.env, 120_000)
      children.push(server.process)
      await server.line(wranglerDevReady)
      url = `http://127.0.0.1:${port}`
    } else {
      pgliteDir = gateway.store === 'pglite' ? mkdtempSync(join(tmpdir(), 'bench-e2e-pglite-')) : undefined
      server = child(
        nodeEntry,
        {
          PORT: '0',
          ...nodeEntryEnv(anvil, escrow, bucketSize),
          ...(gateway.store === 'pglite' ? { PGLITE_DIR: pgliteDir! } : { DATABASE_URL: gateway.databaseUrl }),
        },
        60_000,
      )
      children.push(server.process)
      url = /Gateway listening on (\S+)/.exec(await server.line(/Gateway listening on /))![1]!
    }

    const client = child(
      here('e2e-client.ts'),
      {
        BENCH_URL: url,
        BENCH_RPC_URL: anvil.rpcUrl,
        BENCH_CHAIN_ID: String(anvil.chain.id),
        BENCH_CURRENCY: pathUsdAddress,
        BENCH_PAYER_KEYS: payerKeys.join(','),
        BENCH_DEPOSIT: String(deposit),
        BENCH_WARMUP_MS: String(warmupMs),
        BENCH_DURATION_MS: String(durationMs),
        BENCH_MAX_COMPLETIONS: String(options.maxCompletions ?? 200_000),
        BENCH_CHALLENGE_MS: String(challengeMs),
        BENCH_PAY: options.pay ?? 'challenge',
      },
      durationMs + warmupMs + challengeMs + 90_000,
    )
    children.push(client.process)
    // CPU time of both processes over the timed window: what one paid completion costs each side.
    await client.line(/^window start$/)
    const before = { server: cpuSeconds(server.process.pid!), client: cpuSeconds(client.process.pid!), at: performance.now() }
    const resultLine = await client.line(/^\{/)
    const after = { server: cpuSeconds(server.process.pid!), client: cpuSeconds(client.process.pid!), at: performance.now() }
    const result = JSON.parse(resultLine) as Omit<E2eResult, 'anvilStartMs' | 'cpu' | 'challenge'>
    const wall = (after.at - before.at) / 1000
    await client.line(/^challenge window start$/)
    const challengeBefore = { server: cpuSeconds(server.process.pid!), at: performance.now() }
    const challenges = JSON.parse((await client.line(/^challenges /)).slice('challenges '.length)) as {
      challenges: number
      seconds: number
    }
    const challengeServerSeconds = cpuSeconds(server.process.pid!) - challengeBefore.server
    return {
      ...result,
      anvilStartMs: Math.round(anvil.startMs),
      cpu: {
        serverCores: (after.server - before.server) / wall,
        clientCores: (after.client - before.client) / wall,
        serverMsPerCompletion: ((after.server - before.server) * 1000) / result.completions,
        clientMsPerCompletion: ((after.client - before.client) * 1000) / result.completions,
      },
      challenge: {
        ...challenges,
        perSecond: challenges.challenges / challenges.seconds,
        serverCores: challengeServerSeconds / ((performance.now() - challengeBefore.at) / 1000),
        serverMicrosecondsPerChallenge: (challengeServerSeconds * 1e6) / challenges.challenges,
        perServerCore: challenges.challenges / challengeServerSeconds,
      },
    }
  } finally {
    await Promise.all(children.map(stopChild))
    await anvil.stop()
    for (const dir of [pgliteDir, persistDir]) if (dir) rmSync(dir, { recursive: true, force: true })
  }
}
