// `npm run bench`: what the payment middleware costs next to the one thing it
// cannot avoid, a secp256k1 voucher signature recovery. Prints a table (each
// target held or missed) and writes bench-results.json at the repository root.
//
//   npm run bench                      everything (about 90 s on 2 cores)
//   npm run bench -- --quick           fewer, shorter rounds (a smoke run, about 45 s)
//   npm run bench -- --only=middleware,store,memory,e2e,stream
//   npm run bench -- --no-deployable   without rows 8b–8d (the e2e load on the Node entry and under wrangler dev)
//
// Environment: DATABASE_URL (use that PostgreSQL instead of starting one; the
// store row then writes its channels, random ids, into that database's tables),
// BENCH_PG_SETTINGS="synchronous_commit=off,…" (settings for the PostgreSQL the
// bench starts, for diagnosis), BENCH_CPU_PROF_DIR=dir (CPU profiles of the
// end-to-end server and client processes).
//
// Ratios are the headline: absolute figures vary between machines.
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { type BackendName, backendNames } from '../../src/secp256k1/backend.js'
import { benchEndToEnd, type E2eResult } from './e2e.js'
import { formatRate, type MeasureOptions, type Rate } from './harness.js'
import { benchMiddleware, type MiddlewareResults } from './in-process.js'
import { benchMemory, type MemoryResult } from './memory.js'
import { startPostgres } from './postgres-server.js'
import { benchStore, memorySubject, pgliteSubject, postgresSubject, type StoreRow } from './store.js'
import { benchStream, type StreamResult } from './stream.js'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const only = args
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',')
const runs = (section: string) => only === undefined || only.includes(section)
const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const outputFile = `${repoRoot}bench-results.json`

const measureOptions: MeasureOptions = quick ? { batches: 3, batchMs: 150, warmupMs: 200 } : { batches: 11, batchMs: 300, warmupMs: 500 }
const storeOptions = quick ? { rounds: 1, roundMs: 500, warmupMs: 200 } : { rounds: 3, roundMs: 1_500, warmupMs: 500 }
const e2eOptions = quick
  ? { durationMs: 3_000, warmupMs: 1_000, challengeMs: 2_000 }
  : { durationMs: 10_000, warmupMs: 2_000, challengeMs: 5_000 }

const startedAt = new Date()
const log = (line: string) => process.stderr.write(`${line}\n`)
const machine = {
  cpu: readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
}
log(`bench on ${machine.cores} × ${machine.cpu}, Node ${machine.node}${quick ? ' (quick)' : ''}`)
// Other work on the machine skews every figure; the load is recorded and a busy machine flagged.
const loadAverage = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])
/** Busy and total CPU time of the whole machine so far (jiffies), from /proc/stat. */
function systemCpu(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0)
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return undefined
  }
}
const loadAtStart = loadAverage()

// 1–5: the middleware in process.
let middleware: MiddlewareResults | undefined
/** Cores other processes kept busy during rows 1–5 (this process runs them on one thread). */
let foreignCores: number | undefined
if (runs('middleware')) {
  log('· rows 1–5 in alternation: recover (viem ×2, each backend), unpaid (×2), paid_new_voucher (each backend), paid_in_bucket, challenge')
  const system = systemCpu()
  const own = process.cpuUsage()
  const wallStart = performance.now()
  middleware = await benchMiddleware(measureOptions)
  const wallMs = performance.now() - wallStart
  const ownCpu = process.cpuUsage(own)
  const systemAfter = systemCpu()
  if (system && systemAfter) {
    const busyCores = ((systemAfter.busy - system.busy) / (systemAfter.total - system.total)) * machine.cores
    foreignCores = Math.max(0, busyCores - (ownCpu.user + ownCpu.system) / 1000 / wallMs)
  }
}

// 6: stores through the SessionStore interface.
const storeRows: StoreRow[] = []
if (runs('store')) {
  for (const subject of [memorySubject, pgliteSubject]) {
    log(`· store ${subject.name}`)
    storeRows.push(...(await benchStore(subject, storeOptions)))
  }
  log('· store postgresql')
  const server = await startPostgres()
  if ('unavailable' in server) {
    storeRows.push(...(await benchStore({ name: 'postgresql', unavailable: server.unavailable })))
  } else {
    try {
      storeRows.push(...(await benchStore(postgresSubject(server.connectionString), storeOptions)))
    } finally {
      await server.stop()
    }
  }
}

