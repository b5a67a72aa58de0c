// Usage:
//   npx tsx scripts/compile-probe.ts           write contracts-abi/probe/artifact.ts
//   npx tsx scripts/compile-probe.ts --check   exit 1 if the committed artifact is stale
import { writeFileSync } from 'node:fs'
import { relative } from 'node:path'
import { checkProbeArtifact, probeArtifactPath, renderProbeArtifact } from './compile-probe-lib.js'

if (process.argv.includes('--check')) {
  const problems = checkProbeArtifact()
  if (problems.length > 0) {
    for (const p of problems) console.error(`stale artifact: ${p}`)
    console.error('Run `npx tsx scripts/compile-probe.ts` and commit the result.')
    process.exit(1)
  }
  console.log('probe artifact is up to date')
} else {
  writeFileSync(probeArtifactPath, renderProbeArtifact())
  console.log(`wrote ${relative(process.cwd(), probeArtifactPath)}`)
}
