import jsonpatch, { type Operation } from 'fast-json-patch'
import { enablePatches, produceWithPatches, type Draft, type Patch } from 'immer'
import { isDefaultRole, isRole, type DefaultRole, type Role } from './acl.ts'
import { MalformedBlockError } from './errors.ts'
import { isInviteRole, type InviteRole } from './invite.ts'

/**
 * The event codec turns a transaction's actions into events, and folds events into entity states. Events carry
 * RFC 6902 JSON patches (fast-json-patch); updates may be written as immer drafts, whose patches are converted to
 * the same form. Folding is total and deterministic: an operation that does not apply to the state it meets is
 * skipped, so every peer folding the same events in the same order reaches the same state, whatever base a
 * writer's patch was computed against.
 */

enablePatches()

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }
export type Entity = { [key: string]: JsonValue }

export type Action =
  | { readonly type: 'create', readonly collection: string, readonly id: string, readonly entity: Entity }
  | { readonly type: 'save', readonly collection: string, readonly id: string, readonly entity: Entity, readonly previous: Entity, readonly patch?: readonly Operation[] }
  | { readonly type: 'delete', readonly collection: string, readonly id: string }

export type ActionType = Action['type']

/** One change to one entity, as it travels inside a record body. */
export interface EntityEvent {
  readonly type: ActionType
  readonly collection: string
  readonly id: string
  /** For `create`, a single `replace` of the whole document; for `save`, the difference; absent for `delete`. */
  readonly patch?: readonly Operation[]
}

export interface IndexDefinition {
  readonly path: string
  readonly unique?: boolean
}

/**
 * The indexes a collection has: one per path, as its first declaration says. Writes declare each path once; records
 * written before that was checked may declare one twice, and every peer reads them this one way.
 */
export function onePerPath (indexes: readonly IndexDefinition[]): IndexDefinition[] {
  const paths = new Set<string>()
  return indexes.filter(({ path }) => {
    if (paths.has(path)) return false
    paths.add(path)
    return true
  })
}

/** A collection's definition, an event in the thread like any other, so joining peers get working collections. */
export interface CollectionEvent {
  readonly type: 'collection'
  readonly collection: string
  readonly schema: Entity
  readonly indexes: readonly IndexDefinition[]
}

export type StoreEvent = EntityEvent | CollectionEvent

export interface EventCodec {
  /** Names the codec in record bodies, so a reader knows how to fold what it holds. */
  readonly name: string
  encode (action: Action): EntityEvent
  /** The entity after `event`; `undefined` when it does not exist (never created, or deleted). */
  apply (state: Entity | undefined, event: EntityEvent): Entity | undefined
}

/** An invite made in the inviter's log: who it is for, what it makes them, until when, and its token's hash. */
export interface InviteEvent {
  readonly type: 'invite'
  readonly id: string
  readonly invitee: string
  readonly role: InviteRole
  readonly expires: number
  readonly tokenHash: string
}

/** The first record of an invitee's new log: the invite it answers, and the log bound to the invitee. */
export interface JoinEvent {
  readonly type: 'join'
  /** The invite answered: its ID, in the log that made it. */
  readonly invite: string
  readonly inviterLog: string
  readonly peer: string
  /** The invite's token (hex), which only the invitee could open. */
  readonly token: string
  /** The invitee's signature binding this log to it (hex). */
  readonly binding: string
}

/** The first record of an access-controlled thread: its owner, the nonce that derives the thread ID, the binding. */
export interface GenesisEvent {
  readonly type: 'genesis'
  readonly peer: string
  readonly nonce: string
  readonly binding: string
  readonly default: DefaultRole
}

/** Which ACL an operation changes: the thread's, the ACL's own (who may change ACLs), or one entity's. */
export type AclTarget =
  | { readonly kind: 'thread' }
  | { readonly kind: 'admin' }
  | { readonly kind: 'entity', readonly collection: string, readonly id: string }

/** A grant or revoke of roles for one peer, naming the operations on that peer its author had seen. */
export interface AclEvent {
  readonly type: 'acl'
  readonly op: 'grant' | 'revoke'
  readonly target: AclTarget
  readonly peer: string
  readonly roles: readonly Role[]
  readonly observed: readonly string[]
}

/** Events about the thread itself rather than its collections: membership and access. */
export type ControlEvent = InviteEvent | JoinEvent | GenesisEvent | AclEvent

/** What a record carries: the codec's name, the events of one committed transaction in order, and control events. */
export interface RecordBody {
  readonly codec: string
  readonly events: readonly StoreEvent[]
  readonly control?: readonly ControlEvent[]
}