// 7: memory per open channel.
let memory: MemoryResult | undefined
if (runs('memory')) {
  log('· memory per open channel (100,000 channels, child process with --expose-gc)')
  memory = await benchMemory(100_000)
}

// 9: a streamed completion, paid and metered against the same stream unpaid.
let stream: StreamResult | undefined
if (runs('stream')) {
  log('· streamed completions: 1,000 and 2,000 chunks from the local backend, paid (windows of 64 tokens) and unpaid, alternating')
  stream = await benchStream(quick ? { streams: 8, warmup: 2 } : { streams: 30, warmup: 4 })
}

// 8: end to end over HTTP.
let e2e: E2eResult | undefined
let e2eError: string | undefined
if (runs('e2e')) {
  log(`· end to end: anvil, gateway process, client process (${(e2eOptions.durationMs / 1000).toFixed(0)} s timed)`)
  try {
    e2e = await benchEndToEnd(e2eOptions)
  } catch (error) {
    e2eError = error instanceof Error ? error.message : String(error)
    log(`  end to end failed: ${e2eError}`)
  }
}

// 8n, 8s: one round trip per paid completion, with the challenge the previous paid response carried: the
// bucket's voucher (8n), or a fresh voucher signed per request as mppx's model does (8s), on row 8's gateway.
type OneTripRow = { label: string; pay: 'next' | 'next-signed'; result?: E2eResult; error?: string }
const oneTrip: OneTripRow[] = [
  { label: 'next challenge, bucket voucher', pay: 'next' },
  { label: 'next challenge, a voucher signed per request', pay: 'next-signed' },
]
if (runs('e2e')) {
  for (const row of oneTrip) {
    log(`· end to end, ${row.label}`)
    try {
      row.result = await benchEndToEnd({ ...e2eOptions, challengeMs: 500, pay: row.pay })
    } catch (error) {
      row.error = error instanceof Error ? error.message : String(error)
      log(`  failed: ${row.error}`)
    }
  }
}

// 8b–8d: the same load on the deployable Node entry (src/node.ts from environment variables, a log line per
// request), on PGlite and on PostgreSQL, and on the Worker under `wrangler dev`: what a paid completion costs
// as deployed, beside row 8.
type DeployableRow = { label: string; result?: E2eResult; error?: string }
const deployable: DeployableRow[] = []
if (runs('e2e') && !args.includes('--no-deployable')) {
  const deployableOptions = { ...e2eOptions, challengeMs: 1_000 }
  log('· end to end on the Node entry (PGlite store, logging on)')
  const pglite: DeployableRow = { label: 'Node entry, PGlite' }
  try {
    pglite.result = await benchEndToEnd({ ...deployableOptions, gateway: { kind: 'node', store: 'pglite' } })
  } catch (error) {
    pglite.error = error instanceof Error ? error.message : String(error)
    log(`  failed: ${pglite.error}`)
  }
  deployable.push(pglite)
  log('· end to end on the Node entry (PostgreSQL store, logging on)')
  const postgresql: DeployableRow = { label: 'Node entry, PostgreSQL' }
  const server = await startPostgres()
  if ('unavailable' in server) postgresql.error = server.unavailable
  else {
    try {
      postgresql.result = await benchEndToEnd({
        ...deployableOptions,
        gateway: { kind: 'node', store: 'postgresql', databaseUrl: server.connectionString },
      })
    } catch (error) {
      postgresql.error = error instanceof Error ? error.message : String(error)
      log(`  failed: ${postgresql.error}`)
    } finally {
      await server.stop()
    }
  }
  deployable.push(postgresql)
  log('· end to end on the Worker under wrangler dev (Durable Objects; local tooling)')
  const worker: DeployableRow = { label: 'Worker, wrangler dev' }
  try {
    worker.result = await benchEndToEnd({ ...deployableOptions, gateway: { kind: 'wrangler-dev' } })
  } catch (error) {
    worker.error = error instanceof Error ? error.message : String(error)
    log(`  failed: ${worker.error}`)
  }
  deployable.push(worker)
}

// Targets.
type Target = { name: string; target: string; value: string; holds: boolean | undefined }
const targets: Target[] = []
/** What issuing a challenge adds to a request that reads its body: row 5 minus row 2b, round by round, µs. */
const challengeShare = (results: MiddlewareResults) => results.challengeShareMicroseconds

