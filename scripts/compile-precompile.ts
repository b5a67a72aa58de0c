// Usage:
//   npx tsx scripts/compile-precompile.ts           write contracts-abi/precompile/artifact.ts
//   npx tsx scripts/compile-precompile.ts --check   exit 1 if the committed artifact is stale
import { writeFileSync } from 'node:fs'
import { relative } from 'node:path'
import { checkStandInArtifact, compileStandIn, renderStandInArtifact, standInArtifactPath } from './compile-precompile-lib.js'

if (process.argv.includes('--check')) {
  const problems = checkStandInArtifact()
  if (problems.length > 0) {
    for (const p of problems) console.error(`stale artifact: ${p}`)
    console.error('Run `npx tsx scripts/compile-precompile.ts` and commit the result.')
    process.exit(1)
  }
  console.log('stand-in artifact is up to date')
} else {
  writeFileSync(standInArtifactPath, renderStandInArtifact(compileStandIn()))
  console.log(`wrote ${relative(process.cwd(), standInArtifactPath)}`)
}
