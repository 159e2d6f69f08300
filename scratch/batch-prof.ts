import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer } from '../actors/peer.ts'
const CITIES = ['Lisbon', 'Oslo', 'Quito', 'Hanoi', 'Accra', 'Lima', 'Perth', 'Turku']
const person = (n: number) => ({ name: `person ${n}`, age: n % 90, email: `p${n}@example.org`, city: CITIES[n % CITIES.length]!, bio: 'x'.repeat(120) })
const peer = await createPeer({ path: await mkdtemp(join(tmpdir(), 'prof-')), snapshotEvery: 0, network: false })
const db = await peer.newStore()
await db.registerSchema('Person', { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 }, email: { type: 'string' }, city: { type: 'string' } }, required: ['name', 'age'] }, { indexes: [{ path: 'email', unique: true }, { path: 'city' }] })
const people = db.collection('Person')
let n = 0
const t0 = performance.now()
for (let round = 0; round < 40; round++) await Promise.all(Array.from({ length: 8 }, () => people.create(Array.from({ length: 100 }, () => person(n++)))))
const ms = performance.now() - t0
console.log(`${n} entities in ${ms.toFixed(0)} ms: ${Math.round(n / (ms / 1000))}/s`)
await peer.close()