if (middleware) {
  const { challenge, costToRecover } = middleware
  const { paidNewVoucherOn } = costToRecover
  /** A target on one backend's row; n/a where that backend does not load. */
  const onBackend = (name: string, target: string, ratio: number | undefined, limit: number, detail = '') =>
    targets.push({
      name,
      target,
      value: ratio === undefined ? 'n/a (the backend does not load here)' : `${ratio.toFixed(3)}×${detail}`,
      holds: ratio === undefined ? undefined : ratio <= limit,
    })
  const nativeShare = middleware.newVoucherShareToOwnRecover.native
  onBackend('paid_new_voucher, native', '≤ 0.35× recover (noble)', paidNewVoucherOn.native, 0.35)
  onBackend(
    'paid_new_voucher, native, vs native recover',
    '≤ 1.5× one native recovery',
    middleware.paidNewVoucherToOwnRecover.native,
    1.5,
    nativeShare === undefined ? '' : ` (the new voucher's share over paid_in_bucket: ${nativeShare.toFixed(2)}×)`,
  )
  // v2 on the runtime's backend, held to v1's target on that backend (native: ≤ 0.35× recover (noble)).
  onBackend(`paid_new_voucher v2, ${middleware.backend}`, '≤ 0.35× recover (noble), as v1 native', costToRecover.paidNewVoucherV2, 0.35)
  onBackend('paid_new_voucher, wasm', '≤ 0.5× recover (noble)', paidNewVoucherOn.wasm, 0.5)
  onBackend('paid_new_voucher, noble', '≤ 1.3× recover', paidNewVoucherOn.noble, 1.3)
  targets.push({
    name: 'paid_in_bucket',
    target: '≤ 0.25× recover',
    value: `${costToRecover.paidInBucket.toFixed(3)}×`,
    holds: costToRecover.paidInBucket <= 0.25,
  })
  targets.push({
    name: 'challenge, full 402 in process',
    target: '≥ 20,000/s per core',
    value: `${formatRate(challenge.perSecond)}/s`,
    holds: challenge.perSecond >= 20_000,
  })
  const share = challengeShare(middleware)
  targets.push({
    name: 'challenge, middleware share',
    target: '≥ 20,000/s per core',
    value: `${formatRate(1e6 / share)}/s (${share.toFixed(1)} µs)`,
    holds: 1e6 / share >= 20_000,
  })
}
if (e2e) {
  const { perServerCore, serverMicrosecondsPerChallenge } = e2e.challenge
  targets.push({
    name: 'challenge, over HTTP per gateway core',
    target: '≥ 20,000/s per core',
    value: `${formatRate(perServerCore)}/s (${serverMicrosecondsPerChallenge.toFixed(1)} µs CPU)`,
    holds: perServerCore >= 20_000,
  })
}
const signedPerRequest = oneTrip.find((row) => row.pay === 'next-signed')?.result
if (signedPerRequest) {
  const perCore = 1000 / signedPerRequest.cpu.serverMsPerCompletion
  targets.push({
    name: 'paid completions per gateway core, a voucher per request, one round trip',
    target: '≥ 1,500/s per core, 1 round trip',
    value: `${formatRate(perCore)}/s, ${signedPerRequest.roundTripsPerCompletion.toFixed(3)} round trips`,
    holds: perCore >= 1_500 && signedPerRequest.roundTripsPerCompletion < 1.01,
  })
}
if (runs('store')) {
  const pg = (channels: number) => storeRows.find((row) => row.store === 'postgresql' && row.channels === channels)
  const one = pg(1)
  const many = pg(1_000)
  if (one?.pairsPerSecond === undefined || many?.pairsPerSecond === undefined) {
    targets.push({
      name: 'postgresql reserve+commit',
      target: '≥ 2,000/s on 1 channel, scaling with channels',
      value: one?.unavailable ?? 'n/a (no PostgreSQL)',
      holds: undefined,
    })
  } else {
    const scaling = many.pairsPerSecond / one.pairsPerSecond
    targets.push({
      name: 'postgresql reserve+commit',
      target: '≥ 2,000/s on 1 channel, scaling with channels',
      value: `${formatRate(one.pairsPerSecond)}/s on 1, ×${scaling.toFixed(2)} on 1,000`,
      holds: one.pairsPerSecond >= 2_000 && scaling >= 1,
    })
  }
}
if (memory)
  targets.push({
    name: 'memory per open channel',
    target: '≤ 2,048 B',
    value: `${Math.round(memory.bytesPerChannel)} B`,
    holds: memory.bytesPerChannel <= 2_048,
  })

