// The one piece of the `cloudflare:workers` module the gateway uses, typed from
// the importable (non-global) `@cloudflare/workers-types`. The global variant
// of those types would clash with @types/node in this single tsconfig.
declare module 'cloudflare:workers' {
  import type { CloudflareWorkersModule } from '@cloudflare/workers-types'

  export const DurableObject: typeof CloudflareWorkersModule.DurableObject
  export type DurableObject<Env = unknown> = CloudflareWorkersModule.DurableObject<Env>
}
