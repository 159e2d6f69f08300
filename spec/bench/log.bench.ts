import { randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { gcm } from '@noble/ciphers/aes.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import { decrypt, encrypt, randomSymmetricKey } from '../../codecs/aead.ts'
import { cidOf } from '../../codecs/block.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { createRecord, readRecordContent, verifyRecordBlocks, type RecordBlocks } from '../../codecs/record.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { createLogStore } from '../../storage/log-store.ts'
import { tempStorage } from '../helpers/temp-storage.ts'
import { measure, measureAsync, measureConcurrent, perSecond, report, type Measurement } from './measure.ts'

/**
 * The log's write and read paths against their floors: the summed cost of the primitives one record cannot
 * avoid, each measured on its own in the same run, on the same sizes a real record has.
 */

const BODY = { _id: '01JD8Y7K3W', collection: 'Person', patch: [{ op: 'add', path: '/bio', value: 'x'.repeat(220) }] }

function sample (): { blocks: RecordBlocks, threadKey: ThreadKey, logKey: Ed25519PrivateKey, plaintexts: Uint8Array[] } {
  const threadKey = ThreadKey.random()
  const logKey = Ed25519PrivateKey.generate()
  const first = createRecord({ body: BODY, time: { wall: Date.now(), counter: 0 }, logKey, threadKey })
  const second = createRecord({ body: BODY, time: { wall: Date.now(), counter: 1 }, prev: first.node.cid, logKey, threadKey })
  const { blocks } = second
  const plaintexts = [
    dagCbor.decode<Uint8Array>(blocks.body.bytes),
    dagCbor.decode<Uint8Array>(blocks.header.bytes),
    dagCbor.decode<Uint8Array>(blocks.record.bytes)
  ].map(sealed => new Uint8Array(sealed.length - 28))
  return { blocks, threadKey, logKey, plaintexts }
}

export async function run (): Promise<void> {
  const { blocks, threadKey, logKey, plaintexts } = sample()
  const signedPayload = new Uint8Array(72)
  const signature = logKey.sign(signedPayload)
  const nodes = [BODY, { key: new Uint8Array(32), time: [Date.now(), 0] }, { body: blocks.body.cid, header: blocks.header.cid }, { block: blocks.event.cid, sig: signature, pubKey: new Uint8Array(36), prev: blocks.record.cid }]
  const sealed = plaintexts.map(p => encrypt(threadKey.service, p))
  const allBlocks = Object.values(blocks).map(b => b.bytes)

  const choices = [
    measure('ed25519 sign, node:crypto (used)', () => logKey.sign(signedPayload)),
    measure('ed25519 sign, @noble/curves', () => ed25519.sign(signedPayload, logKey.seed), 200),
    measure('ed25519 verify, node:crypto (used)', () => logKey.publicKey.verify(signedPayload, signature)),
    measure('ed25519 verify, @noble/curves', () => ed25519.verify(signature, signedPayload, logKey.publicKey.bytes), 200),
    measure('aes-256-gcm 300 B, node:crypto (used)', () => encrypt(threadKey.service, plaintexts[0]!)),
    measure('aes-256-gcm 300 B, @noble/ciphers', () => gcm(threadKey.service, randomBytes(12)).encrypt(plaintexts[0]!))
  ]
  report('Primitive choices (median per op)', choices)

  const sign = measure('1 × ed25519 sign', () => logKey.sign(signedPayload))
  const encryptions = measure('3 × aes-256-gcm encrypt (body, header, record)', () => {
    encrypt(randomSymmetricKey(), plaintexts[0]!)
    encrypt(threadKey.read!, plaintexts[1]!)
    encrypt(threadKey.service, plaintexts[2]!)
  })
  const hashes = measure('4 × sha2-256 (the four block CIDs)', () => { for (const bytes of allBlocks) cidOf(bytes) })
  // The three ciphertexts' byte-string heads are written by hand, for next to nothing: only the nodes are encoded.
  const encodings = measure('4 × dag-cbor encode (the nodes)', () => {
    for (const node of nodes) dagCbor.encode(node)
  })
  const verify = measure('1 × ed25519 verify', () => logKey.publicKey.verify(signedPayload, signature))
  const contentKey = randomSymmetricKey()
  const sealedBody = encrypt(contentKey, plaintexts[0]!)
  const decryptions = measure('3 × aes-256-gcm decrypt', () => {
    decrypt(Uint8Array.from(contentKey), sealedBody)
    decrypt(threadKey.service, sealed[1]!)
    decrypt(threadKey.service, sealed[2]!)
  })
  const plaintextNodes = nodes.slice(1).map(node => dagCbor.encode(node))
  const decodings = measure('4 × dag-cbor decode (the event block, 3 plaintexts)', () => {
    dagCbor.decode(blocks.event.bytes)
    for (const bytes of plaintextNodes) dagCbor.decode(bytes)
  })

  const temp = await tempStorage('threads-bench-')
  try {
    const storage = temp.storage
    const records = storage.valueDatabase<unknown>('bench-records')
    const heads = storage.valueDatabase<unknown>('bench-heads')
    const cidKeys = Array.from({ length: 12_000 }, (_, i) => cidOf(Uint8Array.from([i & 0xff, (i >> 8) & 0xff, 1])).toString())
    let n = 0
    // What one record must write: its four blocks' bytes, one entry finding it by CID, and the head.
    const commitOne = (): Promise<void> => storage.transaction(() => {
      n++
      records.putSync(['t', 'l', n], [blocks.record.cid.bytes, ...allBlocks])
      records.putSync(['t', 'l', cidKeys[n % cidKeys.length]!], n)
      heads.putSync(['t', 'l'], { cid: blocks.record.cid.bytes, counter: n, time: [Date.now(), 0] })
    })
    const commitSequential = await measureAsync('1 × LMDB commit, awaited before the next', commitOne, 500)
    const commitConcurrent = await measureConcurrent('1 × LMDB commit, 64 in flight (group commit)', commitOne, 4000)
    report('Primitives one record cannot avoid', [sign, encryptions, hashes, encodings, verify, decryptions, decodings, commitSequential, commitConcurrent])

    const cpuWrite = sign.micros + encryptions.micros + hashes.micros + encodings.micros
    const cpuRead = verify.micros + decryptions.micros + hashes.micros + decodings.micros

    const store = createLogStore({ storage })
    const thread = await store.createThread()
    const log = await store.createLog(thread.id)
    const build = measure('build + encrypt + sign a record (no storage)', () =>
      createRecord({ body: BODY, time: { wall: Date.now(), counter: 0 }, prev: blocks.record.cid, logKey, threadKey }))
    const appendSequential = await measureAsync('append, awaited one by one (one commit each)', () => store.append(thread.id, log.id, BODY), 500)
    const appendConcurrent = await measureConcurrent('append, 64 in flight (own child txn each)', () => store.append(thread.id, log.id, BODY), 4000)
    const readCpu = measure('verify + decrypt + decode a record (no storage)', () => {
      verifyRecordBlocks(blocks, threadKey.service, logKey.publicKey)
      readRecordContent(blocks, threadKey.read!)
    })

    const reader = createLogStore({ storage })
    const copy = await reader.addThread(ThreadId.create(), thread.key)
    await reader.addLog(copy.id, log.publicKey)
    // Enough for both accept measurements, warm-ups and rounds included.
    const source = store.records(thread.id, log.id, { limit: 10_000 })
    let at = 0
    const acceptNext = (): Promise<unknown> => reader.accept(copy.id, log.id, source[at++]!.blocks)
    const acceptSequential = await measureAsync('accept, awaited one by one', acceptNext, 1000, 1)
    const acceptConcurrent = await measureConcurrent('accept, 64 in flight', acceptNext, 2500)

    report('Write path', [
      { name: 'floor, CPU only (sign + 3 enc + 4 hash + 4 encode)', micros: cpuWrite },
      build,
      { name: 'floor with an awaited commit', micros: cpuWrite + commitSequential.micros },
      appendSequential,
      { name: 'floor with a group commit', micros: cpuWrite + commitConcurrent.micros },
      appendConcurrent
    ])
    report('Read path', [
      { name: 'floor, CPU only (verify + 3 dec + 4 hash + 4 decode)', micros: cpuRead },
      readCpu,
      { name: 'floor with an awaited commit', micros: cpuRead + commitSequential.micros },
      acceptSequential,
      { name: 'floor with a group commit', micros: cpuRead + commitConcurrent.micros },
      acceptConcurrent
    ])
    // Reading our own store back trusts what it verified on the way in: no signatures, no hashes.
    const page = 500
    const readBack = measure(`read back a stored log, ${page} per page (records + content)`, () => {
      for (const record of store.records(thread.id, log.id, { from: 1, limit: page })) store.content(record)
    }, 4, 5)
    report('Reading a stored log', [
      { name: 'floor, CPU only (3 dec + 4 decode)', micros: decryptions.micros + decodings.micros },
      { name: readBack.name, micros: readBack.micros / page }
    ])
    const ratio = (full: Measurement, floor: number): number => full.micros / floor
    const verdict = (met: boolean): string => (met ? 'met' : 'MISSED')
    const lines: Array<[string, Measurement, number]> = [
      ['append, awaited', appendSequential, cpuWrite + commitSequential.micros],
      ['append, in flight', appendConcurrent, cpuWrite + commitConcurrent.micros],
      ['accept, awaited', acceptSequential, cpuRead + commitSequential.micros],
      ['accept, in flight', acceptConcurrent, cpuRead + commitConcurrent.micros]
    ]
    console.log('\nTargets: full path ≤ 1.5× its floor; appends ≥ 3,000 records/s')
    for (const [name, full, floor] of lines) {
      console.log(`  ${name.padEnd(20)} ${ratio(full, floor).toFixed(2)}× floor  ${verdict(ratio(full, floor) <= 1.5)}`)
    }
    console.log(`  appends in flight    ${perSecond(appendConcurrent.micros)} records/s  ${verdict(perSecond(appendConcurrent.micros) >= 3000)}` +
      ` (awaited one by one: ${perSecond(appendSequential.micros)}/s, bounded by one durable commit)`)
  } finally {
    await temp.dispose()
  }
}

if (import.meta.main) await run()