if (stream)
  targets.push({
    name: 'streaming: metering share of gateway CPU',
    target: '≤ 5 % on 1,000 chunks, ≤ 1 store write per window',
    value: `${(stream.paidShare * 100).toFixed(1)} % (per extra chunk ${(stream.meteringShare * 100).toFixed(1)} %), ${stream.writesPerWindow.toFixed(3)} writes per window (reserve and end included)`,
    holds: stream.paidShare <= 0.05 && stream.writesPerWindow <= 1 + 2 / Math.ceil(stream.chunks / stream.windowTokens),
  })

// The table.
const table: string[][] = [['row', 'per second', 'per op', 'vs recover', 'note']]
if (middleware) {
  const { recover, unpaid, paidNewVoucher, paidInBucket, challenge, costToRecover } = middleware
  const row = (name: string, rate: Rate, note: string, vsRecover?: number) => [
    name,
    `${formatRate(rate.perSecond)}`,
    `${rate.microseconds.toFixed(1)} µs`,
    vsRecover === undefined ? '1' : `${vsRecover.toFixed(3)}×`,
    `${note} [batches ${formatRate(rate.min)}–${formatRate(rate.max)}/s]`,
  ]
  table.push(row('1 recover', recover, 'one voucher: viem hashTypedData + noble recovery + keccak (static import)'))
  table.push(
    row(
      '  1b recover, one-call viem',
      middleware.recoverViaLoader,
      'recoverTypedDataAddress: + dynamic import per call (tsx hooks)',
      costToRecover.recoverViaLoader,
    ),
  )
  const labels = { native: '1c', wasm: '1d', noble: '1e' } as const
  for (const name of backendNames) {
    const rate = middleware.recoverOn[name]
    if (rate === undefined) continue
    table.push(
      row(
        `  ${labels[name]} recover, ${name}`,
        rate,
        `recoverVoucherSigner on the ${name} backend: cached domain separator, byte checks, recovery, keccak`,
        costToRecover.recoverOn[name],
      ),
    )
  }
  table.push(row('2 unpaid', unpaid, 'same route, no middleware (app.request)', costToRecover.unpaid))
  table.push(
    row(
      '  2b unpaid, body read',
      middleware.unpaidBody,
      'same, handler reads the body: the floor under rows 3–5',
      costToRecover.unpaidBody,
    ),
  )
  const ownRecover = (name: BackendName) => middleware.paidNewVoucherToOwnRecover[name]!.toFixed(2)
  table.push(
    row(
      '3 paid_new_voucher',
      paidNewVoucher,
      `paid request alone, new voucher, ${middleware.backend} backend (its 402 is row 5); ${ownRecover(middleware.backend)}× row ${labels[middleware.backend]}`,
      costToRecover.paidNewVoucher,
    ),
  )
  for (const name of backendNames) {
    const rate = middleware.paidNewVoucherOn[name]
    if (rate === undefined || name === middleware.backend) continue
    table.push(
      row(
        `  3 paid_new_voucher, ${name}`,
        rate,
        `the same on the ${name} backend; ${ownRecover(name)}× one ${name} recovery`,
        costToRecover.paidNewVoucherOn[name],
      ),
    )
  }
  table.push(
    row(
      '  3 paid_new_voucher, v2',
      middleware.paidNewVoucherV2,
      `the same on session protocol v2 (descriptor checked), ${middleware.backend} backend; ${middleware.paidNewVoucherV2ToOwnRecover.toFixed(2)}× row ${labels[middleware.backend]}`,
      costToRecover.paidNewVoucherV2,
    ),
  )
  table.push(row('4 paid_in_bucket', paidInBucket, 'paid request alone, accepted bucket (its 402 is row 5)', costToRecover.paidInBucket))
  table.push(row('5 challenge', challenge, 'unpaid request to the paid route → 402', costToRecover.challenge))
  const share = challengeShare(middleware)
  table.push([
    '  5b challenge, middleware share',
    formatRate(1e6 / share),
    `${share.toFixed(1)} µs`,
    `${(share / recover.microseconds).toFixed(3)}×`,
    'row 5 minus row 2b (median of round-by-round differences): what issuing the challenge adds',
  ])
  const withChallenge = (rate: Rate) => 1 / (1 / rate.perSecond + 1 / challenge.perSecond)
  table.push([
    '  3+5 new voucher incl. 402',
    formatRate(withChallenge(paidNewVoucher)),
    `${(1e6 / withChallenge(paidNewVoucher)).toFixed(1)} µs`,
    `${(recover.perSecond / withChallenge(paidNewVoucher)).toFixed(3)}×`,
    'challenge + paid request, derived',
  ])
  table.push([
    '  4+5 in bucket incl. 402',
    formatRate(withChallenge(paidInBucket)),
    `${(1e6 / withChallenge(paidInBucket)).toFixed(1)} µs`,
    `${(recover.perSecond / withChallenge(paidInBucket)).toFixed(3)}×`,
    'challenge + paid request, derived',
  ])
}
for (const row of storeRows) {
  table.push([
    `6 store ${row.store}, ${row.channels.toLocaleString('en-US')} ch`,
    row.pairsPerSecond === undefined ? (row.unavailable ?? 'n/a') : formatRate(row.pairsPerSecond),
    row.pairsPerSecond === undefined ? '' : `${(1e6 / row.pairsPerSecond).toFixed(1)} µs`,
    '',
    row.pairsPerSecond === undefined
      ? ''
      : `reserve+commit pairs, ${row.concurrency} in flight [rounds ${formatRate(row.min!)}–${formatRate(row.max!)}/s]`,
  ])
}
if (memory)
  table.push([
    '7 memory per channel',
    '',
    `${Math.round(memory.bytesPerChannel).toLocaleString('en-US')} B`,
    '',
    `memory store, heap delta / ${memory.count.toLocaleString('en-US')} open channels`,
  ])
