import type { Diagram, DiagramNode } from './diagram.ts'

/**
 * A diagram as SVG, laid out here in layers (no renderer, no network): nodes are ranked by the longest path from
 * the start along forward arrows, ordered in each layer by where their predecessors sit, and drawn top to bottom.
 * Arrows that go down are curves through the gap below their source, with their label in that gap; arrows that
 * go back up or stay in a layer bend around the right side; an arrow to the same node loops on its left.
 * Text is monospace so its width is known without measuring. Each node is a `<g data-node="…">`, which the trace
 * viewer uses to highlight the states and actors it replays.
 */

const CHAR = 7.2
const LINE = 16
const PAD = 10
const GAP_X = 36
const MIN_GAP_Y = 48
const MARGIN = 20
const BEND = 18

interface Box { node: DiagramNode, w: number, h: number, x: number, y: number, layer: number }

const xml = (value: string): string => value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
const num = (value: number): string => String(Math.round(value * 10) / 10)
const textWidth = (lines: readonly string[]): number => Math.max(0, ...lines.map(line => line.length)) * CHAR

function sizeOf (node: DiagramNode): { w: number, h: number } {
  if (node.shape === 'start') return { w: 18, h: 18 }
  return {
    w: Math.max(70, textWidth([node.title, ...node.lines]) + 2 * PAD),
    h: 2 * PAD + LINE * (1 + node.lines.length) + (node.lines.length > 0 ? 6 : 0)
  }
}

/** Layers by distance from the nodes nothing points to (the start, say): a state sits one step below the first state that reaches it. */
function layerNodes (diagram: Diagram): Map<string, number> {
  if (diagram.nodes.every(node => node.layer !== undefined)) return new Map(diagram.nodes.map(node => [node.id, node.layer!]))
  const out = new Map<string, string[]>(diagram.nodes.map(node => [node.id, []]))
  for (const edge of diagram.edges) if (edge.from !== edge.to) out.get(edge.from)!.push(edge.to)
  const pointedTo = new Set(diagram.edges.filter(edge => edge.from !== edge.to).map(edge => edge.to))
  const layer = new Map<string, number>()
  const sources = diagram.nodes.filter(node => !pointedTo.has(node.id)).map(node => node.id)
  // A cycle nothing leads into still has to start somewhere: at its first node.
  for (const start of [...sources, ...diagram.nodes.map(node => node.id)]) {
    if (layer.has(start)) continue
    layer.set(start, 0)
    const queue = [start]
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      for (const next of out.get(id)!) {
        if (layer.has(next)) continue
        layer.set(next, layer.get(id)! + 1)
        queue.push(next)
      }
    }
  }
  return layer
}

