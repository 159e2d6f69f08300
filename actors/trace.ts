import { createWriteStream, openSync } from 'node:fs'
import { once } from 'node:events'
import type { AnyActor, AnyActorRef, InspectionEvent } from 'xstate'
import { InvalidArgumentError } from '../storage/errors.ts'

/**
 * Inspection events as plain data, one JSON line each: what an offline viewer replays. Events carry functions,
 * actor references and record bytes, none of which survive JSON, so each becomes a short description instead.
 */

/** The first line of a trace file. */
export interface TraceHeader {
  readonly kind: 'trace'
  readonly version: 1
  /** Who recorded it: the peer's ID, or whatever name the recorder was given. */
  readonly peer: string
  /** Wall-clock start, ISO 8601; every later line's `t` counts milliseconds from it. */
  readonly started: string
}

export type TraceEntry =
  /** An actor started: a machine (`machine` is its definition's ID) or an effect (`src` names it). */
  | { readonly kind: 'actor', readonly t: number, readonly actor: string, readonly parent?: string, readonly machine?: string, readonly src?: string }
  /** An event reached `to`; `from` is the actor that sent it, absent when it came from outside the actors. */
  | { readonly kind: 'event', readonly t: number, readonly to: string, readonly from?: string, readonly event: TraceEvent }
  /** An actor's state or status changed. */
  | { readonly kind: 'state', readonly t: number, readonly actor: string, readonly value?: unknown, readonly status: string }
  /** The trace reached its bound; nothing after this was recorded. */
  | { readonly kind: 'truncated', readonly t: number, readonly dropped: 'everything after this' }

/** An event's type and its fields, each made plain: bytes and lists by their size, actors by name, functions dropped. */
export interface TraceEvent {
  readonly type: string
  readonly [field: string]: unknown
}

const MAX_TEXT = 120

/** The stable, readable name of an actor: its system ID, or its parent's name and its own ID. */
export function actorName (actor: AnyActorRef): string {
  const { systemId } = actor as AnyActor
  if (systemId !== undefined) return systemId
  const parent = actor._parent as AnyActorRef | undefined
  return parent === undefined ? actor.id : `${actorName(parent)}/${actor.id}`
}

function plain (value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return value
  if (typeof value === 'string') return value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT)}…` : value
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`
  if (Array.isArray(value)) return `${value.length} items`
  if (typeof value === 'object' && value !== undefined) {
    if ('send' in value && 'getSnapshot' in value) return `actor ${actorName(value as AnyActorRef)}`
    if (value instanceof Error) return `${value.name}: ${value.message}`
    if (depth > 0) return `${value.constructor?.name ?? 'object'}`
    const out: Record<string, unknown> = {}
    for (const [key, field] of Object.entries(value)) {
      const made = plain(field, depth + 1)
      if (made !== undefined) out[key] = made
    }
    return out
  }
  return undefined
}

/** The trace entry an inspection event makes, or undefined for one a replay does not need. */
export function traceEntryOf (event: InspectionEvent, t: number): TraceEntry | undefined {
  const actor = event.actorRef as AnyActor
  switch (event.type) {
    case '@xstate.actor': {
      const parent = actor._parent
      const logic = actor.logic as { id?: unknown, config?: unknown }
      const machine = logic.config !== undefined && typeof logic.id === 'string' ? logic.id : undefined
      const src = typeof actor.src === 'string' ? actor.src : undefined
      return {
        kind: 'actor',
        t,
        actor: actorName(actor),
        ...(parent === undefined ? {} : { parent: actorName(parent) }),
        ...(machine === undefined ? {} : { machine }),
        ...(src === undefined ? {} : { src })
      }
    }
    case '@xstate.event':
      return {
        kind: 'event',
        t,
        to: actorName(actor),
        ...(event.sourceRef === undefined ? {} : { from: actorName(event.sourceRef as AnyActorRef) }),
        event: plain(event.event, 0) as TraceEvent
      }
    case '@xstate.snapshot': {
      const snapshot = event.snapshot as { value?: unknown, status: string }
      return { kind: 'state', t, actor: actorName(actor), ...('value' in snapshot ? { value: snapshot.value } : {}), status: snapshot.status }
    }
    default:
      return undefined
  }
}

export interface TraceRecorderInit {
  /** The JSON-lines file to write; replaced if it exists. */
  file: string
  /** Lines after the header; past it a `truncated` line is written and the rest dropped. */
  maxEntries?: number
}

export interface TraceRecorder {
  /** Writes the header, naming who records; inspection events before it are not recorded. */
  start (peer: string): void
  /** An XState inspector: pass it as `inspect`. */
  inspect (event: InspectionEvent): void
  /** Lines written so far, header excluded. */
  readonly entries: number
  /** Writes out what is buffered and closes the file. */
  close (): Promise<void>
}

const DEFAULT_MAX_ENTRIES = 200_000

/** Opens `file` for writing at once, so a path that cannot be written is refused before anything else happens. */
export function createTraceRecorder (init: TraceRecorderInit): TraceRecorder {
  const max = init.maxEntries ?? DEFAULT_MAX_ENTRIES
  let fd: number
  try {
    fd = openSync(init.file, 'w')
  } catch (error) {
    throw new InvalidArgumentError(`cannot write the trace file ${init.file}: ${(error as Error).message}`, { cause: error })
  }
  const out = createWriteStream('', { fd })
  let started = 0
  // Snapshots that change only an actor's context say nothing a replay shows: keep a line per state change.
  const lastState = new Map<string, string>()
  let entries = 0
  let recording = false
  let full = false
  let closed = false
  out.on('error', () => { full = true })
  const write = (line: unknown): void => { out.write(`${JSON.stringify(line)}\n`) }

  return {
    get entries () { return entries },
    start (peer) {
      if (recording || closed) return
      recording = true
      started = performance.now()
      write({ kind: 'trace', version: 1, peer, started: new Date().toISOString() } satisfies TraceHeader)
    },
    inspect (event) {
      if (!recording || closed || full) return
      const t = Math.round((performance.now() - started) * 1000) / 1000
      const entry = traceEntryOf(event, t)
      if (entry === undefined) return
      if (entry.kind === 'state') {
        const state = JSON.stringify([entry.value, entry.status])
        if (lastState.get(entry.actor) === state) return
        lastState.set(entry.actor, state)
      }
      if (entries >= max) {
        full = true
        write({ kind: 'truncated', t, dropped: 'everything after this' } satisfies TraceEntry)
        return
      }
      entries++
      write(entry)
    },
    async close () {
      if (closed) return
      closed = true
      out.end()
      if (!out.writableFinished) await once(out, 'finish').catch(() => undefined)
    }
  }
}
