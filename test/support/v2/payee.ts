// A payee on the stand-in chain: a fresh key and the precompile adapter it
// settles and closes through, at zero fees with the stand-in's gas.
import type { Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { precompileEscrow } from '../../../src/escrow/precompile-escrow.js'
import { zeroFees } from '../../harness/local-chain.js'
import type { StandInChain } from './stand-in.js'
import { v2Gas } from './transactions.js'

export function standInPayee(chain: StandInChain, options: { timeoutMs?: number } = {}) {
  const account = privateKeyToAccount(generatePrivateKey())
  const escrow = precompileEscrow({
    chain: chain.chain,
    rpcUrl: chain.rpcUrl,
    payee: account,
    fees: zeroFees,
    gas: { settle: v2Gas, close: v2Gas },
    pollingIntervalMs: 10,
    ...options,
  })
  return { account, address: account.address.toLowerCase() as Address, escrow }
}
