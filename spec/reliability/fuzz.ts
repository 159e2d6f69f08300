import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encode } from '@ipld/dag-cbor'
import { base58btc } from 'multiformats/bases/base58'
import { encrypt } from '../../codecs/aead.ts'
import { parseLogAddress, parseThreadAddress, logAddress, threadAddress } from '../../codecs/address.ts'
import { cidOf, decodeNode, encodeBlock, type Block } from '../../codecs/block.ts'
import { encodeRecordBody, parseRecordBody } from '../../codecs/event-codec.ts'
import { Invite } from '../../codecs/invite.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { ThreadsError } from '../../codecs/errors.ts'
import { Query, Where } from '../../codecs/query.ts'
import { createRecord, openEvent, openHeader, openRecord, readRecordContent, verifyRecordBlocks, type RecordBlocks } from '../../codecs/record.ts'
import { ThreadId } from '../../codecs/thread-id.ts'
import { ThreadKey } from '../../codecs/thread-key.ts'
import { decodeGossip, decodeRequest, decodeResponse, encodeGossip, frame, readFrame, serviceKeyProof } from '../../codecs/wire.ts'
import { seededRandom } from '../helpers/seeded-random.ts'

/**
 * Seeded fuzzing of everything that decodes bytes from outside: each target is a row of `FUZZ_TARGETS` (valid
 * samples and a decode), and every input is a sample mutated by a seeded generator, so a run is reproducible
 * from its seed, but for the record samples, whose ciphertexts are drawn afresh each run. A decode may succeed or
 * throw a `ThreadsError`; anything else is a bug, and its input is kept whole under `regressions/`, to be replayed
 * exactly by every later run.
 */

export interface FuzzTarget {
  readonly name: string
  /** Well-formed inputs the mutations start from. */
  readonly samples: readonly Uint8Array[]
  /** Decodes one input; returns normally for a valid decode, throws a `ThreadsError` to refuse it. */
  readonly decode: (input: Uint8Array) => void
}

export interface FuzzFailure {
  readonly target: string
  readonly input: Uint8Array
  readonly error: string
}

export interface FuzzReport {
  readonly target: string
  readonly inputs: number
  readonly decoded: number
  readonly refused: number
  readonly failures: readonly FuzzFailure[]
  readonly ms: number
}

/** Bytes that sit on decoder boundaries: CBOR major types and lengths, varint continuations, multibase prefixes. */
const INTERESTING = [0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x40, 0x58, 0x5f, 0x60, 0x78, 0x7f, 0x80, 0x9f, 0xa0,
  0xbf, 0xd8, 0x2a, 0xf4, 0xf5, 0xf6, 0xf7, 0xf9, 0xfa, 0xfb, 0xff, 0x62, 0x7a, 0x2f, 0x55, 0x70]

/** One input: a sample changed by one to four mutations, or, now and then, random bytes. */
export function mutate (samples: readonly Uint8Array[], random: () => number): Uint8Array {
  const pick = (n: number): number => Math.floor(random() * n)
  if (random() < 0.03) return Uint8Array.from({ length: pick(96) }, () => pick(256))
  let bytes = Array.from(samples[pick(samples.length)]!)
  const rounds = 1 + pick(4)
  for (let round = 0; round < rounds; round++) {
    const at = pick(bytes.length + 1)
    switch (pick(8)) {
      case 0: if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)]! ^= 1 << pick(8); break
      case 1: if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = pick(256); break
      case 2: if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = INTERESTING[pick(INTERESTING.length)]!; break
      case 3: bytes.splice(at, 0, ...Array.from({ length: 1 + pick(8) }, () => pick(256))); break
      case 4: bytes.splice(at, 1 + pick(16)); break
      case 5: bytes = bytes.slice(0, at); break
      case 6: {
        // A run of another sample spliced in: fields of one message in the place of another's.
        const other = samples[pick(samples.length)]!
        const from = pick(other.length)
        bytes.splice(at, pick(8), ...other.subarray(from, from + 1 + pick(32)))
        break
      }
      case 7: {
        const from = pick(bytes.length)
        bytes.splice(at, 0, ...bytes.slice(from, from + 1 + pick(16)))
        break
      }
    }
  }
  return Uint8Array.from(bytes)
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

