// Everything the bench starts (anvil, PostgreSQL, server and client processes)
// is registered here and killed if the bench exits early, by error or by signal:
// a run leaves nothing behind.

type Killable = { kill: (signal?: NodeJS.Signals) => unknown }

const running = new Set<Killable>()
let installed = false

function killAll() {
  for (const item of running) {
    try {
      item.kill('SIGKILL')
    } catch {
      // Already gone; go on with the rest.
    }
  }
}

function install() {
  if (installed) return
  installed = true
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      killAll()
      process.exit(signal === 'SIGINT' ? 130 : 143)
    })
  }
}

/** Registers a process (or anything with `kill`) to be killed if the bench exits before it is stopped. */
export function track<T extends Killable>(item: T): T {
  install()
  running.add(item)
  return item
}

export function untrack(item: Killable) {
  running.delete(item)
}
