// Gateway processes SIGKILLed mid-request (fault injection in
// test/support/gateway-process.ts), then a new process on the same PostgreSQL
// database: no committed spend is lost, a crashed reservation holds funds only
// for its lifetime, and an Idempotency-Key retry after a crash that followed
// the commit gets the committed response without a second charge.

import { type Hex, http, type LocalAccount } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sessionClient } from '../../src/client/session-client.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { InsufficientAuthorization, release, reserve, reservedOf } from '../../src/session/channel.js'
import { postgresStore, type SqlSessionStore } from '../../src/stores/postgres.js'
import { testAccounts, zeroFees } from '../harness/local-chain.js'
import { type Cluster, startCluster } from '../support/cluster.js'
import { chatRequest } from '../support/gateway.js'
import type { ServerProcess } from '../support/processes.js'

const reservationTtl = 3_000
const base = 'http://gateway.test'
const url = `${base}/v1/mpp/chat/completions`
const charge = 40n * 10n + 60n * 20n // usage:40,60 at 10 / 20 per token

let cluster: Cluster
let store: SqlSessionStore
// The instance the payer's requests go to; swapped when one dies.
let current: ServerProcess
let crashAfterReserve: ServerProcess
let crashAfterCommit: ServerProcess
beforeAll(async () => {
  cluster = await startCluster()
  const env = { RESERVATION_TTL_MS: String(reservationTtl) }
  ;[crashAfterReserve, crashAfterCommit] = await Promise.all([
    cluster.startGateway({ ...env, CRASH_AT: 'after-reserve' }),
    cluster.startGateway({ ...env, CRASH_AT: 'after-commit' }),
  ])
  store = postgresStore({ connectionString: cluster.postgres.connectionString })
}, 90_000)
afterAll(async () => {
  await store?.close()
  await cluster?.stop()
})

const restart = () => cluster.startGateway({ RESERVATION_TTL_MS: String(reservationTtl) })
const client = () =>
  sessionClient({
    account: testAccounts[5]! as LocalAccount,
    chain: cluster.anvil.chain,
    transport: http(cluster.anvil.rpcUrl),
    deposit: 1_000_000n,
    fees: zeroFees,
    fetch: ((input: string | URL | Request, init?: RequestInit) => fetch(String(input).replace(base, current.url), init)) as typeof fetch,
  })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Reserves everything the channel has left (accepted − spent − reserved); throws InsufficientAuthorization when any of it is held. */
async function reserveAllAvailable(channelId: Hex) {
  await store.updateChannel(channelId, (state) => ({
    state: reserve(state!, 'probe', state!.acceptedCumulative - state!.spent, Date.now() + 60_000, Date.now()),
    result: undefined,
  }))
  await store.updateChannel(channelId, (state) => ({ state: release(state!, 'probe'), result: undefined }))
}

describe('gateway crashes, PostgreSQL store', () => {
  let payer: { client: ReturnType<typeof client>; channelId: Hex }
  beforeAll(async () => {
    current = crashAfterReserve
    const opener = client()
    const opened = await opener.fetch(url, chatRequest('usage:40,60'))
    expect(opened.status).toBe(200)
    payer = { client: opener, channelId: [...opener.channels.values()][0]!.channelId }
  })

  it('killed between reserve and commit: nothing charged, the reservation holds funds only for its lifetime, a retry is charged once', async () => {
    const before = await cluster.channel(payer.channelId)
    const calls = await cluster.upstream.calls()
    const request = chatRequest('usage:40,60', {
      headers: { 'Idempotency-Key': 'crash-after-reserve' },
      content: 'CRASH after the reservation',
    })
    await expect(payer.client.fetch(url, request)).rejects.toThrow()
    expect(await crashAfterReserve.exited).toMatchObject({ signal: 'SIGKILL' })

    // The reservation outlived its process; nothing was charged.
    const held = await cluster.channel(payer.channelId)
    expect(held.spent).toBe(before.spent)
    expect(reservedOf(held)).toBeGreaterThan(0n)
    await expect(reserveAllAvailable(payer.channelId)).rejects.toBeInstanceOf(InsufficientAuthorization)

    current = await restart()
    // Once its lifetime is over, every unspent unit can be reserved again.
    const expiresAt = Math.max(...Object.values(held.reservations).map((reservation) => reservation.expiresAt))
    await sleep(Math.max(0, expiresAt - Date.now() + 50))
    await reserveAllAvailable(payer.channelId)

    // The retry runs the request (its pending claim lapsed with the crash) and is charged once.
    let retried = await payer.client.fetch(url, request)
    for (let attempt = 0; retried.status === 503 && attempt < 5; attempt++) {
      // Still inside the crashed claim's lifetime: "in flight, retry shortly", never a second run.
      expect((await retried.json()) as Record<string, unknown>).toMatchObject({ code: 'mpp_reservation_failed' })
      await sleep(500)
      retried = await payer.client.fetch(url, request)
    }
    expect(retried.status).toBe(200)
    const after = await cluster.channel(payer.channelId)
    expect(after.spent).toBe(before.spent + charge)
    expect(BigInt(Receipt.parse(retried.headers.get('Payment-Receipt')!).spent!)).toBe(after.spent)
    expect(reservedOf(after)).toBe(0n)
    expect(await cluster.upstream.calls()).toBe(calls + 1)
  }, 60_000)

  it('killed between commit and response: the charge stays, and the Idempotency-Key retry gets the committed response, not a second charge', async () => {
    current = crashAfterCommit
    const before = await cluster.channel(payer.channelId)
    const calls = await cluster.upstream.calls()
    const request = chatRequest('usage:40,60', { headers: { 'Idempotency-Key': 'crash-after-commit' }, content: 'CRASH after the commit' })
    await expect(payer.client.fetch(url, request)).rejects.toThrow()
    expect(await crashAfterCommit.exited).toMatchObject({ signal: 'SIGKILL' })

    // The committed spend survived the crash; no reservation is left behind.
    const committed = await cluster.channel(payer.channelId)
    expect(committed.spent).toBe(before.spent + charge)
    expect(reservedOf(committed)).toBe(0n)
    expect(await cluster.upstream.calls()).toBe(calls + 1)

    current = await restart()
    const retried = await payer.client.fetch(url, request)
    expect(retried.status).toBe(200)
    const receipt = Receipt.parse(retried.headers.get('Payment-Receipt')!)
    expect(receipt.spent).toBe(committed.spent.toString())
    const body = await retried.text()
    expect(JSON.parse(body)).toMatchObject({ object: 'chat.completion', usage: { prompt_tokens: 40, completion_tokens: 60 } })
    // Not charged again, not run again; a second retry gets the same bytes.
    expect((await cluster.channel(payer.channelId)).spent).toBe(committed.spent)
    expect(await cluster.upstream.calls()).toBe(calls + 1)
    const again = await payer.client.fetch(url, request)
    expect(again.status).toBe(200)
    expect(await again.text()).toBe(body)
    expect(again.headers.get('Payment-Receipt')).toBe(retried.headers.get('Payment-Receipt'))
  }, 60_000)
})