/**
 * Runs every parse of one input; each may refuse it with a `ThreadsError`, and any other throw escapes at once.
 * The input counts as decoded when some parse took it.
 */
function everyParse (parses: ReadonlyArray<() => unknown>): void {
  let refusal: ThreadsError | undefined
  let taken = false
  for (const parse of parses) {
    try {
      parse()
      taken = true
    } catch (error) {
      if (!(error instanceof ThreadsError)) throw error
      refusal ??= error
    }
  }
  if (!taken && refusal !== undefined) throw refusal
}
const utf8 = (value: string): Uint8Array => new TextEncoder().encode(value)

/**
 * Keys and IDs are fixed, so a saved input decodes the same way in every later run. Ciphertexts are not (each
 * record draws fresh nonces and content keys), which varies the record samples from run to run; a failing input is
 * saved as it was, and replays exactly.
 */
const KEY = ThreadKey.of(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2))
const LOG_KEY = Ed25519PrivateKey.fromSeed(new Uint8Array(32).fill(3))
/** Who invites and who is invited, fixed like every key here. */
const INVITER_KEY = Ed25519PrivateKey.fromSeed(new Uint8Array(32).fill(5))
const INVITEE_KEY = Ed25519PrivateKey.fromSeed(new Uint8Array(32).fill(6))
const THREAD_ID = ThreadId.fromBytes(Uint8Array.from([0x01, 0x55, ...new Uint8Array(32).fill(4)]))
const ACL_THREAD_ID = ThreadId.fromBytes(Uint8Array.from([0x01, 0x70, ...new Uint8Array(16).fill(5)]))

function recordSamples (): { key: ThreadKey, logKey: Ed25519PrivateKey, records: RecordBlocks[] } {
  const key = KEY
  const logKey = LOG_KEY
  const first = createRecord({ body: { codec: 'json-patch', events: utf8('[{"op":"add","path":"/a","value":1}]') }, time: { wall: 1, counter: 0 }, logKey, threadKey: key })
  const second = createRecord({ body: { n: 2, list: [1, 'two', null], nested: { deep: true } }, time: { wall: 2, counter: 7 }, prev: first.node.cid, logKey, threadKey: key })
  return { key, logKey, records: [first.blocks, second.blocks] }
}

