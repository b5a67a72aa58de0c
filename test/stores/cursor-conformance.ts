// The contract of the close watcher's `CursorStore` (src/session/close-events.ts),
// run against every store adapter: memory, PGlite, PostgreSQL and Durable
// Objects. No Node APIs here: it also runs inside workerd.
import { describe, expect, it } from 'vitest'
import type { CursorStore } from '../../src/session/close-events.js'

let counter = 0
/** A cursor name no other test uses (stores may be shared across tests and runs). */
const freshName = () => `test/${Date.now()}/${++counter}`

/** `stores` gives two stores on one backing database (two instances), or the same store twice where there is no sharing. */
export function describeCursorConformance(name: string, stores: () => readonly [CursorStore, CursorStore]) {
  describe(`${name}: block cursors`, () => {
    it('has no cursor before the first advance, then the block advanced to; names are independent', async () => {
      const [store] = stores()
      const [a, b] = [freshName(), freshName()]
      expect(await store.readCursor(a)).toBeUndefined()
      await store.advanceCursor(a, 0n)
      expect(await store.readCursor(a)).toBe(0n)
      await store.advanceCursor(a, 41n)
      expect(await store.readCursor(a)).toBe(41n)
      expect(await store.readCursor(b)).toBeUndefined()
    })

    it('never moves back, and keeps block numbers beyond 2^53 exact', async () => {
      const [store] = stores()
      const cursor = freshName()
      const far = 2n ** 64n + 1n
      await store.advanceCursor(cursor, far)
      await store.advanceCursor(cursor, 2n ** 53n + 1n)
      await store.advanceCursor(cursor, far - 1n)
      expect(await store.readCursor(cursor)).toBe(far)
      await store.advanceCursor(cursor, far + 1n)
      expect(await store.readCursor(cursor)).toBe(far + 1n)
    })

    it('leaves the furthest block when instances advance one cursor at once', async () => {
      const [first, second] = stores()
      const cursor = freshName()
      const blocks = Array.from({ length: 40 }, (_, i) => BigInt((i * 7919) % 40) + 100n)
      await Promise.all(blocks.map((block, i) => (i % 2 === 0 ? first : second).advanceCursor(cursor, block)))
      expect(await first.readCursor(cursor)).toBe(139n)
      expect(await second.readCursor(cursor)).toBe(139n)
    })
  })
}
