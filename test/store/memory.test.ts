import { memoryStore } from '../../src/index.js'
import { describeStoreConformance } from './conformance.js'

describeStoreConformance('memory', () => memoryStore())
