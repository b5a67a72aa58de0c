// The Worker's Cron Trigger (src/worker.ts `scheduled`) inside workerd, against
// the real anvil of the global setup: one run is one step of the close watcher,
// its cursor in a Durable Object. A payer's requestClose on chain is followed by
// the next run: the channel refused, what was spent settled.
import { createScheduledController } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { createPublicClient, createWalletClient, encodeFunctionData, type Hex, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { describe, expect, inject, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { sessionClient } from '../../src/client/session-client.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { durableObjectStore } from '../../src/stores/cloudflare/store.js'
import worker from '../../src/worker.js'
import { ask, chain, settledAmounts, url, zeroFees } from './support.js'

const bucket = 1_000n

describe('the Worker: the close watcher on a Cron Trigger', () => {
  it("follows a payer's requestClose in the next scheduled run: refused from then on, what was spent settled on chain", async () => {
    // An isolate of its own: a payee no earlier run used (so its cursor in the Durable Objects is new), small buckets.
    const isolate = { ...env, PAYEE_PRIVATE_KEY: generatePrivateKey(), BUCKET_SIZE: bucket.toString() }
    const context = { waitUntil() {}, passThroughOnException() {}, props: {} }
    const call = (input: string | URL | Request, init?: RequestInit) => worker.fetch(new Request(input, init), isolate, context)
    const run = () => worker.scheduled(createScheduledController({ cron: '* * * * *' }), isolate)
    await run() // the first run looks back and leaves the cursor at the latest block

    const account = privateKeyToAccount(inject('payerKeys')[1] as Hex)
    const client = sessionClient({
      account,
      chain: chain(),
      transport: http(inject('rpcUrl')),
      deposit: 1_000_000n,
      fees: zeroFees,
      fetch: call as typeof fetch,
    })
    let spent = 0n
    for (let i = 0; i < 6; i++) {
      const response = await client.fetch(url, ask(`question number ${i}`))
      expect(response.status).toBe(200)
      spent = BigInt(Receipt.parse(response.headers.get('Payment-Receipt')!).spent!)
    }
    const channelId = [...client.channels.values()][0]!.channelId
    expect(spent).toBeGreaterThan(bucket)

    const rpc = createPublicClient({ chain: chain(), transport: http(inject('rpcUrl')) })
    const wallet = createWalletClient({ account, chain: chain(), transport: http(inject('rpcUrl')) })
    const data = encodeFunctionData({ abi: escrowAbi, functionName: 'requestClose', args: [channelId] })
    const hash = await wallet.sendTransaction({ calls: [{ to: inject('escrowAddress'), data }], gas: 500_000n, ...zeroFees } as never)
    expect((await rpc.waitForTransactionReceipt({ hash, pollingInterval: 20 })).status).toBe('success')

    await run()
    // The vouchers are whole buckets: the highest not above spent is spent rounded down to a bucket.
    const settled = (spent / bucket) * bucket
    expect(await settledAmounts(channelId)).toEqual([settled])
    const state = await durableObjectStore(env).getChannel(channelId)
    expect(state).toMatchObject({ spent, settled })
    expect(state!.closeRequestedAt).toBeGreaterThan(0n)
    expect(spent - settled).toBeLessThan(bucket)
    const refused = await client.fetch(url, ask('one more'))
    expect(refused.status).toBe(410)
    expect(await refused.json()).toMatchObject({ code: 'mpp_channel_finalized', channelId })
  })

  it('is the main module’s scheduled handler as the runtime runs it, and a misconfigured Worker logs instead of throwing', async () => {
    await expect(exports.default.scheduled({ cron: '* * * * *' })).resolves.not.toThrow()
    await expect(worker.scheduled(createScheduledController(), { ...env, MPP_SECRET_KEY: undefined })).resolves.toBeUndefined()
  })
})
