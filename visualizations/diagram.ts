/**
 * The shape every generated diagram takes before it is written out: boxes with a title and a few lines of text,
 * and labelled arrows between them. Machine diagrams and the overview of a peer's actors both become one.
 */

export type NodeShape =
  /** A machine's state. */
  | 'state'
  /** A final state. */
  | 'final'
  /** Where a machine starts. */
  | 'start'
  /** Stands for every state, for transitions the machine takes from wherever it is. */
  | 'any'
  /** An actor running a machine. */
  | 'machine'
  /** An actor running an effect (a promise or callback provided by actors/). */
  | 'effect'
  /** Whatever sends events from outside the actors: the store API and the network. */
  | 'outside'

export interface DiagramNode {
  readonly id: string
  readonly title: string
  readonly lines: readonly string[]
  readonly shape: NodeShape
  /** The row to draw the node in, when the drawing should not work it out from the arrows. */
  readonly layer?: number
}

export interface DiagramEdge {
  readonly from: string
  readonly to: string
  /** One line per event (or transition) the arrow stands for. */
  readonly labels: readonly string[]
}

export interface Diagram {
  /** File name stem, e.g. `log-sync`. */
  readonly name: string
  readonly title: string
  readonly nodes: readonly DiagramNode[]
  readonly edges: readonly DiagramEdge[]
}

/** Merges arrows between the same two nodes into one carrying every label, in first-seen order. */
export function mergeEdges (edges: ReadonlyArray<{ from: string, to: string, label: string }>): DiagramEdge[] {
  const merged = new Map<string, { from: string, to: string, labels: string[] }>()
  for (const { from, to, label } of edges) {
    const key = JSON.stringify([from, to])
    const edge = merged.get(key) ?? { from, to, labels: [] }
    if (!edge.labels.includes(label)) edge.labels.push(label)
    merged.set(key, edge)
  }
  return [...merged.values()]
}

/** Splits text into lines of at most `width` characters, at spaces. */
export function wrap (text: string, width = 44): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push(line)
  return lines
}
