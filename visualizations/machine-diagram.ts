import { readdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { StateMachine, type AnyStateMachine, type AnyStateNode } from 'xstate'
import { mergeEdges, wrap, type Diagram, type DiagramNode } from './diagram.ts'

/**
 * Diagrams read off the machine definitions themselves: every state with its description, entry actions,
 * invocations and the events it handles in place, and an arrow per transition labelled with its event, guard and
 * actions. Machines are found by looking, so a new machine file gets its diagram with no change here.
 */

export const MACHINES_DIR = fileURLToPath(new URL('../machines/', import.meta.url))

export interface FoundMachine {
  readonly machine: AnyStateMachine
  /** File name stem under machines/, e.g. `log-sync` for log-sync.machine.ts. */
  readonly name: string
}

/** Every machine exported by a `*.machine.ts` file under `dir`, one per file and export, sorted by name. */
export async function findMachines (dir = MACHINES_DIR): Promise<FoundMachine[]> {
  const found: FoundMachine[] = []
  const files = (await readdir(dir)).filter(file => file.endsWith('.machine.ts')).sort()
  for (const file of files) {
    const module = await import(pathToFileURL(`${dir}/${file}`).href) as Record<string, unknown>
    const machines = Object.keys(module).sort().map(key => module[key]).filter(value => value instanceof StateMachine)
    const stem = file.slice(0, -'.machine.ts'.length)
    machines.forEach((machine, index) => {
      found.push({ machine: machine as AnyStateMachine, name: machines.length === 1 ? stem : `${stem}-${index + 1}` })
    })
  }
  return found
}

interface Transition {
  eventType: string
  target?: readonly AnyStateNode[]
  guard?: unknown
  actions: readonly unknown[]
}

const nameOf = (thing: unknown): string | undefined => {
  if (typeof thing === 'string') return thing
  const type = (thing as { type?: unknown } | undefined)?.type
  return typeof type === 'string' ? type : undefined
}

/** Named actions only: the raises and cancels XState adds for delays are its own bookkeeping. */
const actionNames = (actions: readonly unknown[]): string[] =>
  actions.map(nameOf).filter((name): name is string => name !== undefined && !name.startsWith('xstate.'))

const eventLabel = (eventType: string): string => {
  if (eventType === '') return 'always'
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType)
  if (after !== null) return `after ${after[1]!}`
  const settled = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType)
  if (settled !== null) return `${settled[1]!}: ${settled[2]!}`
  return eventType
}

const transitionLabel = (transition: Transition): string => {
  const guard = nameOf(transition.guard)
  const actions = actionNames(transition.actions)
  return `${eventLabel(transition.eventType)}${guard === undefined ? '' : ` [${guard}]`}${actions.length === 0 ? '' : ` / ${actions.join(', ')}`}`
}

const transitionsOf = (node: AnyStateNode): Transition[] => [
  ...[...node.transitions.values()].flat() as Transition[],
  ...(node.always ?? []).map(always => ({ ...(always as Transition), eventType: '' }))
]

/** A state's ID in the diagram: its path from the root, dotted (`idle`, `pushing`, `outer.inner`). */
const idOf = (node: AnyStateNode): string => node.path.join('.')

export const ANY_STATE = '(any state)'
export const START = '(start)'

export function machineDiagram ({ machine, name }: FoundMachine): Diagram {
  const nodes: DiagramNode[] = [{ id: START, title: '', lines: [], shape: 'start' }]
  const edges: Array<{ from: string, to: string, label: string }> = []

  const rootReactions = transitionsOf(machine.root).filter(transition => transition.target === undefined).map(transitionLabel)
  const rootEntry = actionNames(machine.root.entry).map(action => `entry / ${action}`)
  const rootInvokes = machine.root.invoke.map(invoke => `invoke ${nameOf(invoke.src) ?? invoke.id}`)
  const rootMoves = transitionsOf(machine.root).filter(transition => transition.target !== undefined)
  if (rootReactions.length + rootEntry.length + rootInvokes.length + rootMoves.length > 0) {
    nodes.push({ id: ANY_STATE, title: ANY_STATE, lines: [...rootEntry, ...rootInvokes, ...rootReactions], shape: 'any' })
  }
  for (const transition of rootMoves) {
    for (const target of transition.target!) edges.push({ from: ANY_STATE, to: idOf(target), label: transitionLabel(transition) })
  }

  const visit = (node: AnyStateNode): void => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      const id = idOf(child)
      const lines = [
        ...wrap(child.description ?? ''),
        ...actionNames(child.entry).map(action => `entry / ${action}`),
        ...actionNames(child.exit).map(action => `exit / ${action}`),
        ...child.invoke.map(invoke => `invoke ${nameOf(invoke.src) ?? invoke.id}`),
        ...transitionsOf(child).filter(transition => transition.target === undefined).map(transitionLabel)
      ]
      nodes.push({ id, title: id, lines, shape: child.type === 'final' ? 'final' : 'state' })
      for (const transition of transitionsOf(child)) {
        for (const target of transition.target ?? []) edges.push({ from: id, to: idOf(target), label: transitionLabel(transition) })
      }
      visit(child)
    }
    const initial = (node.initial as { target?: readonly AnyStateNode[] } | undefined)?.target ?? []
    for (const target of initial) edges.push({ from: node === machine.root ? START : idOf(node), to: idOf(target), label: node === machine.root ? 'start' : 'starts in' })
  }
  visit(machine.root)
  return { name, title: `${machine.id} machine`, nodes, edges: mergeEdges(edges) }
}
