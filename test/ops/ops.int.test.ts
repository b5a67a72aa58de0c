// `npm run ops` as an operator runs it: a child process on the PGlite directory
// a real gateway (on anvil) wrote, printing the channels as the store holds them.
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { encodeFunctionData, type Hex, http, type LocalAccount, toHex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import { createGateway } from '../../src/app.js'
import { localBackend } from '../../src/chat/local-backend.js'
import { sessionClient } from '../../src/client/session-client.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import { pgliteStore } from '../../src/stores/postgres.js'
import { type Anvil, deployEscrow, sendTempoCalls, startAnvil, testAccounts, testClient, zeroFees } from '../harness/local-chain.js'

const run = promisify(execFile)
const completionsUrl = 'http://gateway.test/v1/mpp/chat/completions'
const chat = {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ model: 'local-echo', max_tokens: 16, messages: [{ role: 'user', content: 'What is a voucher?' }] }),
}

/** `npm run ops -- …args` (its script, run directly), exit code and output. */
async function ops(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run('node_modules/.bin/tsx', ['src/ops/cli.ts', ...args], {
      env: { PATH: process.env.PATH, ...env },
      timeout: 60_000,
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

// Each command is a child process (tsx, PGlite starting in it): seconds each, more on a loaded machine.
describe('npm run ops', { timeout: 180_000 }, () => {
  let anvil: Anvil
  let dataDir: string
  let env: Record<string, string>
  const channels: { channelId: string; spent: bigint; deposit: bigint; expected: { accepted: string; settleable: string } }[] = []

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ops-pglite-'))
    anvil = await startAnvil({ tempo: true })
    const escrowAddress = await deployEscrow(testClient(anvil, testAccounts[3]!))
    const payee = testAccounts[4]!
    env = {
      PGLITE_DIR: dataDir,
      MPP_SECRET_KEY: 'ops-test-secret-key-at-least-32-bytes-long',
      RPC_URL: anvil.rpcUrl,
      CHAIN_ID: String(anvil.chain.id),
      ESCROW_ADDRESS: escrowAddress,
      PAYEE_PRIVATE_KEY: toHex(payee.getHdKey().privateKey!),
    }
    const store = pgliteStore({ dataDir })
    const { app } = createGateway({
      realm: 'gateway.test',
      secretKey: 'ops-test-secret-key-at-least-32-bytes-long',
      escrow: viemEscrow({
        address: escrowAddress,
        chain: anvil.chain,
        rpcUrl: anvil.rpcUrl,
        payee,
        fees: zeroFees,
        pollingIntervalMs: 10,
      }),
      store,
      recipient: payee.address,
      currency: pathUsdAddress,
      backend: localBackend(),
      // Small buckets: a payer signs a new voucher every request or two, so older ones fall at or below spent.
      session: { bucketSize: 500n },
      logger: () => {},
    })
    const fetch = async (input: string | URL | Request, init?: RequestInit) => app.fetch(new Request(input as string, init))
    // Two payers: one request on the first channel, three on the second. Each charges 300 and reserves 440, so
    // the second channel's vouchers are 500, 1000 and 1500 against spent 900: 500 is settleable.
    for (const [index, deposit, requests, expected] of [
      [5, 1_000_000n, 1, { accepted: '500', settleable: '0' }],
      [6, 2_000_000n, 3, { accepted: '1500', settleable: '500' }],
    ] as const) {
      const client = sessionClient({
        account: testAccounts[index]! as LocalAccount,
        chain: anvil.chain,
        transport: http(anvil.rpcUrl),
        deposit,
        fees: zeroFees,
        fetch,
      })
      for (let i = 0; i < requests; i++) {
        const response = await client.fetch(completionsUrl, chat)
        expect(response.status).toBe(200)
        await response.text()
      }
      const channel = [...client.channels.values()][0]!
      channels.push({ channelId: channel.channelId, spent: channel.spent, deposit, expected })
    }
    // PGlite is one process at a time: the gateway lets go of the directory first.
    await store.close()
  }, 60_000)
  afterAll(async () => {
    await anvil?.stop()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('channels: prints one row per channel with deposit, accepted, spent, settled, settleable, exposure, last activity and state', async () => {
    const { code, stdout } = await ops(['channels'], env)
    expect(code).toBe(0)
    const [header, ...rows] = stdout
      .trimEnd()
      .split('\n')
      .map((line) => line.trim().split(/\s{2,}/))
    expect(header).toEqual(['channel', 'state', 'deposit', 'accepted', 'spent', 'settled', 'settleable', 'exposure', 'last activity'])
    expect(rows).toHaveLength(2)
    for (const channel of channels) {
      const row = rows.find((cells) => cells[0] === channel.channelId)!
      expect(row, channel.channelId).toBeDefined()
      const [, state, deposit, accepted, spent, settled, settleable, exposure, lastActivity] = row
      expect({ state, deposit, spent, settled, exposure }).toEqual({
        state: 'open',
        deposit: channel.deposit.toString(),
        spent: channel.spent.toString(),
        settled: '0',
        exposure: channel.spent.toString(),
      })
      expect({ accepted, settleable }).toEqual(channel.expected)
      expect(Date.now() - Date.parse(lastActivity!)).toBeLessThan(120_000)
    }
  })

  it('channel <id>: prints that channel in detail; an unknown id exits 1 and a malformed one 2', async () => {
    const { channelId, spent } = channels[1]!
    const detail = await ops(['channel', channelId.toUpperCase().replace('0X', '0x')], { PGLITE_DIR: dataDir })
    expect(detail.code).toBe(0)
    const fields = Object.fromEntries(
      detail.stdout
        .trimEnd()
        .split('\n')
        .map((line) => line.split(/\s{2,}/) as [string, string]),
    )
    expect(fields).toMatchObject({
      channel: channelId,
      state: 'open',
      spent: spent.toString(),
      payer: testAccounts[6]!.address.toLowerCase(),
    })

    const unknown = await ops(['channel', `0x${'0'.repeat(64)}`], { PGLITE_DIR: dataDir })
    expect(unknown).toMatchObject({ code: 1, stderr: expect.stringContaining('no channel') })
    const malformed = await ops(['channel', '0x1234'], { PGLITE_DIR: dataDir })
    expect(malformed).toMatchObject({ code: 2, stderr: expect.stringContaining('usage: npm run ops') })
  })

  it('settle <id>: settles the highest accepted voucher not above spent, once', async () => {
    const { channelId } = channels[1]!
    const settled = await ops(['settle', channelId], env)
    expect(settled.stderr).toBe('')
    expect(settled.stdout).toMatch(new RegExp(`^settled 500 on ${channelId} in 0x[0-9a-f]{64}\\n$`))
    const escrow = viemEscrow({ address: env.ESCROW_ADDRESS as `0x${string}`, chain: anvil.chain, rpcUrl: anvil.rpcUrl })
    expect((await escrow.getChannel(channelId as `0x${string}`))?.settled).toBe(500n)

    // Nothing above 500 is at or below spent (900): a second settle sends nothing.
    const again = await ops(['settle', channelId], env)
    expect(again).toMatchObject({ code: 0, stdout: expect.stringMatching(/^nothing settled/) })
    const row = (await ops(['channels'], env)).stdout.split('\n').find((line) => line.startsWith(channelId))!
    const [, , , , , settledCell, settleable, exposure] = row.split(/\s{2,}/)
    expect({ settledCell, settleable, exposure }).toEqual({ settledCell: '500', settleable: '0', exposure: '400' })
  })

  it('reconcile: reads every open channel from the chain and shows what the store had wrong', async () => {
    // Since the last settle the store is right: nothing differs.
    const clean = await ops(['reconcile'], env)
    expect(clean).toMatchObject({ code: 0, stderr: '' })
    expect(clean.stdout.trim()).toBe('2 open channels read from the chain, 0 differed')
    // The first payer tops up outside the gateway: the next reconciliation notices the larger deposit.
    const { channelId, deposit } = channels[0]!
    const payer = testClient(anvil, testAccounts[5]!)
    await sendTempoCalls(payer, [
      {
        to: pathUsdAddress,
        data: encodeFunctionData({ abi: tip20Abi, functionName: 'approve', args: [env.ESCROW_ADDRESS as Hex, 1_000n] }),
      },
      {
        to: env.ESCROW_ADDRESS as Hex,
        data: encodeFunctionData({ abi: escrowAbi, functionName: 'topUp', args: [channelId as Hex, 1_000n] }),
      },
    ])
    const found = await ops(['reconcile'], env)
    expect(found.code).toBe(0)
    expect(found.stdout).toContain(`${channelId}  deposit ${deposit} → ${deposit + 1_000n}`)
    expect(found.stdout).toContain('2 open channels read from the chain, 1 differed')
  })

  it('sweep: one pass of the settlement sweeper with the configured limits; close <id>: the payee closes a channel now', async () => {
    // SETTLE_AFTER_MS=1: all unsettled spend counts as old; the first channel's only voucher (500) is above its spent (300).
    const swept = await ops(['sweep'], { ...env, SETTLE_AFTER_MS: '1' })
    expect(swept).toMatchObject({ code: 0, stderr: '' })
    expect(swept.stdout).toMatch(/2 open channels swept, 2 read from the chain; nothing to do/)

    const { channelId, spent } = channels[0]!
    const closed = await ops(['close', channelId], env)
    expect(closed.stderr).toBe('')
    expect(closed.stdout).toMatch(new RegExp(`^closed ${channelId}: 0 captured in all, in 0x[0-9a-f]{64}\\n$`))
    const escrow = viemEscrow({ address: env.ESCROW_ADDRESS as Hex, chain: anvil.chain, rpcUrl: anvil.rpcUrl })
    expect((await escrow.getChannel(channelId as Hex))?.finalized).toBe(true)
    // What was spent but never covered by a voucher at or below it is the documented exposure: here all of it.
    const row = (await ops(['channels'], env)).stdout.split('\n').find((line) => line.startsWith(channelId))!
    expect(row.split(/\s{2,}/).slice(1, 8)).toEqual(['finalized', '1001000', '500', spent.toString(), '0', '0', spent.toString()])
    expect(await ops(['close', channelId], env)).toMatchObject({ code: 0, stdout: `not closed ${channelId}: it is closed already\n` })
  })
})
