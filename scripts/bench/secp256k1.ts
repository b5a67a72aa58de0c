// `npm run bench:secp256k1`: recoveries per second of each secp256k1 backend
// (src/secp256k1/), measured in one process in alternating rounds, so each
// backend's ratio to noble holds when the machine's load changes.
//
//   npm run bench:secp256k1              11 rounds of about 300 ms per row
//   npm run bench:secp256k1 -- --quick   3 short rounds (a smoke run)
//
// A recovery here is what a new voucher costs after its EIP-712 digest: the
// byte checks, the public-key recovery and the keccak of the key.
import { cpus, loadavg } from 'node:os'
import * as tinySecp256k1 from 'tiny-secp256k1'
import { bytesToHex, type Hex, hexToBytes } from 'viem'
import { privateKeyToAccount, sign } from 'viem/accounts'
import { backendNames } from '../../src/secp256k1/backend.js'
import { recoverAddress } from '../../src/secp256k1/recover.js'
import { selectRecoveryBackend } from '../../src/secp256k1/select.js'
import { checkSignature } from '../../src/secp256k1/signature.js'
import { type Batch, formatRate, measureTogether } from './harness.js'

const quick = process.argv.includes('--quick')
const options = quick ? { batches: 3, batchMs: 150, warmupMs: 200 } : { batches: 11, batchMs: 300, warmupMs: 500 }

// A pool of distinct signatures from a few signers, so no row can be served from a cache.
const keys = Array.from({ length: 4 }, () => bytesToHex(crypto.getRandomValues(new Uint8Array(32))))
const pool = await Promise.all(
  Array.from({ length: 64 }, async (_, i) => {
    const key = keys[i % keys.length]!
    const digest = bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
    return {
      digest,
      signature: await sign({ hash: digest, privateKey: key, to: 'hex' }),
      signer: privateKeyToAccount(key).address.toLowerCase(),
    }
  }),
)

const { backend: automatic, skipped } = selectRecoveryBackend()
const operations: Record<string, Batch<undefined>> = {}
for (const name of backendNames) {
  const { backend } = selectRecoveryBackend(name)
  for (const { digest, signature, signer } of pool) {
    if (recoverAddress(backend, digest, signature) !== signer) throw new Error(`${name}: wrong signer`)
  }
  operations[name] = {
    run: (_, i) => {
      const { digest, signature } = pool[i % pool.length]!
      return recoverAddress(backend, digest, signature)
    },
  }
}
// For reference: the same WebAssembly binary through tiny-secp256k1's own JavaScript, which also
// checks that r is an x-coordinate (one more square root) and copies more; the key alone, no keccak.
operations['tiny-secp256k1 recover()'] = {
  run: (_, i) => {
    const { digest, signature } = pool[i % pool.length]!
    const bytes = hexToBytes(signature)
    return tinySecp256k1.recover(hexToBytes(digest), bytes.subarray(0, 64), (bytes[64]! - 27) as 0 | 1, false)
  },
}
operations['checks alone (checkSignature)'] = {
  run: (_, i) => {
    const { digest, signature } = pool[i % pool.length]!
    return checkSignature(digest as Hex, signature)
  },
}

console.log(`secp256k1 bench on ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}${quick ? ' (quick)' : ''}`)
// Other work on the machine slows every row of a round alike: the ratios hold, the absolute rates do not.
const loadBefore = loadavg()[0]!
const { rates, costRatio } = await measureTogether(operations, options)

const rows = Object.keys(operations).map((name) => {
  const rate = rates[name]!
  return [
    name,
    formatRate(rate.perSecond),
    `${rate.microseconds.toFixed(1)} µs`,
    `${formatRate(rate.min)}–${formatRate(rate.max)}`,
    `${costRatio('noble', name).toFixed(2)}×`,
  ]
})
const header = ['backend', 'recoveries/s', 'per recovery', 'range over rounds', 'speed vs noble']
const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)))
const line = (cells: string[]) =>
  cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')
console.log(line(header))
for (const row of rows) console.log(line(row))
console.log(
  `\nselected automatically: ${automatic.name}${skipped.map((error) => ` (skipped ${error.backend}: ${error.message})`).join('')}; ${rates.noble!.batches} alternating rounds; load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after`,
)