export function svgDiagram (diagram: Diagram): string {
  const layer = layerNodes(diagram)
  const boxes = new Map<string, Box>(diagram.nodes.map(node => [node.id, { node, ...sizeOf(node), x: 0, y: 0, layer: layer.get(node.id)! }]))
  const layers: Box[][] = []
  for (const box of boxes.values()) (layers[box.layer] ??= []).push(box)

  // Order each layer by the mean position of its predecessors in the layers above.
  const position = new Map<string, number>()
  layers.forEach(row => row.forEach((box, index) => position.set(box.node.id, index)))
  for (const row of layers.slice(1)) {
    const mean = (box: Box): number => {
      const from = diagram.edges.filter(edge => edge.to === box.node.id && boxes.get(edge.from)!.layer < box.layer).map(edge => position.get(edge.from)!)
      return from.length === 0 ? position.get(box.node.id)! : from.reduce((sum, p) => sum + p, 0) / from.length
    }
    const means = new Map(row.map(box => [box, mean(box)]))
    row.sort((a, b) => means.get(a)! - means.get(b)! || position.get(a.node.id)! - position.get(b.node.id)!)
    row.forEach((box, index) => position.set(box.node.id, index))
  }

  const isForward = (from: string, to: string): boolean => boxes.get(to)!.layer > boxes.get(from)!.layer
  const loops = diagram.edges.filter(edge => edge.from === edge.to)
  const arounds = diagram.edges.filter(edge => edge.from !== edge.to && !isForward(edge.from, edge.to))
  const left = MARGIN + Math.max(0, ...loops.map(edge => textWidth(edge.labels) + 56))

  // The gap below each layer holds the labels of the arrows leaving it downwards.
  const gaps = layers.map((_row, index) => Math.max(MIN_GAP_Y, diagram.edges
    .filter(edge => isForward(edge.from, edge.to) && boxes.get(edge.from)!.layer === index)
    .reduce((sum, edge) => sum + edge.labels.length * LINE + 8, 24)))
  const widths = layers.map(row => row.reduce((sum, box) => sum + box.w, 0) + GAP_X * (row.length - 1))
  const widest = Math.max(...widths)
  let y = MARGIN
  layers.forEach((row, index) => {
    let x = left + (widest - widths[index]!) / 2
    const height = Math.max(...row.map(box => box.h))
    for (const box of row) {
      box.x = x
      box.y = y + (height - box.h) / 2
      x += box.w + GAP_X
    }
    y += height + gaps[index]!
  })
  const right = left + widest

  const parts: string[] = []
  // Labels are placed one by one, each moved down past the labels and boxes already there.
  const taken: Array<{ x: number, y: number, w: number, h: number }> = [...boxes.values()].map(({ x, y, w, h }) => ({ x, y, w, h }))
  const label = (lines: readonly string[], xAt: (top: number) => number, top: number, anchor: 'start' | 'middle' | 'end'): void => {
    const w = textWidth(lines) + 6
    const h = lines.length * LINE + 4
    const rectAt = (y: number): { x: number, y: number, w: number, h: number } => {
      const x = xAt(y)
      return { x: anchor === 'start' ? x - 3 : anchor === 'end' ? x - w + 3 : x - w / 2, y, w, h }
    }
    const clashes = (r: { x: number, y: number, w: number, h: number }): boolean =>
      taken.some(t => r.x < t.x + t.w && t.x < r.x + r.w && r.y < t.y + t.h && t.y < r.y + r.h)
    let rect = rectAt(top)
    for (let tries = 0; tries < 200 && clashes(rect); tries++) rect = rectAt(rect.y + 4)
    taken.push(rect)
    const x = xAt(rect.y)
    parts.push(`<rect class="label-bg" x="${num(rect.x)}" y="${num(rect.y)}" width="${num(w)}" height="${num(h)}"/>`)
    lines.forEach((line, i) => parts.push(`<text class="label" x="${num(x)}" y="${num(rect.y + LINE * (i + 1) - 2)}" text-anchor="${anchor}">${xml(line)}</text>`))
  }

  // Arrows leave and enter at points spread along a box's bottom and top edges, in the order of the other ends.
  const spread = (id: string, side: 'out' | 'in'): Map<string, number> => {
    const ends = diagram.edges
      .filter(edge => isForward(edge.from, edge.to) && (side === 'out' ? edge.from : edge.to) === id)
      .map(edge => side === 'out' ? edge.to : edge.from)
      .sort((a, b) => boxes.get(a)!.x - boxes.get(b)!.x)
    const box = boxes.get(id)!
    return new Map(ends.map((end, index) => [end, box.x + box.w * (index + 1) / (ends.length + 1)]))
  }
  const edgeParts: string[] = []
  let bend = 0
  for (const edge of diagram.edges) {
    const from = boxes.get(edge.from)!
    const to = boxes.get(edge.to)!
    if (edge.from === edge.to) {
      const [y1, y2] = [from.y + from.h * 0.3, from.y + from.h * 0.7]
      edgeParts.push(`<path class="edge" d="M${num(from.x)} ${num(y1)} C${num(from.x - 44)} ${num(y1 - 12)} ${num(from.x - 44)} ${num(y2 + 12)} ${num(from.x)} ${num(y2)}"/>`)
      label(edge.labels, () => from.x - 40, (y1 + y2) / 2 - edge.labels.length * LINE / 2, 'end')
    } else if (isForward(edge.from, edge.to)) {
      const sx = spread(edge.from, 'out').get(edge.to)!
      const tx = spread(edge.to, 'in').get(edge.from)!
      const sy = from.y + from.h
      const ty = to.y
      const dy = Math.min(60, (ty - sy) / 2)
      edgeParts.push(`<path class="edge" d="M${num(sx)} ${num(sy)} C${num(sx)} ${num(sy + dy)} ${num(tx)} ${num(ty - dy)} ${num(tx)} ${num(ty)}"/>`)
      const layerBottom = Math.max(...layers[from.layer]!.map(box => box.y + box.h))
      const xAt = (top: number): number => sx + (tx - sx) * Math.min(1, Math.max(0, (top + edge.labels.length * LINE / 2 - sy) / (ty - sy)))
      label(edge.labels, xAt, layerBottom + 10, 'middle')
    } else if (from.layer === to.layer) {
      // Within a layer: an arc under the boxes, deeper the further apart they are.
      const apart = Math.abs(position.get(edge.from)! - position.get(edge.to)!)
      const [x1, x2] = [from.x + from.w * (from.x < to.x ? 0.75 : 0.25), to.x + to.w * (from.x < to.x ? 0.25 : 0.75)]
      const [y1, y2] = [from.y + from.h, to.y + to.h]
      const depth = 22 + 16 * apart
      edgeParts.push(`<path class="edge" d="M${num(x1)} ${num(y1)} C${num(x1)} ${num(y1 + depth)} ${num(x2)} ${num(y2 + depth)} ${num(x2)} ${num(y2)}"/>`)
      label(edge.labels, () => (x1 + x2) / 2, Math.max(y1, y2) + depth * 0.75 - 4, 'middle')
    } else {
      bend++
      const cx = right + BEND * bend
      const [x1, y1] = [from.x + from.w, from.y + from.h / 2 + 4]
      const [x2, y2] = [to.x + to.w, to.y + to.h / 2 - 4]
      edgeParts.push(`<path class="edge back" d="M${num(x1)} ${num(y1)} C${num(cx)} ${num(y1)} ${num(cx)} ${num(y2)} ${num(x2)} ${num(y2)}"/>`)
      const peak = 0.125 * (x1 + x2) + 0.75 * cx
      label(edge.labels, () => peak + 4, (y1 + y2) / 2 - edge.labels.length * LINE / 2, 'start')
    }
  }
  const labels = parts.splice(0)

  for (const box of boxes.values()) {
    const { node, x, w, h } = box
    const top = box.y
    parts.push(`<g class="node ${node.shape}" data-node="${xml(node.id)}">`)
    if (node.shape === 'start') {
      parts.push(`<circle class="shape" cx="${num(x + w / 2)}" cy="${num(top + h / 2)}" r="${num(w / 2)}"/>`)
    } else {
      const radius = node.shape === 'effect' ? h / 2 : node.shape === 'machine' || node.shape === 'outside' ? 2 : 8
      parts.push(`<rect class="shape" x="${num(x)}" y="${num(top)}" width="${num(w)}" height="${num(h)}" rx="${num(Math.min(radius, 16))}"/>`)
      if (node.shape === 'final') parts.push(`<rect class="inner" x="${num(x + 3)}" y="${num(top + 3)}" width="${num(w - 6)}" height="${num(h - 6)}" rx="6"/>`)
      parts.push(`<text class="title" x="${num(x + w / 2)}" y="${num(top + PAD + LINE - 4)}" text-anchor="middle">${xml(node.title)}</text>`)
      if (node.lines.length > 0) {
        parts.push(`<line class="rule" x1="${num(x)}" y1="${num(top + PAD + LINE + 2)}" x2="${num(x + w)}" y2="${num(top + PAD + LINE + 2)}"/>`)
        node.lines.forEach((line, i) => parts.push(`<text class="line" x="${num(x + PAD)}" y="${num(top + PAD + LINE * (i + 2) + 2)}">${xml(line)}</text>`))
      }
    }
    parts.push('</g>')
  }

  const width = right + BEND * (bend + 1) + Math.max(0, ...arounds.map(edge => textWidth(edge.labels) + 12)) + MARGIN
  const height = y - Math.min(...gaps.slice(-1)) + MARGIN
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${num(width)} ${num(height)}" width="${num(width)}" height="${num(height)}" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="12">`,
    `<!-- Generated by \`npm run diagrams\` from the definitions; do not edit. -->`,
    `<title>${xml(diagram.title)}</title>`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#555"/></marker></defs>',
    '<style>',
    '.edge{fill:none;stroke:#555;stroke-width:1.2;marker-end:url(#arrow)}.edge.back{stroke-dasharray:5 3}',
    '.label{fill:#333;font-size:11px}.label-bg{fill:#fff;fill-opacity:.85}',
    '.shape{fill:#f4f7fb;stroke:#345;stroke-width:1.3}.inner{fill:none;stroke:#345}.rule{stroke:#bcc6d2}',
    '.start .shape{fill:#345}.any .shape{fill:#fff;stroke-dasharray:4 3}.final .shape{fill:#eef2ee}',
    '.machine .shape{fill:#eef4ff}.effect .shape{fill:#fff8ec;stroke:#a67c2e;stroke-dasharray:4 2}.outside .shape{fill:#eee;stroke:#777}',
    '.title{font-weight:bold;fill:#123}.line{fill:#456;font-size:11px}',
    '.active .shape{fill:#ffe27a;stroke:#b8860b;stroke-width:2.5}',
    '</style>',
    ...edgeParts,
    ...parts,
    ...labels,
    '</svg>',
    ''
  ].join('\n')
}
