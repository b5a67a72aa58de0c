// Types for the workerd-only modules the tests import, from the importable
// (non-global) @cloudflare/workers-types: the global variant clashes with
// @types/node in this project's single tsconfig.
declare module 'cloudflare:workers' {
  import type { WorkerEnv } from '../../src/worker.js'

  /** The Worker's bindings: wrangler.toml plus the test bindings of vitest.workers.config.ts. */
  export const env: WorkerEnv
  /** The main module's exports as the runtime serves them. */
  export const exports: {
    default: {
      fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>
      /** Runs the Worker's `scheduled` handler as a Cron Trigger would. */
      scheduled(options?: { scheduledTime?: Date; cron?: string }): Promise<unknown>
    }
  }
}

declare module 'cloudflare:test' {
  import type { DurableObjectState, ScheduledController } from '@cloudflare/workers-types'

  /** Runs `callback` inside the Durable Object behind `stub`, with its instance and state (storage, alarms). */
  export function runInDurableObject<R>(
    stub: object,
    callback: (instance: unknown, state: DurableObjectState) => R | Promise<R>,
  ): Promise<R>
  /** Runs the alarm of the Durable Object behind `stub` now, if one is set; true if it ran. */
  export function runDurableObjectAlarm(stub: object): Promise<boolean>
  /** A `ScheduledController` for calling a module's `scheduled` handler directly. */
  export function createScheduledController(options?: { scheduledTime?: Date; cron?: string }): ScheduledController
}
