// Runs in Node before the workerd suite: a real anvil (Tempo mode) with the
// escrow deployed. Its RPC URL, the escrow and the keys reach the Worker as
// bindings (vitest.workers.config.ts) and the tests through `inject`.

import { toHex } from 'viem'
import type { HDAccount } from 'viem/accounts'
import type { TestProject } from 'vitest/node'
import { deployEscrow, startAnvil, testAccounts, testClient } from '../harness/local-chain.js'

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
  }
}

const privateKeyOf = (account: HDAccount) => toHex(account.getHdKey().privateKey!)

export default async function setup(project: TestProject) {
  const anvil = await startAnvil({ tempo: true })
  try {
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
    await anvil.stop()
    throw error
  }
  return () => anvil.stop()
}
