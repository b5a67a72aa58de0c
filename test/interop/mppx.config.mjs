// The mppx CLI's configuration (loaded through MPPX_CONFIG) for a payer on the
// local chain of the tests (anvil, chain id 31337): mppx 0.11's contract-escrow
// (session protocol v1) session method, a funded key, the test's escrow. With a
// method configured for tempo/session, `mppx validate` pays with it (when told
// --yes) instead of provisioning a wallet from the public testnet faucet.
//
// Environment: MPPX_PAYER_PRIVATE_KEY, MPPX_PAYER_RPC_URL, MPPX_PAYER_ESCROW.
import { tempo } from 'mppx/client'
import { createClient, custom, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { tempoLocalnet } from 'viem/chains'

const rpcUrl = process.env.MPPX_PAYER_RPC_URL
const chain = { ...tempoLocalnet, id: 31337, rpcUrls: { default: { http: [rpcUrl] } } }
const rpc = http(rpcUrl)({ chain })

// anvil's eth_fillTransaction under-reports the gas of the two-call open
// (approve + open, docs/local-chain.md) and mppx 0.11 sends what it reports, so
// its open would run out of gas: the gas limit is raised here, nothing else.
const transport = custom({
  async request({ method, params }) {
    const result = await rpc.request({ method, params })
    if (method === 'eth_fillTransaction') result.tx.gas = '0x7a120' // 500,000; an open uses about 220,000
    return result
  },
})

export default {
  methods: [
    tempo.sessionLegacy.method({
      account: privateKeyToAccount(process.env.MPPX_PAYER_PRIVATE_KEY),
      getClient: () => createClient({ chain, transport }),
      escrowContract: process.env.MPPX_PAYER_ESCROW,
      deposit: '1',
    }),
  ],
}
