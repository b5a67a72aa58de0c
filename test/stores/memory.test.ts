import { memoryStore } from '../../src/stores/memory.js'
import { describeStoreConformance } from './conformance.js'
import { describeCursorConformance } from './cursor-conformance.js'

describeStoreConformance('memory', () => memoryStore())
const cursors = memoryStore()
describeCursorConformance('memory', () => [cursors, cursors])
