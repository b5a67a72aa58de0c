// The Node entry's gateway as its own process, for tests of the HTTP server:
// what src/node.ts runs (the configuration and the server's limits read from
// the environment, `startGateway`, the console loggers), with the memory store
// in place of PGlite, whose start takes seconds. Run with `node --import tsx`;
// prints `{"port":N}` once listening, then the log lines; exits when its stdin
// closes. Environment: what src/node.ts reads (README: configuration).
import { gatewayConfigFromEnv } from '../../src/env.js'
import { serverLimitsFromEnv, startGateway } from '../../src/node.js'
import { memoryStore } from '../../src/stores/memory.js'

const config = gatewayConfigFromEnv(process.env, memoryStore())
const { server } = await startGateway(config, 0, { limits: serverLimitsFromEnv(process.env) })
process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`)

// The test process holds our stdin: when it goes away, so do we.
const shutdown = () => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
}
process.stdin.on('end', shutdown)
process.stdin.on('close', shutdown)
process.stdin.resume()
process.once('SIGTERM', shutdown)
