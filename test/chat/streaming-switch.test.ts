// The operator's switch and the quote of each kind of stream, on the gateway
// app without a chain (the in-memory escrow): nothing here is paid.
import { describe, expect, it } from 'vitest'
import { createGateway } from '../../src/app.js'
import { defaultCatalogue } from '../../src/chat/catalogue.js'
import { localBackend } from '../../src/chat/local-backend.js'
import type { StreamingOptions } from '../../src/chat/streaming.js'
import { promptTokens } from '../../src/chat/tokens.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { memoryStore } from '../../src/stores/memory.js'
import { memoryEscrow, memoryPayee } from '../support/memory-escrow.js'

const localModel = defaultCatalogue[0]!

function gateway(streaming?: StreamingOptions | false) {
  const { app } = createGateway({
    realm: 'gateway.test',
    secretKey: 'switch-test-secret-key-at-least-32-bytes',
    escrow: memoryEscrow().escrow,
    store: memoryStore(),
    recipient: memoryPayee,
    currency: '0x20c0000000000000000000000000000000000000',
    backend: localBackend({ catalogue: [localModel] }),
    catalogue: [localModel],
    ...(streaming === undefined ? {} : { streaming }),
    logger: () => {},
  })
  return app
}
const body = { model: localModel.id, max_tokens: 100, stream: true, messages: [{ role: 'user' as const, content: 'hi' }] }
const ask = (app: ReturnType<typeof gateway>, headers: Record<string, string> = {}) =>
  app.fetch(
    new Request('http://gateway.test/v1/mpp/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    }),
  )

describe('the streaming switch', () => {
  it('answers stream: true with mpp_streaming_unavailable when the operator switched streaming off', async () => {
    const response = await ask(gateway(false))
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ code: 'mpp_streaming_unavailable' })
  })

  it('quotes a plain stream its whole token limit, a metered one its prompt and first window', async () => {
    const prompt = BigInt(await promptTokens(body, localModel.encoding)) * localModel.inputTokenPrice
    const app = gateway({ windowTokens: 16 })
    const amountOf = (response: Response) => Challenge.request(Challenge.parse(response.headers.get('WWW-Authenticate')!))
    const plain = await ask(app)
    expect(plain.status).toBe(402)
    expect(amountOf(plain).amount).toBe(`${prompt + 100n * localModel.outputTokenPrice}`)
    const metered = amountOf(await ask(app, { 'MPP-Stream': 'metered' }))
    expect(metered.amount).toBe(`${prompt + 16n * localModel.outputTokenPrice}`)
    expect(metered.methodDetails).toMatchObject({ streamWindowTokens: 16 })
  })
})
