// The repository is self-contained: its file checks (the error contract read
// from docs/, the layout rules) pass in a copy of the repository alone, with
// nothing beside it — as in a plain clone.
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { repoRoot } from './support/processes.js'

const parent = mkdtempSync(join(tmpdir(), 'mpp-alone-'))
afterAll(() => rmSync(parent, { recursive: true, force: true }))

describe('the repository alone', () => {
  it('passes its file checks in a copy with nothing beside it', () => {
    const copy = join(parent, 'repo')
    const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
      cwd: repoRoot,
      encoding: 'utf8',
    })
      .split('\0')
      .filter(Boolean)
    for (const file of tracked) {
      mkdirSync(join(copy, dirname(file)), { recursive: true })
      cpSync(join(repoRoot, file), join(copy, file))
    }
    symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'))
    const run = spawnSync(
      'npx',
      ['vitest', 'run', '--config', 'vitest.unit.config.ts', 'test/errors/envelope.test.ts', 'test/layout.test.ts'],
      { cwd: copy, encoding: 'utf8', env: { ...process.env, CI: '1', NO_COLOR: '1', FORCE_COLOR: '0' } },
    )
    expect(run.stdout + run.stderr).toMatch(/Test Files\s+2 passed/)
    expect(run.status).toBe(0)
  }, 120_000)
})