/** A body as a record holds it, checked: its events parsed, and the bytes they were parsed from. */
export interface ParsedRecordBody extends RecordBody {
  readonly eventBytes: Uint8Array
}

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The dag-cbor node a record's body block holds: `{ codec, events }` with the events as UTF-8 JSON bytes.
 * Entities are plain JSON already, and V8's JSON is several times cheaper than building a dag-cbor map for every
 * patch, on the way in and on every re-read (rebuilds, peers catching up).
 */
export function encodeRecordBody (body: RecordBody): { codec: string, events: Uint8Array, control?: Uint8Array } {
  const encoded = { codec: body.codec, events: utf8.encode(JSON.stringify(body.events)) }
  return body.control === undefined || body.control.length === 0 ? encoded : { ...encoded, control: utf8.encode(JSON.stringify(body.control)) }
}

/** dag-cbor's map key order: shorter keys first, then bytewise. */
function byDagCborKeyOrder (a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
}

/**
 * A copy of `value` with every object's keys in dag-cbor order. A fold's result depends only on the events, not on
 * whether they came straight from a local transaction or through a record's bytes, so every peer stores the
 * same bytes for the same view.
 */
export function canonical<T extends JsonValue> (value: T): T {
  if (Array.isArray(value)) return value.map(item => canonical(item)) as T
  // JSON has one zero: the writer must hold what every reader of the record's JSON will.
  if (Object.is(value, -0)) return 0 as T
  if (typeof value !== 'object' || value === null) return value
  const out: { [key: string]: JsonValue } = {}
  for (const key of Object.keys(value).sort(byDagCborKeyOrder)) out[key] = canonical((value as { [key: string]: JsonValue })[key]!)
  return out as T
}

/** Whether `canonical` would give back a copy equal to `value`, key order included; found without building one. */
function isCanonical (value: JsonValue): boolean {
  if (Array.isArray(value)) {
    for (const item of value) if (!isCanonical(item)) return false
    return true
  }
  if (typeof value !== 'object' || value === null) return !Object.is(value, -0)
  let previous: string | undefined
  for (const key of Object.keys(value)) {
    if (previous !== undefined && byDagCborKeyOrder(previous, key) >= 0) return false
    if (!isCanonical(value[key]!)) return false
    previous = key
  }
  return true
}

/**
 * A state the codec owns, in canonical form: itself when it is already, as a record's JSON, written canonical by
 * its author, nearly always is, else a canonical copy. Only for values no caller holds on to.
 */
function owned<T extends JsonValue> (value: T): T {
  return isCanonical(value) ? value : canonical(value)
}

function isEntity (value: unknown): value is Entity {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function applyTolerantly (state: Entity, patch: readonly Operation[]): Entity {
  let document: unknown = state
  for (const operation of patch) {
    try {
      document = jsonpatch.applyOperation(document, operation, true, false, true).newDocument
    } catch {
      // The writer computed this operation against a state this fold does not have; skipping it is what keeps
      // every peer's fold the same.
    }
  }
  return owned(isEntity(document) ? document : state)
}

export const jsonPatchCodec: EventCodec = {
  name: 'json-patch',
  encode (action) {
    switch (action.type) {
      case 'create':
        return { type: 'create', collection: action.collection, id: action.id, patch: [{ op: 'replace', path: '', value: canonical(action.entity) }] }
      case 'save':
        return { type: 'save', collection: action.collection, id: action.id, patch: action.patch ?? jsonpatch.compare(action.previous, action.entity) }
      case 'delete':
        return { type: 'delete', collection: action.collection, id: action.id }
    }
  },
  apply (state, event) {
    switch (event.type) {
      case 'create': {
        // What this codec writes for a create: one replacement of the whole document, which needs no patching.
        const only = event.patch?.length === 1 ? event.patch[0] : undefined
        if (only?.op === 'replace' && only.path === '' && isEntity(only.value)) return owned(only.value)
        return applyTolerantly({}, event.patch ?? [])
      }
      case 'save':
        return state === undefined ? undefined : applyTolerantly(state, event.patch ?? [])
      case 'delete':
        return undefined
    }
  }
}

function pointer (path: ReadonlyArray<string | number>): string {
  return path.map(part => '/' + String(part).replaceAll('~', '~0').replaceAll('/', '~1')).join('')
}

function toOperation (patch: Patch): Operation {
  const path = pointer(patch.path)
  if (patch.op === 'remove') return { op: 'remove', path }
  return { op: patch.op, path, value: patch.value }
}

/** Runs an immer recipe on a copy of `entity` and returns the new entity with its RFC 6902 patch. */
export function draftUpdate (entity: Entity, recipe: (draft: Draft<Entity>) => void): { entity: Entity, patch: Operation[] } {
  const [next, patches] = produceWithPatches(entity, recipe)
  return { entity: next as Entity, patch: patches.map(toOperation) }
}

const ACTION_TYPES = new Set<string>(['create', 'save', 'delete'])

/**
 * How long names may be, in UTF-8 bytes: they become parts of LMDB keys, which hold at most 1,978 bytes, so a
 * collection, an entity ID, an index path and an indexed value must fit in one together. A longer indexed string
 * stands in its index entries as its digest.
 */
export const KEY_LIMITS = Object.freeze({ collection: 256, id: 512, path: 128, indexedValue: 512 })

/** True when `value` takes at most `maxBytes` UTF-8 bytes; no UTF-16 unit takes more than three, so most are not counted. */
export function fitsBytes (value: string, maxBytes: number): boolean {
  return value.length * 3 <= maxBytes || Buffer.byteLength(value) <= maxBytes
}

const KEY_MARKS = /[\u0000-\u0004]/

/**
 * Whether lmdb's key encoding keeps `value` whole and in order as part of a key: it escapes U+0000–U+0004 (its
 * separator and type marks) only in strings shorter than 64 UTF-16 units, and writes longer ones as they are.
 */
export function encodesAsKey (value: string): boolean {
  return value.length < 64 || !KEY_MARKS.test(value)
}

/** True for a non-empty, well-formed string of at most `maxBytes` UTF-8 bytes that a key holds as it is. */
export function fitsKey (value: unknown, maxBytes: number): value is string {
  return typeof value === 'string' && value.length > 0 && fitsBytes(value, maxBytes) && value.isWellFormed() && encodesAsKey(value)
}

/**
 * A field name every store keeps as written: `__proto__`, assigned to an object, sets its prototype instead of
 * adding a field, and a lone surrogate has no UTF-8 form, so the bytes stored would read back as another name.
 */
function isPlainKey (key: string): boolean {
  return key !== '__proto__' && key.isWellFormed()
}

/**
 * Whether `value` is JSON that every peer stores and reads back unchanged: finite numbers, well-formed strings,
 * arrays without holes, and plain objects with plain field names. Found without building a path for every field.
 */
export function isPlainJson (value: unknown): boolean {
  if (value === null || typeof value === 'boolean') return true
  if (typeof value === 'string') return value.isWellFormed()
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!(i in value) || !isPlainJson(value[i])) return false
    return true
  }
  if (typeof value !== 'object' || (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)) return false
  for (const key in value) if (!isPlainKey(key) || !isPlainJson((value as Record<string, unknown>)[key])) return false
  return true
}