if (e2e) {
  table.push([
    '8 e2e paid completions',
    formatRate(e2e.completionsPerSecond),
    `p50 ${e2e.latencyMs.p50.toFixed(2)} ms`,
    '',
    `p99 ${e2e.latencyMs.p99.toFixed(2)} ms; ${e2e.workers} workers, 1 channel each, ${e2e.seconds.toFixed(1)} s, ${e2e.completions.toLocaleString('en-US')} completions, ${e2e.failures} failed`,
  ])
  table.push([
    '8 e2e HTTP requests',
    formatRate(e2e.requestsPerSecond),
    '',
    '',
    `${e2e.roundTripsPerCompletion.toFixed(3)} round trips per paid completion (402 + paid; ${e2e.refreshes} bucket refreshes)`,
  ])
  table.push([
    '8 e2e CPU per completion',
    '',
    `${e2e.cpu.serverMsPerCompletion.toFixed(3)} ms`,
    middleware ? `${((e2e.cpu.serverMsPerCompletion * 1000) / middleware.recover.microseconds).toFixed(3)}×` : '',
    `gateway process (${e2e.cpu.serverCores.toFixed(2)} cores busy); client ${e2e.cpu.clientMsPerCompletion.toFixed(3)} ms (${e2e.cpu.clientCores.toFixed(2)} cores)`,
  ])
  table.push([
    '5c challenge over HTTP',
    formatRate(e2e.challenge.perServerCore),
    `${e2e.challenge.serverMicrosecondsPerChallenge.toFixed(1)} µs`,
    middleware ? `${(e2e.challenge.serverMicrosecondsPerChallenge / middleware.recover.microseconds).toFixed(3)}×` : '',
    `per gateway core: unpaid completions → 402, Node server; ${formatRate(e2e.challenge.perSecond)}/s with the gateway at ${e2e.challenge.serverCores.toFixed(2)} cores`,
  ])
} else if (runs('e2e')) {
  table.push(['8 e2e', 'failed', '', '', e2eError ?? ''])
}
for (const row of oneTrip) {
  const name = `8${row.pay === 'next' ? 'n' : 's'} e2e ${row.label}`
  const { result } = row
  if (result === undefined) {
    if (runs('e2e')) table.push([name, 'failed', '', '', row.error ?? ''])
    continue
  }
  table.push([
    name,
    formatRate(result.completionsPerSecond),
    `${result.cpu.serverMsPerCompletion.toFixed(3)} ms`,
    middleware ? `${((result.cpu.serverMsPerCompletion * 1000) / middleware.recover.microseconds).toFixed(3)}×` : '',
    `gateway CPU per paid completion (${formatRate(1000 / result.cpu.serverMsPerCompletion)}/s per gateway core)${e2e ? `, ${(result.cpu.serverMsPerCompletion / e2e.cpu.serverMsPerCompletion).toFixed(2)}× row 8's` : ''}; ${result.roundTripsPerCompletion.toFixed(3)} round trips each (${result.refreshes} bucket refreshes); p50 ${result.latencyMs.p50.toFixed(2)} ms, ${result.failures} failed`,
  ])
}
for (const [index, row] of deployable.entries()) {
  const name = `8${'bcd'[index]} e2e ${row.label}`
  const { result } = row
  if (result === undefined) {
    table.push([name, 'failed', '', '', row.error ?? ''])
    continue
  }
  const nodeEntry = deployable[0]?.result
  const ratio = (base: E2eResult) => (result.cpu.serverMsPerCompletion / base.cpu.serverMsPerCompletion).toFixed(2)
  const vsLean =
    row.label.startsWith('Worker') && nodeEntry
      ? `; local tooling (wrangler's Node and two workerd), not production: ${ratio(nodeEntry)}× 8b's CPU`
      : e2e
        ? `; ${ratio(e2e)}× row 8's CPU`
        : ''
  table.push([
    name,
    formatRate(result.completionsPerSecond),
    `${result.cpu.serverMsPerCompletion.toFixed(3)} ms`,
    middleware ? `${((result.cpu.serverMsPerCompletion * 1000) / middleware.recover.microseconds).toFixed(3)}×` : '',
    `gateway CPU per paid completion, log line per request${vsLean}; p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms, gateway at ${result.cpu.serverCores.toFixed(2)} cores, ${result.failures} failed`,
  ])
}

