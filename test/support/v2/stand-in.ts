// A local chain where session v2 runs end to end: anvil in Tempo mode, the
// TIP-20 channel reserve stand-in installed at the precompile's address, and
// the RPC proxy (reserve-proxy.ts) in front of it. Clients talk to the proxy.
//
// Hardfork t4: the newest anvil 1.7.1 accepts (the precompile ships in T5,
// which it refuses). Expiring-nonce 0x76 transactions, as clients open
// channels, need t1 or later; the TIP-1020 signature verifier that the stand-in
// calls for vouchers exists from t3 (measured: on t0–t2 a call to it fails).
import { type Chain, createTestClient, http, publicActions } from 'viem'
import { reserveStandInRuntimeBytecode } from '../../../contracts-abi/precompile/artifact.js'
import { tip20ChannelReserveAddress } from '../../../src/session/v2/reserve.js'
import { type Anvil, anvilChain, startAnvil } from '../../harness/local-chain.js'
import { type ReserveProxy, startReserveProxy } from './reserve-proxy.js'

export const standInHardfork = 't4'

/**
 * Installs the stand-in's runtime code at the precompile's address. Refuses to
 * replace other code there: an anvil that has the real precompile should be
 * tested against it, not shadowed. Storage is left as the precompile starts:
 * empty (the stand-in has no constructor and keeps no initialised state).
 */
export async function installReserveStandIn(rpcUrl: string): Promise<void> {
  const anvil = createTestClient({ mode: 'anvil', transport: http(rpcUrl) }).extend(publicActions)
  const existing = await anvil.getCode({ address: tip20ChannelReserveAddress })
  if (existing !== undefined && existing !== reserveStandInRuntimeBytecode) {
    throw new Error(`${tip20ChannelReserveAddress} already has code: this anvil has its own precompile there`)
  }
  await anvil.setCode({ address: tip20ChannelReserveAddress, bytecode: reserveStandInRuntimeBytecode })
}

export type StandInChain = {
  anvil: Anvil
  proxy: ReserveProxy
  /** The proxy's URL, which clients use. */
  rpcUrl: string
  /** A Tempo chain object (0x76 transactions, pathUSD fees) pointing at the proxy. */
  chain: Chain
  stop: () => Promise<void>
}

export async function startStandInChain(): Promise<StandInChain> {
  const anvil = await startAnvil({ hardfork: standInHardfork })
  try {
    await installReserveStandIn(anvil.rpcUrl)
    const proxy = await startReserveProxy(anvil.rpcUrl)
    return {
      anvil,
      proxy,
      rpcUrl: proxy.url,
      chain: anvilChain(proxy.url, true),
      stop: async () => {
        await proxy.close()
        await anvil.stop()
      },
    }
  } catch (error) {
    await anvil.stop()
    throw error
  }
}