/**
 * A copy of `value`'s plain arrays and objects, at every depth: what a caller hands a write is the caller's to change
 * afterwards. Anything else is kept as it is, for the checks to find.
 */
export function copyJson<T> (value: T): T {
  if (Array.isArray(value)) return value.map(item => copyJson(item)) as T
  if (typeof value !== 'object' || value === null) return value
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const item = copyJson((value as Record<string, unknown>)[key])
    // Kept as a field, not made a prototype, so the checks find it and refuse it by name.
    if (key === '__proto__') Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true })
    else out[key] = item
  }
  return out as T
}

/** Where `value` stops being plain JSON (a Date, NaN, undefined, a lone surrogate, a `__proto__` field…), if it does. */
export function jsonProblem (value: unknown, path = ''): string | undefined {
  if (value === null || typeof value === 'boolean') return undefined
  if (typeof value === 'string') return value.isWellFormed() ? undefined : `${path || '/'} holds a lone surrogate, which UTF-8 cannot carry`
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path || '/'} is ${value}`
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return `${path}/${i} is a hole`
      const problem = jsonProblem(value[i], `${path}/${i}`)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  if (typeof value === 'object' && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) {
    for (const [key, item] of Object.entries(value)) {
      if (!isPlainKey(key)) return `${path}/${key.toWellFormed()} is a field name that cannot be stored as written`
      const problem = jsonProblem(item, `${path}/${key}`)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  return `${path || '/'} is ${value === undefined ? 'undefined' : typeof value === 'object' ? (value as object).constructor?.name ?? 'an object' : typeof value}`
}

/** A dotted path of non-empty field names: what indexes and queries address. */
export function isFieldPath (path: unknown): path is string {
  return fitsKey(path, KEY_LIMITS.path) && path.split('.').every(part => part.length > 0)
}

function parseJsonList (bytes: Uint8Array, what: string): unknown[] {
  let list: unknown
  let text: string
  try {
    text = fromUtf8.decode(bytes)
    list = JSON.parse(text)
  } catch (cause) {
    throw new MalformedBlockError(`record body ${what} are not UTF-8 JSON`, { cause })
  }
  if (!Array.isArray(list)) throw new MalformedBlockError(`record body ${what} are not a list`)
  // Valid UTF-8 holds no lone surrogate but as a `\u` escape; `__proto__` may be escaped too. Most bodies have neither.
  if ((text.includes('\\u') || text.includes('__proto__')) && !isPlainJson(list)) {
    throw new MalformedBlockError(`record body ${what}: ${jsonProblem(list)}`)
  }
  return list
}

/** A string of at most `max` UTF-16 units that a key keeps as written: peers, logs and invites name keys of the ACLs. */
const isText = (value: unknown, max = 1024): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= max && value.isWellFormed() && encodesAsKey(value)
/** Bytes as control events carry them (tokens, signatures, nonces): the events are JSON, so bytes are hex. */
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
export const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'))

const isHex = (value: unknown): value is string => typeof value === 'string' && value.length <= 256 && /^(?:[0-9a-f]{2})+$/.test(value)

function isAclTarget (value: unknown): value is AclTarget {
  if (typeof value !== 'object' || value === null) return false
  const { kind, collection, id } = value as { kind?: unknown, collection?: unknown, id?: unknown }
  if (kind === 'thread' || kind === 'admin') return true
  return kind === 'entity' && fitsKey(collection, KEY_LIMITS.collection) && fitsKey(id, KEY_LIMITS.id)
}

/** Checks one control event's shape; membership and access rules are judged where it is folded. */
function parseControlEvent (value: unknown): ControlEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedBlockError('control event is not a map')
  const event = value as Record<string, unknown>
  switch (event.type) {
    case 'invite':
      if (isText(event.id, 64) && isText(event.invitee, 128) && isInviteRole(event.role) && Number.isSafeInteger(event.expires) && isHex(event.tokenHash)) return event as unknown as InviteEvent
      break
    case 'join':
      if (isText(event.invite, 64) && isText(event.inviterLog, 128) && isText(event.peer, 128) && isHex(event.token) && isHex(event.binding)) return event as unknown as JoinEvent
      break
    case 'genesis':
      if (isText(event.peer, 128) && isHex(event.nonce) && isHex(event.binding) && isDefaultRole(event.default)) return event as unknown as GenesisEvent
      break
    case 'acl':
      if ((event.op === 'grant' || event.op === 'revoke') && isAclTarget(event.target) && isText(event.peer, 128) &&
        Array.isArray(event.roles) && event.roles.length > 0 && event.roles.every(isRole) &&
        Array.isArray(event.observed) && event.observed.every(tag => isText(tag, 256))) return event as unknown as AclEvent
      break
  }
  throw new MalformedBlockError(`malformed ${typeof event.type === 'string' ? event.type.slice(0, 32) : 'control'} event`)
}

/** Checks a decoded record body's shape before anything folds it. */
export function parseRecordBody (value: unknown): ParsedRecordBody {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedBlockError('record body is not a map')
  const { codec, events: bytes, control: controlBytes } = value as { codec?: unknown, events?: unknown, control?: unknown }
  if (typeof codec !== 'string') throw new MalformedBlockError('record body names no codec')
  if (!(bytes instanceof Uint8Array)) throw new MalformedBlockError('record body carries no events')
  if (controlBytes !== undefined && !(controlBytes instanceof Uint8Array)) throw new MalformedBlockError('record body control events are not bytes')
  const events = parseJsonList(bytes, 'events')
  const control = controlBytes === undefined ? undefined : parseJsonList(controlBytes, 'control events').map(parseControlEvent)
  for (const event of events as unknown[]) {
    if (typeof event !== 'object' || event === null) throw new MalformedBlockError('record body event is not a map')
    const { type, collection } = event as { type?: unknown, collection?: unknown, id?: unknown, patch?: unknown }
    if (!fitsKey(collection, KEY_LIMITS.collection)) throw new MalformedBlockError(`event names no collection of 1–${KEY_LIMITS.collection} bytes`)
    if (type === 'collection') {
      const { schema, indexes } = event as { schema?: unknown, indexes?: unknown }
      if (typeof schema !== 'object' || schema === null || Array.isArray(schema) || !Array.isArray(indexes)) throw new MalformedBlockError('collection event is malformed')
      for (const index of indexes as unknown[]) {
        const { path, unique } = (index ?? {}) as { path?: unknown, unique?: unknown }
        if (!isFieldPath(path) || (unique !== undefined && typeof unique !== 'boolean')) throw new MalformedBlockError('collection event has a malformed index')
      }
      continue
    }
    if (typeof type !== 'string' || !ACTION_TYPES.has(type)) throw new MalformedBlockError(`unknown event type ${String(type)}`)
    const { id, patch } = event as { id?: unknown, patch?: unknown }
    if (!fitsKey(id, KEY_LIMITS.id)) throw new MalformedBlockError(`event names no entity ID of 1–${KEY_LIMITS.id} bytes`)
    if (patch !== undefined && !Array.isArray(patch)) throw new MalformedBlockError('event patch is not a list')
  }
  return control === undefined ? { codec, events: events as StoreEvent[], eventBytes: bytes } : { codec, events: events as StoreEvent[], eventBytes: bytes, control }
}

export type { Operation }
