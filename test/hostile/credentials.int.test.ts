// Credentials made to pay without paying, or to pay once and be served twice:
// malformed ones, challenges replayed, tampered with, forged for another
// realm, route or time, bodies swapped under a digest, high-s twins of valid
// signatures, decreasing vouchers, vouchers signed by someone else. Each is
// refused with its code in the envelope (and a fresh challenge where the
// contract gives one), and the channel, the chain, the balances and the
// upstream's call count are exactly as before.
import { type Hex, hexToBigInt, numberToHex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { beforeAll, describe, expect, it } from 'vitest'
import type { ErrorCode } from '../../src/errors/codes.js'
import { base64url } from '../../src/protocol/base64url.js'
import { Challenge, computeChallengeId } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import {
  balances,
  type Channel,
  challengeFor,
  chargeOf,
  chatBody,
  completionsPath,
  credential,
  escrowAddress,
  expectHeadProblem,
  expectProblem,
  gateway,
  head,
  type Init,
  newPayer,
  observe,
  onChain,
  openTransaction,
  post,
  receiptOf,
  send,
  sign,
  snapshot,
  stateOf,
  voucher,
} from './support.js'
import { models, realm, secretKey } from './target.js'

const body = chatBody(models.fixed, 'What does a voucher prove?')
const secp256k1Order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** The high-s twin of a 65-byte signature: s → n − s, v flipped. The same signer recovers from it. */
function highS(signature: Hex): Hex {
  const r = signature.slice(2, 66)
  const s = hexToBigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130), 16)
  return `0x${r}${numberToHex(secp256k1Order - s, { size: 32 }).slice(2)}${(v === 27 ? 28 : 27).toString(16)}`
}

/** `challenge` re-bound with the server's secret after `change`: passes the binding check, so what follows it is tested. */
function rebound(challenge: Challenge, change: Record<string, string | undefined>): Challenge {
  // Through JSON, so a member set to undefined is gone.
  const changed = JSON.parse(JSON.stringify({ ...challenge, ...change })) as Challenge
  return { ...changed, id: computeChallengeId({ secretKey, ...changed }) }
}

const opaque = (route: string) => base64url.encode(JSON.stringify({ nonce: 'hostile-nonce-0', route }))
const encoded = (value: unknown) => `Payment ${base64url.encode(typeof value === 'string' ? value : JSON.stringify(value))}`

let channel: Channel
beforeAll(async () => {
  // Accepted at 300,000 after an initial 100,000: there is a genuine lower voucher to replay.
  const payer = await newPayer()
  const { channelId, transaction } = await openTransaction(payer, 2_000_000n)
  channel = { payer, channelId, deposit: 2_000_000n, signed: new Map(), accepted: { amount: 0n, signature: '0x' } }
  const open = {
    action: 'open',
    type: 'transaction',
    channelId,
    transaction,
    cumulativeAmount: '100000',
    signature: await sign(channel, 100_000n),
  }
  await observe(channel, await send(head, credential(await challengeFor(head), open)))
  await observe(channel, await send(head, credential(await challengeFor(head), await voucher(channel, 300_000n))))
  expect(await stateOf(channel)).toEqual({ spent: 0n, acceptedCumulative: 300_000n })
})

/** Sends the completion request with `headers`, asserts the envelope of `code`, and that nothing moved. */
async function refused(headers: Record<string, string>, code: ErrorCode, options: { problemType?: string; init?: Init } = {}) {
  const init = options.init ?? post(body)
  const before = await snapshot(channel)
  const response = await gateway.fetch(completionsPath, { ...init, headers: { ...init.headers, ...headers } })
  const problem = await expectProblem(response, code, options)
  expect(await snapshot(channel)).toEqual(before)
  return problem
}

