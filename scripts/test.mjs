// The README's test command: typecheck and lint, then every vitest suite (the Node suite,
// then the workerd suite of vitest.workers.config.ts), then one plain
// `N passed, N failed` line for CI. The typecheck and the lint each count as one test; a suite
// that cannot start (no JSON report) counts as one failure.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const run = (command, args, env = {}) => spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } }).status

/** A check that counts as one test: the command's exit status. */
function check(name, command, args) {
  console.log(`▶ ${name}`)
  const passed = run(command, args) === 0
  console.log(passed ? `✓ ${name}` : `✗ ${name}`)
  return passed
}

const checks = [
  check('typecheck (tsc --noEmit)', 'npx', ['tsc', '--noEmit', '-p', '.']),
  check('lint and format (biome check)', 'npx', ['biome', 'check', '.']),
]

const outputDir = mkdtempSync(join(tmpdir(), 'vitest-'))
// Arguments (file filters, -t …) go to both suites; a filter may then match no file in one of them.
const extra = process.argv.slice(2)
const filtered = extra.length > 0 ? ['--passWithNoTests'] : []

/** Runs one vitest suite with a JSON report; returns its passed and failed counts. */
function suite(name, configArgs, env = {}) {
  console.log(`▶ ${name}`)
  const outputFile = join(outputDir, `${name.replace(/\W+/g, '-')}.json`)
  const status = run(
    'npx',
    ['vitest', 'run', ...configArgs, '--reporter=default', '--reporter=json', `--outputFile.json=${outputFile}`, ...filtered, ...extra],
    env,
  )
  let passed = 0
  let failed = 0
  try {
    const results = JSON.parse(readFileSync(outputFile, 'utf8'))
    passed += results.numPassedTests
    failed += results.numFailedTests
    // A suite that failed to load has no failed test of its own; count it.
    failed += results.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length
  } catch {
    failed += 1 // no report: vitest (or the workers pool) did not start
  }
  if (status !== 0 && failed === 0) failed += 1
  console.log(`${failed === 0 ? '✓' : '✗'} ${name}: ${passed} passed, ${failed} failed`)
  return { passed, failed }
}

const results = [
  suite('node suite', []),
  // Inside workerd (@cloudflare/vitest-pool-workers); wrangler stays off the network.
  suite('workerd suite', ['--config', 'vitest.workers.config.ts'], {
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  }),
]
rmSync(outputDir, { recursive: true, force: true })

const passed = checks.filter(Boolean).length + results.reduce((sum, result) => sum + result.passed, 0)
const failed = checks.filter((ok) => !ok).length + results.reduce((sum, result) => sum + result.failed, 0)
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
