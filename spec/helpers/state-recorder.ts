import type { InspectionEvent } from 'xstate'

/** Records, per actor whose ID starts with `prefix`, the states it passes through, as an inspector sees them. */
export interface StateRecorder {
  readonly inspect: (event: InspectionEvent) => void
  /** The states actor `id` went through, each once in a row. */
  states (id: string): string[]
  actors (): string[]
  clear (): void
}

export function stateRecorder (prefix: string): StateRecorder {
  const byActor = new Map<string, string[]>()
  return {
    inspect (event) {
      if (event.type !== '@xstate.snapshot') return
      const id = (event.actorRef as { id?: string }).id
      const value = (event.snapshot as { value?: unknown }).value
      if (id === undefined || !id.startsWith(prefix) || typeof value !== 'string') return
      const states = byActor.get(id) ?? []
      if (states.at(-1) !== value) states.push(value)
      byActor.set(id, states)
    },
    states: id => [...(byActor.get(id) ?? [])],
    actors: () => [...byActor.keys()],
    clear: () => { byActor.clear() }
  }
}