describe('malformed credentials: 402 mpp_malformed_credential with a fresh challenge, nothing moves', () => {
  const minimal = async () => ({
    challenge: await challengeFor(post(body)),
    payload: await voucher(channel, channel.accepted.amount, channel.accepted.signature),
  })

  it.each([
    ['the scheme alone', async () => 'Payment'],
    ['padded standard base64', async () => `Payment ${Buffer.from(JSON.stringify(await minimal())).toString('base64')}`],
    ['two tokens', async () => 'Payment abc def'],
    ['base64url of text that is not JSON', async () => encoded('not json at all')],
    ['base64url of bytes that are not UTF-8', async () => `Payment ${base64url.encode(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))}`],
    ['JSON null', async () => encoded('null')],
    ['a JSON array', async () => encoded('[]')],
    ['a challenge that is a string', async () => encoded({ challenge: 'x', payload: {} })],
    [
      'a challenge id that is a number',
      async () => encoded({ ...(await minimal()), challenge: { ...(await minimal()).challenge, id: 7 } }),
    ],
    ['a payload that is an array', async () => encoded({ ...(await minimal()), payload: [] })],
    ['an unknown action', async () => encoded({ ...(await minimal()), payload: { action: 'withdraw', channelId: channel.channelId } })],
    [
      'an amount that is a JSON number',
      async () => encoded({ ...(await minimal()), payload: { ...(await minimal()).payload, cumulativeAmount: 300000 } }),
    ],
    ['a negative amount', async () => encoded({ ...(await minimal()), payload: { ...(await minimal()).payload, cumulativeAmount: '-1' } })],
    [
      'an amount past uint128',
      async () => encoded({ ...(await minimal()), payload: { ...(await minimal()).payload, cumulativeAmount: (1n << 128n).toString() } }),
    ],
    [
      'a signature that is not hex',
      async () => encoded({ ...(await minimal()), payload: { ...(await minimal()).payload, signature: `0x${'zz'.repeat(65)}` } }),
    ],
    [
      'a channel id that is not bytes32',
      async () => encoded({ ...(await minimal()), payload: { ...(await minimal()).payload, channelId: '0x1234' } }),
    ],
    ['15 KiB of base64url noise (under the 16 KiB rule and the header limit)', async () => `Payment ${'A'.repeat(15 * 1024)}`],
  ])('%s', async (_, authorization) => {
    await refused({ Authorization: await authorization() }, 'mpp_malformed_credential')
  })

  it('a credential in Payment-Authorization, which this route does not take', async () => {
    const { challenge, payload } = await minimal()
    await refused({ 'Payment-Authorization': credential(challenge, payload) }, 'mpp_malformed_credential')
  })

  it('an Idempotency-Key that is not a visible ASCII token', async () => {
    const { challenge, payload } = await minimal()
    await refused({ Authorization: credential(challenge, payload), 'Idempotency-Key': 'has space' }, 'mpp_malformed_credential')
  })
})

