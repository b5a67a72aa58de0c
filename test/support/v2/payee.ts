// Accounts on the stand-in chain: a payee (a fresh key and the precompile
// adapter it settles and closes through) and pathUSD for payers, at zero fees
// with the stand-in's gas.
import type { Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { Abis } from 'viem/tempo'
import { pathUsdAddress } from '../../../contracts-abi/tip20.js'
import { precompileEscrow } from '../../../src/escrow/precompile-escrow.js'
import { expectSuccess, type TestClient, zeroFees } from '../../harness/local-chain.js'
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

/** Transfers pathUSD from `funder` with a gas limit that covers creating the recipient's balance slot (~550k from t1). */
export async function fundOnStandIn(funder: TestClient, to: Address, amount: bigint) {
  const hash = await funder.writeContract({
    address: pathUsdAddress,
    abi: Abis.tip20,
    functionName: 'transfer',
    args: [to, amount],
    gas: v2Gas,
    ...zeroFees,
  })
  await expectSuccess(funder, hash)
}
