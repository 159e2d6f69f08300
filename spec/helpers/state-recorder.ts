import type { InspectionEvent } from 'xstate'

/**
 * Records, per actor whose ID starts with `prefix`, the states it passes through, as an inspector sees them. A
 * nested state is named by its path (`pulling.fetching`); regions of a parallel state are joined with ` & `.
 */
export interface StateRecorder {
  readonly inspect: (event: InspectionEvent) => void
  /** The states actor `id` went through, each once in a row. */
  states (id: string): string[]
  actors (): string[]
  clear (): void
}

/** A state value as one name: `idle`, `pulling.fetching`, or regions joined with ` & `. */
function stateName (value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value !== 'object' || value === null) return String(value)
  return Object.entries(value).map(([state, inner]) => `${state}.${stateName(inner)}`).join(' & ')
}

/** Whether `states` holds `steps` in this order, with other states allowed between them. */
export function passesThrough (states: readonly string[], steps: readonly string[]): boolean {
  let matched = 0
  for (const state of states) if (matched < steps.length && state === steps[matched]) matched++
  return matched === steps.length
}

export function stateRecorder (prefix: string): StateRecorder {
  const byActor = new Map<string, string[]>()
  return {
    inspect (event) {
      if (event.type !== '@xstate.snapshot') return
      const id = (event.actorRef as { id?: string }).id
      const snapshot = event.snapshot as { value?: unknown }
      if (id === undefined || !id.startsWith(prefix) || !('value' in snapshot)) return
      const value = stateName(snapshot.value)
      const states = byActor.get(id) ?? []
      if (states.at(-1) !== value) states.push(value)
      byActor.set(id, states)
    },
    states: id => [...(byActor.get(id) ?? [])],
    actors: () => [...byActor.keys()],
    clear: () => { byActor.clear() }
  }
}
