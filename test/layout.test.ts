// The architecture's rules, checked on the source itself: folders of src/
// depend on each other without cycles, the payment layer and the session
// engine know no web framework, and every test file that starts a real
// component (anvil, PostgreSQL, a child process) says so in its name.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

function files(dir: string, pattern: RegExp): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && pattern.test(entry.name) && !entry.parentPath.includes('node_modules'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
}

/** The modules a file imports (static, dynamic and re-exports): repo-relative paths for relative specifiers, package names otherwise. */
function importsOf(file: string): string[] {
  const source = readFileSync(join(root, file), 'utf8')
  const specifiers = [...source.matchAll(/(?:from\s+|import\s*\(\s*|^import\s+)'([^']+)'/gm)].map((match) => match[1]!)
  return specifiers.map((specifier) =>
    specifier.startsWith('.') ? relative(root, resolve(root, dirname(file), specifier)).replace(/\.js$/, '.ts') : specifier,
  )
}

/** The unit of the folder graph: a folder directly under src/, or a top-level file of src/ (an entry point). */
const unitOf = (file: string) => {
  const [, first, second] = file.split('/')
  return second === undefined ? `src/${first}` : `src/${first}/`
}

describe('layout of src/', () => {
  const sources = files('src', /\.ts$/)

  it('has no import cycle between its folders', () => {
    const edges = new Map<string, Set<string>>()
    for (const file of sources) {
      for (const target of importsOf(file).filter((path) => path.startsWith('src/'))) {
        const [from, to] = [unitOf(file), unitOf(target)]
        if (from !== to) edges.set(from, (edges.get(from) ?? new Set()).add(to))
      }
    }
    const cycles: string[] = []
    const state = new Map<string, 'visiting' | 'done'>()
    const visit = (unit: string, path: string[]) => {
      if (state.get(unit) === 'done') return
      if (state.get(unit) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(unit)), unit].join(' → '))
        return
      }
      state.set(unit, 'visiting')
      for (const next of edges.get(unit) ?? []) visit(next, [...path, unit])
      state.set(unit, 'done')
    }
    for (const unit of edges.keys()) visit(unit, [])
    expect(cycles).toEqual([])
    // The check sees the graph: the engine depends on the payment layer's ports, never the reverse.
    expect(edges.get('src/session/')?.has('src/payment/')).toBe(true)
    expect(edges.get('src/payment/')?.has('src/session/') ?? false).toBe(false)
  })

  it('keeps the payment layer, the session engine and the stores free of any web framework', () => {
    for (const file of sources.filter((path) => /^src\/(payment|session|stores|protocol|errors)\//.test(path))) {
      const framework = importsOf(file).filter((path) => /^hono($|\/)|^@hono\/|^src\/middleware\//.test(path))
      expect({ file, framework }).toEqual({ file, framework: [] })
    }
  })

  it('keeps the middleware away from store adapters and the engine (it talks to them through ports)', () => {
    for (const file of sources.filter((path) => path.startsWith('src/middleware/') || path.startsWith('src/payment/'))) {
      const adapters = importsOf(file).filter((path) => /^src\/(stores|session|escrow)\//.test(path))
      expect({ file, adapters }).toEqual({ file, adapters: [] })
    }
  })
})

describe('layout of test/', () => {
  // What starts a real component: the local chain and PostgreSQL harness, child processes, PGlite (PostgreSQL in
  // process), and the support modules built on them.
  const starters = [
    /^test\/harness\//,
    /^node:child_process$/,
    /^@electric-sql\/pglite$/,
    /^test\/support\/(cluster|fake-upstream|gateway|session|sql-store-extras)\.ts$/,
  ]
  const tests = files('test', /\.test\.ts$/).filter((file) => !file.startsWith('test/workers/'))

  /** Whether `file` imports, directly or through test/support, something that starts a component. */
  function starts(file: string, seen = new Set<string>()): boolean {
    if (seen.has(file)) return false
    seen.add(file)
    return importsOf(file).some(
      (target) => starters.some((starter) => starter.test(target)) || (target.startsWith('test/') && starts(target, seen)),
    )
  }

  it('names every test file that starts anvil, PostgreSQL or a process *.int.test.ts, and no other', () => {
    const misnamed = tests.filter((file) => starts(file) !== file.endsWith('.int.test.ts'))
    expect(misnamed).toEqual([])
    // Both kinds exist, so the rule is exercised.
    expect(tests.some((file) => file.endsWith('.int.test.ts'))).toBe(true)
    expect(tests.some((file) => !file.endsWith('.int.test.ts'))).toBe(true)
  })
})
