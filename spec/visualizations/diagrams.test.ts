import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DIAGRAMS_DIR, generateDiagrams } from '../../visualizations/diagrams.ts'
import { findMachines, machineDiagram } from '../../visualizations/machine-diagram.ts'
import { mermaidStateDiagram } from '../../visualizations/mermaid.ts'
import { svgDiagram } from '../../visualizations/svg.ts'

describe('diagrams', () => {
  it('are committed exactly as the current definitions generate them (run `npm run diagrams` after changing a machine)', async () => {
    const generated = await generateDiagrams()
    const committed = (await readdir(DIAGRAMS_DIR)).sort()
    assert.deepEqual(committed, generated.map(file => file.name), 'the files in visualizations/diagrams/')
    for (const file of generated) {
      assert.equal(await readFile(join(DIAGRAMS_DIR, file.name), 'utf8'), file.content, `visualizations/diagrams/${file.name} is stale`)
    }
  })

  it('finds every machine a machines/*.machine.ts file exports, and draws each of its states and transitions', async () => {
    const found = await findMachines()
    for (const name of ['dispatcher', 'listener', 'log-sync', 'reducer', 'thread', 'transaction']) {
      assert.ok(found.some(machine => machine.name === name), `${name}.machine.ts is found`)
    }
    const logSync = machineDiagram(found.find(machine => machine.name === 'log-sync')!)
    const states = logSync.nodes.filter(node => node.shape === 'state' || node.shape === 'final').map(node => node.id)
    assert.deepEqual(states, ['idle', 'holding', 'pushing', 'repaying', 'pulling', 'pulling.comparing edges', 'pulling.listing logs', 'pulling.fetching', 'pulling.handing to the dispatcher', 'fetching missing ancestors', 'backingOff', 'failed', 'stopped'])
    const edge = (from: string, to: string): readonly string[] => logSync.edges.find(e => e.from === from && e.to === to)?.labels ?? []
    assert.deepEqual(edge('pushing', 'failed'), ['error: push records [out of attempts] / count failure'])
    assert.deepEqual(edge('idle', 'repaying'), ['after repay delay [owes records to peers]'])
    assert.deepEqual(edge('pulling.fetching', 'pulling.handing to the dispatcher'), ['handing page'])
    assert.deepEqual(edge('idle', 'holding'), ['always [has records to push]'])
    assert.deepEqual(edge('holding', 'pushing'), ['push now', 'after push delay'])
    assert.deepEqual(edge('idle', 'fetching missing ancestors'), ['always [records came ahead of their ancestors]'])
    assert.deepEqual(edge('(any state)', 'stopped'), ['stop'])
    assert.ok(logSync.nodes.find(node => node.id === 'pushing')!.lines.includes('invoke push records'))

    const mermaid = mermaidStateDiagram(logSync)
    assert.match(mermaid, /^stateDiagram-v2$/m)
    assert.match(mermaid, /\[\*\] --> s\d+ : start/)
    const svg = svgDiagram(logSync)
    for (const state of states) assert.ok(svg.includes(`data-node="${state}"`), `${state} is drawn`)
    assert.doesNotMatch(svg, /NaN|undefined/)
  })

  it('shows which events go from which actor to which in the overview', async () => {
    const overview = (await generateDiagrams()).find(file => file.name === 'overview.mmd')!.content
    for (const flow of ['commit', 'events available', 'folded', 'persisted', 'lock granted', 'acquire', 'sync log']) {
      assert.ok(overview.includes(flow), `the overview shows ${flow}`)
    }
  })
})
