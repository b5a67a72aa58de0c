// Session protocol v2 through the Worker (src/worker.ts) inside workerd, its
// state in Durable Objects: SESSION_PROTOCOL=v2 in a per-test env, RPC_URL
// the global setup's stand-in chain (the channel reserve stand-in behind its
// RPC proxy), the project's client opening with 0x76 expiring-nonce
// transactions. Fees are zero on both sides, so balances are exact: the payee
// gains exactly what was spent and the payer keeps exactly the rest, through a
// cooperative close and through a forced close the Cron run answers.
import { createScheduledController } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { type Address, createPublicClient, createTestClient, createWalletClient, type Hex, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { Abis } from 'viem/tempo'
import { describe, expect, inject, it } from 'vitest'
import { sessionClient } from '../../src/client/session-client.js'
import { tempoChain } from '../../src/escrow/chain.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { tip20ChannelReserveAddress } from '../../src/session/v2/reserve.js'
import { durableObjectStore } from '../../src/stores/cloudflare/store.js'
import worker, { type WorkerEnv } from '../../src/worker.js'
import { ask, pathUsd, url, zeroFees } from './support.js'

/** Set on the payer's transactions: anvil cannot estimate 0x76 (test/support/v2/transactions.ts: v2Gas). */
const gas = 3_000_000n
const deposit = 1_000_000n
const context = { waitUntil() {}, passThroughOnException() {}, props: {} }

const v2Chain = () => tempoChain({ id: 31337, rpcUrl: inject('v2RpcUrl'), feeToken: pathUsd })
const rpc = () => createPublicClient({ chain: v2Chain(), transport: http(inject('v2RpcUrl')) })
const balance = (address: string) =>
  rpc().readContract({ address: pathUsd, abi: Abis.tip20, functionName: 'balanceOf', args: [address as Address] })

/** Waits for a payer's transaction and checks it succeeded. */
async function sendAndWait(sent: Promise<Hex>) {
  const hash = await sent
  expect((await rpc().waitForTransactionReceipt({ hash, pollingInterval: 20 })).status).toBe('success')
}

/** An isolate of the Worker on v2 (a new env object is a new gateway), paying its own fees at zero. */
function v2Worker(payeeKey: string) {
  const isolate: WorkerEnv = {
    ...env,
    SESSION_PROTOCOL: 'v2',
    RPC_URL: inject('v2RpcUrl'),
    // v2's escrow defaults to the precompile's address.
    ESCROW_ADDRESS: undefined,
    PAYEE_PRIVATE_KEY: payeeKey,
    PAYEE_MAX_FEE_PER_GAS: '0',
    PAYEE_PRIORITY_FEE_PER_GAS: '0',
  }
  const call = (input: string | URL | Request, init?: RequestInit) => worker.fetch(new Request(input, init), isolate, context)
  return {
    isolate,
    call,
    payee: privateKeyToAccount(payeeKey as Hex).address.toLowerCase(),
    run: () => worker.scheduled(createScheduledController({ cron: '* * * * *' }), isolate),
  }
}

/**
 * The project's session client for `payerKey` on the stand-in chain, paying through `call`. A block is mined
 * first: the client's 0x76 open expires 25 s after the latest block, and this anvil mines only on a
 * transaction, so its latest block may be older than that (the suite takes longer to start).
 */
async function payer(payerKey: string, call: typeof fetch) {
  await createTestClient({ mode: 'anvil', transport: http(inject('v2RpcUrl')) }).mine({ blocks: 1 })
  const account = privateKeyToAccount(payerKey as Hex)
  const client = sessionClient({
    account,
    chain: v2Chain(),
    transport: http(inject('v2RpcUrl')),
    deposit,
    fees: zeroFees,
    gas,
    fetch: call,
  })
  return { account, address: account.address.toLowerCase(), client, channel: () => [...client.channels.values()][0]! }
}

/** `count` paid completions; checks each receipt's spent adds the completion's usage; the last spent. */
async function completions(client: Awaited<ReturnType<typeof payer>>['client'], count: number): Promise<bigint> {
  let spent = 0n
  for (let i = 0; i < count; i++) {
    const response = await client.fetch(url, ask(`question number ${i}`))
    expect(response.status).toBe(200)
    const completion = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }
    spent += BigInt(completion.usage.prompt_tokens) * 10n + BigInt(completion.usage.completion_tokens) * 20n
    expect(Receipt.parse(response.headers.get('Payment-Receipt')!).spent).toBe(spent.toString())
  }
  return spent
}