/** The targets, one row each. Adding a decoder to fuzz is adding a row. */
export function fuzzTargets (): FuzzTarget[] {
  const { key, logKey, records } = recordSamples()
  const threadId = THREAD_ID
  const acl = ACL_THREAD_ID
  const proof = serviceKeyProof(key.service, logKey.publicKey.logId, threadId)
  const peer = `/ip4/127.0.0.1/tcp/4001/p2p/${logKey.publicKey.logId}`
  const messages = [
    frame({ type: 'get-edges', threads: [{ threadId, proof }, { threadId: acl, proof }] }),
    frame({ type: 'get-records', threadId, proof, logs: [{ logId: logKey.publicKey.logId, from: 1, limit: 100 }] }),
    frame({ type: 'push-records', threadId, proof, logId: logKey.publicKey.logId, records }),
    encodeGossip({ threadId, logId: logKey.publicKey.logId, records }),
    frame({ type: 'push-log', threadId, proof, logId: logKey.publicKey.logId, addrs: [new Uint8Array([4, 127, 0, 0, 1, 6, 15, 161])] }),
    frame({ type: 'replicate', threadId, sealedKey: new Uint8Array(92).fill(7) }),
    frame({ type: 'edges', edges: [{ threadId, heads: 'ab'.repeat(16) }] }),
    frame({ type: 'logs', logs: [{ logId: logKey.publicKey.logId, counter: 3, head: records[1]!.record.cid, addrs: [] }] }),
    frame({ type: 'records', logs: [{ logId: logKey.publicKey.logId, records }] }),
    frame({ type: 'error', code: 'ERR_LOG_FORK', message: 'forked' })
  ]
  // The plaintext inside a record block, encrypted after mutation, so mutations reach the record's shape checks
  // and not only the cipher's tag.
  const recordPlaintexts = records.map(blocks => encode({ block: cidOf(blocks.event.bytes), sig: new Uint8Array(64).fill(1), pubKey: logKey.publicKey.marshal(), prev: blocks.record.cid }))
  const headerPlaintexts = [encode({ key: new Uint8Array(32).fill(3), time: [1, 0] }), encode({ key: new Uint8Array(32).fill(3) })]
  const sealed = (key: Uint8Array, plaintext: Uint8Array): Block => encodeBlock(encrypt(key, plaintext))
  const blocksOf = (bytes: Uint8Array): RecordBlocks => {
    // Four blocks back to back, each prefixed by its length byte pair: how the record target's input is laid out.
    const parts: Uint8Array[] = []
    let at = 0
    for (let i = 0; i < 4; i++) {
      const length = ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0)
      parts.push(bytes.subarray(at + 2, at + 2 + length))
      at += 2 + length
    }
    const [record, event, header, body] = parts.map(part => ({ cid: cidOf(part), bytes: part }))
    return { record: record!, event: event!, header: header!, body: body! }
  }
  const layOut = (blocks: RecordBlocks): Uint8Array => {
    const parts = [blocks.record, blocks.event, blocks.header, blocks.body].flatMap(block => [new Uint8Array([block.bytes.length >> 8, block.bytes.length & 0xff]), block.bytes])
    return Uint8Array.from(parts.flatMap(part => [...part]))
  }

  return [
    {
      name: 'record blocks',
      samples: records.map(layOut),
      decode: input => {
        const blocks = blocksOf(input)
        verifyRecordBlocks(blocks, key.service, logKey.publicKey)
        readRecordContent(blocks, key.read!)
      }
    },
    {
      name: 'record, event and header nodes',
      samples: [...recordPlaintexts, ...headerPlaintexts, ...records.map(blocks => blocks.event.bytes)],
      decode: input => {
        everyParse([
          () => openRecord(sealed(key.service, input), key.service),
          () => openHeader(sealed(key.read!, input), key.read!),
          () => openEvent({ cid: cidOf(input), bytes: input })
        ])
      }
    },
    {
      name: 'wire messages',
      samples: messages,
      decode: input => {
        // Framed, as a stream delivers it, and bare, as gossip delivers a message.
        const unframed = (): Uint8Array => readFrame(input)?.bytes ?? input
        everyParse([() => decodeRequest(unframed()), () => decodeResponse(unframed()), () => decodeRequest(input), () => decodeResponse(input), () => decodeGossip(input)])
      }
    },
    {
      name: 'thread IDs',
      samples: [threadId.bytes, acl.bytes, utf8(threadId.toString()), utf8(acl.toString()), utf8(threadId.toString(base58btc))],
      decode: input => { everyParse([() => ThreadId.fromBytes(input), () => ThreadId.fromString(text(input))]) }
    },
    {
      name: 'addresses',
      samples: [
        threadAddress(peer, threadId).bytes, logAddress(peer, logKey.publicKey.logId).bytes,
        utf8(threadAddress(peer, threadId).toString()), utf8(logAddress(peer, logKey.publicKey.logId).toString())
      ],
      decode: input => {
        everyParse([parseThreadAddress, parseLogAddress].flatMap(parse => [() => parse(input), () => parse(text(input))]))
      }
    },
    {
      name: 'invites',
      samples: (['write', 'read', 'replicate'] as const).map(role => {
        const invite = Invite.seal({
          id: `fuzz-${role}`, threadId, inviter: INVITER_KEY.publicKey.logId, inviterLog: logKey.publicKey.logId, invitee: INVITEE_KEY.publicKey.logId,
          role, expires: 4_000_000_000_000, key: role === 'replicate' ? key.serviceOnly() : key,
          logs: [{ id: logKey.publicKey.logId, addrs: [new Uint8Array([4, 127, 0, 0, 1])] }], time: { wall: 1, counter: 0 }, token: new Uint8Array(32).fill(9),
          acl: { default: 'no-access', peers: { [INVITER_KEY.publicKey.logId]: ['write', 'delete'] } }
        }, INVITER_KEY)
        return invite.bytes
      }),
      decode: input => { everyParse([() => Invite.fromBytes(input).open(INVITEE_KEY), () => Invite.from(text(input)).open(INVITEE_KEY)]) }
    },
    {
      name: 'record bodies with control events',
      samples: [
        encode(encodeRecordBody({ codec: 'json-patch', events: [{ type: 'create', collection: 'Note', id: 'n1', patch: [{ op: 'replace', path: '', value: { _id: 'n1' } }] }], control: [
          { type: 'invite', id: 'i1', invitee: INVITEE_KEY.publicKey.logId, role: 'write', expires: 1, tokenHash: 'ab'.repeat(32) },
          { type: 'acl', op: 'grant', target: { kind: 'entity', collection: 'Note', id: 'n1' }, peer: INVITEE_KEY.publicKey.logId, roles: ['write'], observed: ['1/0/x/-1'] }
        ] })),
        encode(encodeRecordBody({ codec: 'json-patch', events: [], control: [
          { type: 'join', invite: 'i1', inviterLog: logKey.publicKey.logId, peer: INVITEE_KEY.publicKey.logId, token: '09'.repeat(32), binding: 'cd'.repeat(64) },
          { type: 'genesis', peer: INVITER_KEY.publicKey.logId, nonce: '01'.repeat(16), binding: 'cd'.repeat(64), default: 'read' }
        ] }))
      ],
      decode: input => { parseRecordBody(decodeNode(input, 'record body')) }
    },
    {
      name: 'queries',
      samples: [
        Query.where('age').ge(60).and('age').lt(66).or(new Where('age').eq(67)).orderBy('age').skip(1).limit(10),
        Query.where('address.city').eq('Paris').orderByDesc('name'),
        Query.where('flag').ne(null).or(Query.where('n').le(-1.5).or(Query.where('s').gt('x')))
      ].map(query => utf8(JSON.stringify(query.toJSON()))),
      decode: input => {
        let value: unknown
        try {
          value = JSON.parse(text(input))
        } catch {
          value = text(input)
        }
        Query.parse(value)
      }
    }
  ]
}

