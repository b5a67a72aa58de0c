/**
 * Where the payment layer records used challenge ids, so a credential pays for
 * one response. Share one store between all instances of a deployment: single
 * use holds only as far as the store is shared.
 */
export interface ChallengeStore {
  /** True for the first caller of `id`; false for every later one. Entries may be forgotten after `expiresAt` (ms). */
  consumeChallenge(id: string, expiresAt: number): Promise<boolean>
  /**
   * Makes a consumed `id` usable again. The payment layer calls it when the
   * request that consumed it paid for nothing and was answered as retryable
   * (429, 503, …), so the identical request can be retried as promised.
   */
  releaseChallenge(id: string): Promise<void>
}
