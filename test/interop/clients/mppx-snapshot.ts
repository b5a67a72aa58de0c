// mppx 0.11's session snapshot codec (`Session.serializeSnapshot` /
// `deserializeSnapshot`, the ones its client's `storeSnapshotHeader` and
// server use), unmodified, as an oracle for src/session/v2/snapshot.ts: run by
// test/session/v2/snapshot.int.test.ts as a child process (mppx from this
// nested package).
//
// Argument: JSON { headers: string[], snapshots: object[] }. Prints one JSON
// line: { decoded: what deserializeSnapshot makes of each header (or
// { error }), serialized: serializeSnapshot of each snapshot }.
import { Session } from 'mppx/tempo'

type Input = { headers: string[]; snapshots: Parameters<typeof Session.serializeSnapshot>[0][] }

const input = JSON.parse(process.argv[2]!) as Input
const decoded = input.headers.map((header) => {
  try {
    return Session.deserializeSnapshot(header)
  } catch (error) {
    return { error: error instanceof Error ? error.name : String(error) }
  }
})
const serialized = input.snapshots.map((snapshot) => Session.serializeSnapshot(snapshot))
console.log(JSON.stringify({ decoded, serialized }))
