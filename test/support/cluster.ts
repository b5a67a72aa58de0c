// The pieces the multi-instance and crash tests share: PostgreSQL, anvil with
// the escrow, the fake upstream, and gateway processes on them (gateway-process.ts).
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { Hex } from 'viem'
import type { ChannelState } from '../../src/session/channel.js'
import { decodeChannel, type EncodedChannel } from '../../src/stores/codec.js'
import { deployEscrow, startAnvil, testAccounts, testClient } from '../harness/local-chain.js'
import { startPostgres } from '../harness/postgres.js'
import { startFakeUpstream } from './fake-upstream.js'
import { startTsxServer } from './processes.js'

const gatewayScript = fileURLToPath(new URL('./gateway-process.ts', import.meta.url))
export const clusterSecret = 'cluster-test-secret-key-at-least-32-bytes'

export type Cluster = Awaited<ReturnType<typeof startCluster>>

/** PostgreSQL, anvil + escrow and the fake upstream, started side by side. */
export async function startCluster() {
  const [postgres, anvil, upstream] = await Promise.all([startPostgres(), startAnvil({ tempo: true }), startFakeUpstream()])
  const escrowAddress = await deployEscrow(testClient(anvil, testAccounts[3]!))
  const db = new pg.Pool({ connectionString: postgres.connectionString, max: 2 })
  const gateways: Awaited<ReturnType<typeof startTsxServer>>[] = []

  /** A gateway process on the shared database and secret; `env` adds CRASH_AT, RESERVATION_TTL_MS, … */
  async function startGateway(env: Record<string, string> = {}) {
    const gateway = await startTsxServer(gatewayScript, {
      DATABASE_URL: postgres.connectionString,
      RPC_URL: anvil.rpcUrl,
      ESCROW_ADDRESS: escrowAddress,
      UPSTREAM_BASE_URL: upstream.baseUrl,
      MPP_SECRET_KEY: clusterSecret,
      ...env,
    })
    gateways.push(gateway)
    return gateway
  }

  /** A channel as the database holds it, decoded with the codec. */
  async function channel(channelId: Hex): Promise<ChannelState> {
    const { rows } = await db.query<{ state: EncodedChannel }>('SELECT state FROM mpp_channels WHERE id = $1', [channelId])
    if (rows[0] === undefined) throw new Error(`channel ${channelId} is not in the database`)
    return decodeChannel(rows[0].state)
  }

  return {
    postgres,
    anvil,
    upstream,
    escrowAddress,
    db,
    startGateway,
    channel,
    async stop() {
      await Promise.all(gateways.map((gateway) => gateway.stop()))
      await db.end()
      await Promise.all([postgres.stop(), anvil.stop(), upstream.stop()])
    },
  }
}