describe('the Worker on session protocol v2, state in Durable Objects', () => {
  it('opens, pays completions, tops up, and closes: the payee gains exactly spent, the payer keeps deposit − spent', async () => {
    const gateway = v2Worker(inject('payeeKey'))
    const unpaid = await gateway.call(url, ask('hello'))
    expect(unpaid.status).toBe(402)
    expect(Challenge.request(Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge)).toMatchObject({
      recipient: gateway.payee,
      methodDetails: { sessionProtocol: 'v2', escrowContract: tip20ChannelReserveAddress, chainId: 31337 },
    })

    const { client, address, channel } = await payer(inject('payerKeys')[0]!, gateway.call as typeof fetch)
    const [payeeStart, payerStart] = [await balance(gateway.payee), await balance(address)]
    const spent = await completions(client, 3)
    const { channelId, descriptor } = channel()
    expect(descriptor).toMatchObject({ payer: address, payee: gateway.payee })
    const store = durableObjectStore(env)
    expect(await store.getChannel(channelId)).toMatchObject({ descriptor, deposit, spent, payer: address })
    expect(await balance(address)).toBe(payerStart - deposit)

    await client.topUp(url, 500_000n)
    expect((await store.getChannel(channelId))?.deposit).toBe(deposit + 500_000n)
    expect(await balance(address)).toBe(payerStart - deposit - 500_000n)

    // The client closes with its highest voucher, above spent; the reserve captures exactly spent.
    expect(channel().signedCumulative).toBeGreaterThan(spent)
    expect(await client.close(url, ask('close'))).toMatchObject({ channelId, spent: spent.toString() })
    expect(await balance(gateway.payee)).toBe(payeeStart + spent)
    expect(await balance(address)).toBe(payerStart - spent)
    expect(await store.getChannel(channelId)).toMatchObject({ finalized: true, settled: spent })
  })

  it("follows a payer's requestClose in the next Cron run: exactly spent captured in the grace period, service refused after", async () => {
    // A payee no earlier run used: its close watcher's cursor in the Durable Objects is new.
    const gateway = v2Worker(generatePrivateKey())
    await gateway.run() // the first run looks back and leaves the cursor at the latest block
    const { account, client, address, channel } = await payer(inject('payerKeys')[1]!, gateway.call as typeof fetch)
    const wallet = createWalletClient({ account, chain: v2Chain(), transport: http(inject('v2RpcUrl')) })
    // The new payee holds some pathUSD (its fee token), as a payee that sends transactions does.
    await sendAndWait(
      wallet.writeContract({
        address: pathUsd,
        abi: Abis.tip20,
        functionName: 'transfer',
        args: [gateway.payee as Address, 1_000_000n],
        gas,
        ...zeroFees,
      } as never),
    )
    const [payeeStart, payerStart] = [await balance(gateway.payee), await balance(address)]
    const spent = await completions(client, 2)
    const { channelId, descriptor } = channel()

    await sendAndWait(
      wallet.writeContract({
        address: tip20ChannelReserveAddress,
        abi: Abis.tip20ChannelReserve,
        functionName: 'requestClose',
        args: [descriptor!],
        gas,
        ...zeroFees,
      } as never),
    )

    await gateway.run()
    expect(await balance(gateway.payee)).toBe(payeeStart + spent)
    expect(await balance(address)).toBe(payerStart - spent)
    expect(await durableObjectStore(env).getChannel(channelId)).toMatchObject({ finalized: true, settled: spent })
    const refused = await client.fetch(url, ask('one more'))
    expect(refused.status).toBe(410)
    expect(await refused.json()).toMatchObject({ code: 'mpp_channel_finalized', channelId })
  })
})
