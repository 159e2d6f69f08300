import { CID, type Block } from '../codecs/block.ts'
import { Ed25519PrivateKey, Ed25519PublicKey } from '../codecs/ed25519.ts'
import { InvalidClockError, ThreadsError } from '../codecs/errors.ts'
import { compareTimestamps, HybridClock, type Timestamp } from '../codecs/hlc.ts'
import {
  createRecord, openEvent, openRecord, openRecordBlocks, readRecordContent, verifyRecordBlocks, verifyRecordSignature, verifyRecordSignatureInParallel, assertBlockLimits,
  DEFAULT_BLOCK_LIMITS, type BlockLimits, type RecordBlocks, type RecordContent, type RecordNode, type VerifyOptions, type CreatedRecord
} from '../codecs/record.ts'
import { ThreadId, type ThreadVariant } from '../codecs/thread-id.ts'
import { ThreadKey } from '../codecs/thread-key.ts'
import { recordWireBytes } from '../codecs/wire.ts'
import { createAddrBook, type AddrBook } from './addr-book.ts'
import {
  CorruptLogError, ForkedLogError, StorageClosedError, MissingAncestorError, MissingKeyError, ReplayedRecordError,
  UnknownLogError, UnknownThreadError
} from './errors.ts'
import { createHeadBook, type Head, type HeadBook } from './head-book.ts'
import { createKeyBook, type KeyBook } from './key-book.ts'
import { createMetadataBook, type MetadataBook } from './metadata-book.ts'
import { settle } from './settled.ts'
import { removeKeysUnder, type Storage } from './storage.ts'
import { createTurns } from './turns.ts'

/**
 * The log API over the books: author records in our own logs, accept records of other logs, read and verify
 * logs. Every write is one LMDB transaction that stores the record's four blocks, indexes it by CID, and advances
 * the head; it commits whole or not at all, and nothing is written before a record has passed every check that
 * can be made without the database.
 *
 * A record's blocks are stored together under the log's next counter rather than one by one under their CIDs:
 * a log only grows at its tail, so a write touches the last page instead of four random ones, and reading a log
 * forwards is a sequential scan. The CIDs stay checkable: the record's is stored beside it, the others are the
 * links inside it, and every read and verification re-derives them.
 */

export interface LogStoreInit {
  storage: Storage
  limits?: BlockLimits
  /** Wall-clock source for the hybrid logical clock and address expiry. */
  now?: () => number
}

export interface LogInfo {
  readonly id: string
  readonly publicKey: Ed25519PublicKey
  /** Present for logs this peer writes. */
  readonly privateKey?: Ed25519PrivateKey
  readonly head: Head
}

export interface ThreadInfo {
  readonly id: ThreadId
  readonly key: ThreadKey
  readonly logs: LogInfo[]
}

/** A record as stored in a log: its place (counter), its opened record node and its four blocks. */
export interface StoredRecord {
  readonly threadId: ThreadId
  readonly logId: string
  readonly counter: number
  readonly cid: CID
  readonly node: RecordNode
  readonly blocks: RecordBlocks
}

/** An accepted record, with its content when this peer holds the read key. */
export interface AcceptedRecord extends StoredRecord {
  readonly content?: RecordContent
}

/**
 * A record of someone's log that passed every check needing no database (sizes, hashes, decryption, links,
 * signature, and for a reader its content and clock), ready to be linked at the log's head.
 */
export interface CheckedRecord {
  readonly threadId: ThreadId
  readonly logId: string
  readonly blocks: RecordBlocks
  readonly node: RecordNode
  readonly content?: RecordContent
}

export interface ReadLogOptions {
  /** Start here (inclusive): a counter or a record CID. Defaults to the first record, or the head backwards. */
  from?: number | CID
  direction?: 'forward' | 'backward'
  limit?: number
  /** The most bytes the records may take in a message (`recordWireBytes`); the first record comes whatever its size. */
  maxBytes?: number
}

export interface VerifiedLog {
  readonly records: number
  readonly head: Head
}

