// Runs in Node before the workerd suite: a real anvil (Tempo mode) with the
// escrow deployed. Its RPC URL, the escrow and the keys reach the Worker as
// bindings (vitest.workers.config.ts) and the tests through `inject`. Beside it,
// for session protocol v2, a second anvil (hardfork t4) with the channel
// reserve stand-in behind its RPC proxy (test/support/v2/stand-in.ts): its own
// chain, so the v1 tests run as before; the v2 tests point a per-test env's
// RPC_URL at the proxy. Both chains hold the same dev accounts, so the keys
// below fund payers and the payee on either.

import { toHex } from 'viem'
import type { HDAccount } from 'viem/accounts'
import type { TestProject } from 'vitest/node'
import { deployEscrow, startAnvil, testAccounts, testClient } from '../harness/local-chain.js'
import { startStandInChain } from '../support/v2/stand-in.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Worker's MPP_SECRET_KEY. */
    secretKey: string
    rpcUrl: string
    escrowAddress: string
    /** The payee's key: the Worker's PAYEE_PRIVATE_KEY (it sends close). */
    payeeKey: string
    /** Payers' keys for the tests (anvil dev accounts, funded with pathUSD). */
    payerKeys: string[]
    /** Session v2's chain: the RPC proxy in front of the anvil with the channel reserve stand-in. */
    v2RpcUrl: string
  }
}

const privateKeyOf = (account: HDAccount) => toHex(account.getHdKey().privateKey!)

export default async function setup(project: TestProject) {
  const anvil = await startAnvil({ tempo: true })
  let v2: Awaited<ReturnType<typeof startStandInChain>> | undefined
  try {
    v2 = await startStandInChain()
    project.provide('v2RpcUrl', v2.rpcUrl)
    const escrowAddress = await deployEscrow(testClient(anvil, testAccounts[3]!))
    project.provide('secretKey', 'workers-test-secret-key-of-32-bytes+')
    project.provide('rpcUrl', anvil.rpcUrl)
    project.provide('escrowAddress', escrowAddress)
    project.provide('payeeKey', privateKeyOf(testAccounts[4]!))
    project.provide(
      'payerKeys',
      [5, 6, 7, 8].map((i) => privateKeyOf(testAccounts[i]!)),
    )
  } catch (error) {
    await Promise.all([anvil.stop(), v2?.stop()])
    throw error
  }
  return async () => {
    await Promise.all([anvil.stop(), v2?.stop()])
  }
}