if (stream) {
  table.push([
    '9 stream CPU per chunk',
    '',
    `${stream.paidMicrosecondsPerChunk.toFixed(2)} µs`,
    `${(1 + stream.paidShare).toFixed(3)}× unpaid`,
    `paid, in process, ${stream.chunks} chunks a stream, windows of ${stream.windowTokens} tokens; unpaid twin ${stream.unpaidMicrosecondsPerChunk.toFixed(2)} µs; ${stream.streams} streams each`,
  ])
  table.push([
    '9 stream CPU per extra chunk',
    '',
    `${stream.paidMarginalMicrosecondsPerChunk.toFixed(2)} µs`,
    `${(1 + stream.meteringShare).toFixed(3)}× unpaid`,
    `a 2,000-chunk stream minus a 1,000-chunk one: metering without the request's fixed cost; unpaid ${stream.unpaidMarginalMicrosecondsPerChunk.toFixed(2)} µs`,
  ])
  table.push([
    '9 stream first byte',
    '',
    `+${stream.firstByteDeltaMs.toFixed(2)} ms`,
    '',
    `paid ${stream.paidFirstByteMs.toFixed(2)} ms − unpaid ${stream.unpaidFirstByteMs.toFixed(2)} ms (medians; the paid request's payment, reserve and first window)`,
  ])
}

const widths = table[0]!.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)))
const render = (cells: string[]) =>
  cells
    .map((cell, column) => (column === 1 || column === 2 || column === 3 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
    .join('  ')
    .trimEnd()
console.log('')
console.log(`Machine: ${machine.cores} × ${machine.cpu}; Node ${machine.node}; ${machine.platform}`)
console.log(render(table[0]!))
console.log(widths.map((width) => '─'.repeat(width)).join('  '))
for (const cells of table.slice(1)) console.log(render(cells))
console.log('')
console.log('Targets')
const targetWidth = Math.max(...targets.map((target) => target.name.length))
for (const target of targets) {
  const status = target.holds === undefined ? 'n/a ' : target.holds ? 'HOLDS' : 'MISSED'
  console.log(`  ${status.padEnd(6)} ${target.name.padEnd(targetWidth)}  ${target.value}  (target ${target.target})`)
}
const finishedAt = new Date()
const loadAtEnd = loadAverage()
if (foreignCores !== undefined) {
  const busy = foreignCores > 0.25
  console.log(
    `\n${busy ? 'Warning: ' : ''}other processes kept ${foreignCores.toFixed(2)} of ${machine.cores} cores busy during rows 1–5${busy ? ': figures are low and noisy, ratios less so (rows alternate)' : ''}.`,
  )
}

console.log(`\nTotal ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s; results in bench-results.json`)

writeFileSync(
  outputFile,
  `${JSON.stringify(
    {
      machine: { ...machine, loadAverage: { start: loadAtStart, end: loadAtEnd }, foreignCoresDuringMiddlewareRows: foreignCores },
      startedAt: startedAt.toISOString(),
      durationSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      quick,
      middleware: middleware && { ...middleware, timed: 'paid_* rows time the paid request alone; its 402 challenge is row 5' },
      store: storeRows,
      memory,
      e2e: e2e ?? (e2eError ? { error: e2eError } : undefined),
      e2eDeployable: deployable,
      stream,
      e2eOneRoundTrip: oneTrip,
      targets,
    },
    null,
    2,
  )}\n`,
)
