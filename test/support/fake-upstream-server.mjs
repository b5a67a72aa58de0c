// A fake OpenAI-compatible upstream, run as its own process by fake-upstream.ts.
// Plain Node http; tiktoken (OpenAI's tokenizer) only for `usage:true`, loaded
// on first use. Prints one line `{"port":N}` once listening.
//
// Each POST …/chat/completions is steered by a directive: the `X-Fake-Upstream`
// header when present, else the request's `model`. Directives:
//   ok                     a completion, usage 10 prompt + 5 completion tokens
//   ok:P,C | usage:P,C     a completion with usage P prompt + C completion tokens
//   usage:true             a completion billed as OpenAI bills it: prompt tokens
//                          counted with tiktoken's o200k_base on each role,
//                          content (text parts joined or one by one, whichever
//                          costs more) and name, plus the chat framing (3 a
//                          message, 1 a name, 3 priming the reply); completion
//                          tokens those of the reply
//   fail:<status>          that status with an OpenAI-style error body whose
//                          message echoes the last user message (as real
//                          upstreams do); 429 carries `Retry-After: 7`
//   fail:429:<value>       429 with `Retry-After: <value>`; `fail:429:none` omits it
//   stall:<ms>             read the request, answer `ok` after ms
//   stall | stall:never    read the request, never answer
//   stall-body:<ms>        send 200 headers at once, the body after ms
//   no-usage               a 200 completion without `usage`
//   garbage                a 200 non-JSON body
//   hangup                 destroy the socket without answering
//   once:<directive>       <directive> for the first request with this exact
//                          directive since start or reset, `ok` after that
// Anything else (e.g. a real model name) is `ok`.
// A request with `"stream": true` is answered as an OpenAI stream (SSE): the
// reply a word a chunk, then (with `stream_options.include_usage`) a usage
// chunk of P prompt and C completion tokens, then `data: [DONE]`. `ok`/`usage`
// stream at once; `stream-slow:<ms>[:P,C]` waits ms before each chunk;
// `stream-cut:<n>` destroys the socket after n chunks; `fail:<status>` and
// `stall:*` answer as above.
//
// Control: GET /__calls → {"calls":N,"total":T,"abandoned":A} (A: streams whose
// client closed the connection before the stream's end, since start), also
// since start or the last reset, and since start whatever the resets),
// GET /__last → the last completion request {path, authorization, directive, body},
// POST /__reset → zero the count (not the total) and forget the last request.
//
// It exits when its parent goes away: stdin (a pipe from the parent) closes, or
// the parent PID stops existing.
import { createServer } from 'node:http'

let calls = 0
let abandoned = 0
let total = 0
let last = null
const seen = new Set()
const pending = new Set()

const server = createServer((req, res) => {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')))
})

function handle(req, res, raw) {
  const path = new URL(req.url ?? '/', 'http://fake').pathname
  if (req.method === 'GET' && path === '/__calls') return json(res, 200, { calls, total, abandoned })
  if (req.method === 'GET' && path === '/__last') return json(res, 200, last)
  if (req.method === 'POST' && path === '/__reset') {
    calls = 0
    last = null
    seen.clear()
    return json(res, 200, { calls })
  }
  if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
    return json(res, 404, { error: { message: `No route ${req.method} ${path}`, type: 'invalid_request_error', code: 'not_found' } })
  }

  calls += 1
  total += 1
  let body
  try {
    body = JSON.parse(raw) ?? {}
  } catch {
    return json(res, 400, { error: { message: 'Body is not JSON', type: 'invalid_request_error', code: 'invalid_json' } })
  }
  const given = String(req.headers['x-fake-upstream'] ?? body.model ?? 'ok')
  last = { path, authorization: req.headers.authorization ?? null, directive: given, body }
  const directive = onceDirective(given)
  // `fail:429:<HTTP date>` keeps the colons of its date.
  const [verb = 'ok', arg, ...tail] = directive.split(':')
  const extra = tail.length === 0 ? undefined : tail.join(':')

  if (body.stream === true && verb !== 'fail' && verb !== 'stall') return streamed(res, body, verb, arg, extra)

  switch (verb) {
    case 'fail': {
      const status = Number(arg)
      const headers = {}
      if (status === 429 && extra !== 'none') headers['Retry-After'] = extra ?? '7'
      const message = `Fake failure ${status} for prompt: ${lastUserText(body)}`
      return json(res, status, { error: { message, type: 'fake_error', code: `fake_${status}`, param: null } }, headers)
    }
    case 'stall':
      if (arg === undefined || arg === 'never') return // the socket closes when the client gives up
      return later(res, Number(arg), () => json(res, 200, completion(body, 10, 5)))
    case 'stall-body':
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.flushHeaders()
      return later(res, Number(arg), () => res.end(JSON.stringify(completion(body, 10, 5))))
    case 'no-usage': {
      const { usage: _usage, ...rest } = completion(body, 0, 0)
      return json(res, 200, rest)
    }
    case 'garbage':
      res.writeHead(200, { 'Content-Type': 'application/json' })
      return res.end(`<html>not json: ${lastUserText(body)}</html>`)
    case 'hangup':
      return req.socket.destroy()
    case 'ok':
    case 'usage': {
      if (verb === 'usage' && arg === 'true') return billed(res, body)
      const [prompt = 10, completionTokens = 5] = (arg ?? '').split(',').filter(Boolean).map(Number)
      return json(res, 200, completion(body, prompt, completionTokens))
    }
    default:
      return json(res, 200, completion(body, 10, 5))
  }
}