export interface AddLogOptions {
  /**
   * The log was written by the reference implementation, whose first record is signed over its `pubKey` field
   * only: accept that signature for this log's first record. Such a signature binds no event, so any holder of
   * the service key could forge that record; set it only for logs known to come from the reference.
   */
  legacyFirstRecordSignature?: boolean
}

export interface CreateThreadOptions {
  id?: ThreadId
  variant?: ThreadVariant
  key?: ThreadKey
}

export interface LogStore {
  readonly clock: HybridClock
  readonly heads: HeadBook
  readonly keys: KeyBook
  readonly addrs: AddrBook
  readonly metadata: MetadataBook
  createThread (options?: CreateThreadOptions): Promise<ThreadInfo>
  /** Adds a thread known from elsewhere (an address and key); adding it again with the same key is a no-op. */
  addThread (threadId: ThreadId, key: ThreadKey): Promise<ThreadInfo>
  getThread (threadId: ThreadId): ThreadInfo
  hasThread (threadId: ThreadId): boolean
  /** The thread's keys, without reading its logs; throws `UnknownThreadError` when the thread is not held. */
  threadKey (threadId: ThreadId): ThreadKey
  /** Whether the log's public key is held, so its records can be checked. */
  hasLog (threadId: ThreadId, logId: string): boolean
  threads (): ThreadId[]
  /** A new log of our own in the thread, with a fresh key unless one is given. */
  createLog (threadId: ThreadId, key?: Ed25519PrivateKey): Promise<LogInfo>
  /** Someone else's log, known by its public key. */
  addLog (threadId: ThreadId, publicKey: Ed25519PublicKey, options?: AddLogOptions): Promise<LogInfo>
  /**
   * Someone else's log, brought by a record of it, once the record proves it: sealed with the thread's service key
   * and signed with the key the log's ID names. Anyone can make a log ID; only a holder of the service key can make
   * such a record.
   */
  addLogOf (threadId: ThreadId, logId: string, blocks: RecordBlocks): Promise<LogInfo>
  getLog (threadId: ThreadId, logId: string): LogInfo
  head (threadId: ThreadId, logId: string): Head
  edge (threadId: ThreadId): string
  /** Builds, encrypts, signs and persists a record carrying `body` at the head of one of our logs. */
  append (threadId: ThreadId, logId: string, body: unknown): Promise<StoredRecord>
  /**
   * The same, inside the caller's transaction (`storage.transaction`), so the record commits together with
   * whatever else the caller writes. Not to be mixed with `append` calls still in flight on the same log.
   */
  appendWithin (threadId: ThreadId, logId: string, body: unknown, time?: Timestamp): StoredRecord
  /**
   * Stores a record of someone's log if it decrypts, verifies, and links to the current head. Records of a log
   * accepted side by side are linked in the order `accept` was called.
   */
  accept (threadId: ThreadId, logId: string, blocks: RecordBlocks): Promise<AcceptedRecord>
  /**
   * Checks a record of someone's log, its signature on the thread pool: many checks in flight use every core,
   * and none holds a transaction.
   */
  check (threadId: ThreadId, logId: string, blocks: RecordBlocks): Promise<CheckedRecord>
  /** Links a record `check` passed at the head of its log, inside the caller's transaction. */
  acceptWithin (record: CheckedRecord): AcceptedRecord
  record (threadId: ThreadId, logId: string, at: number | CID): StoredRecord | undefined
  records (threadId: ThreadId, logId: string, options?: ReadLogOptions): StoredRecord[]
  /** Opens a record's header and body with the thread's read key. */
  content (record: StoredRecord): RecordContent
  /** Re-reads and re-checks a whole log from head to first record; throws `CorruptLogError` on any fault. */
  verifyLog (threadId: ThreadId, logId: string): VerifiedLog
  /**
   * Removes the thread: its key, its logs' keys, records, heads and addresses, and its metadata. Call inside
   * `storage.transaction`, with whatever else of the thread goes too.
   */
  dropThreadWithin (threadId: ThreadId): void
}

