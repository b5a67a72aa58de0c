import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

describe('npm start (the demo)', () => {
  it('runs a whole paid session on a local chain and ends with consistent balances', () => {
    const result = spawnSync('npx', ['tsx', 'scripts/demo.ts', '--once'], {
      env: { ...process.env, PORT: '0' },
      encoding: 'utf8',
      timeout: 110_000,
    })
    expect(result.stderr).not.toMatch(/Error/)
    expect(result.status).toBe(0)
    expect(result.stdout).toContain('without payment → 402')
    expect(result.stdout).toMatch(/Completion 3 → 200/)
    expect(result.stdout).toMatch(/receipt: \d+ tokens charged, spent \d+/)
    expect(result.stdout).toContain('✓ consistent')
  }, 120_000)
})
