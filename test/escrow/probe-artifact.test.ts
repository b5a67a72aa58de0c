// The call probe's committed artifact (runtime code the preflight places at a
// sender's address) is a fresh compile of contracts-abi/probe/CallProbe.sol.
import { describe, expect, it } from 'vitest'
import { checkArtifacts } from '../../scripts/compile-contracts-lib.js'

describe('CallProbe artifact', () => {
  it('is a fresh compile of contracts-abi/probe/CallProbe.sol', () => {
    expect(checkArtifacts('probe')).toEqual([])
  })
})
