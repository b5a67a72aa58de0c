import type { Address } from 'viem'

/**
 * One signer recovery per distinct voucher in this process. Requests carrying
 * the same voucher (channel, amount, canonical signature) at once share one
 * recovery, and so one unit of the channel's rate limit (the recovery the
 * caller passes takes it); a recovered signer is remembered for `ttlMs`, at
 * most `capacity` vouchers (least recently used dropped first), so a copy
 * arriving after the first was verified costs neither. The signer of a
 * signature over a digest never changes: a remembered one is never stale, and
 * the caller still compares it with the channel's signer every time. A failed
 * recovery (refused by the rate limit, or no valid signature) is not
 * remembered: the next copy tries again.
 */
export type Recoveries = {
  /** The signer of the voucher `key`: remembered, joined in flight, or recovered now by `recover`. */
  signer(key: string, recover: () => Promise<Address>): Promise<Address>
}

export type RecoveriesOptions = {
  capacity: number
  ttlMs: number
  /**
   * How long a copy waits for a recovery in flight before running its own. On
   * workerd a promise belongs to the request that made it: if that request is
   * cancelled (its client went away) the recovery may never settle for the
   * others, so they stop waiting.
   */
  joinTimeoutMs: number
  now: () => number
}

export function recoveries(options: RecoveriesOptions): Recoveries {
  const { capacity, ttlMs, joinTimeoutMs, now } = options
  // Map order is recency order: a hit moves its entry to the end, eviction takes the first.
  const remembered = new Map<string, { signer: Address; expiresAt: number }>()
  const inFlight = new Map<string, Promise<Address>>()

  function recall(key: string): Address | undefined {
    const entry = remembered.get(key)
    if (entry === undefined) return undefined
    remembered.delete(key)
    if (entry.expiresAt <= now()) return undefined
    remembered.set(key, entry)
    return entry.signer
  }

  function remember(key: string, signer: Address) {
    remembered.delete(key)
    remembered.set(key, { signer, expiresAt: now() + ttlMs })
    if (remembered.size > capacity) remembered.delete(remembered.keys().next().value!)
  }

  function start(key: string, recover: () => Promise<Address>): Promise<Address> {
    const flight = recover().then((signer) => {
      remember(key, signer)
      return signer
    })
    inFlight.set(key, flight)
    const forget = () => {
      if (inFlight.get(key) === flight) inFlight.delete(key)
    }
    flight.then(forget, forget)
    return flight
  }

  /** The flight's outcome, or `undefined` when it has not settled within `joinTimeoutMs`. */
  async function join(flight: Promise<Address>): Promise<Address | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), joinTimeoutMs)
    })
    try {
      return await Promise.race([flight, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    async signer(key, recover) {
      let stalled: Promise<Address> | undefined
      for (;;) {
        const known = recall(key)
        if (known !== undefined) return known
        const flight = inFlight.get(key)
        // None in flight, or the one this copy gave up on: this copy recovers, and later copies wait for it.
        if (flight === undefined || flight === stalled) return start(key, recover)
        const joined = await join(flight)
        if (joined !== undefined) return joined
        stalled = flight
      }
    },
  }
}
