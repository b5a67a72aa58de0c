// Usage:
//   npx tsx scripts/compile-contracts.ts           write contracts-abi/<dir>/*artifact.ts
//   npx tsx scripts/compile-contracts.ts --check   exit 1 if a committed artifact is stale
import { writeFileSync } from 'node:fs'
import { relative } from 'node:path'
import { buildArtifacts, checkArtifacts } from './compile-contracts-lib.js'

if (process.argv.includes('--check')) {
  const problems = checkArtifacts()
  if (problems.length > 0) {
    for (const p of problems) console.error(`stale artifact: ${p}`)
    console.error('Run `npx tsx scripts/compile-contracts.ts` and commit the result.')
    process.exit(1)
  }
  console.log('contract artifacts are up to date')
} else {
  for (const [path, text] of buildArtifacts()) {
    writeFileSync(path, text)
    console.log(`wrote ${relative(process.cwd(), path)}`)
  }
}
