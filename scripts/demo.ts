// `npm start`: a local chain, the gateway on Node, and a scripted paid session
// printed step by step. Everything runs on this machine with embedded defaults;
// `--once` exits after the scripted part instead of serving on.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatUnits, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { pathUsdAddress } from '../contracts-abi/tip20.js'
import { localBackend } from '../src/chat/local-backend.js'
import { sessionClient } from '../src/client/session-client.js'
import { viemEscrow } from '../src/escrow/viem-escrow.js'
import { startGateway } from '../src/node.js'
import { Challenge } from '../src/protocol/challenge.js'
import { Receipt } from '../src/protocol/receipt.js'
import { pgliteStore } from '../src/stores/postgres.js'
import { deployEscrow, fundPathUsd, pathUsdBalance, startAnvil, testAccounts, testClient, zeroFees } from '../test/harness/local-chain.js'

const port = Number(process.env.PORT ?? 8787)
const usd = (amount: bigint) => `${formatUnits(amount, 6)} pathUSD`
const step = (title: string) => console.log(`\n▶ ${title}`)
const show = (value: unknown) => console.log(JSON.stringify(value, null, 2).replace(/^/gm, '  '))

const anvil = await startAnvil({ tempo: true })
const funder = testClient(anvil, testAccounts[0]!)
step(`Local chain: anvil in Tempo mode at ${anvil.rpcUrl} (chain id ${anvil.chain.id})`)
const escrowAddress = await deployEscrow(funder)
console.log(`  escrow deployed at ${escrowAddress}`)

const payee = privateKeyToAccount(generatePrivateKey())
const payer = privateKeyToAccount(generatePrivateKey())
await fundPathUsd(funder, payer.address, 5_000_000n)
console.log(`  payer ${payer.address.toLowerCase()} funded with ${usd(5_000_000n)}; payee ${payee.address.toLowerCase()}`)

// The embedded store, PostgreSQL in this process (PGlite), in a directory of its own for this run, or in
// PGLITE_DIR, kept after the run for `npm run ops` (README: Operating a payee).
const keptDir = process.env.PGLITE_DIR || undefined
const dataDir = keptDir ?? mkdtempSync(join(tmpdir(), 'mpp-demo-pglite-'))
const store = pgliteStore({ dataDir })
await store.ready()
console.log(`  store: PGlite (embedded PostgreSQL) in ${dataDir}`)
const stop = async () => {
  server.close()
  await store.close()
  if (keptDir === undefined) rmSync(dataDir, { recursive: true, force: true })
  else console.log(`\n  store kept in ${dataDir}: PGLITE_DIR=${dataDir} npm run ops -- channels`)
  await anvil.stop()
}

const { server, url } = await startGateway(
  {
    realm: 'localhost',
    secretKey: 'local-demo-secret-key-not-for-production-use',
    escrow: viemEscrow({ address: escrowAddress, chain: anvil.chain, rpcUrl: anvil.rpcUrl, payee, fees: zeroFees, pollingIntervalMs: 20 }),
    store,
    recipient: payee.address,
    currency: pathUsdAddress,
    backend: localBackend(),
    session: { bucketSize: 100_000n },
    logger: () => {},
  },
  port,
)
step(`Gateway listening on ${url}`)

const endpoint = `${url}/v1/mpp/chat/completions`
const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string; pricing: unknown }[] }
step(`GET /v1/models (free): ${JSON.stringify(models.data.map(({ id, pricing }) => ({ id, pricing })))}`)
const ask = (question: string) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ model: 'local-echo', max_tokens: 64, messages: [{ role: 'user', content: question }] }),
})
const questions = ['What does a paid request cost?', 'How is the cost known?', 'Who holds the deposit?']
const unpaid = await fetch(endpoint, ask(questions[0]!))
const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge
step(`POST /v1/mpp/chat/completions without payment → ${unpaid.status}; the challenge, decoded:`)
show({ ...challenge, request: Challenge.request(challenge), opaque: Challenge.opaque(challenge) })

const balances = async () => ({ payee: await pathUsdBalance(funder, payee.address), payer: await pathUsdBalance(funder, payer.address) })
const before = await balances()
const client = sessionClient({ account: payer, chain: anvil.chain, transport: http(anvil.rpcUrl), deposit: 1_000_000n, fees: zeroFees })
let charged = 0n
let lastSpent = 0n
for (const [i, question] of questions.entries()) {
  const response = await client.fetch(endpoint, ask(question))
  const completion = (await response.json()) as { choices: { message: { content: string } }[] }
  const receipt = Receipt.parse(response.headers.get('Payment-Receipt')!)
  if (i === 0) {
    const channel = [...client.channels.values()][0]!
    step(`Opened channel ${channel.channelId} (deposit ${usd(channel.deposit)}), open transaction ${channel.openTxHash}`)
  }
  charged += BigInt(receipt.spent!) - lastSpent
  lastSpent = BigInt(receipt.spent!)
  step(`Completion ${i + 1} → ${response.status}: "${completion.choices[0]?.message.content.slice(0, 60)}…"`)
  console.log(`  receipt: ${receipt.units} tokens charged, spent ${receipt.spent}, acceptedCumulative ${receipt.acceptedCumulative}`)
}
const close = await client.close(endpoint, ask('close'))
step(`Closed the channel: transaction ${close.txHash}, captured ${usd(BigInt(close.spent!))}`)

const after = await balances()
const payeeGained = after.payee - before.payee
const payerPaid = before.payer - after.payer
step('Balances (read from the token contract)')
console.log(`  payee: ${usd(before.payee)} → ${usd(after.payee)} (+${usd(payeeGained)})`)
console.log(`  payer: ${usd(before.payer)} → ${usd(after.payer)} (−${usd(payerPaid)}, the rest of the deposit refunded)`)
console.log(`  sum of receipts' charges: ${usd(charged)}`)
const consistent = payeeGained === charged && payerPaid === charged
console.log(consistent ? '  ✓ consistent: payee gained = payer paid = sum of charges' : '  ✗ INCONSISTENT balances')

if (process.argv.includes('--once') || !consistent) {
  await stop()
  process.exit(consistent ? 0 : 1)
}
step('Still serving (Ctrl-C stops the gateway and the chain). Try:')
console.log(`  curl -s ${url}/v1/models`)
console.log(
  `  curl -i -X POST ${endpoint} -H 'Content-Type: application/json' -d '{"model":"local-echo","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}'`,
)
process.on('SIGINT', async () => {
  await stop()
  process.exit(0)
})