const reply = 'Fake upstream reply.'
const streamedReply = 'Fake upstream streamed reply with several words in it.'

function streamed(res, body, verb, arg, extra) {
  const usageArg = verb === 'stream-slow' ? extra : verb === 'stream-cut' ? undefined : arg
  const [prompt = 10, completionTokens = 9] = (usageArg ?? '').split(',').filter(Boolean).map(Number)
  const delay = verb === 'stream-slow' ? Number(arg) : 0
  const cutAfter = verb === 'stream-cut' ? Number(arg) : Number.POSITIVE_INFINITY
  const base = {
    id: `chatcmpl-fake-${calls}`,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: String(body.model),
  }
  const events = [{ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }]
  for (const piece of streamedReply.match(/ ?[^ .]+|\./g))
    events.push({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] })
  events.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })
  if (body.stream_options?.include_usage === true) {
    events.push({
      ...base,
      choices: [],
      usage: { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens },
    })
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream' })
  res.flushHeaders()
  let sent = 0
  let timer
  const next = () => {
    pending.delete(timer)
    if (sent === cutAfter) return req(res).socket?.destroy()
    if (sent === events.length) return res.end('data: [DONE]\n\n')
    res.write(`data: ${JSON.stringify(events[sent++])}\n\n`)
    timer = setTimeout(next, delay)
    pending.add(timer)
  }
  res.on('close', () => {
    clearTimeout(timer)
    pending.delete(timer)
    if (!res.writableEnded && sent !== cutAfter) abandoned += 1
  })
  next()
}

const req = (res) => res.req
let o200k

/** Answers a completion with the usage OpenAI would bill for `body` (OpenAI's cookbook recipe for chat framing). */
function billed(res, body) {
  o200k ??= import('tiktoken').then(({ get_encoding }) => get_encoding('o200k_base'))
  o200k.then(
    (encoding) => json(res, 200, completion(body, billedPromptTokens(encoding, body), encoding.encode(reply, [], []).length)),
    (error) => json(res, 500, { error: { message: `tiktoken: ${error}`, type: 'fake_error', code: 'fake_500', param: null } }),
  )
}

function billedPromptTokens(encoding, body) {
  // Special-token look-alikes in the text are plain text, as OpenAI encodes user content.
  const count = (text) => encoding.encode(text, [], []).length
  // Text parts: joined or one by one, whichever costs more (upstreams render them either way).
  const contentTokens = (content) =>
    Array.isArray(content)
      ? Math.max(
          count(content.map((part) => part.text).join('')),
          content.reduce((sum, part) => sum + count(part.text), 0),
        )
      : count(String(content))
  let prompt = 3
  for (const message of Array.isArray(body.messages) ? body.messages : []) {
    prompt += 3 + count(String(message.role)) + contentTokens(message.content)
    if (message.name !== undefined) prompt += 1 + count(String(message.name))
  }
  return prompt
}

function onceDirective(directive) {
  if (!directive.startsWith('once:')) return directive
  if (seen.has(directive)) return 'ok'
  seen.add(directive)
  return directive.slice('once:'.length)
}

function completion(body, promptTokens, completionTokens) {
  return {
    id: `chatcmpl-fake-${calls}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: String(body.model ?? 'fake'),
    choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    system_fingerprint: 'fake-upstream',
  }
}

function lastUserText(body) {
  const messages = Array.isArray(body.messages) ? body.messages : []
  const user = messages.findLast((message) => message?.role === 'user')
  return typeof user?.content === 'string' ? user.content : ''
}

function json(res, status, value, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
  res.end(JSON.stringify(value))
}

// A delayed answer is dropped when the client goes away first, so a stalled
// request never writes to a dead socket or keeps a timer alive.
function later(res, ms, answer) {
  const timer = setTimeout(() => {
    pending.delete(timer)
    answer()
  }, ms)
  pending.add(timer)
  res.on('close', () => {
    clearTimeout(timer)
    pending.delete(timer)
  })
}

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`)
})

function shutdown() {
  for (const timer of pending) clearTimeout(timer)
  server.closeAllConnections()
  server.close()
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
process.stdin.on('end', shutdown)
process.stdin.on('close', shutdown)
process.stdin.resume()
const parent = process.ppid
setInterval(() => {
  try {
    process.kill(parent, 0)
  } catch {
    shutdown()
  }
  if (process.ppid !== parent) shutdown()
}, 500).unref()