/**
 * `[record, event, header, body]` CIDs then the same blocks' bytes: one stored record. The CIDs are kept so that a
 * record is served without being decrypted; whoever takes it re-hashes every block against them. Records stored
 * before the CIDs were kept are `[record CID, record, event, header, body]`, their other CIDs read from the links.
 */
type PackedRecord =
  | [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array]
  | [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array]

export function createLogStore (init: LogStoreInit): LogStore {
  const { storage } = init
  const limits = init.limits ?? DEFAULT_BLOCK_LIMITS
  const heads = createHeadBook(storage)
  const keys = createKeyBook(storage)
  const addrs = createAddrBook(storage, { now: init.now })
  const metadata = createMetadataBook(storage)
  // One database, two key shapes: [tid, logId, counter] → the packed record, [tid, logId, cid string] → counter.
  // Numbers sort before strings, so a counter range never meets a CID key.
  const index = storage.valueDatabase<PackedRecord | number>('log-records')
  const clock = new HybridClock({ last: heads.latestTime(), now: init.now })

  // Keys never change once stored, and deriving them (KeyObjects, public keys) costs more than a signature.
  const threadKeys = new Map<string, ThreadKey>()
  const privateKeys = new Map<string, Ed25519PrivateKey>()
  const publicKeys = new Map<string, Ed25519PublicKey>()
  // The head an in-flight append built on, per log, so the next append can be built before the last commits.
  const tips = new Map<string, Head>()

  const legacyName = (logId: string): string => `log/${logId}/legacy-first-record-signature`
  const verifyOptionsOf = (threadId: ThreadId, logId: string): VerifyOptions =>
    ({ limits, legacyFirstRecordSignature: metadata.get(threadId, legacyName(logId)) === true })

  const assertOpen = (): void => {
    if (storage.closed) throw new StorageClosedError(`storage at ${storage.path} is closed`)
  }

  const threadKeyOf = (threadId: ThreadId): ThreadKey => {
    const tid = threadId.toString()
    let key = threadKeys.get(tid)
    if (key === undefined) {
      key = keys.threadKey(threadId)
      if (key === undefined) throw new UnknownThreadError(`thread ${tid} is not held here`)
      threadKeys.set(tid, key)
    }
    return key
  }

  /**
   * Refuses a write for a thread no longer stored, read inside the write's transaction: one checked before it was
   * queued may land after the thread was dropped, and would leave its keys or records behind.
   */
  const assertHeldWithin = (threadId: ThreadId): void => {
    if (keys.serviceKey(threadId) === undefined) throw new UnknownThreadError(`thread ${threadId.toString()} is not held here`)
  }

  const publicKeyOf = (threadId: ThreadId, logId: string): Ed25519PublicKey => {
    const slot = `${threadId.toString()}/${logId}`
    let key = publicKeys.get(slot)
    if (key === undefined) {
      threadKeyOf(threadId)
      key = keys.publicKey(threadId, logId)
      if (key === undefined) throw new UnknownLogError(`log ${logId} is not part of thread ${threadId.toString()} here`)
      publicKeys.set(slot, key)
    }
    return key
  }

  const privateKeyOf = (threadId: ThreadId, logId: string): Ed25519PrivateKey | undefined => {
    const slot = `${threadId.toString()}/${logId}`
    let key = privateKeys.get(slot)
    if (key === undefined) {
      key = keys.privateKey(threadId, logId)
      if (key !== undefined) privateKeys.set(slot, key)
    }
    return key
  }

  const logInfo = (threadId: ThreadId, logId: string): LogInfo => ({
    id: logId,
    publicKey: publicKeyOf(threadId, logId),
    privateKey: privateKeyOf(threadId, logId),
    head: heads.get(threadId, logId)
  })

  const threadInfo = (threadId: ThreadId): ThreadInfo => ({
    id: threadId,
    key: threadKeyOf(threadId),
    logs: keys.logs(threadId).map(logId => logInfo(threadId, logId))
  })

  const sameHead = (a: Head, b: Head): boolean =>
    a.counter === b.counter && (a.cid === undefined ? b.cid === undefined : b.cid !== undefined && a.cid.equals(b.cid))

  /** Writes one record; the caller runs it inside a transaction, after checking it links to `previous`. */
  const writeRecord = (threadId: ThreadId, logId: string, recordBlocks: RecordBlocks, node: RecordNode, previous: Head, time?: Timestamp): StoredRecord => {
    const tid = threadId.toString()
    const counter = previous.counter + 1
    const { record, event, header, body } = recordBlocks
    const packed: PackedRecord = [node.cid.bytes, event.cid.bytes, header.cid.bytes, body.cid.bytes, record.bytes, event.bytes, header.bytes, body.bytes]
    index.putSync([tid, logId, counter], packed)
    index.putSync([tid, logId, node.cid.toString()], counter)
    heads.set(threadId, logId, { cid: node.cid, counter, time })
    return { threadId, logId, counter, cid: node.cid, node, blocks: recordBlocks }
  }

  /** Unpacks a stored record; its record block is opened only when asked for (`node`), as serving it never does. */
  const loadRecord = (threadId: ThreadId, logId: string, counter: number, packed: PackedRecord): StoredRecord => {
    let node: RecordNode | undefined
    const nodeOf = (record: Block): RecordNode => {
      node ??= openRecord(record, threadKeyOf(threadId).service, limits)
      return node
    }
    let blocks: RecordBlocks
    if (packed.length === 8) {
      const [recordCid, eventCid, headerCid, bodyCid, recordBytes, eventBytes, headerBytes, bodyBytes] = packed
      blocks = {
        record: { cid: CID.decode(recordCid), bytes: recordBytes },
        event: { cid: CID.decode(eventCid), bytes: eventBytes },
        header: { cid: CID.decode(headerCid), bytes: headerBytes },
        body: { cid: CID.decode(bodyCid), bytes: bodyBytes }
      }
    } else {
      const [recordCid, recordBytes, eventBytes, headerBytes, bodyBytes] = packed
      const record = { cid: CID.decode(recordCid), bytes: recordBytes }
      const event = { cid: nodeOf(record).event, bytes: eventBytes }
      const links = openEvent(event, limits)
      blocks = { record, event, header: { cid: links.header, bytes: headerBytes }, body: { cid: links.body, bytes: bodyBytes } }
    }
    return {
      threadId,
      logId,
      counter,
      cid: blocks.record.cid,
      get node () { return nodeOf(blocks.record) },
      blocks
    }
  }

  const counterOf = (threadId: ThreadId, logId: string, cid: CID): number | undefined =>
    index.get([threadId.toString(), logId, cid.toString()]) as number | undefined
  const packedAt = (threadId: ThreadId, logId: string, counter: number): PackedRecord | undefined =>
    index.get([threadId.toString(), logId, counter]) as PackedRecord | undefined

  /** Refuses a record already in its log: its CID is the hash of its bytes, so a held CID is the same record. */
  const assertNotHeld = (threadId: ThreadId, logId: string, cid: CID): void => {
    if (counterOf(threadId, logId, cid) !== undefined) throw new ReplayedRecordError(`record ${cid.toString()} is already in log ${logId}`)
  }

  /** The error for a record that links to a held record other than the head, or starts the log again. */
  const forkOrReplay = (threadId: ThreadId, logId: string, node: RecordNode, branchesAfter: number): ThreadsError => {
    const sibling = packedAt(threadId, logId, branchesAfter + 1)
    // The same signed event re-wrapped in a new record block is a replay, not a second branch.
    if (sibling !== undefined && loadRecord(threadId, logId, branchesAfter + 1, sibling).node.event.equals(node.event)) {
      return new ReplayedRecordError(`record ${node.cid.toString()} repeats the event of record ${branchesAfter + 1} in log ${logId}`)
    }
    return new ForkedLogError(`record ${node.cid.toString()} forks log ${logId} after record ${branchesAfter}`)
  }

  const authorRecord = (threadId: ThreadId, logId: string, body: unknown, previous: Head, time: Timestamp): CreatedRecord => {
    const threadKey = threadKeyOf(threadId)
    const logKey = privateKeyOf(threadId, logId)
    if (logKey === undefined) {
      publicKeyOf(threadId, logId)
      throw new MissingKeyError(`log ${logId} is not ours: no private key to sign with`)
    }
    if (!threadKey.canRead) throw new MissingKeyError(`thread ${threadId.toString()}: authoring needs the read key`)
    const created = createRecord({ body, time, prev: previous.cid, logKey, threadKey })
    assertBlockLimits(created.blocks, limits)
    return created
  }

  /** The checks of `check` that need the thread's keys and nothing else, all but the signature. */
  const openChecked = (threadId: ThreadId, logId: string, blocks: RecordBlocks): CheckedRecord => {
    const threadKey = threadKeyOf(threadId)
    publicKeyOf(threadId, logId)
    const node = openRecordBlocks(blocks, threadKey.service, limits)
    // Frozen, with a copy of the block list: what passed the checks is what gets linked.
    if (threadKey.read === undefined) return Object.freeze({ threadId, logId, blocks: Object.freeze({ ...blocks }), node })
    // A reader refuses what it could not read, and its clock moves past every event it takes in.
    const content = readRecordContent(blocks, threadKey.read, limits)
    // A time further ahead than clocks may drift is refused, not just left unobserved: it would sort after
    // everything honest peers write for a day, and move what counts as "late" along with it.
    if (content.time !== undefined && !clock.observe(content.time)) {
      throw new InvalidClockError(`record ${node.cid.toString()} is dated ${new Date(content.time.wall).toISOString()}, further ahead of this peer's clock than clocks may drift`)
    }
    return Object.freeze({ threadId, logId, blocks: Object.freeze({ ...blocks }), node, content })
  }

  // Records of a log handed to `accept` side by side are checked side by side and linked in the order they came.
  const accepting = createTurns()

  // Checks made here: a `CheckedRecord` built anywhere else is checked again before it is linked.
  const checked = new WeakSet<CheckedRecord>()

  /** Inside a transaction: refuses replays, forks and gaps, then writes the record at the head. */
  const linkRecord = ({ threadId, logId, blocks: recordBlocks, node, content }: CheckedRecord): AcceptedRecord => {
    assertHeldWithin(threadId)
    assertNotHeld(threadId, logId, node.cid)
    const current = heads.get(threadId, logId)
    const linksToHead = node.prev === undefined ? current.cid === undefined : current.cid !== undefined && node.prev.equals(current.cid)
    if (!linksToHead) {
      if (node.prev === undefined) throw forkOrReplay(threadId, logId, node, 0)
      const branchesAfter = counterOf(threadId, logId, node.prev)
      if (branchesAfter !== undefined) throw forkOrReplay(threadId, logId, node, branchesAfter)
      throw new MissingAncestorError(`record ${node.cid.toString()} needs ${node.prev.toString()} first`, node.prev.toString())
    }
    // A log's author issues strictly increasing times; a record dated at or before its predecessor could place
    // itself before that log's Join, or before a revoke its author had already seen.
    if (content?.time !== undefined && current.time !== undefined && compareTimestamps(content.time, current.time) <= 0) {
      throw new InvalidClockError(`record ${node.cid.toString()} is dated no later than the record before it in log ${logId}`)
    }
    return { ...writeRecord(threadId, logId, recordBlocks, node, current, content?.time), content }
  }

  const store: LogStore = {
    clock,
    heads,
    keys,
    addrs,
    metadata,

    async createThread (options = {}) {
      const id = options.id ?? ThreadId.create({ variant: options.variant })
      return await store.addThread(id, options.key ?? ThreadKey.random())
    },

    async addThread (threadId, key) {
      await storage.transaction(() => keys.addThreadKey(threadId, key))
      threadKeys.delete(threadId.toString())
      return threadInfo(threadId)
    },

    getThread (threadId) {
      assertOpen()
      return threadInfo(threadId)
    },

    hasThread (threadId) {
      return keys.serviceKey(threadId) !== undefined
    },

    threadKey: threadId => threadKeyOf(threadId),

    hasLog (threadId, logId) {
      if (publicKeys.has(`${threadId.toString()}/${logId}`)) return true
      const key = keys.publicKey(threadId, logId)
      if (key !== undefined) publicKeys.set(`${threadId.toString()}/${logId}`, key)
      return key !== undefined
    },

    threads () {
      return keys.threads()
    },

    async createLog (threadId, key = Ed25519PrivateKey.generate()) {
      threadKeyOf(threadId)
      await storage.transaction(() => {
        assertHeldWithin(threadId)
        keys.addPrivateKey(threadId, key)
      })
      return logInfo(threadId, key.publicKey.logId)
    },

    async addLog (threadId, publicKey, options = {}) {
      threadKeyOf(threadId)
      await storage.transaction(() => {
        assertHeldWithin(threadId)
        keys.addPublicKey(threadId, publicKey)
        if (options.legacyFirstRecordSignature === true) metadata.put(threadId, legacyName(publicKey.logId), true)
      })
      return logInfo(threadId, publicKey.logId)
    },

    async addLogOf (threadId, logId, recordBlocks) {
      const publicKey = Ed25519PublicKey.fromLogId(logId)
      verifyRecordBlocks(recordBlocks, threadKeyOf(threadId).service, publicKey, { limits })
      return await store.addLog(threadId, publicKey)
    },

    getLog (threadId, logId) {
      return logInfo(threadId, logId)
    },

    head (threadId, logId) {
      assertOpen()
      return heads.get(threadId, logId)
    },

    edge (threadId) {
      return heads.edge(threadId)
    },

    async append (threadId, logId, body) {
      assertOpen()
      const slot = `${threadId.toString()}/${logId}`
      const previous = tips.get(slot) ?? heads.get(threadId, logId)
      const time = clock.tick()
      const created = authorRecord(threadId, logId, body, previous, time)
      const tip: Head = { cid: created.node.cid, counter: previous.counter + 1 }
      tips.set(slot, tip)
      try {
        return await storage.transaction(() => {
          const current = heads.get(threadId, logId)
          if (!sameHead(current, previous)) {
            throw new ForkedLogError(`log ${logId} moved under an append (head ${current.counter}, expected ${previous.counter})`)
          }
          return writeRecord(threadId, logId, created.blocks, created.node, previous, time)
        })
      } finally {
        if (tips.get(slot) === tip) tips.delete(slot)
      }
    },

    appendWithin (threadId, logId, body, time = clock.tick()) {
      assertOpen()
      const previous = heads.get(threadId, logId)
      const created = authorRecord(threadId, logId, body, previous, time)
      return writeRecord(threadId, logId, created.blocks, created.node, previous, time)
    },

    async accept (threadId, logId, recordBlocks) {
      const checking = settle(store.check(threadId, logId, recordBlocks))
      const turn = accepting.take(`${threadId.toString()}/${logId}`)
      let linked: Promise<AcceptedRecord>
      try {
        await turn.ready
        const outcome = await checking
        if (!outcome.ok) throw outcome.error
        linked = storage.transaction(() => store.acceptWithin(outcome.result))
      } finally {
        turn.done()
      }
      return await linked
    },

    async check (threadId, logId, recordBlocks) {
      assertOpen()
      // Most records arrive twice, gossiped and pushed: a copy of one held costs a lookup, not a decryption and a signature.
      assertNotHeld(threadId, logId, recordBlocks.record.cid)
      const record = openChecked(threadId, logId, recordBlocks)
      await verifyRecordSignatureInParallel(record.node, publicKeyOf(threadId, logId), verifyOptionsOf(threadId, logId))
      checked.add(record)
      return record
    },

    acceptWithin (record) {
      assertOpen()
      if (checked.has(record)) return linkRecord(record)
      const opened = openChecked(record.threadId, record.logId, record.blocks)
      verifyRecordSignature(opened.node, publicKeyOf(opened.threadId, opened.logId), verifyOptionsOf(opened.threadId, opened.logId))
      return linkRecord(opened)
    },

    record (threadId, logId, at) {
      assertOpen()
      publicKeyOf(threadId, logId)
      const counter = typeof at === 'number' ? at : counterOf(threadId, logId, at)
      const packed = counter === undefined ? undefined : packedAt(threadId, logId, counter)
      return packed === undefined ? undefined : loadRecord(threadId, logId, counter!, packed)
    },

    records (threadId, logId, options = {}) {
      assertOpen()
      const tid = threadId.toString()
      publicKeyOf(threadId, logId)
      const backward = options.direction === 'backward'
      const limit = options.limit ?? Number.POSITIVE_INFINITY
      let from: number | undefined
      if (options.from === undefined) from = backward ? heads.get(threadId, logId).counter : 1
      else if (typeof options.from === 'number') from = options.from
      else from = counterOf(threadId, logId, options.from)
      if (from === undefined || limit <= 0) return []
      const range = backward
        ? { start: [tid, logId, from], end: [tid, logId, 0], reverse: true }
        : { start: [tid, logId, from], end: [tid, logId, Number.MAX_SAFE_INTEGER] }
      const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY
      const out: StoredRecord[] = []
      let bytes = 0
      for (const { key, value } of index.getRange({ ...range, limit })) {
        const record = loadRecord(threadId, logId, (key as [string, string, number])[2], value as PackedRecord)
        bytes += recordWireBytes(record.blocks)
        if (out.length > 0 && bytes > maxBytes) break
        out.push(record)
      }
      return out
    },

    content (record) {
      const readKey = threadKeyOf(record.threadId).read
      if (readKey === undefined) throw new MissingKeyError(`thread ${record.threadId.toString()}: reading content needs the read key`)
      return readRecordContent(record.blocks, readKey, limits)
    },

    verifyLog (threadId, logId) {
      assertOpen()
      const serviceKey = threadKeyOf(threadId).service
      const logKey = publicKeyOf(threadId, logId)
      const head = heads.get(threadId, logId)
      const verifyOptions = verifyOptionsOf(threadId, logId)
      let expected = head.cid
      let counter = head.counter
      try {
        while (expected !== undefined) {
          const packed = packedAt(threadId, logId, counter)
          if (packed === undefined || !CID.decode(packed[0]).equals(expected) || counterOf(threadId, logId, expected) !== counter) {
            throw new CorruptLogError(`counter ${counter} of log ${logId} does not hold ${expected.toString()}`)
          }
          // Every block is re-hashed against the link that names it, so no stored CID is taken on trust.
          const node = verifyRecordBlocks(loadRecord(threadId, logId, counter, packed).blocks, serviceKey, logKey, verifyOptions)
          expected = node.prev
          counter -= 1
        }
        if (counter !== 0) throw new CorruptLogError(`log ${logId} ends at counter ${counter + 1}, not at its first record`)
      } catch (cause) {
        if (cause instanceof CorruptLogError) throw cause
        if (cause instanceof ThreadsError) throw new CorruptLogError(`log ${logId} fails verification at counter ${counter}: ${cause.message}`, { cause })
        throw cause
      }
      return { records: head.counter, head }
    },

    dropThreadWithin (threadId) {
      assertOpen()
      const tid = threadId.toString()
      for (const logId of heads.heads(threadId).keys()) heads.clear(threadId, logId)
      addrs.clearThread(threadId)
      removeKeysUnder(index, [tid])
      keys.clearThread(threadId)
      metadata.clearThread(threadId)
      threadKeys.delete(tid)
      for (const cache of [publicKeys, privateKeys, tips]) {
        for (const slot of [...cache.keys()]) if (slot.startsWith(`${tid}/`)) cache.delete(slot)
      }
    }
  }
  return store
}