/** Decodes one input; a `ThreadsError` is a refusal, anything else a failure to report. */
function attempt (target: FuzzTarget, input: Uint8Array): 'decoded' | 'refused' | FuzzFailure {
  try {
    target.decode(input)
    return 'decoded'
  } catch (error) {
    if (error instanceof ThreadsError) return 'refused'
    return { target: target.name, input, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }
  }
}

export function fuzz (target: FuzzTarget, options: { inputs: number, seed: number }): FuzzReport {
  const random = seededRandom(options.seed)
  const started = performance.now()
  let decoded = 0
  let refused = 0
  const failures: FuzzFailure[] = []
  for (let i = 0; i < options.inputs; i++) {
    const outcome = attempt(target, mutate(target.samples, random))
    if (outcome === 'decoded') decoded++
    else if (outcome === 'refused') refused++
    else failures.push(outcome)
  }
  return { target: target.name, inputs: options.inputs, decoded, refused, failures, ms: performance.now() - started }
}

export const REGRESSIONS = fileURLToPath(new URL('./regressions/', import.meta.url))

const fileName = (failure: FuzzFailure): string =>
  `${failure.target.replace(/[^a-z0-9]+/gi, '-')}-${createHash('sha256').update(failure.input).digest('hex').slice(0, 16)}.json`

/** Keeps a failing input where every later run replays it. */
export async function saveRegression (failure: FuzzFailure): Promise<string> {
  await mkdir(REGRESSIONS, { recursive: true })
  const path = join(REGRESSIONS, fileName(failure))
  await writeFile(path, `${JSON.stringify({ target: failure.target, input: Buffer.from(failure.input).toString('hex'), error: failure.error }, null, 2)}\n`)
  return path
}

/** Replays every saved input against its target: each must now decode or be refused with a typed error. */
export async function replayRegressions (targets: readonly FuzzTarget[]): Promise<{ replayed: number, failures: FuzzFailure[] }> {
  const names = (await readdir(REGRESSIONS).catch(() => [] as string[])).filter(name => name.endsWith('.json')).sort()
  const failures: FuzzFailure[] = []
  for (const name of names) {
    const saved = JSON.parse(await readFile(join(REGRESSIONS, name), 'utf8')) as { target: string, input: string }
    const target = targets.find(candidate => candidate.name === saved.target)
    if (target === undefined) throw new Error(`regression ${name} names no fuzz target ${JSON.stringify(saved.target)}`)
    const outcome = attempt(target, Uint8Array.from(Buffer.from(saved.input, 'hex')))
    if (typeof outcome === 'object') failures.push(outcome)
  }
  return { replayed: names.length, failures }
}