describe('credentials the gateway cannot judge', () => {
  it('for another payment method: 400 mpp_method_unsupported with the challenge', async () => {
    const { challenge, payload } = { challenge: await challengeFor(post(body)), payload: await voucher(channel, 300_000n) }
    await refused({ Authorization: credential({ ...challenge, method: 'stripe' }, payload) }, 'mpp_method_unsupported')
  })

  it('in both Authorization and Payment-Authorization: 400 mpp_multiple_credentials, no challenge', async () => {
    const value = credential(await challengeFor(post(body)), await voucher(channel, 300_000n))
    await refused({ Authorization: value, 'Payment-Authorization': value }, 'mpp_multiple_credentials')
  })

  it('another scheme in Authorization is no Payment credential: the challenge, nothing else', async () => {
    await refused({ Authorization: 'Bearer sk-hostile' }, 'payment_required')
  })

  it('a valid voucher carrying 5,000 levels of nested junk is judged as the voucher it is: served and charged once, never a 500', async () => {
    const junk = `${'['.repeat(5_000)}${']'.repeat(5_000)}`
    const challenge = await challengeFor(post(body))
    // Written by hand: JCS (Credential.format) recurses per level.
    const authorization = encoded(
      `{"challenge":${JSON.stringify(challenge)},"payload":${JSON.stringify(await voucher(channel, 300_000n)).slice(0, -1)},"junk":${junk}}}`,
    )
    expect(authorization.length).toBeLessThan(15 * 1024)
    const { spent } = await stateOf(channel)
    const response = await send(post(body), authorization)
    expect(response.status).toBe(200)
    const charge = chargeOf(((await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage)
    expect(receiptOf(response)?.spent).toBe((spent + charge).toString())
  })
})

describe('a challenge paid twice', () => {
  it('the same credential again: 402 mpp_invalid_challenge (already used), served and charged once', async () => {
    const authorization = credential(await challengeFor(post(body)), await voucher(channel, 300_000n))
    const first = await send(post(body), authorization)
    expect(first.status).toBe(200)
    const problem = await refused({ Authorization: authorization }, 'mpp_invalid_challenge')
    expect(problem.detail).toMatch(/already used/)
  })

  it('the same challenge with another voucher: refused the same way', async () => {
    const challenge = await challengeFor(post(body))
    expect((await send(post(body), credential(challenge, await voucher(channel, 300_000n)))).status).toBe(200)
    await refused({ Authorization: credential(challenge, await voucher(channel, 400_000n)) }, 'mpp_invalid_challenge')
  })

  it('one credential sent ten times at once: one is served and charged, nine are refused', async () => {
    const authorization = credential(
      await challengeFor(post(body)),
      await voucher(channel, channel.accepted.amount, channel.accepted.signature),
    )
    const before = await snapshot(channel)
    const responses = await Promise.all(Array.from({ length: 10 }, () => send(post(body), authorization)))
    const served = responses.filter((response) => response.status === 200)
    expect(served).toHaveLength(1)
    for (const response of responses.filter((other) => other.status !== 200)) await expectProblem(response, 'mpp_invalid_challenge')
    expect(await snapshot(channel)).toEqual({
      ...before,
      state: { ...before.state, spent: before.state.spent + 1_600n },
      calls: before.calls + 1,
    })
  })

  it('an Idempotency-Key retry is answered from its record: the same content and receipt, no new charge, no upstream call', async () => {
    const key = { 'Idempotency-Key': `hostile-${Date.now()}` }
    const first = await send(post(body, key), credential(await challengeFor(post(body, key)), await voucher(channel, 300_000n)))
    expect(first.status).toBe(200)
    const content = await first.text()
    const before = await snapshot(channel)
    // With a fresh challenge, and with the very same credential (an idempotent retry consumes no challenge).
    const again = await send(post(body, key), credential(await challengeFor(post(body, key)), await voucher(channel, 300_000n)))
    expect({ status: again.status, receipt: again.headers.get('Payment-Receipt'), content: await again.text() }).toEqual({
      status: 200,
      receipt: first.headers.get('Payment-Receipt'),
      content,
    })
    expect(await snapshot(channel)).toEqual(before)
  })
})

describe('tampered bodies and challenges', () => {
  it('another body under the digest: 402 mpp_body_digest_mismatch, no upstream call', async () => {
    const authorization = credential(await challengeFor(post(body)), await voucher(channel, 300_000n))
    for (const tampered of [
      chatBody(models.fixed, 'Something else entirely.'),
      `${body} `,
      body.replace('"max_tokens":100', '"max_tokens":99'),
    ])
      await refused({ Authorization: authorization }, 'mpp_body_digest_mismatch', { init: post(tampered) })
  })

  it.each([
    [
      'a lower amount in its request',
      (challenge: Challenge) => ({
        ...challenge,
        request: base64url.encode(JSON.stringify({ ...Challenge.request(challenge), amount: '1' })),
      }),
    ],
    ['a later expiry', (challenge: Challenge) => ({ ...challenge, expires: '2099-01-01T00:00:00Z' })],
    ['no digest', (challenge: Challenge) => ({ ...challenge, digest: undefined })],
    ['another route in its opaque', (challenge: Challenge) => ({ ...challenge, opaque: opaque('POST /v1/free') })],
    [
      'an id of another server',
      (challenge: Challenge) => ({
        ...challenge,
        id: computeChallengeId({ secretKey: 'another-server-secret-of-32-bytes-x', ...challenge }),
      }),
    ],
  ])('a challenge with %s, not re-bound: 402 mpp_invalid_challenge', async (_, tamper) => {
    const challenge = JSON.parse(JSON.stringify(tamper(await challengeFor(post(body))))) as Challenge
    await refused({ Authorization: Credential.format({ challenge, payload: await voucher(channel, 300_000n) }) }, 'mpp_invalid_challenge')
  })

  it.each([
    { what: 'another realm', change: { realm: 'other.example' }, code: 'mpp_invalid_challenge', detail: /another realm/ },
    { what: 'another path', change: { opaque: opaque('POST /v1/other') }, code: 'mpp_invalid_challenge', detail: /another route/ },
    {
      what: 'another method on this path',
      change: { opaque: opaque(`GET ${completionsPath}`) },
      code: 'mpp_invalid_challenge',
      detail: /another route/,
    },
    { what: 'no expiry', change: { expires: undefined }, code: 'mpp_invalid_challenge', detail: /no expiry/ },
    { what: 'an expiry in the past', change: { expires: '2020-01-01T00:00:00Z' }, code: 'mpp_challenge_expired', detail: /expired/ },
  ] as const)('a challenge bound for $what: 402 $code', async ({ change, code, detail }) => {
    const challenge = rebound(await challengeFor(post(body)), change)
    const problem = await refused({ Authorization: Credential.format({ challenge, payload: await voucher(channel, 300_000n) }) }, code)
    expect(problem.detail).toMatch(detail)
  })

  it('a challenge bound with another payee in its request: 402 mpp_invalid_challenge', async () => {
    const challenge = await challengeFor(post(body))
    const request = { ...Challenge.request(challenge), recipient: privateKeyToAccount(generatePrivateKey()).address.toLowerCase() }
    const forged = rebound(challenge, { request: base64url.encode(JSON.stringify(request)) })
    await refused(
      { Authorization: Credential.format({ challenge: forged, payload: await voucher(channel, 300_000n) }) },
      'mpp_invalid_challenge',
    )
  })

  it('a management request on a challenge for another path: 402 mpp_invalid_challenge', async () => {
    const challenge = rebound(await challengeFor(head), { opaque: opaque('HEAD /v1/other') })
    await refused({ Authorization: Credential.format({ challenge, payload: await voucher(channel, 300_000n) }) }, 'mpp_invalid_challenge', {
      init: { method: 'GET' },
    })
  })

  it(`a challenge of realm ${realm} still pays (the re-binding above changes nothing else)`, async () => {
    const challenge = rebound(await challengeFor(post(body)), {})
    expect((await send(post(body), Credential.format({ challenge, payload: await voucher(channel, 300_000n) }))).status).toBe(200)
  })
})

describe('signatures and amounts', () => {
  const invalidSignature = { problemType: 'session/invalid-signature' }

  it('the high-s twin of the accepted voucher is refused, never taken for a new one', async () => {
    const { amount, signature } = channel.accepted
    const twin = highS(signature)
    await refused(
      { Authorization: credential(await challengeFor(post(body)), await voucher(channel, amount, twin)) },
      'mpp_payment_verification_failed',
      invalidSignature,
    )
    await refused(
      { Authorization: credential(await challengeFor(head), await voucher(channel, amount, twin)) },
      'mpp_payment_verification_failed',
      {
        ...invalidSignature,
        init: { method: 'GET' },
      },
    )
  })

  it('the high-s twin of a new voucher is refused and not recorded; the voucher itself is then accepted', async () => {
    const signature = await sign(channel, 500_000n)
    await refused(
      { Authorization: credential(await challengeFor(head), await voucher(channel, 500_000n, highS(signature))) },
      'mpp_payment_verification_failed',
      {
        ...invalidSignature,
        init: { method: 'GET' },
      },
    )
    const accepted = await send({ method: 'GET' }, credential(await challengeFor(head), await voucher(channel, 500_000n, signature)))
    expect(receiptOf(accepted)?.acceptedCumulative).toBe('500000')
    await observe(channel, accepted)
  })

  it('an open whose initial voucher is a high-s twin is refused before anything reaches the chain', async () => {
    const payer = await newPayer()
    const { channelId, transaction } = await openTransaction(payer, 1_000_000n)
    const fresh: Channel = { payer, channelId, deposit: 1_000_000n, signed: new Map(), accepted: { amount: 0n, signature: '0x' } }
    const money = await balances(payer)
    const open = {
      action: 'open',
      type: 'transaction',
      channelId,
      transaction,
      cumulativeAmount: '100000',
      signature: highS(await sign(fresh, 100_000n)),
    }
    const response = await send({ method: 'GET' }, credential(await challengeFor(head), open))
    await expectProblem(response, 'mpp_payment_verification_failed', invalidSignature)
    expect(await onChain(channelId)).toEqual({ deposit: 0n, settled: 0n, finalized: false, closeRequestedAt: 0n })
    expect(await balances(payer)).toEqual(money)
  })

  it('a close whose voucher is a high-s twin is refused; the channel stays open', async () => {
    const { spent } = await stateOf(channel)
    const payload = {
      action: 'close',
      channelId: channel.channelId,
      cumulativeAmount: spent.toString(),
      signature: highS(await sign(channel, spent)),
    }
    await refused({ Authorization: credential(await challengeFor(head), payload) }, 'mpp_payment_verification_failed', {
      ...invalidSignature,
      init: { method: 'GET' },
    })
    expectHeadProblem(await send(head, credential(await challengeFor(head), payload)), 'mpp_payment_verification_failed')
    expect((await onChain(channel.channelId)).finalized).toBe(false)
  })

  it('decreasing vouchers, a fresh one and the genuine earlier one, are refused', async () => {
    for (const payload of [await voucher(channel, 200_000n), await voucher(channel, 100_000n)]) {
      const problem = await refused(
        { Authorization: credential(await challengeFor(post(body)), payload) },
        'mpp_payment_verification_failed',
      )
      expect(problem.detail).toMatch(/below the accepted cumulative amount/)
    }
  })

  it("a voucher for this channel signed by someone else, and a source naming someone else: the signer doesn't match", async () => {
    const stranger = privateKeyToAccount(generatePrivateKey())
    const amount = channel.accepted.amount + 100_000n
    const forged = await signVoucher(
      stranger,
      { chainId: 31337, escrow: escrowAddress },
      { channelId: channel.channelId, cumulativeAmount: amount },
    )
    const mismatch = { problemType: 'session/signer-mismatch' }
    await refused(
      { Authorization: credential(await challengeFor(post(body)), await voucher(channel, amount, forged)) },
      'mpp_payment_verification_failed',
      mismatch,
    )
    const spoofed = Credential.format({
      challenge: await challengeFor(post(body)),
      payload: await voucher(channel, channel.accepted.amount, channel.accepted.signature),
      source: `did:pkh:eip155:31337:${stranger.address}`,
    })
    await refused({ Authorization: spoofed }, 'mpp_payment_verification_failed', mismatch)
  })

  it('a voucher for a channel that does not exist: 410 mpp_channel_not_found', async () => {
    const missing = { ...channel, channelId: `0x${'ab'.repeat(32)}` as Hex, signed: new Map<bigint, Hex>() }
    await refused({ Authorization: credential(await challengeFor(post(body)), await voucher(missing, 100_000n)) }, 'mpp_channel_not_found')
  })
})
