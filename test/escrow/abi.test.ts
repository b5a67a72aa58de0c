// Our escrow's ABI (contracts-abi/escrow/StreamChannelEscrow.sol, compiled into
// artifact.ts) against the ABI of the TempoStreamChannel deployed on Tempo
// networks, as the published mppx 0.11.0 ships it (its legacy `escrowAbi`).
// mppx is read from the nested package test/interop (`npm ci --prefix
// test/interop`), so nothing fetched is committed.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'

const mppxAbiFile = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'interop',
  'node_modules',
  'mppx',
  'dist',
  'tempo',
  'legacy',
  'session',
  'escrow.abi.js',
)

type AbiItem = { type: string; name?: string } & Record<string, unknown>

/** `function topUp`, `event TopUp`, `error DepositOverflow`: what an item is compared under. */
const keyOf = (item: AbiItem) => `${item.type} ${item.name ?? ''}`.trim()

const show = (value: unknown) => (value === undefined ? 'absent' : JSON.stringify(value))

/** Paths below `path` where `ours` and `theirs` differ, with both values; object key order is ignored. */
function differences(ours: unknown, theirs: unknown, path: string): string[] {
  if (Array.isArray(ours) && Array.isArray(theirs)) {
    const lines = ours.length === theirs.length ? [] : [`${path}.length: ours ${ours.length}, deployed ${theirs.length}`]
    for (let i = 0; i < Math.min(ours.length, theirs.length); i++) lines.push(...differences(ours[i], theirs[i], `${path}[${i}]`))
    return lines
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
  if (isObject(ours) && isObject(theirs)) {
    const keys = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].sort()
    return keys.flatMap((key) => differences(ours[key], theirs[key], `${path}.${key}`))
  }
  return Object.is(ours, theirs) ? [] : [`${path}: ours ${show(ours)}, deployed ${show(theirs)}`]
}

/**
 * Item-by-item comparison of two ABIs, whatever their order: one line per item
 * only one side has and per field that differs (names, types, internal types,
 * state mutability, indexed flags, tuple components in order). Empty when equal.
 */
function compareAbis(ours: readonly AbiItem[], deployed: readonly AbiItem[]): string[] {
  const index = (abi: readonly AbiItem[], side: string) => {
    const map = new Map<string, AbiItem>()
    for (const item of abi) {
      const key = keyOf(item)
      // No overloads in this ABI; a second item under one key would hide a difference.
      if (map.has(key)) throw new Error(`${side} ABI has two items named ${key}`)
      map.set(key, item)
    }
    return map
  }
  const a = index(ours, 'our')
  const b = index(deployed, 'the deployed')
  const lines: string[] = []
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const mine = a.get(key)
    const theirs = b.get(key)
    if (theirs === undefined) lines.push(`${key}: only in ours`)
    else if (mine === undefined) lines.push(`${key}: missing from ours (deployed: ${JSON.stringify(theirs)})`)
    else lines.push(...differences(mine, theirs, key))
  }
  return lines
}

async function deployedAbi(): Promise<AbiItem[]> {
  if (!existsSync(mppxAbiFile)) {
    throw new Error(`mppx is not installed in test/interop (${mppxAbiFile} is missing): run npm ci --prefix test/interop`)
  }
  const module = (await import(pathToFileURL(mppxAbiFile).href)) as { escrowAbi: AbiItem[] }
  return module.escrowAbi
}

describe('escrow ABI', () => {
  it('equals the deployed TempoStreamChannel ABI (mppx 0.11.0 legacy escrowAbi) item by item', async () => {
    const deployed = await deployedAbi()
    const diff = compareAbis(escrowAbi as unknown as AbiItem[], deployed)
    expect(diff, `our escrow ABI differs from the deployed one:\n  ${diff.join('\n  ')}`).toEqual([])
    expect(escrowAbi).toHaveLength(deployed.length)
  })

  it('the comparison names what differs', () => {
    const deployed: AbiItem[] = [
      {
        type: 'function',
        name: 'topUp',
        inputs: [
          { name: 'channelId', type: 'bytes32', internalType: 'bytes32' },
          { name: 'additionalDeposit', type: 'uint256', internalType: 'uint256' },
        ],
        outputs: [],
        stateMutability: 'nonpayable',
      },
      { type: 'error', name: 'DepositOverflow', inputs: [] },
    ]
    const ours: AbiItem[] = [
      {
        stateMutability: 'nonpayable',
        type: 'function',
        name: 'topUp',
        inputs: [
          { name: 'channelId', type: 'bytes32', internalType: 'bytes32' },
          { name: 'additionalDeposit', type: 'uint128', internalType: 'uint128' },
        ],
        outputs: [],
      },
      { type: 'event', name: 'Gone', inputs: [], anonymous: false },
    ]
    expect(compareAbis(ours, deployed)).toEqual([
      'error DepositOverflow: missing from ours (deployed: {"type":"error","name":"DepositOverflow","inputs":[]})',
      'event Gone: only in ours',
      'function topUp.inputs[1].internalType: ours "uint128", deployed "uint256"',
      'function topUp.inputs[1].type: ours "uint128", deployed "uint256"',
    ])
    expect(compareAbis(deployed, deployed)).toEqual([])
  })
})
