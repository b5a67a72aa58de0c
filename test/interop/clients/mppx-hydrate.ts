// What mppx 0.11's session client does with a `Payment-Session-Snapshot` it
// receives (its `storeSnapshotHeader`: `deserializeSnapshot`, then
// `hydrateSessionSnapshot`, which checks the highest voucher's signature, the
// descriptor against the payer, and the channel on chain), unmodified, on a
// header the gateway sent: run by test/gateway/v2-snapshot.int.test.ts as a
// child process (mppx and its viem 2.55 from this nested package).
// `hydrateSessionSnapshot` is not in mppx's exports, so it is imported by path.
//
// Argument: JSON { header, rpcUrl, chainId, payer }. Prints one JSON line: the
// channel entry and spent mppx resumes from, or { error }.
import { Session } from 'mppx/tempo'
import { createClient, defineChain, http } from 'viem'
import { tempoLocalnet } from 'viem/chains'
import { hydrateSessionSnapshot } from '../node_modules/mppx/dist/tempo/session/client/CredentialState.js'

type Input = { header: string; rpcUrl: string; chainId: number; payer: `0x${string}` }

const input = JSON.parse(process.argv[2]!) as Input
const chain = defineChain({ ...tempoLocalnet, id: input.chainId, rpcUrls: { default: { http: [input.rpcUrl] } } })
const client = createClient({ chain, transport: http(input.rpcUrl) })
// Only the payer's address is used: the snapshot is checked, nothing is signed.
const account = { address: input.payer, type: 'json-rpc' as const }

try {
  const snapshot = Session.deserializeSnapshot(input.header)
  const { entry, spent } = await hydrateSessionSnapshot({ account, client, snapshot } as never)
  console.log(JSON.stringify({ entry, spent }, (_, value) => (typeof value === 'bigint' ? value.toString() : value)))
} catch (error) {
  console.log(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }))
}
