// The README's test command: typecheck, then every vitest suite, then one plain
// `N passed, N failed` line for CI. The typecheck counts as one test.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const run = (command, args) => spawnSync(command, args, { stdio: 'inherit', env: process.env }).status

console.log('▶ typecheck (tsc --noEmit)')
const typecheckPassed = run('npx', ['tsc', '--noEmit', '-p', '.']) === 0
console.log(typecheckPassed ? '✓ typecheck' : '✗ typecheck')

const outputDir = mkdtempSync(join(tmpdir(), 'vitest-'))
const outputFile = join(outputDir, 'results.json')
const vitestStatus = run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${outputFile}`, ...process.argv.slice(2)])

let passed = typecheckPassed ? 1 : 0
let failed = typecheckPassed ? 0 : 1
try {
  const results = JSON.parse(readFileSync(outputFile, 'utf8'))
  passed += results.numPassedTests
  failed += results.numFailedTests
  // A suite that failed to load has no failed test of its own; count it.
  failed += results.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length
} catch {
  failed += 1
}
rmSync(outputDir, { recursive: true, force: true })
if (vitestStatus !== 0 && failed === 0) failed += 1

console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
