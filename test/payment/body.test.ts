// How a body read ends when the bytes stop: a connection that failed under the
// stream is the client's (request_timeout, expected: no cause to log as
// unexpected); a body already consumed is the caller's bug and stays unexpected.
import { describe, expect, it } from 'vitest'
import { PaymentError } from '../../src/errors/payment-error.js'
import { readBody } from '../../src/payment/body.js'

/** A POST whose body sends a first chunk, then fails as a reset connection does. */
function failingRequest(declaredLength?: number) {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"model":'))
    },
    pull(controller) {
      controller.error(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))
    },
  })
  const headers = declaredLength === undefined ? {} : { 'Content-Length': String(declaredLength) }
  return new Request('http://gateway.test/v1/paid', { method: 'POST', body, headers, duplex: 'half' } as RequestInit)
}

describe('readBody', () => {
  it.each([
    ['with a declared length', 100],
    ['streamed', undefined],
  ])('answers a connection that fails mid-body (%s) with request_timeout, without a cause', async (_, length) => {
    const error = await readBody(failingRequest(length), 1024).catch((thrown: unknown) => thrown)
    expect(error).toBeInstanceOf(PaymentError)
    expect(error).toMatchObject({ code: 'request_timeout', cause: undefined })
  })

  it('lets a body already read fail as the caller bug it is', async () => {
    const request = new Request('http://gateway.test/v1/paid', { method: 'POST', body: 'twice' })
    await request.text()
    await expect(readBody(request, 1024)).rejects.toBeInstanceOf(TypeError)
  })
})
