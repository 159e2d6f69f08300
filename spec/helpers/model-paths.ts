import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths, type StatePath } from 'xstate/graph'
import type { AnyStateMachine, EventObject, SnapshotFrom } from 'xstate'

/**
 * Paths through a machine that together take every transition the model allows: for each transition, the
 * shortest way to its source, the transition, and the shortest way on from its target to a state where the
 * handshake ends. A path that is the start of another is left out: the longer one walks it too.
 */

export interface ModelOptions<TMachine extends AnyStateMachine> {
  input: unknown
  /** The events the test can bring about in a state; the model holds only what reality can be made to do. */
  events: (snapshot: SnapshotFrom<TMachine>) => EventObject[]
  /** What tells states apart (the state's value, and whatever context the events depend on). */
  serialize: (snapshot: SnapshotFrom<TMachine>) => string
  /** Where a path may end. */
  terminal: (snapshot: SnapshotFrom<TMachine>) => boolean
}

export interface ModelPath<TMachine extends AnyStateMachine> {
  /** What the test does, in order, and where each step leaves the machine. */
  readonly steps: ReadonlyArray<{ event: EventObject, state: SnapshotFrom<TMachine> }>
  /** The states the real actor must pass through, in order. */
  readonly states: string[]
  readonly events: string[]
}

export function coveringPaths<TMachine extends AnyStateMachine> (machine: TMachine, options: ModelOptions<TMachine>): Array<ModelPath<TMachine>> {
  const traversal = {
    input: options.input,
    events: options.events as (snapshot: unknown) => EventObject[],
    serializeState: (snapshot: unknown) => options.serialize(snapshot as SnapshotFrom<TMachine>)
  }
  const toState = new Map<string, StatePath<SnapshotFrom<TMachine>, EventObject>>()
  for (const path of getShortestPaths(machine, traversal as never) as Array<StatePath<SnapshotFrom<TMachine>, EventObject>>) {
    toState.set(options.serialize(path.state), path)
  }
  const onwardFrom = (snapshot: SnapshotFrom<TMachine>): Array<{ event: EventObject, state: SnapshotFrom<TMachine> }> => {
    if (options.terminal(snapshot)) return []
    const onward = (getShortestPaths(machine, { ...traversal, fromState: snapshot } as never) as Array<StatePath<SnapshotFrom<TMachine>, EventObject>>)
      .filter(path => options.terminal(path.state))
      .sort((a, b) => a.steps.length - b.steps.length)[0]
    return onward === undefined ? [] : onward.steps.filter(step => step.event.type !== 'xstate.init')
  }
  const candidates: Array<Array<{ event: EventObject, state: SnapshotFrom<TMachine> }>> = []
  for (const { state, event, nextState } of adjacencyMapToArray(getAdjacencyMap(machine as never, traversal as never)) as Array<{ state: SnapshotFrom<TMachine>, event: EventObject, nextState: SnapshotFrom<TMachine> }>) {
    const from = toState.get(options.serialize(state))
    if (from === undefined || options.serialize(state) === options.serialize(nextState)) continue
    candidates.push([...from.steps, { event, state: nextState }, ...onwardFrom(nextState)])
  }
  const key = (steps: ReadonlyArray<{ event: EventObject }>): string => steps.map(step => step.event.type).join(' → ')
  const unique = [...new Map(candidates.map(steps => [key(steps) + ' #' + options.serialize(steps.at(-1)!.state), steps])).values()]
  const kept = unique.filter(steps => !unique.some(other => other !== steps && other.length > steps.length && key(other).startsWith(key(steps) + ' → ') &&
    steps.every((step, i) => options.serialize(step.state) === options.serialize(other[i]!.state))))
  return kept.map(steps => ({
    steps,
    states: steps.map(step => options.serialize(step.state)),
    events: steps.map(step => step.event.type)
  }))
}
