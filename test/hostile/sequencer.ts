// Vitest's file order, except that the hostile suite's ledger check
// (ledger.int.test.ts) runs after every other file: it checks what all of them
// did to the shared target.
import { BaseSequencer, type TestSpecification } from 'vitest/node'

const isLedger = (spec: TestSpecification) => spec.moduleId.endsWith('/test/hostile/ledger.int.test.ts')

export class LedgerLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    return [...sorted.filter((spec) => !isLedger(spec)), ...sorted.filter(isLedger)]
  }
}
