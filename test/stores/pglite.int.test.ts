import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { ChannelState } from '../../src/session/channel.js'
import { pgliteStore, type SqlSessionStore } from '../../src/stores/postgres.js'
import { describeSqlStoreExtras, describeSqlStoreInstances } from '../support/sql-store-extras.js'
import { describeStoreConformance, freshChannelId, newChannel } from './conformance.js'
import { describeCursorConformance } from './cursor-conformance.js'

// One database per kind, shared by the suite's tests (the suite expects stores that may be shared).
const dir = mkdtempSync(join(tmpdir(), 'mpp-pglite-'))
const inMemory = pgliteStore()
const fileBacked = pgliteStore({ dataDir: join(dir, 'db') })
// Two stores on one PGlite: two instances as far as the store's own memory goes.
const shared = new PGlite()
const instances: [SqlSessionStore, SqlSessionStore] = [pgliteStore({ db: shared }), pgliteStore({ db: shared })]
// Starting PGlite (compiling its WASM) takes seconds on a loaded machine: done once, before the tests time themselves.
beforeAll(() => Promise.all([inMemory.ready(), fileBacked.ready(), ...instances.map((store) => store.ready())]), 120_000)
afterAll(async () => {
  await Promise.all([inMemory.close(), fileBacked.close(), ...instances.map((store) => store.close())])
  await shared.close()
  rmSync(dir, { recursive: true, force: true })
})

describeStoreConformance('PGlite in memory', () => inMemory)
describeStoreConformance('PGlite file-backed', () => fileBacked)
describeSqlStoreExtras('PGlite in memory', () => inMemory)
describeSqlStoreInstances('PGlite', () => instances)
describeCursorConformance('PGlite', () => instances)
describeCursorConformance('PGlite file-backed', () => [fileBacked, fileBacked])

describe('PGlite: rate-limit windows', () => {
  it('sweeps ended windows and keeps live ones', async () => {
    const [store] = instances
    const key = `sweep:${freshChannelId()}`
    expect(await store.takeRateLimit(`${key}-ended`, 1, 1)).toBeUndefined()
    expect(await store.takeRateLimit(`${key}-live`, 1, 60_000)).toBeUndefined()
    await new Promise((resolve) => setTimeout(resolve, 5))
    const rows = async () =>
      (await shared.query<{ key: string }>('SELECT key FROM mpp_rate_limits WHERE key LIKE $1 ORDER BY key', [`${key}%`])).rows.map(
        (row) => row.key,
      )
    expect(await rows()).toEqual([`${key}-ended`, `${key}-live`])
    await store.sweep()
    expect(await rows()).toEqual([`${key}-live`])
    expect(await store.takeRateLimit(`${key}-live`, 1, 60_000)).toBeGreaterThanOrEqual(1)
  })
})

describe('PGlite: writes grouped across channels', () => {
  it('writes the concurrent updates of 50 channels in a couple of statements, each channel as updated', async () => {
    const [store] = instances
    const channelIds = Array.from({ length: 50 }, () => freshChannelId())
    for (const channelId of channelIds) await store.updateChannel(channelId, () => ({ state: newChannel(channelId), result: undefined }))
    const query = vi.spyOn(shared, 'query')
    try {
      await Promise.all(
        channelIds.map((channelId, i) =>
          store.updateChannel(channelId, (current: ChannelState | undefined) => ({
            state: { ...current!, chainReadAt: i },
            result: undefined,
          })),
        ),
      )
      const writes = query.mock.calls.filter(([text]) => /UPDATE mpp_channels/.test(text))
      // The first update goes out alone; the other 49 queue behind it and share the next statement.
      expect(writes.length).toBeLessThanOrEqual(2)
    } finally {
      query.mockRestore()
    }
    for (const [i, channelId] of channelIds.entries()) expect((await store.getChannel(channelId))!.chainReadAt).toBe(i)
  })
})

describe('PGlite file-backed: durability', () => {
  it('keeps channels and idempotency records across a close and a reopen of its directory', async () => {
    const dataDir = join(dir, 'reopened')
    const first: SqlSessionStore = pgliteStore({ dataDir })
    const channelId = freshChannelId()
    const state = newChannel(channelId, (1n << 128n) - 1n)
    const response = { status: 200, headers: { 'Payment-Receipt': 'r' }, body: 'kept' }
    await first.updateChannel(channelId, () => ({
      state,
      result: undefined,
      completeRequest: { key: 'key', response, expiresAt: Date.now() + 60_000 },
    }))
    await first.close()
    const second = pgliteStore({ dataDir })
    try {
      expect(await second.getChannel(channelId)).toEqual(state)
      expect(await second.getRequest(channelId, 'key')).toEqual({ state: 'done', response })
    } finally {
      await second.close()
    }
  })
})
